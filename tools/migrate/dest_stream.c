// SPDX-License-Identifier: GPL-2.0
/* The destination's handling of the stream's records (dest_int.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cpumodel.h"
#include "ctl.h"
#include "dest.h"
#include "error.h"
#include "exitcode.h"
#include "guest/wl_abi.h"
#include "inlimit.h"
#include "machine.h"
#include "populated.h"
#include "preflight.h"
#include "proto.h"
#include "slots.h"
#include "tls.h"
#include "vmhost.h"
#include "vmm.h"
#include "dest_int.h"

int dst_error(struct dst *d, uint32_t code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->err, sizeof(d->err), fmt, ap);
	va_end(ap);
	d->err_code = code;
	kmp_dec_set_error(d->dec, "%s", d->err);
	return (int)code;
}

int dst_send(struct dst *d, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = km_chan_send(d->ch, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The guest's name to the listener, once (dest.h, KM_DEST_NAME), so that
 * it can name the VM if this process dies. */
static void dst_notify_name(struct dst *d)
{
	unsigned char m[2 + KMP_NAME_SIZE];
	size_t n = strnlen(d->name, KMP_NAME_SIZE - 1);

	if (d->o->status_fd < 0 || d->name_sent || !n)
		return;
	d->name_sent = true;
	m[0] = KM_DEST_NAME;
	m[1] = (unsigned char)n;
	memcpy(m + 2, d->name, n);
	if (write(d->o->status_fd, m, n + 2) != (ssize_t)(n + 2)) {
		/* the listener is gone */
	}
}

static uint64_t dst_cpuid_hash(struct vmm_vm *vm)
{
	const struct kvm_cpuid2 *c = vmm_vcpu_cpuid(vmm_vcpu(vm, 0));

	if (!c || !c->nent)
		return 0;
	return XXH64(c->entries, c->nent * sizeof(c->entries[0]), 0);
}

static int dst_on_hello(void *opaque, const struct kmp_hello *h);

/* HELLO with PROFILE and/or CHECK (preflight.h): the checks, then ACCEPT
 * for a check, or the admission of the migration. */
static int dst_preflight(struct dst *d, const struct kmp_hello *h, const struct kmp_profile *p)
{
	struct km_pf_env env = { .cpu_max = km_pf_cpu_max, .in_max = km_in_limits.max };
	char msg[KMP_MAX_MSG + 1];
	struct kmp_accept a;
	uint8_t buf[64];
	uint32_t code;
	ssize_t n;

	kmp_enc_set_required(&d->enc, h->features_required);
	snprintf(d->name, sizeof(d->name), "%s", h->name);
	dst_notify_name(d);
	d->check_only = h->features_required & KMP_FR_CHECK;
	d->board = h->features_required & KMP_FR_BOARD;
	d->sparse = h->features_required & KMP_FR_SPARSE;
	d->populated = d->sparse && p ? p->mem_populated : h->mem_size;
	if ((h->features_required & KMP_FR_PROFILE) && !p)
		return 0;	/* the checks when PROFILE is there */
	if (!d->check_only) {
		env.in_max = 0;	/* a migration: inlimit.h takes a slot (or queues) */
	} else if (env.in_max) {
		env.in_active = km_slot_count(km_ctl_run_dir(), "in", NULL, 0);
		env.in_queue = km_in_limits.queue;
	}
	if (km_pf_dest_check(h, p, &env, msg, sizeof(msg), &code)) {
		d->pf_failed = true;
		return dst_error(d, code, "%s", msg);
	}
	/* BOARD: every disk opens here and is the same disk, every NIC's
	 * bridge or tap is here (machine.h) */
	if (d->board && km_machine_check_here(&d->machine, msg, sizeof(msg))) {
		d->pf_failed = true;
		return dst_error(d, KMP_E_REFUSED, "%s", msg);
	}
	d->pf_done = true;
	if (!(h->features_required & KMP_FR_CHECK)) {
		if (p) {
			d->profiled = true;
			snprintf(d->model, sizeof(d->model), "%s", p->model);
		}
		return dst_on_hello(d, h);
	}
	memset(&a, 0, sizeof(a));
	a.version = KMP_VERSION;
	memcpy(a.session, h->session, sizeof(a.session));
	n = kmp_enc_accept(&d->enc, buf, sizeof(buf), &a);
	if (n < 0 || dst_send(d, buf, (size_t)n))
		return dst_error(d, KMP_E_INTERNAL, "sending ACCEPT failed");
	d->checked = true;
	return 0;
}

