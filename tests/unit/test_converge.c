// SPDX-License-Identifier: GPL-2.0
/* The stop-and-copy decision (tools/migrate/converge.c). */
#include <stdint.h>
#include <string.h>

#include "kselftest_harness.h"
#include "converge.h"
#include "proto.h"
#include "unit.h"

KM_SUITE(converge);

#define MS		1000000ull
#define SEC		1000000000ull
#define GUEST_PAGES	262144ull		/* 1 GiB */
#define PAGE_WIRE	(KMP_PAGE_SIZE + KMP_GFN_SIZE)
/* ROUND, END and COMMIT: the bytes of a stop with nothing left */
#define FIXED_WIRE	(2 * KMP_HDR_SIZE + KMP_ROUND_SIZE + KMP_HDR_SIZE + KMP_END_SIZE)

/* A round that sent @pages pages (@zero of them zero) at @rate bytes/s
 * and found @dirty pages dirty afterwards. */
static struct kmc_round round_at(uint64_t pages, uint64_t zero, uint64_t rate, uint64_t dirty)
{
	uint64_t bytes = (pages - zero) * PAGE_WIRE + zero * KMP_GFN_SIZE;

	return (struct kmc_round){
		.bytes_sent = bytes,
		.pages_sent = pages,
		.zero_pages = zero,
		.duration_ns = bytes * SEC / rate,
		.dirty_pages = dirty,
	};
}

static void config(struct kmc_config *c, uint64_t limit_ns)
{
	kmc_config_default(c, limit_ns);
	c->state_bytes = 64 << 10;
	c->handoff_ns = 5 * MS;
	c->rtt_ns = 200000;
}

TEST_F(converge, defaults)
{
	struct kmc_config c;

	kmc_config_default(&c, 300 * MS);
	EXPECT_EQ(300 * MS, c.downtime_limit_ns);
	EXPECT_EQ(10u, c.margin_pct);
	EXPECT_EQ(4096u, c.page_size);
	EXPECT_EQ(3u, c.stall_rounds);
	EXPECT_EQ(30u, c.max_rounds);
	EXPECT_EQ(0u, c.bandwidth_cap);
	EXPECT_STREQ("stop-and-copy", kmc_decision_name(KMC_STOP));
	EXPECT_STREQ("not converging", kmc_decision_name(KMC_NOT_CONVERGING));
	EXPECT_STREQ("round limit reached", kmc_reason_name(KMC_R_MAX_ROUNDS));
}

/* An idle guest: the bulk round leaves almost nothing dirty. */
TEST_F(converge, idle_guest_stops_after_bulk_round)
{
	struct kmc_round r = round_at(GUEST_PAGES, 200000, 1250000000, 10);
	struct kmc_config c;
	struct kmc_state s;
	struct kmc_verdict v;

	config(&c, 300 * MS);
	kmc_init(&s);
	EXPECT_EQ(KMC_STOP, kmc_update(&s, &c, &r, &v));
	EXPECT_EQ(KMC_R_NONE, v.reason);
	EXPECT_EQ(1u, s.rounds);
	EXPECT_EQ(10u, v.remaining_pages);
	EXPECT_LT(c.handoff_ns + c.rtt_ns, v.predicted_ns);
	EXPECT_GT(6 * MS, v.predicted_ns);
	EXPECT_EQ(270 * MS, v.budget_ns);
}

/* A lightly written guest: one more round and it fits. */
TEST_F(converge, light_writer_stops_after_two_rounds)
{
	const uint64_t rate = 1250000000;
	struct kmc_round r = round_at(GUEST_PAGES, 100000, rate, 5000);
	struct kmc_config c;
	struct kmc_state s;
	struct kmc_verdict v;

	config(&c, 10 * MS);	/* 5000 pages are ~10 ms at 10 Gbit/s */
	kmc_init(&s);
	EXPECT_EQ(KMC_CONTINUE, kmc_update(&s, &c, &r, &v));
	EXPECT_LT(v.budget_ns, v.predicted_ns);
	EXPECT_LT(rate, v.needed_rate);	/* would need a faster link */
	r = round_at(5000, 0, rate, 40);
	EXPECT_EQ(KMC_STOP, kmc_update(&s, &c, &r, &v));
	EXPECT_EQ(2u, s.rounds);
}

