// SPDX-License-Identifier: GPL-2.0
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "rate.h"

#define KM_RATE_MAX_DECIMALS	9

typedef unsigned __int128 km_u128;

__attribute__((format(printf, 4, 5)))
static int km_rate_fail(int err, char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return err;
}

static int km_rate_too_large(const char *s, char *why, size_t whylen)
{
	return km_rate_fail(-ERANGE, why, whylen,
			    "rate '%s' too large (at most %" PRIu64 " bytes/s)",
			    s, UINT64_MAX);
}

static int km_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Parses "DIGITS[.DIGITS]"; *@scale becomes 10^(number of decimals). */
static int km_rate_number(const char **pp, uint64_t *whole, uint64_t *frac,
			  uint64_t *scale, char *why, size_t whylen)
{
	const char *p = *pp;
	unsigned int decimals = 0;

	*whole = 0;
	*frac = 0;
	*scale = 1;
	for (; km_digit(*p); p++) {
		unsigned int d = (unsigned int)(*p - '0');

		if (*whole > (UINT64_MAX - d) / 10)
			return km_rate_too_large(*pp, why, whylen);
		*whole = *whole * 10 + d;
	}
	if (*p == '.') {
		if (!km_digit(*++p))
			return km_rate_fail(-EINVAL, why, whylen,
					    "missing digits after '.'");
		for (; km_digit(*p); p++) {
			if (++decimals > KM_RATE_MAX_DECIMALS)
				return km_rate_fail(-EINVAL, why, whylen,
						    "too many decimal places (at most %d)",
						    KM_RATE_MAX_DECIMALS);
			*frac = *frac * 10 + (uint64_t)(*p - '0');
			*scale *= 10;
		}
	}
	*pp = p;
	return 0;
}

/*
 * Parses UNIT (without "/s") of length @n: *@mul bytes per unit, divided
 * by *@div (8 for bit units).
 */
static int km_rate_unit(const char *u, size_t n, uint64_t *mul,
			unsigned int *div, char *why, size_t whylen)
{
	static const char prefixes[] = "kmgt";
	const char *prefix = n ? strchr(prefixes, tolower((unsigned char)u[0])) : NULL;
	uint64_t base = 1000;
	unsigned int power = 0;
	size_t i = 0;

	if (prefix && *prefix) {
		power = (unsigned int)(prefix - prefixes) + 1;
		i++;
		if (i < n && tolower((unsigned char)u[i]) == 'i') {
			base = 1024;
			i++;
		}
	}
	*mul = 1;
	while (power--)
		*mul *= base;
	*div = 1;
	if (i == n || (n - i == 1 && u[i] == 'B'))
		return 0;
	if (n - i == 3 && !strncasecmp(u + i, "bit", 3)) {
		*div = 8;
		return 0;
	}
	if (n - i == 1 && u[i] == 'b')
		return km_rate_fail(-EINVAL, why, whylen,
				    "ambiguous unit '%s': write 'B' for bytes or 'bit' for bits", u);
	return km_rate_fail(-EINVAL, why, whylen,
			    "unknown unit '%s' (use B, K, M, G, T, KiB, MiB, GiB, TiB, kbit, mbit, gbit, optionally followed by /s)",
			    u);
}

int km_rate_parse(const char *s, uint64_t *bps, char *why, size_t whylen)
{
	uint64_t whole, frac, scale, mul;
	unsigned int div;
	const char *p = s;
	size_t n;
	km_u128 total;
	int err;

	if (!*s)
		return km_rate_fail(-EINVAL, why, whylen, "empty rate");
	if (!strcasecmp(s, "unlimited")) {
		*bps = 0;
		return 0;
	}
	if (*s == '-')
		return km_rate_fail(-ERANGE, why, whylen,
				    "negative rate '%s'", s);
	if (!km_digit(*s))
		return km_rate_fail(-EINVAL, why, whylen,
				    "'%s' is not a number", s);
	err = km_rate_number(&p, &whole, &frac, &scale, why, whylen);
	if (err)
		return err;
	if (*p == ' ' && p[1])
		p++;
	n = strlen(p);
	if (n >= 2 && !strcmp(p + n - 2, "/s"))
		n -= 2;
	err = km_rate_unit(p, n, &mul, &div, why, whylen);
	if (err)
		return err;

	total = ((km_u128)whole * mul + (km_u128)frac * mul / scale) / div;
	if (total > UINT64_MAX)
		return km_rate_too_large(s, why, whylen);
	if (!total && (whole || frac))
		return km_rate_fail(-ERANGE, why, whylen,
				    "rate '%s' is below 1 byte/s (use 0 or 'unlimited' for no cap)", s);
	*bps = (uint64_t)total;
	return 0;
}