static int dst_on_profile(void *opaque, const struct kmp_profile *p)
{
	struct dst *d = opaque;

	if (kmp_dec_hello(d->dec)->features_required & KMP_FR_BOARD) {
		d->profile = malloc(sizeof(*p));	/* the checks when MACHINE is there */
		if (!d->profile)
			return dst_error(d, KMP_E_RESOURCE, "out of memory");
		*d->profile = *p;
		return 0;
	}
	return dst_preflight(d, kmp_dec_hello(d->dec), p);
}

static int dst_on_machine(void *opaque, const struct kmp_machine *m)
{
	struct dst *d = opaque;

	d->board = true;
	d->machine = *m;
	d->got_machine = true;
	return dst_preflight(d, kmp_dec_hello(d->dec), d->profile);
}

static int dst_on_hello(void *opaque, const struct kmp_hello *h)
{
	struct dst *d = opaque;
	struct vmm_config cfg;
	const struct vmm_mem_region *rg;
	struct kmp_accept a;
	uint8_t buf[64];
	char err[300];
	unsigned int nr, i;
	ssize_t n;
	int r;

	d->t_hello = vmm_now_ns();
	snprintf(d->name, sizeof(d->name), "%s", h->name);
	dst_notify_name(d);
	if (!d->pf_done)	/* memory, vCPUs; with PROFILE the CPU; CHECK */
		return dst_preflight(d, h, NULL);
	if (!km_ctl_name_valid(h->name))
		return dst_error(d, KMP_E_LAYOUT, "invalid VM name '%.64s'", h->name);
	if (km_in_slot_take(h->name, d->o->peer, err, sizeof(err))) {	/* inlimit.h */
		d->pf_failed = true;	/* one pre-flight line, as check has it */
		return dst_error(d, KMP_E_REFUSED, "limit: %s", err);
	}
	if (h->nr_vcpus > VMM_MAX_VCPUS)
		return dst_error(d, KMP_E_LAYOUT, "%u vCPUs: this host runs at most %u",
				 h->nr_vcpus, (unsigned int)VMM_MAX_VCPUS);
	if (h->mem_size % (2ULL << 20))
		return dst_error(d, KMP_E_LAYOUT, "guest memory %" PRIu64
				 " is not a multiple of 2 MiB", h->mem_size);
	{
		uint64_t avail = km_pf_mem_available();
		uint64_t need = d->pf_done ? d->populated : h->mem_size;

		/* the RAM the guest uses (SPARSE: populated on the source, else
		 * all of it) plus room for the VMM and the host */
		if (avail && avail < need + KM_PF_MEM_OVERHEAD)
			return dst_error(d, KMP_E_RESOURCE, "not enough free memory here: the guest "
					 "uses %" PRIu64 " MiB of its %" PRIu64 " MiB, %" PRIu64
					 " MiB available", need >> 20, h->mem_size >> 20,
					 avail >> 20);
	}
	if (d->sparse)
		fprintf(stderr, "kmigrate listen: %s: incoming from %s: %" PRIu64 " MiB (%" PRIu64
			" MiB used), %u vCPU(s)\n", d->name, d->o->peer, h->mem_size >> 20,
			d->populated >> 20, h->nr_vcpus);
	else
		fprintf(stderr, "kmigrate listen: %s: incoming from %s: %" PRIu64 " MiB (use not "
			"told: a source without SPARSE), %u vCPU(s)\n", d->name, d->o->peer,
			h->mem_size >> 20, h->nr_vcpus);
	r = km_ctl_server_open(&d->srv, h->name, err, sizeof(err));
	if (r)
		return dst_error(d, KMP_E_REFUSED, "%s", err);
	d->srv_open = true;
	memset(&cfg, 0, sizeof(cfg));
	cfg.mem_bytes = h->mem_size;
	cfg.nr_vcpus = h->nr_vcpus;
	cfg.dirty_mode = (enum vmm_dirty_mode)d->o->dirty_mode;
	cfg.quiet_console = true;
	cfg.cpu_model = d->profiled ? d->model : NULL;
	cfg.irqchip = d->board && (d->machine.flags & KMP_MACHINE_F_LINUX);
	r = vmm_vm_create(&cfg, &d->vm);
	if (r)
		return dst_error(d, KMP_E_RESOURCE, "creating a VM of %" PRIu64 " MiB, %u vCPUs: %s",
				 h->mem_size >> 20, h->nr_vcpus, strerror(-r));
	/* the source's order: its devices, then the board (run.c) */
	if (d->board && km_machine_build(d->vm, &d->machine, d->name, err, sizeof(err)))
		return dst_error(d, KMP_E_RESOURCE, "the guest's devices: %s", err);
	if (cfg.irqchip && km_dest_board_attach(&d->brd, d->vm, err, sizeof(err)))
		return dst_error(d, KMP_E_RESOURCE, "the guest's board: %s", err);
	nr = vmm_mem_regions(d->vm, &rg);
	if (nr != h->nr_slots)
		return dst_error(d, KMP_E_LAYOUT, "guest has %u memory slots, this host would lay "
				 "out %u", h->nr_slots, nr);
	for (i = 0; i < nr; i++)
		if (rg[i].gpa != h->slots[i].gpa || rg[i].size != h->slots[i].size)
			return dst_error(d, KMP_E_LAYOUT, "slot %u [%#" PRIx64 ", +%#" PRIx64
					 ") differs from this host's [%#" PRIx64 ", +%#" PRIx64 ")",
					 i, h->slots[i].gpa, h->slots[i].size, rg[i].gpa, rg[i].size);
	/* with PROFILE, the features were compared one by one */
	if (!d->profiled && h->cpuid_hash && h->cpuid_hash != dst_cpuid_hash(d->vm))
		return dst_error(d, KMP_E_LAYOUT, "CPUID differs (guest %#" PRIx64 ", this host %#"
				 PRIx64 "): incompatible hosts", h->cpuid_hash, dst_cpuid_hash(d->vm));
	d->pop_created = km_pop_bytes(vmm_ram_fd(d->vm), 0, vmm_ram_size(d->vm));
	d->rss_created = km_pop_rss_shmem();
	d->nr_vcpus = h->nr_vcpus;
	d->vst = calloc(h->nr_vcpus, sizeof(*d->vst));
	if (!d->vst)
		return dst_error(d, KMP_E_RESOURCE, "out of memory");
	memset(&a, 0, sizeof(a));
	a.version = KMP_VERSION;
	a.features = h->features_optional & KMP_FO_KNOWN;
	d->features = a.features;
	kmp_dec_set_features(d->dec, a.features);	/* SWITCHBACK may come */
	memcpy(a.session, h->session, sizeof(a.session));
	n = kmp_enc_accept(&d->enc, buf, sizeof(buf), &a);
	if (n < 0 || dst_send(d, buf, (size_t)n))
		return dst_error(d, KMP_E_INTERNAL, "sending ACCEPT failed");
	return 0;
}

