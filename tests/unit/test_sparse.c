// SPDX-License-Identifier: GPL-2.0
/*
 * Sparse guest memory (issue 17): the HOLE record and PROFILE's
 * mem_populated of the feature SPARSE (tools/migrate/proto.c, proto_dec.c), hostile
 * ranges included, and the populated-memory helpers (populated.c) on a
 * real memfd: SEEK_DATA accounting and the destination's zeroing, which
 * punches a page that became zero instead of writing it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bulk.h"
#include "kselftest_harness.h"
#include "populated.h"
#include "proto.h"
#include "unit.h"

KM_SUITE(sparse);

#define PG	KMP_PAGE_SIZE

struct buf {
	uint8_t b[1 << 16];
	size_t len;
};

static int put(struct buf *s, ssize_t rc, const uint8_t *tmp)
{
	if (rc <= 0 || s->len + (size_t)rc > sizeof(s->b))
		return -1;
	memcpy(s->b + s->len, tmp, (size_t)rc);
	s->len += (size_t)rc;
	return 0;
}

/* Two slots of 1 MiB each: gfns [0, 256) and [0x100000, 0x100100). */
static void hello(struct kmp_hello *h, uint64_t req)
{
	memset(h, 0, sizeof(*h));
	h->version = KMP_VERSION;
	h->page_size = PG;
	h->features_required = req;
	memcpy(h->session, "0123456789abcdef", KMP_SESSION_SIZE);
	h->nr_vcpus = 1;
	h->nr_slots = 2;
	h->slots[0] = (struct kmp_slot){ 0, 1 << 20 };
	h->slots[1] = (struct kmp_slot){ 1ull << 32, 1 << 20 };
	h->mem_size = 2 << 20;
	strcpy(h->name, "sparse");
}

static void profile(struct kmp_profile *p, uint64_t populated)
{
	memset(p, 0, sizeof(*p));
	strcpy(p->model, "host");
	p->mem_populated = populated;
}

struct got {
	int holes, zeros, ends;
	uint64_t hole_pages, first_gfn, populated;
};

static int g_profile(void *o, const struct kmp_profile *p)
{
	((struct got *)o)->populated = p->mem_populated;
	return 0;
}

static int g_hole(void *o, uint64_t gfn, uint64_t n)
{
	struct got *g = o;

	if (!g->holes++)
		g->first_gfn = gfn;
	g->hole_pages += n;
	return 0;
}

static int g_zero(void *o, uint64_t gfn)
{
	(void)gfn;
	((struct got *)o)->zeros++;
	return 0;
}

static int g_end(void *o, const struct kmp_end *e)
{
	(void)e;
	((struct got *)o)->ends++;
	return 0;
}

static const struct kmp_dec_ops ops = {
	.profile = g_profile, .hole = g_hole, .zero = g_zero, .end = g_end,
};

/*
 * HELLO (SPARSE) PROFILE ROUND0/FINAL HOLE(@r, @n) ZERO VCPU_STATE END
 * COMMIT, the HOLE record's payload then overwritten from @patch (when
 * not NULL: a hostile stream the encoder would refuse).
 */
