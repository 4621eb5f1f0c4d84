// SPDX-License-Identifier: GPL-2.0
/*
 * The source's switch-over: pause, the final round, the VM and vCPU
 * state, END, READY, COMMIT, and the destination's RESUMED report.
 * See source.h, source_int.h and docs/PROTOCOL.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "populated.h"
#include "source_int.h"

/* The states sent: the VM, each vCPU and, with BOARD, the devices last. */
static unsigned int src_nr_states(struct km_mig_src *m)
{
	return 1 + vmm_nr_vcpus(m->vm) + (m->o.board ? 1 : 0);
}

/* The VM's state, every vCPU's and the devices', saved (paused) into @st. */
static int src_save_state(struct km_mig_src *m, struct vmm_state *st)
{
	unsigned int i, nv = vmm_nr_vcpus(m->vm);
	int r;

	for (i = 0; i < src_nr_states(m); i++) {
		r = i == 0 ? vmm_vm_state_save(m->vm, &st[0]) :
		    i <= nv ? vmm_vcpu_state_save(vmm_vcpu(m->vm, i - 1), &st[i]) :
			      vmm_dev_state_save(m->vm, &st[i]);
		if (r)
			return src_fail(m, "saving the %s state: %s", !i ? "VM" : i <= nv ?
					"vCPU" : "devices'", strerror(-r));
	}
	return 0;
}

static int src_send_state(struct km_mig_src *m, const struct vmm_state *st)
{
	unsigned int i;
	int r;

	m->state_bytes = 0;
	for (i = 0; i < src_nr_states(m); i++) {
		uint8_t *buf = malloc(KMP_HDR_SIZE + st[i].size);
		ssize_t n;

		if (!buf)
			return src_fail(m, "out of memory");
		n = kmp_enc_vcpu_state(&m->enc, buf, KMP_HDR_SIZE + st[i].size, st[i].buf,
				       (uint32_t)st[i].size);
		m->state_bytes += st[i].size;
		r = n < 0 ? src_enc_err(m, n, "VCPU_STATE") : src_send(m, buf, (size_t)n);
		free(buf);
		if (r)
			return -1;
	}
	return 0;
}

/*
 * The abort check of the stop-and-copy (switch-over in progress, @t_pause
 * its start, @left wire bytes still to go, the state saved or not): the
 * guest's pause it is heading for, from what this attempt measured so far
 * (its rate since the final pages began, at most the cap; the model's
 * before a measurable amount left) and the costs after END.  Past the
 * limit: true, with @why.
 */
#define SRC_RATE_MIN_BYTES	(16u << 10)	/* the attempt's own rate from this */

struct src_sw {
	uint64_t t_pause, t_pages, limit_ns, projected_ns;
	uint64_t rate;		/* the rate of the last check */
	bool saved;
	char why[96];
};

static bool src_sw_late(struct km_mig_src *m, struct src_sw *w, uint64_t left)
{
	uint64_t now = vmm_now_ns(), el = now - w->t_pause, rate = kmc_rate(&m->lp.ks, &m->lp.kc);
	uint64_t cap = __atomic_load_n(&m->o.bandwidth, __ATOMIC_RELAXED), rest;
	const struct kms_costs *k = &m->costs;

	if (!m->can_abort)
		return false;
	if (m->r_bytes >= SRC_RATE_MIN_BYTES && now > w->t_pages + 1000000ULL)
		rate = m->r_bytes * 1000000000ULL / (now - w->t_pages);
	if (cap && (!rate || rate > cap))
		rate = cap;
	w->rate = rate;
	rest = rate ? left * 1000000000ULL / rate : UINT64_MAX / 4;
	rest += (w->saved ? 0 : k->save_ns) + k->rtt_ns + k->load_ns + k->rtt_ns / 2 +
		k->resume_ns;
	w->projected_ns = el + rest;
	if (w->projected_ns <= w->limit_ns)
		return false;
	snprintf(w->why, sizeof(w->why), "%.1f ms in, %" PRIu64 " KiB to go at %" PRIu64
		 " KiB/s: heading for %.1f ms", el / 1e6, left >> 10, rate >> 10,
		 w->projected_ns / 1e6);
	return true;
}

/*
 * The final round's dirty set (m->bm) in chunks, each after an abort
 * check; sent pages leave the set.  A chunk takes at most a tenth of the
 * limit at the rate now (the cap, or what this round measured), so the
 * check comes often enough on a slow link.  1: late (abort), 0: sent,
 * -1: failed.
 */
static uint32_t src_final_chunk(const struct src_sw *w, uint64_t rate)
{
	uint64_t c = rate ? rate * (w->limit_ns / 10) / 1000000000ULL /
			    (KMP_PAGE_SIZE + KMP_GFN_SIZE) : SRC_FINAL_CHUNK;

	return c < 1 ? 1 : c > SRC_FINAL_CHUNK ? SRC_FINAL_CHUNK : (uint32_t)c;
}

