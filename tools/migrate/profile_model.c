// SPDX-License-Identifier: GPL-2.0
/* Dirty-rate profile statistics and the migration prediction
 * (profile_model.h explains both). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "profile_model.h"

#define NSEC_PER_SEC	1000000000ull

int km_prof_init(struct km_prof *p, unsigned int nr_vcpus, uint64_t nbits,
		 uint32_t max_intervals)
{
	unsigned int sets = nr_vcpus + 2;

	memset(p, 0, sizeof(*p));
	if (!nbits || !max_intervals || max_intervals > KM_PROF_MAX_INTERVALS || nr_vcpus > 1024)
		return -EINVAL;
	p->nr_vcpus = nr_vcpus;
	p->max_intervals = max_intervals;
	p->nbits = nbits;
	p->words = (nbits + 63) / 64;
	p->cur = calloc(p->words * sets, sizeof(uint64_t));
	p->iv_pages = calloc((size_t)max_intervals * sets, sizeof(uint64_t));
	p->iv_ns = calloc(max_intervals, sizeof(uint64_t));
	p->first = calloc(nbits, sizeof(uint16_t));
	p->last = calloc(nbits, sizeof(uint16_t));
	if (!p->cur || !p->iv_pages || !p->iv_ns || !p->first || !p->last) {
		km_prof_free(p);
		return -ENOMEM;
	}
	return 0;
}

void km_prof_free(struct km_prof *p)
{
	free(p->cur);
	free(p->iv_pages);
	free(p->iv_ns);
	free(p->first);
	free(p->last);
	memset(p, 0, sizeof(*p));
}

/* Sets bit @gfn of bitmap @set of the current interval; counts it if new. */
static void prof_mark(struct km_prof *p, unsigned int set, uint64_t gfn)
{
	uint64_t *w = &p->cur[set * p->words + gfn / 64], m = 1ull << (gfn % 64);

	if (!(*w & m)) {
		*w |= m;
		p->iv_pages[(uint64_t)p->intervals * (p->nr_vcpus + 2) + set]++;
	}
}

void km_prof_page(struct km_prof *p, uint64_t gfn, int vcpu)
{
	uint16_t iv = (uint16_t)(p->intervals + 1);

	if (gfn >= p->nbits || p->intervals >= p->max_intervals)
		return;
	prof_mark(p, 0, gfn);
	prof_mark(p, vcpu >= 0 && (unsigned int)vcpu < p->nr_vcpus ?
		  (unsigned int)vcpu + 1 : p->nr_vcpus + 1, gfn);
	if (!p->first[gfn])
		p->first[gfn] = iv;
	p->last[gfn] = iv;
}

int km_prof_end_interval(struct km_prof *p, uint64_t ns)
{
	if (p->intervals >= p->max_intervals)
		return -ENOSPC;
	p->iv_ns[p->intervals++] = ns;
	memset(p->cur, 0, p->words * (p->nr_vcpus + 2) * sizeof(uint64_t));
	return 0;
}

uint64_t km_prof_iv_pages(const struct km_prof *p, uint32_t i, int vcpu)
{
	unsigned int set = vcpu < 0 ? 0 : (unsigned int)vcpu >= p->nr_vcpus ?
			   p->nr_vcpus + 1 : (unsigned int)vcpu + 1;

	if (i >= p->intervals)
		return 0;
	return p->iv_pages[(uint64_t)i * (p->nr_vcpus + 2) + set];
}

void km_prof_ws_curve(const struct km_prof *p, uint64_t *ws)
{
	uint32_t n = p->intervals, k;
	uint64_t g, sum = 0;

	if (!n)
		return;
	/* histogram of the last interval each page was seen in, then the
	 * pages seen in the last k intervals are its top k buckets */
	memset(ws, 0, n * sizeof(*ws));
	for (g = 0; g < p->nbits; g++)
		if (p->last[g] && p->last[g] <= n)
			ws[n - p->last[g]]++;	/* bucket 0: the last interval */
	for (k = 0; k < n; k++) {
		sum += ws[k];
		ws[k] = sum;
	}
}