static int stream(struct buf *s, const struct kmp_range *r, uint32_t n,
		  const struct kmp_range *patch)
{
	struct kmp_round r0 = { 0, KMP_ROUND_F_FINAL, 1 };
	static const uint64_t zg = 3;
	struct kmp_hello h;
	struct kmp_profile p;
	struct kmp_enc e;
	uint8_t tmp[4096], blob[8] = "state";
	size_t hole_at;

	hello(&h, KMP_FR_PROFILE | KMP_FR_SPARSE);
	profile(&p, 64 * PG);
	s->len = 0;
	kmp_enc_init(&e, KMP_DIR_SOURCE);
	if (put(s, kmp_enc_hello(&e, tmp, sizeof(tmp), &h), tmp) ||
	    put(s, kmp_enc_profile(&e, tmp, sizeof(tmp), &p), tmp) ||
	    put(s, kmp_enc_round(&e, tmp, sizeof(tmp), &r0), tmp))
		return -1;
	hole_at = s->len;
	if (put(s, kmp_enc_hole(&e, tmp, sizeof(tmp), r, n), tmp) ||
	    put(s, kmp_enc_zero(&e, tmp, sizeof(tmp), &zg, 1), tmp) ||
	    put(s, kmp_enc_vcpu_state(&e, tmp, sizeof(tmp), blob, sizeof(blob)), tmp) ||
	    put(s, kmp_enc_end(&e, tmp, sizeof(tmp)), tmp) ||
	    put(s, kmp_enc_commit(&e, tmp, sizeof(tmp)), tmp))
		return -1;
	if (patch)
		memcpy(s->b + hole_at + KMP_HDR_SIZE, patch, sizeof(*patch));	/* LE host */
	return 0;
}

static int decode(const struct buf *s, size_t chunk, struct got *g, char *msg, size_t len)
{
	struct kmp_dec *d = kmp_dec_new(KMP_DIR_SOURCE, &ops, g);
	int rc = 0;

	memset(g, 0, sizeof(*g));
	for (size_t off = 0; off < s->len && !rc; off += chunk)
		rc = kmp_dec_feed(d, s->b + off, chunk < s->len - off ? chunk : s->len - off);
	if (!rc)
		rc = kmp_dec_finish(d);
	snprintf(msg, len, "%s", kmp_dec_error(d));
	kmp_dec_free(d);
	return rc;
}

TEST_F(sparse, hole_round_trip)
{
	const struct kmp_range r[] = { { 4, 252 }, { 0x100000, 256 }, { 1, 1 } };
	struct buf s;
	struct got g;
	char msg[320];

	ASSERT_STREQ("HOLE", kmp_type_name(KMP_T_HOLE));
	ASSERT_EQ(0, stream(&s, r, 3, NULL));
	for (size_t chunk = 1; chunk <= 4096; chunk *= 4) {
		ASSERT_EQ(KMP_OK, decode(&s, chunk, &g, msg, sizeof(msg))) TH_LOG("%s", msg);
		EXPECT_EQ(3, g.holes);
		EXPECT_EQ(252u + 256 + 1, g.hole_pages);
		EXPECT_EQ(4u, g.first_gfn);
		EXPECT_EQ(1, g.zeros);
		EXPECT_EQ(64u * PG, g.populated);
		EXPECT_EQ(1, g.ends);	/* the digest covers HOLE the same on both sides */
	}
}

TEST_F(sparse, hole_digested)
{
	const struct kmp_range r = { 8, 8 }, other = { 8, 9 };
	struct buf s;
	struct got g;
	char msg[320];

	/* a changed range (still valid) must break the END digest */
	ASSERT_EQ(0, stream(&s, &r, 1, &other));
	EXPECT_EQ(KMP_E_DIGEST, decode(&s, 4096, &g, msg, sizeof(msg)));
	EXPECT_NE(NULL, strstr(msg, "digest")) TH_LOG("%s", msg);
	EXPECT_EQ(0, g.ends);
}

