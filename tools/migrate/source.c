// SPDX-License-Identifier: GPL-2.0
/*
 * The source side of a live migration, in a thread of the VM's process.
 * See source.h and docs/PROTOCOL.md.
 *
 * Downtime (downtime_ms in the result) is measured on the source: from the
 * moment the guest is paused for the stop-and-copy round to the moment
 * READY arrives (the destination has every page and the state loaded).
 * It does not include the COMMIT's trip and the destination's resume, nor
 * the destination's optional verification (which runs after COMMIT); the
 * guest's own view of its pause is in the destination's `info`
 * (max_pause_us, reset just before the pause).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <linux/kmigrate.h>

#include "bulk.h"
#include "converge.h"
#include "cpumodel.h"
#include "datapath.h"
#include "netvia.h"
#include "populated.h"
#include "preflight.h"
#include "proto.h"
#include "rate.h"
#include "source.h"
#include "tls.h"

#define SRC_STALL_MS		30000	/* no progress on the socket: give up */
#define SRC_MIN_ROUND_MS	100	/* shortest live round (lets dirt build up) */
#define SRC_DRAIN_BYTES		(32u << 10)	/* send queue we wait down to */
#define SRC_SNDBUF		(512u << 10)
#define SRC_RESUMED_MS	10000	/* after COMMIT: wait this long for RESUMED */
/*
 * The downtime model's fixed costs (converge.h), measured in the nested lab
 * (2 vCPUs: pause 1-9 ms, state 2-23 ms, END and READY 2-30 ms, all
 * doubling when the host is busy; 12-64 ms downtime with a few dirty
 * pages; an idle 1-vCPU guest once waited 59 ms for READY), kept on the
 * safe side: limits under ~60 ms fail as "fixed costs" there rather than
 * risk an overshoot.
 */
#define SRC_MARGIN_PCT		20	/* of the limit, kept for jitter ... */
#define SRC_MARGIN_MIN_NS	10000000ULL	/* ... and at least 10 ms */
#define SRC_HANDOFF_NS		20000000ULL	/* pause, END, digest check, READY */
#define SRC_VCPU_NS		10000000ULL	/* per vCPU: state save here + load there */
#define SRC_STOP_DELAY_NS	25000000ULL	/* harvest -> pause (the 20 ms sleep, the
						 * pause): the guest still dirties */
#define SRC_RTT_MIN_NS		1000000ULL	/* HELLO -> ACCEPT bounds the round trip */
#define SRC_RTT_MAX_NS		10000000ULL	/* (it includes the destination's VM set-up) */

struct km_mig_src {
	struct vmm_vm *vm;
	char name[KMP_NAME_SIZE];
	struct km_mig_opts o;
	pthread_t thr;
	atomic_bool cancel;
	_Atomic uint64_t cancel_ns;	/* when it was asked for */
	atomic_bool done;
	atomic_bool committed;	/* COMMIT sent: the VM here is no longer used */
	bool completed;

	pthread_mutex_t lock;	/* the fields below, for status readers */
	const char *phase;
	const char *result;	/* NULL while running */
	char error[512];		/* the peer's ERROR (KMP_MAX_MSG) fits whole */
	uint32_t round;
	uint64_t bytes_sent, pages_sent, zero_pages, remaining;
	uint64_t hole_pages;	/* never touched: sent as HOLE ranges (or ZERO) */
	/* the guest's RAM held here (populated.h): at HELLO, after READY */
	int64_t pop_before, pop_after;
	uint64_t rss_before, rss_after;
	uint64_t link_rate, dirty_rate, predicted_ns;
	uint64_t guest_pages;
	uint64_t t_start, t_end, downtime_ns, pause_to_final_ns, state_bytes;
	uint64_t dest_pages;
	/* stop-and-copy, ns from the pause request: paused, harvested, final
	 * pages sent, state sent, END sent, READY received */
	uint64_t d_paused, d_harvest, d_pages, d_state, d_end, d_ready;
	uint64_t final_pages;
	/* rounds that resent every populated page (a dirty ring may have
	 * lost entries): how many, the last one, why */
	uint32_t full_resends, full_round;
	char full_why[128];
	/* per vCPU, during the live rounds (up to the pause): exits on a full
	 * dirty ring and the time spent waiting for its reset; rf_done once
	 * measured */
	uint64_t rf_exits[VMM_MAX_VCPUS], rf_wait_ns[VMM_MAX_VCPUS];
	unsigned int rf_n;	/* vCPUs measured; 0: not yet */
	struct km_dp_zc_stats zc;	/* the data path's, once it is down */
	struct km_dp_kernel_stats ks;	/* the kernel data path's counters */
	char dp_note[320];		/* why not the kernel data path (auto) */
	pthread_mutex_t dp_lock;	/* dp_up and the data path vs. set_bandwidth */
	char peer[128];
	char tls_desc[64];		/* KM_TLS_DESC(_RECORDS, _PLAIN); "": not yet */
	char tls_peer[256];		/* the destination's subject */
	/* the destination's RESUMED (got_resumed) or why there is none */
	bool got_resumed;
	struct kmp_resumed resumed;
	char resumed_note[160];

	/* thread-private */
	int fd;
	struct km_chan ch;	/* every byte of the stream goes through it (tls.h) */
	struct kmp_enc enc;
	struct kmp_dec *dec;
	bool got_accept, got_ready, got_error;
	struct kmp_accept accept;
	struct kmp_ready ready;
	struct kmp_error peer_err;
	bool paused;		/* by us */
	bool hello_sent;
	struct km_tls *tls;	/* credentials (also for --insecure) */
	bool partial;		/* a record is half sent: no ABORT can follow */
	struct km_datapath dp;
	bool dp_up;
	struct vmm_dirty_bitmap bm;
	uint64_t gfns[KM_DP_MAX_BATCH];
	bool sparse;			/* feature SPARSE: holes as HOLE ranges */
	uint64_t r_bytes, r_pages, r_zero;	/* this round */
	struct km_bucket bucket;	/* the bandwidth cap (src_throttle) */
	uint64_t harvest_ns_max;	/* slowest live harvest */
};

void km_mig_opts_default(struct km_mig_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->downtime_ms = KM_MIG_DEFAULT_DOWNTIME_MS;
	o->max_rounds = KM_MIG_DEFAULT_MAX_ROUNDS;
	o->connect_timeout_ms = 10000;
	o->ready_timeout_ms = 10000;
	o->verify = true;
	o->workload = true;
	o->zerocopy = true;
	o->datapath = KM_MIG_DP_AUTO;
}

static const char *const src_dp_names[] = {
	[KM_MIG_DP_AUTO] = "auto",
	[KM_MIG_DP_KERNEL] = "kernel",
	[KM_MIG_DP_USER] = "user",
};

