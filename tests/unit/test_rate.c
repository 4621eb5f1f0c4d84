// SPDX-License-Identifier: GPL-2.0
/* Rate parsing and formatting (tools/lib/rate.c). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "kselftest_harness.h"
#include "rate.h"
#include "unit.h"

KM_SUITE(rate);

struct rate_ok {
	const char *in;
	uint64_t bps;
};

static const struct rate_ok rate_ok_cases[] = {
	{ "0", 0 },
	{ "0.0", 0 },
	{ "0K", 0 },
	{ "unlimited", 0 },
	{ "Unlimited", 0 },
	{ "1", 1 },
	{ "1B", 1 },
	{ "1B/s", 1 },
	{ "1/s", 1 },
	{ "1000", 1000 },
	{ "1K", 1000 },
	{ "1k", 1000 },
	{ "1KB", 1000 },
	{ "1kB/s", 1000 },
	{ "1Ki", 1024 },
	{ "1KiB", 1024 },
	{ "1KIB", 1024 },
	{ "2M", 2000000 },
	{ "2MB/s", 2000000 },
	{ "2MiB/s", 2097152 },
	{ "1.5G", 1500000000 },
	{ "1.5GiB", 1610612736 },
	{ "1T", 1000000000000ULL },
	{ "1TiB", 1ULL << 40 },
	{ "0.5K", 500 },
	{ "0.001K", 1 },
	{ "1.999999999", 1 },			/* rounded down */
	{ "125 MB/s", 125000000 },		/* one space, as printed */
	{ "8bit", 1 },
	{ "1kbit", 125 },
	{ "1mbit", 125000 },
	{ "10gbit", 1250000000 },
	{ "10Gbit/s", 1250000000 },
	{ "10GBIT", 1250000000 },
	{ "1tbit", 125000000000ULL },
	{ "1kibit", 128 },
	{ "18446744073709551615", UINT64_MAX },
	{ "18446744073709551615B/s", UINT64_MAX },
	{ "16777215TiB", 16777215ULL << 40 },
	{ "18446744073.70955161G", 18446744073709551610ULL },
};

struct rate_bad {
	const char *in;
	int err;
	const char *why;	/* part of the reason */
};

static const struct rate_bad rate_bad_cases[] = {
	{ "", -EINVAL, "empty" },
	{ "-1", -ERANGE, "negative" },
	{ "-0", -ERANGE, "negative" },
	{ "+1", -EINVAL, "not a number" },
	{ " 1", -EINVAL, "not a number" },
	{ "abc", -EINVAL, "not a number" },
	{ ".5", -EINVAL, "not a number" },
	{ "unlimitedx", -EINVAL, "not a number" },
	{ "/s", -EINVAL, "not a number" },
	{ "1.", -EINVAL, "missing digits" },
	{ "1..5", -EINVAL, "missing digits" },
	{ "1.0000000001", -EINVAL, "decimal places" },
	{ "1x", -EINVAL, "unknown unit 'x'" },
	{ "1 ", -EINVAL, "unknown unit ' '" },
	{ "1  M", -EINVAL, "unknown unit ' M'" },
	{ "1e9", -EINVAL, "unknown unit 'e9'" },
	{ "0x10", -EINVAL, "unknown unit 'x10'" },
	{ "1iB", -EINVAL, "unknown unit" },
	{ "1KBB", -EINVAL, "unknown unit" },
	{ "1P", -EINVAL, "unknown unit" },
	{ "1/S", -EINVAL, "unknown unit" },
	{ "1/s/s", -EINVAL, "unknown unit" },
	{ "1b", -EINVAL, "ambiguous" },
	{ "1Mb", -EINVAL, "ambiguous" },
	{ "1mb/s", -EINVAL, "ambiguous" },
	{ "1Kib", -EINVAL, "ambiguous" },
	{ "18446744073709551616", -ERANGE, "too large" },
	{ "99999999999999999999999", -ERANGE, "too large" },
	{ "16777216TiB", -ERANGE, "too large" },
	{ "18446744073.709551616G", -ERANGE, "too large" },
	{ "147573952589676412920bit", -ERANGE, "too large" },	/* number > 2^64 */
	{ "0.1", -ERANGE, "below 1 byte/s" },
	{ "1bit", -ERANGE, "below 1 byte/s" },
	{ "0.000000001", -ERANGE, "below 1 byte/s" },
};

