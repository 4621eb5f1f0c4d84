// SPDX-License-Identifier: GPL-2.0
/*
 * What a hostile peer sends the migration decoder (tools/migrate/proto_dec.c):
 * each finding of the receiver's fuzzer (tests/fuzz/fuzz_recv.c) as a test,
 * and the bounds a network can push on (slow drip, huge declared lengths,
 * a stream that never ends) checked where that is cheap.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"
#include "dest.h"
#include "proto.h"
#include "unit.h"

KM_SUITE(proto_hostile);

struct seen {
	int aborts, errors, states;
	struct kmp_error err;
	size_t state_len;
};

static int h_abort(void *o, const struct kmp_error *e)
{
	struct seen *s = o;

	s->aborts++;
	s->err = *e;
	return 0;
}

static int h_error(void *o, const struct kmp_error *e)
{
	struct seen *s = o;

	s->errors++;
	s->err = *e;
	return 0;
}

static const struct kmp_dec_ops h_ops = { .abort = h_abort, .error = h_error };

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A record header as the wire has it (docs/PROTOCOL.md, Framing). */
static void hdr(uint8_t *p, uint16_t type, uint16_t flags, uint32_t length, uint32_t count)
{
	put32(p, KMP_REC_MAGIC);
	p[4] = (uint8_t)type;
	p[5] = (uint8_t)(type >> 8);
	p[6] = (uint8_t)flags;
	p[7] = (uint8_t)(flags >> 8);
	put32(p + 8, length);
	put32(p + 12, count);
}

/* An ERROR or ABORT record carrying @msg (@n bytes) raw. */
static size_t err_rec(uint8_t *buf, uint16_t type, const char *msg, size_t n)
{
	hdr(buf, type, 0, (uint32_t)(KMP_ERROR_FIXED + n), 0);
	put32(buf + 16, KMP_E_ABORTED);
	put32(buf + 20, 0);
	memcpy(buf + 24, msg, n);
	return 24 + n;
}

/*
 * Finding 1 (fuzz_recv: "fz_msg_ok(e->msg) does not hold"): an ABORT's or
 * ERROR's message reached the handlers, and from there the listener's log
 * and the operator's terminal, with control bytes in it.  Now ESC, CR, DEL
 * and the like arrive as '?'; newline and tab stay (a pre-flight refusal
 * has one check per line).
 */
TEST_F(proto_hostile, message_control_bytes_are_neutralised)
{
	static const char bad[] = "a\x1b[2Jb\rforged\x01\x7f\n\tc";
	static const char want[] = "a?[2Jb?forged??\n\tc";
	uint8_t buf[64];
	struct seen s = { 0 };
	struct kmp_dec *d;
	size_t n;

	/* ABORT, from a source */
	n = err_rec(buf, KMP_T_ABORT, bad, sizeof(bad) - 1);
	d = kmp_dec_new(KMP_DIR_SOURCE, &h_ops, &s);
	ASSERT_NE(NULL, d);
	EXPECT_EQ(KMP_OK, kmp_dec_feed(d, buf, n));
	EXPECT_EQ(KMP_OK, kmp_dec_finish(d));
	EXPECT_EQ(1, s.aborts);
	EXPECT_STREQ(want, s.err.msg);
	kmp_dec_free(d);

	/* ERROR, from a destination */
	memset(&s, 0, sizeof(s));
	n = err_rec(buf, KMP_T_ERROR, bad, sizeof(bad) - 1);
	d = kmp_dec_new(KMP_DIR_DEST, &h_ops, &s);
	ASSERT_NE(NULL, d);
	EXPECT_EQ(KMP_OK, kmp_dec_feed(d, buf, n));
	EXPECT_EQ(1, s.errors);
	EXPECT_STREQ(want, s.err.msg);
	kmp_dec_free(d);
}