/* ------------------------------------------------------------ predict -- */

/* a * b / c, rounded down, saturated; c > 0 */
static uint64_t muldiv(uint64_t a, uint64_t b, uint64_t c)
{
	unsigned __int128 q = (unsigned __int128)a * b / c;

	return q > UINT64_MAX ? UINT64_MAX : (uint64_t)q;
}

void km_pred_cfg_default(struct km_pred_cfg *c, uint64_t limit_ns, uint64_t bandwidth,
			 const struct kms_costs *k)
{
	memset(c, 0, sizeof(*c));
	/* source_rounds.c's kmc_config */
	kmc_config_default(&c->kc, limit_ns);
	c->kc.bandwidth_cap = bandwidth;
	c->kc.min_rate_sample = 256 << 10;
	kms_costs_apply(k, &c->kc);
	c->min_round_ns = 100000000ull;
}

uint64_t km_pred_dirtied(const struct km_pred_input *in, uint64_t ns)
{
	uint64_t iv = in->interval_ns, n = in->nws, k, span, lo, hi, half;

	if (!n || !iv || !ns)
		return 0;
	k = ns / iv;		/* whole intervals */
	if (k < n) {
		lo = k ? in->ws[k - 1] : 0;
		hi = in->ws[k];
		return lo + muldiv(hi > lo ? hi - lo : 0, ns - k * iv, iv);
	}
	/* beyond the window: the growth of its second half goes on */
	half = n / 2;
	lo = half ? in->ws[half - 1] : 0;
	hi = in->ws[n - 1];
	span = (n - half) * iv;
	return hi + muldiv(hi > lo ? hi - lo : 0, ns - n * iv, span);
}

/* Wire bytes of @pages data pages (kmc's model without the fixed part). */
static uint64_t pred_page_bytes(const struct kmc_state *s, const struct kmc_config *c,
				uint64_t pages)
{
	return kmc_stop_bytes(s, c, pages) - kmc_stop_bytes(s, c, 0);
}

int km_predict(const struct km_pred_input *in, const struct km_pred_cfg *c, struct km_pred *out)
{
	uint64_t bw = c->kc.bandwidth_cap, pages = in->pop_pages;
	struct kmc_verdict v;
	struct kmc_state s;

	memset(out, 0, sizeof(*out));
	if (!bw || !c->kc.downtime_limit_ns)
		return -EINVAL;
	kmc_init(&s);
	for (;;) {
		uint64_t bytes = pred_page_bytes(&s, &c->kc, pages);
		uint64_t send = muldiv(bytes, NSEC_PER_SEC, bw), t = send;
		struct kmc_round r;

		if (t < c->min_round_ns)
			t = c->min_round_ns;	/* the source waits so long, round 0 too */
		if (!t)
			t = 1;
		memset(&r, 0, sizeof(r));
		r.bytes_sent = bytes;
		r.pages_sent = pages;
		r.duration_ns = t;
		r.send_ns = send ? send : t;
		r.dirty_pages = km_pred_dirtied(in, t);
		r.dirty_interval_ns = t;
		r.window_rate = bw;
		out->live_ns += t;
		kmc_update(&s, &c->kc, &r, &v);
		out->rounds = s.rounds;
		out->budget_ns = v.budget_ns;
		out->needed_rate = v.needed_rate;
		if (v.decision == KMC_STOP) {
			out->converges = true;
			out->final_pages = v.predicted_pages;
			out->downtime_ns = v.predicted_ns;
			out->total_ns = out->live_ns + v.predicted_ns;
			return 0;
		}
		if (v.decision == KMC_NOT_CONVERGING || s.rounds >= 10000) {
			if (v.decision != KMC_NOT_CONVERGING)
				v.reason = KMC_R_MAX_ROUNDS;	/* no round limit set */
			out->reason = v.reason;
			out->final_pages = v.predicted_pages;
			out->downtime_ns = v.predicted_ns;
			return 0;
		}
		pages = r.dirty_pages;
	}
}