TEST_F(sparse, hostile_ranges)
{
	static const struct {
		struct kmp_range r;
		int code;
		const char *what;
	} bad[] = {
		{ { 0, 0 }, KMP_E_LENGTH, "zero count" },
		{ { 256, 1 }, KMP_E_RANGE, "between the slots" },
		{ { 200, 100 }, KMP_E_RANGE, "beyond slot 0's end" },
		{ { 0x100000, 257 }, KMP_E_RANGE, "beyond guest memory" },
		{ { 0x1000ff, 2 }, KMP_E_RANGE, "past the last page" },
		{ { 5, UINT64_MAX - 4 }, KMP_E_RANGE, "start + count wraps" },
		{ { UINT64_MAX, 2 }, KMP_E_RANGE, "start + count overflows" },
		{ { 0, UINT64_MAX }, KMP_E_RANGE, "count 2^64 - 1" },
		{ { 1ull << 52, 1 }, KMP_E_RANGE, "beyond 2^52" },
		{ { 0, 0x100100 }, KMP_E_RANGE, "across both slots" },
	};
	const struct kmp_range ok = { 1, 1 };
	struct kmp_hello h;
	struct kmp_enc e;
	uint8_t tmp[256];
	struct buf s;
	struct got g;
	char msg[320];

	for (size_t i = 0; i < KM_ARRAY_SIZE(bad); i++) {
		ASSERT_EQ(0, stream(&s, &ok, 1, &bad[i].r));
		EXPECT_EQ(bad[i].code, decode(&s, 4096, &g, msg, sizeof(msg)))
			TH_LOG("%s: %s", bad[i].what, msg);
		EXPECT_NE(NULL, strstr(msg, "(HOLE)")) TH_LOG("%s: %s", bad[i].what, msg);
		EXPECT_EQ(0, g.holes) TH_LOG("%s: a bad record used", bad[i].what);
		/* the encoder refuses it too */
		hello(&h, KMP_FR_PROFILE | KMP_FR_SPARSE);
		kmp_enc_init(&e, KMP_DIR_SOURCE);
		ASSERT_LT(0, kmp_enc_hello(&e, tmp, sizeof(tmp), &h));
		{
			struct kmp_profile p;
			struct kmp_round r0 = { 0, 0, 0 };

			profile(&p, 0);
			ASSERT_LT(0, kmp_enc_profile(&e, tmp, sizeof(tmp), &p));
			ASSERT_LT(0, kmp_enc_round(&e, tmp, sizeof(tmp), &r0));
		}
		EXPECT_EQ(-bad[i].code, kmp_enc_hole(&e, tmp, sizeof(tmp), &bad[i].r, 1))
			TH_LOG("%s", bad[i].what);
	}
	EXPECT_TRUE(kmp_range_valid(&h, 0, 256));
	EXPECT_TRUE(kmp_range_valid(&h, 0x100000, 256));
	EXPECT_FALSE(kmp_range_valid(&h, 0, 257));
	/* record counts: none, beyond the limit; a length that disagrees */
	EXPECT_EQ(-KMP_E_LIMIT, kmp_enc_hole(&e, tmp, sizeof(tmp), &ok, 0));
	EXPECT_EQ(-KMP_E_LIMIT, kmp_enc_hole(&e, tmp, sizeof(tmp), &ok, KMP_MAX_HOLE_BATCH + 1));
	EXPECT_EQ(-KMP_E_LIMIT, kmp_enc_hole(&e, tmp, sizeof(tmp), &ok, UINT32_MAX));
	ASSERT_EQ(0, stream(&s, &ok, 1, NULL));
	{
		size_t at = 0;
		uint32_t v;

		/* find the HOLE header: type 10 after HELLO, PROFILE, ROUND */
		for (at = 0; at + KMP_HDR_SIZE <= s.len; ) {
			uint16_t t;
			uint32_t l;

			memcpy(&t, s.b + at + 4, 2);
			memcpy(&l, s.b + at + 8, 4);
			if (t == KMP_T_HOLE)
				break;
			at += KMP_HDR_SIZE + l;
		}
		v = 0;
		memcpy(s.b + at + 12, &v, 4);		/* count 0 */
		EXPECT_EQ(KMP_E_LIMIT, decode(&s, 4096, &g, msg, sizeof(msg))) TH_LOG("%s", msg);
		ASSERT_EQ(0, stream(&s, &ok, 1, NULL));
		v = 2;
		memcpy(s.b + at + 12, &v, 4);		/* count 2, length of 1 */
		EXPECT_EQ(KMP_E_LENGTH, decode(&s, 4096, &g, msg, sizeof(msg))) TH_LOG("%s", msg);
		ASSERT_EQ(0, stream(&s, &ok, 1, NULL));
		v = 1;
		memcpy(s.b + at + 6, &v, 2);		/* a flag */
		EXPECT_EQ(KMP_E_RESERVED, decode(&s, 4096, &g, msg, sizeof(msg))) TH_LOG("%s", msg);
	}
}

