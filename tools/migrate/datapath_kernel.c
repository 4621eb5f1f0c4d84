// SPDX-License-Identifier: GPL-2.0
/*
 * The "kernel" data path (datapath.h): kmigrate.ko through /dev/kmigrate.
 *
 *   open + KMIGRATE_ATTACH_VM   km_dp_kernel_open(), in the VM's process
 *                               before the migration thread starts (the
 *                               module serves only the VM's owner)
 *   KMIGRATE_BIND_SOCKET        init: the migration socket, with SO_SNDTIMEO
 *                               set to the source's stall timeout (the module
 *                               sends with the socket's own timeout; the
 *                               socket's O_NONBLOCK is a property of the file
 *                               that only the syscalls turn into MSG_DONTWAIT,
 *                               so the module's sends block up to that timeout)
 *   KMIGRATE_SET_BANDWIDTH      init (when a cap is given) and `kmigrate set
 *                               VM --bandwidth` while it runs; the module
 *                               paces the page records, the source only its
 *                               own control records
 *   KMIGRATE_ROUND              each round, after its ROUND record
 *   KMIGRATE_HARVEST            ring mode: up to KMIGRATE_BATCH_MAX gfns a
 *                               call until fewer come back, under libvmm's
 *                               harvest lock (vmm_dirty_harvest_ext), which
 *                               also adds the VMM's own writes, takes the
 *                               rings' new positions and wakes the vCPUs that
 *                               wait on a full ring.  When the module has
 *                               KMIGRATE_FEATURE_HARVEST_WHILE_SENDING,
 *                               libvmm's reaper thread makes the same calls
 *                               between harvests, while a send is on the
 *                               wire, so that no vCPU waits on a full ring
 *                               for a round.  Bitmap mode: libvmm's
 *                               KVM_GET_DIRTY_LOG harvest; only the sending
 *                               goes through the module.
 *   KMIGRATE_SEND_PAGES         the PAGES / ZERO records, with the encoder's
 *                               XXH64 state handed in and taken back
 *                               (KMIGRATE_SEND_F_DIGEST_PAGES in the FINAL
 *                               round), then the encoder's totals advanced as
 *                               kmp_enc_pages() / kmp_enc_zero() would have
 *   KMIGRATE_END, GET_STATS     fini (the counters stay in dp->ks)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <linux/kmigrate.h>

#include "datapath.h"

#define DPK_DEV			"/dev/" KMIGRATE_DEVICE_NAME
/* a send call should take at most this long at the cap (cancel latency) */
#define DPK_SEND_SLICE_MS	500u
/* harvest calls per harvest: the rest shows in the next one */
#define DPK_HARVEST_CALLS	1024u

_Static_assert(sizeof(((XXH64_state_t *)0)->mem64) == sizeof(((struct kmigrate_digest *)0)->mem),
	       "XXH64 state buffer and struct kmigrate_digest.mem differ");
_Static_assert(sizeof(((XXH64_state_t *)0)->v) == sizeof(((struct kmigrate_digest *)0)->v),
	       "XXH64 accumulators and struct kmigrate_digest.v differ");
_Static_assert(KM_DP_MAX_BATCH <= KMIGRATE_BATCH_MAX, "batch larger than the module takes");

struct dpk {
	int fd;
	bool ended;
	bool reaper;		/* libvmm's reaper collects through the module */
	uint64_t rate;		/* bytes/s the module's sends achieved (0: not yet) */
	uint64_t gfns[KMIGRATE_BATCH_MAX];
	struct km_datapath *dp;
};

