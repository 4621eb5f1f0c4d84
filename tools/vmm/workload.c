// SPDX-License-Identifier: GPL-2.0
/*
 * libvmm: the built-in workload guest, host side: loading it, steering it
 * through its parameter page, reading its status page and verifying a copy
 * of its memory page by page.
 *
 * The verifier reads the parameters and counters from the memory copy
 * itself, so a copy taken while the guest is stopped (at the end of a
 * migration, on either side) is checked on its own.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"
#include "guest/wl_abi.h"

extern const uint8_t vmm_wl_image_start[];
extern const uint8_t vmm_wl_image_end[];

const void *vmm_wl_image(size_t *size)
{
	*size = (size_t)(vmm_wl_image_end - vmm_wl_image_start);
	return vmm_wl_image_start;
}

static const char *const pattern_names[] = { "seq", "random", "hotcold" };

const char *vmm_wl_pattern_name(enum vmm_wl_pattern p)
{
	return (unsigned int)p < 3 ? pattern_names[p] : "?";
}

int vmm_wl_parse_pattern(const char *s, enum vmm_wl_pattern *p)
{
	unsigned int i;

	for (i = 0; i < 3; i++) {
		if (!strcmp(s, pattern_names[i])) {
			*p = (enum vmm_wl_pattern)i;
			return 0;
		}
	}
	if (!strcmp(s, "sequential")) {
		*p = VMM_WL_SEQ;
		return 0;
	}
	return -EINVAL;
}

/* ---------------------------------------------------------------- load -- */

int vmm_wl_load(struct vmm_vm *vm, const struct vmm_wl_config *cfg)
{
	struct wl_params p;
	size_t isz;
	const void *img = vmm_wl_image(&isz);
	uint64_t ram_pages = vm->ram_size >> VMM_PAGE_SHIFT;
	unsigned int i;
	int r;

	if (vm->ram_size < WL_WORK_GPA + (4ULL << 20)) {
		vmm_logf(vm, "workload: needs at least %llu MiB of RAM",
			 (unsigned long long)(WL_WORK_GPA >> 20) + 4);
		return -EINVAL;
	}
	if (vm->nr_vcpus > WL_MAX_VCPUS || vm->nr_slots > WL_MAX_RANGES)
		return -EINVAL;
	if (!vm->tsc_khz) {
		vmm_logf(vm, "workload: TSC frequency unknown (KVM_GET_TSC_KHZ)");
		return -ENOTSUP;
	}
	if (isz > WL_IMAGE_MAX)
		return -E2BIG;
	r = vmm_guest_write(vm, WL_IMAGE_GPA, img, isz);
	if (r)
		return r;
	r = vmm_x86_setup_tables(vm);
	if (r)
		return r;

	memset(&p, 0, sizeof(p));
	p.magic = WL_PARAMS_MAGIC;
	p.version = WL_PARAMS_VERSION;
	p.nr_vcpus = vm->nr_vcpus;
	p.pattern = cfg->pattern;
	p.flags = (cfg->shared ? WL_F_SHARED : 0) |
		  (cfg->header_only ? WL_F_HEADER_ONLY : 0) |
		  (cfg->no_fpu_check ? 0 : WL_F_FPU_CHECK);
	p.tsc_khz = vm->tsc_khz;
	p.rate = cfg->rate;
	p.work_first = WL_WORK_GPA >> VMM_PAGE_SHIFT;	/* low RAM starts at gpa 0 */
	p.work_pages = ram_pages - p.work_first;
	p.ws_pages = cfg->ws_pages;
	if (!p.ws_pages)
		p.ws_pages = cfg->shared ? p.work_pages : p.work_pages / vm->nr_vcpus;
	if (!p.ws_pages || (cfg->shared ? p.ws_pages : p.ws_pages * vm->nr_vcpus) > p.work_pages) {
		vmm_logf(vm, "workload: working set of %llu pages x %u vCPUs does not fit "
			 "%llu work pages", (unsigned long long)p.ws_pages, vm->nr_vcpus,
			 (unsigned long long)p.work_pages);
		return -EINVAL;
	}
	p.hot_pct = cfg->hot_pct ? cfg->hot_pct : 10;
	p.hot_prob = cfg->hot_prob ? cfg->hot_prob : 90;
	if (p.hot_pct > 100 || p.hot_prob > 100)
		return -EINVAL;
	p.seed = cfg->seed;
	p.zero_every = cfg->zero_every;
	p.nr_ranges = vm->nr_slots;
	for (i = 0; i < vm->nr_slots; i++) {
		p.ranges[i].gpa = vm->slots[i].r.gpa;
		p.ranges[i].pages = vm->slots[i].npages;
	}
	r = vmm_guest_write(vm, WL_PARAMS_GPA, &p, sizeof(p));
	if (r)
		return r;

	for (i = 0; i < vm->nr_vcpus; i++) {
		r = vmm_x86_setup_longmode(&vm->vcpus[i], WL_IMAGE_GPA,
					   WL_STACK_GPA + (i + 1) * WL_STACK_SIZE,
					   i, WL_PARAMS_GPA, 0);
		if (r)
			return r;
	}
	return 0;
}

