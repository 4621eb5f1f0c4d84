# In-lab kernel selftests of kmigrate.ko (tests/kselftest/).
#
#   make kselftest   -> $(BUILD)/kselftest/: chardev_test, genl_test,
#                       dp_test, modfuzz, kmt_probe and run.sh (what a lab host runs from
#                       /opt/kmigrate/kselftest, next to kmigrate.ko)
#
# The tests use the kernel's kselftest harness (mk/harness.mk) and libnl-3
# (libnl-genl-3.0), and are linked dynamically: the lab copies the shared
# libraries of the ELF files in its payload.

include $(TOP)/mk/harness.mk

.PHONY: kselftest kselftest-clean

KSELFTEST_SRC	:= $(TOP)/tests/kselftest
KSELFTEST_OUT	:= $(BUILD)/kselftest
KSELFTEST_OBJ	:= $(BUILD)/obj/kselftest
KSELFTEST_BINS	:= chardev_test genl_test kmt_probe as_nobody dp_test modfuzz

KSELFTEST_CC	?= $(CC)
KSELFTEST_CFLAGS := -O2 -g -std=gnu11 -Wall -Wextra -Werror \
		   -D_GNU_SOURCE \
		   -I$(TOP)/include/uapi -isystem $(KSFT_HARNESS_DIR) -I$(KSELFTEST_SRC) \
		   $(shell pkg-config --cflags libnl-genl-3.0 2>/dev/null)
KSELFTEST_LDLIBS := $(shell pkg-config --libs libnl-genl-3.0 2>/dev/null) -pthread

KSELFTEST_DEPS	:= $(TOP)/include/uapi/linux/kmigrate.h $(KSELFTEST_SRC)/kmtest.h

kselftest: $(addprefix $(KSELFTEST_OUT)/,$(KSELFTEST_BINS)) $(KSELFTEST_OUT)/run.sh $(KSELFTEST_OUT)/cli_test.sh

$(KSELFTEST_OBJ)/%.o: $(KSELFTEST_SRC)/%.c $(KSELFTEST_DEPS) $(KSFT_HARNESS_HDRS)
	@mkdir -p $(@D)
	@pkg-config --exists libnl-genl-3.0 || { echo "kselftest: libnl-genl-3-dev missing; run 'make deps'" >&2; exit 1; }
	$(KSELFTEST_CC) $(KSELFTEST_CFLAGS) -c -o $@ $<

$(addprefix $(KSELFTEST_OUT)/,$(KSELFTEST_BINS)): $(KSELFTEST_OUT)/%: $(KSELFTEST_OBJ)/%.o $(KSELFTEST_OBJ)/kmtest.o
	@mkdir -p $(@D)
	$(KSELFTEST_CC) -o $@ $^ $(KSELFTEST_LDLIBS)

$(KSELFTEST_OUT)/run.sh $(KSELFTEST_OUT)/cli_test.sh: $(KSELFTEST_OUT)/%: $(KSELFTEST_SRC)/%
	@mkdir -p $(@D)
	install -m 0755 $< $@

# dp_test (the data path) also links its VM helpers (dp_*.c) and libxxhash,
# to check the stream digest the module hands back.
KSELFTEST_DP_OBJS := $(KSELFTEST_OBJ)/dp_vm.o

$(KSELFTEST_OBJ)/dp_test.o $(KSELFTEST_DP_OBJS): $(KSELFTEST_SRC)/dp_vm.h
$(KSELFTEST_OBJ)/dp_test.o: | $(KSELFTEST_OBJ)/.xxhash-ok
$(KSELFTEST_OBJ)/.xxhash-ok:
	@mkdir -p $(@D)
	@pkg-config --exists libxxhash || { echo "kselftest: libxxhash-dev missing; run 'make deps'" >&2; exit 1; }
	@touch $@
$(KSELFTEST_OUT)/dp_test: $(KSELFTEST_DP_OBJS)
$(KSELFTEST_OUT)/dp_test: KSELFTEST_LDLIBS += $(shell pkg-config --libs libxxhash 2>/dev/null || echo -lxxhash)

# modfuzz (fuzzing and races of the module's interfaces) makes its VMs
# and connections with the same helpers; its harness, tests and main are
# modfuzz.c, the rest modfuzz_*.c (modfuzz.h).
KSELFTEST_MODFUZZ_OBJS := $(addprefix $(KSELFTEST_OBJ)/modfuzz_,env.o model.o fuzz.o race.o loops.o opts.o)

$(KSELFTEST_OBJ)/modfuzz.o $(KSELFTEST_MODFUZZ_OBJS): $(KSELFTEST_SRC)/dp_vm.h $(KSELFTEST_SRC)/modfuzz.h
$(KSELFTEST_OUT)/modfuzz: $(KSELFTEST_DP_OBJS) $(KSELFTEST_MODFUZZ_OBJS)

kselftest-clean:
	rm -rf $(KSELFTEST_OUT) $(KSELFTEST_OBJ)
