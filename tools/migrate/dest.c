// SPDX-License-Identifier: GPL-2.0
/* The destination side of a live migration; see dest.h. */
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
#include "dest_guest.h"
#include "dest_record.h"
#include "error.h"
#include "exitcode.h"
#include "inlimit.h"
#include "machine.h"
#include "populated.h"
#include "preflight.h"
#include "proto.h"
#include "slots.h"
#include "tls.h"
#include "vmhost.h"
#include "vmm.h"

#define DST_IDLE_MS	60000	/* nothing from the source for this long: give up */
#define DST_BUF		(1u << 20)

struct dst {
	const struct km_dest_opts *o;
	int fd;
	struct km_chan *ch;	/* every byte of the stream goes through it (tls.h) */
	struct km_chan plain;	/* ... or this one, the socket's own calls */
	struct kmp_dec *dec;
	struct kmp_enc enc;
	struct vmm_vm *vm;
	struct km_ctl_server srv;
	bool srv_open;
	char name[KMP_NAME_SIZE];
	bool name_sent;			/* to the listener (dst_notify_name) */
	unsigned int nr_vcpus;
	struct vmm_state vmst;
	struct vmm_state *vst;
	bool have_vmst;
	uint64_t states;
	bool ready, commit, aborted;
	struct kmp_error abort;
	uint32_t err_code;		/* an ERROR to send, with err */
	char err[640];			/* the abort reason (up to KMP_MAX_MSG) and more */
	uint64_t pages, zero;
	uint64_t hole_pages;		/* in HOLE ranges */
	uint64_t punched, zero_written;	/* zeroing: fallocate, or memset */
	uint64_t zrun_gfn, zrun_n;	/* ZERO gfns not zeroed yet: one run */
	int64_t zrun_page;		/* its first RAM page */
	bool sparse;			/* HELLO has SPARSE */
	uint64_t populated;		/* PROFILE's mem_populated (SPARSE) */
	int64_t pop_created;		/* guest RAM held here once created */
	uint64_t rss_created;
	uint64_t t_hello, t_end, t_commit;
	uint64_t features;		/* optional features in use (ACCEPT) */
	bool profiled, checked;		/* PROFILE passed the checks; CHECK done */
	bool pf_failed;			/* d->err has the failed checks' lines */
	bool pf_done;			/* preflight.h checks passed */
	bool check_only;		/* HELLO with CHECK: never a migration */
	char model[KMP_MODEL_SIZE];	/* the guest's CPU model (PROFILE) */
	bool board;			/* HELLO has BOARD: MACHINE follows PROFILE */
	struct kmp_profile *profile;	/* ... which waits for it here */
	struct kmp_machine machine;	/* ... the guest's board and devices */
	bool got_machine;
	struct km_dest_board brd;	/* ... a Linux guest's board and console */
	struct vmm_state devst;		/* ... and its devices' state */
	bool have_devst;
};

static int dst_error(struct dst *d, uint32_t code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int dst_error(struct dst *d, uint32_t code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->err, sizeof(d->err), fmt, ap);
	va_end(ap);
	d->err_code = code;
	kmp_dec_set_error(d->dec, "%s", d->err);
	return (int)code;
}

static int dst_send(struct dst *d, const void *buf, size_t len)
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

static const struct kmp_dec_ops dst_ops = {
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
};

static void dst_notify(struct dst *d, unsigned char status)
{
	int fd = d->o->status_fd;

	if (fd < 0)
		return;
	if (write(fd, &status, 1) != 1) {
		/* the listener is gone */
	}
}

/* The control socket while the guest comes in: info only. */
static struct json_object *dst_ctl(const char *cmd, struct json_object *req, void *opaque,
				   char *err, size_t errlen)
{
	struct dst *d = opaque;
	struct json_object *r;

	(void)req;
	if (strcmp(cmd, "info")) {
		snprintf(err, errlen, "'%s' is being migrated in: only 'info' until it runs here",
			 d->name);
		return NULL;
	}
	r = json_object_new_object();
	if (!r)
		return NULL;
	json_object_object_add(r, "name", json_object_new_string(d->name));
	json_object_object_add(r, "pid", json_object_new_int64(getpid()));
	json_object_object_add(r, "state", json_object_new_string(d->ready ? "handoff" : "incoming"));
	json_object_object_add(r, "origin", json_object_new_string("migrating"));
	json_object_object_add(r, "from", json_object_new_string(d->o->peer));
	json_object_object_add(r, "memory", json_object_new_int64(d->vm ?
			       (int64_t)vmm_ram_size(d->vm) : 0));
	json_object_object_add(r, "vcpus", json_object_new_int64(d->nr_vcpus));
	json_object_object_add(r, "dirty_mode", json_object_new_string(d->vm ?
			       vmm_dirty_mode_name(vmm_dirty_mode(d->vm)) : "-"));
	json_object_object_add(r, "workload", json_object_new_string("-"));
	json_object_object_add(r, "received_pages", json_object_new_int64((int64_t)d->pages));
	json_object_object_add(r, "received_zero_pages", json_object_new_int64((int64_t)d->zero));
	return r;
}

