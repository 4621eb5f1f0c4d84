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

TEST_HARNESS_MAIN
