// SPDX-License-Identifier: GPL-2.0
/*
 * kmagent mem: a memory writer for migration tests, in the way of the KVM
 * selftest dirty_log_test: it writes pages of a working set at a set rate
 * in a pseudo-random order, stamps each with a global write sequence, and
 * keeps the sequence it last wrote to each page in a second array.  A
 * verification pass (at every report and at the end) compares every page
 * with that array: a page a migration lost (an old copy on the
 * destination) or tore shows up as "bad".
 *
 * Stamp of page I written as write S (64-bit words): word 0 = S, word 1 =
 * I ^ M1, word 256 = mix(S ^ I), the last two = I ^ M2, S.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "agent.h"

#define PAGE		4096u
#define WORDS		(PAGE / 8)
#define M1		0x4b4d41474d454d31ull	/* "KMAGMEM1" */
#define M2		0x4b4d41474d454d32ull

struct mem {
	uint64_t *base;		/* pages * WORDS words */
	uint64_t *want;		/* the sequence last written to each page */
	uint64_t pages;
	uint64_t seq;		/* writes so far */
	uint64_t rng;
	uint64_t bad_total;
};

static void mem_stamp(struct mem *m, uint64_t i, uint64_t s)
{
	uint64_t *p = m->base + i * WORDS;

	p[0] = s;
	p[1] = i ^ M1;
	p[256] = ag_mix64(s ^ i);
	p[WORDS - 2] = i ^ M2;
	p[WORDS - 1] = s;
	m->want[i] = s;
}

static uint64_t mem_next_page(struct mem *m)
{
	m->rng ^= m->rng << 13;	/* xorshift64 */
	m->rng ^= m->rng >> 7;
	m->rng ^= m->rng << 17;
	return m->rng % m->pages;
}

/* Every page against its expected stamp; prints the first few bad ones. */
static uint64_t mem_verify(struct mem *m)
{
	uint64_t i, bad = 0;

	for (i = 0; i < m->pages; i++) {
		const uint64_t *p = m->base + i * WORDS;
		uint64_t s = m->want[i];

		if (p[0] == s && p[1] == (i ^ M1) && p[256] == ag_mix64(s ^ i) &&
		    p[WORDS - 2] == (i ^ M2) && p[WORDS - 1] == s)
			continue;
		if (bad++ < 8)
			printf("KMAGENT mem bad page=%" PRIu64 " want=%" PRIu64 " got=%" PRIu64
			       ",%" PRIu64 "\n", i, s, p[0], p[WORDS - 1]);
	}
	return bad;
}

int ag_mem_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mib", required_argument, NULL, 'm' },
		{ "rate", required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 's' },
		{ "report-ms", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t mib = 64, rate = 10000, seconds = 0, report_ms = 1000;
	uint64_t start, now, next_report, last_seq = 0, last_t, end, i, bad, t_begin;
	struct mem m = { .rng = 0x9e3779b97f4a7c15ull };
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (!ag_num("--mib", optarg, 1, 1 << 20, false, &mib))
				return AG_USAGE;
			break;
		case 'r':
			if (!ag_num("--rate", optarg, 0, 100000000, false, &rate))
				return AG_USAGE;
			break;
		case 's':
			if (!ag_num("--seconds", optarg, 0, 86400 * 365, false, &seconds))
				return AG_USAGE;
			break;
		case 'p':
			if (!ag_num("--report-ms", optarg, 10, 3600000, false, &report_ms))
				return AG_USAGE;
			break;
		default:
			return AG_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "kmagent mem: unexpected argument '%s'\n", argv[optind]);
		return AG_USAGE;
	}
	m.pages = mib * (1024 * 1024 / PAGE);
	m.base = mmap(NULL, m.pages * PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	m.want = calloc(m.pages, sizeof(*m.want));
	if (m.base == MAP_FAILED || !m.want) {
		printf("KMAGENT mem error=no-memory mib=%" PRIu64 "\n", mib);
		return AG_SYS;
	}
	for (i = 0; i < m.pages; i++)
		mem_stamp(&m, i, 0);
	ag_catch_stop();
	printf("KMAGENT mem start mib=%" PRIu64 " pages=%" PRIu64 " rate=%" PRIu64 "\n", mib,
	       m.pages, rate);
	start = last_t = t_begin = ag_now_ns();
	next_report = start + report_ms * 1000000ull;
	end = seconds ? start + seconds * 1000000000ull : UINT64_MAX;
	while (!ag_stop) {
		uint64_t target, batch;

		now = ag_now_ns();
		if (now >= end)
			break;
		if (now >= next_report) {
			bad = mem_verify(&m);
			m.bad_total += bad;
			printf("KMAGENT mem t=%.3f writes=%" PRIu64 " rate=%.0f pages=%" PRIu64
			       " bad=%" PRIu64 "\n", (double)(now - t_begin) / 1e9, m.seq,
			       (double)(m.seq - last_seq) * 1e9 / (double)(now - last_t), m.pages,
			       bad);
			last_seq = m.seq;
			last_t = now;
			next_report += report_ms * 1000000ull;
			if (next_report <= now)
				next_report = now + report_ms * 1000000ull;
			continue;
		}
		/* the writes due by now (all of a 1 ms slice when unlimited) */
		target = rate ? (uint64_t)((double)rate * (double)(now - start) / 1e9) : UINT64_MAX;
		if (rate && target > m.seq + rate / 10 + 1) {
			/* behind by more than 100 ms (the guest was paused, a verify
			 * pass): go on at the rate from here, no burst */
			start = now - (uint64_t)((double)m.seq * 1e9 / (double)rate);
			target = m.seq;
		}
		for (batch = 0; m.seq < target && batch < 65536; batch++) {
			mem_stamp(&m, mem_next_page(&m), m.seq + 1);
			m.seq++;
			if (!rate && !(batch & 255) && ag_now_ns() - now > 1000000)
				break;
		}
		if (rate && m.seq >= target) {
			uint64_t step = rate / 1000 ? rate / 1000 : 1;
			uint64_t t = start + (uint64_t)((double)(m.seq + step) * 1e9 / (double)rate);

			ag_sleep_until(t < next_report ? t : next_report);
		}
	}
	bad = mem_verify(&m);
	m.bad_total += bad;
	printf("KMAGENT mem done writes=%" PRIu64 " pages=%" PRIu64 " bad=%" PRIu64
	       " bad_total=%" PRIu64 "\n", m.seq, m.pages, bad, m.bad_total);
	return m.bad_total ? AG_FAIL : AG_OK;
}
