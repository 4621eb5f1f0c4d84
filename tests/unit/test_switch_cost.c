// SPDX-License-Identifier: GPL-2.0
/* The switch-over's measured costs (tools/migrate/switch_cost.c) and the
 * decision they make (converge.c) on recorded rounds. */
#include <stdint.h>
#include <string.h>

#include "kselftest_harness.h"
#include "converge.h"
#include "proto.h"
#include "switch_cost.h"
#include "unit.h"

KM_SUITE(switch_cost);

#define US		1000ull
#define MS		1000000ull
#define SEC		1000000000ull

TEST_F(switch_cost, apply_sums_the_measured_parts)
{
	struct kms_costs k = {
		.pause_ns = 1200 * US, .harvest_ns = 400 * US, .save_ns = 2900 * US,
		.load_ns = 2900 * US, .resume_ns = 300 * US, .rtt_ns = 800 * US,
		.state_bytes = 21000, .stop_delay_ns = 20 * MS, .measured = true,
	};
	struct kmc_config c;

	kmc_config_default(&c, 50 * MS);
	kms_costs_apply(&k, &c);
	EXPECT_EQ(7700 * US, c.handoff_ns);
	EXPECT_EQ(1200 * US, c.rtt_ns);		/* END -> READY and half for COMMIT */
	EXPECT_EQ(21000u, c.state_bytes);
	EXPECT_EQ(20 * MS, c.stop_delay_ns);
	EXPECT_EQ(45 * MS, kmc_budget_ns(&c));	/* 10 % */
	kmc_config_default(&c, 5 * MS);
	kms_costs_apply(&k, &c);
	EXPECT_EQ(4 * MS, kmc_budget_ns(&c));	/* at least 1 ms */
}

TEST_F(switch_cost, estimate_before_the_trial)
{
	struct kms_costs k;

	kms_costs_estimate(&k, 2);
	EXPECT_FALSE(k.measured);
	EXPECT_EQ(3 * MS, k.save_ns);
	EXPECT_EQ(k.save_ns, k.load_ns);
	EXPECT_EQ(8192u * 2 + 16384, k.state_bytes);
	EXPECT_EQ(20 * MS, k.stop_delay_ns);
}

TEST_F(switch_cost, reachable_limit)
{
	struct kmc_config c;
	struct kms_costs k;

	kms_costs_estimate(&k, 2);
	kmc_config_default(&c, 10 * MS);
	kms_costs_apply(&k, &c);
	/* 8.3 ms: 10 % on top is 9.23, 1 ms on top 9.3: 10 ms */
	EXPECT_EQ(10 * MS, kms_limit_for_ns(&c, 8300 * US));
	/* 38 ms: / 0.9 = 42.3: 43 ms */
	EXPECT_EQ(43 * MS, kms_limit_for_ns(&c, 38 * MS));
	/* a limit's own budget fits its floor: no smaller limit is said */
	EXPECT_GE(kmc_budget_ns(&(struct kmc_config){ .downtime_limit_ns = 43 * MS,
			.margin_pct = c.margin_pct, .margin_min_ns = c.margin_min_ns }), 38 * MS);
	EXPECT_LT(kmc_budget_ns(&(struct kmc_config){ .downtime_limit_ns = 42 * MS,
			.margin_pct = c.margin_pct, .margin_min_ns = c.margin_min_ns }), 38 * MS);
	EXPECT_EQ(UINT64_MAX, kms_limit_for_ns(&c, UINT64_MAX));
}

/*
 * Rounds recorded in the lab (two 6.1 hosts under TCG, nested KVM, kernel
 * data path; tests/lab-migrate/downtime_test.sh, dt-ring-300: 64 MiB, 2
 * vCPUs writing 200 pages/s each, limit 300 ms), from the source's log:
 *
 *   trial pause: paused in 3.02 ms, state saved in 6.07 ms (15504 bytes),
 *     resumed in 10.17 ms
 *   round 0: 1854 pages, 7430 KiB in 4167 ms; 428 dirty; link 1783 KiB/s,
 *     rtt 21.02 ms; predicted pause 1034.4 ms (floor 72.4) of 270: continue
 *   round 1: 428 pages, 1715 KiB in 959 ms; 96 dirty; link 1785 KiB/s,
 *     rtt 20.48 ms; predicted pause 284.9 ms: continue
 *   round 2: 96 pages, 384 KiB in 101 ms (sent in 24); 46 dirty; link 8901
 *     KiB/s, rtt 12.20 ms; predicted pause 69.2 ms: stop-and-copy
 *   stop-and-copy: paused -> COMMIT written 32.4 ms, COMMIT's trip 3.05 ms
 *
 * The send and dirty intervals are those that reproduce the logged rates.
 */