static struct wl_params *vmm_wl_params(struct vmm_vm *vm)
{
	struct wl_params *p = vmm_gpa_to_hva(vm, WL_PARAMS_GPA, sizeof(*p));

	return p && p->magic == WL_PARAMS_MAGIC ? p : NULL;
}

int vmm_wl_request_stop(struct vmm_vm *vm)
{
	struct wl_params *p = vmm_wl_params(vm);
	uint32_t one = 1;

	if (!p)
		return -ENOENT;
	return vmm_guest_write(vm, WL_PARAMS_GPA + offsetof(struct wl_params, stop),
			       &one, sizeof(one));
}

/* A host control word of the params page moves on by one (the guest
 * acts on the change); written as the VMM's own write, so tracked dirty. */
static int vmm_wl_bump(struct vmm_vm *vm, size_t off)
{
	struct wl_params *p = vmm_wl_params(vm);
	uint32_t v;

	if (!p)
		return -ENOENT;
	memcpy(&v, (const uint8_t *)p + off, sizeof(v));
	v++;
	return vmm_guest_write(vm, WL_PARAMS_GPA + off, &v, sizeof(v));
}

int vmm_wl_reset_gaps(struct vmm_vm *vm)
{
	return vmm_wl_bump(vm, offsetof(struct wl_params, gap_epoch));
}

int vmm_wl_burst(struct vmm_vm *vm)
{
	return vmm_wl_bump(vm, offsetof(struct wl_params, burst));
}

/* -------------------------------------------------------------- status -- */

int vmm_wl_status_from(const void *ram, uint64_t ram_size, unsigned int vcpu,
		       struct vmm_wl_vcpu_status *st)
{
	const struct wl_params *p = (const void *)((const uint8_t *)ram + WL_PARAMS_GPA);
	const struct wl_status *s = (const void *)((const uint8_t *)ram + WL_STATUS_GPA);
	const struct wl_vcpu_status *v;
	uint64_t khz;

	if (ram_size < WL_WORK_GPA || p->magic != WL_PARAMS_MAGIC || vcpu >= p->nr_vcpus ||
	    vcpu >= WL_MAX_VCPUS)
		return -ENOENT;
	v = &s->vcpu[vcpu];
	khz = p->tsc_khz ? p->tsc_khz : 1;
	memset(st, 0, sizeof(*st));
	st->seq = v->seq;
	st->max_gap_tsc = v->max_gap_tsc;
	st->max_gap_us = v->max_gap_tsc * 1000 / khz;
	st->max_gap_end_tsc = v->max_gap_end;
	st->stalls = v->stalls;
	st->stall_us = v->stall_tsc * 1000 / khz;
	st->collisions = v->collisions;
	st->last_tsc = v->last_tsc;
	st->state = v->state;
	st->errors = v->errors;
	return 0;
}

