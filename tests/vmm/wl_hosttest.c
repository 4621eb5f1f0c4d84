// SPDX-License-Identifier: GPL-2.0
/*
 * Host-only test of the workload guest's loop and of the verifier: the
 * guest's code (guest/wl_core.h) runs in threads over a plain buffer laid
 * out like guest RAM; then vmm_wl_verify() must accept the result, and
 * must reject a corrupted page and a page that lost its last write.
 * Needs no /dev/kvm.  Prints TAP lines.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>
#include "cpumodel.h"
#include "vmm.h"

static atomic_uint events_ready, events_done, events_panic;

static void wl_out8(uint16_t port, uint8_t v)
{
	(void)port;
	(void)v;
}

static void wl_out32(uint16_t port, uint32_t v)
{
	if (port != 0x504)
		return;
	switch (v & 0xff) {
	case 1: atomic_fetch_add(&events_ready, 1); break;
	case 2: atomic_fetch_add(&events_done, 1); break;
	case 3: atomic_fetch_add(&events_panic, 1); break;
	}
}

static atomic_uint bursts;

static void wl_ins8(uint16_t port, void *dst, uint32_t n)
{
	if (port == 0x50c)
		atomic_fetch_add(&bursts, 1);
	memset(dst, 0xff, n);
}

#define WL_HAVE_FPU_CHECK 0
#include "wl_core.h"

static int test_no;
static int failures;

static void tap(int ok, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void tap(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d ", ok ? "" : "not ", ++test_no);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!ok)
		failures++;
}

static uint64_t tsc_khz_estimate(void)
{
	struct timespec a, b;
	uint64_t t0, t1, ns;

	clock_gettime(CLOCK_MONOTONIC, &a);
	t0 = wl_rdtsc();
	usleep(50000);
	t1 = wl_rdtsc();
	clock_gettime(CLOCK_MONOTONIC, &b);
	ns = (uint64_t)(b.tv_sec - a.tv_sec) * 1000000000ULL + (uint64_t)(b.tv_nsec - a.tv_nsec);
	return (t1 - t0) * 1000000ULL / ns;
}

struct run {
	uint8_t *mem;
	uint64_t size;
	unsigned int nr_vcpus;
};

struct thr {
	struct run *r;
	uint32_t vcpu;
};

static void *vcpu_thread(void *arg)
{
	struct thr *t = arg;

	wl_run(t->r->mem, t->vcpu);
	return NULL;
}

static void setup(struct run *r, uint64_t mib, unsigned int nr_vcpus,
		  uint32_t pattern, uint32_t flags, uint64_t rate, uint64_t ws,
		  uint64_t khz)
{
	struct wl_params *p;

	r->size = mib << 20;
	r->nr_vcpus = nr_vcpus;
	r->mem = mmap(NULL, r->size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r->mem == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	p = (struct wl_params *)(r->mem + WL_PARAMS_GPA);
	p->magic = WL_PARAMS_MAGIC;
	p->version = WL_PARAMS_VERSION;
	p->nr_vcpus = nr_vcpus;
	p->pattern = pattern;
	p->flags = flags;
	p->tsc_khz = khz;
	p->rate = rate;
	p->work_first = WL_WORK_GPA >> WL_PAGE_SHIFT;
	p->work_pages = (r->size >> WL_PAGE_SHIFT) - p->work_first;
	p->ws_pages = ws ? ws : (flags & WL_F_SHARED) ? p->work_pages :
		      p->work_pages / nr_vcpus;
	p->hot_pct = 10;
	p->hot_prob = 90;
	p->seed = 42;
	/* pretend RAM is split like a VM's slots: two ranges */
	p->nr_ranges = 2;
	p->ranges[0].gpa = 0;
	p->ranges[0].pages = (r->size >> WL_PAGE_SHIFT) / 2;
	p->ranges[1].gpa = r->size / 2;
	p->ranges[1].pages = (r->size >> WL_PAGE_SHIFT) / 2;
}