TEST_F(sparse, feature_rules)
{
	const struct kmp_range r = { 1, 1 };
	struct kmp_round r0 = { 0, 0, 0 };
	struct kmp_profile p;
	struct kmp_hello h;
	struct kmp_enc e;
	struct buf s;
	struct got g;
	uint8_t tmp[512];
	char msg[320];

	/* SPARSE needs PROFILE */
	hello(&h, KMP_FR_SPARSE);
	EXPECT_EQ(KMP_E_FEATURE, kmp_hello_check(&h, msg, sizeof(msg)));
	/* without SPARSE: no HOLE record, PROFILE's mem_populated is reserved */
	hello(&h, KMP_FR_PROFILE);
	kmp_enc_init(&e, KMP_DIR_SOURCE);
	ASSERT_LT(0, kmp_enc_hello(&e, tmp, sizeof(tmp), &h));
	profile(&p, PG);
	EXPECT_EQ(-KMP_E_RESERVED, kmp_enc_profile(&e, tmp, sizeof(tmp), &p));
	profile(&p, 0);
	ASSERT_LT(0, kmp_enc_profile(&e, tmp, sizeof(tmp), &p));
	ASSERT_LT(0, kmp_enc_round(&e, tmp, sizeof(tmp), &r0));
	EXPECT_EQ(-KMP_E_TYPE, kmp_enc_hole(&e, tmp, sizeof(tmp), &r, 1));
	/* a decoder of a stream without SPARSE refuses a HOLE record */
	ASSERT_EQ(0, stream(&s, &r, 1, NULL));
	{
		uint64_t req = KMP_FR_PROFILE;	/* HELLO features_required at 16 */

		memcpy(s.b + KMP_HDR_SIZE + 16, &req, 8);
		memset(s.b + KMP_HDR_SIZE + KMP_HELLO_FIXED + 2 * KMP_SLOT_SIZE + KMP_HDR_SIZE +
		       40, 0, 8);	/* PROFILE's mem_populated */
	}
	EXPECT_EQ(KMP_E_TYPE, decode(&s, 4096, &g, msg, sizeof(msg))) TH_LOG("%s", msg);
	EXPECT_NE(NULL, strstr(msg, "SPARSE")) TH_LOG("%s", msg);
	/* mem_populated beyond the guest, or not whole pages */
	hello(&h, KMP_FR_PROFILE | KMP_FR_SPARSE);
	kmp_enc_init(&e, KMP_DIR_SOURCE);
	ASSERT_LT(0, kmp_enc_hello(&e, tmp, sizeof(tmp), &h));
	profile(&p, h.mem_size + PG);
	EXPECT_EQ(-KMP_E_LAYOUT, kmp_enc_profile(&e, tmp, sizeof(tmp), &p));
	profile(&p, 100);
	EXPECT_EQ(-KMP_E_LAYOUT, kmp_enc_profile(&e, tmp, sizeof(tmp), &p));
	profile(&p, h.mem_size);
	EXPECT_LT(0, kmp_enc_profile(&e, tmp, sizeof(tmp), &p));
	ASSERT_EQ(0, stream(&s, &r, 1, NULL));
	{
		uint64_t pop = (2 << 20) + PG;

		memcpy(s.b + KMP_HDR_SIZE + KMP_HELLO_FIXED + 2 * KMP_SLOT_SIZE + KMP_HDR_SIZE +
		       40, &pop, 8);
	}
	EXPECT_EQ(KMP_E_LAYOUT, decode(&s, 4096, &g, msg, sizeof(msg))) TH_LOG("%s", msg);
}

