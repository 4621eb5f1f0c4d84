# The guest agent and the client probe of the Linux-guest migration tests
# (tests/lab-vm/agent/, tests/lab-vm/probe.c; tests/lab/README.md, "The
# guest agent and the client probe").
#
#   make lab-agent  -> $(BUILD)/lab-vm/kmagent (static: the guest's
#                      initramfs has no libc) and $(BUILD)/lab-vm/kmprobe
#                      (a lab host's or this machine's program; the lab
#                      payload brings its libraries)

.PHONY: lab-agent

LABVM_OUT	:= $(BUILD)/lab-vm
LABVM_SRC	:= $(TOP)/tests/lab-vm
LABVM_CFLAGS	:= -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes \
		   -Wstrict-prototypes -D_GNU_SOURCE
LABVM_AGENT_SRCS := $(wildcard $(LABVM_SRC)/agent/*.c)

lab-agent: $(LABVM_OUT)/kmagent $(LABVM_OUT)/kmprobe

$(LABVM_OUT)/kmagent: $(LABVM_AGENT_SRCS) $(wildcard $(LABVM_SRC)/agent/*.h)
	@mkdir -p $(@D)
	$(CC) $(LABVM_CFLAGS) -static -o $@ $(LABVM_AGENT_SRCS)

$(LABVM_OUT)/kmprobe: $(LABVM_SRC)/probe.c
	@mkdir -p $(@D)
	$(CC) $(LABVM_CFLAGS) -o $@ $<
