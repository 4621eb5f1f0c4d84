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

TEST_HARNESS_MAIN
