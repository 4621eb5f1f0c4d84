// SPDX-License-Identifier: GPL-2.0
/*
 * dp_vm: a tiny KVM VM and loopback TCP helpers for dp_test; see dp_vm.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dp_vm.h"

#ifndef KVM_CAP_DIRTY_LOG_RING_ACQ_REL
#define KVM_CAP_DIRTY_LOG_RING_ACQ_REL 223
#endif

/*
 * The guest, 32-bit flat protected mode.  In: ebx = gpa of its first page,
 * ecx = pages to stamp, edi = stride in bytes, ebp = vCPU index.
 *
 *	mov  $1, %eax			iteration
 * 0:	mov  %ebx, %edx
 *	mov  %ecx, %esi
 * 1:	mov  %eax, (%edx)		stamp = index << 32 | iteration
 *	mov  %ebp, 4(%edx)
 *	add  %edi, %edx
 *	dec  %esi
 *	jnz  1b
 *	mov  %eax, CTL+8(,%ebp,8)	iterations done
 *	inc  %eax
 *	cmpl $0, CTL			stop?
 *	je   0b
 *	hlt
 *	jmp  0b
 */
#define DP_STR_(x) #x
#define DP_STR(x) DP_STR_(x)
asm(
"	.pushsection .rodata\n"
"	.globl dp_guest_code\n"
"	.globl dp_guest_code_end\n"
"dp_guest_code:\n"
"	.code32\n"
"	movl $1, %eax\n"
"0:	movl %ebx, %edx\n"
"	movl %ecx, %esi\n"
"1:	movl %eax, (%edx)\n"
"	movl %ebp, 4(%edx)\n"
"	addl %edi, %edx\n"
"	decl %esi\n"
"	jnz 1b\n"
"	movl %eax, " DP_STR(DP_CTL_GPA) "+8(,%ebp,8)\n"
"	incl %eax\n"
"	cmpl $0, " DP_STR(DP_CTL_GPA) "\n"
"	je 0b\n"
"	hlt\n"
"	jmp 0b\n"
"	.code64\n"
"dp_guest_code_end:\n"
"	.popsection\n");

extern const uint8_t dp_guest_code[], dp_guest_code_end[];

uint64_t dp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int vm_fail(struct dp_vm *v, const char *what)
{
	int err = errno ? -errno : -EIO;

	snprintf(v->err, sizeof(v->err), "%s: %s", what, strerror(-err));
	return err;
}

static int setup_vcpu(struct dp_vm *v, int i)
{
	struct kvm_segment cs = {
		.base = 0, .limit = 0xffffffff, .selector = 8, .type = 11,
		.present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1,
	};
	struct kvm_segment ds = {
		.base = 0, .limit = 0xffffffff, .selector = 16, .type = 3,
		.present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1,
	};
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	v->vcpu_fd[i] = ioctl(v->vm, KVM_CREATE_VCPU, i);
	if (v->vcpu_fd[i] < 0)
		return vm_fail(v, "KVM_CREATE_VCPU");
	v->run[i] = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
			 v->vcpu_fd[i], 0);
	if (v->run[i] == MAP_FAILED) {
		v->run[i] = NULL;
		return vm_fail(v, "mmap kvm_run");
	}
	if (ioctl(v->vcpu_fd[i], KVM_GET_SREGS, &sregs) < 0)
		return vm_fail(v, "KVM_GET_SREGS");
	sregs.cs = cs;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = ds;
	sregs.cr0 |= 1;		/* PE, no paging */
	sregs.efer = 0;
	if (ioctl(v->vcpu_fd[i], KVM_SET_SREGS, &sregs) < 0)
		return vm_fail(v, "KVM_SET_SREGS");
	memset(&regs, 0, sizeof(regs));
	regs.rip = DP_CODE_GPA;
	regs.rflags = 2;
	regs.rbx = (uint64_t)(DP_STAMP_FIRST + i) * DP_PAGE_SIZE;
	regs.rcx = DP_STAMP_PAGES / v->nr_vcpus;
	regs.rdi = (uint64_t)v->nr_vcpus * DP_PAGE_SIZE;
	regs.rbp = i;
	regs.rsp = DP_CTL_GPA;	/* unused: no stack */
	if (ioctl(v->vcpu_fd[i], KVM_SET_REGS, &regs) < 0)
		return vm_fail(v, "KVM_SET_REGS");
	return 0;
}

int dp_vm_create(struct dp_vm *v, uint32_t ring_entries, int nr_vcpus)
{
	return dp_vm_create_some(v, ring_entries, nr_vcpus, nr_vcpus);
}

int dp_vm_add_vcpus(struct dp_vm *v)
{
	int err;

	while (v->nr_created < v->nr_vcpus) {
		err = setup_vcpu(v, v->nr_created);
		if (err)
			return err;
		v->nr_created++;
	}
	return 0;
}