TEST_F(rate, parse_valid)
{
	size_t i;

	for (i = 0; i < KM_ARRAY_SIZE(rate_ok_cases); i++) {
		const struct rate_ok *c = &rate_ok_cases[i];
		uint64_t bps = 12345;
		char why[256] = "";

		EXPECT_EQ(0, km_rate_parse(c->in, &bps, why, sizeof(why)))
			TH_LOG("'%s' refused: %s", c->in, why);
		EXPECT_EQ(c->bps, bps) TH_LOG("'%s'", c->in);
	}
}

TEST_F(rate, parse_invalid)
{
	size_t i;

	for (i = 0; i < KM_ARRAY_SIZE(rate_bad_cases); i++) {
		const struct rate_bad *c = &rate_bad_cases[i];
		uint64_t bps = 12345;
		char why[256] = "";

		EXPECT_EQ(c->err, km_rate_parse(c->in, &bps, why, sizeof(why)))
			TH_LOG("'%s' (why: %s)", c->in, why);
		EXPECT_TRUE(km_contains(why, c->why))
			TH_LOG("'%s': reason '%s' lacks '%s'", c->in, why, c->why);
		EXPECT_EQ(12345, bps) TH_LOG("'%s' changed the output", c->in);
	}
}

TEST_F(rate, parse_reason_names_input)
{
	char why[256];
	uint64_t bps;

	ASSERT_EQ(-ERANGE, km_rate_parse("99999999999999999999G", &bps, why, sizeof(why)));
	EXPECT_TRUE(km_contains(why, "'99999999999999999999G'")) TH_LOG("%s", why);
	EXPECT_TRUE(km_contains(why, "18446744073709551615")) TH_LOG("%s", why);
	/* A short reason buffer is truncated, never overrun. */
	ASSERT_EQ(-EINVAL, km_rate_parse("1zz", &bps, why, 8));
	EXPECT_EQ(7, strlen(why));
}

struct rate_fmt {
	uint64_t bps;
	const char *text;
	bool exact;		/* reads back as @bps */
};

static const struct rate_fmt rate_fmt_cases[] = {
	{ 0, "unlimited", true },
	{ 1, "1 B/s", true },
	{ 999, "999 B/s", true },
	{ 1000, "1 kB/s", true },
	{ 1001, "1.001 kB/s", true },
	{ 1024, "1 KiB/s", true },
	{ 1500, "1.5 kB/s", true },
	{ 2000, "2 kB/s", true },
	{ 3072, "3 KiB/s", true },
	{ 1048576, "1 MiB/s", true },
	{ 1024000, "1.024 MB/s", true },
	{ 1000500, "1.001 MB/s", false },	/* 1.0005: half rounds up */
	{ 1234567, "1.235 MB/s", false },
	{ 999499, "999.499 kB/s", true },
	{ 999999, "999.999 kB/s", true },
	{ 999999500, "1 GB/s", false },		/* 999.9995 MB rounds into GB */
	{ 125000000, "125 MB/s", true },
	{ 1250000000, "1.25 GB/s", true },
	{ 1073741824, "1 GiB/s", true },
	{ 1000000000000ULL, "1 TB/s", true },
	{ 1ULL << 40, "1 TiB/s", true },
	{ 5000ULL << 40, "5000 TiB/s", true },
	{ 18446744073123456789ULL, "18446744.073 TB/s", false },
	{ UINT64_MAX, "18446744.074 TB/s", false },	/* reads back too large */
};

TEST_F(rate, format)
{
	char buf[KM_RATE_STRLEN];
	size_t i;

	for (i = 0; i < KM_ARRAY_SIZE(rate_fmt_cases); i++) {
		const struct rate_fmt *c = &rate_fmt_cases[i];

		memset(buf, 'X', sizeof(buf));
		EXPECT_EQ((char *)buf, km_rate_format(c->bps, buf, sizeof(buf)));
		EXPECT_STREQ(c->text, buf) TH_LOG("%llu", (unsigned long long)c->bps);
	}
}

