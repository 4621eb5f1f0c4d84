// SPDX-License-Identifier: GPL-2.0
/* The stop-and-copy decision (converge.h explains the model). */
#include <stdbool.h>
#include <string.h>

#include "converge.h"
#include "proto.h"

#define NSEC_PER_SEC	1000000000ull

/* a * b / c, rounded down, saturated; c > 0. */
static uint64_t muldiv(uint64_t a, uint64_t b, uint64_t c)
{
	unsigned __int128 q = (unsigned __int128)a * b / c;

	return q > UINT64_MAX ? UINT64_MAX : (uint64_t)q;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t div_up(uint64_t a, uint64_t b)
{
	return a / b + !!(a % b);
}

/* Newest sample weighted by smoothing_pct; the first one taken as is. */
static uint64_t smooth(const struct kmc_config *c, uint64_t old, uint64_t sample, bool first)
{
	uint32_t w = c->smoothing_pct > 100 ? 100 : c->smoothing_pct;

	if (first || !w)
		return sample;
	return muldiv(sample, w, 100) + muldiv(old, 100 - w, 100);
}

void kmc_config_default(struct kmc_config *c, uint64_t downtime_limit_ns)
{
	memset(c, 0, sizeof(*c));
	c->downtime_limit_ns = downtime_limit_ns;
	c->margin_pct = 10;
	c->smoothing_pct = 50;
	c->page_size = KMP_PAGE_SIZE;
	c->max_rounds = 30;
	c->stall_rounds = 3;
}

void kmc_init(struct kmc_state *s)
{
	memset(s, 0, sizeof(*s));
}

uint64_t kmc_rate(const struct kmc_state *s, const struct kmc_config *c)
{
	if (c->bandwidth_cap && (!s->link_rate || s->link_rate > c->bandwidth_cap))
		return c->bandwidth_cap;
	return s->link_rate;
}

/* Of @pages dirty pages, how many are expected to be zero pages. */
static uint64_t expected_zero(const struct kmc_state *s, uint64_t pages)
{
	return s->pages_total ? muldiv(pages, s->zero_total, s->pages_total) : 0;
}

/* Wire bytes of @pages dirty pages in PAGES and ZERO records. */
static uint64_t pages_bytes(const struct kmc_state *s, const struct kmc_config *c,
			    uint64_t pages)
{
	uint64_t zero = expected_zero(s, pages), data = pages - zero;
	uint64_t page = c->page_size ? c->page_size : KMP_PAGE_SIZE;
	uint64_t b;

	b = muldiv(data, KMP_GFN_SIZE + page, 1);
	b = add_sat(b, div_up(data, KMP_MAX_PAGES_BATCH) * KMP_HDR_SIZE);
	b = add_sat(b, muldiv(zero, KMP_GFN_SIZE, 1));
	return add_sat(b, div_up(zero, KMP_MAX_ZERO_BATCH) * KMP_HDR_SIZE);
}

/* The final ROUND, the state records, END and COMMIT. */
static uint64_t fixed_bytes(const struct kmc_config *c)
{
	uint64_t b = KMP_HDR_SIZE + KMP_ROUND_SIZE + 2 * KMP_HDR_SIZE + KMP_END_SIZE;

	b = add_sat(b, c->state_bytes);
	return add_sat(b, div_up(c->state_bytes, KMP_MAX_STATE) * KMP_HDR_SIZE);
}

uint64_t kmc_stop_bytes(const struct kmc_state *s, const struct kmc_config *c, uint64_t pages)
{
	return add_sat(pages_bytes(s, c, pages), fixed_bytes(c));
}

uint64_t kmc_stop_pages(const struct kmc_state *s, const struct kmc_config *c,
			uint64_t pages)
{
	/* rounded up: one page dirtied in the delay is a page to send */
	return add_sat(pages, div_up(muldiv(s->dirty_rate, c->stop_delay_ns, 1), NSEC_PER_SEC));
}

uint64_t kmc_budget_ns(const struct kmc_config *c)
{
	uint32_t pct = c->margin_pct > 100 ? 100 : c->margin_pct;
	uint64_t margin = muldiv(c->downtime_limit_ns, pct, 100);

	if (margin < c->margin_min_ns)
		margin = c->margin_min_ns;
	return c->downtime_limit_ns > margin ? c->downtime_limit_ns - margin : 0;
}

uint64_t kmc_predict_ns(const struct kmc_state *s, const struct kmc_config *c,
			uint64_t pages, uint64_t rate)
{
	if (!rate)
		return UINT64_MAX;	/* nothing measured, no cap: unknown */
	pages = kmc_stop_pages(s, c, pages);
	return add_sat(add_sat(muldiv(kmc_stop_bytes(s, c, pages), NSEC_PER_SEC, rate),
			       c->handoff_ns), c->rtt_ns);
}

static void measure(struct kmc_state *s, const struct kmc_config *c, const struct kmc_round *r)
{
	uint64_t interval = r->dirty_interval_ns ? r->dirty_interval_ns : r->duration_ns;
	uint64_t send_ns = r->send_ns ? r->send_ns : r->duration_ns;

	s->rounds++;
	s->elapsed_ns = add_sat(s->elapsed_ns, r->duration_ns);
	if (send_ns && r->bytes_sent && r->bytes_sent >= c->min_rate_sample) {
		s->link_rate = smooth(c, s->link_rate,
				      muldiv(r->bytes_sent, NSEC_PER_SEC, send_ns),
				      !s->link_rate);
	} else if (!s->link_rate) {
		/* too small to measure the link: a lower bound, or what the
		 * congestion window carries if that is more */
		uint64_t sample = send_ns && r->bytes_sent ?
				  muldiv(r->bytes_sent, NSEC_PER_SEC, send_ns) : 0;

		s->link_rate = sample > r->window_rate ? sample : r->window_rate;
	}
	if (interval) {
		s->dirty_sample = muldiv(r->dirty_pages, NSEC_PER_SEC, interval);
		s->dirty_rate = smooth(c, s->dirty_rate, s->dirty_sample, !s->dirty_samples);
		s->dirty_samples++;
	}
	s->pages_total = add_sat(s->pages_total, r->pages_sent);
	s->zero_total = add_sat(s->zero_total,
				r->zero_pages < r->pages_sent ? r->zero_pages : r->pages_sent);
}

/* What stopping costs with no page to send, at @rate bytes/s. */
static uint64_t fixed_ns(const struct kmc_config *c, uint64_t rate)
{
	if (!rate)
		return UINT64_MAX;
	return add_sat(add_sat(muldiv(fixed_bytes(c), NSEC_PER_SEC, rate), c->handoff_ns),
		       c->rtt_ns);
}

/* The link rate at which stopping with v's bytes fits the budget. */
static uint64_t needed_rate(const struct kmc_config *c, const struct kmc_verdict *v)
{
	uint64_t fixed = add_sat(c->handoff_ns, c->rtt_ns);

	if (v->budget_ns <= fixed)
		return 0;
	return div_up(muldiv(v->predicted_bytes, NSEC_PER_SEC, 1), v->budget_ns - fixed);
}

static enum kmc_decision decide(struct kmc_verdict *v, enum kmc_decision d, enum kmc_reason r)
{
	v->decision = d;
	v->reason = r;
	return d;
}

enum kmc_decision kmc_update(struct kmc_state *s, const struct kmc_config *c,
			     const struct kmc_round *r, struct kmc_verdict *v)
{
	measure(s, c, r);
	memset(v, 0, sizeof(*v));
	v->rate = kmc_rate(s, c);
	v->remaining_pages = r->dirty_pages;
	/* what the pages dirtied per second cost on the wire */
	v->dirty_bytes_rate = pages_bytes(s, c, s->dirty_rate);
	v->predicted_pages = kmc_stop_pages(s, c, r->dirty_pages);
	v->predicted_bytes = kmc_stop_bytes(s, c, v->predicted_pages);
	v->predicted_ns = kmc_predict_ns(s, c, r->dirty_pages, v->rate);
	v->budget_ns = kmc_budget_ns(c);
	v->needed_rate = needed_rate(c, v);
	v->stop_delay_pages = v->predicted_pages - r->dirty_pages;
	v->fixed_ns = fixed_ns(c, v->rate);
	v->pages_ns = v->predicted_ns > v->fixed_ns ? v->predicted_ns - v->fixed_ns : 0;

	if (v->rate && v->predicted_ns <= v->budget_ns)
		return decide(v, KMC_STOP, KMC_R_NONE);
	/* No link is fast enough, or the cap is too slow, or, once a live
	 * round has followed the bulk, even an empty dirty set (but the
	 * stop_delay's pages) would not fit at the measured rate: the fixed
	 * costs, or else the pages dirtied while stopping, are the cause. */
	if (!v->needed_rate)
		return decide(v, KMC_NOT_CONVERGING, KMC_R_FIXED_COSTS);
	if (c->bandwidth_cap && kmc_predict_ns(s, c, 0, c->bandwidth_cap) > v->budget_ns)
		return decide(v, KMC_NOT_CONVERGING,
			      fixed_ns(c, c->bandwidth_cap) > v->budget_ns ?
			      KMC_R_FIXED_COSTS : KMC_R_STOP_PAGES);
	if (s->rounds >= 2 && v->rate && kmc_predict_ns(s, c, 0, v->rate) > v->budget_ns)
		return decide(v, KMC_NOT_CONVERGING, v->fixed_ns > v->budget_ns ?
			      KMC_R_FIXED_COSTS : KMC_R_STOP_PAGES);
	s->stalled = v->rate && v->dirty_bytes_rate >= v->rate ? s->stalled + 1 : 0;
	if (s->stalled >= (c->stall_rounds ? c->stall_rounds : 1))
		return decide(v, KMC_NOT_CONVERGING, KMC_R_DIRTY_RATE);
	if (c->max_rounds && s->rounds >= c->max_rounds)
		return decide(v, KMC_NOT_CONVERGING, KMC_R_MAX_ROUNDS);
	if (c->max_time_ns && s->elapsed_ns >= c->max_time_ns)
		return decide(v, KMC_NOT_CONVERGING, KMC_R_MAX_TIME);
	return decide(v, KMC_CONTINUE, KMC_R_NONE);
}

const char *kmc_decision_name(enum kmc_decision d)
{
	switch (d) {
	case KMC_CONTINUE:		return "continue";
	case KMC_STOP:			return "stop-and-copy";
	case KMC_NOT_CONVERGING:	return "not converging";
	}
	return "?";
}

const char *kmc_reason_name(enum kmc_reason r)
{
	switch (r) {
	case KMC_R_NONE:		return "none";
	case KMC_R_DIRTY_RATE:		return "guest dirties memory faster than the link sends it";
	case KMC_R_MAX_ROUNDS:		return "round limit reached";
	case KMC_R_MAX_TIME:		return "time limit reached";
	case KMC_R_FIXED_COSTS:		return "fixed costs (vCPU state, handoff, round trip) alone exceed the downtime limit";
	case KMC_R_STOP_PAGES:		return "the pages the guest dirties while it is being stopped take longer than the downtime limit on this link";
	case KMC_R_FLOOR:		return "throttled to the floor, the guest still dirties memory too fast for the link";
	}
	return "?";
}