/* A writer dirtying faster than the link can send: not converging. */
TEST_F(converge, writer_faster_than_link)
{
	const uint64_t rate = 125000000;	/* 1 Gbit/s */
	struct kmc_config c;
	struct kmc_state s;
	struct kmc_verdict v;
	struct kmc_round r;

	config(&c, 300 * MS);
	kmc_init(&s);
	/* each round of 1 s sends ~30500 pages and finds 60000 dirty */
	for (int i = 1; i <= 2; i++) {
		r = round_at(rate / PAGE_WIRE, 0, rate, 60000);
		EXPECT_EQ(KMC_CONTINUE, kmc_update(&s, &c, &r, &v)) TH_LOG("round %d", i);
		EXPECT_LE(v.rate, v.dirty_bytes_rate);
		EXPECT_EQ((uint32_t)i, s.stalled);
	}
	r = round_at(rate / PAGE_WIRE, 0, rate, 60000);
	EXPECT_EQ(KMC_NOT_CONVERGING, kmc_update(&s, &c, &r, &v));
	EXPECT_EQ(KMC_R_DIRTY_RATE, v.reason);
	EXPECT_LT(v.budget_ns, v.predicted_ns);
}

/* A dirty rate that falls below the link rate resets the stall count. */
TEST_F(converge, stall_resets)
{
	const uint64_t rate = 125000000;
	struct kmc_config c;
	struct kmc_state s;
	struct kmc_verdict v;
	struct kmc_round r = round_at(rate / PAGE_WIRE, 0, rate, 60000);

	config(&c, 300 * MS);
	c.smoothing_pct = 100;
	kmc_init(&s);
	kmc_update(&s, &c, &r, &v);
	kmc_update(&s, &c, &r, &v);
	EXPECT_EQ(2u, s.stalled);
	r = round_at(rate / PAGE_WIRE, 0, rate, 20000);
	EXPECT_EQ(KMC_CONTINUE, kmc_update(&s, &c, &r, &v));
	EXPECT_EQ(0u, s.stalled);
}

/* The prediction counts the vCPU state, the framing and the fixed costs. */
TEST_F(converge, prediction_includes_state_and_fixed_costs)
{
	struct kmc_round r = round_at(1000, 0, 1250000000, 0);
	struct kmc_config c;
	struct kmc_state s;
	struct kmc_verdict v;
	uint64_t bytes = FIXED_WIRE + 1250000 + KMP_HDR_SIZE;

	config(&c, 300 * MS);
	c.state_bytes = 1250000;	/* 1 ms at 10 Gbit/s */
	c.handoff_ns = 2 * MS;
	c.rtt_ns = 500000;
	kmc_init(&s);
	EXPECT_EQ(KMC_STOP, kmc_update(&s, &c, &r, &v));
	EXPECT_EQ(1250000000u, v.rate);
	EXPECT_EQ(bytes, v.predicted_bytes);
	EXPECT_EQ(bytes * SEC / 1250000000 + 2 * MS + 500000, v.predicted_ns);
	/* 300 data pages: a gfn entry, the page and two PAGES headers */
	EXPECT_EQ(bytes + 300 * PAGE_WIRE + 2 * KMP_HDR_SIZE, kmc_stop_bytes(&s, &c, 300));
}

/* Zero pages cost their gfn entry only, at the observed fraction. */
TEST_F(converge, zero_pages_cost_markers)
{
	struct kmc_config c;
	struct kmc_state s;
	struct kmc_verdict v;
	struct kmc_round r = round_at(1000, 1000, 1000000000, 0);
	uint64_t fixed;

	config(&c, 300 * MS);
	c.state_bytes = 0;
	fixed = FIXED_WIRE;
	kmc_init(&s);
	kmc_update(&s, &c, &r, &v);
	EXPECT_EQ(fixed + 4096 * 8 + KMP_HDR_SIZE, kmc_stop_bytes(&s, &c, 4096));
	r = round_at(1000, 0, 1000000000, 0);		/* now half are zero */
	kmc_update(&s, &c, &r, &v);
	EXPECT_EQ(fixed + 2048 * 8 + KMP_HDR_SIZE + 2048 * PAGE_WIRE + 8 * KMP_HDR_SIZE,
		  kmc_stop_bytes(&s, &c, 4096));
}

