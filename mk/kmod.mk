# kmigrate: rules for the kernel module, included by the top-level Makefile
# (which sets TOP, BUILD, VERSION, BASE_VERSION, KVER and KDIR).
#
#   make module                  kmod/kmigrate.ko against KDIR (default: the
#                                running kernel's headers)
#   make module-lab KREL=<rel>   build/kmod/<rel>/kmod/kmigrate.ko, built from
#                                a staged copy of the sources against
#                                /lib/modules/<rel>/build
#   make module-checks KREL=<rel>
#                                W=1 and sparse (C=1) builds for <rel>, then
#                                checkpatch; any warning fails
#   make dkms-check KREL=<rel>   dkms add, build, install and remove for <rel>
#                                in private trees under build/ (needs root);
#                                the host's DKMS state is left untouched
#
# <rel> is a kernel release, e.g. KREL=$(scripts/lab-kernel.sh 6.1).

.PHONY: module module-lab module-checks dkms-check

# The module's sources: what DKMS gets, and what the staged builds copy.
KMOD_SRCS := Kbuild dkms.conf include/uapi/linux/kmigrate.h kmod/Kbuild \
	$(sort $(filter-out %.mod.c,$(patsubst $(TOP)/%,%,$(wildcard $(TOP)/kmod/*.[ch]))))

KREL_KDIR = /lib/modules/$(KREL)/build

kmod-need-krel = test -n "$(KREL)" || { \
	echo 'error: $@ needs KREL=<kernel release>, e.g. KREL=$$(scripts/lab-kernel.sh 6.1)' >&2; \
	exit 1; }

# $(call kmod-need-kdir,KDIR,RELEASE)
kmod-need-kdir = test -d "$(1)" || { \
	echo "error: no kernel build tree at KDIR=$(1); install linux-headers-$(2) (make deps-build)" >&2; \
	exit 1; }

# $(call kmod-kbuild,KDIR,M): kbuild for the module in M.  The version the
# tools report is passed down, so module and tools agree.
kmod-kbuild = $(MAKE) -C $(1) M=$(2) $(if $(VERSION),KMIGRATE_VERSION=$(VERSION))

# $(call kmod-stage,DIR): copy KMOD_SRCS under DIR.  Only files whose
# content differs are written, so kbuild rebuilds only what changed; staged
# sources that no longer exist here are removed.
define kmod-stage
	@set -e; \
	for f in $(KMOD_SRCS); do \
		mkdir -p "$(1)/$$(dirname "$$f")"; \
		cmp -s "$(TOP)/$$f" "$(1)/$$f" || cp "$(TOP)/$$f" "$(1)/$$f"; \
	done; \
	for f in "$(1)"/kmod/*.[ch] "$(1)"/include/uapi/linux/*.h; do \
		case "$$f" in *.mod.c) continue ;; esac; \
		[ ! -e "$$f" ] || [ -e "$(TOP)/$${f#"$(1)"/}" ] || rm -f "$$f"; \
	done
endef

module:
	@$(call kmod-need-kdir,$(KDIR),$(KVER))
	$(call kmod-kbuild,$(KDIR),$(TOP)) modules

module-lab:
	@$(kmod-need-krel)
	@$(call kmod-need-kdir,$(KREL_KDIR),$(KREL))
	$(call kmod-stage,$(BUILD)/kmod/$(KREL))
	$(call kmod-kbuild,$(KREL_KDIR),$(BUILD)/kmod/$(KREL)) modules

# checkpatch.pl and the two files it reads, from the Debian linux-source
# tarball (only these: others extract their own files into the same tree).
LINUX_SOURCE_TARBALL ?= /usr/src/linux-source-6.1.tar.xz
KMOD_LINUX_SOURCE := $(BUILD)/linux-source
CHECKPATCH := $(KMOD_LINUX_SOURCE)/scripts/checkpatch.pl
kmod-checkpatch-files := $(addprefix $(KMOD_LINUX_SOURCE)/scripts/, \
	checkpatch.pl spelling.txt const_structs.checkpatch)

$(kmod-checkpatch-files) &:
	@test -f $(LINUX_SOURCE_TARBALL) || { \
		echo "error: $(LINUX_SOURCE_TARBALL) not found; install linux-source-6.1 (make deps-build)" >&2; \
		exit 1; }
	mkdir -p $(KMOD_LINUX_SOURCE)
	tar -xf $(LINUX_SOURCE_TARBALL) --strip-components=1 -C $(KMOD_LINUX_SOURCE) \
		$(patsubst $(KMOD_LINUX_SOURCE)/%,$(notdir $(LINUX_SOURCE_TARBALL:.tar.xz=))/%,$(kmod-checkpatch-files))

# checkpatch runs on files, not patches (--no-tree -f).  Only for
# kmod/compat.h, the one file meant to test the kernel version, it skips
# LINUX_VERSION_CODE (which assumes in-tree code, built for one kernel) and
# CONSTANT_COMPARISON (which takes LINUX_VERSION_CODE for a constant and
# wants the test the wrong way round).
kmod-checkpatch-compat := kmod/compat.h
kmod-checkpatch-ignore-compat := LINUX_VERSION_CODE,CONSTANT_COMPARISON
kmod-checkpatch-rest := $(filter-out $(kmod-checkpatch-compat),\
	$(filter kmod/%.c kmod/%.h,$(KMOD_SRCS))) include/uapi/linux/kmigrate.h

kmod-checks-dir = $(BUILD)/kmod-checks/$(KREL)

# A clean build with W=1 and C=1 compiles and checks every file; any
# compiler, sparse or modpost diagnostic fails, and so does a build in
# which sparse did not check every source file (counted from kbuild's
# "CHECK" lines, hence MAKEFLAGS= : a silent `make -s` would hide them).
module-checks: $(kmod-checkpatch-files)
	@$(kmod-need-krel)
	@$(call kmod-need-kdir,$(KREL_KDIR),$(KREL))
	@command -v sparse >/dev/null || { \
		echo "error: sparse not found; install sparse (make deps-build)" >&2; exit 1; }
	$(call kmod-stage,$(kmod-checks-dir))
	@$(MAKE) -s -C $(KREL_KDIR) M=$(kmod-checks-dir) clean
	@log=$(kmod-checks-dir).log; \
	MAKEFLAGS= $(call kmod-kbuild,$(KREL_KDIR),$(kmod-checks-dir)) W=1 C=1 CHECK=sparse modules >$$log 2>&1 || { \
		cat $$log; echo "module-checks: $(KREL): W=1 C=1 build failed" >&2; exit 1; }; \
	if grep -E '(warning|error|WARNING|ERROR):' $$log; then \
		echo "module-checks: $(KREL): W=1 C=1 build has the diagnostics above (log: $$log)" >&2; exit 1; fi; \
	checked=$$(grep -c '^  CHECK ' $$log); \
	if [ "$$checked" -ne $(words $(filter kmod/%.c,$(KMOD_SRCS))) ]; then \
		echo "module-checks: $(KREL): sparse checked $$checked of $(words $(filter kmod/%.c,$(KMOD_SRCS))) files (log: $$log)" >&2; exit 1; fi; \
	echo "module-checks: $(KREL): W=1 and sparse clean"
	@cd $(TOP) && perl $(CHECKPATCH) --no-tree --quiet -f $(kmod-checkpatch-rest) && \
	perl $(CHECKPATCH) --no-tree --quiet --ignore $(kmod-checkpatch-ignore-compat) \
		-f $(kmod-checkpatch-compat) || { \
		echo "module-checks: checkpatch found the problems above" >&2; exit 1; }
	@echo "module-checks: checkpatch clean"

# dkms runs on private trees under kmod-dkms-dir (--sourcetree, --dkmstree,
# --installtree) with a throw-away signing key, and without depmod, so it
# writes nothing outside build/; it only reads the kernel headers.  The
# source tree is exactly KMOD_SRCS, as packaged in /usr/src/kmigrate-<ver>.
# depmod -b on the private install tree then checks the autoload aliases.
kmod-dkms-dir = $(BUILD)/dkms-check/$(KREL)
kmod-dkms-mod = kmigrate/$(BASE_VERSION)
kmod-dkms-root = $(kmod-dkms-dir)/root
kmod-dkms-ko = $(kmod-dkms-root)/lib/modules/$(KREL)/updates/dkms/kmigrate.ko
kmod-dkms = mok_signing_key=$(kmod-dkms-dir)/mok.key \
	mok_certificate=$(kmod-dkms-dir)/mok.pub \
	dkms --sourcetree $(kmod-dkms-dir)/src --dkmstree $(kmod-dkms-dir)/dkms \
	--installtree $(kmod-dkms-root)/lib/modules --no-depmod

dkms-check:
	@$(kmod-need-krel)
	@$(call kmod-need-kdir,$(KREL_KDIR),$(KREL))
	@command -v dkms >/dev/null || { \
		echo "error: dkms not found; install dkms (make deps-build)" >&2; exit 1; }
	@[ "$$(id -u)" -eq 0 ] || { \
		echo "error: dkms-check needs root: dkms install refuses to run otherwise" >&2; exit 1; }
	@test -n "$(BASE_VERSION)" || { echo "error: no PACKAGE_VERSION in dkms.conf" >&2; exit 1; }
	rm -rf $(kmod-dkms-dir)
	mkdir -p $(kmod-dkms-dir)/dkms $(kmod-dkms-root)/lib/modules/$(KREL)
	$(call kmod-stage,$(kmod-dkms-dir)/src/kmigrate-$(BASE_VERSION))
	$(kmod-dkms) add $(kmod-dkms-mod)
	$(kmod-dkms) build $(kmod-dkms-mod) -k $(KREL) || { \
		cat $(kmod-dkms-dir)/dkms/kmigrate/$(BASE_VERSION)/build/make.log; exit 1; }
	$(kmod-dkms) install $(kmod-dkms-mod) -k $(KREL)
	@set -e; ko=$$(ls $(kmod-dkms-ko)*); \
	ver=$$(modinfo -F version $$ko); vermagic=$$(modinfo -F vermagic $$ko); \
	[ "$$ver" = "$(BASE_VERSION)" ] || { \
		echo "dkms-check: $$ko has version '$$ver', not $(BASE_VERSION)" >&2; exit 1; }; \
	[ "$${vermagic%% *}" = "$(KREL)" ] || { \
		echo "dkms-check: $$ko has vermagic '$$vermagic', not for $(KREL)" >&2; exit 1; }; \
	lib=$(kmod-dkms-root)/lib/modules/$(KREL); \
	touch $$lib/modules.order $$lib/modules.builtin $$lib/modules.builtin.modinfo; \
	depmod -b $(kmod-dkms-root) $(KREL); \
	for alias in char-major-10-250 devname:kmigrate net-pf-16-proto-16-family-kmigrate; do \
		grep -qx "alias $$alias kmigrate" $$lib/modules.alias || { \
			echo "dkms-check: depmod did not record 'alias $$alias kmigrate'" >&2; exit 1; }; \
	done; \
	grep -qx 'kmigrate kmigrate c10:250' $$lib/modules.devname || { \
		echo "dkms-check: depmod did not record the /dev/kmigrate node" >&2; exit 1; }
	$(kmod-dkms) remove $(kmod-dkms-mod) --all
	@test ! -e $(kmod-dkms-dir)/dkms/kmigrate && ! ls $(kmod-dkms-ko)* >/dev/null 2>&1 || { \
		echo "dkms-check: dkms remove left files behind" >&2; exit 1; }
	rm -rf $(kmod-dkms-dir)
	@echo "dkms-check: $(KREL): dkms add, build, install and remove work"
