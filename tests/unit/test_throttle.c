// SPDX-License-Identifier: GPL-2.0
/*
 * Throttle, don't fail (tools/migrate/throttle.c) on recorded rounds: a
 * guest whose vCPUs each dirty base[i] * speed[i] / 100 pages a second,
 * migrated over a link of a fixed rate in rounds of one second.
 */
#include <stdint.h>
#include <string.h>

#include "kselftest_harness.h"
#include "converge.h"
#include "proto.h"
#include "throttle.h"
#include "unit.h"

KM_SUITE(throttle);

#define MS		1000000ull
#define SEC		1000000000ull
#define LINK		125000000ull		/* 1 Gbit/s */
#define PAGE_WIRE	(KMP_PAGE_SIZE + KMP_GFN_SIZE)

struct sim {
	struct kmc_config c;
	struct kmc_state s;
	struct kmt_config tc;
	struct kmt_state t;
	struct kmc_verdict v;
	unsigned int n;
	uint64_t base[4];
	uint64_t dirty[4];	/* last round's, per vCPU */
	bool counts;		/* per-vCPU counts known (ring) */
	uint64_t pending;	/* dirty, to send next round */
};

static void sim_init(struct sim *m, unsigned int n, const uint64_t *base, bool counts)
{
	memset(m, 0, sizeof(*m));
	kmc_config_default(&m->c, 300 * MS);
	m->c.state_bytes = 64 << 10;
	m->c.handoff_ns = 5 * MS;
	m->c.rtt_ns = 200000;
	m->c.max_rounds = 0;
	kmc_init(&m->s);
	kmt_config_default(&m->tc);
	kmt_init(&m->t, n);
	m->n = n;
	memcpy(m->base, base, n * sizeof(*base));
	m->counts = counts;
}

/* One round: it sends the last round's dirty pages (the first: 1 GiB) at
 * the link's rate, in 100 ms at least, while the vCPUs dirty more. */
static enum kmc_decision sim_round(struct sim *m)
{
	uint64_t send = m->s.rounds ? m->pending : 262144, ns;
	struct kmc_round r = { .pages_sent = send, .bytes_sent = send * PAGE_WIRE };
	unsigned int i;

	ns = r.bytes_sent * (SEC / 1000) / (LINK / 1000);	/* no overflow */
	r.send_ns = ns;
	r.duration_ns = ns < 100 * MS ? 100 * MS : ns;
	m->pending = 0;
	for (i = 0; i < m->n; i++) {
		m->dirty[i] = m->base[i] * m->t.speed[i] / 100 * r.duration_ns / SEC;
		m->pending += m->dirty[i];
	}
	r.dirty_pages = m->pending;
	kmc_update(&m->s, &m->c, &r, &m->v);
	return kmt_update(&m->t, &m->tc, &m->s, &m->v, m->counts ? m->dirty : NULL);
}

TEST_F(throttle, defaults)
{
	struct kmt_config tc;
	struct kmt_state t;

	kmt_config_default(&tc);
	kmt_init(&t, 3);
	EXPECT_TRUE(tc.enabled);
	EXPECT_EQ(10u, tc.floor_pct);
	EXPECT_EQ(50u, tc.target_pct);
	EXPECT_EQ(100u, kmt_guest_speed(&t));
	EXPECT_STREQ("throttled to the floor, the guest still dirties memory too fast for the link",
		     kmc_reason_name(KMC_R_FLOOR));
}

/* --converge fail: today's behaviour, nothing throttled. */
TEST_F(throttle, disabled_fails_as_before)
{
	const uint64_t base[2] = { 40000, 40000 };
	struct sim m;
	int i;

	sim_init(&m, 2, base, true);
	m.tc.enabled = false;
	for (i = 0; i < 10 && sim_round(&m) == KMC_CONTINUE; i++)
		;
	EXPECT_EQ(KMC_NOT_CONVERGING, m.v.decision);
	EXPECT_EQ(KMC_R_DIRTY_RATE, m.v.reason);
	EXPECT_EQ(100u, m.t.speed[0]);
	EXPECT_EQ(100u, m.t.speed[1]);
	EXPECT_EQ(0u, m.t.steps);
}

/* Twice the link's rate: the throttle rises round by round (never falls)
 * until the guest converges, above the floor. */
TEST_F(throttle, rises_until_it_converges)
{
	const uint64_t base[2] = { 30000, 30000 };	/* ~2x the link */
	uint32_t last = 100;
	struct sim m;
	int i;

	sim_init(&m, 2, base, true);
	for (i = 0; i < 40 && sim_round(&m) == KMC_CONTINUE; i++) {
		EXPECT_LE(m.t.speed[0], last);
		if (m.t.changed)
			EXPECT_GT(last, m.t.speed[0]);
		EXPECT_GE(m.t.speed[0], last / 2);	/* at most halved a round */
		last = m.t.speed[0];
	}
	EXPECT_EQ(KMC_STOP, m.v.decision) TH_LOG("round %d, speed %u", i, m.t.speed[0]);
	EXPECT_LT(0u, m.t.steps);
	EXPECT_GT(100u, m.t.speed[0]);
	EXPECT_LE(m.tc.floor_pct, m.t.speed[0]);
	EXPECT_EQ(m.t.speed[0], m.t.speed[1]);	/* alike writers, alike throttle */
}

/* Far beyond the link even at the floor: it stops at the floor, gives it
 * floor_rounds more rounds, then fails naming the floor. */