/* The limit is kept with the safety margin. */
TEST_F(converge, limit_respected_with_margin)
{
	const uint64_t rate = 1000000000;
	struct kmc_config c;
	struct kmc_state s;
	struct kmc_verdict v;
	struct kmc_round r;

	kmc_config_default(&c, 100 * MS);	/* margin 10 %: budget 90 ms */
	kmc_init(&s);
	r = round_at(GUEST_PAGES, 0, rate, 23148);	/* ~95 ms */
	EXPECT_EQ(KMC_CONTINUE, kmc_update(&s, &c, &r, &v));
	EXPECT_LT(90 * MS, v.predicted_ns);
	EXPECT_GT(100 * MS, v.predicted_ns);
	r = round_at(23148, 0, rate, 21000);		/* ~86 ms */
	EXPECT_EQ(KMC_STOP, kmc_update(&s, &c, &r, &v));
	EXPECT_GE(v.budget_ns, v.predicted_ns);
	/* without the margin 95 ms would do */
	c.margin_pct = 0;
	kmc_init(&s);
	r = round_at(GUEST_PAGES, 0, rate, 23148);
	EXPECT_EQ(KMC_STOP, kmc_update(&s, &c, &r, &v));
}

/* Fixed costs above the budget: it can never converge. */
TEST_F(converge, fixed_costs_exceed_limit)
{
	struct kmc_config c;
	struct kmc_state s;
	struct kmc_verdict v;
	struct kmc_round r = round_at(1000, 0, 1000000000, 0);

	kmc_config_default(&c, 1 * MS);
	c.handoff_ns = 950000;			/* budget 900 us */
	kmc_init(&s);
	EXPECT_EQ(KMC_NOT_CONVERGING, kmc_update(&s, &c, &r, &v));
	EXPECT_EQ(KMC_R_FIXED_COSTS, v.reason);
	EXPECT_EQ(0u, v.needed_rate);
	c.margin_pct = 0;			/* budget 1 ms: fits */
	kmc_init(&s);
	EXPECT_EQ(KMC_STOP, kmc_update(&s, &c, &r, &v));
}

/* The margin is a share of the limit but never below margin_min_ns: small
 * limits keep room for jitter, and a limit below it cannot be met. */
TEST_F(converge, margin_floor_for_small_limits)
{
	struct kmc_config c;
	struct kmc_state s;
	struct kmc_verdict v;
	struct kmc_round r = round_at(1000, 0, 1000000000, 0);

	kmc_config_default(&c, 300 * MS);
	c.margin_pct = 20;
	c.margin_min_ns = 10 * MS;
	EXPECT_EQ(240 * MS, kmc_budget_ns(&c));		/* 20 % > 10 ms */
	c.downtime_limit_ns = 50 * MS;
	EXPECT_EQ(40 * MS, kmc_budget_ns(&c));		/* 20 % = 10 ms */
	c.downtime_limit_ns = 20 * MS;
	EXPECT_EQ(10 * MS, kmc_budget_ns(&c));		/* the floor, not 16 ms */
	c.downtime_limit_ns = 10 * MS;
	EXPECT_EQ(0u, kmc_budget_ns(&c));
	c.margin_min_ns = UINT64_MAX;
	EXPECT_EQ(0u, kmc_budget_ns(&c));

	/* 12 ms of fixed costs: fit 20 ms less 10 %, not 20 ms less 10 ms */
	kmc_config_default(&c, 20 * MS);
	c.handoff_ns = 12 * MS;
	kmc_init(&s);
	EXPECT_EQ(KMC_STOP, kmc_update(&s, &c, &r, &v));
	EXPECT_EQ(18 * MS, v.budget_ns);
	c.margin_min_ns = 10 * MS;
	kmc_init(&s);
	EXPECT_EQ(KMC_NOT_CONVERGING, kmc_update(&s, &c, &r, &v));
	EXPECT_EQ(KMC_R_FIXED_COSTS, v.reason);
	EXPECT_EQ(10 * MS, v.budget_ns);
	EXPECT_EQ(0u, v.needed_rate);
	/* a limit within the floor: nothing fits */
	c.handoff_ns = c.rtt_ns = 0;
	c.downtime_limit_ns = 10 * MS;
	kmc_init(&s);
	EXPECT_EQ(KMC_NOT_CONVERGING, kmc_update(&s, &c, &r, &v));
	EXPECT_EQ(KMC_R_FIXED_COSTS, v.reason);
	EXPECT_EQ(0u, v.budget_ns);
}