/* ---- populated.c on a memfd ---- */

/* Page @pg of @fd equals @want, read without faulting a hole in (a read
 * fault of a shared mapping would allocate the page). */
static int page_is(int fd, size_t pg, const uint8_t *want)
{
	uint8_t got[PG];

	return pread(fd, got, PG, (off_t)(pg * PG)) == PG && !memcmp(got, want, PG);
}

static int sparse_memfd(size_t size, uint8_t **map)
{
	int fd = memfd_create("test-sparse", MFD_CLOEXEC);

	if (fd < 0 || ftruncate(fd, (off_t)size))
		return -1;
	*map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return *map == MAP_FAILED ? -1 : fd;
}

TEST_F(sparse, populated_extents)
{
	const size_t size = 64 * PG;
	uint64_t s = 0, e = 0;
	uint8_t *m;
	int fd = sparse_memfd(size, &m);

	ASSERT_LE(0, fd);
	EXPECT_EQ(0, km_pop_bytes(fd, 0, size));
	EXPECT_EQ(0, km_pop_next_data(fd, 0, size, &s, &e));
	m[5 * PG] = 1;
	memset(m + 10 * PG, 0, 3 * PG);	/* written zeros are data too */
	m[63 * PG + 100] = 2;
	EXPECT_EQ(5 * PG, km_pop_bytes(fd, 0, size));
	EXPECT_EQ(1, km_pop_next_data(fd, 0, size, &s, &e));
	EXPECT_EQ(5u * PG, s);
	EXPECT_EQ(6u * PG, e);
	EXPECT_EQ(1, km_pop_next_data(fd, e, size, &s, &e));
	EXPECT_EQ(10u * PG, s);
	EXPECT_EQ(13u * PG, e);
	EXPECT_EQ(1, km_pop_next_data(fd, 11 * PG, 12 * PG, &s, &e));	/* clipped */
	EXPECT_EQ(11u * PG, s);
	EXPECT_EQ(12u * PG, e);
	EXPECT_EQ(0, km_pop_next_data(fd, 13 * PG, 63 * PG, &s, &e));
	EXPECT_EQ(1 * PG, km_pop_bytes(fd, 20 * PG, 44 * PG));
	munmap(m, size);
	close(fd);
}

/* The destination's zeroing of a page it holds (a ZERO record for a page
 * that became zero on the source; a HOLE range). */
TEST_F(sparse, zero_punches)
{
	const size_t size = 32 * PG;
	uint8_t *m, zero[PG];
	int fd = sparse_memfd(size, &m);

	ASSERT_LE(0, fd);
	memset(zero, 0, sizeof(zero));
	memset(m, 0xaa, 8 * PG);
	ASSERT_EQ(8 * PG, km_pop_bytes(fd, 0, size));
	/* one page: punched, not written: populated drops, contents zero */
	EXPECT_EQ(0, km_pop_zero(fd, m + 3 * PG, 3 * PG, PG));
	EXPECT_EQ(7 * PG, km_pop_bytes(fd, 0, size));
	EXPECT_TRUE(page_is(fd, 3, zero));
	EXPECT_EQ(0xaa, m[2 * PG + PG - 1]);
	EXPECT_EQ(0xaa, m[4 * PG]);
	/* a range over data and holes; a hole stays a hole */
	EXPECT_EQ(0, km_pop_zero(fd, m + 6 * PG, 6 * PG, 20 * PG));
	EXPECT_EQ(5 * PG, km_pop_bytes(fd, 0, size));
	EXPECT_EQ(0, km_pop_zero(fd, m + 20 * PG, 20 * PG, 4 * PG));
	EXPECT_EQ(5 * PG, km_pop_bytes(fd, 0, size));
	for (size_t i = 6; i < 8; i++)
		EXPECT_TRUE(page_is(fd, i, zero));
	munmap(m, size);
	close(fd);
}