int dp_vm_create_some(struct dp_vm *v, uint32_t ring_entries, int nr_vcpus,
		      int nr_now)
{
	struct kvm_userspace_memory_region region;
	int i, err, sz;

	memset(v, 0, sizeof(*v));
	v->kvm = v->vm = -1;
	for (i = 0; i < DP_MAX_VCPUS; i++)
		v->vcpu_fd[i] = -1;
	if (nr_vcpus < 0 || nr_vcpus > DP_MAX_VCPUS || nr_now < 0 || nr_now > nr_vcpus) {
		snprintf(v->err, sizeof(v->err), "bad nr_vcpus %d", nr_vcpus);
		return -EINVAL;
	}
	v->nr_vcpus = nr_vcpus;
	v->ring_entries = ring_entries;

	v->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (v->kvm < 0)
		return vm_fail(v, "open /dev/kvm");
	v->vm = ioctl(v->kvm, KVM_CREATE_VM, 0);
	if (v->vm < 0)
		return vm_fail(v, "KVM_CREATE_VM");
	sz = ioctl(v->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (sz < 0)
		return vm_fail(v, "KVM_GET_VCPU_MMAP_SIZE");
	v->run_size = sz;

	if (ring_entries) {
		struct kvm_enable_cap cap = { .cap = KVM_CAP_DIRTY_LOG_RING_ACQ_REL };

		cap.args[0] = (uint64_t)ring_entries * sizeof(struct kvm_dirty_gfn);
		if (ioctl(v->vm, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING_ACQ_REL) <= 0)
			cap.cap = KVM_CAP_DIRTY_LOG_RING;
		if (ioctl(v->vm, KVM_ENABLE_CAP, &cap) < 0)
			return vm_fail(v, "KVM_ENABLE_CAP(dirty ring)");
	}

	v->mem = mmap(NULL, DP_MEM_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (v->mem == MAP_FAILED) {
		v->mem = NULL;
		return vm_fail(v, "mmap guest memory");
	}
	memcpy(v->mem + DP_CODE_GPA, dp_guest_code, dp_guest_code_end - dp_guest_code);
	region = (struct kvm_userspace_memory_region) {
		.slot = 0, .flags = KVM_MEM_LOG_DIRTY_PAGES,
		.guest_phys_addr = 0, .memory_size = DP_MEM_SIZE,
		.userspace_addr = (uintptr_t)v->mem,
	};
	if (ioctl(v->vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return vm_fail(v, "KVM_SET_USER_MEMORY_REGION");
	for (i = 0; i < nr_now; i++) {
		err = setup_vcpu(v, i);
		if (err)
			return err;
		v->nr_created++;
	}
	return 0;
}

static void *vcpu_thread(void *arg)
{
	struct dp_vm *v = ((void **)arg)[0];
	int i = (int)(intptr_t)((void **)arg)[1];

	free(arg);
	for (;;) {
		int r = ioctl(v->vcpu_fd[i], KVM_RUN, 0);

		__atomic_add_fetch(&v->runs[i], 1, __ATOMIC_RELAXED);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			snprintf(v->err, sizeof(v->err), "vcpu %d: KVM_RUN: %s", i,
				 strerror(errno));
			__atomic_store_n(&v->failed[i], 1, __ATOMIC_RELEASE);
			return NULL;
		}
		switch (v->run[i]->exit_reason) {
		case KVM_EXIT_HLT:
			__atomic_store_n(&v->halted[i], 1, __ATOMIC_RELEASE);
			return NULL;
		case KVM_EXIT_DIRTY_RING_FULL:
			/* Wait for a harvest (which resets the rings). */
			__atomic_add_fetch(&v->ring_full[i], 1, __ATOMIC_RELAXED);
			usleep(200);
			continue;
		default:
			snprintf(v->err, sizeof(v->err),
				 "vcpu %d: unexpected exit reason %u", i,
				 v->run[i]->exit_reason);
			__atomic_store_n(&v->failed[i], 1, __ATOMIC_RELEASE);
			return NULL;
		}
	}
}

int dp_vm_start(struct dp_vm *v)
{
	int i, err;

	if (v->started)
		return -EBUSY;
	if (v->nr_created != v->nr_vcpus)
		return -EINVAL;
	__atomic_store_n((uint32_t *)(v->mem + DP_CTL_GPA), 0, __ATOMIC_SEQ_CST);
	for (i = 0; i < v->nr_vcpus; i++) {
		void **arg = malloc(2 * sizeof(void *));

		if (!arg)
			return -ENOMEM;
		arg[0] = v;
		arg[1] = (void *)(intptr_t)i;
		v->halted[i] = v->failed[i] = 0;
		err = pthread_create(&v->thr[i], NULL, vcpu_thread, arg);
		if (err) {
			free(arg);
			snprintf(v->err, sizeof(v->err), "pthread_create: %s", strerror(err));
			/* Stop and join the ones started. */
			dp_vm_request_stop(v);
			v->nr_vcpus = i;
			v->started = true;
			return -err;
		}
	}
	v->started = true;
	return 0;
}

void dp_vm_request_stop(struct dp_vm *v)
{
	__atomic_store_n((uint32_t *)(v->mem + DP_CTL_GPA), 1, __ATOMIC_SEQ_CST);
}

bool dp_vm_all_done(struct dp_vm *v)
{
	int i;

	for (i = 0; i < v->nr_vcpus; i++)
		if (!__atomic_load_n(&v->halted[i], __ATOMIC_ACQUIRE) &&
		    !__atomic_load_n(&v->failed[i], __ATOMIC_ACQUIRE))
			return false;
	return true;
}

int dp_vm_join(struct dp_vm *v)
{
	int i, err = 0;

	if (!v->started)
		return 0;
	for (i = 0; i < v->nr_vcpus; i++) {
		pthread_join(v->thr[i], NULL);
		if (v->failed[i])
			err = -EIO;
	}
	v->started = false;
	return err;
}

uint64_t dp_vm_iter(const struct dp_vm *v, int i)
{
	return __atomic_load_n((const uint64_t *)(v->mem + DP_CTL_GPA + 8 + 8 * i),
			       __ATOMIC_RELAXED) & 0xffffffffull;
}

uint64_t dp_vm_stamp(const struct dp_vm *v, uint64_t gfn)
{
	uint64_t s;

	memcpy(&s, v->mem + gfn * DP_PAGE_SIZE, sizeof(s));
	return s;
}

void dp_vm_destroy(struct dp_vm *v)
{
	int i;

	if (v->started) {
		/* Only when every vCPU is done; else leave them (the test
		 * process exits). */
		if (dp_vm_all_done(v))
			dp_vm_join(v);
		else
			return;
	}
	for (i = 0; i < DP_MAX_VCPUS; i++) {
		if (v->run[i])
			munmap(v->run[i], v->run_size);
		v->run[i] = NULL;
		if (v->vcpu_fd[i] >= 0)
			close(v->vcpu_fd[i]);
		v->vcpu_fd[i] = -1;
	}
	if (v->vm >= 0)
		close(v->vm);
	if (v->kvm >= 0)
		close(v->kvm);
	v->vm = v->kvm = -1;
	if (v->mem)
		munmap(v->mem, DP_MEM_SIZE);
	v->mem = NULL;
}

/* ---- TCP --------------------------------------------------------------- */

int dp_tcp_pair(int *a, int *b)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int l, c, s, err;

	*a = *b = -1;
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0)
		return -errno;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(l, (struct sockaddr *)&sin, sizeof(sin)) ||
	    listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&sin, &len)) {
		err = -errno;
		close(l);
		return err;
	}
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0) {
		err = -errno;
		close(l);
		return err;
	}
	if (connect(c, (struct sockaddr *)&sin, sizeof(sin))) {
		err = -errno;
		close(c);
		close(l);
		return err;
	}
	s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	err = s < 0 ? -errno : 0;
	close(l);
	if (err) {
		close(c);
		return err;
	}
	*a = c;
	*b = s;
	return 0;
}