static int dpk_errf(struct km_datapath *dp, int e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int dpk_errf(struct km_datapath *dp, int e, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(dp->err, sizeof(dp->err), fmt, ap);
	va_end(ap);
	n = strlen(dp->err);
	snprintf(dp->err + n, sizeof(dp->err) - n, ": %s", strerror(e));
	return -e;
}

int km_dp_kernel_open(struct vmm_vm *vm, char *why, size_t whylen)
{
	struct kmigrate_version ver = { 0 };
	struct kmigrate_attach at = { .vm_fd = vmm_vm_fd(vm) };
	int fd = open(DPK_DEV, O_RDWR | O_CLOEXEC), e;

	if (fd < 0) {
		e = errno;
		snprintf(why, whylen, "%s: %s%s", DPK_DEV, strerror(e),
			 e == ENOENT || e == ENODEV || e == ENXIO ?
			 " (kmigrate.ko is not loaded; load it with 'modprobe kmigrate')" :
			 e == EPERM || e == EACCES ? " (it needs CAP_NET_ADMIN: run as root)" : "");
		return -e;
	}
	if (ioctl(fd, KMIGRATE_GET_VERSION, &ver) < 0) {
		e = errno;
		snprintf(why, whylen, "%s: KMIGRATE_GET_VERSION: %s", DPK_DEV, strerror(e));
		close(fd);
		return -e;
	}
	if (ver.abi_version != KMIGRATE_ABI_VERSION) {
		snprintf(why, whylen, "%s: module ABI %u, this tool speaks %u", DPK_DEV,
			 ver.abi_version, KMIGRATE_ABI_VERSION);
		close(fd);
		return -EPROTO;
	}
	if (ioctl(fd, KMIGRATE_ATTACH_VM, &at) < 0) {
		e = errno;
		snprintf(why, whylen, "%s: KMIGRATE_ATTACH_VM: %s", DPK_DEV, strerror(e));
		close(fd);
		return -e;
	}
	if (vmm_dirty_mode(vm) == VMM_DIRTY_RING && !at.ring_entries) {
		/* the module sees no dirty ring where libvmm uses one */
		snprintf(why, whylen, "%s: the module reports no dirty ring for this VM", DPK_DEV);
		close(fd);
		return -EOPNOTSUPP;
	}
	return fd;
}

void km_dp_kernel_close(int fd)
{
	if (fd >= 0)
		close(fd);
}

int km_dp_kernel_adopt(struct km_datapath *dp, int fd)
{
	struct dpk *k = calloc(1, sizeof(*k));

	if (!k)
		return -ENOMEM;
	k->fd = fd;
	k->dp = dp;
	dp->priv = k;
	return 0;
}

void km_dp_kernel_release(struct km_datapath *dp)
{
	struct dpk *k = dp->priv;

	if (k && k->fd >= 0)
		km_dp_kernel_close(k->fd);
	free(k);
	dp->priv = NULL;
}

static void dpk_stats(struct km_datapath *dp)
{
	struct dpk *k = dp->priv;
	struct kmigrate_stats s = { 0 };

	if (!k || k->fd < 0 || ioctl(k->fd, KMIGRATE_GET_STATS, &s) < 0)
		return;
	dp->ks.valid = true;
	dp->ks.state = s.state;
	dp->ks.rounds = s.rounds;
	dp->ks.error = s.error;
	dp->ks.pages_harvested = s.pages_harvested;
	dp->ks.pages_sent = s.pages_sent;
	dp->ks.zero_pages = s.zero_pages;
	dp->ks.bytes_sent = s.bytes_sent;
	dp->ks.harvest_ns = s.harvest_ns;
	dp->ks.send_ns = s.send_ns;
	dp->ks.send_stalls = s.send_stalls;
	dp->ks.bandwidth = s.bandwidth;
}

static int64_t dpk_reap(void *opaque, struct vmm_dirty_bitmap *out, uint32_t *ring_fetch,
			unsigned int nr_vcpus, struct vmm_harvest_stats *st, bool *overflow);

static int dpk_init(struct km_datapath *dp)
{
	struct dpk *k = dp->priv;
	struct kmigrate_bind b = { .sock_fd = dp->env.fd };
	struct kmigrate_version ver = { 0 };
	struct timeval tv = { .tv_sec = dp->env.stall_ms / 1000,
			      .tv_usec = (dp->env.stall_ms % 1000) * 1000 };
	int r;

	memset(&dp->zc, 0, sizeof(dp->zc));
	snprintf(dp->zc.note, sizeof(dp->zc.note), "the kernel data path sends by reference");
	memset(&dp->ks, 0, sizeof(dp->ks));
	if (!k || k->fd < 0) {
		snprintf(dp->err, sizeof(dp->err), "no %s session", DPK_DEV);
		return -EBADF;
	}
	if (dp->env.stall_ms &&
	    setsockopt(dp->env.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return dpk_errf(dp, errno, "SO_SNDTIMEO");
	if (ioctl(k->fd, KMIGRATE_BIND_SOCKET, &b) < 0)
		return dpk_errf(dp, errno, "KMIGRATE_BIND_SOCKET");
	if (dp->env.bandwidth) {
		struct kmigrate_bandwidth bw = { .bytes_per_sec = dp->env.bandwidth };

		if (ioctl(k->fd, KMIGRATE_SET_BANDWIDTH, &bw) < 0)
			return dpk_errf(dp, errno, "KMIGRATE_SET_BANDWIDTH");
	}
	r = vmm_dirty_start(dp->env.vm);
	if (r)
		return dpk_errf(dp, -r, "dirty logging");
	/* rings collected while a round is on the wire, when the module can */
	if (vmm_dirty_mode(dp->env.vm) == VMM_DIRTY_RING &&
	    ioctl(k->fd, KMIGRATE_GET_VERSION, &ver) == 0 &&
	    (ver.features & KMIGRATE_FEATURE_HARVEST_WHILE_SENDING)) {
		r = vmm_dirty_reaper_start_ext(dp->env.vm, 0, dpk_reap, dp);
		if (r)
			return dpk_errf(dp, -r, "starting the ring reaper");
		k->reaper = true;
	}
	dpk_stats(dp);
	return 0;
}

/*
 * KMIGRATE_HARVEST until the rings are empty.  From the reaper's thread
 * (@quiet) an error is only returned: dp->err belongs to the source's.
 * Context: libvmm's harvest lock (k->gfns, the counters).
 */
static int64_t dpk_collect_calls(struct km_datapath *dp, struct vmm_dirty_bitmap *out,
				 uint32_t *ring_fetch, unsigned int nr_vcpus,
				 struct vmm_harvest_stats *st, bool *overflow, bool quiet)
{
	struct dpk *k = dp->priv;
	int64_t total = 0;
	unsigned int calls;

	for (calls = 0; calls < DPK_HARVEST_CALLS; calls++) {
		struct kmigrate_harvest h = {
			.gfns = (uintptr_t)k->gfns,
			.max_gfns = KMIGRATE_BATCH_MAX,
			.ring_fetch = nr_vcpus ? (uintptr_t)ring_fetch : 0,
			.nr_ring_fetch = nr_vcpus,
		};
		uint32_t i;

		if (ioctl(k->fd, KMIGRATE_HARVEST, &h) < 0)
			return quiet ? -errno : dpk_errf(dp, errno, "KMIGRATE_HARVEST");
		dp->ks.harvest_calls++;
		if (h.count > h.max_gfns) {
			if (!quiet)
				snprintf(dp->err, sizeof(dp->err),
					 "KMIGRATE_HARVEST returned %u of %u gfns", h.count, h.max_gfns);
			return -EPROTO;
		}
		for (i = 0; out && i < h.count; i++) {
			uint64_t g = k->gfns[i];

			if (g < out->nbits)
				out->bits[g / 64] |= 1ULL << (g % 64);
		}
		total += h.count;
		st->reset += h.reset;
		if (h.flags & KMIGRATE_HARVEST_F_OVERFLOW) {
			*overflow = true;
			dp->ks.overflows++;
		}
		if (h.count < h.max_gfns)
			break;
	}
	return total;
}

/* vmm_ring_collect_fn of the source's harvests */
static int64_t dpk_collect(void *opaque, struct vmm_dirty_bitmap *out, uint32_t *ring_fetch,
			   unsigned int nr_vcpus, struct vmm_harvest_stats *st, bool *overflow)
{
	return dpk_collect_calls(opaque, out, ring_fetch, nr_vcpus, st, overflow, false);
}

/* vmm_ring_collect_fn of libvmm's reaper thread */
static int64_t dpk_reap(void *opaque, struct vmm_dirty_bitmap *out, uint32_t *ring_fetch,
			unsigned int nr_vcpus, struct vmm_harvest_stats *st, bool *overflow)
{
	return dpk_collect_calls(opaque, out, ring_fetch, nr_vcpus, st, overflow, true);
}

static int64_t dpk_harvest(struct km_datapath *dp, struct vmm_dirty_bitmap *set, uint64_t *ns)
{
	struct vmm_harvest_stats hs;
	int64_t r;

	if (vmm_dirty_mode(dp->env.vm) == VMM_DIRTY_RING)
		r = vmm_dirty_harvest_ext(dp->env.vm, set, dpk_collect, dp, &hs);
	else
		r = vmm_dirty_harvest(dp->env.vm, set, NULL, NULL, &hs);
	if (r < 0)
		return r;
	km_dp_note_harvest(dp, &hs);
	*ns = hs.ns;
	return (int64_t)vmm_dirty_bitmap_count(set);
}

static int dpk_round(struct km_datapath *dp, uint32_t round, bool final, uint64_t pages)
{
	struct dpk *k = dp->priv;
	struct kmigrate_round r = { .round = round, .flags = final ? KMIGRATE_ROUND_F_FINAL : 0,
				    .dirty_pages = pages };

	if (ioctl(k->fd, KMIGRATE_ROUND, &r) < 0)
		return dpk_errf(dp, errno, "KMIGRATE_ROUND %u", round);
	return 0;
}

static void dpk_digest_out(const XXH64_state_t *x, struct kmigrate_digest *d)
{
	memset(d, 0, sizeof(*d));
	d->total_len = x->total_len;
	memcpy(d->v, x->v, sizeof(d->v));
	memcpy(d->mem, x->mem64, sizeof(d->mem));
	d->memsize = x->memsize;
}

static void dpk_digest_in(XXH64_state_t *x, const struct kmigrate_digest *d)
{
	x->total_len = d->total_len;
	memcpy(x->v, d->v, sizeof(d->v));
	memcpy(x->mem64, d->mem, sizeof(d->mem));
	x->memsize = d->memsize;
}

/*
 * Pages a call may send so that it takes about DPK_SEND_SLICE_MS at the
 * cap, or at the rate the link achieved so far when that is lower (a slow
 * link without a cap): a cancel is seen between calls.
 */
static uint32_t dpk_slice(struct km_datapath *dp)
{
	struct dpk *k = dp->priv;
	uint64_t bw = __atomic_load_n(&dp->env.bandwidth, __ATOMIC_RELAXED);
	uint64_t n;

	if (k->rate && (!bw || k->rate < bw))
		bw = k->rate;
	if (!bw)
		return 1024;	/* until the link is measured: 4 MiB */
	n = bw / 1000 * DPK_SEND_SLICE_MS / (KMP_PAGE_SIZE + KMP_GFN_SIZE);
	return n < 16 ? 16 : n > KMIGRATE_BATCH_MAX ? KMIGRATE_BATCH_MAX : (uint32_t)n;
}

static int dpk_send_pages(struct km_datapath *dp, const uint64_t *gfns, uint32_t n)
{
	struct dpk *k = dp->priv;
	struct kmp_enc *e = dp->env.enc;

	while (n) {
		struct kmigrate_send s = { .gfns = (uintptr_t)gfns };
		struct kmp_order o = e->order;
		uint32_t c = dpk_slice(dp);
		int rc;

		if (c > n)
			c = n;
		rc = kmp_order_next(&o, KMP_T_PAGES, 0);
		if (rc) {
			snprintf(dp->err, sizeof(dp->err), "encoding PAGES: %s (not allowed here)",
				 kmp_strerror((uint32_t)rc));
			return -1;
		}
		s.nr_gfns = c;
		s.flags = kmp_order_final(&e->order) ? KMIGRATE_SEND_F_DIGEST_PAGES : 0;
		dpk_digest_out(&e->xxh, &s.digest);
		if (ioctl(k->fd, KMIGRATE_SEND_PAGES, &s) < 0) {
			dp->broken = true;	/* the module may have written part of a record */
			dpk_errf(dp, errno, "KMIGRATE_SEND_PAGES (%u gfns)", c);
			return -1;
		}
		dp->ks.send_calls++;
		/* sends of some size measure the link (mostly-zero ones, which
		 * scan more than they send, only make the slices smaller) */
		if (s.send_ns && s.bytes >= (256u << 10)) {
			uint64_t r = s.bytes * 1000000000ULL / s.send_ns;

			k->rate = k->rate ? (k->rate * 3 + r) / 4 : r;
		}
		if (s.pages + s.zero_pages != c)
			fprintf(stderr, "kmigrate: kernel data path: %u gfns sent as %u pages + %u "
				"zero\n", c, s.pages, s.zero_pages);
		dpk_digest_in(&e->xxh, &s.digest);
		e->sum.records += s.records;
		e->sum.pages += s.pages;
		e->sum.zero_pages += s.zero_pages;
		e->sum.bytes += s.bytes;
		if (dp->env.account)
			dp->env.account(dp->env.opaque, s.bytes);
		dp->ks.pages_sent += s.pages;
		dp->ks.zero_pages += s.zero_pages;
		dp->ks.bytes_sent += s.bytes;
		dp->ks.send_stalls += s.stalls;
		dp->ks.send_ns += s.send_ns;
		if (dp->env.sent(dp->env.opaque, s.pages, s.zero_pages))
			return -1;
		gfns += c;
		n -= c;
	}
	return 0;
}

static int dpk_set_bandwidth(struct km_datapath *dp, uint64_t bytes_per_sec)
{
	struct dpk *k = dp->priv;
	struct kmigrate_bandwidth bw = { .bytes_per_sec = bytes_per_sec };

	if (!k || k->fd < 0)
		return -EBADF;
	if (ioctl(k->fd, KMIGRATE_SET_BANDWIDTH, &bw) < 0)
		return -errno;
	__atomic_store_n(&dp->env.bandwidth, bytes_per_sec, __ATOMIC_RELAXED);
	return 0;
}

static void dpk_end(struct km_datapath *dp, int error)
{
	struct dpk *k = dp->priv;
	struct kmigrate_end e = { .error = error > 0 ? (uint32_t)error : 0 };

	if (!k || k->fd < 0 || k->ended)
		return;
	k->ended = true;
	if (ioctl(k->fd, KMIGRATE_END, &e) < 0)
		fprintf(stderr, "kmigrate: kernel data path: KMIGRATE_END: %s\n", strerror(errno));
}

static void dpk_fini(struct km_datapath *dp)
{
	struct dpk *k = dp->priv;

	if (k && k->reaper) {	/* it calls the module through k */
		vmm_dirty_reaper_stop(dp->env.vm);
		k->reaper = false;
	}
	if (k && k->fd >= 0) {
		dpk_end(dp, ECANCELED);	/* unless the source ended it */
		dpk_stats(dp);
		close(k->fd);
		k->fd = -1;
	}
	if (dp->env.vm && vmm_dirty_active(dp->env.vm))
		vmm_dirty_stop(dp->env.vm);
	free(k);
	dp->priv = NULL;
}

const struct km_datapath_ops km_datapath_kernel = {
	.name = "kernel",
	.init = dpk_init,
	.harvest = dpk_harvest,
	.send_pages = dpk_send_pages,
	.round = dpk_round,
	.set_bandwidth = dpk_set_bandwidth,
	.paces_pages = true,
	.end = dpk_end,
	.fini = dpk_fini,
};
