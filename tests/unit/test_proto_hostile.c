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

TEST_HARNESS_MAIN