/* Receives the stream until COMMIT or failure; 0 on COMMIT. */
static int dst_receive(struct dst *d, int sfd)
{
	uint8_t *buf = malloc(DST_BUF);
	int ret = -1, rec = km_dest_record_open();

	if (!buf) {
		snprintf(d->err, sizeof(d->err), "out of memory");
		return -1;
	}
	while (!d->commit && !d->aborted && !d->checked) {
		struct pollfd p[3 + KM_CTL_MAX_CLIENTS] = {
			{ .fd = d->fd, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
		};
		unsigned int nc = d->srv_open ? km_ctl_server_pollfds(&d->srv, p + 2) : 0;
		/* decrypted bytes GnuTLS holds: poll() cannot see them */
		bool pending = km_chan_pending(d->ch) > 0;
		int r = poll(p, 2 + nc, pending ? 0 : DST_IDLE_MS);
		ssize_t n;

		if (r < 0 && errno == EINTR)
			continue;
		if (pending && r >= 0)
			p[0].revents |= POLLIN;
		else if (r == 0) {
			dst_error(d, KMP_E_TRUNCATED, "nothing from the source for %d s",
				  DST_IDLE_MS / 1000);
			break;
		}
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si))
				dst_error(d, KMP_E_ABORTED, "interrupted by %s",
					  strsignal(si.ssi_signo));
			break;
		}
		if (nc && r > 0)
			km_ctl_server_serve(&d->srv, p + 2, nc, dst_ctl, d);
		if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = km_chan_recv(d->ch, buf, DST_BUF, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(d->err, sizeof(d->err), "connection lost before COMMIT: %s",
				 strerror(errno));
			break;
		}
		if (n == 0) {
			snprintf(d->err, sizeof(d->err), "connection lost before COMMIT%s",
				 d->ready ? " (after READY: the guest runs nowhere; the "
				 "operator decides)" : "");
			break;
		}
		km_dest_record(rec, buf, (size_t)n);
		if (kmp_dec_feed(d->dec, buf, (size_t)n) != KMP_OK) {
			if (!d->err_code)
				d->err_code = (uint32_t)kmp_dec_code(d->dec);
			if (!d->pf_failed)	/* keep the pre-flight lines as they are */
				snprintf(d->err, sizeof(d->err), "%s", kmp_dec_error(d->dec));
			break;
		}
	}
	if (d->commit)
		ret = 0;
	else if (d->aborted)
		snprintf(d->err, sizeof(d->err), "the source aborted: %s (%s)",
			 d->abort.msg[0] ? d->abort.msg : "-", kmp_strerror(d->abort.code));
	if (rec >= 0)
		close(rec);
	free(buf);
	return ret;
}