/* The guest keeps dirtying between the deciding harvest and the pause:
 * the final round carries dirty_rate * stop_delay more pages. */
TEST_F(converge, stop_delay_adds_pages)
{
	const uint64_t rate = 10000000;		/* 10 MB/s: a page ~0.41 ms */
	struct kmc_config c;
	struct kmc_state s;
	struct kmc_verdict v, late;
	struct kmc_round r = round_at(GUEST_PAGES, 0, rate, 40);

	config(&c, 45 * MS);			/* budget 40.5 ms: 40 pages ~28 ms */
	r.dirty_interval_ns = 100 * MS;		/* 40 pages in 100 ms: 400 pages/s */
	kmc_init(&s);
	EXPECT_EQ(KMC_STOP, kmc_update(&s, &c, &r, &v));
	EXPECT_EQ(400u, s.dirty_rate);
	EXPECT_EQ(40u, v.predicted_pages);
	EXPECT_EQ(40u, kmc_stop_pages(&s, &c, 40));

	/* 25 ms more of 400 pages/s: 10 pages, ~4 ms more */
	c.stop_delay_ns = 25 * MS;
	EXPECT_EQ(50u, kmc_stop_pages(&s, &c, 40));
	EXPECT_EQ(10u, kmc_stop_pages(&s, &c, 0));	/* none left at the harvest */
	kmc_init(&s);
	kmc_update(&s, &c, &r, &late);
	EXPECT_EQ(50u, late.predicted_pages);
	EXPECT_EQ(40u, late.remaining_pages);
	EXPECT_EQ(kmc_stop_bytes(&s, &c, 50), late.predicted_bytes);
	EXPECT_LT(v.predicted_ns + 3 * MS, late.predicted_ns);
	EXPECT_GT(v.predicted_ns + 5 * MS, late.predicted_ns);
	EXPECT_EQ(kmc_predict_ns(&s, &c, 40, late.rate), late.predicted_ns);

	/* enough to tip the decision: 100 ms of delay is 40 more pages */
	c.stop_delay_ns = 100 * MS;
	kmc_init(&s);
	EXPECT_EQ(KMC_CONTINUE, kmc_update(&s, &c, &r, &late));
	EXPECT_EQ(80u, late.predicted_pages);
	EXPECT_LT(late.budget_ns, late.predicted_ns);
	/* a fraction of a page still counts as one */
	c.stop_delay_ns = 1;
	EXPECT_EQ(41u, kmc_stop_pages(&s, &c, 40));
}

/* Once a live round has followed the bulk, fixed costs that do not fit at
 * the measured rate fail at once instead of after max_rounds (numbers of
 * the nested lab: 2 vCPUs, ~2.3 MB/s, a 50 ms limit). */