TEST_F(rate, format_small_buffer)
{
	char buf[8];

	memset(buf, 'X', sizeof(buf));
	km_rate_format(1234567, buf, 5);
	EXPECT_STREQ("1.23", buf);
	EXPECT_EQ('X', buf[5]);
	km_rate_format(1234567, buf, 1);
	EXPECT_STREQ("", buf);
	km_rate_format(1234567, buf, 0);	/* writes nothing */
	EXPECT_STREQ("", buf);
}

/* What is printed reads back: to the same value when it is exact. */
TEST_F(rate, format_parse_round_trip)
{
	char buf[KM_RATE_STRLEN], why[256];
	uint64_t bps;
	size_t i;

	for (i = 0; i < KM_ARRAY_SIZE(rate_fmt_cases); i++) {
		const struct rate_fmt *c = &rate_fmt_cases[i];

		km_rate_format(c->bps, buf, sizeof(buf));
		if (c->bps == UINT64_MAX) {
			EXPECT_EQ(-ERANGE, km_rate_parse(buf, &bps, why, sizeof(why)));
			continue;
		}
		ASSERT_EQ(0, km_rate_parse(buf, &bps, why, sizeof(why)))
			TH_LOG("'%s': %s", buf, why);
		if (c->exact) {
			EXPECT_EQ(c->bps, bps) TH_LOG("'%s'", buf);
		} else {
			EXPECT_NE(c->bps, bps) TH_LOG("'%s' is marked approximate", buf);
		}
	}
}

/* ------------------------------------------------ km_bucket (pacing) -- */

#define NS	1000000000ULL

/*
 * A sender that writes @chunk bytes whenever the bucket lets it, over
 * @secs seconds, stalling for @stall_ns every @stall_every_ns (a harvest);
 * the cap changes to @rate2 at @t_change_ns.  Records the bytes of every
 * sliding one-second window (10 ms steps) that lies entirely in one cap's
 * time, after that cap's first second; returns the largest and smallest
 * ratio to the cap, in permille.
 */
struct bucket_sim {
	uint64_t rate, rate2, t_change_ns, chunk, stall_ns, stall_every_ns;
	unsigned int secs;
	unsigned int max_pm, min_pm;
};

static void bucket_simulate(struct bucket_sim *sim)
{
	static uint64_t sent_at[2001];	/* cumulative bytes at 10 ms ticks */
	struct km_bucket b = { 0 };
	uint64_t t = 0, bytes = 0, next_stall = sim->stall_every_ns;
	unsigned int tick = 0, i;

	sim->max_pm = 0;
	sim->min_pm = UINT32_MAX;
	while (tick <= sim->secs * 100u) {
		uint64_t rate = t >= sim->t_change_ns ? sim->rate2 : sim->rate;
		uint64_t wait;

		while (tick <= sim->secs * 100u && t >= tick * 10000000ULL)
			sent_at[tick++] = bytes;
		if (sim->stall_every_ns && t >= next_stall) {
			t += sim->stall_ns;
			next_stall += sim->stall_every_ns;
			continue;
		}
		bytes += sim->chunk;
		wait = km_bucket_charge(&b, rate, t, sim->chunk);
		t += 1000;	/* the write itself: 1 us */
		while (wait) {
			t += wait;
			wait = km_bucket_charge(&b, t >= sim->t_change_ns ? sim->rate2 : sim->rate,
						t, 0);
		}
	}
	for (i = 100; i + 100 <= sim->secs * 100u; i++) {
		uint64_t w0 = i * 10000000ULL, w1 = w0 + NS, rate, pm;

		if (w0 < sim->t_change_ns && w1 > sim->t_change_ns)
			continue;	/* straddles the change */
		if (w0 >= sim->t_change_ns && w0 < sim->t_change_ns + NS)
			continue;	/* the new cap's first second */
		rate = w0 >= sim->t_change_ns ? sim->rate2 : sim->rate;
		pm = (sent_at[i + 100] - sent_at[i]) * 1000 / rate;
		if (pm > sim->max_pm)
			sim->max_pm = (unsigned int)pm;
		if (pm < sim->min_pm)
			sim->min_pm = (unsigned int)pm;
	}
}