/* The vCPU threads of @r start; stop_vcpus() asks them to stop and joins. */
static void start_vcpus(struct run *r, pthread_t *th, struct thr *t)
{
	unsigned int i;

	for (i = 0; i < r->nr_vcpus; i++) {
		t[i].r = r;
		t[i].vcpu = i;
		pthread_create(&th[i], NULL, vcpu_thread, &t[i]);
	}
}

static void stop_vcpus(struct run *r, pthread_t *th)
{
	struct wl_params *p = (struct wl_params *)(r->mem + WL_PARAMS_GPA);
	unsigned int i;

	__atomic_store_n(&p->stop, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < r->nr_vcpus; i++)
		pthread_join(th[i], NULL);
}

static void run_for(struct run *r, unsigned int ms, uint8_t *snapshot, unsigned int snap_ms)
{
	pthread_t th[WL_MAX_VCPUS];
	struct thr t[WL_MAX_VCPUS];

	start_vcpus(r, th, t);
	if (snapshot) {
		usleep(snap_ms * 1000);
		memcpy(snapshot, r->mem, r->size);
		usleep((ms - snap_ms) * 1000);
	} else {
		usleep(ms * 1000);
	}
	stop_vcpus(r, th);
}

/*
 * Like run_for, with the host's burst request (vmm_wl_burst) in the middle:
 * every vCPU in its loop first (it reads the burst word as it enters),
 * then the request, then every vCPU past its next write (a slow host may
 * start a thread late: wait for them, up to 10 s each way).
 */
static void run_burst(struct run *r, unsigned int ms)
{
	struct wl_params *p = (struct wl_params *)(r->mem + WL_PARAMS_GPA);
	uint64_t seen[WL_MAX_VCPUS];
	struct vmm_wl_vcpu_status st;
	pthread_t th[WL_MAX_VCPUS];
	struct thr t[WL_MAX_VCPUS];
	unsigned int i;
	int tries;

	start_vcpus(r, th, t);
	for (i = 0; i < r->nr_vcpus; i++)
		for (tries = 0; tries < 1000; tries++) {
			vmm_wl_status_from(r->mem, r->size, i, &st);
			if (st.seq > 0)
				break;
			usleep(10000);
		}
	usleep(ms * 500);
	for (i = 0; i < r->nr_vcpus; i++) {
		vmm_wl_status_from(r->mem, r->size, i, &st);
		seen[i] = st.seq;
	}
	__atomic_add_fetch(&p->burst, 1, __ATOMIC_SEQ_CST);
	usleep(ms * 500);
	for (i = 0; i < r->nr_vcpus; i++)
		for (tries = 0; tries < 1000; tries++) {
			vmm_wl_status_from(r->mem, r->size, i, &st);
			if (st.seq > seen[i] + 2)
				break;
			usleep(10000);
		}
	stop_vcpus(r, th);
}

static uint64_t total_seq(struct run *r)
{
	struct vmm_wl_vcpu_status st;
	uint64_t n = 0;
	unsigned int i;

	for (i = 0; i < r->nr_vcpus; i++) {
		vmm_wl_status_from(r->mem, r->size, i, &st);
		n += st.seq;
	}
	return n;
}

static void check_run(const char *name, uint32_t pattern, uint32_t flags,
		      uint64_t ws, uint64_t khz)
{
	struct vmm_wl_report rep;
	struct run r;
	int rc;

	setup(&r, 64, 3, pattern, flags, 0, ws, khz);
	run_for(&r, 200, NULL, 0);
	rc = vmm_wl_verify(r.mem, r.size, VMM_WL_VERIFY_REPLAY, &rep, stdout);
	tap(rc == 0 && rep.stamped > 0 && total_seq(&r) > 0,
	    "%s: %llu writes, %llu pages stamped, %llu untouched, %llu replayed, %llu bad%s%s",
	    name, (unsigned long long)total_seq(&r), (unsigned long long)rep.stamped,
	    (unsigned long long)rep.untouched, (unsigned long long)rep.replayed,
	    (unsigned long long)rep.bad, rep.bad ? ": " : "", rep.first_bad);
	munmap(r.mem, r.size);
}

