/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dp_vm: a tiny KVM VM for the data-path selftest (dp_test), made with raw
 * KVM ioctls, and the loopback TCP plumbing around it.
 *
 * The VM has one memory slot of DP_MEM_SIZE bytes at gpa 0 with
 * KVM_MEM_LOG_DIRTY_PAGES, optionally a dirty ring, and 1..DP_MAX_VCPUS
 * vCPUs in 32-bit flat protected mode (no paging) running a stamping loop
 * (the method of the kernel's KVM dirty_log_test): vCPU i writes
 * (i << 32 | iteration) into the first 8 bytes of every page
 * DP_STAMP_FIRST + i + k * nr_vcpus, then bumps its iteration and stores it
 * in the control page; when the stop word of the control page is set it
 * halts (HLT exits to userspace) and, run again, goes on stamping.
 *
 * Conventions: functions return 0 or a negative errno; dp_vm's err says
 * what failed.  Nothing here uses the kselftest harness.
 */
#ifndef DP_VM_H
#define DP_VM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

#define DP_PAGE_SIZE		4096u
#define DP_MEM_SIZE		(4u << 20)			/* one slot, gpa 0 */
#define DP_MEM_PAGES		(DP_MEM_SIZE / DP_PAGE_SIZE)
#define DP_CODE_GPA		0x1000
#define DP_CTL_GPA		0x2000		/* u32 stop; u64 iter[vcpu] at +8 */
#define DP_STAMP_FIRST		16u		/* first stamped page */
#define DP_STAMP_PAGES		(DP_MEM_PAGES - DP_STAMP_FIRST)
#define DP_MAX_VCPUS		2

struct dp_vm {
	int kvm;			/* /dev/kvm */
	int vm;				/* KVM_CREATE_VM */
	uint8_t *mem;			/* DP_MEM_SIZE bytes, guest memory */
	uint32_t ring_entries;		/* 0: no dirty ring */
	int nr_vcpus;
	int nr_created;			/* vCPUs created so far */
	int vcpu_fd[DP_MAX_VCPUS];
	struct kvm_run *run[DP_MAX_VCPUS];
	size_t run_size;
	pthread_t thr[DP_MAX_VCPUS];
	bool started;
	/* written by the vCPU threads */
	int halted[DP_MAX_VCPUS];	/* the thread saw HLT and ended */
	int failed[DP_MAX_VCPUS];	/* unexpected exit / KVM_RUN error */
	uint64_t ring_full[DP_MAX_VCPUS];	/* KVM_EXIT_DIRTY_RING_FULL exits */
	uint64_t runs[DP_MAX_VCPUS];
	char err[160];
};

/*
 * Create the VM: ring_entries 0 = no dirty ring, else a power of two
 * (>= 256: KVM wants at least a page of entries).  The vCPUs are set up
 * but not started.
 */
int dp_vm_create(struct dp_vm *v, uint32_t ring_entries, int nr_vcpus);
/* The same, creating only the first nr_now vCPUs (the guest layout is that
 * of nr_vcpus); dp_vm_add_vcpus() creates the others later. */
int dp_vm_create_some(struct dp_vm *v, uint32_t ring_entries, int nr_vcpus,
		      int nr_now);
int dp_vm_add_vcpus(struct dp_vm *v);
/* Clear the stop word and run every vCPU in its own thread. */
int dp_vm_start(struct dp_vm *v);
/* Set the stop word: the vCPUs halt at the end of their current pass. */
void dp_vm_request_stop(struct dp_vm *v);
/* Every vCPU thread has ended (halted or failed). */
bool dp_vm_all_done(struct dp_vm *v);
/* Join the vCPU threads (after they are all done): 0, or -EIO when one of
 * them failed (err says why). */
int dp_vm_join(struct dp_vm *v);
/* Iterations vCPU i completed (from the control page). */
uint64_t dp_vm_iter(const struct dp_vm *v, int i);
/* The stamp (first 8 bytes) of page gfn. */
uint64_t dp_vm_stamp(const struct dp_vm *v, uint64_t gfn);
/* Close the vCPUs and the VM, unmap memory; safe on a partial create. */
void dp_vm_destroy(struct dp_vm *v);

/* A connected TCP pair on 127.0.0.1: *a (connect side), *b (accepted). */
int dp_tcp_pair(int *a, int *b);

/*
 * A thread that reads a socket until EOF or error, keeping the first
 * cap bytes (the rest is counted, not kept: cap 0 = count only).
 */
struct dp_reader {
	int fd;
	uint8_t *buf;
	size_t cap;
	size_t len;			/* bytes read so far (atomic) */
	int err;			/* -errno of a read error, 0 */
	int eof;
	pthread_t thr;
	bool running;
};

int dp_reader_start(struct dp_reader *r, int fd, size_t cap);
/* Wait until len >= n or timeout_ms passed: 0 or -ETIMEDOUT. */
int dp_reader_wait(struct dp_reader *r, size_t n, int timeout_ms);
size_t dp_reader_len(struct dp_reader *r);
/* shutdown(fd) and join; the buffer stays until dp_reader_free. */
void dp_reader_stop(struct dp_reader *r);
void dp_reader_free(struct dp_reader *r);

uint64_t dp_now_ns(void);

#endif /* DP_VM_H */
