// SPDX-License-Identifier: GPL-2.0
/*
 * The source's rounds: the bulk copy, the live rounds of harvested dirty
 * pages, and the convergence loop that feeds each to the model (converge.h).
 * See source.h, source_int.h and docs/PROTOCOL.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bulk.h"
#include "source_int.h"
#include "tcprtt.h"
#include "trial.h"

int src_round(struct km_mig_src *m, uint32_t round, bool final, uint64_t pages)
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
int src_send_dirty(struct km_mig_src *m)
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
void src_ring_waits(struct km_mig_src *m, uint64_t *exits, uint64_t *wait_ns)
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
int src_harvest(struct km_mig_src *m, uint64_t *count, uint32_t next_round)
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

/* Each vCPU's dirty-ring entries collected so far (0s without rings). */
static void src_vcpu_entries(struct km_mig_src *m, uint64_t *out)
{
	unsigned int i, n = vmm_nr_vcpus(m->vm);

	for (i = 0; i < n && i < VMM_MAX_VCPUS; i++)
		out[i] = vmm_vcpu_dirty_entries(vmm_vcpu(m->vm, i));
}

/*
 * The link's round trip (tcprtt.h), read after the round's drain: the
 * smoothed one, which is what END -> READY and COMMIT meet right after the
 * final pages (the lab: the least seen was 0.85-1.5 ms, COMMIT's half trip
 * then 10-16 ms and READY's wait 10-52 ms); the least when the kernel has
 * no smoothed one.  0: unknown.
 */
static uint64_t src_rtt_ns(int fd)
{
	uint64_t srtt = 0, min = 0;

	if (km_tcp_rtt(fd, &srtt, &min))
		return 0;
	return srtt ? srtt : min;
}

/* The trial pause (trial.h), once, after the bulk round. */
static void src_trial(struct km_mig_src *m)
{
	int r = km_trial_pause(m->vm, &m->costs);

	if (r) {
		fprintf(stderr, "kmigrate: %s: the trial pause failed (%s): the model keeps its "
			"estimates\n", m->name, strerror(-r));
		return;
	}
	fprintf(stderr, "kmigrate: %s: trial pause: paused in %.2f ms, state saved in %.2f ms "
		"(%" PRIu64 " bytes), resumed in %.2f ms\n", m->name, m->costs.pause_ns / 1e6,
		m->costs.save_ns / 1e6, m->costs.state_bytes, m->costs.resume_ns / 1e6);
}

/* A live round into the history. */
static void src_hist_live(struct km_mig_src *m, uint32_t round, const struct kmc_round *kr)
{
	const struct src_loop *l = &m->lp;
	struct src_round_rec h = {
		.round = round, .kind = SRC_RK_LIVE, .decision = (uint8_t)l->v.decision,
		.reason = (uint8_t)l->v.reason, .guest_speed = kmt_guest_speed(&l->ts),
		.pages_sent = m->r_pages, .zero_pages = m->r_zero, .bytes_sent = kr->bytes_sent,
		.duration_ns = kr->duration_ns, .send_ns = kr->send_ns,
		.dirty_pages = kr->dirty_pages, .dirty_interval_ns = kr->dirty_interval_ns,
		.dirty_rate = l->ks.dirty_rate, .link_rate = l->v.rate,
		.predicted_ns = l->v.predicted_ns, .budget_ns = l->v.budget_ns,
	};

	src_hist_add(m, &h);
}