/*
 * CPU models (cpumodel.h) on a made-up AVX-512 host offer: leaf 0xd (XSAVE)
 * must only describe the baseline's state components.
 */
static const struct kvm_cpuid_entry2 cm_host[] = {
	{ .function = 1, .ecx = 0xfeda3203, .edx = 0x178bfbff },	/* xsave avx ... */
	{ .function = 7, .ebx = 0xd19f47ab },	/* avx2 avx512f/dq/cd/bw/vl ... */
	{ .function = 0xd, .index = 0, .eax = 0x2ff, .ebx = 0xa88, .ecx = 0xa88 },
	{ .function = 0xd, .index = 1, .eax = 0xf, .ebx = 0x988, .ecx = 0x1900 },
	{ .function = 0xd, .index = 2, .eax = 256, .ebx = 576 },
	{ .function = 0xd, .index = 3, .eax = 64, .ebx = 960 },
	{ .function = 0xd, .index = 4, .eax = 64, .ebx = 1024 },
	{ .function = 0xd, .index = 5, .eax = 64, .ebx = 1088 },
	{ .function = 0xd, .index = 6, .eax = 512, .ebx = 1152 },
	{ .function = 0xd, .index = 7, .eax = 1024, .ebx = 1664 },
	{ .function = 0xd, .index = 8, .eax = 128, .ecx = 1 },		/* PT (XSS) */
	{ .function = 0xd, .index = 9, .eax = 8, .ebx = 2688 },		/* PKRU */
	{ .function = 0xd, .index = 11, .eax = 16, .ecx = 1 },		/* CET (XSS) */
	{ .function = 0xd, .index = 12, .eax = 24, .ecx = 1 },
	{ .function = 0x80000001, .ecx = 0x00000121, .edx = 0x2c100800 },
};
#define CM_N (sizeof(cm_host) / sizeof(cm_host[0]))

static struct kvm_cpuid2 *cm_offer(void)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + sizeof(cm_host));

	c->nent = CM_N;
	memcpy(c->entries, cm_host, sizeof(cm_host));
	return c;
}

static struct kvm_cpuid_entry2 *cm_find(struct kvm_cpuid2 *c, uint32_t f, uint32_t i)
{
	for (uint32_t k = 0; k < c->nent; k++)
		if (c->entries[k].function == f && c->entries[k].index == i)
			return &c->entries[k];
	return NULL;
}

/* Subleaves of leaf 0xd that still read anything: a bitmap. */
static uint64_t cm_xsubs(struct kvm_cpuid2 *c)
{
	uint64_t m = 0;

	for (uint32_t k = 0; k < c->nent; k++) {
		const struct kvm_cpuid_entry2 *e = &c->entries[k];

		if (e->function == 0xd && (e->eax | e->ebx | e->ecx | e->edx))
			m |= 1ull << e->index;
	}
	return m;
}

static void cm_to_ents(struct kvm_cpuid2 *c, struct vmm_cpuid_ent *g)
{
	for (uint32_t k = 0; k < c->nent; k++) {
		g[k].function = c->entries[k].function;
		g[k].index = c->entries[k].index;
		g[k].eax = c->entries[k].eax;
		g[k].ebx = c->entries[k].ebx;
		g[k].ecx = c->entries[k].ecx;
		g[k].edx = c->entries[k].edx;
	}
}