static int dst_zero_flush(struct dst *d);

static int dst_on_page(void *opaque, uint64_t gfn, const void *data)
{
	struct dst *d = opaque;
	void *hva = vmm_gpa_to_hva(d->vm, gfn << KMP_PAGE_SHIFT, KMP_PAGE_SIZE);

	if (dst_zero_flush(d))	/* an earlier ZERO of this gfn comes first */
		return (int)d->err_code;
	if (!hva)
		return dst_error(d, KMP_E_RANGE, "gfn %#" PRIx64 " is not guest RAM", gfn);
	memcpy(hva, data, KMP_PAGE_SIZE);
	d->pages++;
	return 0;
}

/*
 * Makes @n pages from @gfn (one slot) zero without allocating them: a hole
 * stays a hole (fresh memory is one), a page held here is punched out of
 * the RAM memfd; written with zeros only where punching fails.
 */
static int dst_zero_range(struct dst *d, uint64_t gfn, uint64_t n)
{
	int64_t pg = vmm_gfn_to_ram_page(d->vm, gfn);
	int r;

	if (pg < 0 || vmm_gfn_to_ram_page(d->vm, gfn + n - 1) != pg + (int64_t)n - 1)
		return dst_error(d, KMP_E_RANGE, "gfn %#" PRIx64 " + %" PRIu64 " is not guest RAM",
				 gfn, n);
	r = km_pop_zero(vmm_ram_fd(d->vm), vmm_ram(d->vm) + ((uint64_t)pg << KMP_PAGE_SHIFT),
			(uint64_t)pg << KMP_PAGE_SHIFT, n << KMP_PAGE_SHIFT);
	if (r < 0)
		return dst_error(d, KMP_E_RESOURCE, "zeroing gfn %#" PRIx64 " + %" PRIu64 ": %s",
				 gfn, n, strerror(-r));
	if (r)
		d->zero_written += n;
	else
		d->punched += n;
	return 0;
}

