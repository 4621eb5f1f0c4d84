# The kmigrate tool (tools/) and its host unit tests (tests/unit/).
#
#   make tools          -> $(BUILD)/bin/kmigrate and $(BUILD)/man/kmigrate.8
#   make unit           builds and runs the unit tests twice: plain, then
#                       under ASan+UBSan (with a sanitized kmigrate for the
#                       tests that run the binary); TAP output, fails if any
#                       test fails
#   make install-tools  kmigrate to $(DESTDIR)$(PREFIX)/sbin, the man page to
#                       $(DESTDIR)$(PREFIX)/share/man/man8 (PREFIX=/usr/local),
#                       the listener's unit kmigrate-listen.service to
#                       $(DESTDIR)$(SYSTEMD_UNIT_DIR), the example config to
#                       $(DESTDIR)/etc/kmigrate/kmigrate.conf if absent
#   make install        install-tools (and what other parts add)
#   make install-test   checks make install into a temporary DESTDIR
#   make tools-clean
#
# Sources are found by wildcard: a new command is tools/kmigrate/<cmd>.c plus
# its line in main.c; a new test program is tests/unit/test_<name>.c.

include $(TOP)/mk/harness.mk

.PHONY: tools unit install-tools tools-clean tools-version-force

PREFIX		?= /usr/local
TOOLS_SRC	:= $(TOP)/tools
UNIT_SRC	:= $(TOP)/tests/unit
TOOLS_OBJ	:= $(BUILD)/obj/tools
TOOLS_BIN	:= $(BUILD)/bin/kmigrate
TOOLS_MAN	:= $(BUILD)/man/kmigrate.8
TOOLS_PKGS	:= libnl-genl-3.0 json-c gnutls

TOOLS_CC	?= $(CC)
TOOLS_CFLAGS	:= -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wshadow -Wformat=2 \
		   -Wmissing-prototypes -Wstrict-prototypes -Wpointer-arith \
		   -Wundef -Wvla -D_GNU_SOURCE \
		   -I$(TOP)/include/uapi -I$(TOOLS_SRC)/lib -I$(TOOLS_SRC)/migrate \
		   -I$(TOOLS_SRC)/vmm \
		   $(shell pkg-config --cflags $(TOOLS_PKGS) 2>/dev/null)
TOOLS_LDLIBS	:= $(shell pkg-config --libs $(TOOLS_PKGS) 2>/dev/null) -lxxhash -pthread
# `kmigrate run` is built on libvmm (mk/vmm.mk, with its guest blob).
TOOLS_VMM_LIB	:= $(BUILD)/vmm/libvmm.a
# The harness header is a system header here: its own code is not ours to
# warn about; its macros declare functions without prototypes.
UNIT_CFLAGS	:= -isystem $(KSFT_HARNESS_DIR) -I$(UNIT_SRC) -I$(TOOLS_SRC)/kmigrate \
		   -Wno-missing-prototypes
TOOLS_SANITIZE	:= -fsanitize=address,undefined -fno-sanitize-recover=all \
		   -fno-omit-frame-pointer
UNIT_ASAN_OPTIONS  ?= detect_leaks=1
UNIT_UBSAN_OPTIONS ?= print_stacktrace=1

# The parts of tools/migrate/ built on libvmm go with the commands (the unit
# tests link the library sources without libvmm).
TOOLS_VMM_SRCS	:= $(addprefix $(TOOLS_SRC)/migrate/,vmhost.c source.c source_conn.c \
		   source_rounds.c source_switch.c source_report.c dest.c dest_stream.c dest_guest.c machine.c \
		   datapath.c datapath_user.c vmconsole.c datapath_kernel.c preflight.c profile_vm.c trial.c)