TEST_F(rate, bucket_depth)
{
	EXPECT_EQ(KM_BUCKET_DEPTH_MIN, km_bucket_depth(1));
	EXPECT_EQ(KM_BUCKET_DEPTH_MIN, km_bucket_depth(1 << 20));
	EXPECT_EQ((16ULL << 20) / 20, km_bucket_depth(16 << 20));
	EXPECT_EQ((1ULL << 30) / 20, km_bucket_depth(1ULL << 30));
}

/* No cap: never waits, and forgets the state. */
TEST_F(rate, bucket_unlimited)
{
	struct km_bucket b = { 0 };

	EXPECT_EQ(0, km_bucket_charge(&b, 0, 1, 1ULL << 40));
	EXPECT_NE(0, km_bucket_charge(&b, 1 << 20, 2, 4 << 20));
	EXPECT_EQ(0, km_bucket_charge(&b, 0, 3, 1ULL << 40));
	EXPECT_EQ(0, b.rate);
	EXPECT_EQ(0, b.tokens);
}

/* A full bucket lets its depth go at once, then the debt is paid at the cap. */
TEST_F(rate, bucket_debt)
{
	struct km_bucket b = { 0 };
	uint64_t rate = 16 << 20, depth = km_bucket_depth(rate);

	EXPECT_EQ(0, km_bucket_charge(&b, rate, NS, depth));
	/* 1 MiB more at 16 MiB/s: 62.5 ms */
	EXPECT_EQ(62500000, km_bucket_charge(&b, rate, NS, 1 << 20));
	/* half of it later: half of the debt left */
	EXPECT_EQ(31250000, km_bucket_charge(&b, rate, NS + 31250000, 0));
	EXPECT_EQ(0, km_bucket_charge(&b, rate, NS + 62500000, 0));
}

/* An idle spell refills at most the depth: no burst of the time lost. */
TEST_F(rate, bucket_idle_no_burst)
{
	struct km_bucket b = { 0 };
	uint64_t rate = 16 << 20, depth = km_bucket_depth(rate);

	km_bucket_charge(&b, rate, NS, depth);
	EXPECT_EQ(0, km_bucket_charge(&b, rate, 10 * NS, 0));
	EXPECT_EQ((int64_t)depth, b.tokens);
	EXPECT_NE(0, km_bucket_charge(&b, rate, 10 * NS, depth + 4096));
}

/* Every one-second window within 10 % of the cap, through stalls and a change. */
TEST_F(rate, bucket_windows_within_10pct)
{
	static const struct bucket_sim cases[] = {
		/* steady 256 KiB writes */
		{ 16 << 20, 16 << 20, UINT64_MAX, 256 << 10, 0, 0, 8, 0, 0 },
		/* 16 -> 32 MiB/s at 5 s, 40 ms stall every 300 ms (harvests) */
		{ 16 << 20, 32 << 20, 5 * NS, 512 << 10, 40000000, 300000000, 12, 0, 0 },
		/* 32 -> 16 MiB/s at 4.5 s, 1 MiB writes, 200 ms stall every 1.5 s */
		{ 32 << 20, 16 << 20, 4500000000ULL, 1 << 20, 200000000, 1500000000, 12, 0, 0 },
		/* 1 GiB/s, 1 MiB writes, 30 ms stalls every 500 ms */
		{ 1ULL << 30, 1ULL << 30, UINT64_MAX, 1 << 20, 30000000, 500000000, 6, 0, 0 },
	};
	size_t i;

	for (i = 0; i < KM_ARRAY_SIZE(cases); i++) {
		struct bucket_sim sim = cases[i];

		bucket_simulate(&sim);
		EXPECT_LE(sim.max_pm, 1100) TH_LOG("case %zu: a window at %u permille", i, sim.max_pm);
		/* a stall longer than the bucket (50 ms) loses the rest */
		if (sim.stall_ns <= 50000000) {
			EXPECT_GE(sim.min_pm, 900) TH_LOG("case %zu: a window at %u permille",
							  i, sim.min_pm);
		}
	}
}

TEST_HARNESS_MAIN