int vmm_wl_status(const struct vmm_vm *vm, unsigned int vcpu, struct vmm_wl_vcpu_status *st)
{
	return vmm_wl_status_from(vm->ram, vm->ram_size, vcpu, st);
}

/* -------------------------------------------------------------- verify -- */

enum page_kind { PG_ZERO, PG_STAMP, PG_BUSY, PG_BAD };

struct page_info {
	enum page_kind kind;
	uint32_t vcpu;
	uint64_t seq;
	const char *why;
};

static bool page_zero(const uint8_t *pg)
{
	const uint64_t *q = (const uint64_t *)pg;
	unsigned int i;

	for (i = 0; i < WL_PAGE_SIZE / 8; i++)
		if (q[i])
			return false;
	return true;
}

static void page_classify(const uint8_t *pg, uint64_t gfn, bool full,
			  uint32_t nr_vcpus, struct page_info *pi)
{
	const struct wl_stamp *s = (const void *)pg;
	const uint64_t *q = (const uint64_t *)pg;
	uint64_t base, i;

	pi->vcpu = s->vcpu;
	pi->seq = s->seq;
	pi->why = NULL;
	if (s->busy) {
		pi->kind = s->busy - 1 < nr_vcpus ? PG_BUSY : PG_BAD;
		pi->vcpu = s->busy - 1;
		pi->why = "bad busy mark";
		return;
	}
	if (page_zero(pg)) {
		pi->kind = PG_ZERO;
		return;
	}
	pi->kind = PG_BAD;
	if (s->magic != WL_STAMP_MAGIC) {
		pi->why = "no stamp";
		return;
	}
	if (s->gfn != gfn) {
		pi->why = "stamp of another page";
		return;
	}
	if (s->vcpu >= nr_vcpus) {
		pi->why = "stamp of an unknown vCPU";
		return;
	}
	if (!s->seq || s->check != wl_stamp_check(gfn, s->seq, s->vcpu)) {
		pi->why = "stamp check value wrong";
		return;
	}
	if (full) {
		base = wl_fill_base(gfn, s->seq, s->vcpu);
		for (i = WL_STAMP_QWORDS; i < WL_PAGE_SIZE / 8; i++) {
			if (q[i] != wl_fill(base, i)) {
				pi->why = "page body does not match its stamp";
				return;
			}
		}
	}
	pi->kind = PG_STAMP;
}

struct verify_ctx {
	const uint8_t *ram;
	uint64_t ram_size;
	const struct wl_params *p;
	const struct wl_status *s;
	struct vmm_wl_report *rep;
	FILE *out;
	bool full;
	/* the RAM's memfd (-1: none): a hole is read as zero without touching
	 * it (a read fault of a shared mapping would allocate the page); the
	 * extent [ext_lo, ext_hi) seen last is a hole or data */
	int fd;
	uint64_t ext_lo, ext_hi;
	bool ext_hole;
};

static const uint8_t verify_zero_page[WL_PAGE_SIZE];

/* Whether RAM offset @off is in a hole of c->fd (SEEK_DATA/SEEK_HOLE). */
static bool ram_hole(struct verify_ctx *c, uint64_t off)
{
	off_t d, h;

	if (c->fd < 0)
		return false;
	if (off >= c->ext_lo && off < c->ext_hi)
		return c->ext_hole;
	d = lseek(c->fd, (off_t)off, SEEK_DATA);
	if (d < 0 && errno != ENXIO) {
		c->fd = -1;	/* no SEEK_DATA: read every page */
		return false;
	}
	c->ext_lo = off;
	if (d < 0 || (uint64_t)d > off) {
		c->ext_hi = d < 0 ? c->ram_size : (uint64_t)d;
		c->ext_hole = true;
		return true;
	}
	h = lseek(c->fd, (off_t)off, SEEK_HOLE);
	c->ext_hi = h < 0 ? off + WL_PAGE_SIZE : (uint64_t)h;
	c->ext_hole = false;
	return false;
}