TOOLS_LIB_SRCS	:= $(filter-out $(TOOLS_VMM_SRCS),$(sort $(wildcard $(TOOLS_SRC)/lib/*.c $(TOOLS_SRC)/migrate/*.c) $(TOOLS_SRC)/migrate/ctl.c))
TOOLS_CMD_SRCS	:= $(wildcard $(TOOLS_SRC)/kmigrate/*.c) $(TOOLS_VMM_SRCS)
UNIT_TESTS	:= $(sort $(basename $(notdir $(wildcard $(UNIT_SRC)/test_*.c))))
UNIT_VIRTIO_SRCS := $(addprefix $(TOOLS_SRC)/vmm/,pci.c virtq.c virtio_pci.c virtio_blk.c virtio_net.c)
UNIT_VMM_PURE	:= $(addprefix $(TOOLS_SRC)/vmm/,bzimage.c mptable.c serial.c errf.c)
UNIT_HELPERS	:= $(filter-out $(UNIT_SRC)/test_%.c,$(wildcard $(UNIT_SRC)/*.c))

# The version is compiled into version.o only, which a stamp file rebuilds
# when VERSION changes (it does with every commit: 0.1.0+g<commit>).
TOOLS_VERSION_STAMP := $(TOOLS_OBJ)/version.stamp
TOOLS_VERSION	:= $(or $(VERSION),unknown)

tools: $(TOOLS_BIN) $(TOOLS_MAN)

$(TOOLS_VERSION_STAMP): tools-version-force
	@mkdir -p $(@D)
	@echo '$(TOOLS_VERSION)' | cmp -s - $@ || echo '$(TOOLS_VERSION)' > $@

$(TOOLS_MAN): $(TOOLS_SRC)/man/kmigrate.8 $(TOOLS_VERSION_STAMP)
	@mkdir -p $(@D)
	sed 's/@VERSION@/$(TOOLS_VERSION)/g' $< > $@

# $(call tools-objs,FLAVOR,SOURCES)
tools-objs = $(patsubst $(TOOLS_SRC)/%.c,$(TOOLS_OBJ)/$(1)/%.o,$(filter $(TOOLS_SRC)/%,$(2))) \
	     $(patsubst $(UNIT_SRC)/%.c,$(TOOLS_OBJ)/$(1)/unit/%.o,$(filter $(UNIT_SRC)/%,$(2)))

# $(call tools-flavor,FLAVOR,EXTRA FLAGS,KMIGRATE BINARY): the rules of one
# build flavor, with its objects under $(TOOLS_OBJ)/FLAVOR.
define tools-flavor
$(TOOLS_OBJ)/$(1)/%.o: $(TOOLS_SRC)/%.c
	@mkdir -p $$(@D)
	@pkg-config --exists $(TOOLS_PKGS) || { echo "tools: libnl-genl-3-dev, libjson-c-dev or libgnutls28-dev missing; run 'make deps'" >&2; exit 1; }
	$$(TOOLS_CC) $$(TOOLS_CFLAGS) $$(TOOLS_DEFS) $(2) -MMD -MP -c -o $$@ $$<

$(TOOLS_OBJ)/$(1)/unit/%.o: $(UNIT_SRC)/%.c $(KSFT_HARNESS_HDRS)
	@mkdir -p $$(@D)
	$$(TOOLS_CC) $$(TOOLS_CFLAGS) $$(UNIT_CFLAGS) $(2) -MMD -MP -c -o $$@ $$<

$(TOOLS_OBJ)/$(1)/kmigrate/version.o: $(TOOLS_VERSION_STAMP)
$(TOOLS_OBJ)/$(1)/kmigrate/version.o: TOOLS_DEFS = -DKMIGRATE_TOOL_VERSION='"$(TOOLS_VERSION)"'

$(3): $(call tools-objs,$(1),$(TOOLS_LIB_SRCS) $(TOOLS_CMD_SRCS)) $(TOOLS_VMM_LIB)
	@mkdir -p $$(@D)
	$$(TOOLS_CC) $(2) -o $$@ $$^ $$(TOOLS_LDLIBS)

$(TOOLS_OBJ)/$(1)/unit/test_%: $(TOOLS_OBJ)/$(1)/unit/test_%.o \
		$(call tools-objs,$(1),$(UNIT_HELPERS) $(TOOLS_LIB_SRCS))
	$$(TOOLS_CC) $(2) -o $$@ $$^ $$(TOOLS_LDLIBS)

# The commands run in-process: with them (not main.c), and with
# km_genl_open() of the commands diverted to the test's fake module.
$(TOOLS_OBJ)/$(1)/unit/test_commands: $(TOOLS_OBJ)/$(1)/unit/test_commands.o \
		$(call tools-objs,$(1),$(UNIT_HELPERS) $(TOOLS_LIB_SRCS) \
			$(filter-out %/main.c,$(TOOLS_CMD_SRCS))) $(TOOLS_VMM_LIB)
	$$(TOOLS_CC) $(2) -Wl,--wrap=km_genl_open -o $$@ $$^ $$(TOOLS_LDLIBS)

# The virtio devices' tests link libvmm's device files (no KVM in them).
$(TOOLS_OBJ)/$(1)/unit/test_virtio: $(TOOLS_OBJ)/$(1)/unit/test_virtio.o \
		$(call tools-objs,$(1),$(UNIT_HELPERS) $(TOOLS_LIB_SRCS) $(UNIT_VIRTIO_SRCS))
	$$(TOOLS_CC) $(2) -o $$@ $$^ $$(TOOLS_LDLIBS)
$(TOOLS_OBJ)/$(1)/unit/test_virtio_net: $(TOOLS_OBJ)/$(1)/unit/test_virtio_net.o \
		$(call tools-objs,$(1),$(UNIT_HELPERS) $(TOOLS_LIB_SRCS) $(UNIT_VIRTIO_SRCS))
	$$(TOOLS_CC) $(2) -o $$@ $$^ $$(TOOLS_LDLIBS)

# announce-self (tools/vmm/announce.c) from libvmm, without a VM.
$(TOOLS_OBJ)/$(1)/unit/test_announce: $(TOOLS_OBJ)/$(1)/unit/test_announce.o \
		$(call tools-objs,$(1),$(UNIT_HELPERS) $(TOOLS_LIB_SRCS)) $(TOOLS_VMM_LIB)
	$$(TOOLS_CC) $(2) -o $$@ $$^ $$(TOOLS_LDLIBS)

# The pure parts of libvmm's Linux boot path, built with the tools' flags.
$(TOOLS_OBJ)/$(1)/unit/test_linuxboot: $(call tools-objs,$(1),$(UNIT_VMM_PURE))

UNIT_BUILD_$(1) := $(3) $(addprefix $(TOOLS_OBJ)/$(1)/unit/,$(UNIT_TESTS))
endef

$(eval $(call tools-flavor,plain,,$(TOOLS_BIN)))
$(eval $(call tools-flavor,san,$(TOOLS_SANITIZE),$(TOOLS_OBJ)/san/bin/kmigrate))

# Every test program of both flavors runs, even after a failure; the
# tests that run kmigrate find it in $KMIGRATE_BIN.
unit: $(UNIT_BUILD_plain) $(UNIT_BUILD_san)
	@fail=0; \
	for flavor in plain san; do \
		if [ $$flavor = plain ]; then bin=$(TOOLS_BIN); \
		else bin=$(TOOLS_OBJ)/san/bin/kmigrate; fi; \
		for t in $(UNIT_TESTS); do \
			echo "# unit: $$t ($$flavor)"; \
			KMIGRATE_BIN=$$bin ASAN_OPTIONS=$(UNIT_ASAN_OPTIONS) \
			UBSAN_OPTIONS=$(UNIT_UBSAN_OPTIONS) \
				$(TOOLS_OBJ)/$$flavor/unit/$$t || { fail=1; \
				echo "# unit: $$t ($$flavor) FAILED"; }; \
		done; \
	done; \
	exit $$fail

# The listener's systemd unit (ExecStart names $(PREFIX)/sbin/kmigrate) and
# the example config, which never replaces an operator's own.
SYSTEMD_UNIT_DIR ?= /lib/systemd/system
install-tools: tools
	install -D -m 0755 $(TOOLS_BIN) $(DESTDIR)$(PREFIX)/sbin/kmigrate
	install -D -m 0644 $(TOOLS_MAN) $(DESTDIR)$(PREFIX)/share/man/man8/kmigrate.8
	install -d $(DESTDIR)$(SYSTEMD_UNIT_DIR)
	sed 's|/usr/local/sbin/kmigrate|$(PREFIX)/sbin/kmigrate|' $(TOP)/dist/kmigrate-listen.service \
		> $(DESTDIR)$(SYSTEMD_UNIT_DIR)/kmigrate-listen.service
	chmod 0644 $(DESTDIR)$(SYSTEMD_UNIT_DIR)/kmigrate-listen.service
	@if [ -e $(DESTDIR)/etc/kmigrate/kmigrate.conf ]; then \
		echo "install: $(DESTDIR)/etc/kmigrate/kmigrate.conf exists: kept"; \
	else \
		install -D -m 0644 $(TOP)/dist/kmigrate.conf $(DESTDIR)/etc/kmigrate/kmigrate.conf; \
	fi
	@# the credentials' place (README, "Preparing two hosts"): root only
	install -d -m 0700 $(DESTDIR)/etc/kmigrate/tls

# `make install`: the tools, the unit and the config (a rule without a
# recipe, so that other parts can add their own prerequisites).
.PHONY: install
install: install-tools

.PHONY: install-test
# make install DESTDIR=<tmp> puts the unit and the config in place, keeps an
# existing config, and systemd-analyze verify accepts the unit (skipped,
# and said so, where systemd-analyze is not installed).
install-test:
	sh $(TOP)/tests/install_test.sh

tools-clean:
	rm -rf $(TOOLS_OBJ) $(TOOLS_BIN) $(TOOLS_MAN)

-include $(wildcard $(TOOLS_OBJ)/*/*/*.d)