/* Printable text, UTF-8 included, arrives untouched. */
TEST_F(proto_hostile, message_text_is_kept)
{
	static const char text[] = "cpu: avx512f missing\nmemory: 12 MiB \xc3\xa9t\xc3\xa9";
	uint8_t buf[96];
	struct seen s = { 0 };
	struct kmp_dec *d = kmp_dec_new(KMP_DIR_DEST, &h_ops, &s);
	size_t n = err_rec(buf, KMP_T_ERROR, text, sizeof(text) - 1);

	ASSERT_NE(NULL, d);
	EXPECT_EQ(KMP_OK, kmp_dec_feed(d, buf, n));
	EXPECT_STREQ(text, s.err.msg);
	kmp_dec_free(d);
}

/* HELLO (2 MiB, one vCPU) and ROUND 0 FINAL: VCPU_STATE, PAGES and ZERO
 * may come next.  Returns the bytes written to @buf. */
static size_t final_round_prefix(uint8_t *buf, size_t len)
{
	struct kmp_round r = { .round = 0, .flags = KMP_ROUND_F_FINAL };
	struct kmp_hello h;
	struct kmp_enc e;
	ssize_t a, b;

	memset(&h, 0, sizeof(h));
	h.version = KMP_VERSION;
	h.page_size = KMP_PAGE_SIZE;
	h.nr_vcpus = 1;
	h.nr_slots = 1;
	h.slots[0] = (struct kmp_slot){ 0, 2 << 20 };
	h.mem_size = 2 << 20;
	strcpy(h.name, "hostile");
	kmp_enc_init(&e, KMP_DIR_SOURCE);
	a = kmp_enc_hello(&e, buf, len, &h);
	if (a <= 0)
		return 0;
	b = kmp_enc_round(&e, buf + a, len - (size_t)a, &r);
	return b <= 0 ? 0 : (size_t)(a + b);
}

/*
 * A hostile network's huge declared lengths and counts: refused as soon as
 * the 16 header bytes are in, before any payload byte is waited for or any
 * buffer is sized by them (a VCPU_STATE's is allocated at its header), and
 * counts whose size in bytes would wrap 32 bits (ZERO: 2^29 gfns of 8
 * bytes is 2^32 = 0) are refused by the count, not the wrapped length.
 */
TEST_F(proto_hostile, huge_lengths_refused_at_the_header)
{
	static const struct {
		uint16_t type;
		uint32_t length, count;
	} cases[] = {
		{ KMP_T_VCPU_STATE, KMP_MAX_STATE + 1, 0 },
		{ KMP_T_VCPU_STATE, UINT32_MAX, 0 },
		{ KMP_T_PAGES, UINT32_MAX, UINT32_MAX },
		{ KMP_T_PAGES, 0, (uint32_t)((1ull << 32) / (KMP_GFN_SIZE + KMP_PAGE_SIZE) + 1) },
		{ KMP_T_PAGES, (KMP_MAX_PAGES_BATCH + 1) * (KMP_GFN_SIZE + KMP_PAGE_SIZE),
		  KMP_MAX_PAGES_BATCH + 1 },
		{ KMP_T_ZERO, 0, 1u << 29 },
		{ KMP_T_ZERO, (KMP_MAX_ZERO_BATCH + 1) * KMP_GFN_SIZE, KMP_MAX_ZERO_BATCH + 1 },
	};
	uint8_t buf[4096];
	size_t n = final_round_prefix(buf, sizeof(buf));

	ASSERT_NE(0u, n);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct seen s = { 0 };
		struct kmp_dec *d = kmp_dec_new(KMP_DIR_SOURCE, &h_ops, &s);

		ASSERT_NE(NULL, d);
		ASSERT_EQ(KMP_OK, kmp_dec_feed(d, buf, n));
		hdr(buf + n, cases[i].type, 0, cases[i].length, cases[i].count);
		EXPECT_EQ(KMP_E_LIMIT, kmp_dec_feed(d, buf + n, KMP_HDR_SIZE)) {
			TH_LOG("case %zu: %s", i, kmp_dec_error(d));
		}
		kmp_dec_free(d);
	}
	/* HELLO's own length, first thing on the wire */
	{
		struct kmp_dec *d = kmp_dec_new(KMP_DIR_SOURCE, NULL, NULL);

		ASSERT_NE(NULL, d);
		hdr(buf, KMP_T_HELLO, 0, UINT32_MAX, 0);
		EXPECT_EQ(KMP_E_LIMIT, kmp_dec_feed(d, buf, KMP_HDR_SIZE));
		kmp_dec_free(d);
	}
}