int km_mig_dest_run(int fd, const struct km_dest_opts *o)
{
	struct dst d;
	struct km_vmhost h;
	sigset_t sigs;
	unsigned int i;
	int sfd, ret = KM_EXIT_FAIL, r;

	memset(&d, 0, sizeof(d));
	d.o = o;
	d.fd = fd;
	km_chan_init(&d.plain, fd);
	d.ch = o->chan ? o->chan : &d.plain;
	d.srv.lock_fd = d.srv.listen_fd = -1;
	km_dest_board_init(&d.brd);
	kmp_enc_init(&d.enc, KMP_DIR_DEST);
	d.dec = kmp_dec_new(KMP_DIR_SOURCE, &dst_ops, &d);

	/* before any vCPU thread exists, so that they inherit the mask */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (!d.dec || sfd < 0) {
		km_err("listen: %s: out of resources", o->peer);
		dst_notify(&d, KM_EXIT_FAIL);
		return KM_EXIT_FAIL;
	}
	kmp_dec_set_max_state(d.dec, KM_DEST_MAX_STATE);

	r = dst_receive(&d, sfd);
	if (d.checked) {	/* a pre-flight check: nothing more comes */
		fprintf(stderr, "kmigrate listen: %s: pre-flight check from %s: every check "
			"passes\n", d.name, o->peer);
		ret = KM_EXIT_OK;
		goto out;
	}
	if (r && d.check_only) {
		uint8_t buf[KMP_HDR_SIZE + KMP_ERROR_FIXED + KMP_MAX_MSG];
		ssize_t n = d.err_code ? kmp_enc_error(&d.enc, buf, sizeof(buf), d.err_code,
						       d.err) : 0;

		if (n > 0)
			dst_send(&d, buf, (size_t)n);
		fprintf(stderr, "kmigrate listen: %s: pre-flight check from %s failed: %s\n",
			d.name, o->peer, *d.err ? d.err : "unknown error");
		goto out;
	}
	if (r) {
		if (d.err_code && !d.ready) {
			uint8_t buf[KMP_HDR_SIZE + KMP_ERROR_FIXED + KMP_MAX_MSG];
			ssize_t n = kmp_enc_error(&d.enc, buf, sizeof(buf), d.err_code, d.err);

			if (n > 0)
				dst_send(&d, buf, (size_t)n);
		}
		fprintf(stderr, "kmigrate listen: %s%s%s from %s failed: %s; the VM is discarded\n",
			*d.name ? "incoming " : "migration", d.name, *d.name ? "" : "",
			o->peer, *d.err ? d.err : "unknown error");
		goto out;
	}

	/* COMMIT: the guest is ours */
	km_in_slot_release();
	struct kmp_resumed rs = { .verify_note = KMP_RSM_N_NOT_ASKED };
	bool workload = km_dest_workload(d.vm);

	h.pages_verified = -1;
	km_vmhost_init(&h, d.name, d.vm);
	h.origin = "migrated";
	if (!workload)
		rs.verify_note = rs.pause_note = KMP_RSM_N_NOT_WORKLOAD;
	if (workload && (o->verify || (d.features & KMP_FO_VERIFY))) {
		struct vmm_wl_report rep;
		uint64_t t0 = vmm_now_ns();

		memset(&rep, 0, sizeof(rep));
		r = vmm_wl_verify_fd(vmm_ram(d.vm), vmm_ram_size(d.vm), vmm_ram_fd(d.vm),
				     VMM_WL_VERIFY_QUIET | VMM_WL_VERIFY_REPLAY, &rep, NULL);
		h.pages_verified = (int64_t)rep.pages;
		h.verify_bad = (int64_t)rep.bad;
		h.verify_ms = (vmm_now_ns() - t0) / 1000000;
		rs.valid |= KMP_RSM_VERIFIED;
		rs.verify_note = KMP_RSM_N_NONE;
		rs.pages_verified = rep.pages;
		rs.pages_bad = rep.bad > rep.pages ? rep.pages : rep.bad;
		rs.verify_us = (vmm_now_ns() - t0) / 1000;
		fprintf(stderr, "kmigrate listen: %s: verified %" PRIu64 " pages (%" PRIu64
			" stamped, %" PRIu64 " untouched, %" PRIu64 " in progress, %" PRIu64
			" replayed): %" PRIu64 " bad%s%s, %" PRIu64 " ms\n", d.name, rep.pages,
			rep.stamped, rep.untouched, rep.in_progress, rep.replayed, rep.bad,
			rep.bad ? ": " : "", rep.bad ? rep.first_bad : "", h.verify_ms);
	}
	/* the guest is ours: the source closed its disks before COMMIT */
	if (d.board && vmm_disks_open(d.vm, d.err, sizeof(d.err)))
		fprintf(stderr, "kmigrate listen: %s: ERROR: %s: the guest runs, its requests to "
			"that disk fail\n", d.name, d.err);
	km_dest_board_start(&d.brd, d.name, d.srv.sock_path, &h);
	r = vmm_start(d.vm);
	if (r) {
		km_err("listen: %s: starting the migrated guest: %s", d.name, strerror(-r));
		goto out;
	}
	h.start_ns = vmm_now_ns();
	fprintf(stderr, "kmigrate listen: %s: migrated in from %s: %" PRIu64 " pages, %" PRIu64
		" zero pages, %" PRIu64 " hole pages, %" PRIu64 " state records; HELLO -> READY %"
		PRIu64 " ms; running (pid %d)\n", d.name, o->peer, d.pages, d.zero, d.hole_pages,
		d.states, (d.t_end - d.t_hello) / 1000000, (int)getpid());
	{	/* the guest's RAM held here (populated.h) */
		int64_t pop = km_pop_bytes(vmm_ram_fd(d.vm), 0, vmm_ram_size(d.vm));
		uint64_t rss = km_pop_rss_shmem();
		char said[64] = "the source did not say (no SPARSE)";

		if (d.sparse)
			snprintf(said, sizeof(said), "the source held %.1f MiB at HELLO",
				 d.populated / 1048576.0);
		fprintf(stderr, "kmigrate listen: %s: memory: guest RAM %" PRIu64 " MiB; populated "
			"(memfd SEEK_DATA) %.1f MiB when created, %.1f MiB after COMMIT; RssShmem "
			"%.1f -> %.1f MiB; %s; zeroed pages: %" PRIu64 " punched, %" PRIu64
			" written\n", d.name, vmm_ram_size(d.vm) >> 20, d.pop_created / 1048576.0,
			pop / 1048576.0, d.rss_created / 1048576.0, rss / 1048576.0,
			said, d.punched, d.zero_written);
		/* for the source's result (KMP_FO_RESUMED_EXT) */
		if ((d.features & KMP_FO_RESUMED_EXT) && d.pop_created >= 0 && pop >= 0) {
			rs.valid |= KMP_RSM_MEMORY;
			rs.mem_populated_created = (uint64_t)d.pop_created;
			rs.mem_populated = (uint64_t)pop;
			rs.mem_rss_created = d.rss_created;
			rs.mem_rss = rss;
		}
	}
	if (d.features & KMP_FO_RESUMED) {
		uint8_t buf[KMP_HDR_SIZE + KMP_RESUMED_EXT_SIZE];
		ssize_t n;

		if (d.features & KMP_FO_RESUMED_EXT) {
			rs.valid |= KMP_RSM_RESUME;
			rs.resume_us = (h.start_ns - d.t_commit) / 1000;
		}
		if (workload)
			km_dest_guest_pause(d.vm, &rs);
		n = kmp_enc_resumed(&d.enc, buf, sizeof(buf), &rs);
		if (n < 0 || dst_send(&d, buf, (size_t)n))
			fprintf(stderr, "kmigrate listen: %s: sending RESUMED failed%s%s\n",
				d.name, n < 0 ? ": " : "", n < 0 ? d.enc.err : "");
		else
			fprintf(stderr, "kmigrate listen: %s: RESUMED sent: guest-observed pause "
				"%s%.1f ms\n", d.name, rs.valid & KMP_RSM_PAUSE ? "" : "(n/a) ",
				rs.guest_pause_us / 1e3);
	}
	km_chan_free(d.ch);
	close(d.fd);
	d.fd = -1;
	km_ctl_redirect_log(d.name, true);
	fprintf(stderr, "kmigrate run: %s: up (migrated in from %s): pid %d, %" PRIu64
		" MiB, %u vCPU(s), dirty %s\n", d.name, o->peer, (int)getpid(),
		vmm_ram_size(d.vm) >> 20, d.nr_vcpus, vmm_dirty_mode_name(vmm_dirty_mode(d.vm)));
	dst_notify(&d, KM_EXIT_OK);
	ret = km_vmhost_serve(&h, &d.srv, sfd);
	km_vmhost_shutdown(&h);
	fprintf(stderr, "kmigrate run: %s: stopped\n", d.name);
out:
	if (d.check_only)	/* `listen --once` waits for a migration */
		dst_notify(&d, KM_DEST_CHECKED);
	else if (ret)
		dst_notify(&d, (unsigned char)ret);
	if (d.vm)
		vmm_vm_destroy(d.vm);
	km_dest_board_free(&d.brd);	/* after the VM: its ports use the board */
	free(d.profile);
	vmm_state_free(&d.devst);
	if (d.srv_open)
		km_ctl_server_close(&d.srv);
	vmm_state_free(&d.vmst);
	for (i = 0; d.vst && i < d.nr_vcpus; i++)
		vmm_state_free(&d.vst[i]);
	free(d.vst);
	kmp_dec_free(d.dec);
	if (d.fd >= 0) {
		km_chan_free(d.ch);
		close(d.fd);
	}
	close(sfd);
	return ret;
}
