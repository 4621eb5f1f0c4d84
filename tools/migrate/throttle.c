// SPDX-License-Identifier: GPL-2.0
/* The auto-converge decision (throttle.h explains it). */
#include <string.h>

#include "throttle.h"

void kmt_config_default(struct kmt_config *tc)
{
	tc->enabled = true;
	tc->floor_pct = KMT_DEFAULT_FLOOR_PCT;
	tc->target_pct = KMT_DEFAULT_TARGET_PCT;
	tc->floor_rounds = KMT_DEFAULT_FLOOR_ROUNDS;
}

void kmt_init(struct kmt_state *t, unsigned int nr_vcpus)
{
	unsigned int i;

	memset(t, 0, sizeof(*t));
	t->nr_vcpus = nr_vcpus > KMT_MAX_VCPUS ? KMT_MAX_VCPUS : nr_vcpus;
	for (i = 0; i < t->nr_vcpus; i++)
		t->speed[i] = 100;
}

uint32_t kmt_guest_speed(const struct kmt_state *t)
{
	uint64_t sum = 0;
	unsigned int i;

	for (i = 0; i < t->nr_vcpus; i++)
		sum += t->speed[i];
	return t->nr_vcpus ? (uint32_t)(sum / t->nr_vcpus) : 100;
}

/* @speed scaled by @num / @den, at least halved, never raised, >= @floor. */
static uint32_t scaled(uint32_t speed, uint64_t num, uint64_t den, uint32_t floor)
{
	uint64_t s = den ? (uint64_t)speed * num / den : speed;

	if (s < speed / 2)
		s = speed / 2;
	if (s > speed)
		s = speed;
	return s < floor ? (speed < floor ? speed : floor) : (uint32_t)s;
}

/*
 * Water-filling: lowers the vCPUs' speeds so that the sum of their dirty
 * counts would fall to @pct % of today's; those above a cap come down to
 * it, the rest are left; those at the floor count as they are and the
 * others make up for them.  Returns whether a speed went down.
 */
static bool lower(struct kmt_state *t, const struct kmt_config *tc, const uint64_t *d,
		  uint32_t pct)
{
	unsigned int idx[KMT_MAX_VCPUS], n = t->nr_vcpus, i, j, k;
	uint64_t total = 0, want, rest, cap = 0, fixed = 0;
	uint32_t floor = tc->floor_pct ? tc->floor_pct : 1;
	bool changed = false;

	for (i = 0; d && i < n; i++)
		total += d[i];
	if (!total) {	/* no per-vCPU counts: all alike */
		for (i = 0; i < n; i++) {
			uint32_t s = scaled(t->speed[i], pct, 100, floor);

			changed |= s != t->speed[i];
			t->speed[i] = s;
		}
		return changed;
	}
	/* the vCPUs at the floor keep their share: the others make up for it */
	want = total * pct / 100;
	for (i = 0, n = 0; i < t->nr_vcpus; i++) {
		if (t->speed[i] > floor && d[i])
			idx[n++] = i;
		else
			fixed += d[i];
	}
	want = want > fixed ? want - fixed : 0;
	total -= fixed;
	for (i = 1; i < n; i++)	/* by dirty count, largest first */
		for (j = i; j > 0 && d[idx[j]] > d[idx[j - 1]]; j--) {
			k = idx[j];
			idx[j] = idx[j - 1];
			idx[j - 1] = k;
		}
	rest = total;
	for (k = 1; k <= n; k++) {	/* cap the k largest at cap */
		rest -= d[idx[k - 1]];
		if (want < rest)
			continue;
		cap = (want - rest) / k;
		if (k == n || cap >= d[idx[k]])
			break;
	}
	if (k > n)
		k = n;
	for (i = 0; i < k; i++) {
		unsigned int v = idx[i];
		uint32_t s;

		if (!d[v] || cap >= d[v])
			continue;
		s = scaled(t->speed[v], cap, d[v], floor);
		changed |= s != t->speed[v];
		t->speed[v] = s;
	}
	return changed;
}

enum kmc_decision kmt_update(struct kmt_state *t, const struct kmt_config *tc,
			     struct kmc_state *s, struct kmc_verdict *v,
			     const uint64_t *vcpu_dirty)
{
	uint64_t target, raw;
	bool over, fails, shrinking;
	uint32_t pct;

	t->changed = false;
	if (!tc->enabled || v->decision == KMC_STOP || !v->rate)
		return v->decision;
	fails = v->decision == KMC_NOT_CONVERGING;
	if (fails && v->reason == KMC_R_FIXED_COSTS)
		return v->decision;	/* no throttle shrinks those */
	target = v->rate * (tc->target_pct ? tc->target_pct : KMT_DEFAULT_TARGET_PCT) / 100;
	/* the last round's own rate, not the smoothed one: that lags a
	 * throttle step by rounds and would step again for nothing */
	raw = s->dirty_rate ? v->dirty_bytes_rate / s->dirty_rate * s->dirty_sample +
			      v->dirty_bytes_rate % s->dirty_rate * s->dirty_sample / s->dirty_rate : 0;
	over = raw > target;
	if (!fails && (!over || s->rounds < 2))
		return v->decision;
	if (!raw)
		return v->decision;	/* nothing dirtied: nothing to slow */
	if (over) {
		pct = (uint32_t)(target * 100 / raw);
		pct = pct < 50 ? 50 : pct > 90 ? 90 : pct;
	} else {
		pct = 75;
	}
	t->changed = lower(t, tc, vcpu_dirty, pct);
	if (t->changed) {
		t->last_dirty = 0;
		t->steps++;
		t->rounds_at_floor = 0;
		s->stalled = 0;	/* give the new speed its rounds */
		v->decision = KMC_CONTINUE;
		v->reason = KMC_R_NONE;
		return v->decision;
	}
	/* at the floor: a dirty set still shrinking by a tenth a round is
	 * converging (slowly, the rounds shorten): only a round that did not
	 * shrink it counts towards giving up */
	shrinking = t->last_dirty && v->remaining_pages * 10 < t->last_dirty * 9;
	t->last_dirty = v->remaining_pages;
	if (!shrinking)
		t->rounds_at_floor++;
	if (t->rounds_at_floor > tc->floor_rounds) {
		v->decision = KMC_NOT_CONVERGING;
		v->reason = KMC_R_FLOOR;
	} else {
		v->decision = KMC_CONTINUE;
		v->reason = KMC_R_NONE;
	}
	return v->decision;
}
