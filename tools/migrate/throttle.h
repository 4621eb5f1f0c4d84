/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Throttle, don't fail: the auto-converge decision, after the model's
 * (converge.h).  Pure arithmetic on recorded rounds: no clock, no I/O.
 *
 * With --converge throttle, after each round past the first live one whose
 * verdict is not "stop": when the guest's dirty rate of the round (not the
 * smoothed one, which lags a step by rounds), in wire bytes, is
 * above target_pct % of the link rate, or the model says it will not
 * converge (for any reason but the fixed costs, which no throttle shrinks),
 * the guest is slowed so that its dirty rate would come to the target:
 *
 *   factor = target / dirty rate, at least 1/2 (a throttle at most halves
 *            a vCPU's speed a round: the rates are noisy and lag) and at
 *            most 9/10 (a step is a step); 3/4 when the dirty rate is under
 *            the target but the model still says no
 *
 * spread over the vCPUs by their own dirty counts of the round (ring
 * entries, vmm_vcpu_dirty_entries()): the heaviest writers are capped first
 * (water-filling: every vCPU above a cap c comes down to c, those below it
 * are left alone, c chosen so the total falls by the factor); a vCPU that
 * dirtied nothing is never throttled.  Without per-vCPU counts (the dirty
 * bitmap; the kernel data path, whose module reaps the rings) every vCPU
 * is throttled alike.  A vCPU's speed (the % of its time it may run) only
 * goes down during a migration, never below floor_pct.  While a step is
 * taken the model's stall count restarts and "not converging" becomes
 * "continue"; once no dirtying vCPU can go lower, floor_rounds more rounds
 * that do not shrink the dirty set by a tenth are given (a shrinking one
 * is converging, if slowly), then the verdict is "not converging", reason
 * KMC_R_FLOOR.
 */
#ifndef KM_THROTTLE_H
#define KM_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

#include "converge.h"

#define KMT_MAX_VCPUS		64
#define KMT_DEFAULT_FLOOR_PCT	10	/* guest speed kept at least (QEMU lets it fall to 1 %) */
#define KMT_DEFAULT_TARGET_PCT	50	/* dirty rate aimed at, % of the link */
#define KMT_DEFAULT_FLOOR_ROUNDS 3

struct kmt_config {
	bool enabled;			/* --converge throttle */
	uint32_t floor_pct;		/* 1..100: least speed a vCPU keeps */
	uint32_t target_pct;		/* 1..100 */
	uint32_t floor_rounds;		/* rounds at the floor before failing */
};

struct kmt_state {
	unsigned int nr_vcpus;
	uint32_t speed[KMT_MAX_VCPUS];	/* % of full speed each vCPU keeps */
	uint32_t steps;			/* rounds that lowered a speed */
	uint32_t rounds_at_floor;	/* rounds wanting more, none possible,
					 * that did not shrink the dirty set */
	uint64_t last_dirty;		/* dirty pages of the last such round */
	bool changed;			/* the last kmt_update() lowered one */
};

void kmt_config_default(struct kmt_config *tc);
void kmt_init(struct kmt_state *t, unsigned int nr_vcpus);

/*
 * After kmc_update(@s, @c, ..., @v): raises the throttle when it should and
 * amends @v's decision (see above).  @vcpu_dirty: each vCPU's dirty count
 * over the round, NULL or all zero when unknown.  Returns v->decision.
 */
enum kmc_decision kmt_update(struct kmt_state *t, const struct kmt_config *tc,
			     struct kmc_state *s, struct kmc_verdict *v,
			     const uint64_t *vcpu_dirty);

/* The guest's speed kept: the mean of its vCPUs' speeds, %. */
uint32_t kmt_guest_speed(const struct kmt_state *t);

#endif /* KM_THROTTLE_H */
