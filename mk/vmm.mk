# The small KVM VMM of kmigrate (tools/vmm/, `kmigrate run` builds on it)
# and its tests (tests/vmm/).
#
#   make vmm        -> $(BUILD)/vmm/: libvmm.a, vmm_selftest, wl_hosttest,
#                      wl_guest.bin (the built-in workload guest)
#   make vmm-test   -> wl_hosttest (no KVM needed), then vmm_selftest where
#                      /dev/kvm can be opened
#
# The binaries are linked statically (VMM_STATIC=0: dynamically) so that they
# run on lab hosts and test machines whatever their libc.
#
# The workload guest is C compiled freestanding for x86-64 long mode,
# linked at 1 MiB into a flat image and embedded with .incbin.

.PHONY: vmm vmm-test vmm-clean

VMM_SRC		:= $(TOP)/tools/vmm
VMM_TEST_SRC	:= $(TOP)/tests/vmm
VMM_OUT		:= $(BUILD)/vmm
VMM_OBJ		:= $(BUILD)/obj/vmm
VMM_CC		?= $(CC)
VMM_OBJCOPY	?= objcopy
VMM_STATIC	?= 1

VMM_CFLAGS	:= -std=gnu11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -pthread \
		   -I$(VMM_SRC) -MMD -MP
VMM_LDFLAGS	:= $(if $(filter 1,$(VMM_STATIC)),-static) -pthread

VMM_GUEST_CFLAGS := -std=gnu11 -O2 -Wall -Wextra -Werror -m64 -ffreestanding \
		   -fno-pic -fno-pie -mno-red-zone -mgeneral-regs-only -nostdlib \
		   -fno-stack-protector -fno-asynchronous-unwind-tables \
		   -fno-unwind-tables -fcf-protection=none \
		   -fno-tree-loop-distribute-patterns -I$(VMM_SRC)/guest -MMD -MP
VMM_GUEST_LDFLAGS := -nostdlib -static -no-pie -Wl,--build-id=none \
		   -Wl,-T,$(VMM_SRC)/guest/guest.ld

VMM_LIB_SRCS	:= kvm.c memory.c cpu.c cpumodel.c ioport.c dirty.c reaper.c throttle.c state.c state_buf.c \
		   devstate.c x86.c \
		   workload.c multiboot.c devices.c pci.c virtq.c virtio_pci.c virtio_pci_state.c \
		   virtio_blk.c virtio_net.c announce.c \
		   bzimage.c mptable.c serial.c linux.c errf.c
VMM_LIB_OBJS	:= $(addprefix $(VMM_OBJ)/,$(VMM_LIB_SRCS:.c=.o)) $(VMM_OBJ)/blob.o
VMM_GUEST_OBJS	:= $(VMM_OBJ)/guest/entry.o $(VMM_OBJ)/guest/main.o
VMM_GUEST_BIN	:= $(VMM_OUT)/wl_guest.bin

VMM_LIB		:= $(VMM_OUT)/libvmm.a
VMM_BINS	:= $(VMM_OUT)/vmm_selftest $(VMM_OUT)/wl_hosttest

vmm: $(VMM_LIB) $(VMM_BINS)

# --- the workload guest
$(VMM_OBJ)/guest/%.o: $(VMM_SRC)/guest/%.c
	@mkdir -p $(@D)
	$(VMM_CC) $(VMM_GUEST_CFLAGS) -c -o $@ $<

$(VMM_OBJ)/guest/%.o: $(VMM_SRC)/guest/%.S
	@mkdir -p $(@D)
	$(VMM_CC) $(VMM_GUEST_CFLAGS) -c -o $@ $<

$(VMM_OBJ)/guest/wl_guest.elf: $(VMM_GUEST_OBJS) $(VMM_SRC)/guest/guest.ld
	$(VMM_CC) $(VMM_GUEST_CFLAGS) $(VMM_GUEST_LDFLAGS) -o $@ $(VMM_GUEST_OBJS)

$(VMM_GUEST_BIN): $(VMM_OBJ)/guest/wl_guest.elf
	@mkdir -p $(@D)
	$(VMM_OBJCOPY) -O binary $< $@

$(VMM_OBJ)/blob.o: $(VMM_SRC)/guest/blob.S $(VMM_GUEST_BIN)
	@mkdir -p $(@D)
	$(VMM_CC) -c -DWL_GUEST_BIN='"$(VMM_GUEST_BIN)"' -o $@ $<

# --- the library
$(VMM_OBJ)/%.o: $(VMM_SRC)/%.c
	@mkdir -p $(@D)
	$(VMM_CC) $(VMM_CFLAGS) -c -o $@ $<