struct km_rate_unit {
	const char *name;
	uint64_t size;
	int si;
};

/* Largest first; the SI ones also serve the approximate form. */
static const struct km_rate_unit km_units[] = {
	{ "TiB", 1ULL << 40, 0 },
	{ "TB", 1000000000000ULL, 1 },
	{ "GiB", 1ULL << 30, 0 },
	{ "GB", 1000000000ULL, 1 },
	{ "MiB", 1ULL << 20, 0 },
	{ "MB", 1000000ULL, 1 },
	{ "KiB", 1ULL << 10, 0 },
	{ "kB", 1000ULL, 1 },
};

#define KM_NUNITS	(sizeof(km_units) / sizeof(km_units[0]))

/* An exact "N UNIT" with N below 1000 (any N for the largest units). */
static const struct km_rate_unit *km_rate_exact(uint64_t bps)
{
	size_t i;

	for (i = 0; i < KM_NUNITS; i++) {
		const struct km_rate_unit *u = &km_units[i];

		if (bps >= u->size && !(bps % u->size) &&
		    (bps / u->size < 1000 || i < 2))
			return u;
	}
	return NULL;
}

/* @bps (>= 1000) in thousandths of the largest SI unit not above it. */
static void km_rate_approx(uint64_t bps, char *buf, size_t len)
{
	const struct km_rate_unit *u;
	uint64_t q, milli;
	size_t i = 0;
	int decimals;

	while (!km_units[i].si || bps < km_units[i].size)
		i++;
	u = &km_units[i];
	q = bps / u->size;
	milli = ((bps % u->size) * 1000 + u->size / 2) / u->size;
	if (milli == 1000) {
		q++;
		milli = 0;
	}
	if (q == 1000 && i >= 2) {
		u = &km_units[i - 2];	/* rounded up into the next SI unit */
		q = 1;
	}
	if (!milli) {
		snprintf(buf, len, "%" PRIu64 " %s/s", q, u->name);
		return;
	}
	/* Without trailing zeros: 1.5, 1.25, 1.125 */
	decimals = milli % 10 ? 3 : milli % 100 ? 2 : 1;
	snprintf(buf, len, "%" PRIu64 ".%0*" PRIu64 " %s/s", q, decimals,
		 milli / (decimals == 3 ? 1 : decimals == 2 ? 10 : 100), u->name);
}

char *km_rate_format(uint64_t bps, char *buf, size_t len)
{
	const struct km_rate_unit *u;
	char text[KM_RATE_STRLEN];

	if (!bps)
		snprintf(text, sizeof(text), "unlimited");
	else if (bps < 1000)
		snprintf(text, sizeof(text), "%" PRIu64 " B/s", bps);
	else if ((u = km_rate_exact(bps)))
		snprintf(text, sizeof(text), "%" PRIu64 " %s/s", bps / u->size, u->name);
	else
		km_rate_approx(bps, text, sizeof(text));
	if (len)
		snprintf(buf, len, "%s", text);
	return buf;
}

uint64_t km_bucket_depth(uint64_t rate)
{
	uint64_t depth = rate / KM_BUCKET_DEPTH_DIV;

	return depth > KM_BUCKET_DEPTH_MIN ? depth : KM_BUCKET_DEPTH_MIN;
}

uint64_t km_bucket_charge(struct km_bucket *b, uint64_t rate, uint64_t now_ns,
			  uint64_t bytes)
{
	int64_t depth;

	if (!rate) {
		memset(b, 0, sizeof(*b));
		return 0;
	}
	depth = (int64_t)km_bucket_depth(rate);
	if (!b->rate) {
		b->tokens = depth;
	} else if (now_ns > b->t_ns) {
		km_u128 add = (km_u128)(now_ns - b->t_ns) * b->rate / 1000000000u;

		/* no overflow: anything above 2 * depth is clamped below anyway */
		b->tokens += add > (km_u128)depth * 2 ? depth * 2 : (int64_t)add;
	}
	if (b->tokens > depth)
		b->tokens = depth;
	b->rate = rate;
	if (now_ns > b->t_ns || !b->t_ns)
		b->t_ns = now_ns;
	b->tokens -= bytes > (uint64_t)INT64_MAX / 2 ? INT64_MAX / 2 : (int64_t)bytes;
	if (b->tokens >= 0)
		return 0;
	return (uint64_t)((km_u128)(uint64_t)-b->tokens * 1000000000u / rate);
}
