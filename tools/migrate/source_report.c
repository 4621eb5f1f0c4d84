// SPDX-License-Identifier: GPL-2.0
/*
 * The source's reporting: the status and result JSON, the progress the
 * rounds publish.
 * See source.h, source_int.h and docs/PROTOCOL.md.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "populated.h"
#include "source_int.h"

void src_set(struct km_mig_src *m, const char *phase)
{
	pthread_mutex_lock(&m->lock);
	m->phase = phase;
	pthread_mutex_unlock(&m->lock);
}

#define JADD(o, k, v)	json_object_object_add((o), (k), (v))
#define JU64(v)		json_object_new_int64((int64_t)(v))

static void src_json_throttle(struct km_mig_src *m, struct json_object *r);
static void src_json_switch(struct km_mig_src *m, struct json_object *r);
static void src_json_history(struct km_mig_src *m, struct json_object *r);

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
	{	/* the guest's pause end to end, for every guest (KMP_RSM_RESUME) */
		bool res = m->got_resumed && (rs->valid & KMP_RSM_RESUME) && m->d_commit &&
			   m->commit_rtt_us;
		uint64_t trip = m->commit_rtt_us * 1000 / 2;

		JADD(r, "switchover_ms", res ? src_json_ms(m->d_commit + trip +
							   rs->resume_us * 1000) : NULL);
		JADD(r, "switchover_method", json_object_new_string(
			"source: paused -> COMMIT written (its clock) + half the TCP round trip "
			"then (TCP_INFO) + destination: COMMIT received -> vCPUs running (its "
			"clock, from RESUMED): no clock is compared across hosts"));
		if (res) {
			struct json_object *b = json_object_new_object();

			JADD(b, "source", src_json_ms(m->d_commit));
			JADD(b, "commit_trip", src_json_ms(trip));
			JADD(b, "destination", src_json_ms(rs->resume_us * 1000));
			JADD(r, "switchover_breakdown_ms", b);
		}
		JADD(r, "switchover_note", res ? NULL : json_object_new_string(
			!m->got_resumed ? (*m->resumed_note ? m->resumed_note :
					   "the migration did not complete") :
			!(rs->valid & KMP_RSM_RESUME) ?
			"the destination did not report its resume time (an older kmigrate)" :
			"COMMIT's round trip is not known (TCP_INFO)"));
	}
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
	/* the per-round array first: its entries share key names with the
	 * totals below, which a reader taking the last match (the lab's
	 * shell helpers) must find */
	src_json_history(m, r);
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
	src_json_throttle(m, r);
	src_json_switch(m, r);
	JADD(r, "elapsed_ms", JU64((end - m->t_start) / 1000000));
	if (fin) {
		JADD(r, "total_ms", JU64((m->t_end - m->t_start) / 1000000));
		JADD(r, "downtime_ms", m->downtime_ns ? src_json_ms(m->downtime_ns) : NULL);
		JADD(r, "downtime_method", json_object_new_string(
			"the guest's pause, last instruction on the source to first on the "
			"destination: source: pause requested -> COMMIT written (its clock) + "
			"half the TCP round trip then (TCP_INFO) + destination: COMMIT "
			"received -> vCPUs running (its clock, RESUMED_EXT); no clock is "
			"compared across hosts"));
		JADD(r, "downtime_note", !m->downtime_ns ? NULL : !m->downtime_full ?
		     json_object_new_string("the destination's part (COMMIT -> vCPUs "
					    "running) is not known: at least this long") :
		     m->downtime_verify_ns ? json_object_new_string(
			"the destination's --verify check of the workload guest's memory "
			"(verify_ms) paused it too before its vCPUs started: left out, a "
			"test instrument (switchover_ms includes it)") : NULL);
		JADD(r, "pause_to_ready_ms", m->ready_ns ? src_json_ms(m->ready_ns) : NULL);
		if (m->d_ready) {
			struct json_object *b = json_object_new_object();

			JADD(b, "pause", src_json_ms(m->d_paused));
			JADD(b, "harvest", src_json_ms(m->d_harvest - m->d_paused));
			JADD(b, "final_pages", src_json_ms(m->d_pages - m->d_harvest));
			JADD(b, "state", src_json_ms(m->d_state - m->d_pages));
			JADD(b, "state_save", src_json_ms(m->d_save));
			JADD(b, "end", src_json_ms(m->d_end - m->d_state));
			JADD(b, "ready_wait", src_json_ms(m->d_ready - m->d_end));
			JADD(b, "commit", m->d_commit ? src_json_ms(m->d_commit - m->d_ready) : NULL);
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

void src_progress(struct km_mig_src *m, const struct kmc_state *ks,
			 const struct kmc_verdict *v)
{
	pthread_mutex_lock(&m->lock);
	m->link_rate = v->rate;
	m->dirty_rate = ks->dirty_rate;
	m->predicted_ns = v->predicted_ns;
	m->remaining = v->remaining_pages;
	pthread_mutex_unlock(&m->lock);
}

void src_thr_record(struct km_mig_src *m, uint32_t round, const struct kmt_state *ts,
		    const uint64_t *vd, uint64_t dirty, uint64_t dirty_rate)
{
	struct vmm_vcpu_stats st;
	uint64_t slept[VMM_MAX_VCPUS];
	struct src_thr_round *h;
	unsigned int i, n = ts->nr_vcpus < VMM_MAX_VCPUS ? ts->nr_vcpus : VMM_MAX_VCPUS;

	for (i = 0; i < n; i++) {
		vmm_vcpu_stats(vmm_vcpu(m->vm, i), &st);
		slept[i] = st.throttle_ns;
	}
	pthread_mutex_lock(&m->lock);
	m->thr_n = n;
	m->thr_steps = ts->steps;
	for (i = 0; i < n; i++) {
		m->thr_speed[i] = ts->speed[i];
		m->thr_sleep_ns[i] = slept[i];
	}
	if (m->thr_nhist < SRC_THR_HISTORY) {
		h = &m->thr_hist[m->thr_nhist++];
		h->round = round;
		h->guest_speed = kmt_guest_speed(ts);
		h->dirty_pages = dirty;
		h->dirty_rate = dirty_rate;
		for (i = 0; i < n; i++) {
			h->speed[i] = (uint8_t)ts->speed[i];
			h->vcpu_dirty[i] = vd[i] > UINT32_MAX ? UINT32_MAX : (uint32_t)vd[i];
		}
	} else {
		m->thr_hist_dropped++;
	}
	pthread_mutex_unlock(&m->lock);
}

/* The throttle's part of the status (m->lock held). */
static void src_json_throttle(struct km_mig_src *m, struct json_object *r)
{
	struct json_object *sp = json_object_new_array(), *sl = json_object_new_array();
	struct json_object *hist = json_object_new_array();
	uint64_t sum = 0;
	unsigned int i, j;

	for (i = 0; i < m->thr_n; i++) {
		json_object_array_add(sp, JU64(m->thr_speed[i]));
		json_object_array_add(sl, src_json_ms(m->thr_sleep_ns[i]));
		sum += m->thr_speed[i];
	}
	for (i = 0; i < m->thr_nhist; i++) {
		const struct src_thr_round *h = &m->thr_hist[i];
		struct json_object *o = json_object_new_object();
		struct json_object *hs = json_object_new_array(), *hd = json_object_new_array();

		for (j = 0; j < m->thr_n; j++) {
			json_object_array_add(hs, JU64(h->speed[j]));
			json_object_array_add(hd, JU64(h->vcpu_dirty[j]));
		}
		JADD(o, "round", JU64(h->round));
		JADD(o, "dirty_pages", JU64(h->dirty_pages));
		JADD(o, "dirty_rate", JU64(h->dirty_rate));
		JADD(o, "guest_speed_pct", JU64(h->guest_speed));
		JADD(o, "vcpu_speed_pct", hs);
		JADD(o, "vcpu_dirty_entries", hd);
		json_object_array_add(hist, o);
	}
	JADD(r, "converge", json_object_new_string(m->o.converge_fail ? "fail" : "throttle"));
	JADD(r, "throttle_floor_pct", JU64(m->o.throttle_floor_pct));
	JADD(r, "guest_speed_pct", JU64(m->thr_n ? sum / m->thr_n : 100));
	JADD(r, "throttle_pct", JU64(m->thr_n ? 100 - sum / m->thr_n : 0));
	JADD(r, "throttle_steps", JU64(m->thr_steps));
	JADD(r, "vcpu_speed_pct", sp);
	JADD(r, "vcpu_throttle_ms", sl);
	JADD(r, "throttle_rounds", hist);
	JADD(r, "throttle_rounds_dropped", JU64(m->thr_hist_dropped));
}

void src_hist_add(struct km_mig_src *m, const struct src_round_rec *r)
{
	pthread_mutex_lock(&m->lock);
	if (m->nhist < SRC_HISTORY)
		m->hist[m->nhist++] = *r;
	else
		m->hist_dropped++;
	pthread_mutex_unlock(&m->lock);
}

static const char *const src_rkind_names[] = {
	[SRC_RK_LIVE] = "live", [SRC_RK_FINAL] = "final", [SRC_RK_ABORTED] = "aborted",
};

/* The switch-over model, its attempts and the round history (m->lock held). */
static void src_json_switch(struct km_mig_src *m, struct json_object *r)
{
	const struct kms_costs *k = &m->costs;
	struct json_object *c = json_object_new_object();
	uint64_t reach = kms_limit_for_ns(&m->lp.kc, m->floor_ns);

	JADD(c, "measured", json_object_new_boolean(k->measured));
	JADD(c, "pause_ms", src_json_ms(k->pause_ns));
	JADD(c, "harvest_ms", src_json_ms(k->harvest_ns));
	JADD(c, "state_save_ms", src_json_ms(k->save_ns));
	JADD(c, "state_load_ms", src_json_ms(k->load_ns));
	JADD(c, "resume_ms", src_json_ms(k->resume_ns));
	JADD(c, "rtt_ms", src_json_ms(k->rtt_ns));
	JADD(c, "state_bytes", JU64(k->state_bytes));
	JADD(c, "stop_delay_ms", src_json_ms(k->stop_delay_ns));
	JADD(r, "switchover_costs", c);
	JADD(r, "predicted_pause_ms", m->pred_pause_ns ? src_json_ms(m->pred_pause_ns) : NULL);
	JADD(r, "floor_ms", m->floor_ns && m->floor_ns != UINT64_MAX ?
	     src_json_ms(m->floor_ns) : NULL);
	JADD(r, "can_reach_ms", m->floor_ns && reach != UINT64_MAX ? JU64(reach / 1000000) : NULL);
	JADD(r, "switchover_retries", JU64(m->o.switchover_retries));
	JADD(r, "switchover_attempts", JU64(m->sw_attempts));
	JADD(r, "switchover_aborts", JU64(m->sw_aborts));
	JADD(r, "switchover_abort", json_object_new_string(m->can_abort ? "available" :
		m->hello_sent ? "unavailable: the destination does not take SWITCHBACK (an older "
		"kmigrate listen): a switch-over past the limit runs to its end" : "not known yet"));
}

/* The aborted switch-overs and the round history (m->lock held). */
static void src_json_history(struct km_mig_src *m, struct json_object *r)
{
	struct json_object *hist = json_object_new_array(), *a = json_object_new_array();
	unsigned int i;

	for (i = 0; i < m->sw_aborts && i < sizeof(m->sw_abort) / sizeof(m->sw_abort[0]); i++) {
		struct json_object *o = json_object_new_object();

		JADD(o, "round", JU64(m->sw_abort[i].round));
		JADD(o, "decided_ms", src_json_ms(m->sw_abort[i].at_ns));
		JADD(o, "paused_ms", src_json_ms(m->sw_abort[i].paused_ns));
		JADD(o, "projected_ms", src_json_ms(m->sw_abort[i].projected_ns));
		JADD(o, "reason", json_object_new_string(m->sw_abort[i].why));
		json_object_array_add(a, o);
	}
	JADD(r, "switchover_abort_list", a);

	for (i = 0; i < m->nhist; i++) {
		const struct src_round_rec *h = &m->hist[i];
		struct json_object *o = json_object_new_object();
		bool live = h->kind == SRC_RK_LIVE;

		JADD(o, "round", JU64(h->round));
		JADD(o, "kind", json_object_new_string(src_rkind_names[h->kind]));
		JADD(o, "pages_sent", JU64(h->pages_sent));
		JADD(o, "zero_pages", JU64(h->zero_pages));
		JADD(o, "bytes_sent", JU64(h->bytes_sent));
		JADD(o, "duration_ms", src_json_ms(h->duration_ns));
		JADD(o, "send_ms", live ? src_json_ms(h->send_ns) : NULL);
		JADD(o, "dirty_pages", JU64(h->dirty_pages));
		JADD(o, "dirty_interval_ms", live ? src_json_ms(h->dirty_interval_ns) : NULL);
		JADD(o, "dirty_rate", live ? JU64(h->dirty_rate) : NULL);
		JADD(o, "link_rate", JU64(h->link_rate));
		JADD(o, "guest_speed_pct", JU64(h->guest_speed));
		JADD(o, "decision", live ? json_object_new_string(
			kmc_decision_name((enum kmc_decision)h->decision)) : NULL);
		JADD(o, "reason", live && h->reason ? json_object_new_string(
			kmc_reason_name((enum kmc_reason)h->reason)) : NULL);
		JADD(o, "predicted_downtime_ms", src_json_ms(h->predicted_ns));
		JADD(o, "budget_ms", live ? src_json_ms(h->budget_ns) : NULL);
		JADD(o, "downtime_ms", live ? NULL : src_json_ms(h->actual_ns));
		json_object_array_add(hist, o);
	}
	JADD(r, "round_history", hist);
	JADD(r, "round_history_dropped", JU64(m->hist_dropped));
}