/* The largest VCPU_STATE the protocol allows is taken, byte by byte too,
 * and handed over whole (the destination's memory for it is bounded by
 * KMP_MAX_STATE per record, freed after it). */
static int h_state(void *o, const void *blob, size_t len)
{
	struct seen *s = o;

	(void)blob;
	s->states++;
	s->state_len = len;
	return 0;
}

TEST_F(proto_hostile, largest_state_taken_in_any_chunking)
{
	static const struct kmp_dec_ops ops = { .vcpu_state = h_state };
	uint8_t *big = calloc(1, KMP_HDR_SIZE + KMP_MAX_STATE);
	uint8_t pre[4096];
	size_t n = final_round_prefix(pre, sizeof(pre));
	struct seen s = { 0 };
	struct kmp_dec *d = kmp_dec_new(KMP_DIR_SOURCE, &ops, &s);

	ASSERT_NE(NULL, big);
	ASSERT_NE(NULL, d);
	ASSERT_NE(0u, n);
	ASSERT_EQ(KMP_OK, kmp_dec_feed(d, pre, n));
	hdr(big, KMP_T_VCPU_STATE, 0, KMP_MAX_STATE, 0);
	/* a slow drip for the header and the first KiB, then the rest */
	for (size_t i = 0; i < KMP_HDR_SIZE + 1024; i++)
		ASSERT_EQ(KMP_OK, kmp_dec_feed(d, big + i, 1));
	EXPECT_EQ(0, s.states);
	ASSERT_EQ(KMP_OK, kmp_dec_feed(d, big + KMP_HDR_SIZE + 1024, KMP_MAX_STATE - 1024));
	EXPECT_EQ(1, s.states);
	EXPECT_EQ((size_t)KMP_MAX_STATE, s.state_len);
	/* the stream is not complete without END and COMMIT */
	EXPECT_EQ(KMP_E_TRUNCATED, kmp_dec_finish(d));
	kmp_dec_free(d);
	free(big);
}

/*
 * The destination's own cap on a state (dest.h, KM_DEST_MAX_STATE, below
 * the protocol's 16 MiB): a longer VCPU_STATE is refused at its header;
 * one of exactly the cap is taken; 0 or more than the protocol allows
 * means the protocol's limit.
 */
TEST_F(proto_hostile, receiver_state_cap)
{
	static const struct kmp_dec_ops ops = { .vcpu_state = h_state };
	static const struct {
		uint32_t cap, length;
		int want;
	} cases[] = {
		{ 1u << 20, (1u << 20) + 1, KMP_E_LIMIT },
		{ 1u << 20, KMP_MAX_STATE, KMP_E_LIMIT },
		{ 1u << 20, 1u << 20, KMP_OK },
		{ 0, KMP_MAX_STATE, KMP_OK },
		{ UINT32_MAX, KMP_MAX_STATE, KMP_OK },
		{ UINT32_MAX, KMP_MAX_STATE + 1, KMP_E_LIMIT },
	};
	uint8_t pre[4096], h[KMP_HDR_SIZE];
	size_t n = final_round_prefix(pre, sizeof(pre));

	ASSERT_NE(0u, n);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct seen s = { 0 };
		struct kmp_dec *d = kmp_dec_new(KMP_DIR_SOURCE, &ops, &s);

		ASSERT_NE(NULL, d);
		kmp_dec_set_max_state(d, cases[i].cap);
		ASSERT_EQ(KMP_OK, kmp_dec_feed(d, pre, n));
		hdr(h, KMP_T_VCPU_STATE, 0, cases[i].length, 0);
		EXPECT_EQ(cases[i].want, kmp_dec_feed(d, h, sizeof(h))) {
			TH_LOG("case %zu: %s", i, kmp_dec_error(d));
		}
		if (cases[i].want)
			EXPECT_NE(NULL, strstr(kmp_dec_error(d), "record 2 (VCPU_STATE)"));
		kmp_dec_free(d);
	}
	EXPECT_EQ(1u << 20, KM_DEST_MAX_STATE);
}

TEST_HARNESS_MAIN