/* Refuses before the pause, saying what this link and guest reach. */
static int src_refuse(struct km_mig_src *m, uint32_t round)
{
	const struct src_loop *l = &m->lp;
	const struct kmc_verdict *v = &l->v;
	uint64_t floor = kms_floor_ns(&l->ks, &l->kc, v->rate);
	uint64_t reach = kms_limit_for_ns(&l->kc, floor);
	char can[96];

	pthread_mutex_lock(&m->lock);
	m->floor_ns = floor;
	pthread_mutex_unlock(&m->lock);
	if (reach == UINT64_MAX)
		snprintf(can, sizeof(can), "no limit can be reached: the link rate is unknown");
	else
		snprintf(can, sizeof(can), "can reach %" PRIu64 " ms here", reach / 1000000);
	if (v->reason == KMC_R_FLOOR)
		return src_fail(m, "not converging after %u rounds, refused before the pause: "
				"throttled to the floor (guest speed kept %u%%, floor %u%%), the "
				"guest still dirties %" PRIu64 " pages/s (%" PRIu64 " KiB/s on the "
				"wire) against a link of %" PRIu64 " KiB/s: predicted pause %.1f ms "
				"> %.1f ms allowed (limit %" PRIu64 " ms less margin; %s); raise "
				"--downtime-limit or --bandwidth, or lower --throttle-floor", round + 1,
				kmt_guest_speed(&l->ts), l->tc.floor_pct, l->ks.dirty_rate,
				v->dirty_bytes_rate >> 10, v->rate >> 10, v->predicted_ns / 1e6,
				v->budget_ns / 1e6, l->kc.downtime_limit_ns / 1000000, can);
	return src_fail(m, "not converging after %u rounds (%s), refused before the pause: the "
			"%" PRIu64 " ms limit cannot be met, %s (the guest's pause with nothing "
			"dirty: %.1f ms, "
			"measured in this migration: pause %.1f, final harvest %.1f, state save "
			"%.1f and load %.1f (%" PRIu64 " KiB), resume %.1f, round trip %.2f ms, "
			"link %" PRIu64 " KiB/s); predicted pause now %.1f ms (%" PRIu64 " dirty + %"
			PRIu64 " dirtied while stopping, %" PRIu64 " pages/s); raise "
			"--downtime-limit%s", round + 1, kmc_reason_name(v->reason),
			l->kc.downtime_limit_ns / 1000000, can,
			floor == UINT64_MAX ? -1.0 : floor / 1e6, m->costs.pause_ns / 1e6,
			m->costs.harvest_ns / 1e6, m->costs.save_ns / 1e6, m->costs.load_ns / 1e6,
			m->costs.state_bytes >> 10, m->costs.resume_ns / 1e6, m->costs.rtt_ns / 1e6,
			v->rate >> 10, v->predicted_ns / 1e6, v->remaining_pages, v->stop_delay_pages,
			l->ks.dirty_rate, v->reason == KMC_R_FIXED_COSTS ? "" :
			l->tc.enabled ? " or lower the guest's write rate" :
			", lower the guest's write rate or let it be throttled (--converge throttle)");
}

/*
 * The rounds: the bulk, then live rounds until the model says stop.  After
 * each, the model (converge.h, with the costs measured here: switch_cost.h)
 * and then the throttle (throttle.h) decide; a throttle raised is set on
 * the vCPUs at once (vmm.h) and kept until the switch-over or a failure
 * clears it (an aborted switch-over sets it again).
 */
