// SPDX-License-Identifier: GPL-2.0
/*
 * kvmcheck: does this (lab) host offer what kmigrate needs from KVM?
 *
 * Opens /dev/kvm, creates a VM, reports KVM_CAP_DIRTY_LOG_RING and
 * KVM_CAP_DIRTY_LOG_RING_ACQ_REL, then (unless -n) enables the dirty ring,
 * runs a tiny real-mode guest that writes one byte to each of 8 pages and
 * halts, and harvests the ring: every written page must show up there.
 *
 * Prints key=value lines, then "kvmcheck: ok" and exits 0, or says what
 * failed and exits 1.  Built statically for the lab: see tests/lab/selftest.sh.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef KVM_CAP_DIRTY_LOG_RING
#define KVM_CAP_DIRTY_LOG_RING 192
#endif
#ifndef KVM_CAP_DIRTY_LOG_RING_ACQ_REL
#define KVM_CAP_DIRTY_LOG_RING_ACQ_REL 223
#endif

#define MEM_SIZE	0x10000		/* 16 pages of guest memory at gpa 0 */
#define CODE_GPA	0x1000
#define FIRST_PAGE	2		/* the guest writes pages 2..9 */
#define NPAGES		8
#define RING_ENTRIES	512		/* >= one page and the reserved entries */

static int failed;

static void fail(const char *what)
{
	printf("kvmcheck: FAIL: %s: %s\n", what, errno ? strerror(errno) : "unexpected");
	failed = 1;
}

/*
 *	mov bx, 0x2000
 * 1:	mov byte [bx], 1
 *	add bx, 0x1000
 *	cmp bx, 0xa000
 *	jne 1b
 *	hlt
 */
static const uint8_t guest_code[] = {
	0xbb, 0x00, 0x20,
	0xc6, 0x07, 0x01,
	0x81, 0xc3, 0x00, 0x10,
	0x81, 0xfb, 0x00, 0xa0,
	0x75, 0xf3,
	0xf4,
};

static int run_dirty_ring(int kvm, int vm, int ring_cap)
{
	struct kvm_enable_cap cap = { .cap = ring_cap };
	struct kvm_userspace_memory_region region;
	struct kvm_dirty_gfn *ring;
	struct kvm_run *run;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	long page = sysconf(_SC_PAGESIZE);
	int vcpu, mmap_size, seen = 0, i;
	uint8_t *mem;

	cap.args[0] = RING_ENTRIES * sizeof(struct kvm_dirty_gfn);
	if (ioctl(vm, KVM_ENABLE_CAP, &cap) < 0) {
		fail("KVM_ENABLE_CAP(dirty ring)");
		return -1;
	}
	mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		fail("mmap guest memory");
		return -1;
	}
	memcpy(mem + CODE_GPA, guest_code, sizeof(guest_code));
	region = (struct kvm_userspace_memory_region) {
		.slot = 0, .flags = KVM_MEM_LOG_DIRTY_PAGES,
		.guest_phys_addr = 0, .memory_size = MEM_SIZE,
		.userspace_addr = (uintptr_t)mem,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
		fail("KVM_SET_USER_MEMORY_REGION");
		return -1;
	}
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	mmap_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vcpu < 0 || mmap_size < 0) {
		fail("KVM_CREATE_VCPU");
		return -1;
	}
	run = mmap(NULL, mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	ring = mmap(NULL, cap.args[0], PROT_READ | PROT_WRITE, MAP_SHARED, vcpu,
		    KVM_DIRTY_LOG_PAGE_OFFSET * page);
	if (run == MAP_FAILED || ring == MAP_FAILED) {
		fail("mmap vcpu / dirty ring");
		return -1;
	}
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) {
		fail("KVM_GET_SREGS");
		return -1;
	}
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	sregs.ds.base = 0;
	sregs.ds.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) {
		fail("KVM_SET_SREGS");
		return -1;
	}
	memset(&regs, 0, sizeof(regs));
	regs.rip = CODE_GPA;
	regs.rflags = 2;
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) {
		fail("KVM_SET_REGS");
		return -1;
	}
	if (ioctl(vcpu, KVM_RUN, 0) < 0) {
		fail("KVM_RUN");
		return -1;
	}
	printf("exit_reason=%u\n", run->exit_reason);
	if (run->exit_reason != KVM_EXIT_HLT) {
		errno = 0;
		fail("guest did not halt");
		return -1;
	}
	for (i = 0; i < NPAGES; i++) {
		if (mem[(FIRST_PAGE + i) * 0x1000] != 1) {
			errno = 0;
			fail("guest writes not visible");
			return -1;
		}
	}
	/* Harvest: every page the guest wrote must be in the ring. */
	for (i = 0; i < RING_ENTRIES; i++) {
		struct kvm_dirty_gfn *e = &ring[i];

		if (!(__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) & KVM_DIRTY_GFN_F_DIRTY))
			break;
		if (e->slot == 0 && e->offset >= FIRST_PAGE && e->offset < FIRST_PAGE + NPAGES)
			seen |= 1 << (e->offset - FIRST_PAGE);
		__atomic_store_n(&e->flags, KVM_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
	}
	printf("ring_entries=%d dirty_pages_seen=%d/%d\n", i, __builtin_popcount(seen), NPAGES);
	if (seen != (1 << NPAGES) - 1) {
		errno = 0;
		fail("dirty ring misses written pages");
		return -1;
	}
	if (ioctl(vm, KVM_RESET_DIRTY_RINGS, 0) < 0) {
		fail("KVM_RESET_DIRTY_RINGS");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int no_run = argc > 1 && !strcmp(argv[1], "-n");
	int kvm, vm, ring, acq_rel, api;

	setvbuf(stdout, NULL, _IOLBF, 0);
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		fail("open /dev/kvm");
		return 1;
	}
	api = ioctl(kvm, KVM_GET_API_VERSION, 0);
	printf("api_version=%d\n", api);
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0) {
		fail("KVM_CREATE_VM");
		return 1;
	}
	ring = ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING);
	acq_rel = ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING_ACQ_REL);
	/* The value is the largest ring size in bytes; 0 means no ring. */
	printf("dirty_log_ring=%d\ndirty_log_ring_acq_rel=%d\n", ring, acq_rel);
	if (ring <= 0) {
		errno = 0;
		fail("KVM_CAP_DIRTY_LOG_RING not offered");
	} else if (!no_run) {
		run_dirty_ring(kvm, vm, acq_rel > 0 ? KVM_CAP_DIRTY_LOG_RING_ACQ_REL :
				   KVM_CAP_DIRTY_LOG_RING);
	}
	if (!failed)
		printf("kvmcheck: ok\n");
	return failed;
}
