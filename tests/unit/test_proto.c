// SPDX-License-Identifier: GPL-2.0
/*
 * The migration wire protocol (tools/migrate/proto*.c): encoding and
 * decoding of every record, any chunking, every malformed stream we could
 * think of, and random mutations (the ASan run proves no out-of-bounds).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"
#include "proto.h"
#include "unit.h"

KM_SUITE(proto);

#define NPAGES		4
#define STATE_LEN	100
#define MAX_RECS	32

static uint8_t pages[NPAGES][KMP_PAGE_SIZE] __attribute__((aligned(4096)));
static uint8_t state_blob[STATE_LEN];

/* An encoded stream and where its records start. */
struct stream {
	uint8_t *buf;
	size_t len, cap;
	size_t off[MAX_RECS];
	uint32_t type[MAX_RECS];
	int nrec;
};

static void s_put(struct stream *s, const void *p, size_t n)
{
	if (s->len + n > s->cap) {
		s->cap = (s->len + n) * 2;
		s->buf = realloc(s->buf, s->cap);
		if (!s->buf)
			abort();
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

static void s_mark(struct stream *s, uint32_t type)
{
	s->off[s->nrec] = s->len;
	s->type[s->nrec++] = type;
}

/* Appends what an encoder call wrote to tmp (rc bytes), or fails. */
static int s_add(struct stream *s, uint32_t type, const void *tmp, ssize_t rc)
{
	if (rc <= 0)
		return -1;
	s_mark(s, type);
	s_put(s, tmp, rc);
	return 0;
}

static int s_pages(struct stream *s, struct kmp_enc *e, const uint64_t *gfns,
		   const int *idx, uint32_t n)
{
	const void *ptrs[NPAGES];
	struct iovec iov[NPAGES + 1];
	uint8_t tmp[256];
	int cnt;

	for (uint32_t i = 0; i < n; i++)
		ptrs[i] = pages[idx[i]];
	cnt = kmp_enc_pages(e, tmp, sizeof(tmp), gfns, ptrs, n, iov, NPAGES + 1);
	if (cnt != (int)n + 1)
		return -1;
	s_mark(s, KMP_T_PAGES);
	for (int i = 0; i < cnt; i++)
		s_put(s, iov[i].iov_base, iov[i].iov_len);
	return 0;
}

static void init_hello(struct kmp_hello *h)
{
	memset(h, 0, sizeof(*h));
	h->version = KMP_VERSION;
	h->page_size = KMP_PAGE_SIZE;
	h->features_optional = 1ull << 63;	/* unknown optional: fine */
	memcpy(h->session, "0123456789abcdef", KMP_SESSION_SIZE);
	h->nr_vcpus = 2;
	h->nr_slots = 2;
	h->slots[0] = (struct kmp_slot){ 0, 1 << 20 };
	h->slots[1] = (struct kmp_slot){ 1ull << 32, 1 << 20 };
	h->mem_size = 2 << 20;			/* 512 pages */
	h->cpuid_hash = 0x1234;
	strcpy(h->name, "guest-1");
}

static void init_data(void)
{
	for (int i = 0; i < NPAGES; i++)
		for (unsigned int j = 0; j < KMP_PAGE_SIZE; j++)
			pages[i][j] = (uint8_t)(i * 31 + j * 7 + 1);
	for (int j = 0; j < STATE_LEN; j++)
		state_blob[j] = (uint8_t)(j ^ 0x5a);
}

/*
 * The source's stream: HELLO, ROUND 0, PAGES(3), ZERO(3), ROUND 1 (final),
 * PAGES(1), ZERO(1), VCPU_STATE, END, COMMIT.  With @small, one page per
 * PAGES record (for the every-prefix test).
 */
static int build_stream(struct stream *s, bool small)
{
	static const uint64_t live_gfns[] = { 0, 1, 0x100000 };	/* 0x100000: slot 1 */
	static const int live_idx[] = { 0, 1, 2 };
	static const uint64_t zero_gfns[] = { 5, 6, 0x1000ff };
	static const uint64_t final_gfn = 255, final_zero = 7;
	static const int final_idx = 3;
	struct kmp_round r0 = { 0, 0, 3 }, r1 = { 1, KMP_ROUND_F_FINAL, 1 };
	struct kmp_hello h;
	struct kmp_enc e;
	uint8_t tmp[2048];

	init_data();
	init_hello(&h);
	memset(s, 0, sizeof(*s));
	kmp_enc_init(&e, KMP_DIR_SOURCE);
	return s_add(s, KMP_T_HELLO, tmp, kmp_enc_hello(&e, tmp, sizeof(tmp), &h)) ||
	       s_add(s, KMP_T_ROUND, tmp, kmp_enc_round(&e, tmp, sizeof(tmp), &r0)) ||
	       s_pages(s, &e, live_gfns, live_idx, small ? 1 : 3) ||
	       s_add(s, KMP_T_ZERO, tmp, kmp_enc_zero(&e, tmp, sizeof(tmp), zero_gfns, 3)) ||
	       s_add(s, KMP_T_ROUND, tmp, kmp_enc_round(&e, tmp, sizeof(tmp), &r1)) ||
	       s_pages(s, &e, &final_gfn, &final_idx, 1) ||
	       s_add(s, KMP_T_ZERO, tmp, kmp_enc_zero(&e, tmp, sizeof(tmp), &final_zero, 1)) ||
	       s_add(s, KMP_T_VCPU_STATE, tmp,
		     kmp_enc_vcpu_state(&e, tmp, sizeof(tmp), state_blob, STATE_LEN)) ||
	       s_add(s, KMP_T_END, tmp, kmp_enc_end(&e, tmp, sizeof(tmp))) ||
	       s_add(s, KMP_T_COMMIT, tmp, kmp_enc_commit(&e, tmp, sizeof(tmp)));
}

/* What the decoder reported. */
struct got {
	int hello, rounds, pages, zeros, states, ends, commits, aborts;
	int accepts, readies, errors, resumeds, switchbacks;
	struct kmp_switchback sb;
	uint64_t page_sum, zero_sum;
	uint32_t last_round_flags;
	struct kmp_hello h;
	struct kmp_error err;
	struct kmp_accept acc;
	struct kmp_ready rdy;
	struct kmp_resumed rsm;
	struct kmp_end end;
	bool state_ok;
	const void *last_page;
	uint32_t refuse;		/* a type whose handler refuses */
	struct kmp_dec *dec;
};

static uint64_t page_hash(uint64_t gfn, const void *data)
{
	return XXH64(data, KMP_PAGE_SIZE, gfn);
}

static int refuse(struct got *g, uint32_t type)
{
	if (g->refuse != type)
		return 0;
	kmp_dec_set_error(g->dec, "test refuses %s", kmp_type_name(type));
	return KMP_E_LAYOUT;
}

static int on_hello(void *o, const struct kmp_hello *h)
{
	struct got *g = o;

	g->hello++;
	g->h = *h;
	return refuse(g, KMP_T_HELLO);
}

static int on_round(void *o, const struct kmp_round *r)
{
	struct got *g = o;

	g->rounds++;
	g->last_round_flags = r->flags;
	return 0;
}

static int on_page(void *o, uint64_t gfn, const void *data)
{
	struct got *g = o;

	g->pages++;
	g->page_sum ^= page_hash(gfn, data);
	g->last_page = data;
	return refuse(g, KMP_T_PAGES);
}

static int on_zero(void *o, uint64_t gfn)
{
	struct got *g = o;

	g->zeros++;
	g->zero_sum += gfn;
	return 0;
}

static int on_state(void *o, const void *blob, size_t len)
{
	struct got *g = o;

	g->states++;
	g->state_ok = len == STATE_LEN && !memcmp(blob, state_blob, len);
	return 0;
}

static int on_end(void *o, const struct kmp_end *e)
{
	struct got *g = o;

	g->ends++;
	g->end = *e;
	return 0;
}

static int on_commit(void *o)
{
	((struct got *)o)->commits++;
	return 0;
}

static int on_abort(void *o, const struct kmp_error *e)
{
	struct got *g = o;

	g->aborts++;
	g->err = *e;
	return 0;
}

static int on_accept(void *o, const struct kmp_accept *a)
{
	struct got *g = o;

	g->accepts++;
	g->acc = *a;
	return 0;
}

static int on_ready(void *o, const struct kmp_ready *r)
{
	struct got *g = o;

	g->readies++;
	g->rdy = *r;
	return 0;
}

static int on_error(void *o, const struct kmp_error *e)
{
	struct got *g = o;

	g->errors++;
	g->err = *e;
	return 0;
}

static int on_resumed(void *o, const struct kmp_resumed *r)
{
	struct got *g = o;

	g->resumeds++;
	g->rsm = *r;
	return 0;
}

static int on_switchback(void *o, const struct kmp_switchback *sb)
{
	struct got *g = o;

	g->switchbacks++;
	g->sb = *sb;
	return 0;
}

static const struct kmp_dec_ops ops = {
	.hello = on_hello, .round = on_round, .page = on_page, .zero = on_zero,
	.vcpu_state = on_state, .end = on_end, .commit = on_commit, .abort = on_abort,
	.accept = on_accept, .ready = on_ready, .error = on_error, .resumed = on_resumed,
	.switchback = on_switchback,
};

/* The features the destination's decoder was told its ACCEPT took. */
static uint64_t dec_features;

/* Feeds @buf in chunks of @chunk bytes (0: random sizes) then finishes. */
static int decode(enum kmp_dir dir, const uint8_t *buf, size_t len, size_t chunk,
		  struct got *g, char *msg, size_t msglen)
{
	struct kmp_dec *d;
	int rc = 0;

	memset(g, 0, offsetof(struct got, refuse));
	d = kmp_dec_new(dir, &ops, g);
	if (!d)
		return -1;
	kmp_dec_set_features(d, dec_features);
	g->dec = d;
	for (size_t off = 0; off < len && !rc; ) {
		size_t n = chunk ? chunk : 1 + (size_t)rand() % 9000;

		if (n > len - off)
			n = len - off;
		rc = kmp_dec_feed(d, buf + off, n);
		off += n;
	}
	if (!rc)
		rc = kmp_dec_finish(d);
	if (msg)
		snprintf(msg, msglen, "%s", kmp_dec_error(d));
	kmp_dec_free(d);
	return rc;
}

static uint64_t expected_page_sum(void)
{
	return page_hash(0, pages[0]) ^ page_hash(1, pages[1]) ^
	       page_hash(0x100000, pages[2]) ^ page_hash(255, pages[3]);
}

/* Everything of the source's stream arrived as sent. */
#define EXPECT_FULL_STREAM(g) do {						\
	EXPECT_EQ(1, (g).hello);						\
	EXPECT_EQ(0, strcmp("guest-1", (g).h.name));				\
	EXPECT_EQ(2u, (g).h.nr_slots);						\
	EXPECT_EQ(1ull << 32, (g).h.slots[1].gpa);				\
	EXPECT_EQ(0x1234u, (g).h.cpuid_hash);					\
	EXPECT_EQ(0, memcmp("0123456789abcdef", (g).h.session, 16));		\
	EXPECT_EQ(2, (g).rounds);						\
	EXPECT_EQ((uint32_t)KMP_ROUND_F_FINAL, (g).last_round_flags);		\
	EXPECT_EQ(4, (g).pages);						\
	EXPECT_EQ(expected_page_sum(), (g).page_sum);				\
	EXPECT_EQ(4, (g).zeros);						\
	EXPECT_EQ(5u + 6 + 0x1000ff + 7, (g).zero_sum);				\
	EXPECT_EQ(1, (g).states);						\
	EXPECT_TRUE((g).state_ok);						\
	EXPECT_EQ(1, (g).ends);							\
	EXPECT_EQ(8u, (g).end.records);						\
	EXPECT_EQ(4u, (g).end.pages);						\
	EXPECT_EQ(4u, (g).end.zero_pages);					\
	EXPECT_EQ(1, (g).commits);						\
} while (0)

TEST_F(proto, names)
{
	EXPECT_STREQ("success", kmp_strerror(KMP_OK));
	EXPECT_STREQ("stream digest mismatch", kmp_strerror(KMP_E_DIGEST));
	EXPECT_STREQ("unknown error", kmp_strerror(999));
	for (uint32_t c = 0; c < KMP_E__COUNT; c++)
		EXPECT_NE(NULL, kmp_strerror(c));
	EXPECT_STREQ("PAGES", kmp_type_name(KMP_T_PAGES));
	EXPECT_STREQ("READY", kmp_type_name(KMP_T_READY));
	EXPECT_STREQ("RESUMED", kmp_type_name(KMP_T_RESUMED));
	EXPECT_EQ(NULL, kmp_type_name(0));
	EXPECT_STREQ("HOLE", kmp_type_name(KMP_T_HOLE));
	EXPECT_STREQ("MACHINE", kmp_type_name(KMP_T_MACHINE));
	EXPECT_STREQ("SWITCHBACK", kmp_type_name(KMP_T_SWITCHBACK));
	EXPECT_EQ(NULL, kmp_type_name(13));
	EXPECT_EQ(NULL, kmp_type_name(0x85));
	EXPECT_STREQ("verification not requested", kmp_rsm_note_name(KMP_RSM_N_NOT_ASKED));
	EXPECT_STREQ("unknown reason", kmp_rsm_note_name(999));
}

TEST_F(proto, round_trip_source)
{
	struct stream s;
	struct got g = { 0 };
	char msg[320];

	ASSERT_EQ(0, build_stream(&s, false));
	ASSERT_EQ(10, s.nrec);
	/* 16 + 136 + 32 slot bytes, then ROUND 0 */
	EXPECT_EQ(16u + 136 + 32, s.off[1]);
	/* PAGES: header, 3 gfns, 3 raw pages, as in guest memory */
	EXPECT_EQ(s.off[2] + 16 + 3 * 8 + 3 * 4096, s.off[3]);
	EXPECT_EQ(0, memcmp(s.buf + s.off[2] + 16 + 24, pages[0], 4096));
	/* ZERO: 3 gfns, 8 bytes each */
	EXPECT_EQ(s.off[3] + 16 + 24, s.off[4]);
	EXPECT_EQ(KMP_OK, decode(KMP_DIR_SOURCE, s.buf, s.len, s.len, &g, msg, sizeof(msg)));
	EXPECT_STREQ("", msg);
	EXPECT_FULL_STREAM(g);
	free(s.buf);
}

/*
 * An aborted switch-over (KMP_FO_SWITCHBACK): ROUND 1 FINAL, a page, the
 * state, SWITCHBACK; live round 2; ROUND 3 FINAL, the state, END, COMMIT.
 * The digest covers both final rounds; without the feature the record is
 * refused on both sides.
 */
static int build_switchback(struct stream *s, uint64_t enc_features)
{
	static const uint64_t g0 = 0, g1 = 1;
	static const int i0 = 0, i1 = 1;
	struct kmp_round r0 = { 0, 0, 1 }, r1 = { 1, KMP_ROUND_F_FINAL, 1 };
	struct kmp_round r2 = { 2, 0, 1 }, r3 = { 3, KMP_ROUND_F_FINAL, 1 };
	struct kmp_switchback sb = { .round = 1, .paused_us = 4321 };
	struct kmp_hello h;
	struct kmp_enc e;
	uint8_t tmp[2048];

	init_data();
	init_hello(&h);
	memset(s, 0, sizeof(*s));
	kmp_enc_init(&e, KMP_DIR_SOURCE);
	if (s_add(s, KMP_T_HELLO, tmp, kmp_enc_hello(&e, tmp, sizeof(tmp), &h)))
		return -1;
	kmp_enc_set_features(&e, enc_features);
	return s_add(s, KMP_T_ROUND, tmp, kmp_enc_round(&e, tmp, sizeof(tmp), &r0)) ||
	       s_pages(s, &e, &g0, &i0, 1) ||
	       /* not in a live round */
	       kmp_enc_switchback(&e, tmp, sizeof(tmp), &sb) != -KMP_E_ORDER ||
	       s_add(s, KMP_T_ROUND, tmp, kmp_enc_round(&e, tmp, sizeof(tmp), &r1)) ||
	       s_pages(s, &e, &g1, &i1, 1) ||
	       s_add(s, KMP_T_VCPU_STATE, tmp,
		     kmp_enc_vcpu_state(&e, tmp, sizeof(tmp), state_blob, STATE_LEN)) ||
	       s_add(s, KMP_T_SWITCHBACK, tmp, kmp_enc_switchback(&e, tmp, sizeof(tmp), &sb)) ||
	       s_add(s, KMP_T_ROUND, tmp, kmp_enc_round(&e, tmp, sizeof(tmp), &r2)) ||
	       s_pages(s, &e, &g1, &i1, 1) ||
	       s_add(s, KMP_T_ROUND, tmp, kmp_enc_round(&e, tmp, sizeof(tmp), &r3)) ||
	       s_pages(s, &e, &g0, &i0, 1) ||
	       s_add(s, KMP_T_VCPU_STATE, tmp,
		     kmp_enc_vcpu_state(&e, tmp, sizeof(tmp), state_blob, STATE_LEN)) ||
	       s_add(s, KMP_T_END, tmp, kmp_enc_end(&e, tmp, sizeof(tmp))) ||
	       s_add(s, KMP_T_COMMIT, tmp, kmp_enc_commit(&e, tmp, sizeof(tmp)));
}

TEST_F(proto, switchback)
{
	struct kmp_switchback sb = { .round = 0 };
	struct stream s;
	struct got g = { 0 };
	struct kmp_enc e;
	struct kmp_hello h;
	struct kmp_round r1 = { 0, KMP_ROUND_F_FINAL, 1 };
	uint8_t tmp[2048];
	char msg[320];

	/* without the feature the encoder refuses it */
	EXPECT_NE(0, build_switchback(&s, 0));
	free(s.buf);
	init_hello(&h);
	kmp_enc_init(&e, KMP_DIR_SOURCE);
	kmp_enc_set_features(&e, KMP_FO_SWITCHBACK);
	ASSERT_LT(0, kmp_enc_hello(&e, tmp, sizeof(tmp), &h));
	ASSERT_LT(0, kmp_enc_round(&e, tmp, sizeof(tmp), &r1));
	sb.round = 1;	/* of another round */
	EXPECT_EQ(-KMP_E_ORDER, kmp_enc_switchback(&e, tmp, sizeof(tmp), &sb));
	sb.round = 0;
	EXPECT_EQ((ssize_t)(KMP_HDR_SIZE + KMP_SWITCHBACK_SIZE),
		  kmp_enc_switchback(&e, tmp, sizeof(tmp), &sb));

	ASSERT_EQ(0, build_switchback(&s, KMP_FO_SWITCHBACK));
	dec_features = KMP_FO_SWITCHBACK;
	EXPECT_EQ(KMP_OK, decode(KMP_DIR_SOURCE, s.buf, s.len, 7, &g, msg, sizeof(msg)));
	EXPECT_STREQ("", msg);
	EXPECT_EQ(1, g.switchbacks);
	EXPECT_EQ(1u, g.sb.round);
	EXPECT_EQ(4321u, g.sb.paused_us);
	EXPECT_EQ(4, g.rounds);
	EXPECT_EQ(2, g.states);
	EXPECT_EQ(1, g.ends);
	EXPECT_EQ(1, g.commits);
	/* a destination that did not accept it (an older one refuses the
	 * unknown type alike) */
	dec_features = 0;
	EXPECT_EQ(KMP_E_TYPE, decode(KMP_DIR_SOURCE, s.buf, s.len, s.len, &g, msg, sizeof(msg)));
	EXPECT_NE(NULL, strstr(msg, "without the feature SWITCHBACK"));
	EXPECT_EQ(0, g.switchbacks);
	/* a SWITCHBACK naming another round is refused */
	dec_features = KMP_FO_SWITCHBACK;
	s.buf[s.off[6] + KMP_HDR_SIZE] = 2;
	EXPECT_EQ(KMP_E_ORDER, decode(KMP_DIR_SOURCE, s.buf, s.len, s.len, &g, msg, sizeof(msg)));
	EXPECT_NE(NULL, strstr(msg, "SWITCHBACK of round 2"));
	dec_features = 0;
	free(s.buf);
}

TEST_F(proto, round_trip_dest)
{
	struct kmp_accept a = { .version = KMP_VERSION, .features = 0 };
	struct kmp_ready r = { .digest = 0xfeedull, .pages = 99 };
	struct stream s = { 0 };
	struct kmp_enc e;
	struct got g = { 0 };
	uint8_t tmp[512];

	memcpy(a.session, "fedcba9876543210", KMP_SESSION_SIZE);
	kmp_enc_init(&e, KMP_DIR_DEST);
	ASSERT_EQ(0, s_add(&s, KMP_T_ACCEPT, tmp, kmp_enc_accept(&e, tmp, sizeof(tmp), &a)));
	ASSERT_EQ(0, s_add(&s, KMP_T_READY, tmp, kmp_enc_ready(&e, tmp, sizeof(tmp), &r)));
	EXPECT_EQ(16u + 32 + 16 + 16, s.len);
	EXPECT_EQ(KMP_OK, decode(KMP_DIR_DEST, s.buf, s.len, 1, &g, NULL, 0));
	EXPECT_EQ(1, g.accepts);
	EXPECT_EQ(0, memcmp("fedcba9876543210", g.acc.session, 16));
	EXPECT_EQ(1, g.readies);
	EXPECT_EQ(0xfeedull, g.rdy.digest);
	EXPECT_EQ(99u, g.rdy.pages);
	/* the destination refuses at once */
	s.len = 0;
	kmp_enc_init(&e, KMP_DIR_DEST);
	ASSERT_EQ(0, s_add(&s, KMP_T_ERROR, tmp,
			   kmp_enc_error(&e, tmp, sizeof(tmp), KMP_E_RESOURCE, "only 1 GiB free")));
	EXPECT_EQ(-KMP_E_ORDER, kmp_enc_ready(&e, tmp, sizeof(tmp), &r));
	EXPECT_EQ(KMP_OK, decode(KMP_DIR_DEST, s.buf, s.len, 3, &g, NULL, 0));
	EXPECT_EQ(1, g.errors);
	EXPECT_EQ((uint32_t)KMP_E_RESOURCE, g.err.code);
	EXPECT_STREQ("only 1 GiB free", g.err.msg);
	free(s.buf);
}

TEST_F(proto, abort_and_empty_message)
{
	struct kmp_hello h;
	struct stream s = { 0 };
	struct kmp_enc e;
	struct got g = { 0 };
	uint8_t tmp[2048];
	char longmsg[400];

	init_hello(&h);
	kmp_enc_init(&e, KMP_DIR_SOURCE);
	ASSERT_EQ(0, s_add(&s, KMP_T_HELLO, tmp, kmp_enc_hello(&e, tmp, sizeof(tmp), &h)));
	ASSERT_EQ(0, s_add(&s, KMP_T_ABORT, tmp,
			   kmp_enc_abort(&e, tmp, sizeof(tmp), KMP_E_ABORTED, NULL)));
	EXPECT_EQ(KMP_OK, decode(KMP_DIR_SOURCE, s.buf, s.len, 0, &g, NULL, 0));
	EXPECT_EQ(1, g.aborts);
	EXPECT_STREQ("", g.err.msg);
	/* ABORT even before HELLO; a long message is cut to the limit */
	memset(longmsg, 'x', sizeof(longmsg) - 1);
	longmsg[sizeof(longmsg) - 1] = 0;
	kmp_enc_init(&e, KMP_DIR_SOURCE);
	EXPECT_EQ((ssize_t)(16 + 8 + KMP_MAX_MSG),
		  kmp_enc_abort(&e, tmp, sizeof(tmp), KMP_E_ABORTED, longmsg));
	EXPECT_EQ(KMP_OK, decode(KMP_DIR_SOURCE, tmp, 16 + 8 + KMP_MAX_MSG, 0, &g, NULL, 0));
	EXPECT_EQ(KMP_MAX_MSG, strlen(g.err.msg));
	free(s.buf);
}

/* A long reason arrives cut after a whole word, with "...", never mid-word
 * (issue 16: "lower the guest's  (refused by the receiv"). */
TEST_F(proto, long_message_cut_at_a_word)
{
	static const char reason[] =
		"not converging after 30 rounds (dirty rate above the link): 31872 dirty "
		"pages, dirty rate 120318 pages/s, link 41234 KiB/s, predicted downtime "
		"2431 ms > 1 ms; raise --downtime-limit or lower the guest's write rate; "
		"and some more words so that the message is well beyond the protocol's "
		"limit of two hundred and fifty-six bytes of text";
	struct kmp_enc e;
	struct got g = { 0 };
	uint8_t tmp[2048];
	char out[KMP_MAX_MSG + 1], word[KMP_MAX_MSG + 80];
	size_t n, len;
	ssize_t r;

	ASSERT_GT(sizeof(reason) - 1, KMP_MAX_MSG);
	kmp_enc_init(&e, KMP_DIR_SOURCE);
	r = kmp_enc_abort(&e, tmp, sizeof(tmp), KMP_E_REFUSED, reason);
	ASSERT_GT(r, 0);
	EXPECT_EQ(KMP_OK, decode(KMP_DIR_SOURCE, tmp, (size_t)r, 0, &g, NULL, 0));
	len = strlen(g.err.msg);
	EXPECT_LE(len, KMP_MAX_MSG);
	ASSERT_GT(len, 3);
	/* the ellipsis, after the text's prefix ending with a whole word */
	EXPECT_STREQ("...", g.err.msg + len - 3);
	EXPECT_EQ(0, strncmp(reason, g.err.msg, len - 3));
	EXPECT_EQ(' ', reason[len - 3]);
	EXPECT_NE(' ', g.err.msg[len - 4]);
	/* the whole "write rate;" clause is there, cut after a word */
	EXPECT_NE(NULL, strstr(g.err.msg, "lower the guest's write rate"));

	/* fits: unchanged; exactly the limit: unchanged */
	n = kmp_msg_fit("short reason", out);
	out[n] = 0;
	EXPECT_STREQ("short reason", out);
	memset(word, 'a', KMP_MAX_MSG);
	word[KMP_MAX_MSG] = 0;
	EXPECT_EQ(KMP_MAX_MSG, kmp_msg_fit(word, out));
	EXPECT_EQ(0, memcmp(word, out, KMP_MAX_MSG));
	/* one endless word: cut mid-word at the limit, with "..." */
	memset(word, 'a', sizeof(word) - 1);
	word[sizeof(word) - 1] = 0;
	n = kmp_msg_fit(word, out);
	EXPECT_EQ(KMP_MAX_MSG, n);
	EXPECT_EQ(0, memcmp(out + n - 3, "...", 3));
	/* ... and never inside a UTF-8 character: 2-byte "é" all along */
	for (n = 0; n + 2 < sizeof(word); n += 2)
		memcpy(word + n, "\xc3\xa9", 2);
	word[n] = 0;
	n = kmp_msg_fit(word, out);
	ASSERT_GT(n, 4);
	EXPECT_EQ((unsigned char)0xa9, (unsigned char)out[n - 4]);
	EXPECT_EQ(1, (n - 3) % 2 == 0);
	/* separators before the cut are dropped: "word; ..." -> "word..." */
	memset(word, 0, sizeof(word));
	for (n = 0; n + 6 < KMP_MAX_MSG + 40; n += 6)
		memcpy(word + n, "abcd; ", 6);
	n = kmp_msg_fit(word, out);
	out[n] = 0;
	EXPECT_STREQ("abcd...", out + n - 7);
}

TEST_F(proto, one_byte_at_a_time)
{
	struct stream s;
	struct got g = { 0 };

	ASSERT_EQ(0, build_stream(&s, false));
	EXPECT_EQ(KMP_OK, decode(KMP_DIR_SOURCE, s.buf, s.len, 1, &g, NULL, 0));
	EXPECT_FULL_STREAM(g);
	EXPECT_NE(NULL, g.last_page);	/* pages were collected: a copy */
	free(s.buf);
}

TEST_F(proto, random_splits)
{
	struct stream s;
	struct got g = { 0 };

	srand(1);
	ASSERT_EQ(0, build_stream(&s, false));
	for (int i = 0; i < 200; i++) {
		ASSERT_EQ(KMP_OK, decode(KMP_DIR_SOURCE, s.buf, s.len, 0, &g, NULL, 0));
		EXPECT_FULL_STREAM(g);
	}
	free(s.buf);
}

TEST_F(proto, whole_pages_are_not_copied)
{
	struct stream s;
	struct got g = { 0 };
	const uint8_t *final_page;

	ASSERT_EQ(0, build_stream(&s, false));
	/* the final page (gfn 255) is after the 8-byte gfn table of rec 5 */
	final_page = s.buf + s.off[5] + 16 + 8;
	ASSERT_EQ(KMP_OK, decode(KMP_DIR_SOURCE, s.buf, s.len, s.len, &g, NULL, 0));
	EXPECT_EQ((const void *)final_page, g.last_page);
	free(s.buf);
}

TEST_F(proto, truncated_at_every_offset)
{
	struct stream s;
	struct got g = { 0 };
	char msg[320];

	ASSERT_EQ(0, build_stream(&s, true));
	for (size_t n = 0; n < s.len; n++) {
		ASSERT_EQ(KMP_E_TRUNCATED, decode(KMP_DIR_SOURCE, s.buf, n, 4000, &g,
						  msg, sizeof(msg))) TH_LOG("prefix %zu", n);
		ASSERT_NE(NULL, strstr(msg, "stream ended"));
		ASSERT_EQ(0, g.commits);
	}
	EXPECT_EQ(KMP_OK, decode(KMP_DIR_SOURCE, s.buf, s.len, 4000, &g, NULL, 0));
	free(s.buf);
}

/* A malformation: patch @len bytes at @off of record @rec with @bytes. */
struct bad_case {
	const char *name;
	int rec;
	size_t off;
	const char *bytes;
	size_t len;
	int err;
	const char *msg;	/* part of the message */
};

#define B(s) s, sizeof(s) - 1

static const struct bad_case bad_cases[] = {
	{ "record magic", 3, 0, B("XMGR"), KMP_E_MAGIC, "record 3 at byte" },
	{ "hello magic", 0, 16, B("KMIGRATF"), KMP_E_MAGIC, "not a kmigrate stream" },
	{ "version 2", 0, 16 + 8, B("\x02"), KMP_E_VERSION, "protocol version 2" },
	{ "unknown required feature", 0, 16 + 16 + 4, B("\x01"), KMP_E_FEATURE,
	  "unknown required features 0x100000000" },
	{ "page size", 0, 16 + 13, B("\x20"), KMP_E_LAYOUT, "page size" },
	{ "no vcpus", 0, 16 + 56, B("\0"), KMP_E_LIMIT, "0 vCPUs" },
	{ "too many slots", 0, 16 + 60, B("\x41"), KMP_E_LIMIT, "65 memory slots" },
	{ "slot count vs length", 0, 16 + 60, B("\x01"), KMP_E_LENGTH, "does not fit 1 slots" },
	{ "memory size", 0, 16 + 48 + 3, B("\x01"), KMP_E_LAYOUT, "differs from the slots" },
	{ "overlapping slots", 0, 16 + 136 + 16 + 4, B("\0"), KMP_E_LAYOUT, "overlaps" },
	{ "unaligned slot", 0, 16 + 136 + 16, B("\x01"), KMP_E_LAYOUT, "not page-aligned" },
	{ "name not printable", 0, 16 + 72, B("\x01"), KMP_E_LAYOUT, "printable" },
	{ "name padding", 0, 16 + 72 + 20, B("x"), KMP_E_RESERVED, "padding byte 20" },
	{ "unknown type", 1, 4, B("\x0d"), KMP_E_TYPE, "unknown record type 13" },
	{ "MACHINE without BOARD", 1, 4, B("\x0b"), KMP_E_TYPE,
	  "MACHINE in a stream without the feature BOARD" },
	{ "SWITCHBACK unnegotiated", 1, 4, B("\x0c"), KMP_E_TYPE, "without the feature SWITCHBACK" },
	{ "other direction", 1, 4, B("\x81"), KMP_E_TYPE, "other direction" },
	{ "PAGES before ROUND", 1, 4, B("\x03"), KMP_E_ORDER, "record 1 (PAGES)" },
	{ "second HELLO", 2, 4, B("\x01"), KMP_E_ORDER, "not allowed here" },
	{ "END before state", 6, 4, B("\x06"), KMP_E_ORDER, "not allowed here" },
	{ "state before final", 3, 4, B("\x05"), KMP_E_ORDER, "not allowed here" },
	{ "skipped round", 4, 16, B("\x02"), KMP_E_ORDER, "round 2, expected round 1" },
	{ "round flags", 1, 6, B("\x02"), KMP_E_RESERVED, "round flags 0x2" },
	{ "PAGES flags", 2, 7, B("\x80"), KMP_E_RESERVED, "flags 0x8000" },
	{ "ROUND count", 1, 12, B("\x01"), KMP_E_RESERVED, "count 1" },
	{ "ROUND reserved", 1, 16 + 4, B("\x01"), KMP_E_RESERVED, "reserved" },
	{ "ROUND length", 1, 8, B("\x11"), KMP_E_LENGTH, "length 17, expected 16" },
	{ "PAGES length", 2, 8, B("\xff\xff\xff\xff"), KMP_E_LENGTH, "length 4294967295" },
	{ "PAGES count 0", 2, 12, B("\0"), KMP_E_LIMIT, "0 pages" },
	{ "PAGES count huge", 2, 12, B("\xff\xff\xff\xff"), KMP_E_LIMIT, "4294967295 pages" },
	{ "ZERO count 4097", 3, 12, B("\x01\x10"), KMP_E_LIMIT, "4097 zero pages" },
	{ "state too large", 7, 8, B("\x01\x00\x00\x01"), KMP_E_LIMIT, "beyond the limit" },
	{ "state empty", 7, 8, B("\0"), KMP_E_LENGTH, "below the minimum 1" },
	{ "gfn beyond memory", 2, 16 + 8 + 2, B("\x01"), KMP_E_RANGE,
	  "gfn 0x10001 (entry 1) beyond guest memory (512 pages)" },
	{ "gfn in a hole", 3, 16 + 16 + 2, B("\x01"), KMP_E_RANGE, "gfn 0x100ff (entry 2)" },
	{ "gfn huge", 3, 16 + 7, B("\xff"), KMP_E_RANGE, "gfn 0xff00000000000005" },
	{ "final page corrupted", 5, 16 + 8 + 100, B("\x00"), KMP_E_DIGEST,
	  "record 8 (END)" },
	{ "state corrupted", 7, 16 + 50, B("\xff"), KMP_E_DIGEST, "digest 0x" },
	{ "gfn table digested", 5, 16, B("\x0e"), KMP_E_DIGEST, "digest" },
	{ "END digest", 8, 16, B("\x01\x02"), KMP_E_DIGEST, "digest" },
	{ "END count", 8, 16 + 8, B("\x09"), KMP_E_DIGEST, "END counts 9 records" },
	{ "COMMIT length", 9, 8, B("\x01"), KMP_E_LENGTH, "length 1, expected 0" },
};

static int run_bad(const struct bad_case *c, char *msg, size_t msglen)
{
	struct stream s;
	struct got g = { 0 };
	int rc;

	if (build_stream(&s, false))
		return -1;
	memcpy(s.buf + s.off[c->rec] + c->off, c->bytes, c->len);
	rc = decode(KMP_DIR_SOURCE, s.buf, s.len, 0, &g, msg, msglen);
	if (g.commits || (c->err == KMP_E_DIGEST && g.ends))
		rc = -2;	/* must not be taken for a good stream */
	free(s.buf);
	return rc;
}

/* The destination's stream with RESUMED: ACCEPT (features), READY, RESUMED. */
static int build_dest_resumed(struct stream *s, uint64_t features, const struct kmp_resumed *rs)
{
	struct kmp_accept a = { .version = KMP_VERSION, .features = features };
	struct kmp_ready r = { .digest = 0xfeedull, .pages = 99 };
	struct kmp_enc e;
	uint8_t tmp[512];

	memset(s, 0, sizeof(*s));
	memcpy(a.session, "fedcba9876543210", KMP_SESSION_SIZE);
	kmp_enc_init(&e, KMP_DIR_DEST);
	return s_add(s, KMP_T_ACCEPT, tmp, kmp_enc_accept(&e, tmp, sizeof(tmp), &a)) ||
	       s_add(s, KMP_T_READY, tmp, kmp_enc_ready(&e, tmp, sizeof(tmp), &r)) ||
	       s_add(s, KMP_T_RESUMED, tmp, kmp_enc_resumed(&e, tmp, sizeof(tmp), rs));
}

static const struct kmp_resumed good_rsm = {
	.valid = KMP_RSM_VERIFIED | KMP_RSM_PAUSE,
	.pages_verified = 12000, .pages_bad = 2, .verify_us = 3456,
	.guest_pause_us = 78901,
};

TEST_F(proto, round_trip_resumed)
{
	struct kmp_resumed kern = { .valid = 0, .verify_note = KMP_RSM_N_NOT_WORKLOAD,
				    .pause_note = KMP_RSM_N_NOT_WORKLOAD };
	struct kmp_ready r = { 0 };
	struct kmp_accept a = { .version = KMP_VERSION };
	struct stream s;
	struct got g = { 0 };
	struct kmp_enc e;
	uint8_t tmp[512];
	char msg[320];

	ASSERT_EQ(0, build_dest_resumed(&s, KMP_FO_RESUMED | KMP_FO_VERIFY, &good_rsm));
	ASSERT_EQ(3, s.nrec);
	EXPECT_EQ(s.off[2] + 16 + 40, s.len);
	for (size_t chunk = 0; chunk < 3; chunk++) {
		EXPECT_EQ(KMP_OK, decode(KMP_DIR_DEST, s.buf, s.len, chunk, &g, msg, sizeof(msg)))
			TH_LOG("%s", msg);
		EXPECT_EQ(KMP_FO_RESUMED | KMP_FO_VERIFY, g.acc.features);
		EXPECT_EQ(1, g.readies);
		EXPECT_EQ(1, g.resumeds);
		EXPECT_EQ(0, memcmp(&good_rsm, &g.rsm, sizeof(good_rsm)));
	}
	/* READY alone is now a truncated stream */
	EXPECT_EQ(KMP_E_TRUNCATED, decode(KMP_DIR_DEST, s.buf, s.off[2], 0, &g, NULL, 0));
	free(s.buf);
	/* a kernel guest: nothing measured, the notes say why */
	ASSERT_EQ(0, build_dest_resumed(&s, KMP_FO_RESUMED, &kern));
	EXPECT_EQ(KMP_OK, decode(KMP_DIR_DEST, s.buf, s.len, 0, &g, NULL, 0));
	EXPECT_EQ(0u, g.rsm.valid);
	EXPECT_EQ(KMP_RSM_N_NOT_WORKLOAD, g.rsm.verify_note);
	EXPECT_EQ(KMP_RSM_N_NOT_WORKLOAD, g.rsm.pause_note);
	free(s.buf);
	/* without the feature: READY ends the stream, RESUMED is refused */
	kmp_enc_init(&e, KMP_DIR_DEST);
	ASSERT_LT(0, kmp_enc_accept(&e, tmp, sizeof(tmp), &a));
	EXPECT_EQ(-KMP_E_ORDER, kmp_enc_resumed(&e, tmp, sizeof(tmp), &good_rsm));
	ASSERT_LT(0, kmp_enc_ready(&e, tmp, sizeof(tmp), &r));
	EXPECT_TRUE(kmp_order_done(&e.order));
	EXPECT_EQ(-KMP_E_ORDER, kmp_enc_resumed(&e, tmp, sizeof(tmp), &good_rsm));
	/* the encoder refuses what the decoder would */
	kmp_enc_init(&e, KMP_DIR_DEST);
	a.features = 1ull << 40;
	EXPECT_EQ(-KMP_E_FEATURE, kmp_enc_accept(&e, tmp, sizeof(tmp), &a));
	a.features = KMP_FO_RESUMED;
	ASSERT_LT(0, kmp_enc_accept(&e, tmp, sizeof(tmp), &a));
	ASSERT_LT(0, kmp_enc_ready(&e, tmp, sizeof(tmp), &r));
	kern.guest_pause_us = 5;	/* a value without its valid bit */
	EXPECT_EQ(-KMP_E_RESERVED, kmp_enc_resumed(&e, tmp, sizeof(tmp), &kern));
	kern = good_rsm;
	kern.valid |= 0x10;
	EXPECT_EQ(-KMP_E_RESERVED, kmp_enc_resumed(&e, tmp, sizeof(tmp), &kern));
	EXPECT_EQ(-KMP_E_TYPE, kmp_enc_resumed(&(struct kmp_enc){ 0 }, tmp, sizeof(tmp),
					       &good_rsm));
	ASSERT_LT(0, kmp_enc_resumed(&e, tmp, sizeof(tmp), &good_rsm));
	EXPECT_TRUE(kmp_order_done(&e.order));
}

/* KMP_FO_RESUMED_EXT: RESUMED grows by the destination's guest RAM use and
 * resume time. */
TEST_F(proto, resumed_ext)
{
	struct kmp_resumed ext = good_rsm;
	struct kmp_accept a = { .version = KMP_VERSION };
	struct kmp_ready rd = { 0 };
	struct stream s;
	struct got g = { 0 };
	struct kmp_enc e;
	uint8_t tmp[512];
	char msg[320];

	ext.valid |= KMP_RSM_MEMORY | KMP_RSM_RESUME;
	ext.mem_populated_created = 0;
	ext.mem_populated = 2 << 20;
	ext.mem_rss_created = 4096;
	ext.mem_rss = (2 << 20) + 8192;
	ext.resume_us = 1234;
	ASSERT_EQ(0, build_dest_resumed(&s, KMP_FO_RESUMED | KMP_FO_RESUMED_EXT, &ext));
	EXPECT_EQ(s.off[2] + 16 + KMP_RESUMED_EXT_SIZE, s.len);
	for (size_t chunk = 0; chunk < 3; chunk++) {
		memset(&g, 0, sizeof(g));
		EXPECT_EQ(KMP_OK, decode(KMP_DIR_DEST, s.buf, s.len, chunk, &g, msg, sizeof(msg)))
			TH_LOG("%s", msg);
		EXPECT_EQ(1, g.resumeds);
		EXPECT_EQ(0, memcmp(&ext, &g.rsm, sizeof(ext)));
	}
	/* the same 80 bytes where ACCEPT did not agree to the extension */
	s.buf[s.off[0] + 16 + 8] &= (uint8_t)~KMP_FO_RESUMED_EXT;
	EXPECT_EQ(KMP_E_LENGTH, decode(KMP_DIR_DEST, s.buf, s.len, 0, &g, msg, sizeof(msg)));
	EXPECT_NE(NULL, strstr(msg, "expected 40 (extension not agreed")) TH_LOG("%s", msg);
	free(s.buf);
	/* agreed, the fields absent (an older value set): still 80 bytes, zeros */
	ASSERT_EQ(0, build_dest_resumed(&s, KMP_FO_RESUMED | KMP_FO_RESUMED_EXT, &good_rsm));
	EXPECT_EQ(s.off[2] + 16 + KMP_RESUMED_EXT_SIZE, s.len);
	memset(&g, 0, sizeof(g));
	EXPECT_EQ(KMP_OK, decode(KMP_DIR_DEST, s.buf, s.len, 0, &g, msg, sizeof(msg)));
	EXPECT_EQ(0, memcmp(&good_rsm, &g.rsm, sizeof(good_rsm)));
	/* a resume time without its bit: refused by the decoder */
	s.buf[s.off[2] + 16 + 72] = 1;
	EXPECT_EQ(KMP_E_RESERVED, decode(KMP_DIR_DEST, s.buf, s.len, 0, &g, msg, sizeof(msg)));
	EXPECT_NE(NULL, strstr(msg, "resume time without the valid bit")) TH_LOG("%s", msg);
	free(s.buf);
	/* the encoder: extension fields without the feature, values without bits */
	kmp_enc_init(&e, KMP_DIR_DEST);
	a.features = KMP_FO_RESUMED;
	ASSERT_LT(0, kmp_enc_accept(&e, tmp, sizeof(tmp), &a));
	ASSERT_LT(0, kmp_enc_ready(&e, tmp, sizeof(tmp), &rd));
	EXPECT_EQ(-KMP_E_FEATURE, kmp_enc_resumed(&e, tmp, sizeof(tmp), &ext));
	ext.valid &= ~KMP_RSM_MEMORY;
	EXPECT_EQ(-KMP_E_RESERVED, kmp_enc_resumed(&e, tmp, sizeof(tmp), &ext));
	ASSERT_EQ(KMP_HDR_SIZE + KMP_RESUMED_SIZE,
		  kmp_enc_resumed(&e, tmp, sizeof(tmp), &good_rsm));
}

static const struct bad_case bad_resumed[] = {
	/* records: 0 ACCEPT, 1 READY, 2 RESUMED */
	{ "valid bit unknown", 2, 16, B("\x13"), KMP_E_RESERVED, "unknown valid bits 0x10" },
	{ "extension bit, not agreed", 2, 16, B("\x07"), KMP_E_FEATURE,
	  "extension fields (valid 0x4) not agreed" },
	{ "note with a value", 2, 16 + 4, B("\x01"), KMP_E_RESERVED, "note 1" },
	{ "pause note with a value", 2, 16 + 6, B("\x02"), KMP_E_RESERVED, "guest pause" },
	{ "more bad than verified", 2, 16 + 16 + 7, B("\x01"), KMP_E_RANGE, "bad pages of" },
	{ "length", 2, 8, B("\x51"), KMP_E_LIMIT, "length 81 beyond the limit 80" },
	{ "flags", 2, 6, B("\x01"), KMP_E_RESERVED, "flags 0x1" },
	{ "count", 2, 12, B("\x01"), KMP_E_RESERVED, "count 1" },
	{ "before READY", 1, 4, B("\x84"), KMP_E_ORDER, "record 1 (RESUMED)" },
	{ "without the feature", 0, 16 + 8, B("\x00"), KMP_E_ORDER, "after the end" },
	{ "ACCEPT unknown feature", 0, 16 + 8 + 5, B("\x01"), KMP_E_FEATURE,
	  "unknown features 0x10000000000" },
	{ "other direction", 2, 4, B("\x07"), KMP_E_TYPE, "other direction" },
};

TEST_F(proto, malformed_resumed)
{
	char msg[320];

	for (size_t i = 0; i < KM_ARRAY_SIZE(bad_resumed); i++) {
		const struct bad_case *c = &bad_resumed[i];
		struct stream s;
		struct got g = { 0 };

		ASSERT_EQ(0, build_dest_resumed(&s, KMP_FO_RESUMED | KMP_FO_VERIFY, &good_rsm));
		memcpy(s.buf + s.off[c->rec] + c->off, c->bytes, c->len);
		EXPECT_EQ(c->err, decode(KMP_DIR_DEST, s.buf, s.len, 0, &g, msg, sizeof(msg)))
			TH_LOG("%s: %s", c->name, msg);
		EXPECT_NE(NULL, strstr(msg, c->msg)) TH_LOG("%s: '%s' lacks '%s'",
							    c->name, msg, c->msg);
		EXPECT_EQ(0, g.resumeds) TH_LOG("%s", c->name);
		free(s.buf);
	}
}

TEST_F(proto, malformed)
{
	char msg[320];

	srand(2);
	for (size_t i = 0; i < KM_ARRAY_SIZE(bad_cases); i++) {
		const struct bad_case *c = &bad_cases[i];

		EXPECT_EQ(c->err, run_bad(c, msg, sizeof(msg))) TH_LOG("%s: %s", c->name, msg);
		EXPECT_NE(NULL, strstr(msg, c->msg)) TH_LOG("%s: '%s' lacks '%s'",
							    c->name, msg, c->msg);
	}
}

/* Pages of live rounds are not digested (the guest may write them while
 * they are sent); a later round resends them. */
TEST_F(proto, live_page_payload_not_digested)
{
	struct stream s;
	struct got g = { 0 };

	ASSERT_EQ(0, build_stream(&s, false));
	s.buf[s.off[2] + 16 + 24 + 5000] ^= 0xff;
	EXPECT_EQ(KMP_OK, decode(KMP_DIR_SOURCE, s.buf, s.len, 0, &g, NULL, 0));
	EXPECT_NE(expected_page_sum(), g.page_sum);
	free(s.buf);
}

TEST_F(proto, data_after_end)
{
	struct stream s;
	struct got g = { 0 };
	char msg[320];

	ASSERT_EQ(0, build_stream(&s, false));
	s_put(&s, "x", 1);
	EXPECT_EQ(KMP_E_ORDER, decode(KMP_DIR_SOURCE, s.buf, s.len, 0, &g, msg, sizeof(msg)));
	EXPECT_NE(NULL, strstr(msg, "record 10 at byte"));
	EXPECT_NE(NULL, strstr(msg, "after the end of the stream"));
	free(s.buf);
}

TEST_F(proto, handler_refuses)
{
	struct stream s;
	struct got g = { .refuse = KMP_T_HELLO };
	char msg[320];

	ASSERT_EQ(0, build_stream(&s, false));
	EXPECT_EQ(KMP_E_LAYOUT, decode(KMP_DIR_SOURCE, s.buf, s.len, 0, &g, msg, sizeof(msg)));
	EXPECT_STREQ("record 0 (HELLO) at byte 0: test refuses HELLO", msg);
	EXPECT_EQ(0, g.rounds);
	g.refuse = KMP_T_PAGES;
	EXPECT_EQ(KMP_E_LAYOUT, decode(KMP_DIR_SOURCE, s.buf, s.len, 0, &g, msg, sizeof(msg)));
	EXPECT_EQ(1, g.pages);
	EXPECT_EQ(0, g.zeros);
	free(s.buf);
}

TEST_F(proto, sticky_error)
{
	struct kmp_dec *d = kmp_dec_new(KMP_DIR_SOURCE, NULL, NULL);
	struct stream s;

	ASSERT_NE(NULL, d);
	ASSERT_EQ(0, build_stream(&s, false));
	EXPECT_EQ(KMP_E_MAGIC, kmp_dec_feed(d, "garbage-garbage-garbage", 23));
	EXPECT_EQ(KMP_E_MAGIC, kmp_dec_feed(d, s.buf, s.len));
	EXPECT_EQ(KMP_E_MAGIC, kmp_dec_finish(d));
	EXPECT_EQ(KMP_E_MAGIC, kmp_dec_code(d));
	EXPECT_FALSE(kmp_dec_done(d));
	kmp_dec_free(d);
	/* no handlers at all: a good stream still decodes */
	d = kmp_dec_new(KMP_DIR_SOURCE, NULL, NULL);
	ASSERT_NE(NULL, d);
	EXPECT_EQ(KMP_OK, kmp_dec_feed(d, s.buf, s.len));
	EXPECT_TRUE(kmp_dec_done(d));
	EXPECT_EQ(2u, kmp_dec_hello(d)->nr_vcpus);
	kmp_dec_free(d);
	free(s.buf);
	KM_ASSERT_NO_LEAKS();
}

TEST_F(proto, encoder_refuses)
{
	static const uint64_t gfn_bad = 512, gfn_ok = 3;
	const void *pg[1] = { pages[0] };
	struct iovec iov[2];
	struct kmp_hello h;
	struct kmp_round r = { 0 };
	struct kmp_enc e;
	uint8_t tmp[2048];

	init_hello(&h);
	kmp_enc_init(&e, KMP_DIR_SOURCE);
	EXPECT_EQ(-KMP_E_ORDER, kmp_enc_round(&e, tmp, sizeof(tmp), &r));
	EXPECT_EQ(-KMP_E_TYPE, kmp_enc_ready(&e, tmp, sizeof(tmp), &(struct kmp_ready){ 0 }));
	EXPECT_EQ(-KMP_E_NOSPACE, kmp_enc_hello(&e, tmp, 100, &h));
	EXPECT_NE(NULL, strstr(e.err, "buffer has 100"));
	h.features_required = 1ull << 4;	/* bits 0-3: PROFILE, CHECK, SPARSE, BOARD */
	EXPECT_EQ(-KMP_E_FEATURE, kmp_enc_hello(&e, tmp, sizeof(tmp), &h));
	h.features_required = 0;
	ASSERT_LT(0, kmp_enc_hello(&e, tmp, sizeof(tmp), &h));
	r.round = 1;
	EXPECT_EQ(-KMP_E_ORDER, kmp_enc_round(&e, tmp, sizeof(tmp), &r));
	r.round = 0;
	ASSERT_LT(0, kmp_enc_round(&e, tmp, sizeof(tmp), &r));
	EXPECT_EQ(-KMP_E_RANGE, kmp_enc_zero(&e, tmp, sizeof(tmp), &gfn_bad, 1));
	EXPECT_EQ(-KMP_E_RANGE, kmp_enc_pages(&e, tmp, sizeof(tmp), &gfn_bad, pg, 1, iov, 2));
	EXPECT_EQ(-KMP_E_NOSPACE, kmp_enc_pages(&e, tmp, sizeof(tmp), &gfn_ok, pg, 1, iov, 1));
	EXPECT_EQ(-KMP_E_LIMIT, kmp_enc_pages(&e, tmp, sizeof(tmp), &gfn_ok, pg, 0, iov, 2));
	EXPECT_EQ(-KMP_E_LIMIT, kmp_enc_pages(&e, tmp, sizeof(tmp), &gfn_ok, pg,
					      KMP_MAX_PAGES_BATCH + 1, iov, 2));
	EXPECT_EQ(2, kmp_enc_pages(&e, tmp, sizeof(tmp), &gfn_ok, pg, 1, iov, 2));
	EXPECT_EQ(pg[0], iov[1].iov_base);	/* zero-copy */
	EXPECT_EQ(-KMP_E_ORDER, kmp_enc_vcpu_state(&e, tmp, sizeof(tmp), state_blob, 8));
	EXPECT_EQ(-KMP_E_ORDER, kmp_enc_end(&e, tmp, sizeof(tmp)));
	r = (struct kmp_round){ 1, KMP_ROUND_F_FINAL | 0x10, 0 };
	EXPECT_EQ(-KMP_E_RESERVED, kmp_enc_round(&e, tmp, sizeof(tmp), &r));
}

TEST_F(proto, hello_checks)
{
	struct kmp_hello h;
	char why[160];

	init_hello(&h);
	EXPECT_EQ(KMP_OK, kmp_hello_check(&h, why, sizeof(why)));
	EXPECT_EQ(512u, kmp_hello_pages(&h));
	EXPECT_TRUE(kmp_gfn_valid(&h, 0));
	EXPECT_TRUE(kmp_gfn_valid(&h, 255));
	EXPECT_FALSE(kmp_gfn_valid(&h, 256));
	EXPECT_TRUE(kmp_gfn_valid(&h, 0x100000));
	EXPECT_TRUE(kmp_gfn_valid(&h, 0x1000ff));
	EXPECT_FALSE(kmp_gfn_valid(&h, 0x100100));
	EXPECT_FALSE(kmp_gfn_valid(&h, UINT64_MAX));
	h.slots[1].gpa = 1ull << 52;
	EXPECT_EQ(KMP_E_LAYOUT, kmp_hello_check(&h, why, sizeof(why)));
	h.slots[1].gpa = (1ull << 52) - 4096;
	h.slots[1].size = UINT64_MAX - 4095;		/* gpa + size overflows */
	EXPECT_EQ(KMP_E_LAYOUT, kmp_hello_check(&h, why, sizeof(why)));
	EXPECT_NE(NULL, strstr(why, "beyond 2^52"));
	init_hello(&h);
	h.slots[1].size = 0;
	EXPECT_EQ(KMP_E_LAYOUT, kmp_hello_check(&h, why, sizeof(why)));
	init_hello(&h);
	memset(h.name, 'a', sizeof(h.name));
	EXPECT_EQ(KMP_E_LAYOUT, kmp_hello_check(&h, why, sizeof(why)));
	EXPECT_STREQ("VM name not NUL-terminated", why);
	init_hello(&h);
	h.nr_vcpus = KMP_MAX_VCPUS + 1;
	EXPECT_EQ(KMP_E_LIMIT, kmp_hello_check(&h, why, sizeof(why)));
}

/* Random mutations of a good stream: an error or a good parse, no crash. */
TEST_F(proto, fuzz_mutations)
{
	struct stream s;
	struct got g = { 0 };
	uint8_t *copy;
	int ok = 0, bad = 0;

	srand(3);
	ASSERT_EQ(0, build_stream(&s, false));
	copy = malloc(s.len);
	ASSERT_NE(NULL, copy);
	for (int i = 0; i < 3000; i++) {
		size_t len = s.len;
		int rc;

		memcpy(copy, s.buf, s.len);
		for (int m = 1 + rand() % 4; m > 0; m--) {
			size_t at = (size_t)rand() % len;

			switch (rand() % 4) {
			case 0: copy[at] ^= 1u << (rand() % 8); break;
			case 1: copy[at] = (uint8_t)rand(); break;
			case 2: copy[at] = (uint8_t)(rand() % 2 ? 0xff : 0); break;
			case 3: len = at + 1; break;	/* truncate */
			}
			/* mostly in the headers and small records, where it matters */
			if (rand() % 2)
				copy[s.off[rand() % s.nrec] + rand() % 16] ^= (uint8_t)rand();
		}
		rc = decode(KMP_DIR_SOURCE, copy, len, 0, &g, NULL, 0);
		ASSERT_TRUE(rc >= 0 && rc < KMP_E__COUNT);
		if (rc)
			bad++;
		else
			ok++;
		ASSERT_TRUE(rc || g.commits == 1 || g.aborts == 1);
	}
	EXPECT_LT(1000, bad);
	TH_LOG("%d refused, %d accepted", bad, ok);
	free(copy);
	free(s.buf);
}

/* ---- PROFILE and CHECK (pre-flight, docs/PROTOCOL.md) ---- */

struct pf_got {
	int hellos, profiles, machines, accepts, ends, commits;
	struct kmp_profile p;
	struct kmp_machine m;
};

static int pf_machine(void *o, const struct kmp_machine *m)
{
	struct pf_got *g = o;

	g->machines++;
	g->m = *m;
	return 0;
}

static int pf_hello(void *o, const struct kmp_hello *h)
{
	(void)h;
	((struct pf_got *)o)->hellos++;
	return 0;
}

static int pf_profile(void *o, const struct kmp_profile *p)
{
	struct pf_got *g = o;

	g->profiles++;
	g->p = *p;
	return 0;
}

static int pf_accept(void *o, const struct kmp_accept *a)
{
	(void)a;
	((struct pf_got *)o)->accepts++;
	return 0;
}

static int pf_end(void *o, const struct kmp_end *e)
{
	(void)e;
	((struct pf_got *)o)->ends++;
	return 0;
}

static int pf_commit(void *o)
{
	((struct pf_got *)o)->commits++;
	return 0;
}

static const struct kmp_dec_ops pf_ops = {
	.hello = pf_hello, .profile = pf_profile, .machine = pf_machine, .accept = pf_accept,
	.end = pf_end, .commit = pf_commit,
};

static void init_profile(struct kmp_profile *p)
{
	memset(p, 0, sizeof(*p));
	strcpy(p->model, "x86-64-v2");
	p->module_abi = 1;
	p->nent = 3;
	p->ent[0] = (struct kmp_cpuid_ent){ 0, 0, 0, 0xd, 0x68747541, 0x444d4163, 0x69746e65 };
	p->ent[1] = (struct kmp_cpuid_ent){ 1, 0, 0, 0x306a9, 0x800, 0x80982203, 0x178bfbff };
	p->ent[2] = (struct kmp_cpuid_ent){ 7, 0, 1, 0, 0x209, 0, 0 };
}

/* HELLO (required @req) [PROFILE] [the rest of a migration]. */
static int pf_stream(struct stream *s, uint64_t req, bool profile, bool rest)
{
	struct kmp_round r = { 0, KMP_ROUND_F_FINAL, 0 };
	struct kmp_profile p;
	struct kmp_hello h;
	struct kmp_enc e;
	uint8_t tmp[KMP_HDR_SIZE + KMP_PROFILE_FIXED + KMP_MAX_CPUID * KMP_CPUID_ENT_SIZE];

	init_data();
	init_hello(&h);
	h.features_required = req;
	init_profile(&p);
	memset(s, 0, sizeof(*s));
	kmp_enc_init(&e, KMP_DIR_SOURCE);
	if (s_add(s, KMP_T_HELLO, tmp, kmp_enc_hello(&e, tmp, sizeof(tmp), &h)))
		return -1;
	if (profile && s_add(s, KMP_T_PROFILE, tmp, kmp_enc_profile(&e, tmp, sizeof(tmp), &p)))
		return -1;
	if (!rest)
		return 0;
	return s_add(s, KMP_T_ROUND, tmp, kmp_enc_round(&e, tmp, sizeof(tmp), &r)) ||
	       s_add(s, KMP_T_VCPU_STATE, tmp,
		     kmp_enc_vcpu_state(&e, tmp, sizeof(tmp), state_blob, STATE_LEN)) ||
	       s_add(s, KMP_T_END, tmp, kmp_enc_end(&e, tmp, sizeof(tmp))) ||
	       s_add(s, KMP_T_COMMIT, tmp, kmp_enc_commit(&e, tmp, sizeof(tmp)));
}

static int pf_decode(enum kmp_dir dir, uint64_t req, const uint8_t *buf, size_t len,
		     size_t chunk, struct pf_got *g, char *msg, size_t msglen)
{
	struct kmp_dec *d = kmp_dec_new(dir, &pf_ops, g);
	int rc = 0;

	memset(g, 0, sizeof(*g));
	if (!d)
		return -1;
	if (req)
		kmp_dec_set_required(d, req);
	for (size_t off = 0; off < len && !rc; off += chunk) {
		size_t n = chunk < len - off ? chunk : len - off;

		rc = kmp_dec_feed(d, buf + off, n);
	}
	if (!rc)
		rc = kmp_dec_finish(d);
	if (msg)
		snprintf(msg, msglen, "%s", kmp_dec_error(d));
	kmp_dec_free(d);
	return rc;
}

TEST_F(proto, profile_round_trip)
{
	struct stream s;
	struct pf_got g;
	struct kmp_profile want;
	char msg[320];

	init_profile(&want);
	ASSERT_EQ(0, pf_stream(&s, KMP_FR_PROFILE, true, true));
	ASSERT_EQ(KMP_T_PROFILE, s.type[1]);
	EXPECT_EQ(KMP_HDR_SIZE + KMP_PROFILE_FIXED + 3 * KMP_CPUID_ENT_SIZE, s.off[2] - s.off[1]);
	EXPECT_STREQ("PROFILE", kmp_type_name(KMP_T_PROFILE));
	for (size_t chunk = 1; chunk <= 4096; chunk *= 8) {
		EXPECT_EQ(KMP_OK, pf_decode(KMP_DIR_SOURCE, 0, s.buf, s.len, chunk, &g, msg,
					    sizeof(msg))) TH_LOG("%s", msg);
		EXPECT_EQ(1, g.profiles);
		EXPECT_STREQ("x86-64-v2", g.p.model);
		EXPECT_EQ(1u, g.p.module_abi);
		EXPECT_EQ(3u, g.p.nent);
		EXPECT_EQ(0, memcmp(want.ent, g.p.ent, 3 * sizeof(want.ent[0])));
		EXPECT_EQ(1, g.ends);	/* the digest covers PROFILE on both sides */
		EXPECT_EQ(1, g.commits);
	}
	free(s.buf);
}

TEST_F(proto, check_only_streams)
{
	struct kmp_round r = { 0, 0, 0 };
	struct kmp_accept a = { .version = KMP_VERSION };
	struct kmp_ready rd = { 0, 0 };
	struct stream s;
	struct pf_got g;
	struct kmp_enc e;
	uint8_t tmp[KMP_HDR_SIZE + KMP_HELLO_FIXED + 2 * KMP_SLOT_SIZE], buf[256];
	char msg[320];
	ssize_t n;

	/* HELLO + PROFILE with CHECK: complete; nothing may follow */
	ASSERT_EQ(0, pf_stream(&s, KMP_FR_PROFILE | KMP_FR_CHECK, true, false));
	EXPECT_EQ(KMP_OK, pf_decode(KMP_DIR_SOURCE, 0, s.buf, s.len, 7, &g, msg, sizeof(msg)));
	EXPECT_EQ(1, g.profiles);
	memcpy(buf, s.buf, 16);		/* any record after the end */
	s_put(&s, buf, 16);
	EXPECT_EQ(KMP_E_ORDER, pf_decode(KMP_DIR_SOURCE, 0, s.buf, s.len, 4096, &g, msg,
					 sizeof(msg)));
	EXPECT_NE(NULL, strstr(msg, "after the end")) TH_LOG("%s", msg);
	free(s.buf);
	/* CHECK alone: HELLO is the whole stream; the encoder refuses a ROUND */
	ASSERT_EQ(0, pf_stream(&s, KMP_FR_CHECK, false, false));
	EXPECT_EQ(KMP_OK, pf_decode(KMP_DIR_SOURCE, 0, s.buf, s.len, 4096, &g, msg, sizeof(msg)));
	EXPECT_EQ(1, g.hellos);
	EXPECT_EQ(0, g.profiles);
	free(s.buf);
	{
		struct kmp_hello h;

		init_hello(&h);
		h.features_required = KMP_FR_CHECK;
		kmp_enc_init(&e, KMP_DIR_SOURCE);
		ASSERT_LT(0, kmp_enc_hello(&e, tmp, sizeof(tmp), &h));
		EXPECT_EQ(-KMP_E_ORDER, kmp_enc_round(&e, tmp, sizeof(tmp), &r));
	}
	/* the destination: ACCEPT ends a check; READY after it is refused */
	kmp_enc_init(&e, KMP_DIR_DEST);
	kmp_enc_set_required(&e, KMP_FR_CHECK);
	n = kmp_enc_accept(&e, buf, sizeof(buf), &a);
	ASSERT_EQ((ssize_t)(KMP_HDR_SIZE + KMP_ACCEPT_SIZE), n);
	EXPECT_EQ(-KMP_E_ORDER, kmp_enc_ready(&e, tmp, sizeof(tmp), &rd));
	EXPECT_EQ(KMP_OK, pf_decode(KMP_DIR_DEST, KMP_FR_CHECK, buf, (size_t)n, 5, &g, msg,
				    sizeof(msg))) TH_LOG("%s", msg);
	EXPECT_EQ(1, g.accepts);
	/* without CHECK the same ACCEPT leaves the stream open */
	EXPECT_EQ(KMP_E_TRUNCATED, pf_decode(KMP_DIR_DEST, 0, buf, (size_t)n, 5, &g, msg,
					     sizeof(msg)));
}

/* BOARD: HELLO PROFILE MACHINE and the rest; the devices arrive as sent. */
static void init_machine(struct kmp_machine *m)
{
	memset(m, 0, sizeof(*m));
	m->flags = KMP_MACHINE_F_LINUX;
	m->nr = 2;
	m->dev[0].kind = KMP_DEV_DISK;
	m->dev[0].flags = KMP_DEV_F_RO;
	m->dev[0].bytes = 1 << 20;
	m->dev[0].ident = 0x1122334455667788ULL;
	strcpy(m->dev[0].path, "/dev/vda");
	m->dev[1].kind = KMP_DEV_NET;
	memcpy(m->dev[1].mac, "\x02\x6b\x6d\x01\x02\x03", 6);
	strcpy(m->dev[1].bridge, "br0");
}

static int board_stream(struct stream *s, bool machine)
{
	struct kmp_round r = { 0, KMP_ROUND_F_FINAL, 0 };
	struct kmp_machine m;
	struct kmp_profile p;
	struct kmp_hello h;
	struct kmp_enc e;
	uint8_t tmp[KMP_HDR_SIZE + KMP_PROFILE_FIXED + KMP_MAX_CPUID * KMP_CPUID_ENT_SIZE];

	init_data();
	init_hello(&h);
	h.features_required = KMP_FR_PROFILE | KMP_FR_BOARD;
	init_profile(&p);
	init_machine(&m);
	memset(s, 0, sizeof(*s));
	kmp_enc_init(&e, KMP_DIR_SOURCE);
	if (s_add(s, KMP_T_HELLO, tmp, kmp_enc_hello(&e, tmp, sizeof(tmp), &h)) ||
	    s_add(s, KMP_T_PROFILE, tmp, kmp_enc_profile(&e, tmp, sizeof(tmp), &p)))
		return -1;
	if (!machine)	/* the encoder refuses what would skip it */
		return kmp_enc_round(&e, tmp, sizeof(tmp), &r) == -KMP_E_ORDER ? 0 : -1;
	return s_add(s, KMP_T_MACHINE, tmp, kmp_enc_machine(&e, tmp, sizeof(tmp), &m)) ||
	       s_add(s, KMP_T_ROUND, tmp, kmp_enc_round(&e, tmp, sizeof(tmp), &r)) ||
	       s_add(s, KMP_T_VCPU_STATE, tmp,
		     kmp_enc_vcpu_state(&e, tmp, sizeof(tmp), state_blob, STATE_LEN)) ||
	       s_add(s, KMP_T_END, tmp, kmp_enc_end(&e, tmp, sizeof(tmp))) ||
	       s_add(s, KMP_T_COMMIT, tmp, kmp_enc_commit(&e, tmp, sizeof(tmp)));
}

TEST_F(proto, board_round_trip)
{
	struct kmp_machine want;
	struct stream s;
	struct pf_got g;
	char msg[320];

	init_machine(&want);
	ASSERT_EQ(0, board_stream(&s, true));
	ASSERT_EQ(KMP_T_MACHINE, s.type[2]);
	EXPECT_EQ(KMP_HDR_SIZE + 2 * KMP_DEV_SIZE, s.off[3] - s.off[2]);
	for (size_t chunk = 1; chunk <= 4096; chunk *= 8) {
		EXPECT_EQ(KMP_OK, pf_decode(KMP_DIR_SOURCE, 0, s.buf, s.len, chunk, &g, msg,
					    sizeof(msg))) TH_LOG("%s", msg);
		EXPECT_EQ(1, g.machines);
		EXPECT_EQ(0, memcmp(&want, &g.m, sizeof(want)));
		EXPECT_EQ(1, g.ends);	/* the digest covers MACHINE */
	}
	/* a reserved byte of a device, then a NIC with a disk's path: refused */
	s.buf[s.off[2] + KMP_HDR_SIZE + 30] = 1;
	EXPECT_EQ(KMP_E_RESERVED, pf_decode(KMP_DIR_SOURCE, 0, s.buf, s.len, 4096, &g, msg,
					    sizeof(msg)));
	EXPECT_NE(NULL, strstr(msg, "reserved bytes")) TH_LOG("%s", msg);
	s.buf[s.off[2] + KMP_HDR_SIZE + 30] = 0;
	s.buf[s.off[2] + KMP_HDR_SIZE + KMP_DEV_SIZE + 32] = '/';
	EXPECT_EQ(KMP_E_LAYOUT, pf_decode(KMP_DIR_SOURCE, 0, s.buf, s.len, 4096, &g, msg,
					  sizeof(msg)));
	free(s.buf);
	/* without MACHINE the stream is out of order */
	ASSERT_EQ(0, board_stream(&s, false));
	free(s.buf);
}

/* Patches the stream's PROFILE payload at @off (u32 @v) and decodes. */
static int pf_patched(uint32_t off, uint32_t v, bool set_len, uint32_t len, char *msg,
		      size_t msglen)
{
	struct stream s;
	struct pf_got g;
	int rc;

	if (pf_stream(&s, KMP_FR_PROFILE, true, true))
		return -1;
	memcpy(s.buf + s.off[1] + KMP_HDR_SIZE + off, &v, 4);
	if (set_len)
		memcpy(s.buf + s.off[1] + 8, &len, 4);
	rc = pf_decode(KMP_DIR_SOURCE, 0, s.buf, s.len, 4096, &g, msg, msglen);
	free(s.buf);
	return rc;
}

TEST_F(proto, malformed_profile)
{
	struct kmp_profile p;
	struct stream s, t;
	struct pf_got g;
	struct kmp_enc e;
	uint8_t tmp[KMP_HDR_SIZE + KMP_PROFILE_FIXED + KMP_MAX_CPUID * KMP_CPUID_ENT_SIZE];
	char msg[320];

	/* model not NUL-terminated, padding not zero, entry reserved, record
	 * reserved, nent against length, nent beyond the limit */
	EXPECT_EQ(KMP_E_LAYOUT, pf_patched(0, 0x36383801, false, 0, msg, sizeof(msg)));
	EXPECT_NE(NULL, strstr(msg, "not printable")) TH_LOG("%s", msg);
	EXPECT_EQ(KMP_E_RESERVED, pf_patched(28, 0x41414141, false, 0, msg, sizeof(msg)));
	EXPECT_EQ(KMP_E_RESERVED, pf_patched(12, 0x41, false, 0, msg, sizeof(msg)));
	EXPECT_EQ(KMP_E_RESERVED, pf_patched(KMP_PROFILE_FIXED + KMP_CPUID_ENT_SIZE + 12, 1,
					     false, 0, msg, sizeof(msg)));
	EXPECT_EQ(KMP_E_RESERVED, pf_patched(40, 1, false, 0, msg, sizeof(msg)));
	EXPECT_EQ(KMP_E_LENGTH, pf_patched(36, 2, false, 0, msg, sizeof(msg)));
	EXPECT_NE(NULL, strstr(msg, "does not fit 2 CPUID entries")) TH_LOG("%s", msg);
	EXPECT_EQ(KMP_E_LIMIT, pf_patched(36, 3, true,
					  KMP_PROFILE_FIXED + (KMP_MAX_CPUID + 1) *
					  KMP_CPUID_ENT_SIZE, msg, sizeof(msg)));
	EXPECT_EQ(KMP_E_LENGTH, pf_patched(36, 3, true, KMP_PROFILE_FIXED - 8, msg,
					   sizeof(msg)));
	/* the encoder refuses the same */
	init_profile(&p);
	kmp_enc_init(&e, KMP_DIR_SOURCE);
	EXPECT_EQ(-KMP_E_ORDER, kmp_enc_profile(&e, tmp, sizeof(tmp), &p));	/* before HELLO */
	init_profile(&p);
	p.nent = KMP_MAX_CPUID + 1;
	ASSERT_EQ(0, pf_stream(&s, KMP_FR_PROFILE, false, false));
	/* HELLO with PROFILE, then no PROFILE but a ROUND */
	ASSERT_EQ(0, pf_stream(&t, 0, false, true));
	s_put(&s, t.buf + t.off[1], t.len - t.off[1]);
	EXPECT_EQ(KMP_E_ORDER, pf_decode(KMP_DIR_SOURCE, 0, s.buf, s.len, 4096, &g, msg,
					 sizeof(msg)));
	EXPECT_NE(NULL, strstr(msg, "record 1 (ROUND)")) TH_LOG("%s", msg);
	free(s.buf);
	/* PROFILE without the feature bit */
	ASSERT_EQ(0, pf_stream(&s, KMP_FR_PROFILE, true, false));
	ASSERT_EQ(0, pf_stream(&t, 0, false, false));
	s_put(&t, s.buf + s.off[1], s.len - s.off[1]);
	EXPECT_EQ(KMP_E_ORDER, pf_decode(KMP_DIR_SOURCE, 0, t.buf, t.len, 4096, &g, msg,
					 sizeof(msg)));
	free(s.buf);
	free(t.buf);
	{
		struct kmp_hello h;

		init_hello(&h);
		h.features_required = KMP_FR_PROFILE;
		kmp_enc_init(&e, KMP_DIR_SOURCE);
		ASSERT_LT(0, kmp_enc_hello(&e, tmp, sizeof(tmp), &h));
		EXPECT_EQ(-KMP_E_LIMIT, kmp_enc_profile(&e, tmp, sizeof(tmp), &p));
		memset(p.model, 'A', sizeof(p.model));
		p.nent = 1;
		EXPECT_EQ(-KMP_E_LAYOUT, kmp_enc_profile(&e, tmp, sizeof(tmp), &p));
		/* an unknown required bit is still refused */
		h.features_required = 1ull << 3;
		EXPECT_EQ(KMP_E_FEATURE, kmp_hello_check(&h, msg, sizeof(msg)));
	}
}

TEST_HARNESS_MAIN
