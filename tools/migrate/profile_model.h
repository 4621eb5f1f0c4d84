/* SPDX-License-Identifier: GPL-2.0 */
/*
 * `kmigrate profile`: the statistics of a dirty-rate profile and the
 * prediction of a migration from them (docs/PROFILE.md).  Pure code: no
 * clock, no KVM, no I/O; the VM's process feeds it the gfns each harvest
 * returns (profile_vm.c), the client predicts from what it reports.
 *
 * Statistics (struct km_prof): per interval, the distinct pages dirtied in
 * total and per vCPU (the ring a gfn came from; slot nr_vcpus holds those
 * of no known vCPU: bitmap mode, the VMM's own writes, an overflow's full
 * report), and per page the first and the last interval it was dirtied in,
 * from which the writable working set of every window length follows: the
 * distinct pages dirtied in the last k intervals (km_prof_ws_curve).
 *
 * Prediction (km_predict): replays the rounds a migration would run with
 * converge.c's decision (kmc_update), the same model and the same
 * constants as tools/migrate/source.c: round 0 sends the populated pages;
 * each round lasts its bytes / bandwidth (at least min_round_ns, source.c's
 * shortest round, round 0 included), during which the guest dirties ws(duration) pages
 * (the working-set curve, interpolated; beyond the measured window
 * extended at the growth rate of its second half); those are the next
 * round's pages; kmc_update decides after each round whether to stop and
 * copy (downtime = the final pages and the fixed costs / bandwidth + the
 * handoff and round trip), go on, or give up (its reason).
 */
#ifndef KM_PROFILE_MODEL_H
#define KM_PROFILE_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "converge.h"
#include "switch_cost.h"

#define KM_PROF_MAX_INTERVALS	65535u

struct km_prof {
	unsigned int nr_vcpus;
	uint32_t max_intervals;
	uint32_t intervals;		/* completed */
	uint64_t nbits;			/* gfns [0, nbits) */
	uint64_t words;			/* of one bitmap */
	uint64_t *cur;			/* (nr_vcpus + 2) bitmaps: total, vCPU 0..n-1, unknown */
	uint64_t *iv_pages;		/* [max_intervals * (nr_vcpus + 2)], same order */
	uint64_t *iv_ns;		/* [max_intervals] length of each interval */
	uint16_t *first, *last;		/* per gfn: interval index + 1; 0: never */
};

int km_prof_init(struct km_prof *p, unsigned int nr_vcpus, uint64_t nbits,
		 uint32_t max_intervals);
void km_prof_free(struct km_prof *p);
/* A dirty page of the current interval; @vcpu -1 (or out of range): unknown. */
void km_prof_page(struct km_prof *p, uint64_t gfn, int vcpu);
/* Closes the current interval, @ns long; -ENOSPC when max_intervals are done. */
int km_prof_end_interval(struct km_prof *p, uint64_t ns);
/* Distinct pages of interval @i: total (@vcpu -1), of vCPU @vcpu, or of no
 * known vCPU (@vcpu == nr_vcpus). */
uint64_t km_prof_iv_pages(const struct km_prof *p, uint32_t i, int vcpu);
/* ws[k - 1] = distinct pages dirtied in the last k intervals, k = 1..intervals
 * (@ws has room for p->intervals). */
void km_prof_ws_curve(const struct km_prof *p, uint64_t *ws);

/* ------------------------------------------------------------ predict -- */

struct km_pred_cfg {
	struct kmc_config kc;		/* bandwidth_cap is the link's rate */
	uint64_t min_round_ns;		/* shortest live round */
};

/* The source's model (source_rounds.c) at @limit_ns and @bandwidth
 * bytes/s with the switch-over costs @k (switch_cost.h: measured by the
 * profile's trial pause, or kms_costs_estimate()): its margin, 30 rounds,
 * live rounds of at least 100 ms. */
void km_pred_cfg_default(struct km_pred_cfg *c, uint64_t limit_ns, uint64_t bandwidth,
			 const struct kms_costs *k);

struct km_pred_input {
	uint64_t pop_pages;		/* populated memory: round 0 */
	const uint64_t *ws;		/* ws[k - 1]: pages dirtied in k intervals */
	uint32_t nws;
	uint64_t interval_ns;		/* mean interval length */
};

struct km_pred {
	bool converges;
	enum kmc_reason reason;		/* why not (KMC_R_NONE when it converges) */
	uint32_t rounds;		/* live rounds, round 0 included */
	uint64_t live_ns;		/* time of the live rounds */
	uint64_t total_ns;		/* live rounds + downtime */
	uint64_t final_pages;		/* sent while stopped (stop delay's included) */
	uint64_t downtime_ns;		/* predicted pause */
	uint64_t budget_ns;		/* the limit less the margin */
	uint64_t needed_rate;		/* bytes/s at which the last decision's set
					 * would have fit; 0: none would */
};

/* Pages the guest dirties in a window of @ns (the curve, interpolated). */
uint64_t km_pred_dirtied(const struct km_pred_input *in, uint64_t ns);
/* -EINVAL without a bandwidth or a limit. */
int km_predict(const struct km_pred_input *in, const struct km_pred_cfg *c, struct km_pred *out);

#endif /* KM_PROFILE_MODEL_H */