static int src_send_final(struct km_mig_src *m, struct src_sw *w)
{
	uint64_t gfn, left = vmm_dirty_bitmap_count(&m->bm);
	uint64_t cap = __atomic_load_n(&m->o.bandwidth, __ATOMIC_RELAXED);
	uint64_t rate = kmc_rate(&m->lp.ks, &m->lp.kc);
	uint32_t n = 0, chunk = src_final_chunk(w, cap && (!rate || cap < rate) ? cap : rate);

	for (gfn = vmm_dirty_next(&m->bm, 0); gfn < m->bm.nbits;
	     gfn = vmm_dirty_next(&m->bm, gfn + 1)) {
		m->gfns[n++] = gfn;
		if (n < chunk && vmm_dirty_next(&m->bm, gfn + 1) < m->bm.nbits)
			continue;
		if (src_sw_late(m, w, left * (KMP_PAGE_SIZE + KMP_GFN_SIZE) + m->costs.state_bytes))
			return 1;
		if (m->dp.ops->send_pages(&m->dp, m->gfns, n))
			return src_dp_fail(m);
		for (; n; n--)
			m->bm.bits[m->gfns[n - 1] / 64] &= ~(1ull << (m->gfns[n - 1] % 64));
		left = vmm_dirty_bitmap_count(&m->bm);
		chunk = src_final_chunk(w, w->rate);
	}
	return 0;
}

/* Waits until the send queue is down to the state's size or less, with
 * abort checks: the final pages are on the wire.  1: late, 0, -1. */
static int src_drain_final(struct km_mig_src *m, struct src_sw *w)
{
	int q = 0;

	while (ioctl(m->fd, SIOCOUTQ, &q) == 0 && q > (int)SRC_DRAIN_BYTES) {
		if (src_sw_late(m, w, (uint64_t)q))
			return 1;
		if (src_wait(m, 0, 1))
			return -1;
	}
	/* the last check before END: the time the state took counts too */
	if (src_sw_late(m, w, q > 0 ? (uint64_t)q : 0))
		return 1;
	return src_check(m);
}

/*
 * The switch-over ran past the limit: the throttle as it was, the guest
 * resumed here, SWITCHBACK to the destination (it drops the state).
 * Returns 1 (live rounds follow) or -1.
 */
