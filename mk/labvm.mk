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

.PHONY: lab-agent-test
# The agent in a stock Linux guest of `kmigrate run --kernel` inside one lab
# host of LAB_KERNEL (tests/lab-vm/agent_test.sh): memory and disk writers,
# the console commands, the records found after a reboot.  A few minutes.
lab-agent-test: deps tools lab-agent
	@rel=$$($(TOP)/scripts/lab-kernel.sh $(LAB_KERNEL)) && \
	$(TOP)/tests/lab/lab.sh prepare --kernel $(LAB_KERNEL) >/dev/null && \
	p=$(BUILD)/payload-agent && rm -rf $$p && mkdir -p $$p/bin && \
	cp $(BUILD)/bin/kmigrate $(TOP)/tests/lab-vm/agent_test.sh $(TOP)/tests/lab-vm/agentlib.sh \
		$(TOP)/tests/lib/labtest.sh $$p/bin/ && \
	cp $(LAB_CACHE_DIR)/kernel/$$rel/vmlinuz $$p/vmlinuz && \
	sh $(TOP)/tests/lab-vm/virtio_mods.sh $(LAB_CACHE_DIR)/kernel/$$rel/image.deb $$rel $$p/mods && \
	mv $$p/mods/host $$p/host && \
	sh $(TOP)/tests/lab-vm/agent_initrd.sh $$p/initrd.cpio $(LABVM_OUT)/kmagent $$p/mods/guest && \
	rm -rf $$p/mods && $(LAB_TLS) $$p/tls && \
	$(TOP)/tests/lab/lab.sh run --kernel $(LAB_KERNEL) --hosts 1 \
		--payload $$p --timeout 900 -- sh bin/agent_test.sh