static void test_cpumodel(void)
{
	struct kvm_cpuid2 *c;
	struct kvm_cpuid_entry2 *s0, *s1;
	struct vmm_cpuid_ent g[CM_N];
	char miss[256];
	unsigned int n;
	int r;

	c = cm_offer();
	r = vmm_cpumodel_apply("host", c, miss, sizeof(miss));
	tap(r == 0 && !memcmp(c->entries, cm_host, sizeof(cm_host)),
	    "cpumodel host: the offer as it is, leaf 0xd included");
	free(c);

	c = cm_offer();
	r = vmm_cpumodel_apply("x86-64-v4", c, miss, sizeof(miss));
	s0 = cm_find(c, 0xd, 0);
	s1 = cm_find(c, 0xd, 1);
	tap(r == 0 && s0->eax == 0xe7 && s0->edx == 0 && s0->ebx == 2688 && s0->ecx == 2688,
	    "cpumodel v4: 0xd.0 XCR0 x87 sse avx opmask zmm_hi256 hi16_zmm (%#x:%#x), "
	    "sizes %u/%u (2688)", s0->edx, s0->eax, s0->ebx, s0->ecx);
	tap(s1->eax == 0 && s1->ebx == 0 && s1->ecx == 0 && s1->edx == 0,
	    "cpumodel v4: 0xd.1 no xsaveopt/xsavec/xgetbv1/xsaves, no XSS (%#x %#x %#x %#x)",
	    s1->eax, s1->ebx, s1->ecx, s1->edx);
	tap(cm_xsubs(c) == 0xe5 && cm_find(c, 0xd, 7)->eax == 1024 &&
	    cm_find(c, 0xd, 7)->ebx == 1664,
	    "cpumodel v4: subleaves 0 and components 2 5 6 7 only, sizes kept (%#llx)",
	    (unsigned long long)cm_xsubs(c));
	free(c);

	c = cm_offer();
	r = vmm_cpumodel_apply("x86-64-v3", c, miss, sizeof(miss));
	s0 = cm_find(c, 0xd, 0);
	tap(r == 0 && s0->eax == 0x7 && s0->edx == 0 && s0->ebx == 832 && s0->ecx == 832 &&
	    cm_xsubs(c) == 0x5 && !(cm_find(c, 7, 0)->ebx & (1u << 16)),
	    "cpumodel v3: 0xd.0 XCR0 x87 sse avx (%#x), size %u (832), subleaves %#llx, "
	    "no avx512f", s0->eax, s0->ecx, (unsigned long long)cm_xsubs(c));
	free(c);

	c = cm_offer();
	r = vmm_cpumodel_apply("x86-64-v1", c, miss, sizeof(miss));
	tap(r == 0 && cm_xsubs(c) == 0 && !(cm_find(c, 1, 0)->ecx & (1u << 26)),
	    "cpumodel v1: no xsave, leaf 0xd reads 0 (%#llx)", (unsigned long long)cm_xsubs(c));
	free(c);

	/* an offer whose XSAVE lacks the opmask state: v4 is refused */
	c = cm_offer();
	cm_find(c, 0xd, 0)->eax &= ~(1u << 5);
	r = vmm_cpumodel_apply("x86-64-v4", c, miss, sizeof(miss));
	tap(r == -ENOTSUP && strstr(miss, "xstate_opmask"),
	    "cpumodel v4 without the opmask state: refused (%d: %s)", r, miss);
	free(c);

	/* a v4 guest against a v3 host: the features and the state by name */
	c = cm_offer();
	vmm_cpumodel_apply("x86-64-v4", c, miss, sizeof(miss));
	cm_to_ents(c, g);
	free(c);
	c = cm_offer();
	vmm_cpumodel_apply("x86-64-v3", c, miss, sizeof(miss));
	n = vmm_cpuid_missing(g, CM_N, c, miss, sizeof(miss));
	tap(n == 8 && strstr(miss, "avx512f") && strstr(miss, "xstate_opmask") &&
	    strstr(miss, "xstate_hi16_zmm"),
	    "cpumodel v4 guest on a v3 offer: %u missing (%s)", n, miss);
	free(c);
	c = cm_offer();
	n = vmm_cpuid_missing(g, CM_N, c, miss, sizeof(miss));
	tap(n == 0, "cpumodel v4 guest on the whole offer: nothing missing (%u)", n);
	free(c);
}