/* Where punching is refused (here: F_SEAL_FUTURE_WRITE), zeros are written
 * into the pages that hold data; holes are left alone. */
TEST_F(sparse, zero_fallback)
{
	const size_t size = 16 * PG;
	uint8_t *m, zero[PG];
	int fd = memfd_create("test-sparse-seal", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, (off_t)size));
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, m);
	memset(zero, 0, sizeof(zero));
	memset(m + 2 * PG, 0x55, 2 * PG);
	ASSERT_EQ(0, fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE));
	EXPECT_EQ(1, km_pop_zero(fd, m, 0, 8 * PG));
	EXPECT_TRUE(page_is(fd, 2, zero));
	EXPECT_TRUE(page_is(fd, 3, zero));
	EXPECT_EQ(2 * PG, km_pop_bytes(fd, 0, size));	/* written, not punched */
	EXPECT_EQ(0, km_pop_bytes(fd, 4 * PG, 12 * PG));	/* holes not filled */
	munmap(m, size);
	close(fd);
}

TEST_F(sparse, rss_shmem)
{
	const size_t size = 256 * PG;
	uint64_t before = km_pop_rss_shmem(), after;
	uint8_t *m;
	int fd = sparse_memfd(size, &m);

	ASSERT_LE(0, fd);
	memset(m, 1, size);
	after = km_pop_rss_shmem();
	if (before || after)	/* a kernel without RssShmem says 0 */
		EXPECT_LE(before + size - 16 * PG, after) TH_LOG("%llu -> %llu",
			(unsigned long long)before, (unsigned long long)after);
	munmap(m, size);
	close(fd);
}

/* ---- round 0 (bulk.c) on a memfd: only populated pages are read ---- */

#define BULK_PAGES	512	/* the two slots of hello(): 256 pages each */

struct bulk_got {
	uint8_t seen[BULK_PAGES];	/* 1: data path, 2: HOLE, 3: ZERO */
	int twice, records, calls;
	uint64_t hole_pages, zero;
};

static int bulk_idx(uint64_t gfn)
{
	return gfn >= 0x100000 ? (int)(gfn - 0x100000 + 256) : (int)gfn;
}

static int bulk_mark(struct bulk_got *g, uint64_t gfn, uint8_t how)
{
	int i = bulk_idx(gfn);

	if (i < 0 || i >= BULK_PAGES)
		return -1;
	g->twice += g->seen[i] != 0;
	g->seen[i] = how;
	return 0;
}

static int bulk_pages(void *o, const uint64_t *gfns, uint32_t n)
{
	struct bulk_got *g = o;

	g->calls++;
	for (uint32_t i = 0; i < n; i++)
		if (bulk_mark(g, gfns[i], 1))
			return -1;
	return 0;
}

static int bulk_record(void *o, const void *buf, size_t len, uint64_t hole_pages, uint32_t zero)
{
	struct bulk_got *g = o;
	const uint8_t *p = buf;
	uint16_t type;
	uint32_t count;

	memcpy(&type, p + 4, 2);
	memcpy(&count, p + 12, 4);
	g->records++;
	g->hole_pages += hole_pages;
	g->zero += zero;
	for (uint32_t i = 0; i < count; i++) {
		uint64_t a, b = 1;

		if (type == KMP_T_HOLE) {
			memcpy(&a, p + KMP_HDR_SIZE + i * KMP_RANGE_SIZE, 8);
			memcpy(&b, p + KMP_HDR_SIZE + i * KMP_RANGE_SIZE + 8, 8);
		} else {
			memcpy(&a, p + KMP_HDR_SIZE + i * KMP_GFN_SIZE, 8);
		}
		while (b--)
			if (bulk_mark(g, a++, type == KMP_T_HOLE ? 2 : 3))
				return -1;
	}
	return len == KMP_HDR_SIZE + (type == KMP_T_HOLE ? count * KMP_RANGE_SIZE :
				      count * KMP_GFN_SIZE) ? 0 : -1;
}

