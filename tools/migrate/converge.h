/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Convergence: when to stop the guest and copy the rest (stop-and-copy).
 *
 * After each live round the sender reports what the round did (struct
 * kmc_round).  kmc_update() folds it into smoothed estimates of the link
 * rate and the guest's dirty rate and predicts the downtime of stopping
 * now:
 *
 *   pages    = remaining pages + the pages the guest dirties between the
 *              harvest that decides and the pause (dirty rate * stop_delay)
 *   bytes    = those pages, each costing a gfn entry plus its page, or
 *              only a gfn entry if it is a zero page (the zero fraction is
 *              the one observed so far), plus record headers, plus the
 *              vCPU state, plus the END record
 *   downtime = bytes / rate + handoff (pause, final harvest, vCPU state
 *              save here and load there, digest check) + rtt (END -> READY)
 *   rate     = smoothed measured link rate, at most the bandwidth cap
 *   budget   = limit - max(limit * margin_pct / 100, margin_min)
 *
 * and decides:
 *
 *   KMC_STOP            downtime <= budget: stop now
 *   KMC_CONTINUE        another live round should shrink the dirty set
 *   KMC_NOT_CONVERGING  it will not get there: the dirty rate has been at
 *                       or above the link rate for stall_rounds rounds, the
 *                       round or time budget is spent, or the fixed costs
 *                       alone exceed the budget (at any rate, at the cap, or
 *                       after the first live round at the measured rate,
 *                       counting stop_delay's pages); the caller throttles the
 *                       guest, raises the limit, or fails clearly
 *
 * Everything is integer arithmetic on the caller's numbers: no clock, no
 * I/O, deterministic.  Times in nanoseconds, rates in bytes per second.
 */
#ifndef KM_CONVERGE_H
#define KM_CONVERGE_H

#include <stdint.h>

struct kmc_config {
	uint64_t downtime_limit_ns;	/* > 0 */
	uint32_t margin_pct;		/* predictions must fit limit * (100 - m) / 100 */
	uint64_t margin_min_ns;		/* ... and limit - margin_min: the margin is at
					 * least this (jitter does not shrink with the
					 * limit); 0: none */
	uint32_t smoothing_pct;		/* weight of the newest sample, 1..100 */
	uint64_t bandwidth_cap;		/* bytes/s; 0: none */
	uint64_t state_bytes;		/* vCPU state to send while stopped */
	uint64_t handoff_ns;		/* destination set-up and state load */
	uint64_t rtt_ns;		/* round trip on the migration link */
	uint64_t stop_delay_ns;		/* from the deciding harvest to the pause: the
					 * guest dirties dirty_rate * this more pages,
					 * sent in the final round; 0: none */
	uint32_t page_size;		/* guest page, normally 4096 */
	uint32_t max_rounds;		/* 0: no limit */
	uint64_t max_time_ns;		/* 0: no limit */
	uint32_t stall_rounds;		/* rounds of dirty rate >= link rate; >= 1 */
	uint64_t min_rate_sample;	/* rounds sending fewer bytes do not update the
					 * link rate (latency, not bandwidth, dominates
					 * them); the first such round, with no rate yet,
					 * sets it to the larger of its sample and the
					 * round's window_rate; 0: every round */
};

/* Fills @c with defaults for a downtime limit (margin 10 %, smoothing
 * 50 %, 4 KiB pages, 30 rounds, stall after 3 rounds, no time limit). */
void kmc_config_default(struct kmc_config *c, uint64_t downtime_limit_ns);

/* What one round did, measured by the sender. */
struct kmc_round {
	uint64_t bytes_sent;		/* wire bytes of the round */
	uint64_t pages_sent;		/* pages of the round, zero pages included */
	uint64_t zero_pages;		/* of which sent as zero markers */
	uint64_t duration_ns;		/* time the round took */
	uint64_t send_ns;		/* of which its bytes took to leave; 0: duration */
	uint64_t dirty_pages;		/* dirty pages harvested after the round */
	uint64_t dirty_interval_ns;	/* over which they were dirtied; 0: duration */
	uint64_t window_rate;		/* bytes/s the connection's congestion window
					 * allows now (cwnd * mss / srtt); 0: unknown.
					 * Stands in for a round too small to measure
					 * the link (below min_rate_sample: an idle
					 * guest's bulk round of zero pages measures the
					 * page scan, not the link) */
};

enum kmc_decision {
	KMC_CONTINUE,
	KMC_STOP,
	KMC_NOT_CONVERGING,
};

enum kmc_reason {
	KMC_R_NONE,		/* CONTINUE or STOP */
	KMC_R_DIRTY_RATE,	/* dirty rate >= link rate for stall_rounds rounds */
	KMC_R_MAX_ROUNDS,
	KMC_R_MAX_TIME,
	KMC_R_FIXED_COSTS,	/* state + handoff + rtt alone exceed the budget */
	KMC_R_STOP_PAGES,	/* the fixed costs fit, but with the pages the
				 * guest dirties in stop_delay (dirty_rate *
				 * stop_delay) on this link they do not */
	KMC_R_FLOOR,		/* throttled to the floor (throttle.h), still
				 * not converging */
};

struct kmc_state {
	uint32_t rounds;		/* rounds seen */
	uint64_t elapsed_ns;		/* sum of round durations */
	uint64_t link_rate;		/* smoothed bytes/s, 0 until measured */
	uint64_t dirty_rate;		/* smoothed dirty pages/s */
	uint64_t dirty_sample;		/* the last round's, unsmoothed */
	uint32_t dirty_samples;		/* rounds that measured it */
	uint64_t pages_total;		/* pages sent, for the zero fraction */
	uint64_t zero_total;
	uint32_t stalled;		/* consecutive rounds dirty >= link */
};

struct kmc_verdict {
	enum kmc_decision decision;
	enum kmc_reason reason;
	uint64_t rate;			/* effective bytes/s used (capped) */
	uint64_t dirty_bytes_rate;	/* dirty rate in wire bytes/s */
	uint64_t remaining_pages;	/* dirty at the harvest */
	uint64_t predicted_pages;	/* expected in the final round (+ stop_delay's) */
	uint64_t predicted_bytes;	/* to send while stopped */
	uint64_t predicted_ns;		/* predicted downtime */
	uint64_t budget_ns;		/* limit less the margin */
	/* predicted_ns split: the fixed costs (state and END on the link,
	 * handoff_ns, rtt_ns) and the pages (remaining + stop_delay's) */
	uint64_t fixed_ns, pages_ns;
	uint64_t stop_delay_pages;	/* dirtied between harvest and pause */
	/* link rate at which stopping now would fit the budget; 0: none does */
	uint64_t needed_rate;
};

void kmc_init(struct kmc_state *s);

/* Folds round @r into @s and decides; returns v->decision. */
enum kmc_decision kmc_update(struct kmc_state *s, const struct kmc_config *c,
			     const struct kmc_round *r, struct kmc_verdict *v);

/* @pages dirty at a harvest plus those dirtied in stop_delay. */
uint64_t kmc_stop_pages(const struct kmc_state *s, const struct kmc_config *c,
			uint64_t pages);
/* Limit less the margin (the larger of margin_pct and margin_min_ns). */
uint64_t kmc_budget_ns(const struct kmc_config *c);
/* Wire bytes to send @pages dirty pages plus the state and END. */
uint64_t kmc_stop_bytes(const struct kmc_state *s, const struct kmc_config *c,
			uint64_t pages);
/* Predicted downtime of stopping with @pages dirty at the harvest (the
 * stop_delay's pages are added), at @rate bytes/s. */
uint64_t kmc_predict_ns(const struct kmc_state *s, const struct kmc_config *c,
			uint64_t pages, uint64_t rate);
/* The smoothed link rate, capped; the cap (or 0) before any measurement. */
uint64_t kmc_rate(const struct kmc_state *s, const struct kmc_config *c);

const char *kmc_decision_name(enum kmc_decision d);
const char *kmc_reason_name(enum kmc_reason r);

#endif /* KM_CONVERGE_H */