int src_rounds(struct km_mig_src *m, uint32_t *round_out, bool again)
{
	struct src_loop *l = &m->lp;
	uint64_t t_sent, dirty = 0, t_h, h_ns;
	uint32_t round = *round_out;
	uint64_t vd[VMM_MAX_VCPUS];
	unsigned int nv = vmm_nr_vcpus(m->vm), i;

	if (!again) {
		kmt_config_default(&l->tc);
		l->tc.enabled = !m->o.converge_fail;
		l->tc.floor_pct = m->o.throttle_floor_pct;
		kmt_init(&l->ts, nv);
		src_vcpu_entries(m, l->ent_prev);
		kmc_config_default(&l->kc, m->o.downtime_ms * 1000000ULL);
		l->kc.bandwidth_cap = m->o.bandwidth;
		l->kc.max_rounds = m->o.max_rounds;
		l->kc.min_rate_sample = 256 << 10;
		kms_costs_estimate(&m->costs, nv);
		m->costs.stop_delay_ns = SRC_STOP_SLEEP_NS;
		m->costs.rtt_ns = m->t_hello_ns;	/* until TCP_INFO says */
		kms_costs_apply(&m->costs, &l->kc);
		kmc_init(&l->ks);
		l->h_prev = 0;
		round = 0;
		src_set(m, "bulk");
		l->t_round = l->t_harvest = vmm_now_ns();
		if (src_round(m, 0, false, m->sparse ? (uint64_t)m->pop_before / KMP_PAGE_SIZE :
			      m->guest_pages) || src_send_bulk(m))
			return -1;
	} else {
		/* the pages the aborted final round did not send, first (the
		 * throttle was set again before the guest resumed) */
		src_set(m, "live");
		round++;	/* *@round_out: the aborted final round */
		/* the final harvest reset the log; the guest ran again just now */
		l->t_round = l->t_harvest = vmm_now_ns();
		if (src_round(m, round, false, vmm_dirty_bitmap_count(&m->bm)) ||
		    src_send_dirty(m))
			return -1;
	}
	for (;;) {
		struct kmc_config *kc = &l->kc;
		struct kmc_round kr;
		uint64_t now, rtt;

		if (src_drain(m, SRC_STALL_MS))
			return -1;
		if (round == 0 && !again && !m->costs.measured)
			src_trial(m);
		/* `kmigrate set --bandwidth / --downtime-limit` may have changed
		 * the cap or the limit */
		kc->bandwidth_cap = __atomic_load_n(&m->o.bandwidth, __ATOMIC_RELAXED);
		kc->downtime_limit_ns = __atomic_load_n(&m->o.downtime_ms, __ATOMIC_RELAXED) *
					1000000ULL;
		now = vmm_now_ns();
		/* the link is measured over the sending only, not the wait below */
		t_sent = now;
		if (now - l->t_round < SRC_MIN_ROUND_MS * 1000000ULL) {
			usleep((useconds_t)((SRC_MIN_ROUND_MS * 1000000ULL - (now - l->t_round)) /
					    1000));
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
			.zero_pages = m->r_zero, .duration_ns = now - l->t_round,
			.send_ns = t_sent - l->t_round,
			.dirty_pages = dirty, .dirty_interval_ns = now - l->t_harvest,
			.window_rate = src_window_rate(m->fd),
		};
		/* The bulk's zero pages are the never-touched RAM: dirty pages are
		 * rarely zero, so they would make the model's zero fraction (and
		 * its downtime prediction) far too optimistic. */
		if (round == 0) {
			kr.pages_sent -= kr.zero_pages;
			kr.zero_pages = 0;
		}
		l->t_harvest = now;
		/* the final harvest: the slower of the last two (not the
		 * re-arming one before the bulk: it saw every page, the final one
		 * sees few); the round trip now */
		m->costs.harvest_ns = h_ns > l->h_prev ? h_ns : l->h_prev;
		l->h_prev = h_ns;
		rtt = src_rtt_ns(m->fd);
		if (rtt)
			m->costs.rtt_ns = rtt;
		kms_costs_apply(&m->costs, kc);
		kmc_update(&l->ks, kc, &kr, &l->v);
		/* each vCPU's ring entries of the round: its share of the writes */
		src_vcpu_entries(m, vd);
		for (i = 0; i < nv && i < VMM_MAX_VCPUS; i++) {
			uint64_t e = vd[i];

			vd[i] = e - l->ent_prev[i];
			l->ent_prev[i] = e;
		}
		kmt_update(&l->ts, &l->tc, &l->ks, &l->v, vd);
		for (i = 0; l->ts.changed && i < l->ts.nr_vcpus; i++)
			vmm_vcpu_set_throttle(vmm_vcpu(m->vm, i), l->ts.speed[i]);
		src_thr_record(m, round, &l->ts, vd, dirty, l->ks.dirty_rate);
		src_progress(m, &l->ks, &l->v);
		src_hist_live(m, round, &kr);
		pthread_mutex_lock(&m->lock);
		m->floor_ns = kms_floor_ns(&l->ks, kc, l->v.rate);
		m->pred_pause_ns = l->v.predicted_ns;
		pthread_mutex_unlock(&m->lock);
		fprintf(stderr, "kmigrate: %s: round %u: %" PRIu64 " pages (%" PRIu64 " zero), %"
			PRIu64 " KiB in %" PRIu64 " ms; %" PRIu64 " dirty; link %" PRIu64
			" KiB/s, rtt %.2f ms, dirty %" PRIu64 " pages/s; predicted pause %.1f ms "
			"(floor %.1f) of %.1f allowed; guest speed %u%%%s: %s%s%s\n",
			m->name, round, m->r_pages, m->r_zero, kr.bytes_sent >> 10,
			kr.duration_ns / 1000000, dirty, l->v.rate >> 10, m->costs.rtt_ns / 1e6,
			l->ks.dirty_rate, l->v.predicted_ns / 1e6, m->floor_ns / 1e6,
			l->v.budget_ns / 1e6, kmt_guest_speed(&l->ts),
			l->ts.changed ? " (throttle raised)" : "", kmc_decision_name(l->v.decision),
			l->v.reason ? " " : "", l->v.reason ? kmc_reason_name(l->v.reason) : "");
		if (l->v.decision == KMC_STOP)
			break;
		if (l->v.decision == KMC_NOT_CONVERGING)
			return src_refuse(m, round);
		round++;
		src_set(m, "live");
		l->t_round = vmm_now_ns();
		if (src_round(m, round, false, dirty) || src_send_dirty(m))
			return -1;
	}
	*round_out = round;
	return 0;
}
