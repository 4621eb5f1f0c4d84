// SPDX-License-Identifier: GPL-2.0
/* `kmigrate profile`: interval statistics and the migration prediction
 * (tools/migrate/profile_model.c). */
#include <stdint.h>
#include <string.h>

#include "kselftest_harness.h"
#include "profile_model.h"
#include "proto.h"
#include "unit.h"

KM_SUITE(profile);

#define MS		1000000ull
#define SEC		1000000000ull

TEST_F(profile, interval_counts_distinct_pages_per_vcpu)
{
	struct km_prof p;

	ASSERT_EQ(0, km_prof_init(&p, 2, 1000, 10));
	/* interval 0: vCPU 0 writes 5 pages, one of them three times;
	 * vCPU 1 writes 2 pages, one of them also written by vCPU 0 */
	km_prof_page(&p, 10, 0);
	km_prof_page(&p, 10, 0);
	km_prof_page(&p, 10, 0);
	km_prof_page(&p, 11, 0);
	km_prof_page(&p, 12, 0);
	km_prof_page(&p, 13, 0);
	km_prof_page(&p, 14, 0);
	km_prof_page(&p, 14, 1);
	km_prof_page(&p, 500, 1);
	km_prof_page(&p, 600, -1);	/* the VMM's own write */
	km_prof_page(&p, 5000, 0);	/* outside the guest: ignored */
	ASSERT_EQ(0, km_prof_end_interval(&p, 100 * MS));
	/* interval 1: the same page 10 again, counted again in its interval */
	km_prof_page(&p, 10, 1);
	ASSERT_EQ(0, km_prof_end_interval(&p, 100 * MS));

	EXPECT_EQ(2u, p.intervals);
	EXPECT_EQ(7u, km_prof_iv_pages(&p, 0, -1));
	EXPECT_EQ(5u, km_prof_iv_pages(&p, 0, 0));
	EXPECT_EQ(2u, km_prof_iv_pages(&p, 0, 1));
	EXPECT_EQ(1u, km_prof_iv_pages(&p, 0, 2));	/* unknown */
	EXPECT_EQ(1u, km_prof_iv_pages(&p, 1, -1));
	EXPECT_EQ(0u, km_prof_iv_pages(&p, 1, 0));
	EXPECT_EQ(1u, km_prof_iv_pages(&p, 1, 1));
	EXPECT_EQ(0u, km_prof_iv_pages(&p, 7, -1));	/* not measured */
	km_prof_free(&p);
	KM_ASSERT_NO_LEAKS();
}

TEST_F(profile, working_set_grows_with_the_window)
{
	uint64_t ws[6];
	struct km_prof p;
	uint32_t i, g;

	ASSERT_EQ(0, km_prof_init(&p, 1, 4096, 6));
	/* a writer cycling over 20 pages, 8 a interval: 0-7, 8-15, 16-19 0-3, ... */
	for (i = 0; i < 6; i++) {
		for (g = 0; g < 8; g++)
			km_prof_page(&p, (i * 8 + g) % 20, 0);
		ASSERT_EQ(0, km_prof_end_interval(&p, 250 * MS));
	}
	km_prof_ws_curve(&p, ws);
	EXPECT_EQ(8u, ws[0]);	/* the last interval */
	EXPECT_EQ(16u, ws[1]);
	EXPECT_EQ(20u, ws[2]);	/* the whole set, never more */
	EXPECT_EQ(20u, ws[5]);
	EXPECT_EQ(-ENOSPC, km_prof_end_interval(&p, 250 * MS));
	km_prof_free(&p);
	EXPECT_EQ(-EINVAL, km_prof_init(&p, 1, 0, 6));
	EXPECT_EQ(-EINVAL, km_prof_init(&p, 1, 10, KM_PROF_MAX_INTERVALS + 1));
	KM_ASSERT_NO_LEAKS();
}

/* The curve of a writer of @rate new pages a second that never rewrites. */
static void linear_ws(uint64_t *ws, uint32_t n, uint64_t rate, uint64_t iv_ns)
{
	uint32_t k;

	for (k = 0; k < n; k++)
		ws[k] = rate * (k + 1) * iv_ns / SEC;
}

/* No fixed costs, no margin, no shortest round: the rounds by hand. */
static void bare_cfg(struct km_pred_cfg *c, uint64_t limit_ns, uint64_t bw)
{
	struct kms_costs k;

	kms_costs_estimate(&k, 1);
	km_pred_cfg_default(c, limit_ns, bw, &k);
	c->kc.margin_pct = 0;
	c->kc.margin_min_ns = 0;
	c->kc.state_bytes = 0;
	c->kc.handoff_ns = 0;
	c->kc.rtt_ns = 0;
	c->kc.stop_delay_ns = 0;
	c->min_round_ns = 0;
}

TEST_F(profile, dirtied_interpolates_and_extends)
{
	uint64_t ws[10];
	struct km_pred_input in = { .ws = ws, .nws = 10, .interval_ns = 100 * MS };

	linear_ws(ws, 10, 1000, 100 * MS);	/* 100 pages a interval */
	EXPECT_EQ(0u, km_pred_dirtied(&in, 0));
	EXPECT_EQ(50u, km_pred_dirtied(&in, 50 * MS));
	EXPECT_EQ(100u, km_pred_dirtied(&in, 100 * MS));
	EXPECT_EQ(550u, km_pred_dirtied(&in, 550 * MS));
	EXPECT_EQ(3000u, km_pred_dirtied(&in, 3 * SEC));	/* extended */
	/* a bounded working set stays bounded beyond the window */
	for (int k = 3; k < 10; k++)
		ws[k] = 300;
	EXPECT_EQ(300u, km_pred_dirtied(&in, 10 * SEC));
}