struct rec_round {
	uint64_t kib, pages, ms, send_us, dirty, dirty_us, rtt_us;
};

static const struct rec_round ring300[] = {
	{ 7430, 1854, 4167, 4167000, 428, 4167000, 21020 },
	{ 1715,  428,  959,  960000,  96,  959000, 20480 },
	{  384,   96,  101,   24000,  46,  103000, 12200 },
};

static void rec_costs(struct kms_costs *k)
{
	memset(k, 0, sizeof(*k));
	k->pause_ns = 3020 * US;
	k->save_ns = k->load_ns = 6070 * US;
	k->resume_ns = 10170 * US;
	k->state_bytes = 15504;
	k->harvest_ns = 700 * US;	/* the final harvest then */
	k->stop_delay_ns = 20 * MS;
	k->measured = true;
}

/* Feeds the recorded rounds at @limit_ns; the verdict of each in @d. */
static void replay(uint64_t limit_ns, enum kmc_decision *d, uint64_t *pred_ns,
		   uint64_t *floor_ns)
{
	struct kmc_config c;
	struct kmc_state st;
	struct kmc_verdict v;
	struct kms_costs k;
	unsigned int i;

	rec_costs(&k);
	kmc_config_default(&c, limit_ns);
	c.min_rate_sample = 256 << 10;
	kmc_init(&st);
	for (i = 0; i < sizeof(ring300) / sizeof(ring300[0]); i++) {
		const struct rec_round *r = &ring300[i];
		struct kmc_round kr = {
			.bytes_sent = r->kib << 10, .pages_sent = r->pages,
			.duration_ns = r->ms * MS, .send_ns = r->send_us * US,
			.dirty_pages = r->dirty, .dirty_interval_ns = r->dirty_us * US,
		};

		k.rtt_ns = r->rtt_us * US;
		kms_costs_apply(&k, &c);
		d[i] = kmc_update(&st, &c, &kr, &v);
		pred_ns[i] = v.predicted_ns;
		floor_ns[i] = kms_floor_ns(&st, &c, v.rate);
		if (d[i] != KMC_CONTINUE)
			break;
	}
}

TEST_F(switch_cost, recorded_rounds_300ms_stop_after_round_2)
{
	enum kmc_decision d[3] = { KMC_CONTINUE, KMC_CONTINUE, KMC_CONTINUE };
	uint64_t pred[3] = { 0 }, fl[3] = { 0 };

	replay(300 * MS, d, pred, fl);
	EXPECT_EQ(KMC_CONTINUE, d[0]);
	EXPECT_EQ(KMC_CONTINUE, d[1]);
	EXPECT_EQ(KMC_STOP, d[2]);
	/* the source predicted 1034.4, 284.9 and 69.2 ms */
	EXPECT_GT(pred[0], 950 * MS);
	EXPECT_LT(pred[0], 1120 * MS);
	EXPECT_GT(pred[1], 270 * MS);
	EXPECT_LT(pred[1], 300 * MS);
	EXPECT_GT(pred[2], 60 * MS);
	EXPECT_LT(pred[2], 78 * MS);
	/* and not below what the source measured up to COMMIT and its trip */
	EXPECT_GT(pred[2], 32400 * US + 3050 * US);
	/* the floor it logged: 72.4, 69.4, 48.5 ms */
	EXPECT_GT(fl[0], 65 * MS);
	EXPECT_LT(fl[0], 80 * MS);
	EXPECT_GT(fl[2], 43 * MS);
	EXPECT_LT(fl[2], 54 * MS);
}

/* The same rounds at 50 ms: refused at once, before any pause, with the
 * limit they can reach (the floor, 72 ms, and the margin: ~81 ms). */
TEST_F(switch_cost, recorded_rounds_50ms_refused_with_the_reachable_limit)
{
	enum kmc_decision d[3] = { KMC_CONTINUE, KMC_CONTINUE, KMC_CONTINUE };
	uint64_t pred[3] = { 0 }, fl[3] = { 0 };
	struct kmc_config c;

	replay(50 * MS, d, pred, fl);
	EXPECT_EQ(KMC_NOT_CONVERGING, d[0]);
	kmc_config_default(&c, 50 * MS);
	{
		struct kms_costs k;

		rec_costs(&k);
		kms_costs_apply(&k, &c);
	}
	EXPECT_GE(kms_limit_for_ns(&c, fl[0]), 75 * MS);
	EXPECT_LE(kms_limit_for_ns(&c, fl[0]), 90 * MS);
	/* at 100 ms the same rounds go on, and stop */
	replay(100 * MS, d, pred, fl);
	EXPECT_EQ(KMC_CONTINUE, d[0]);
	EXPECT_EQ(KMC_STOP, d[2]);
}

TEST_HARNESS_MAIN