int km_mig_datapath_parse(const char *s, enum km_mig_datapath *out)
{
	unsigned int i;

	for (i = 0; s && i < sizeof(src_dp_names) / sizeof(src_dp_names[0]); i++) {
		if (!strcmp(s, src_dp_names[i])) {
			*out = (enum km_mig_datapath)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *km_mig_datapath_name(enum km_mig_datapath d)
{
	return (unsigned int)d < sizeof(src_dp_names) / sizeof(src_dp_names[0]) ?
	       src_dp_names[d] : "?";
}

int km_mig_split_hostport(const char *s, char *host, size_t hlen, char *port,
			  size_t plen, unsigned int def_port)
{
	const char *colon, *p = NULL;
	size_t n;

	if (!s || !*s)
		return -EINVAL;
	if (*s == '[') {
		const char *e = strchr(s, ']');

		if (!e || e == s + 1)
			return -EINVAL;
		n = (size_t)(e - s - 1);
		if (e[1] == ':')
			p = e + 2;
		else if (e[1])
			return -EINVAL;
		s++;
	} else {
		colon = strchr(s, ':');
		if (colon && strchr(colon + 1, ':')) {	/* bare v6 literal */
			n = strlen(s);
		} else if (colon) {
			n = (size_t)(colon - s);
			p = colon + 1;
		} else {
			n = strlen(s);
		}
	}
	if (!n || n >= hlen)
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = 0;
	if (p) {
		char *end;
		unsigned long v = strtoul(p, &end, 10);

		if (!*p || *end || v == 0 || v > 65535)
			return -EINVAL;
		snprintf(port, plen, "%lu", v);
	} else {
		snprintf(port, plen, "%u", def_port);
	}
	return 0;
}

/* ------------------------------------------------------------ status -- */

static void src_set(struct km_mig_src *m, const char *phase)
{
	pthread_mutex_lock(&m->lock);
	m->phase = phase;
	pthread_mutex_unlock(&m->lock);
}

#define JADD(o, k, v)	json_object_object_add((o), (k), (v))
#define JU64(v)		json_object_new_int64((int64_t)(v))

/* milliseconds from nanoseconds, printed with 3 decimals */
static struct json_object *src_json_ms(uint64_t ns)
{
	char s[32];

	snprintf(s, sizeof(s), "%.3f", ns / 1e6);
	return json_object_new_double_s(ns / 1e6, s);
}

/*
 * The destination's view after COMMIT (RESUMED): pages_verified,
 * verify_bad, verify_ms, guest_downtime_ms, each null with a *_note saying
 * why when not known.  Called with m->lock held, once the result is final.
 */
static void src_json_resumed(struct km_mig_src *m, struct json_object *r)
{
	const struct kmp_resumed *rs = &m->resumed;
	const char *vnote = NULL, *pnote = NULL;
	bool verified = m->got_resumed && (rs->valid & KMP_RSM_VERIFIED);
	bool pause = m->got_resumed && (rs->valid & KMP_RSM_PAUSE);

	if (!m->got_resumed) {
		vnote = pnote = *m->resumed_note ? m->resumed_note :
				"the migration did not complete";
	} else {
		if (!verified)
			vnote = kmp_rsm_note_name(rs->verify_note);
		if (!pause)
			pnote = kmp_rsm_note_name(rs->pause_note);
	}
	JADD(r, "pages_verified", verified ? JU64(rs->pages_verified) : NULL);
	JADD(r, "verify_bad", verified ? JU64(rs->pages_bad) : NULL);
	JADD(r, "verify_ms", verified ? src_json_ms(rs->verify_us * 1000) : NULL);
	JADD(r, "verify_note", vnote ? json_object_new_string(vnote) : NULL);
	JADD(r, "guest_downtime_ms", pause ? src_json_ms(rs->guest_pause_us * 1000) : NULL);
	JADD(r, "guest_downtime_method", json_object_new_string(
		"destination: the guest's own longest pause since the reset before the "
		"pause, read after ~200 ms of progress there"));
	JADD(r, "guest_downtime_note", pnote ? json_object_new_string(pnote) : NULL);
	{	/* the guest's RAM held on the destination (KMP_RSM_MEMORY) */
		bool mem = m->got_resumed && (rs->valid & KMP_RSM_MEMORY);
		struct json_object *g = json_object_new_object();

		JADD(g, "method", json_object_new_string(
			"destination: populated: memfd SEEK_DATA/SEEK_HOLE sum; rss_shmem: its "
			"process's RssShmem; created: the VM made there, resumed: after COMMIT"));
		JADD(g, "populated_created", mem ? JU64(rs->mem_populated_created) : NULL);
		JADD(g, "populated_resumed", mem ? JU64(rs->mem_populated) : NULL);
		JADD(g, "rss_shmem_created", mem ? JU64(rs->mem_rss_created) : NULL);
		JADD(g, "rss_shmem_resumed", mem ? JU64(rs->mem_rss) : NULL);
		JADD(g, "note", mem ? NULL : json_object_new_string(
			!m->got_resumed ? (*m->resumed_note ? m->resumed_note :
					   "the migration did not complete") :
			"the destination did not report it (an older kmigrate)"));
		JADD(r, "dest_memory", g);
	}
}

struct json_object *km_mig_src_status(struct km_mig_src *m)
{
	struct json_object *r = json_object_new_object();
	uint64_t now = vmm_now_ns(), end;
	bool fin;

	if (!r)
		return NULL;
	pthread_mutex_lock(&m->lock);
	/* final only once the thread has finished: a cancel names the result
	 * early, while the data path is still being taken down */
	fin = m->result && atomic_load(&m->done);
	end = fin ? m->t_end : now;
	JADD(r, "event", json_object_new_string(fin ? "result" : "progress"));
	if (fin)
		JADD(r, "result", json_object_new_string(m->result));
	JADD(r, "name", json_object_new_string(m->name));
	JADD(r, "to", json_object_new_string(m->o.to));
	JADD(r, "peer", json_object_new_string(m->peer));
	JADD(r, "phase", json_object_new_string(m->phase));
	JADD(r, "check_only", json_object_new_boolean(m->o.check_only));
	JADD(r, "peer_code", m->got_error ? JU64(m->peer_err.code) : NULL);
	JADD(r, "peer_error", m->got_error ? json_object_new_string(m->peer_err.msg) : NULL);
	JADD(r, "datapath", json_object_new_string(m->dp.ops->name));
	JADD(r, "tls", *m->tls_desc ? json_object_new_string(m->tls_desc) : NULL);
	JADD(r, "tls_peer", *m->tls_peer ? json_object_new_string(m->tls_peer) : NULL);
	JADD(r, "datapath_requested", json_object_new_string(km_mig_datapath_name(m->o.datapath)));
	JADD(r, "datapath_note", *m->dp_note ? json_object_new_string(m->dp_note) : NULL);
	JADD(r, "bandwidth", JU64(m->o.bandwidth));
	JADD(r, "round", JU64(m->round));
	JADD(r, "rounds", JU64(m->round + 1));
	JADD(r, "bytes_sent", JU64(m->bytes_sent));
	JADD(r, "pages_sent", JU64(m->pages_sent));
	JADD(r, "zero_pages", JU64(m->zero_pages));
	JADD(r, "hole_pages", JU64(m->hole_pages));
	JADD(r, "sparse", json_object_new_boolean(m->sparse));
	JADD(r, "remaining_pages", JU64(m->remaining));
	JADD(r, "full_resends", JU64(m->full_resends));
	if (m->rf_n) {	/* the live rounds' waits on a full dirty ring, per vCPU */
		struct json_object *ex = json_object_new_array(), *wt = json_object_new_array();
		uint64_t max = 0;
		unsigned int i;

		for (i = 0; i < m->rf_n; i++) {
			json_object_array_add(ex, JU64(m->rf_exits[i]));
			json_object_array_add(wt, src_json_ms(m->rf_wait_ns[i]));
			if (m->rf_wait_ns[i] > max)
				max = m->rf_wait_ns[i];
		}
		JADD(r, "ring_full_wait_max_ms", src_json_ms(max));
		JADD(r, "ring_full_exits", ex);
		JADD(r, "ring_full_wait_ms", wt);
	}
	JADD(r, "full_resend_round", m->full_resends ? JU64(m->full_round) : NULL);
	JADD(r, "full_resend_reason", m->full_resends ? json_object_new_string(m->full_why) : NULL);
	JADD(r, "rate", JU64(m->link_rate ? m->link_rate : end > m->t_start ?
			     m->bytes_sent * 1000000000ULL / (end - m->t_start) : 0));
	JADD(r, "dirty_rate", JU64(m->dirty_rate));
	JADD(r, "predicted_downtime_ms", JU64(m->predicted_ns / 1000000));
	JADD(r, "guest_mem_bytes", JU64(m->guest_pages * KMP_PAGE_SIZE));
	JADD(r, "downtime_limit_ms", JU64(m->o.downtime_ms));
	JADD(r, "elapsed_ms", JU64((end - m->t_start) / 1000000));
	if (fin) {
		JADD(r, "total_ms", JU64((m->t_end - m->t_start) / 1000000));
		JADD(r, "downtime_ms", m->downtime_ns ? src_json_ms(m->downtime_ns) : NULL);
		JADD(r, "downtime_method", json_object_new_string(
			"source: guest paused -> READY received"));
		if (m->d_ready) {
			struct json_object *b = json_object_new_object();

			JADD(b, "pause", src_json_ms(m->d_paused));
			JADD(b, "harvest", src_json_ms(m->d_harvest - m->d_paused));
			JADD(b, "final_pages", src_json_ms(m->d_pages - m->d_harvest));
			JADD(b, "state", src_json_ms(m->d_state - m->d_pages));
			JADD(b, "end", src_json_ms(m->d_end - m->d_state));
			JADD(b, "ready_wait", src_json_ms(m->d_ready - m->d_end));
			JADD(r, "downtime_breakdown_ms", b);
			JADD(r, "final_round_pages", JU64(m->final_pages));
		}
		JADD(r, "state_bytes", JU64(m->state_bytes));
		{	/* the guest's RAM held on this host (populated.h) */
			struct json_object *g = json_object_new_object();

			JADD(g, "method", json_object_new_string(
				"populated: memfd SEEK_DATA/SEEK_HOLE sum; rss_shmem: "
				"/proc/self/status RssShmem; before: at HELLO, after: at READY"));
			JADD(g, "guest_bytes", JU64(m->guest_pages * KMP_PAGE_SIZE));
			JADD(g, "populated_before", m->pop_before >= 0 ? JU64(m->pop_before) : NULL);
			JADD(g, "populated_after", m->pop_after >= 0 ? JU64(m->pop_after) : NULL);
			JADD(g, "rss_shmem_before", m->rss_before ? JU64(m->rss_before) : NULL);
			JADD(g, "rss_shmem_after", m->rss_after ? JU64(m->rss_after) : NULL);
			JADD(r, "source_memory", g);
		}
		JADD(r, "dest_pages", JU64(m->dest_pages));
		{	/* MSG_ZEROCOPY for page payloads (datapath.h) */
			struct json_object *z = json_object_new_object();

			JADD(z, "enabled", json_object_new_boolean(m->zc.enabled));
			JADD(z, "sends", JU64(m->zc.sends));
			JADD(z, "bytes", JU64(m->zc.bytes));
			JADD(z, "completions", JU64(m->zc.completions));
			JADD(z, "copied", JU64(m->zc.copied));
			JADD(z, "enobufs", JU64(m->zc.enobufs));
			JADD(z, "note", *m->zc.note ? json_object_new_string(m->zc.note) : NULL);
			JADD(r, "zerocopy", z);
		}
		if (m->ks.valid) {	/* the module's own counters (KMIGRATE_GET_STATS) */
			struct json_object *k = json_object_new_object();

			JADD(k, "state", JU64(m->ks.state));
			JADD(k, "rounds", JU64(m->ks.rounds));
			JADD(k, "error", JU64(m->ks.error));
			JADD(k, "pages_harvested", JU64(m->ks.pages_harvested));
			JADD(k, "pages_sent", JU64(m->ks.pages_sent));
			JADD(k, "zero_pages", JU64(m->ks.zero_pages));
			JADD(k, "bytes_sent", JU64(m->ks.bytes_sent));
			JADD(k, "harvest_ms", src_json_ms(m->ks.harvest_ns));
			JADD(k, "send_ms", src_json_ms(m->ks.send_ns));
			JADD(k, "send_stalls", JU64(m->ks.send_stalls));
			JADD(k, "bandwidth", JU64(m->ks.bandwidth));
			JADD(k, "harvest_calls", JU64(m->ks.harvest_calls));
			JADD(k, "send_calls", JU64(m->ks.send_calls));
			JADD(k, "ring_overflows", JU64(m->ks.overflows));
			JADD(r, "kernel_session", k);
		} else {
			JADD(r, "kernel_session", NULL);
		}
		src_json_resumed(m, r);
		JADD(r, "error", *m->error ? json_object_new_string(m->error) : NULL);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

/* ------------------------------------------------------------ socket -- */

static int src_fail(struct km_mig_src *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int src_fail(struct km_mig_src *m, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&m->lock);
	if (!*m->error) {
		va_start(ap, fmt);
		vsnprintf(m->error, sizeof(m->error), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&m->lock);
	return -1;
}

static int src_on_accept(void *opaque, const struct kmp_accept *a)
{
	struct km_mig_src *m = opaque;

	m->accept = *a;
	m->got_accept = true;
	return 0;
}

static int src_on_ready(void *opaque, const struct kmp_ready *r)
{
	struct km_mig_src *m = opaque;

	m->ready = *r;
	m->got_ready = true;
	return 0;
}

static int src_on_error(void *opaque, const struct kmp_error *e)
{
	struct km_mig_src *m = opaque;

	m->peer_err = *e;
	m->got_error = true;
	return 0;
}

static int src_on_resumed(void *opaque, const struct kmp_resumed *r)
{
	struct km_mig_src *m = opaque;

	pthread_mutex_lock(&m->lock);
	m->resumed = *r;
	m->got_resumed = true;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static const struct kmp_dec_ops src_dec_ops = {
	.accept = src_on_accept,
	.ready = src_on_ready,
	.error = src_on_error,
	.resumed = src_on_resumed,
};

/* Reads what the destination sent (no wait); -1 on EOF / error / ERROR. */
static int src_pump(struct km_mig_src *m)
{
	uint8_t buf[1024];

	for (;;) {
		ssize_t n = km_chan_recv(&m->ch, buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0)
			return src_fail(m, "connection to %s: %s", m->peer, strerror(errno));
		if (n == 0) {
			if (m->got_error || (m->o.check_only && m->got_accept))
				break;	/* ... after ERROR, or a check's ACCEPT */
			return src_fail(m, "the destination closed the connection");
		}
		if (kmp_dec_feed(m->dec, buf, (size_t)n) != KMP_OK && !m->got_error)
			return src_fail(m, "bad reply from the destination: %s",
					kmp_dec_error(m->dec));
	}
	if (m->got_error)
		return src_fail(m, "the destination refused: %s (%s)",
				m->peer_err.msg[0] ? m->peer_err.msg : "-",
				kmp_strerror(m->peer_err.code));
	return 0;
}

static int src_check(struct km_mig_src *m)
{
	if (atomic_load(&m->cancel)) {
		if (!m->result)
			fprintf(stderr, "kmigrate: %s: cancel seen %" PRIu64 " ms after the request\n",
				m->name, (vmm_now_ns() - atomic_load(&m->cancel_ns)) / 1000000);
		pthread_mutex_lock(&m->lock);
		if (!m->result)
			m->result = "cancelled";
		pthread_mutex_unlock(&m->lock);
		return src_fail(m, "cancelled");
	}
	return src_pump(m);
}

/* Waits up to @ms for the socket (@ev), watching cancel and incoming data. */
static int src_wait(struct km_mig_src *m, short ev, int ms)
{
	struct pollfd p = { .fd = m->fd, .events = ev | POLLIN };
	/* decrypted bytes GnuTLS holds (src_pump leaves none; to be sure):
	 * poll() cannot see them */
	int r = poll(&p, 1, km_chan_pending(&m->ch) ? 0 : ms);

	if (r < 0 && errno != EINTR)
		return src_fail(m, "poll: %s", strerror(errno));
	/* zerocopy completions on the error queue make poll() say POLLERR */
	if (r > 0 && (p.revents & POLLERR) && m->dp_up && m->dp.ops->reap)
		m->dp.ops->reap(&m->dp, 0);
	return src_check(m);
}

static void src_account(struct km_mig_src *m, size_t n)
{
	pthread_mutex_lock(&m->lock);
	m->bytes_sent += n;
	pthread_mutex_unlock(&m->lock);
	m->r_bytes += n;
}

/* iovecs (guest pages) written at once under a bandwidth cap */
#define SRC_PACE_IOV	16

/*
 * The bandwidth cap: a token bucket of 50 ms of the cap (rate.h); sleep
 * while in debt.  A cap changed by `kmigrate set` during the sleep applies
 * from then on.
 */
static int src_throttle(struct km_mig_src *m, size_t n)
{
	uint64_t bw = __atomic_load_n(&m->o.bandwidth, __ATOMIC_RELAXED);
	uint64_t wait = km_bucket_charge(&m->bucket, bw, vmm_now_ns(), n);

	while (wait) {
		uint64_t ms = wait / 1000000 + 1;

		if (src_wait(m, 0, (int)(ms > 100 ? 100 : ms)))
			return -1;
		bw = __atomic_load_n(&m->o.bandwidth, __ATOMIC_RELAXED);
		wait = km_bucket_charge(&m->bucket, bw, vmm_now_ns(), 0);
	}
	return 0;
}

/* Writes @iov completely, each chunk with @tx (datapath.h) or writev(2). */
static int src_writev_tx(struct km_mig_src *m, struct iovec *iov, int cnt, km_dp_tx_fn tx,
			 void *ctx)
{
	uint64_t last = vmm_now_ns();

	m->partial = true;
	while (cnt > 0) {
		/* under a cap, 64 KiB (16 pages) per step, each paced */
		int step = __atomic_load_n(&m->o.bandwidth, __ATOMIC_RELAXED) ? SRC_PACE_IOV : 1024;
		ssize_t n = tx ? tx(ctx, m->fd, iov, cnt > step ? step : cnt) :
				 km_chan_writev(&m->ch, iov, cnt > step ? step : cnt);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (vmm_now_ns() - last > SRC_STALL_MS * 1000000ULL)
				return src_fail(m, "sending to %s: no progress for %d s", m->peer,
						SRC_STALL_MS / 1000);
			if (src_wait(m, POLLOUT, 200))
				return -1;
			continue;
		}
		if (n < 0) {
			src_pump(m);	/* an ERROR explains it better */
			return src_fail(m, "sending to %s: %s", m->peer, strerror(errno));
		}
		last = vmm_now_ns();
		src_account(m, (size_t)n);
		if (src_throttle(m, (size_t)n))
			return -1;
		while (cnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	m->partial = false;
	return 0;
}

static int src_writev(struct km_mig_src *m, struct iovec *iov, int cnt)
{
	return src_writev_tx(m, iov, cnt, NULL, NULL);
}

static int src_send(struct km_mig_src *m, const void *buf, size_t len)
{
	struct iovec v = { .iov_base = (void *)buf, .iov_len = len };

	return src_writev(m, &v, 1);
}

/* Waits until the kernel's send queue is short (the link caught up). */
static int src_drain(struct km_mig_src *m, uint64_t timeout_ms)
{
	uint64_t t0 = vmm_now_ns();
	int q = 0;

	while (ioctl(m->fd, SIOCOUTQ, &q) == 0 && q > (int)SRC_DRAIN_BYTES) {
		if (vmm_now_ns() - t0 > timeout_ms * 1000000ULL)
			break;
		if (src_wait(m, 0, 5))
			return -1;
	}
	return src_check(m);
}

static int src_enc_err(struct km_mig_src *m, ssize_t r, const char *what)
{
	return src_fail(m, "encoding %s: %s (%s)", what, kmp_strerror((uint32_t)-r), m->enc.err);
}

/* ------------------------------------------------------------- pages -- */

/* The data path's callbacks (datapath.h). */
static int src_dp_writev(void *opaque, struct iovec *iov, int cnt)
{
	return src_writev(opaque, iov, cnt);
}

static int src_dp_writev_tx(void *opaque, struct iovec *iov, int cnt, km_dp_tx_fn tx, void *ctx)
{
	return src_writev_tx(opaque, iov, cnt, tx, ctx);
}

static void src_dp_account(void *opaque, uint64_t bytes)
{
	struct km_mig_src *m = opaque;

	/* the data path wrote these itself (paced by the module) */
	src_account(m, (size_t)bytes);
}

static int src_dp_sent(void *opaque, uint32_t pages, uint32_t zero)
{
	struct km_mig_src *m = opaque;

	pthread_mutex_lock(&m->lock);
	m->pages_sent += pages;
	m->zero_pages += zero;
	m->remaining -= m->remaining > pages + zero ? pages + zero : m->remaining;
	m->zc = m->dp.zc;	/* final after the data path is down */
	pthread_mutex_unlock(&m->lock);
	m->r_pages += pages + zero;
	m->r_zero += zero;
	return pages ? src_check(m) : 0;
}

static int src_dp_fail(struct km_mig_src *m)
{
	return src_fail(m, "%s", *m->dp.err ? m->dp.err : "sending pages failed");
}

static int src_round(struct km_mig_src *m, uint32_t round, bool final, uint64_t pages)
{
	struct kmp_round r = { .round = round, .flags = final ? KMP_ROUND_F_FINAL : 0,
			       .dirty_pages = pages };
	uint8_t buf[64];
	ssize_t n = kmp_enc_round(&m->enc, buf, sizeof(buf), &r);

	if (n < 0)
		return src_enc_err(m, n, "ROUND");
	m->r_bytes = m->r_pages = m->r_zero = 0;
	pthread_mutex_lock(&m->lock);
	m->round = round;
	m->remaining = pages;
	pthread_mutex_unlock(&m->lock);
	if (src_send(m, buf, (size_t)n))
		return -1;
	if (m->dp_up && m->dp.ops->round && m->dp.ops->round(&m->dp, round, final, pages) < 0)
		return src_dp_fail(m);
	return 0;
}

/* Sends m->gfns[0 .. n) through the data path. */
static int src_send_gfns(struct km_mig_src *m, uint32_t n)
{
	if (n && m->dp.ops->send_pages(&m->dp, m->gfns, n))
		return src_dp_fail(m);
	return 0;
}

/* Round 0's sink (bulk.h): populated gfns to the data path ... */
static int src_bulk_pages(void *opaque, const uint64_t *gfns, uint32_t n)
{
	struct km_mig_src *m = opaque;

	return m->dp.ops->send_pages(&m->dp, gfns, n) ? src_dp_fail(m) : 0;
}

/* ... and its HOLE / ZERO records of never-touched pages to the socket. */
static int src_bulk_record(void *opaque, const void *buf, size_t len, uint64_t hole_pages,
			   uint32_t zero)
{
	struct km_mig_src *m = opaque;

	if (src_send(m, buf, len))
		return -1;
	if (zero)
		return src_dp_sent(m, 0, zero);
	pthread_mutex_lock(&m->lock);
	m->hole_pages += hole_pages;	/* not in ROUND 0's count: nothing to read */
	pthread_mutex_unlock(&m->lock);
	return src_check(m);
}

/*
 * Round 0: every RAM region by extents of the RAM memfd (bulk.h): the
 * populated pages through the data path, the never-touched ones as HOLE
 * ranges (SPARSE) or ZERO gfns, never read.  A hole the guest writes after
 * the walk saw it is dirty, sent in a later round.
 */
static int src_send_bulk(struct km_mig_src *m)
{
	const struct km_bulk_sink sink = { m, src_bulk_pages, src_bulk_record };
	struct km_bulk_region br[KMP_MAX_SLOTS];
	const struct vmm_mem_region *rg;
	unsigned int nr = vmm_mem_regions(m->vm, &rg), i;
	struct km_bulk *b = malloc(sizeof(*b));
	int r;

	if (!b)
		return src_fail(m, "out of memory");
	for (i = 0; i < nr && i < KMP_MAX_SLOTS; i++)
		br[i] = (struct km_bulk_region){ rg[i].gpa, rg[i].size, rg[i].ram_offset };
	*b = (struct km_bulk){ .enc = &m->enc, .sparse = m->sparse, .sink = &sink };
	r = km_bulk_send(b, vmm_ram_fd(m->vm), br, i);
	if (r && b->err[0])
		src_fail(m, "%s", b->err);
	free(b);
	return r;
}

/* The harvested dirty set (m->bm), then cleared. */
static int src_send_dirty(struct km_mig_src *m)
{
	uint64_t gfn;
	uint32_t n = 0;

	for (gfn = vmm_dirty_next(&m->bm, 0); gfn < m->bm.nbits;
	     gfn = vmm_dirty_next(&m->bm, gfn + 1)) {
		m->gfns[n++] = gfn;
		if (n == KM_DP_MAX_BATCH) {
			if (src_send_gfns(m, n))
				return -1;
			n = 0;
		}
	}
	if (src_send_gfns(m, n))
		return -1;
	vmm_dirty_bitmap_clear(&m->bm);
	return 0;
}

/*
 * What the connection's congestion window carries now, bytes/s (cwnd *
 * mss / smoothed rtt, TCP_INFO); 0 when unknown.  The model uses it when a
 * round was too small to measure the link (converge.h, window_rate).
 */
static uint64_t src_window_rate(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 || !ti.tcpi_rtt)
		return 0;
	return (uint64_t)ti.tcpi_snd_cwnd * ti.tcpi_snd_mss * 1000000ULL / ti.tcpi_rtt;
}

/* The vCPUs' ring-full counters now: into @exits and @wait_ns. */
static void src_ring_waits(struct km_mig_src *m, uint64_t *exits, uint64_t *wait_ns)
{
	unsigned int i, n = vmm_nr_vcpus(m->vm);
	struct vmm_vcpu_stats st;

	for (i = 0; i < n && i < VMM_MAX_VCPUS; i++) {
		vmm_vcpu_stats(vmm_vcpu(m->vm, i), &st);
		exits[i] = st.exits_ring_full;
		wait_ns[i] = st.ring_full_wait_ns;
	}
}

/* Harvests into m->bm; @next_round is the round that sends the result. */
static int src_harvest(struct km_mig_src *m, uint64_t *count, uint32_t next_round)
{
	uint32_t full = m->dp.full_passes;
	uint64_t ns = 0;
	int64_t r = m->dp.ops->harvest(&m->dp, &m->bm, &ns);

	if (r < 0)
		return src_fail(m, "harvesting dirty pages (%s data path): %s", m->dp.ops->name,
				strerror((int)-r));
	if (ns > m->harvest_ns_max)
		m->harvest_ns_max = ns;
	*count = (uint64_t)r;
	if (m->dp.full_passes != full && next_round) {
		pthread_mutex_lock(&m->lock);
		m->full_resends++;
		m->full_round = next_round;
		snprintf(m->full_why, sizeof(m->full_why), "%s", m->dp.full_why);
		pthread_mutex_unlock(&m->lock);
		fprintf(stderr, "kmigrate: %s: round %u resends every populated page (%" PRIu64
			" pages): %s\n", m->name, next_round, *count, m->dp.full_why);
	}
	return 0;
}

/* ----------------------------------------------------------- connect -- */

static int src_connect(struct km_mig_src *m)
{
	char host[256], port[16];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
	uint64_t deadline = vmm_now_ns() + (uint64_t)m->o.connect_timeout_ms * 1000000ULL;
	char last[512] = "", num[INET6_ADDRSTRLEN + 1];
	int r;

	if (km_mig_split_hostport(m->o.to, host, sizeof(host), port, sizeof(port),
				  KM_MIG_DEFAULT_PORT))
		return src_fail(m, "bad destination '%s': expected HOST[:PORT] or [IPV6]:PORT",
				m->o.to);
	for (;;) {
		struct addrinfo *ai = NULL, *a;

		r = getaddrinfo(host, port, &hints, &ai);
		if (r) {
			snprintf(last, sizeof(last), "%s: %s", host, gai_strerror(r));
			ai = NULL;
		}
		for (a = ai; a; a = a->ai_next) {
			int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
					a->ai_protocol);
			struct pollfd p;
			int e = 0;
			socklen_t el = sizeof(e);

			if (fd < 0)
				continue;
			e = km_net_bind_source(fd, a->ai_family, m->o.via, m->o.source_address,
					       last, sizeof(last));
			if (e) {	/* > 0: another family than the source address */
				close(fd);
				if (e > 0)
					continue;
				freeaddrinfo(ai);
				return src_fail(m, "%s", last);
			}
			if (connect(fd, a->ai_addr, a->ai_addrlen) < 0 && errno != EINPROGRESS) {
				e = errno;
			} else {
				p = (struct pollfd){ .fd = fd, .events = POLLOUT };
				if (poll(&p, 1, 3000) != 1)
					e = ETIMEDOUT;
				else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
					e = errno;
			}
			if (!e) {
				int one = 1, sb = SRC_SNDBUF;

				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sb, sizeof(sb));
				if (getnameinfo(a->ai_addr, a->ai_addrlen, num, sizeof(num), NULL, 0,
						NI_NUMERICHOST))
					snprintf(num, sizeof(num), "?");
				pthread_mutex_lock(&m->lock);
				snprintf(m->peer, sizeof(m->peer),
					 a->ai_family == AF_INET6 ? "[%s]:%s" : "%s:%s", num, port);
				pthread_mutex_unlock(&m->lock);
				m->fd = fd;
				freeaddrinfo(ai);
				return 0;
			}
			km_net_connect_msg(last, sizeof(last), host, port, e, m->o.via,
					   m->o.source_address);
			close(fd);
			if (km_net_unreachable(e, m->o.via, m->o.source_address)) {
				freeaddrinfo(ai);
				return src_fail(m, "%s", last);
			}
		}
		if (ai)
			freeaddrinfo(ai);
		if (atomic_load(&m->cancel))
			return src_check(m);
		if (vmm_now_ns() > deadline)
			return src_fail(m, "%s", last);
		usleep(200000);
	}
}

/* The cluster credentials (tls.h), before anything connects; --insecure
 * needs them too. */
static int src_tls_load(struct km_mig_src *m)
{
	char err[600];

	if (km_tls_load(m->o.tls_dir, &m->tls, err, sizeof(err)))
		return src_fail(m, "%s", err);
	return 0;
}

/* TLS 1.3 handshake, both certificates verified (the destination's against
 * the --to host or --tls-name), the mode agreed, records to kTLS or, with
 * --insecure, plaintext: before HELLO.  kTLS sockets take no MSG_ZEROCOPY:
 * plain writev for the pages. */
static int src_tls(struct km_mig_src *m)
{
	const char *desc;
	char err[600], subj[256], host[256], port[16];
	/* without kTLS, GnuTLS's records, unless the kernel data path must
	 * send (it writes the pages into the socket itself) */
	bool records = !(m->dp.ops == &km_datapath_kernel &&
			 m->o.datapath == KM_MIG_DP_KERNEL);

	if (!m->tls)
		return src_fail(m, "no TLS credentials");
	src_set(m, "tls");
	if (m->o.tls_name[0])
		snprintf(host, sizeof(host), "%s", m->o.tls_name);
	else if (km_mig_split_hostport(m->o.to, host, sizeof(host), port, sizeof(port),
				       KM_MIG_DEFAULT_PORT))
		return src_fail(m, "bad destination '%s'", m->o.to);
	km_chan_init(&m->ch, m->fd);
	if (km_tls_open(m->tls, m->fd, false, m->o.insecure, records ? KM_TLS_F_RECORDS : 0,
			host, KM_TLS_HANDSHAKE_MS, &m->ch, subj, sizeof(subj), err, sizeof(err))) {
		if (!records && strstr(err, "kernel TLS unavailable"))
			return src_fail(m, "%s: --datapath kernel needs kernel TLS (the module "
					"sends the pages into the socket itself): %s; --datapath "
					"auto or user encrypts with GnuTLS's records instead",
					m->peer, err);
		return src_fail(m, "%s: %s", m->peer, err);
	}
	desc = m->ch.desc;
	if (m->ch.gs && m->dp.ops == &km_datapath_kernel) {
		/* auto: the module cannot send into GnuTLS's records */
		pthread_mutex_lock(&m->dp_lock);
		km_dp_kernel_release(&m->dp);
		m->dp.ops = &km_datapath_user;
		pthread_mutex_unlock(&m->dp_lock);
		pthread_mutex_lock(&m->lock);
		snprintf(m->dp_note, sizeof(m->dp_note), "kernel data path not available (no "
			 "kernel TLS here: the records are GnuTLS's): using the user data path");
		pthread_mutex_unlock(&m->lock);
		fprintf(stderr, "kmigrate: %s: %s\n", m->name, m->dp_note);
	}
	pthread_mutex_lock(&m->lock);
	snprintf(m->tls_desc, sizeof(m->tls_desc), "%s", desc);
	snprintf(m->tls_peer, sizeof(m->tls_peer), "%s", subj);
	pthread_mutex_unlock(&m->lock);
	fprintf(stderr, "kmigrate: %s: %s to %s, authenticated as %s (name %s)\n", m->name, desc,
		m->peer, subj, host);
	return 0;
}

/* ------------------------------------------------------------ thread -- */

static uint64_t src_cpuid_hash(struct vmm_vm *vm)
{
	const struct kvm_cpuid2 *c = vmm_vcpu_cpuid(vmm_vcpu(vm, 0));

	if (!c || !c->nent)
		return 0;
	return XXH64(c->entries, c->nent * sizeof(c->entries[0]), 0);
}

static int src_hello(struct km_mig_src *m)
{
	const struct vmm_mem_region *rg;
	unsigned int nr = vmm_mem_regions(m->vm, &rg), i;
	struct kmp_hello h;
	uint8_t buf[KMP_HDR_SIZE + KMP_HELLO_FIXED + KMP_MAX_SLOTS * KMP_SLOT_SIZE];
	uint64_t deadline;
	ssize_t n;

	memset(&h, 0, sizeof(h));
	h.version = KMP_VERSION;
	h.page_size = KMP_PAGE_SIZE;
	if (getrandom(h.session, sizeof(h.session), 0) != sizeof(h.session)) {
		uint64_t t = vmm_realtime_ns() ^ (uint64_t)getpid();

		memcpy(h.session, &t, sizeof(t));
	}
	h.mem_size = vmm_ram_size(m->vm);
	h.nr_vcpus = vmm_nr_vcpus(m->vm);
	h.nr_slots = nr;
	h.cpuid_hash = src_cpuid_hash(m->vm);
	/* RESUMED after COMMIT; the check of the workload's memory when asked
	 * (a kernel guest's memory has no known contents) */
	h.features_optional = KMP_FO_RESUMED | KMP_FO_RESUMED_EXT |
			      (m->o.verify && m->o.workload ? KMP_FO_VERIFY : 0);
	snprintf(h.name, sizeof(h.name), "%s", m->name);
	/* PROFILE (preflight.h) for every guest, host model included: the
	 * destination compares the CPUID features one by one */
	h.features_required = KMP_FR_PROFILE | (m->o.check_only ? KMP_FR_CHECK : 0);
	/* SPARSE: what the guest holds (for the destination's memory check),
	 * never-touched memory as HOLE ranges */
	m->pop_before = km_pop_bytes(vmm_ram_fd(m->vm), 0, vmm_ram_size(m->vm));
	m->rss_before = km_pop_rss_shmem();
	if (m->sparse && m->pop_before >= 0)
		h.features_required |= KMP_FR_SPARSE;
	m->sparse = h.features_required & KMP_FR_SPARSE;
	for (i = 0; i < nr && i < KMP_MAX_SLOTS; i++) {
		h.slots[i].gpa = rg[i].gpa;
		h.slots[i].size = rg[i].size;
	}
	n = kmp_enc_hello(&m->enc, buf, sizeof(buf), &h);
	if (n < 0)
		return src_enc_err(m, n, "HELLO");
	if (getenv("KMIGRATE_TEST_HELLO_VERSION")) {	/* tests only: a "newer" source */
		uint32_t tv = htole32((uint32_t)atoi(getenv("KMIGRATE_TEST_HELLO_VERSION")));

		memcpy(buf + KMP_HDR_SIZE + 8, &tv, sizeof(tv));
	}
	m->hello_sent = true;
	if (src_send(m, buf, (size_t)n))
		return -1;
	if (h.features_required & KMP_FR_PROFILE) {
		struct kmp_profile pr;
		uint8_t pbuf[KMP_HDR_SIZE + KMP_PROFILE_FIXED + KMP_MAX_CPUID * KMP_CPUID_ENT_SIZE];

		km_pf_profile(m->vm, km_pf_source_module_abi(m->dp.ops == &km_datapath_kernel),
			      &pr);
		if (m->sparse)
			pr.mem_populated = (uint64_t)m->pop_before & ~(uint64_t)(KMP_PAGE_SIZE - 1);
		n = kmp_enc_profile(&m->enc, pbuf, sizeof(pbuf), &pr);
		if (n < 0)
			return src_enc_err(m, n, "PROFILE");
		if (src_send(m, pbuf, (size_t)n))
			return -1;
	}
	kmp_dec_set_required(m->dec, h.features_required);
	deadline = vmm_now_ns() + 30000000000ULL;	/* the destination creates the VM */
	while (!m->got_accept) {
		if (src_wait(m, 0, 100))
			return -1;
		if (vmm_now_ns() > deadline)
			return src_fail(m, "no ACCEPT from %s within 30 s", m->peer);
	}
	if (memcmp(m->accept.session, h.session, sizeof(h.session)))
		return src_fail(m, "ACCEPT from %s echoes another session", m->peer);
	if (m->accept.features & ~h.features_optional)
		return src_fail(m, "ACCEPT from %s uses features 0x%" PRIx64 " not offered",
				m->peer, (uint64_t)(m->accept.features & ~h.features_optional));
	return 0;
}

static int src_send_state(struct km_mig_src *m)
{
	unsigned int i, nv = vmm_nr_vcpus(m->vm);
	int r;

	for (i = 0; i <= nv; i++) {
		struct vmm_state st = { 0 };
		uint8_t *buf;
		ssize_t n;

		r = i == 0 ? vmm_vm_state_save(m->vm, &st) :
			     vmm_vcpu_state_save(vmm_vcpu(m->vm, i - 1), &st);
		if (r) {
			vmm_state_free(&st);
			return src_fail(m, "saving the %s state: %s", i ? "vCPU" : "VM",
					strerror(-r));
		}
		buf = malloc(KMP_HDR_SIZE + st.size);
		if (!buf) {
			vmm_state_free(&st);
			return src_fail(m, "out of memory");
		}
		n = kmp_enc_vcpu_state(&m->enc, buf, KMP_HDR_SIZE + st.size, st.buf,
				       (uint32_t)st.size);
		m->state_bytes += st.size;
		vmm_state_free(&st);
		r = n < 0 ? src_enc_err(m, n, "VCPU_STATE") : src_send(m, buf, (size_t)n);
		free(buf);
		if (r)
			return -1;
	}
	return 0;
}

static void src_dp_down(struct km_mig_src *m)
{
	uint64_t t0 = vmm_now_ns();
	bool was_up = m->dp_up;

	pthread_mutex_lock(&m->dp_lock);
	if (m->dp_up && m->dp.ops->end)
		m->dp.ops->end(&m->dp, m->completed ? 0 :
			       atomic_load(&m->cancel) ? ECANCELED : EIO);
	if (m->dp_up || m->dp.priv)	/* also a kernel session init never took */
		m->dp.ops->fini(&m->dp);
	m->dp_up = false;
	pthread_mutex_unlock(&m->dp_lock);
	pthread_mutex_lock(&m->lock);
	m->zc = m->dp.zc;
	m->ks = m->dp.ks;
	pthread_mutex_unlock(&m->lock);
	if (was_up && vmm_now_ns() - t0 > 200000000ULL)
		fprintf(stderr, "kmigrate: %s: stopping the %s data path took %" PRIu64 " ms\n",
			m->name, m->dp.ops->name, (vmm_now_ns() - t0) / 1000000);
}

/* Brings the data path up; auto: the user one when the kernel's fails. */
static int src_dp_up(struct km_mig_src *m)
{
	int r;

	m->dp.env = (struct km_dp_env){ .vm = m->vm, .fd = m->fd, .enc = &m->enc, .opaque = m,
					.writev = src_dp_writev, .sent = src_dp_sent,
					.writev_tx = src_dp_writev_tx,
					.account = src_dp_account,
					.bandwidth = m->o.bandwidth,
					.stall_ms = SRC_STALL_MS,
					.zerocopy = m->o.zerocopy && !m->ch.gs,
					.zc_off = m->ch.gs ? "not offered with GnuTLS records (no "
						  "kTLS: encrypted in user space)" : NULL };
	r = m->dp.ops->init(&m->dp);
	if (r && m->dp.ops == &km_datapath_kernel && m->o.datapath == KM_MIG_DP_AUTO) {
		char why[200];

		snprintf(why, sizeof(why), "%s", *m->dp.err ? m->dp.err : strerror(-r));
		m->dp.ops->fini(&m->dp);
		pthread_mutex_lock(&m->lock);
		snprintf(m->dp_note, sizeof(m->dp_note), "kernel data path failed to start (%s): "
			 "using the user data path", why);
		m->dp.ops = &km_datapath_user;
		pthread_mutex_unlock(&m->lock);
		fprintf(stderr, "kmigrate: %s: %s\n", m->name, m->dp_note);
		m->dp.err[0] = 0;
		r = m->dp.ops->init(&m->dp);
	}
	if (r) {
		src_fail(m, "starting the %s data path: %s", m->dp.ops->name,
			 *m->dp.err ? m->dp.err : strerror(-r));
		pthread_mutex_lock(&m->dp_lock);
		if (m->dp.priv)
			m->dp.ops->fini(&m->dp);
		pthread_mutex_unlock(&m->dp_lock);
		return -1;
	}
	pthread_mutex_lock(&m->dp_lock);
	m->dp_up = true;
	pthread_mutex_unlock(&m->dp_lock);
	fprintf(stderr, "kmigrate: %s: %s data path (%s dirty tracking)\n", m->name,
		m->dp.ops->name, vmm_dirty_mode_name(vmm_dirty_mode(m->vm)));
	return 0;
}

/*
 * After COMMIT (the guest is the destination's): wait a short while for
 * RESUMED, what the destination saw when it resumed the guest.  Nothing
 * here can fail the migration; a missing RESUMED leaves the numbers unknown.
 */
static void src_wait_resumed(struct km_mig_src *m, bool commit_sent)
{
	uint64_t deadline = vmm_now_ns() + SRC_RESUMED_MS * 1000000ULL;
	char why[160] = "";
	uint8_t buf[512];

	if (!commit_sent)
		snprintf(why, sizeof(why), "COMMIT could not be sent: %.120s", m->error);
	else if (!(m->accept.features & KMP_FO_RESUMED))
		snprintf(why, sizeof(why), "the destination does not send RESUMED (an older "
			 "kmigrate listen)");
	while (!*why && !m->got_resumed) {
		struct pollfd p = { .fd = m->fd, .events = POLLIN, .revents = POLLIN };
		uint64_t now = vmm_now_ns();
		ssize_t n;
		int r;

		if (now >= deadline) {
			snprintf(why, sizeof(why), "no RESUMED from the destination within %d s",
				 SRC_RESUMED_MS / 1000);
			break;
		}
		if (atomic_load(&m->cancel)) {
			snprintf(why, sizeof(why), "stopped waiting for RESUMED");
			break;
		}
		/* decrypted bytes GnuTLS holds: poll() cannot see them */
		r = km_chan_pending(&m->ch) ? 1 :
		    poll(&p, 1, (deadline - now) / 1000000 > 100 ? 100 :
			 (int)((deadline - now) / 1000000) + 1);
		if (r <= 0)
			continue;
		n = km_chan_recv(&m->ch, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n <= 0) {
			snprintf(why, sizeof(why), "the destination closed the connection without "
				 "RESUMED%s%s", n ? ": " : "", n ? strerror(errno) : "");
			break;
		}
		if (kmp_dec_feed(m->dec, buf, (size_t)n) != KMP_OK)
			snprintf(why, sizeof(why), "bad RESUMED: %s", kmp_dec_error(m->dec));
		else if (m->got_error)
			snprintf(why, sizeof(why), "the destination reported after COMMIT: %.80s (%s)",
				 m->peer_err.msg[0] ? m->peer_err.msg : "-",
				 kmp_strerror(m->peer_err.code));
	}
	if (*why) {
		pthread_mutex_lock(&m->lock);
		snprintf(m->resumed_note, sizeof(m->resumed_note), "%s", why);
		pthread_mutex_unlock(&m->lock);
		fprintf(stderr, "kmigrate: %s: warning: %s; pages_verified and guest_downtime_ms "
			"are unknown\n", m->name, why);
		return;
	}
	fprintf(stderr, "kmigrate: %s: RESUMED: verified %s%" PRIu64 " pages (%" PRIu64
		" bad), guest-observed pause %s%.1f ms\n", m->name,
		m->resumed.valid & KMP_RSM_VERIFIED ? "" : "(n/a) ", m->resumed.pages_verified,
		m->resumed.pages_bad, m->resumed.valid & KMP_RSM_PAUSE ? "" : "(n/a) ",
		m->resumed.guest_pause_us / 1e3);
}

static void src_progress(struct km_mig_src *m, const struct kmc_state *ks,
			 const struct kmc_verdict *v)
{
	pthread_mutex_lock(&m->lock);
	m->link_rate = v->rate;
	m->dirty_rate = ks->dirty_rate;
	m->predicted_ns = v->predicted_ns;
	m->remaining = v->remaining_pages;
	pthread_mutex_unlock(&m->lock);
}

/* Connects to the destination, TLS handshake, a fresh decoder and encoder. */
static int src_open(struct km_mig_src *m)
{
	src_set(m, "connecting");
	if (src_connect(m) || src_tls(m))
		return -1;
	m->dec = kmp_dec_new(KMP_DIR_DEST, &src_dec_ops, m);
	if (!m->dec)
		return src_fail(m, "out of memory");
	kmp_enc_init(&m->enc, KMP_DIR_SOURCE);
	src_set(m, "handshake");
	return 0;
}

/*
 * A destination older than the feature SPARSE refuses the HELLO with
 * FEATURE: connect again and send HELLO without it (holes then go as ZERO
 * gfns).  0 when the second HELLO was accepted; -1 otherwise.
 */
static int src_retry_plain(struct km_mig_src *m)
{
	if (!m->sparse || !m->got_error || m->peer_err.code != KMP_E_FEATURE ||
	    atomic_load(&m->cancel))
		return -1;
	fprintf(stderr, "kmigrate: %s: %s does not know the feature SPARSE (%s): connecting "
		"again without it\n", m->name, m->peer, m->peer_err.msg);
	close(m->fd);
	m->fd = -1;
	kmp_dec_free(m->dec);
	m->dec = NULL;
	m->sparse = m->got_error = m->got_accept = m->hello_sent = false;
	pthread_mutex_lock(&m->lock);
	m->error[0] = 0;
	pthread_mutex_unlock(&m->lock);
	return src_open(m) ? -1 : src_hello(m);
}

static int src_run(struct km_mig_src *m)
{
	struct kmc_config kc;
	struct kmc_state ks;
	struct kmc_verdict v;
	uint64_t t_round, t_sent, t_harvest, dirty = 0, t_pause, t_ready;
	uint64_t t_hello, t_h, h_ns, h_prev = 0, handoff;
	uint32_t round = 0;
	uint8_t buf[128];
	ssize_t n;
	int r;

	src_set(m, "connecting");
	if (src_tls_load(m) || src_open(m))
		return -1;
	t_hello = vmm_now_ns();
	if (src_hello(m) && src_retry_plain(m))
		return -1;
	t_hello = vmm_now_ns() - t_hello;
	if (m->o.check_only) {	/* ACCEPT: every pre-flight check passed */
		pthread_mutex_lock(&m->lock);
		m->result = "passed";
		pthread_mutex_unlock(&m->lock);
		return 0;
	}

	r = vmm_dirty_bitmap_init(m->vm, &m->bm);
	if (r)
		return src_fail(m, "dirty bitmap: %s", strerror(-r));
	src_ring_waits(m, m->rf_exits, m->rf_wait_ns);
	if (src_dp_up(m))
		return -1;
	/* re-arm everything: from here on every write shows in a harvest */
	if (src_harvest(m, &dirty, 0))
		return -1;
	vmm_dirty_bitmap_clear(&m->bm);

	kmc_config_default(&kc, m->o.downtime_ms * 1000000ULL);
	kc.bandwidth_cap = m->o.bandwidth;
	kc.max_rounds = m->o.max_rounds;
	kc.margin_pct = SRC_MARGIN_PCT;
	kc.margin_min_ns = SRC_MARGIN_MIN_NS;
	/* the serialised state is ~7 KiB a vCPU plus VM sections: twice that */
	kc.state_bytes = 16ULL * 1024 * (vmm_nr_vcpus(m->vm) + 1);
	kc.min_rate_sample = 256 << 10;
	handoff = SRC_HANDOFF_NS + SRC_VCPU_NS * vmm_nr_vcpus(m->vm);
	kc.handoff_ns = handoff;
	kc.rtt_ns = t_hello < SRC_RTT_MIN_NS ? SRC_RTT_MIN_NS :
		    t_hello > SRC_RTT_MAX_NS ? SRC_RTT_MAX_NS : t_hello;
	kc.stop_delay_ns = SRC_STOP_DELAY_NS;
	fprintf(stderr, "kmigrate: %s: model: HELLO -> ACCEPT %.1f ms (rtt %.1f ms), handoff %.1f ms "
		"+ 2 harvests, downtime budget %.1f ms of %" PRIu64 " ms\n", m->name, t_hello / 1e6,
		kc.rtt_ns / 1e6, handoff / 1e6, kmc_budget_ns(&kc) / 1e6, (uint64_t)m->o.downtime_ms);
	kmc_init(&ks);

	src_set(m, "bulk");
	t_round = t_harvest = vmm_now_ns();
	if (src_round(m, 0, false, m->sparse ? (uint64_t)m->pop_before / KMP_PAGE_SIZE :
		      m->guest_pages) || src_send_bulk(m))
		return -1;
	for (;;) {
		struct kmc_round kr;
		uint64_t now;

		if (src_drain(m, SRC_STALL_MS))
			return -1;
		/* `kmigrate set --bandwidth` may have changed the cap */
		kc.bandwidth_cap = __atomic_load_n(&m->o.bandwidth, __ATOMIC_RELAXED);
		now = vmm_now_ns();
		/* the link is measured over the sending only, not the wait below */
		t_sent = now;
		if (now - t_round < SRC_MIN_ROUND_MS * 1000000ULL) {
			usleep((useconds_t)((SRC_MIN_ROUND_MS * 1000000ULL - (now - t_round)) / 1000));
			if (src_check(m))
				return -1;
		}
		t_h = vmm_now_ns();
		if (src_harvest(m, &dirty, round + 1))
			return -1;
		now = vmm_now_ns();
		h_ns = now - t_h;
		kr = (struct kmc_round){
			.bytes_sent = m->r_bytes, .pages_sent = m->r_pages,
			.zero_pages = m->r_zero, .duration_ns = now - t_round,
			.send_ns = t_sent - t_round,
			.dirty_pages = dirty, .dirty_interval_ns = now - t_harvest,
			.window_rate = src_window_rate(m->fd),
		};
		/* The bulk's zero pages are the never-touched RAM: dirty pages are
		 * rarely zero, so they would make the model's zero fraction (and
		 * its downtime prediction) far too optimistic. */
		if (round == 0) {
			kr.pages_sent -= kr.zero_pages;
			kr.zero_pages = 0;
		}
		t_harvest = now;
		/* stopping costs the pause and one more harvest: twice the slower of
		 * the last two (not the re-arming one before the bulk: it saw every
		 * page, the final one sees few) */
		kc.handoff_ns = handoff + 2 * (h_ns > h_prev ? h_ns : h_prev);
		h_prev = h_ns;
		kmc_update(&ks, &kc, &kr, &v);
		src_progress(m, &ks, &v);
		fprintf(stderr, "kmigrate: %s: round %u: %" PRIu64 " pages (%" PRIu64 " zero), %"
			PRIu64 " KiB in %" PRIu64 " ms; %" PRIu64 " dirty; link %" PRIu64
			" KiB/s, dirty %" PRIu64 " pages/s; predicted downtime %" PRIu64 " ms: %s%s%s\n",
			m->name, round, m->r_pages, m->r_zero, kr.bytes_sent >> 10,
			kr.duration_ns / 1000000, dirty, v.rate >> 10, ks.dirty_rate,
			v.predicted_ns / 1000000, kmc_decision_name(v.decision),
			v.reason ? " " : "", v.reason ? kmc_reason_name(v.reason) : "");
		if (v.decision == KMC_STOP)
			break;
		if (v.decision == KMC_NOT_CONVERGING)
			return src_fail(m, "not converging after %u rounds (%s): predicted downtime "
					"%.1f ms > %.1f ms allowed (limit %" PRIu64 " ms less margin) "
					"= fixed costs %.1f ms (state %" PRIu64 " KiB, handoff %.1f "
					"ms, round trip %.1f ms) + pages %.1f ms (%" PRIu64 " dirty + %"
					PRIu64 " dirtied while stopping, dirty rate %" PRIu64
					" pages/s, link %" PRIu64 " KiB/s); raise --downtime-limit%s",
					round + 1, kmc_reason_name(v.reason), v.predicted_ns / 1e6,
					v.budget_ns / 1e6, (uint64_t)m->o.downtime_ms,
					v.fixed_ns == UINT64_MAX ? -1.0 : v.fixed_ns / 1e6,
					kc.state_bytes >> 10, kc.handoff_ns / 1e6, kc.rtt_ns / 1e6,
					v.pages_ns / 1e6, dirty, v.stop_delay_pages, ks.dirty_rate,
					v.rate >> 10, v.reason == KMC_R_FIXED_COSTS ? "" :
					" or lower the guest's write rate");
		round++;
		src_set(m, "live");
		t_round = vmm_now_ns();
		if (src_round(m, round, false, dirty) || src_send_dirty(m))
			return -1;
	}

	/* stop and copy */
	src_set(m, "stop-copy");
	vmm_wl_reset_gaps(m->vm);	/* the guest's max pause from here: the move's */
	usleep(20000);
	if (src_check(m))
		return -1;
	{
		uint64_t e[VMM_MAX_VCPUS], w[VMM_MAX_VCPUS];
		unsigned int i;

		src_ring_waits(m, e, w);
		pthread_mutex_lock(&m->lock);
		for (i = 0; i < vmm_nr_vcpus(m->vm) && i < VMM_MAX_VCPUS; i++) {
			m->rf_exits[i] = e[i] - m->rf_exits[i];
			m->rf_wait_ns[i] = w[i] - m->rf_wait_ns[i];
		}
		m->rf_n = i;
		pthread_mutex_unlock(&m->lock);
	}
	t_pause = vmm_now_ns();
	r = vmm_pause(m->vm);
	if (r)
		return src_fail(m, "pausing the guest: %s", strerror(-r));
	m->paused = true;
	m->d_paused = vmm_now_ns() - t_pause;
	if (src_harvest(m, &dirty, round + 1))
		return -1;
	m->d_harvest = vmm_now_ns() - t_pause;
	m->final_pages = dirty;
	round++;
	if (src_round(m, round, true, dirty) || src_send_dirty(m))
		return -1;
	m->d_pages = vmm_now_ns() - t_pause;
	if (src_send_state(m))
		return -1;
	m->d_state = vmm_now_ns() - t_pause;
	n = kmp_enc_end(&m->enc, buf, sizeof(buf));
	if (n < 0)
		return src_enc_err(m, n, "END");
	if (src_send(m, buf, (size_t)n))
		return -1;
	m->d_end = vmm_now_ns() - t_pause;
	pthread_mutex_lock(&m->lock);
	m->pause_to_final_ns = vmm_now_ns() - t_pause;
	m->remaining = 0;
	m->phase = "handoff";
	pthread_mutex_unlock(&m->lock);
	while (!m->got_ready) {
		if (src_wait(m, 0, 20))
			return -1;
		if (vmm_now_ns() - t_pause > (uint64_t)m->o.ready_timeout_ms * 1000000ULL)
			return src_fail(m, "no READY from %s within %u ms", m->peer,
					m->o.ready_timeout_ms);
	}
	t_ready = vmm_now_ns();
	m->d_ready = t_ready - t_pause;
	pthread_mutex_lock(&m->lock);
	m->pop_after = km_pop_bytes(vmm_ram_fd(m->vm), 0, vmm_ram_size(m->vm));
	m->rss_after = km_pop_rss_shmem();
	pthread_mutex_unlock(&m->lock);
	fprintf(stderr, "kmigrate: %s: stop-and-copy: paused in %.1f ms, harvest %.1f ms, %" PRIu64
		" final pages %.1f ms, state %.1f ms, END %.1f ms, READY after %.1f ms: downtime "
		"%.1f ms\n", m->name, m->d_paused / 1e6, (m->d_harvest - m->d_paused) / 1e6,
		m->final_pages, (m->d_pages - m->d_harvest) / 1e6, (m->d_state - m->d_pages) / 1e6,
		(m->d_end - m->d_state) / 1e6, (m->d_ready - m->d_end) / 1e6, m->d_ready / 1e6);
	if (m->ready.digest != m->enc.sum.digest)
		return src_fail(m, "READY from %s confirms another digest (%#" PRIx64
				" != %#" PRIx64 ")", m->peer, m->ready.digest, m->enc.sum.digest);
	if (atomic_load(&m->cancel))
		return src_check(m);
	n = kmp_enc_commit(&m->enc, buf, sizeof(buf));
	if (n < 0)
		return src_enc_err(m, n, "COMMIT");
	/* past this point the guest never runs here again */
	m->completed = true;
	r = src_send(m, buf, (size_t)n);
	if (r)
		fprintf(stderr, "kmigrate: %s: sending COMMIT: %s; the destination decides "
			"(the guest does not run here again)\n", m->name, m->error);
	/* release our copy: no more dirty tracking; the owner stops the VM */
	src_dp_down(m);
	pthread_mutex_lock(&m->lock);
	m->downtime_ns = t_ready - t_pause;
	m->dest_pages = m->ready.pages;
	m->phase = "resumed-report";
	pthread_mutex_unlock(&m->lock);
	atomic_store(&m->committed, true);
	src_wait_resumed(m, r == 0);
	src_set(m, "done");
	return 0;
}

static void *src_thread(void *arg)
{
	struct km_mig_src *m = arg;
	int r = src_run(m);

	if (r && !m->completed) {
		/* give the guest back */
		if (m->fd >= 0 && m->hello_sent && !m->partial && !m->dp.broken) {
			uint8_t buf[KMP_HDR_SIZE + KMP_ERROR_FIXED + KMP_MAX_MSG];
			ssize_t n = kmp_enc_abort(&m->enc, buf, sizeof(buf),
						  atomic_load(&m->cancel) ? KMP_E_ABORTED :
						  KMP_E_REFUSED, m->error);

			if (n > 0 && km_chan_send(&m->ch, buf, (size_t)n,
						  MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
				/* the connection is gone: the destination discards */
			}
		}
		if (m->paused)
			vmm_resume(m->vm);
		m->paused = false;
	}
	src_dp_down(m);
	if (m->fd >= 0) {
		km_chan_free(&m->ch);
		if (m->completed)
			shutdown(m->fd, SHUT_WR);
		close(m->fd);
		m->fd = -1;
	}
	pthread_mutex_lock(&m->lock);
	m->t_end = vmm_now_ns();
	if (!m->result)
		m->result = m->completed ? "completed" : "failed";
	if (m->completed)
		m->error[0] = 0;
	pthread_mutex_unlock(&m->lock);
	fprintf(stderr, "kmigrate: %s: migration to %s %s%s%s\n", m->name, m->o.to, m->result,
		*m->error ? ": " : "", m->error);
	atomic_store(&m->done, true);
	return NULL;
}

int km_mig_src_start(struct vmm_vm *vm, const char *name, const struct km_mig_opts *o,
		     struct km_mig_src **out, char *err, size_t errlen)
{
	struct km_mig_src *m = calloc(1, sizeof(*m));
	int r;

	if (!m) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	m->vm = vm;
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->o = *o;
	m->fd = -1;
	km_chan_init(&m->ch, -1);
	m->phase = "starting";
	m->dp.ops = &km_datapath_user;
	if (o->datapath != KM_MIG_DP_USER) {
		char why[200];
		int fd = km_dp_kernel_open(vm, why, sizeof(why));

		if (fd < 0 && o->datapath == KM_MIG_DP_KERNEL) {
			snprintf(err, errlen, "--datapath kernel: the kernel data path is not "
				 "available: %s", why);
			free(m);
			return fd;
		}
		if (fd < 0) {
			snprintf(m->dp_note, sizeof(m->dp_note), "kernel data path not available "
				 "(%s): using the user data path", why);
			fprintf(stderr, "kmigrate: %s: %s\n", name, m->dp_note);
		} else if (km_dp_kernel_adopt(&m->dp, fd)) {
			km_dp_kernel_close(fd);
			snprintf(err, errlen, "out of memory");
			free(m);
			return -ENOMEM;
		} else {
			m->dp.ops = &km_datapath_kernel;
		}
	}
	m->guest_pages = vmm_ram_size(vm) / KMP_PAGE_SIZE;
	m->pop_before = m->pop_after = -1;
	m->sparse = !getenv("KMIGRATE_NO_SPARSE");	/* tests: an older source */
	m->t_start = vmm_now_ns();
	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->dp_lock, NULL);
	r = pthread_create(&m->thr, NULL, src_thread, m);
	if (r) {
		snprintf(err, errlen, "starting the migration thread: %s", strerror(r));
		if (m->dp.priv)
			m->dp.ops->fini(&m->dp);
		pthread_mutex_destroy(&m->lock);
		pthread_mutex_destroy(&m->dp_lock);
		free(m);
		return -r;
	}
	*out = m;
	return 0;
}

bool km_mig_src_done(struct km_mig_src *m)
{
	return atomic_load(&m->done);
}

bool km_mig_src_committed(struct km_mig_src *m)
{
	return atomic_load(&m->committed);
}

bool km_mig_src_completed(struct km_mig_src *m)
{
	return atomic_load(&m->done) && m->completed;
}

int km_mig_src_set_bandwidth(struct km_mig_src *m, uint64_t bytes_per_sec, char *err,
			     size_t errlen)
{
	int r = 0;

	if (atomic_load(&m->done) || atomic_load(&m->committed)) {
		snprintf(err, errlen, "no migration running");
		return -ESRCH;
	}
	pthread_mutex_lock(&m->dp_lock);
	if (m->dp_up && m->dp.ops->set_bandwidth) {
		r = m->dp.ops->set_bandwidth(&m->dp, bytes_per_sec);
		if (r)
			snprintf(err, errlen, "KMIGRATE_SET_BANDWIDTH: %s", strerror(-r));
	}
	if (!r) {
		/* the source's pacing (its own records; all of them on the user
		 * path) and, from the next round, the model */
		__atomic_store_n(&m->o.bandwidth, bytes_per_sec, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&m->dp_lock);
	return r;
}

void km_mig_src_cancel(struct km_mig_src *m)
{
	atomic_store(&m->cancel_ns, vmm_now_ns());
	atomic_store(&m->cancel, true);
}

void km_mig_src_free(struct km_mig_src *m)
{
	if (!m)
		return;
	pthread_join(m->thr, NULL);
	kmp_dec_free(m->dec);
	km_tls_free(m->tls);
	vmm_dirty_bitmap_free(&m->bm);
	pthread_mutex_destroy(&m->lock);
	pthread_mutex_destroy(&m->dp_lock);
	free(m);
}