/*
 * 100000 populated pages, a link of about 100000 pages a second, a guest
 * dirtying 10000 new pages a second: each round's set is a tenth of the
 * one before (100000, 10000, 1000, 100, ...), taking 1 s, 100 ms, 10 ms,
 * 1 ms: the first set whose send fits the limit is the final one.
 */
TEST_F(profile, converges_in_the_rounds_the_limit_decides)
{
	const uint64_t bw = 100000ull * (KMP_PAGE_SIZE + KMP_GFN_SIZE + 1);
	uint64_t ws[50];
	struct km_pred_input in = { .pop_pages = 100000, .ws = ws, .nws = 50,
				    .interval_ns = 100 * MS };
	struct km_pred_cfg c;
	struct km_pred r;

	linear_ws(ws, 50, 10000, 100 * MS);

	/* 300 ms: round 0 leaves ~10000 pages (~100 ms): stop after it */
	bare_cfg(&c, 300 * MS, bw);
	ASSERT_EQ(0, km_predict(&in, &c, &r));
	EXPECT_TRUE(r.converges);
	EXPECT_EQ(1u, r.rounds);
	EXPECT_GE(r.final_pages, 9900u);
	EXPECT_LE(r.final_pages, 10000u);
	EXPECT_GE(r.downtime_ns, 95 * MS);
	EXPECT_LE(r.downtime_ns, 101 * MS);
	EXPECT_EQ(r.live_ns + r.downtime_ns, r.total_ns);
	EXPECT_GE(r.live_ns, 990 * MS);	/* round 0: 100000 pages, ~1 s */
	EXPECT_LE(r.live_ns, 1001 * MS);

	/* 50 ms: one more round: ~1000 pages, ~10 ms */
	bare_cfg(&c, 50 * MS, bw);
	ASSERT_EQ(0, km_predict(&in, &c, &r));
	EXPECT_TRUE(r.converges);
	EXPECT_EQ(2u, r.rounds);
	EXPECT_GE(r.final_pages, 980u);
	EXPECT_LE(r.final_pages, 1000u);

	/* 5 ms: ~100 pages, ~1 ms after round 2 */
	bare_cfg(&c, 5 * MS, bw);
	ASSERT_EQ(0, km_predict(&in, &c, &r));
	EXPECT_TRUE(r.converges);
	EXPECT_EQ(3u, r.rounds);
	EXPECT_LE(r.final_pages, 100u);
	EXPECT_LE(r.downtime_ns, 5 * MS);
	EXPECT_EQ(KMC_R_NONE, r.reason);
}

TEST_F(profile, a_rate_above_the_bandwidth_does_not_converge)
{
	const uint64_t bw = 1000ull * (KMP_PAGE_SIZE + KMP_GFN_SIZE);
	uint64_t ws[50];
	struct km_pred_input in = { .pop_pages = 5000, .ws = ws, .nws = 50,
				    .interval_ns = 100 * MS };
	struct km_pred_cfg c;
	struct kms_costs k;
	struct km_pred r;

	linear_ws(ws, 50, 2000, 100 * MS);	/* twice what the link sends */
	bare_cfg(&c, 300 * MS, bw);
	ASSERT_EQ(0, km_predict(&in, &c, &r));
	EXPECT_FALSE(r.converges);
	EXPECT_EQ(KMC_R_DIRTY_RATE, r.reason);
	EXPECT_EQ(0u, r.total_ns);
	/* a slow guest's switch-over (a trial pause of 2 + 8 + 2 ms, harvests
	 * of 1 ms, as measured): its fixed costs alone exceed 10 ms */
	kms_costs_estimate(&k, 2);
	k.pause_ns = 2 * MS;
	k.save_ns = k.load_ns = 8 * MS;
	k.resume_ns = 2 * MS;
	k.measured = true;
	km_pred_cfg_default(&c, 10 * MS, 10ull << 30, &k);
	ASSERT_EQ(0, km_predict(&in, &c, &r));
	EXPECT_FALSE(r.converges);
	EXPECT_EQ(KMC_R_FIXED_COSTS, r.reason);
	/* no bandwidth, no limit: refused */
	km_pred_cfg_default(&c, 10 * MS, 0, &k);
	EXPECT_EQ(-EINVAL, km_predict(&in, &c, &r));
}

TEST_F(profile, defaults_follow_the_source)
{
	struct km_pred_cfg c;
	struct kms_costs k;

	kms_costs_estimate(&k, 2);
	k.harvest_ns = 3 * MS;
	km_pred_cfg_default(&c, 300 * MS, 1ull << 30, &k);
	/* pause 1 + harvest 3 + save 3 + load 3 + resume 1 */
	EXPECT_EQ(11 * MS, c.kc.handoff_ns);
	EXPECT_EQ(1500000u, c.kc.rtt_ns);
	EXPECT_EQ(10u, c.kc.margin_pct);
	EXPECT_EQ(270 * MS, kmc_budget_ns(&c.kc));
	EXPECT_EQ(100 * MS, c.min_round_ns);
	EXPECT_EQ(1ull << 30, c.kc.bandwidth_cap);
}

TEST_HARNESS_MAIN