int main(void)
{
	uint64_t khz = tsc_khz_estimate();
	struct vmm_wl_report rep;
	struct run r;
	uint8_t *snap;
	uint64_t idx, n;
	int rc, found;

	printf("# wl_hosttest: TSC ~%llu kHz\n", (unsigned long long)khz);
	test_cpumodel();

	check_run("seq split", WL_PAT_SEQ, 0, 0, khz);
	check_run("random split", WL_PAT_RANDOM, 0, 0, khz);
	check_run("hotcold split", WL_PAT_HOTCOLD, 0, 0, khz);
	check_run("random split small ws", WL_PAT_RANDOM, 0, 256, khz);
	check_run("random shared", WL_PAT_RANDOM, WL_F_SHARED, 0, khz);
	check_run("hotcold header-only", WL_PAT_HOTCOLD, WL_F_HEADER_ONLY, 0, khz);
	tap(atomic_load(&events_panic) == 0 &&
	    atomic_load(&events_ready) == atomic_load(&events_done),
	    "events: %u ready, %u done, %u panic", atomic_load(&events_ready),
	    atomic_load(&events_done), atomic_load(&events_panic));

	/* rate limiting: 20000 pages/s per vCPU for 300 ms -> ~6000 each */
	setup(&r, 32, 2, WL_PAT_RANDOM, 0, 20000, 0, khz);
	run_for(&r, 300, NULL, 0);
	n = total_seq(&r);
	/* the pacing caps the rate; a busy host may let it fall short */
	tap(n > 0 && n < 2 * 6000 * 13 / 10,
	    "rate 20000/s x 2 vCPUs x 300 ms: %llu writes (at most ~12000)",
	    (unsigned long long)n);
	munmap(r.mem, r.size);

	/* a lost dirty page: restore one page of the final image to its old content */
	setup(&r, 32, 2, WL_PAT_RANDOM, 0, 50000, 512, khz);
	snap = malloc(r.size);
	run_for(&r, 300, snap, 100);
	rc = vmm_wl_verify(r.mem, r.size, VMM_WL_VERIFY_REPLAY | VMM_WL_VERIFY_QUIET, &rep, NULL);
	tap(rc == 0, "final image verifies (%llu bad)", (unsigned long long)rep.bad);
	found = 0;
	for (idx = WL_WORK_GPA; idx < r.size; idx += WL_PAGE_SIZE) {
		const struct wl_stamp *s = (const void *)(snap + idx);
		const uint64_t *q = (const void *)(snap + idx);
		uint64_t base = wl_fill_base(idx >> WL_PAGE_SHIFT, s->seq, s->vcpu);

		/* a whole old version (the snapshot was taken on the run) */
		if (memcmp(r.mem + idx, snap + idx, WL_PAGE_SIZE) &&
		    s->magic == WL_STAMP_MAGIC && !s->busy &&
		    q[4] == wl_fill(base, 4) && q[511] == wl_fill(base, 511)) {
			memcpy(r.mem + idx, snap + idx, WL_PAGE_SIZE);
			found = 1;
			break;
		}
	}
	rc = vmm_wl_verify(r.mem, r.size, VMM_WL_VERIFY_REPLAY | VMM_WL_VERIFY_QUIET, &rep, NULL);
	tap(found && rc != 0 && rep.bad == 1,
	    "stale page detected by replay (%llu bad: %s)", (unsigned long long)rep.bad,
	    rep.first_bad);
	rc = vmm_wl_verify(r.mem, r.size, VMM_WL_VERIFY_QUIET, &rep, NULL);
	tap(rc == 0, "stale page passes the stamp-only check, as expected (%llu bad)",
	    (unsigned long long)rep.bad);
	/* a corrupted byte */
	memcpy(r.mem + idx, snap + idx, WL_PAGE_SIZE);
	r.mem[idx + 1000] ^= 1;
	rc = vmm_wl_verify(r.mem, r.size, VMM_WL_VERIFY_QUIET, &rep, NULL);
	tap(rc != 0 && rep.bad == 1, "corrupted byte detected (%s)", rep.first_bad);
	/* a page in another page's place */
	r.mem[idx + 1000] ^= 1;
	memcpy(r.mem + (idx == WL_WORK_GPA ? idx + WL_PAGE_SIZE : WL_WORK_GPA), r.mem + idx,
	       WL_PAGE_SIZE);
	rc = vmm_wl_verify(r.mem, r.size, VMM_WL_VERIFY_QUIET, &rep, NULL);
	tap(rc != 0, "misplaced page detected (%s)", rep.first_bad);
	free(snap);
	munmap(r.mem, r.size);

	/* a burst request: each vCPU writes one page through string input first */
	setup(&r, 32, 3, WL_PAT_RANDOM, 0, 50000, 512, khz);
	run_burst(&r, 200);
	rc = vmm_wl_verify(r.mem, r.size, VMM_WL_VERIFY_REPLAY | VMM_WL_VERIFY_QUIET, &rep, NULL);
	tap(rc == 0 && atomic_load(&bursts) == 3,
	    "burst: one string-input write per vCPU (%u of 3), the image verifies (%llu bad%s%s)",
	    atomic_load(&bursts), (unsigned long long)rep.bad, rep.bad ? ": " : "",
	    rep.first_bad);
	munmap(r.mem, r.size);

	/* a guest that frees memory: every third write zeroes its page */
	setup(&r, 32, 2, WL_PAT_RANDOM, 0, 50000, 512, khz);
	((struct wl_params *)(r.mem + WL_PARAMS_GPA))->zero_every = 3;
	snap = malloc(r.size);
	run_for(&r, 300, snap, 100);
	rc = vmm_wl_verify(r.mem, r.size, VMM_WL_VERIFY_REPLAY | VMM_WL_VERIFY_QUIET, &rep, NULL);
	n = total_seq(&r);
	tap(rc == 0 && rep.stamped > 0 && n / 3 > 0,
	    "zero-every 3: %llu writes, %llu stamped, %llu zero, final image verifies "
	    "(%llu bad%s%s)", (unsigned long long)n, (unsigned long long)rep.stamped,
	    (unsigned long long)rep.untouched, (unsigned long long)rep.bad,
	    rep.bad ? ": " : "", rep.first_bad);
	/* a zeroing lost: a page zero now, stamped in the snapshot, put back */
	found = 0;
	for (idx = WL_WORK_GPA; idx < r.size; idx += WL_PAGE_SIZE) {
		const struct wl_stamp *s = (const void *)(snap + idx);
		const uint64_t *q = (const void *)(r.mem + idx);
		uint64_t k, nz = 0;

		for (k = 0; k < WL_PAGE_SIZE / 8; k++)
			nz |= q[k];
		if (!nz && s->magic == WL_STAMP_MAGIC && !s->busy) {
			memcpy(r.mem + idx, snap + idx, WL_PAGE_SIZE);
			found = 1;
			break;
		}
	}
	rc = vmm_wl_verify(r.mem, r.size, VMM_WL_VERIFY_REPLAY | VMM_WL_VERIFY_QUIET, &rep, NULL);
	tap(found && rc != 0 && rep.bad == 1,
	    "zero-every 3: a lost zeroing is detected by replay (%llu bad: %s)",
	    (unsigned long long)rep.bad, rep.first_bad);
	free(snap);
	munmap(r.mem, r.size);

	printf("# %d failed\n", failures);
	return failures ? 1 : 0;
}