TEST_F(throttle, stops_at_the_floor_then_fails)
{
	const uint64_t base[2] = { 400000, 400000 };
	struct sim m;
	int i;

	sim_init(&m, 2, base, true);
	m.tc.floor_pct = 25;
	for (i = 0; i < 40 && sim_round(&m) == KMC_CONTINUE; i++) {
		EXPECT_LE(25u, m.t.speed[0]);
		EXPECT_LE(25u, m.t.speed[1]);
	}
	EXPECT_EQ(KMC_NOT_CONVERGING, m.v.decision);
	EXPECT_EQ(KMC_R_FLOOR, m.v.reason);
	EXPECT_EQ(25u, m.t.speed[0]);
	EXPECT_EQ(25u, m.t.speed[1]);
	EXPECT_EQ(25u, kmt_guest_speed(&m.t));
	EXPECT_EQ(m.tc.floor_rounds + 1, m.t.rounds_at_floor);
	EXPECT_GT(20, i);	/* it gave up, not the loop */
}

/* A vCPU that dirties nothing is never throttled. */
TEST_F(throttle, idle_vcpu_never_throttled)
{
	const uint64_t base[3] = { 90000, 0, 0 };
	struct sim m;
	int i;

	sim_init(&m, 3, base, true);
	for (i = 0; i < 40 && sim_round(&m) == KMC_CONTINUE; i++) {
		EXPECT_EQ(100u, m.t.speed[1]);
		EXPECT_EQ(100u, m.t.speed[2]);
	}
	EXPECT_GT(100u, m.t.speed[0]);
	EXPECT_EQ(100u, m.t.speed[1]);
	EXPECT_EQ(100u, m.t.speed[2]);
}

/* The heaviest writer is slowed first; a light one is left alone. */
TEST_F(throttle, heaviest_first)
{
	const uint64_t base[2] = { 60000, 2000 };
	struct sim m;
	int i;

	sim_init(&m, 2, base, true);
	for (i = 0; i < 40 && sim_round(&m) == KMC_CONTINUE; i++)
		;
	EXPECT_EQ(KMC_STOP, m.v.decision);
	EXPECT_GT(100u, m.t.speed[0]);
	EXPECT_EQ(100u, m.t.speed[1]);
}

/* No per-vCPU counts (dirty bitmap, kernel data path): all alike. */
TEST_F(throttle, without_counts_all_alike)
{
	const uint64_t base[2] = { 60000, 4000 };
	struct sim m;
	int i;

	sim_init(&m, 2, base, false);
	for (i = 0; i < 40 && sim_round(&m) == KMC_CONTINUE; i++)
		EXPECT_EQ(m.t.speed[0], m.t.speed[1]);
	EXPECT_GT(100u, m.t.speed[1]);
}

/* Fixed costs over the limit: no throttle helps, it fails at once. */
TEST_F(throttle, fixed_costs_not_throttled)
{
	const uint64_t base[1] = { 90000 };
	struct sim m;

	sim_init(&m, 1, base, true);
	m.c.downtime_limit_ns = 2 * MS;	/* under handoff + rtt */
	EXPECT_EQ(KMC_NOT_CONVERGING, sim_round(&m));
	EXPECT_EQ(KMC_R_FIXED_COSTS, m.v.reason);
	EXPECT_EQ(100u, m.t.speed[0]);
}

/* A guest that converges by itself is never throttled. */
TEST_F(throttle, light_writer_untouched)
{
	const uint64_t base[2] = { 100, 100 };
	struct sim m;

	sim_init(&m, 2, base, true);
	EXPECT_EQ(KMC_STOP, sim_round(&m));
	EXPECT_EQ(100u, kmt_guest_speed(&m.t));
}


/* Once the heavy writer is at the floor, the next one makes up for it. */
TEST_F(throttle, next_writer_after_the_floor)
{
	const uint64_t base[2] = { 60000, 8000 };
	struct sim m;
	int i;

	sim_init(&m, 2, base, true);
	m.tc.floor_pct = 20;
	for (i = 0; i < 40 && sim_round(&m) == KMC_CONTINUE; i++)
		if (m.t.speed[1] < 100)
			EXPECT_EQ(20u, m.t.speed[0]);	/* only after the first */
	EXPECT_EQ(KMC_STOP, m.v.decision);
	EXPECT_EQ(20u, m.t.speed[0]);
	EXPECT_GT(100u, m.t.speed[1]);
	EXPECT_LE(20u, m.t.speed[1]);
}


/* At the floor, a dirty set that still shrinks each round is converging:
 * no round of it counts towards giving up. */
TEST_F(throttle, shrinking_at_the_floor_goes_on)
{
	struct kmc_verdict v;
	struct kmc_state s;
	struct kmt_config tc;
	struct kmt_state t;
	uint64_t dirty = 100000;
	int i;

	kmt_config_default(&tc);
	kmt_init(&t, 1);
	t.speed[0] = tc.floor_pct;
	kmc_init(&s);
	s.rounds = 5;
	s.dirty_rate = s.dirty_sample = 50000;
	for (i = 0; i < 10; i++) {
		memset(&v, 0, sizeof(v));
		v.decision = KMC_NOT_CONVERGING;
		v.reason = KMC_R_DIRTY_RATE;
		v.rate = LINK;
		v.dirty_bytes_rate = 50000 * PAGE_WIRE;
		v.remaining_pages = dirty;
		dirty = dirty * 8 / 10;
		EXPECT_EQ(KMC_CONTINUE, kmt_update(&t, &tc, &s, &v, NULL)) TH_LOG("round %d", i);
	}
	EXPECT_GE(1u, t.rounds_at_floor);	/* only the first, with nothing to compare */
	for (i = 0; i < 10 && kmt_update(&t, &tc, &s, &v, NULL) == KMC_CONTINUE; i++)
		v.decision = KMC_NOT_CONVERGING;	/* no longer shrinking */
	EXPECT_EQ(KMC_R_FLOOR, v.reason);
	EXPECT_EQ((int)tc.floor_rounds - 1, i);
}

TEST_HARNESS_MAIN