/* A memfd laid out as hello()'s two slots (RAM pages 0-255, 256-511) with
 * pages 0, 7-9, 255 (slot 0) and 256, 300 (slot 1) written. */
static int bulk_fd(uint8_t **map)
{
	static const int written[] = { 0, 7, 8, 9, 255, 256, 300 };
	int fd = sparse_memfd(BULK_PAGES * PG, map);

	if (fd < 0)
		return -1;
	for (size_t i = 0; i < KM_ARRAY_SIZE(written); i++)
		(*map)[written[i] * PG + 1] = 1;
	return fd;
}

static int bulk_run(int fd, bool sparse, struct bulk_got *g)
{
	static const struct km_bulk_region rg[] = {
		{ 0, 1 << 20, 0 }, { 1ull << 32, 1 << 20, 1 << 20 },
	};
	const struct km_bulk_sink sink = { g, bulk_pages, bulk_record };
	struct kmp_round r0 = { 0, 0, 0 };
	static struct km_bulk b;
	struct kmp_profile p;
	struct kmp_hello h;
	struct kmp_enc e;
	uint8_t tmp[4096];

	memset(g, 0, sizeof(*g));
	hello(&h, KMP_FR_PROFILE | (sparse ? KMP_FR_SPARSE : 0));
	profile(&p, sparse ? 7 * PG : 0);
	kmp_enc_init(&e, KMP_DIR_SOURCE);
	if (kmp_enc_hello(&e, tmp, sizeof(tmp), &h) <= 0 ||
	    kmp_enc_profile(&e, tmp, sizeof(tmp), &p) <= 0 ||
	    kmp_enc_round(&e, tmp, sizeof(tmp), &r0) <= 0)
		return -2;
	b = (struct km_bulk){ .enc = &e, .sparse = sparse, .sink = &sink };
	return km_bulk_send(&b, fd, rg, 2);
}

/* The first RAM page not handed as written (1) or as @hole; -1: none.
 * Read with pread: a read through the mapping would fault holes in. */
static int bulk_mismatch(const struct bulk_got *g, int fd, uint8_t hole)
{
	for (int pg = 0; pg < BULK_PAGES; pg++) {
		uint8_t c = 0;

		if (pread(fd, &c, 1, (off_t)pg * PG + 1) != 1 || g->seen[pg] != (c ? 1 : hole))
			return pg;
	}
	return -1;
}

TEST_F(sparse, bulk_reads_only_populated)
{
	struct bulk_got g;
	uint8_t *m;
	int fd = bulk_fd(&m);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, bulk_run(fd, true, &g));
	EXPECT_EQ(0, g.twice);
	EXPECT_EQ(-1, bulk_mismatch(&g, fd, 2));
	EXPECT_EQ(BULK_PAGES - 7u, g.hole_pages);
	EXPECT_EQ(0u, g.zero);
	/* holes: 1-6, 10-254, 257-299, 301-511 in one record (ranges stop at
	 * the slot's end); the data path got the 7 pages in one call */
	EXPECT_EQ(1, g.records);
	EXPECT_EQ(1, g.calls);
	EXPECT_EQ(7 * PG, km_pop_bytes(fd, 0, BULK_PAGES * PG));	/* nothing faulted in */
	/* without SPARSE: the holes as ZERO gfns, still unread */
	ASSERT_EQ(0, bulk_run(fd, false, &g));
	EXPECT_EQ(0, g.twice);
	EXPECT_EQ(-1, bulk_mismatch(&g, fd, 3));
	EXPECT_EQ(BULK_PAGES - 7u, g.zero);
	EXPECT_EQ(7 * PG, km_pop_bytes(fd, 0, BULK_PAGES * PG));
	munmap(m, BULK_PAGES * PG);
	close(fd);
}

TEST_HARNESS_MAIN
