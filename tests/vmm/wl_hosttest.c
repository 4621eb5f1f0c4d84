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

static void run_for(struct run *r, unsigned int ms, uint8_t *snapshot, unsigned int snap_ms)
{
	struct wl_params *p = (struct wl_params *)(r->mem + WL_PARAMS_GPA);
	pthread_t th[WL_MAX_VCPUS];
	struct thr t[WL_MAX_VCPUS];
	unsigned int i;

	for (i = 0; i < r->nr_vcpus; i++) {
		t[i].r = r;
		t[i].vcpu = i;
		pthread_create(&th[i], NULL, vcpu_thread, &t[i]);
	}
	if (snapshot) {
		usleep(snap_ms * 1000);
		memcpy(snapshot, r->mem, r->size);
		usleep((ms - snap_ms) * 1000);
	} else {
		usleep(ms * 1000);
	}
	__atomic_store_n(&p->stop, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < r->nr_vcpus; i++)
		pthread_join(th[i], NULL);
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

int main(void)
{
	uint64_t khz = tsc_khz_estimate();
	struct vmm_wl_report rep;
	struct run r;
	uint8_t *snap;
	uint64_t idx, n;
	int rc, found;

	printf("# wl_hosttest: TSC ~%llu kHz\n", (unsigned long long)khz);

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

	printf("# %d failed\n", failures);
	return failures ? 1 : 0;
}