/* Zeroes the pending run of ZERO gfns (before anything else touches RAM). */
static int dst_zero_flush(struct dst *d)
{
	uint64_t n = d->zrun_n;

	d->zrun_n = 0;
	return n ? dst_zero_range(d, d->zrun_gfn, n) : 0;
}

/*
 * A ZERO gfn joins the pending run when it follows it in guest and RAM
 * order: one punch per run, not per page (a source without SPARSE sends
 * every untouched page as a ZERO gfn).
 */
static int dst_on_zero(void *opaque, uint64_t gfn)
{
	struct dst *d = opaque;
	int64_t pg = vmm_gfn_to_ram_page(d->vm, gfn);
	int r = 0;

	if (pg < 0)
		return dst_error(d, KMP_E_RANGE, "gfn %#" PRIx64 " is not guest RAM", gfn);
	if (!d->zrun_n || gfn != d->zrun_gfn + d->zrun_n ||
	    pg != d->zrun_page + (int64_t)d->zrun_n) {
		r = dst_zero_flush(d);
		d->zrun_gfn = gfn;
		d->zrun_page = pg;
	}
	d->zrun_n++;
	if (!r)
		d->zero++;
	return r;
}

static int dst_on_hole(void *opaque, uint64_t gfn, uint64_t npages)
{
	struct dst *d = opaque;
	int r = dst_zero_flush(d) ?: dst_zero_range(d, gfn, npages);

	if (!r)
		d->hole_pages += npages;
	return r;
}

static int dst_on_state(void *opaque, const void *blob, size_t len)
{
	struct dst *d = opaque;
	struct vmm_state st = { 0 };
	const struct vmm_state_hdr *h;
	int r = vmm_state_check(blob, len);

	if (dst_zero_flush(d))	/* the last round's pages are all in */
		return (int)d->err_code;
	if (!r)
		r = vmm_state_from_buf(&st, blob, len);
	if (r)
		return dst_error(d, KMP_E_STATE, "VCPU_STATE %" PRIu64 ": not a valid state: %s",
				 d->states, strerror(-r));
	h = vmm_state_hdr(&st);
	if (h->kind == VMM_STATE_VM && !d->have_vmst) {
		d->vmst = st;
		d->have_vmst = true;
	} else if (h->kind == VMM_STATE_VCPU && h->index < d->nr_vcpus &&
		   !d->vst[h->index].buf) {
		d->vst[h->index] = st;
	} else if (h->kind == VMM_STATE_DEVICES && d->board && !d->have_devst) {
		d->devst = st;
		d->have_devst = true;
	} else {
		vmm_state_free(&st);
		return dst_error(d, KMP_E_STATE, "VCPU_STATE %" PRIu64 ": unexpected state "
				 "(kind %u, index %u)", d->states, h->kind, h->index);
	}
	d->states++;
	return 0;
}