static int src_sw_abort(struct km_mig_src *m, struct src_sw *w, uint32_t round)
{
	struct kmp_switchback sb = { .round = round };
	uint8_t buf[64];
	uint64_t paused, rate = 0, now;
	struct src_round_rec h = { .round = round, .kind = SRC_RK_ABORTED };
	unsigned int i;
	ssize_t n;

	/* the guest first: the destination runs it only after a COMMIT, which
	 * this attempt never sends, so it is this host's alone either way, and
	 * SWITCHBACK may wait for room on a slow link */
	now = vmm_now_ns();
	for (i = 0; i < m->lp.ts.nr_vcpus; i++)
		vmm_vcpu_set_throttle(vmm_vcpu(m->vm, i), m->lp.ts.speed[i]);
	if (vmm_resume(m->vm))
		return src_fail(m, "resuming the guest after an aborted switch-over failed");
	m->paused = false;
	paused = vmm_now_ns() - w->t_pause;
	sb.paused_us = paused / 1000;
	n = kmp_enc_switchback(&m->enc, buf, sizeof(buf), &sb);
	if (n < 0)
		return src_enc_err(m, n, "SWITCHBACK");
	if (src_send(m, buf, (size_t)n))
		return -1;
	/* what this attempt measured is the model's from now on */
	if (m->r_bytes >= SRC_RATE_MIN_BYTES && now > w->t_pages + 1000000ULL) {
		rate = m->r_bytes * 1000000000ULL / (now - w->t_pages);
		if (!m->lp.ks.link_rate || rate < m->lp.ks.link_rate)
			m->lp.ks.link_rate = rate;
	}
	m->costs.pause_ns = m->d_paused;
	m->costs.harvest_ns = m->d_harvest - m->d_paused;
	h.pages_sent = m->r_pages;
	h.zero_pages = m->r_zero;
	h.bytes_sent = m->r_bytes;
	h.duration_ns = paused;
	h.dirty_pages = m->final_pages;
	h.link_rate = rate;
	h.predicted_ns = m->pred_pause_ns;
	h.actual_ns = paused;
	h.guest_speed = kmt_guest_speed(&m->lp.ts);
	src_hist_add(m, &h);
	pthread_mutex_lock(&m->lock);
	if (m->sw_aborts < sizeof(m->sw_abort) / sizeof(m->sw_abort[0])) {
		struct src_sw_abort *a = &m->sw_abort[m->sw_aborts];

		a->round = round;
		a->paused_ns = paused;
		a->at_ns = now - w->t_pause;
		a->projected_ns = w->projected_ns;
		snprintf(a->why, sizeof(a->why), "%s", w->why);
	}
	m->sw_aborts++;
	m->phase = "live";
	pthread_mutex_unlock(&m->lock);
	fprintf(stderr, "kmigrate: %s: switch-over %u aborted (%s; limit %" PRIu64 " ms): the guest "
		"runs here again after a pause of %.1f ms; %" PRIu64 " pages not sent go in the next "
		"live round\n", m->name, m->sw_attempts, w->why, w->limit_ns / 1000000,
		paused / 1e6, vmm_dirty_bitmap_count(&m->bm));
	return 1;
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

/*
 * The guest's pause, last instruction here to first there: paused -> COMMIT
 * written (this host's clock) + half COMMIT's round trip (TCP_INFO) + the
 * destination's COMMIT -> vCPUs running (its clock, RESUMED_EXT).  No
 * clock is compared across hosts.  Without the destination's part (an
 * older kmigrate listen, no RESUMED) it is not known: downtime_ms is then
 * the part measured here plus half the round trip, and says so.
 */
static void src_final_pause(struct km_mig_src *m, uint32_t round)
{
	const struct kmp_resumed *rs = &m->resumed;
	struct src_round_rec h = { .round = round, .kind = SRC_RK_FINAL };
	uint64_t trip = m->commit_rtt_us * 1000 / 2, pause;
	bool full = m->got_resumed && (rs->valid & KMP_RSM_RESUME) && m->commit_rtt_us;

	uint64_t dest = full ? rs->resume_us * 1000 : 0, ver = 0;

	/* the destination's check of the workload guest's memory (--verify, a
	 * test instrument only that guest has) is not the migration's pause:
	 * reported apart (verify_ms), left out here */
	if (full && (rs->valid & KMP_RSM_VERIFIED)) {
		ver = rs->verify_us * 1000 < dest ? rs->verify_us * 1000 : dest;
		dest -= ver;
	}
	pause = m->d_commit + trip + dest;
	h.pages_sent = m->r_pages;
	h.zero_pages = m->r_zero;
	h.bytes_sent = m->r_bytes;
	h.duration_ns = m->d_pages - m->d_harvest;
	h.dirty_pages = m->final_pages;
	h.predicted_ns = m->pred_pause_ns;
	h.budget_ns = m->lp.v.budget_ns;
	h.actual_ns = pause;
	h.guest_speed = 100;
	if (h.duration_ns)
		h.link_rate = m->r_bytes * 1000000000ULL / h.duration_ns;
	src_hist_add(m, &h);
	pthread_mutex_lock(&m->lock);
	m->downtime_ns = pause;
	m->downtime_full = full;
	m->downtime_verify_ns = ver;
	pthread_mutex_unlock(&m->lock);
	fprintf(stderr, "kmigrate: %s: the guest's pause: %.1f ms%s (predicted %.1f ms, limit %"
		PRIu64 " ms): here %.1f ms to COMMIT, COMMIT's trip %.2f ms, destination %s%.1f ms"
		"%s%.1f%s\n", m->name, pause / 1e6, full ? "" : " or more", m->pred_pause_ns / 1e6,
		(uint64_t)m->o.downtime_ms, m->d_commit / 1e6, trip / 1e6, full ? "" : "(unknown) ",
		dest / 1e6, ver ? " (and its --verify check, left out: " : "", ver / 1e6,
		ver ? " ms)" : "");
}

int src_switchover(struct km_mig_src *m, uint32_t round)
{
	struct vmm_state st[VMM_MAX_VCPUS + 2];
	unsigned int i, nv = vmm_nr_vcpus(m->vm);
	uint64_t dirty = 0, t_pause, t_ready, t0;
	struct src_sw w = { 0 };
	uint8_t buf[128];
	ssize_t n;
	int r;

	memset(st, 0, sizeof(st));
	m->sw_attempts++;
	/* stop and copy */
	src_set(m, "stop-copy");
	/*
	 * A throttle stays on until the guest is paused: released earlier, a
	 * heavy writer at full speed for the last 20 ms dirties far more than
	 * the decision counted on (the lab's 6.12 faults suite: 321 ms of
	 * downtime against a 300 ms limit).  So a throttle sleep of the last
	 * 20 ms may show in the workload guest's own pause record; the pause
	 * itself parks a sleeping vCPU within a millisecond.
	 */
	vmm_wl_reset_gaps(m->vm);	/* the guest's max pause from here: the move's */
	usleep(SRC_STOP_SLEEP_NS / 1000);
	if (src_check(m))
		return -1;
	{
		uint64_t e[VMM_MAX_VCPUS], wt[VMM_MAX_VCPUS];

		src_ring_waits(m, e, wt);
		pthread_mutex_lock(&m->lock);
		for (i = 0; i < nv && i < VMM_MAX_VCPUS; i++) {
			m->rf_exits[i] = e[i] - m->rf_base_exits[i];
			m->rf_wait_ns[i] = wt[i] - m->rf_base_wait_ns[i];
		}
		m->rf_n = i;
		pthread_mutex_unlock(&m->lock);
	}
	w.limit_ns = __atomic_load_n(&m->o.downtime_ms, __ATOMIC_RELAXED) * 1000000ULL;
	t_pause = w.t_pause = vmm_now_ns();
	r = vmm_pause(m->vm);
	if (r)
		return src_fail(m, "pausing the guest: %s", strerror(-r));
	m->paused = true;
	m->d_paused = vmm_now_ns() - t_pause;
	/* paused: unthrottled wherever the guest runs on (here after a failure
	 * or an abort: set again then) */
	vmm_throttle_clear(m->vm);
	/* the devices finish what is in flight: their last writes to guest
	 * memory are in the final round, their state saved below is final */
	if (m->o.board && (r = vmm_dev_state_quiesce(m->vm)))
		return src_fail(m, "quiescing the devices: %s", strerror(-r));
	if (src_harvest(m, &dirty, round + 1))
		return -1;
	m->d_harvest = vmm_now_ns() - t_pause;
	m->final_pages = dirty;
	round++;
	if (src_round(m, round, true, dirty))
		return -1;
	w.t_pages = vmm_now_ns();
	r = src_send_final(m, &w);
	if (r)
		return r < 0 ? -1 : src_sw_abort(m, &w, round);
	m->d_pages = vmm_now_ns() - t_pause;
	t0 = vmm_now_ns();
	r = src_save_state(m, st);
	m->d_save = vmm_now_ns() - t0;
	w.saved = true;
	if (!r && src_sw_late(m, &w, m->costs.state_bytes))
		r = 1;
	if (!r)
		r = src_send_state(m, st);
	for (i = 0; i < src_nr_states(m); i++)
		vmm_state_free(&st[i]);
	if (!r)
		r = src_drain_final(m, &w);
	if (r)
		return r < 0 ? -1 : src_sw_abort(m, &w, round);
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
		" final pages %.1f ms, state saved %.1f ms and sent %.1f ms, END %.1f ms, READY after "
		"%.1f ms: paused -> READY %.1f ms\n", m->name, m->d_paused / 1e6,
		(m->d_harvest - m->d_paused) / 1e6, m->final_pages,
		(m->d_pages - m->d_harvest) / 1e6, m->d_save / 1e6,
		(m->d_state - m->d_pages - m->d_save) / 1e6, (m->d_end - m->d_state) / 1e6,
		(m->d_ready - m->d_end) / 1e6, m->d_ready / 1e6);
	if (m->ready.digest != m->enc.sum.digest)
		return src_fail(m, "READY from %s confirms another digest (%#" PRIx64
				" != %#" PRIx64 ")", m->peer, m->ready.digest, m->enc.sum.digest);
	if (atomic_load(&m->cancel))
		return src_check(m);
	n = kmp_enc_commit(&m->enc, buf, sizeof(buf));
	if (n < 0)
		return src_enc_err(m, n, "COMMIT");
	/* past this point the guest never runs here again: its disks are
	 * closed (their locks dropped) first, so the destination, which opens
	 * them on COMMIT, is their only writer from then on */
	if (m->o.board)
		vmm_disks_close(m->vm);
	m->completed = true;
	r = src_send(m, buf, (size_t)n);
	if (r)
		fprintf(stderr, "kmigrate: %s: sending COMMIT: %s; the destination decides "
			"(the guest does not run here again)\n", m->name, m->error);
	m->d_commit = vmm_now_ns() - t_pause;
	{	/* COMMIT's trip, for the guest's pause end to end (half of it) */
		struct tcp_info ti;
		socklen_t len = sizeof(ti);

		if (!r && getsockopt(m->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0)
			m->commit_rtt_us = ti.tcpi_rtt;
	}
	/* release our copy: no more dirty tracking; the owner stops the VM */
	src_dp_down(m);
	pthread_mutex_lock(&m->lock);
	m->ready_ns = t_ready - t_pause;
	m->dest_pages = m->ready.pages;
	m->phase = "resumed-report";
	pthread_mutex_unlock(&m->lock);
	atomic_store(&m->committed, true);
	src_wait_resumed(m, r == 0);
	src_final_pause(m, round);
	src_set(m, "done");
	return 0;
}