$(VMM_LIB): $(VMM_LIB_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

# --- tests
$(VMM_OBJ)/tests/%.o: $(VMM_TEST_SRC)/%.c
	@mkdir -p $(@D)
	$(VMM_CC) $(VMM_CFLAGS) -I$(VMM_SRC)/guest -c -o $@ $<

$(VMM_OUT)/vmm_selftest: $(VMM_OBJ)/tests/vmm_selftest.o $(VMM_LIB)
	$(VMM_CC) $(VMM_LDFLAGS) -o $@ $^

$(VMM_OUT)/wl_hosttest: $(VMM_OBJ)/tests/wl_hosttest.o $(VMM_LIB)
	$(VMM_CC) $(VMM_LDFLAGS) -o $@ $^

# announce-self through a VM's NICs on a bridge (tests/host/announce_test.sh)
vmm: $(VMM_OUT)/announce_test
$(VMM_OUT)/announce_test: $(VMM_OBJ)/tests/announce_test.o $(VMM_LIB)
	$(VMM_CC) $(VMM_LDFLAGS) -o $@ $^

vmm-test: vmm
	$(VMM_OUT)/wl_hosttest
	@if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then \
		$(VMM_OUT)/vmm_selftest; \
	else \
		echo "ok 1 vmm_selftest # SKIP /dev/kvm not usable here"; \
	fi

vmm-clean:
	rm -rf $(VMM_OUT) $(VMM_OBJ)

-include $(wildcard $(VMM_OBJ)/*.d $(VMM_OBJ)/guest/*.d $(VMM_OBJ)/tests/*.d)

# ---- multiboot v1 (tools/vmm/multiboot.c): test kernel and tests ---- begin
#   $(VMM_OUT)/mb_guest.elf    the multiboot test kernel (tests/vmm/mb_guest/,
#                              C + asm, freestanding -m32, linked at 1 MiB)
#   $(VMM_OUT)/mb_parse_test   header/ELF parser on malformed files (no KVM)
#   $(VMM_OUT)/mb_test         boots mb_guest.elf under KVM (TAP)
#   make vmm-mb-test           runs both (mb_test where /dev/kvm is usable);
#                              part of make vmm-test

.PHONY: vmm-mb-test

VMM_MB_SRC	:= $(VMM_TEST_SRC)/mb_guest
VMM_MB_OBJ	:= $(VMM_OBJ)/mb_guest
VMM_MB_KERNEL	:= $(VMM_OUT)/mb_guest.elf
VMM_MB_BINS	:= $(VMM_OUT)/mb_test $(VMM_OUT)/mb_parse_test
VMM_MB_CFLAGS	:= -std=gnu11 -O2 -Wall -Wextra -Werror -m32 -march=i686 -ffreestanding \
		   -fno-pic -fno-pie -nostdlib -fno-stack-protector -mgeneral-regs-only \
		   -fno-asynchronous-unwind-tables -fno-unwind-tables -fcf-protection=none \
		   -fno-tree-loop-distribute-patterns -MMD -MP
VMM_MB_LDFLAGS	:= -m32 -nostdlib -static -no-pie -Wl,--build-id=none \
		   -Wl,-z,max-page-size=0x1000 -Wl,-T,$(VMM_MB_SRC)/mb.ld

vmm: $(VMM_MB_KERNEL) $(VMM_MB_BINS)

$(VMM_MB_OBJ)/%.o: $(VMM_MB_SRC)/%.c
	@mkdir -p $(@D)
	$(VMM_CC) $(VMM_MB_CFLAGS) -c -o $@ $<

$(VMM_MB_OBJ)/%.o: $(VMM_MB_SRC)/%.S
	@mkdir -p $(@D)
	$(VMM_CC) $(VMM_MB_CFLAGS) -c -o $@ $<

$(VMM_MB_KERNEL): $(VMM_MB_OBJ)/entry.o $(VMM_MB_OBJ)/main.o $(VMM_MB_SRC)/mb.ld
	@mkdir -p $(@D)
	$(VMM_CC) $(VMM_MB_LDFLAGS) -o $@ $(VMM_MB_OBJ)/entry.o $(VMM_MB_OBJ)/main.o

$(VMM_OUT)/mb_test: $(VMM_OBJ)/tests/mb_test.o $(VMM_LIB)
	$(VMM_CC) $(VMM_LDFLAGS) -o $@ $^

$(VMM_OUT)/mb_parse_test: $(VMM_OBJ)/tests/mb_parse_test.o $(VMM_LIB)
	$(VMM_CC) $(VMM_LDFLAGS) -o $@ $^

vmm-test: vmm-mb-test
vmm-mb-test: $(VMM_MB_KERNEL) $(VMM_MB_BINS)
	$(VMM_OUT)/mb_parse_test $(VMM_MB_KERNEL)
	@if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then \
		$(VMM_OUT)/mb_test $(VMM_MB_KERNEL); \
	else \
		echo "ok 1 mb_test # SKIP /dev/kvm not usable here"; \
	fi

-include $(wildcard $(VMM_MB_OBJ)/*.d)
# ---- multiboot v1 ---------------------------------------------------- end