static int dst_on_end(void *opaque, const struct kmp_end *e)
{
	struct dst *d = opaque;
	struct vmm_load_opts lo = { .tsc_advance = true };
	struct kmp_ready rd = { .digest = e->digest, .pages = e->pages + e->zero_pages };
	uint8_t buf[64];
	unsigned int i;
	ssize_t n;
	int r;

	if (!d->have_vmst)
		return dst_error(d, KMP_E_STATE, "no VM state in the stream");
	for (i = 0; i < d->nr_vcpus; i++)
		if (!d->vst[i].buf)
			return dst_error(d, KMP_E_STATE, "no state for vCPU %u", i);
	if (d->board && !d->have_devst)
		return dst_error(d, KMP_E_STATE, "no devices' state in the stream (BOARD)");
	uint64_t t0 = vmm_now_ns();

	r = vmm_vm_state_load(d->vm, &d->vmst);
	if (r)
		return dst_error(d, KMP_E_STATE, "loading the VM state: %s", strerror(-r));
	r = vmm_vcpus_state_load(d->vm, d->vst, &lo);
	if (r)
		return dst_error(d, KMP_E_STATE, "loading the vCPU state: %s", strerror(-r));
	if (d->board) {
		char why[300];

		r = vmm_dev_state_load(d->vm, &d->devst, why, sizeof(why));
		if (r)
			return dst_error(d, KMP_E_STATE, "loading the devices' state: %s", why);
	}
	n = kmp_enc_ready(&d->enc, buf, sizeof(buf), &rd);
	if (n < 0 || dst_send(d, buf, (size_t)n))
		return dst_error(d, KMP_E_INTERNAL, "sending READY failed");
	d->t_end = vmm_now_ns();
	d->ready = true;
	fprintf(stderr, "kmigrate listen: %s: END verified (%" PRIu64 " pages, %" PRIu64
		" zero); state loaded in %.1f ms; READY sent\n", d->name, e->pages, e->zero_pages,
		(d->t_end - t0) / 1e6);
	return 0;
}

/* The source aborted the switch-over and runs the guest again: the
 * final round's pages stay (later rounds resend what changes), its state
 * is dropped; live rounds follow. */
static int dst_on_switchback(void *opaque, const struct kmp_switchback *sb)
{
	struct dst *d = opaque;
	unsigned int i;

	if (dst_zero_flush(d))
		return (int)d->err_code;
	vmm_state_free(&d->vmst);
	d->have_vmst = false;
	for (i = 0; i < d->nr_vcpus; i++)
		vmm_state_free(&d->vst[i]);
	vmm_state_free(&d->devst);
	d->have_devst = false;
	d->states = 0;
	d->switchbacks++;
	fprintf(stderr, "kmigrate listen: %s: the source aborted the switch-over of round %u "
		"(the guest was paused %.1f ms there and runs there again): state discarded, "
		"live rounds follow\n", d->name, sb->round, sb->paused_us / 1e3);
	return 0;
}

static int dst_on_commit(void *opaque)
{
	struct dst *d = opaque;

	d->commit = true;
	d->t_commit = vmm_now_ns();
	return 0;
}

static int dst_on_abort(void *opaque, const struct kmp_error *e)
{
	struct dst *d = opaque;

	d->aborted = true;
	d->abort = *e;
	return 0;
}

const struct kmp_dec_ops dst_ops = {
	.hello = dst_on_hello,
	.profile = dst_on_profile,
	.machine = dst_on_machine,
	.page = dst_on_page,
	.zero = dst_on_zero,
	.hole = dst_on_hole,
	.vcpu_state = dst_on_state,
	.end = dst_on_end,
	.commit = dst_on_commit,
	.abort = dst_on_abort,
	.switchback = dst_on_switchback,
};