TEST_F(converge, fixed_costs_at_measured_rate)
{
	const uint64_t rate = 2300000;
	struct kmc_config c;
	struct kmc_state s;
	struct kmc_verdict v;
	struct kmc_round r = round_at(16384, 0, rate, 300);

	kmc_config_default(&c, 50 * MS);
	c.margin_pct = 20;
	c.margin_min_ns = 10 * MS;		/* budget 40 ms */
	c.state_bytes = 48 << 10;		/* ~21 ms at 2.3 MB/s */
	c.handoff_ns = 28 * MS;
	c.rtt_ns = 10 * MS;
	c.stop_delay_ns = 25 * MS;
	kmc_init(&s);
	/* the bulk: a faster link might still come */
	EXPECT_EQ(KMC_CONTINUE, kmc_update(&s, &c, &r, &v));
	EXPECT_NE(0u, v.needed_rate);
	/* the first live round: even nothing dirty would not fit */
	r = round_at(300, 0, rate, 20);
	r.dirty_interval_ns = 100 * MS;
	EXPECT_EQ(KMC_NOT_CONVERGING, kmc_update(&s, &c, &r, &v));
	EXPECT_EQ(KMC_R_FIXED_COSTS, v.reason);
	EXPECT_LT(v.budget_ns, kmc_predict_ns(&s, &c, 0, v.rate));
	EXPECT_EQ(40 * MS, v.budget_ns);

	/* at 100 ms the same guest stops */
	c.downtime_limit_ns = 100 * MS;		/* budget 80 ms */
	kmc_init(&s);
	r = round_at(16384, 0, rate, 300);
	EXPECT_EQ(KMC_CONTINUE, kmc_update(&s, &c, &r, &v));
	r = round_at(300, 0, rate, 20);
	r.dirty_interval_ns = 100 * MS;
	EXPECT_EQ(KMC_CONTINUE, kmc_update(&s, &c, &r, &v));	/* 23 pages: ~100 ms */
	EXPECT_LT(80 * MS, v.predicted_ns);
	r = round_at(20, 0, rate, 5);
	EXPECT_EQ(KMC_STOP, kmc_update(&s, &c, &r, &v));	/* 5 + 3 pages */
	EXPECT_GE(80 * MS, v.predicted_ns);
	EXPECT_LT(59 * MS, v.predicted_ns);	/* 38 ms fixed + ~21 ms state + pages */
}

/* The fixed costs fit, but the pages a fast writer dirties between the
 * deciding harvest and the pause do not: the refusal names those pages,
 * not the fixed costs, and the prediction splits into the two terms. */
TEST_F(converge, stop_pages_not_fixed_costs)
{
	const uint64_t rate = 10000000;		/* 10 MB/s: a page ~0.41 ms */
	struct kmc_config c;
	struct kmc_state s;
	struct kmc_verdict v;
	struct kmc_round r = round_at(16384, 0, rate, 2000);

	kmc_config_default(&c, 50 * MS);
	c.margin_pct = 20;
	c.margin_min_ns = 10 * MS;		/* budget 40 ms */
	c.handoff_ns = 5 * MS;
	c.rtt_ns = 1 * MS;
	c.state_bytes = 16 << 10;		/* ~1.6 ms */
	c.stop_delay_ns = 25 * MS;
	kmc_init(&s);
	r.dirty_interval_ns = 100 * MS;		/* 20000 pages/s: 500 in 25 ms */
	EXPECT_EQ(KMC_CONTINUE, kmc_update(&s, &c, &r, &v));
	r = round_at(2000, 0, rate, 2000);
	r.dirty_interval_ns = 100 * MS;
	EXPECT_EQ(KMC_NOT_CONVERGING, kmc_update(&s, &c, &r, &v));
	EXPECT_EQ(KMC_R_STOP_PAGES, v.reason);
	EXPECT_EQ(500u, v.stop_delay_pages);
	EXPECT_GT(v.budget_ns, v.fixed_ns);
	EXPECT_LT(7 * MS, v.fixed_ns);
	EXPECT_GT(8 * MS, v.fixed_ns);
	EXPECT_EQ(v.predicted_ns, v.fixed_ns + v.pages_ns);
	EXPECT_STREQ("the pages the guest dirties while it is being stopped take longer than "
		     "the downtime limit on this link", kmc_reason_name(v.reason));
	/* the same with a handoff that alone exceeds the budget: fixed costs */
	c.handoff_ns = 45 * MS;
	kmc_init(&s);
	r = round_at(16384, 0, rate, 2000);
	r.dirty_interval_ns = 100 * MS;
	kmc_update(&s, &c, &r, &v);
	EXPECT_EQ(KMC_R_FIXED_COSTS, v.reason);
	EXPECT_LT(v.budget_ns, v.fixed_ns);
}