static void verify_bad(struct verify_ctx *c, uint64_t gfn, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void verify_bad(struct verify_ctx *c, uint64_t gfn, const char *fmt, ...)
{
	char msg[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!c->rep->bad) {
		c->rep->first_bad_gfn = gfn;
		snprintf(c->rep->first_bad, sizeof(c->rep->first_bad), "gfn %#llx: %s",
			 (unsigned long long)gfn, msg);
	}
	if (c->out && c->rep->bad < 10)
		fprintf(c->out, "  bad page gfn %#llx: %s\n", (unsigned long long)gfn, msg);
	c->rep->bad++;
}

/* Work pages idx .. the end of the hole holding work page @idx (0: not in
 * a hole): they are all zero, "untouched", without looking at each. */
static uint64_t work_hole_run(struct verify_ctx *c, uint64_t idx)
{
	uint64_t rp = c->p->work_first + idx, end;

	if (!ram_hole(c, rp * WL_PAGE_SIZE))
		return 0;
	end = c->ext_hi / WL_PAGE_SIZE - c->p->work_first;
	return (end < c->p->work_pages ? end : c->p->work_pages) - idx;
}

static const uint8_t *work_page(struct verify_ctx *c, uint64_t idx, uint64_t *gfn)
{
	uint64_t rp = c->p->work_first + idx;

	*gfn = wl_ram_page_gpa(c->p, rp) >> WL_PAGE_SHIFT;
	if (ram_hole(c, rp * WL_PAGE_SIZE))
		return verify_zero_page;
	return c->ram + rp * WL_PAGE_SIZE;
}

/* Every page on its own: zero, or a consistent stamp no newer than its writer. */
static void verify_pages(struct verify_ctx *c)
{
	uint32_t busy[WL_MAX_VCPUS] = { 0 };
	struct page_info pi;
	uint64_t idx, gfn;

	for (idx = 0; idx < c->p->work_pages; idx++) {
		uint64_t run = work_hole_run(c, idx);
		const uint8_t *pg;

		if (run) {	/* never touched: zero pages, counted at once */
			c->rep->pages += run;
			c->rep->untouched += run;
			idx += run - 1;
			continue;
		}
		pg = work_page(c, idx, &gfn);
		c->rep->pages++;
		page_classify(pg, gfn, c->full, c->p->nr_vcpus, &pi);
		switch (pi.kind) {
		case PG_ZERO:
			c->rep->untouched++;
			break;
		case PG_BUSY:
			if (++busy[pi.vcpu] > 1)
				verify_bad(c, gfn, "second page in progress for vCPU %u", pi.vcpu);
			else
				c->rep->in_progress++;
			break;
		case PG_STAMP:
			/* the page may be complete a moment before the counter moves */
			if (pi.seq > c->s->vcpu[pi.vcpu].seq + 1)
				verify_bad(c, gfn, "seq %llu of vCPU %u is newer than its counter %llu",
					   (unsigned long long)pi.seq, pi.vcpu,
					   (unsigned long long)c->s->vcpu[pi.vcpu].seq);
			else
				c->rep->stamped++;
			break;
		case PG_BAD:
			verify_bad(c, gfn, "%s (vCPU %u seq %llu)", pi.why, pi.vcpu,
				   (unsigned long long)pi.seq);
			break;
		}
	}
}

/*
 * Exact check of one vCPU's set: replay its choices 1..final; each page
 * must hold the last write that chose it.  The page of write final+1 may
 * be in progress (busy), or done already (its counter not yet updated).
 */
static int verify_replay_vcpu(struct verify_ctx *c, uint32_t v)
{
	struct wl_plan pl;
	uint64_t *last, s, i, gfn, final = c->s->vcpu[v].seq, inflight;
	struct page_info pi;

	if (wl_plan_init(&pl, c->p, v))
		return -EINVAL;
	last = calloc(pl.n, sizeof(*last));
	if (!last)
		return -ENOMEM;
	for (s = 1; s <= final; s++)
		last[wl_pick(&pl, s)] = s;
	c->rep->replayed += final;
	inflight = wl_pick(&pl, final + 1);
	for (i = 0; i < pl.n; i++) {
		const uint8_t *pg = work_page(c, pl.base + i, &gfn);
		bool ok;

		page_classify(pg, gfn, c->full, c->p->nr_vcpus, &pi);
		if (last[i] == 0 || wl_zeroes(c->p->zero_every, last[i]))
			ok = pi.kind == PG_ZERO;	/* untouched, or zeroed last */
		else
			ok = pi.kind == PG_STAMP && pi.vcpu == v && pi.seq == last[i];
		if (!ok && i == inflight)
			ok = (pi.kind == PG_BUSY && pi.vcpu == v) ||
			     (wl_zeroes(c->p->zero_every, final + 1) ? pi.kind == PG_ZERO :
			      pi.kind == PG_STAMP && pi.vcpu == v && pi.seq == final + 1);
		if (!ok)
			verify_bad(c, gfn, "replay: vCPU %u page %llu should hold %s %llu, "
				   "holds %s vCPU %u seq %llu", v, (unsigned long long)i,
				   wl_zeroes(c->p->zero_every, last[i]) ? "zeros from write" : "seq",
				   (unsigned long long)last[i],
				   pi.kind == PG_ZERO ? "zero" : pi.kind == PG_BUSY ? "busy" :
				   pi.kind == PG_BAD ? pi.why : "stamp",
				   pi.vcpu, (unsigned long long)pi.seq);
	}
	free(last);
	return 0;
}

int vmm_wl_verify(const void *ram, uint64_t ram_size, unsigned int flags,
		  struct vmm_wl_report *rep, FILE *out)
{
	return vmm_wl_verify_fd(ram, ram_size, -1, flags, rep, out);
}

int vmm_wl_verify_fd(const void *ram, uint64_t ram_size, int fd, unsigned int flags,
		     struct vmm_wl_report *rep, FILE *out)
{
	struct verify_ctx c = {
		.ram = ram, .ram_size = ram_size, .rep = rep,
		.out = (flags & VMM_WL_VERIFY_QUIET) ? NULL : out, .fd = fd,
	};
	uint32_t v;
	int r;

	memset(rep, 0, sizeof(*rep));
	c.p = (const void *)(c.ram + WL_PARAMS_GPA);
	c.s = (const void *)(c.ram + WL_STATUS_GPA);
	if (ram_size < WL_WORK_GPA || c.p->magic != WL_PARAMS_MAGIC ||
	    c.p->version != WL_PARAMS_VERSION || !c.p->nr_vcpus ||
	    c.p->nr_vcpus > WL_MAX_VCPUS || c.p->nr_ranges > WL_MAX_RANGES ||
	    c.p->work_first + c.p->work_pages > ram_size / WL_PAGE_SIZE) {
		snprintf(rep->first_bad, sizeof(rep->first_bad), "no valid workload parameters");
		rep->bad = 1;
		return -EBADMSG;
	}
	c.full = !(c.p->flags & WL_F_HEADER_ONLY);
	verify_pages(&c);
	if ((flags & VMM_WL_VERIFY_REPLAY) && !(c.p->flags & WL_F_SHARED)) {
		for (v = 0; v < c.p->nr_vcpus; v++) {
			r = verify_replay_vcpu(&c, v);
			if (r)
				return r;
		}
		/* pages outside every vCPU's set must be untouched */
		{
			uint64_t idx, gfn, end = c.p->ws_pages * c.p->nr_vcpus;

			for (idx = end; idx < c.p->work_pages; idx++) {
				uint64_t run = work_hole_run(&c, idx);

				if (run) {
					idx += run - 1;
					continue;
				}
				if (!page_zero(work_page(&c, idx, &gfn)))
					verify_bad(&c, gfn, "written, but outside every working set");
			}
		}
	}
	return rep->bad ? -EBADMSG : 0;
}