static void *reader_thread(void *arg)
{
	struct dp_reader *r = arg;
	static uint8_t sink[1 << 16];

	for (;;) {
		size_t len = __atomic_load_n(&r->len, __ATOMIC_RELAXED);
		uint8_t *dst = sink;
		size_t room = sizeof(sink);
		ssize_t n;

		if (len < r->cap) {
			dst = r->buf + len;
			room = r->cap - len;
		}
		n = read(r->fd, dst, room);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			__atomic_store_n(&r->err, -errno, __ATOMIC_RELEASE);
			break;
		}
		if (n == 0) {
			__atomic_store_n(&r->eof, 1, __ATOMIC_RELEASE);
			break;
		}
		__atomic_add_fetch(&r->len, (size_t)n, __ATOMIC_RELEASE);
	}
	return NULL;
}

int dp_reader_start(struct dp_reader *r, int fd, size_t cap)
{
	int err;

	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->cap = cap;
	if (cap) {
		r->buf = malloc(cap);
		if (!r->buf)
			return -ENOMEM;
	}
	err = pthread_create(&r->thr, NULL, reader_thread, r);
	if (err)
		return -err;
	r->running = true;
	return 0;
}

size_t dp_reader_len(struct dp_reader *r)
{
	return __atomic_load_n(&r->len, __ATOMIC_ACQUIRE);
}

int dp_reader_wait(struct dp_reader *r, size_t n, int timeout_ms)
{
	uint64_t end = dp_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	while (dp_reader_len(r) < n) {
		if (dp_now_ns() > end)
			return -ETIMEDOUT;
		usleep(1000);
	}
	return 0;
}

void dp_reader_stop(struct dp_reader *r)
{
	if (!r->running)
		return;
	shutdown(r->fd, SHUT_RDWR);
	pthread_join(r->thr, NULL);
	r->running = false;
}

void dp_reader_free(struct dp_reader *r)
{
	dp_reader_stop(r);
	free(r->buf);
	r->buf = NULL;
}