/* A bandwidth cap lowers the rate the prediction uses. */
TEST_F(converge, bandwidth_cap_lowers_rate)
{
	struct kmc_config c;
	struct kmc_state s;
	struct kmc_verdict v, capped;
	struct kmc_round r = round_at(GUEST_PAGES, 0, 1250000000, 20000);

	config(&c, 300 * MS);
	kmc_init(&s);
	EXPECT_EQ(KMC_STOP, kmc_update(&s, &c, &r, &v));	/* ~66 ms */
	EXPECT_GE(1, v.rate - 1250000000);	/* the duration was rounded down */
	c.bandwidth_cap = 125000000;
	EXPECT_EQ(125000000u, kmc_rate(&s, &c));
	kmc_init(&s);
	EXPECT_EQ(125000000u, kmc_rate(&s, &c));	/* before any measurement */
	EXPECT_EQ(KMC_CONTINUE, kmc_update(&s, &c, &r, &capped));	/* ~660 ms */
	EXPECT_EQ(125000000u, capped.rate);
	EXPECT_LT(9 * (v.predicted_ns - c.handoff_ns - c.rtt_ns),
		  capped.predicted_ns - c.handoff_ns - c.rtt_ns);
	/* a state that alone takes longer than the limit at the cap */
	c.state_bytes = 125000000;
	kmc_init(&s);
	r.dirty_pages = 0;
	EXPECT_EQ(KMC_NOT_CONVERGING, kmc_update(&s, &c, &r, &v));
	EXPECT_EQ(KMC_R_FIXED_COSTS, v.reason);
}

TEST_F(converge, round_and_time_limits)
{
	const uint64_t rate = 1000000000;
	struct kmc_config c;
	struct kmc_state s;
	struct kmc_verdict v;
	/* half the link rate dirtied, always 100000 pages (400 ms) left */
	struct kmc_round r = round_at(100000, 0, rate, 100000);

	r.dirty_interval_ns = 2 * r.duration_ns;
	config(&c, 50 * MS);
	c.max_rounds = 4;
	kmc_init(&s);
	for (int i = 0; i < 3; i++)
		EXPECT_EQ(KMC_CONTINUE, kmc_update(&s, &c, &r, &v));
	EXPECT_EQ(KMC_NOT_CONVERGING, kmc_update(&s, &c, &r, &v));
	EXPECT_EQ(KMC_R_MAX_ROUNDS, v.reason);
	c.max_rounds = 0;
	c.max_time_ns = 2 * SEC;	/* 5 rounds of ~410 ms */
	kmc_init(&s);
	for (int i = 0; i < 4; i++)
		EXPECT_EQ(KMC_CONTINUE, kmc_update(&s, &c, &r, &v));
	EXPECT_EQ(KMC_NOT_CONVERGING, kmc_update(&s, &c, &r, &v));
	EXPECT_EQ(KMC_R_MAX_TIME, v.reason);
	EXPECT_EQ(0u, s.stalled);
}

TEST_F(converge, smoothing)
{
	struct kmc_config c;
	struct kmc_state s;
	struct kmc_verdict v;
	struct kmc_round r = { .bytes_sent = 1000000000, .duration_ns = SEC,
			       .dirty_pages = 1000000 };

	config(&c, 1 * MS);
	c.handoff_ns = c.rtt_ns = 0;
	kmc_init(&s);
	kmc_update(&s, &c, &r, &v);
	EXPECT_EQ(1000000000u, s.link_rate);
	EXPECT_EQ(1000000u, s.dirty_rate);
	r.duration_ns = 2 * SEC;	/* 500 MB/s, 500000 pages/s */
	kmc_update(&s, &c, &r, &v);
	EXPECT_EQ(750000000u, s.link_rate);
	EXPECT_EQ(750000u, s.dirty_rate);
}

/* Nothing measured and no cap: no prediction, keep going. */
TEST_F(converge, unmeasured)
{
	struct kmc_config c;
	struct kmc_state s;
	struct kmc_verdict v;
	struct kmc_round r = { .dirty_pages = 10 };

	config(&c, 300 * MS);
	kmc_init(&s);
	EXPECT_EQ(KMC_CONTINUE, kmc_update(&s, &c, &r, &v));
	EXPECT_EQ(0u, v.rate);
	EXPECT_EQ(UINT64_MAX, v.predicted_ns);
	EXPECT_EQ(0u, s.stalled);
}

/*
 * The link is measured over the sending time, not the whole round, and
 * small rounds (latency-bound) leave the estimate alone: an idle guest's
 * few dirty pages must not drag the estimate down until it never stops.
 */
TEST_F(converge, link_rate_from_send_time_and_big_rounds_only)
{
	struct kmc_config c;
	struct kmc_state s;
	struct kmc_verdict v;
	struct kmc_round bulk = { .bytes_sent = 100 << 20, .pages_sent = 25600,
				  .duration_ns = 3 * SEC, .send_ns = SEC,
				  .dirty_pages = 4 };
	struct kmc_round idle = { .bytes_sent = 16 << 10, .pages_sent = 4,
				  .duration_ns = 100 * MS, .send_ns = MS / 10,
				  .dirty_pages = 4 };
	int i;

	config(&c, 300 * MS);
	c.min_rate_sample = 256 << 10;
	kmc_init(&s);
	kmc_update(&s, &c, &bulk, &v);
	EXPECT_EQ(100ull << 20, s.link_rate);	/* per send_ns, not duration */
	for (i = 0; i < 5; i++)
		kmc_update(&s, &c, &idle, &v);
	EXPECT_EQ(100ull << 20, s.link_rate);	/* small rounds: no sample */
	EXPECT_EQ(KMC_STOP, v.decision);

	/* without the threshold every round is a sample */
	c.min_rate_sample = 0;
	kmc_update(&s, &c, &idle, &v);
	EXPECT_NE(100ull << 20, s.link_rate);
}

/*
 * An idle guest's bulk round: a few real pages and thousands of zero pages
 * whose scan takes the round's time.  Its byte rate measures the scan, not
 * the link: with the congestion window's rate at hand the model uses that,
 * and the idle guest stops at once; without it, the old lower bound makes
 * the fixed costs look too big (what the lab showed).
 */
TEST_F(converge, app_limited_bulk_round_uses_window_rate)
{
	struct kmc_config c;
	struct kmc_state s;
	struct kmc_verdict v;
	struct kmc_round bulk = { .bytes_sent = 135 << 10, .pages_sent = 8198,
				  .zero_pages = 8181, .duration_ns = 1600 * MS,
				  .send_ns = 1600 * MS, .dirty_pages = 4 };

	config(&c, 300 * MS);
	c.min_rate_sample = 256 << 10;
	kmc_init(&s);
	kmc_update(&s, &c, &bulk, &v);
	EXPECT_NE(KMC_STOP, v.decision);	/* 84 KiB/s: the state alone too slow */

	bulk.window_rate = 20 << 20;			/* 20 MiB/s window */
	kmc_init(&s);
	kmc_update(&s, &c, &bulk, &v);
	EXPECT_EQ(20ull << 20, s.link_rate);
	EXPECT_EQ(KMC_STOP, v.decision);

	/* a sample above the window's rate wins; a big round replaces both */
	bulk.window_rate = 1 << 10;
	kmc_init(&s);
	kmc_update(&s, &c, &bulk, &v);
	EXPECT_EQ((uint64_t)(135 << 10) * SEC / (1600 * MS), s.link_rate);
}

/* Absurd inputs saturate instead of overflowing (UBSan watches). */
TEST_F(converge, extreme_values)
{
	struct kmc_config c;
	struct kmc_state s;
	struct kmc_verdict v;
	struct kmc_round r = { .bytes_sent = UINT64_MAX, .pages_sent = UINT64_MAX,
			       .zero_pages = UINT64_MAX, .duration_ns = 1,
			       .dirty_pages = UINT64_MAX, .dirty_interval_ns = 1 };

	config(&c, UINT64_MAX);
	c.state_bytes = UINT64_MAX;
	c.handoff_ns = UINT64_MAX;
	c.smoothing_pct = 1000;
	c.margin_pct = 1000;
	c.margin_min_ns = UINT64_MAX;
	c.stop_delay_ns = UINT64_MAX;
	kmc_init(&s);
	kmc_update(&s, &c, &r, &v);
	kmc_update(&s, &c, &r, &v);
	EXPECT_EQ(UINT64_MAX, s.link_rate);
	EXPECT_EQ(UINT64_MAX, v.predicted_ns);
	EXPECT_EQ(KMC_NOT_CONVERGING, v.decision);
	EXPECT_EQ(UINT64_MAX, v.predicted_pages);
	EXPECT_EQ(0u, v.budget_ns);
}

TEST_HARNESS_MAIN
