// SPDX-License-Identifier: GPL-2.0
/*
 * The kmigrate migration wire protocol: the encoder (proto.h).  It writes
 * what this side sends; nothing here reads bytes from the peer.
 */
#include <stdio.h>
#include <string.h>

#include "proto.h"
#include "proto_wire.h"

static void hello_put(uint8_t *p, const struct kmp_hello *h)
{
	memcpy(p, KMP_HELLO_MAGIC, 8);
	put32(p + 8, h->version);
	put32(p + 12, h->page_size);
	put64(p + 16, h->features_required);
	put64(p + 24, h->features_optional);
	memcpy(p + 32, h->session, KMP_SESSION_SIZE);
	put64(p + 48, h->mem_size);
	put32(p + 56, h->nr_vcpus);
	put32(p + 60, h->nr_slots);
	put64(p + 64, h->cpuid_hash);
	memcpy(p + 72, h->name, KMP_NAME_SIZE);
	for (uint32_t i = 0; i < h->nr_slots; i++) {
		put64(p + KMP_HELLO_FIXED + i * KMP_SLOT_SIZE, h->slots[i].gpa);
		put64(p + KMP_HELLO_FIXED + i * KMP_SLOT_SIZE + 8, h->slots[i].size);
	}
}

static void hdr_put(uint8_t *p, uint32_t type, uint32_t flags, uint32_t length, uint32_t count)
{
	put32(p, KMP_REC_MAGIC);
	put16(p + 4, type);
	put16(p + 6, flags);
	put32(p + 8, length);
	put32(p + 12, count);
}

/* ----------------------------------------------------------- encoder -- */

void kmp_enc_init(struct kmp_enc *e, enum kmp_dir dir)
{
	memset(e, 0, sizeof(*e));
	kmp_order_init(&e->order, dir);
	XXH64_reset(&e->xxh, 0);
}

/*
 * Starts a record: checks the order (on a copy, committed by enc_commit)
 * and the header, and that @fixed bytes (header included) fit in @len.
 */
static int enc_begin(struct kmp_enc *e, struct kmp_order *o, size_t len, uint32_t type,
		     uint32_t flags, uint32_t length, uint32_t count, size_t fixed)
{
	int rc;

	*o = e->order;
	rc = kmp_order_next(o, type, flags);
	if (rc)
		return -kmp_fail(e->err, sizeof(e->err), rc, "%s %s", kmp_type_name(type),
			     rc == KMP_E_TYPE ? "is not sent by this side" : "not allowed here");
	rc = kmp_hdr_check(type, flags, length, count, e->err, sizeof(e->err));
	if (rc)
		return -rc;
	if (len < fixed)
		return -kmp_fail(e->err, sizeof(e->err), KMP_E_NOSPACE,
			     "%s needs %zu bytes, buffer has %zu", kmp_type_name(type), fixed, len);
	return 0;
}

/* Ends a record of which @n bytes are in @buf: digest, counts, order. */
static ssize_t enc_commit(struct kmp_enc *e, const struct kmp_order *o, const uint8_t *buf,
			  size_t n, uint32_t type, uint32_t length)
{
	if (kmp_type_digested(type)) {
		XXH64_update(&e->xxh, buf, n);
		e->sum.records++;
		e->sum.bytes += KMP_HDR_SIZE + (uint64_t)length;
	}
	e->order = *o;
	e->err[0] = 0;
	return n;
}

/* A record whose payload (@plen bytes at @payload) is copied after the header. */
static ssize_t enc_simple(struct kmp_enc *e, void *buf, size_t len, uint32_t type,
			  uint32_t flags, const void *payload, uint32_t plen)
{
	struct kmp_order o;
	int rc = enc_begin(e, &o, len, type, flags, plen, 0, KMP_HDR_SIZE + (size_t)plen);

	if (rc)
		return rc;
	hdr_put(buf, type, flags, plen, 0);
	if (plen)
		memcpy((uint8_t *)buf + KMP_HDR_SIZE, payload, plen);
	return enc_commit(e, &o, buf, KMP_HDR_SIZE + (size_t)plen, type, plen);
}

ssize_t kmp_enc_hello(struct kmp_enc *e, void *buf, size_t len, const struct kmp_hello *h)
{
	uint8_t p[KMP_HELLO_FIXED + KMP_MAX_SLOTS * KMP_SLOT_SIZE];
	ssize_t rc = kmp_hello_check(h, e->err, sizeof(e->err));

	if (rc)
		return -rc;
	hello_put(p, h);
	rc = enc_simple(e, buf, len, KMP_T_HELLO, 0, p, kmp_hello_size(h));
	if (rc > 0) {
		e->hello = *h;
		kmp_order_after_hello(&e->order, h->features_required);
	}
	return rc;
}

ssize_t kmp_enc_profile(struct kmp_enc *e, void *buf, size_t len, const struct kmp_profile *pr)
{
	uint8_t p[KMP_PROFILE_FIXED + KMP_MAX_CPUID * KMP_CPUID_ENT_SIZE];
	int rc = kmp_profile_check(pr, e->err, sizeof(e->err)) ?:
		 kmp_populated_check(&e->hello, pr->mem_populated, e->err, sizeof(e->err));

	if (rc)
		return -rc;
	memset(p, 0, KMP_PROFILE_FIXED);
	memcpy(p, pr->model, KMP_MODEL_SIZE);
	put32(p + 32, pr->module_abi);
	put32(p + 36, pr->nent);
	put64(p + 40, pr->mem_populated);
	for (uint32_t i = 0; i < pr->nent; i++) {
		uint8_t *x = p + KMP_PROFILE_FIXED + i * KMP_CPUID_ENT_SIZE;
		const struct kmp_cpuid_ent *c = &pr->ent[i];

		put32(x, c->function);
		put32(x + 4, c->index);
		put32(x + 8, c->flags);
		put32(x + 12, 0);
		put32(x + 16, c->eax);
		put32(x + 20, c->ebx);
		put32(x + 24, c->ecx);
		put32(x + 28, c->edx);
	}
	return enc_simple(e, buf, len, KMP_T_PROFILE, 0, p, (uint32_t)kmp_profile_size(pr));
}

void kmp_enc_set_required(struct kmp_enc *e, uint64_t required)
{
	e->order.required = required;
}

ssize_t kmp_enc_round(struct kmp_enc *e, void *buf, size_t len, const struct kmp_round *r)
{
	uint8_t p[KMP_ROUND_SIZE];
	int rc = e->order.dir == KMP_DIR_SOURCE ?
		 kmp_round_check(&e->order, r, e->err, sizeof(e->err)) : KMP_OK;

	if (rc)
		return -rc;
	put32(p, r->round);
	put32(p + 4, 0);
	put64(p + 8, r->dirty_pages);
	return enc_simple(e, buf, len, KMP_T_ROUND, r->flags, p, sizeof(p));
}

/* Writes header + gfn table of a PAGES/ZERO record after checking the gfns. */
static ssize_t enc_gfn_record(struct kmp_enc *e, struct kmp_order *o, void *buf, size_t len,
			      uint32_t type, const uint64_t *gfns, uint32_t n, uint32_t length)
{
	uint8_t *p = buf;
	int rc = enc_begin(e, o, len, type, 0, length, n, kmp_pages_hdr_size(n));

	if (rc)
		return rc;
	rc = kmp_gfns_check(&e->hello, gfns, n, e->err, sizeof(e->err));
	if (rc)
		return -rc;
	hdr_put(p, type, 0, length, n);
	for (uint32_t i = 0; i < n; i++)
		put64(p + KMP_HDR_SIZE + i * KMP_GFN_SIZE, gfns[i]);
	return kmp_pages_hdr_size(n);
}

ssize_t kmp_enc_zero(struct kmp_enc *e, void *buf, size_t len, const uint64_t *gfns, uint32_t n)
{
	struct kmp_order o;
	ssize_t rc = enc_gfn_record(e, &o, buf, len, KMP_T_ZERO, gfns, n, n * KMP_GFN_SIZE);

	if (rc < 0)
		return rc;
	e->sum.zero_pages += n;
	return enc_commit(e, &o, buf, rc, KMP_T_ZERO, n * KMP_GFN_SIZE);
}

int kmp_enc_pages(struct kmp_enc *e, void *buf, size_t len, const uint64_t *gfns,
		  const void *const *pages, uint32_t n, struct iovec *iov, size_t iovcnt)
{
	uint32_t length = n * (KMP_GFN_SIZE + KMP_PAGE_SIZE);
	struct kmp_order o;
	ssize_t rc;

	if (n > KMP_MAX_PAGES_BATCH)	/* before n * size can overflow */
		return -kmp_fail(e->err, sizeof(e->err), KMP_E_LIMIT, "%u pages (1 to %u allowed)",
			     n, KMP_MAX_PAGES_BATCH);
	if (iovcnt < (size_t)n + 1)
		return -kmp_fail(e->err, sizeof(e->err), KMP_E_NOSPACE,
			     "PAGES of %u pages needs %u iovecs", n, n + 1);
	rc = enc_gfn_record(e, &o, buf, len, KMP_T_PAGES, gfns, n, length);
	if (rc < 0)
		return rc;
	iov[0] = (struct iovec){ .iov_base = buf, .iov_len = rc };
	enc_commit(e, &o, buf, rc, KMP_T_PAGES, length);
	for (uint32_t i = 0; i < n; i++) {
		iov[i + 1] = (struct iovec){ .iov_base = (void *)pages[i], .iov_len = KMP_PAGE_SIZE };
		if (kmp_order_final(&e->order))	/* the guest is paused */
			XXH64_update(&e->xxh, pages[i], KMP_PAGE_SIZE);
	}
	e->sum.pages += n;
	return (int)n + 1;
}

ssize_t kmp_enc_machine(struct kmp_enc *e, void *buf, size_t len, const struct kmp_machine *m)
{
	uint32_t length;
	struct kmp_order o;
	uint8_t *p = buf;
	int rc = kmp_machine_check(m, e->err, sizeof(e->err));

	if (rc)
		return -rc;
	length = m->nr * KMP_DEV_SIZE;
	rc = enc_begin(e, &o, len, KMP_T_MACHINE, m->flags, length, m->nr,
		       KMP_HDR_SIZE + (size_t)length);
	if (rc)
		return rc;
	hdr_put(p, KMP_T_MACHINE, m->flags, length, m->nr);
	memset(p + KMP_HDR_SIZE, 0, length);
	for (uint32_t i = 0; i < m->nr; i++) {
		const struct kmp_dev *d = &m->dev[i];
		uint8_t *x = p + KMP_HDR_SIZE + i * KMP_DEV_SIZE;

		put32(x, d->kind);
		put32(x + 4, d->flags);
		put64(x + 8, d->bytes);
		put64(x + 16, d->ident);
		memcpy(x + 24, d->mac, 6);
		memcpy(x + 32, d->path, KMP_DEV_PATH_SIZE);
		memcpy(x + 288, d->bridge, KMP_DEV_IFNAME_SIZE);
		memcpy(x + 304, d->tap, KMP_DEV_IFNAME_SIZE);
	}
	return enc_commit(e, &o, buf, KMP_HDR_SIZE + (size_t)length, KMP_T_MACHINE, length);
}

ssize_t kmp_enc_hole(struct kmp_enc *e, void *buf, size_t len, const struct kmp_range *r,
		     uint32_t n)
{
	uint32_t length;
	struct kmp_order o;
	uint8_t *p = buf;
	int rc;

	if (n > KMP_MAX_HOLE_BATCH)	/* before n * size can overflow */
		return -kmp_fail(e->err, sizeof(e->err), KMP_E_LIMIT, "%u ranges (1 to %u allowed)",
			     n, KMP_MAX_HOLE_BATCH);
	length = n * KMP_RANGE_SIZE;
	rc = enc_begin(e, &o, len, KMP_T_HOLE, 0, length, n, KMP_HDR_SIZE + (size_t)length);
	if (rc)
		return rc;
	rc = kmp_ranges_check(&e->hello, r, n, e->err, sizeof(e->err));
	if (rc)
		return -rc;
	hdr_put(p, KMP_T_HOLE, 0, length, n);
	for (uint32_t i = 0; i < n; i++) {
		put64(p + KMP_HDR_SIZE + i * KMP_RANGE_SIZE, r[i].gfn);
		put64(p + KMP_HDR_SIZE + i * KMP_RANGE_SIZE + 8, r[i].npages);
	}
	return enc_commit(e, &o, buf, KMP_HDR_SIZE + (size_t)length, KMP_T_HOLE, length);
}

ssize_t kmp_enc_vcpu_state(struct kmp_enc *e, void *buf, size_t len, const void *blob,
			   uint32_t blob_len)
{
	return enc_simple(e, buf, len, KMP_T_VCPU_STATE, 0, blob, blob_len);
}

static void end_put(uint8_t *p, const struct kmp_end *s)
{
	put64(p, s->digest);
	put64(p + 8, s->records);
	put64(p + 16, s->pages);
	put64(p + 24, s->zero_pages);
	put64(p + 32, s->bytes);
}

ssize_t kmp_enc_end(struct kmp_enc *e, void *buf, size_t len)
{
	uint8_t p[KMP_END_SIZE];
	struct kmp_end s = e->sum;

	s.digest = XXH64_digest(&e->xxh);
	end_put(p, &s);
	ssize_t rc = enc_simple(e, buf, len, KMP_T_END, 0, p, sizeof(p));

	if (rc > 0)
		e->sum.digest = s.digest;
	return rc;
}

ssize_t kmp_enc_switchback(struct kmp_enc *e, void *buf, size_t len,
			   const struct kmp_switchback *sb)
{
	uint8_t p[KMP_SWITCHBACK_SIZE];

	if (e->order.next_round == 0 || sb->round != e->order.next_round - 1) {
		snprintf(e->err, sizeof(e->err), "SWITCHBACK of round %u: the final round is %u",
			 sb->round, e->order.next_round ? e->order.next_round - 1 : 0);
		return -KMP_E_ORDER;
	}
	put32(p, sb->round);
	put32(p + 4, 0);
	put64(p + 8, sb->paused_us);
	return enc_simple(e, buf, len, KMP_T_SWITCHBACK, 0, p, sizeof(p));
}

void kmp_enc_set_features(struct kmp_enc *e, uint64_t features)
{
	e->order.features = features;
}

ssize_t kmp_enc_commit(struct kmp_enc *e, void *buf, size_t len)
{
	return enc_simple(e, buf, len, KMP_T_COMMIT, 0, NULL, 0);
}

size_t kmp_msg_fit(const char *msg, char *out)
{
	size_t n = msg ? strnlen(msg, KMP_MAX_MSG + 1) : 0, cut, i;

	if (n <= KMP_MAX_MSG) {
		memcpy(out, msg ? msg : "", n);
		return n;
	}
	/* the last word boundary that leaves room for the ellipsis, not
	 * further back than a long word (then: mid-word, but never inside
	 * a UTF-8 sequence) */
	cut = KMP_MAX_MSG - KMP_MSG_ELLIPSIS_LEN;
	for (i = cut; i > cut - KMP_MSG_WORD_MAX; i--)
		if (msg[i] == ' ')
			break;
	if (i > cut - KMP_MSG_WORD_MAX)
		cut = i;
	else
		while (cut > 0 && ((unsigned char)msg[cut] & 0xc0) == 0x80)
			cut--;
	while (cut > 0 && (msg[cut - 1] == ' ' || msg[cut - 1] == ',' ||
			   msg[cut - 1] == ';' || msg[cut - 1] == ':' || msg[cut - 1] == '('))
		cut--;
	memcpy(out, msg, cut);
	memcpy(out + cut, KMP_MSG_ELLIPSIS, KMP_MSG_ELLIPSIS_LEN);
	return cut + KMP_MSG_ELLIPSIS_LEN;
}

static ssize_t enc_error(struct kmp_enc *e, void *buf, size_t len, uint32_t type,
			 uint32_t code, const char *msg)
{
	uint8_t p[KMP_ERROR_FIXED + KMP_MAX_MSG];
	/* a long explanation is cut at a word, with "...", not refused */
	size_t n = kmp_msg_fit(msg, (char *)p + KMP_ERROR_FIXED);

	put32(p, code);
	put32(p + 4, 0);
	return enc_simple(e, buf, len, type, 0, p, KMP_ERROR_FIXED + n);
}

ssize_t kmp_enc_abort(struct kmp_enc *e, void *buf, size_t len, uint32_t code, const char *msg)
{
	return enc_error(e, buf, len, KMP_T_ABORT, code, msg);
}

ssize_t kmp_enc_error(struct kmp_enc *e, void *buf, size_t len, uint32_t code, const char *msg)
{
	return enc_error(e, buf, len, KMP_T_ERROR, code, msg);
}

ssize_t kmp_enc_accept(struct kmp_enc *e, void *buf, size_t len, const struct kmp_accept *a)
{
	uint8_t p[KMP_ACCEPT_SIZE];
	ssize_t rc;

	if (a->features & ~KMP_FO_KNOWN)
		return -kmp_fail(e->err, sizeof(e->err), KMP_E_FEATURE,
			     "ACCEPT: unknown features 0x%llx",
			     (unsigned long long)(a->features & ~KMP_FO_KNOWN));
	put32(p, a->version);
	put32(p + 4, 0);
	put64(p + 8, a->features);
	memcpy(p + 16, a->session, KMP_SESSION_SIZE);
	rc = enc_simple(e, buf, len, KMP_T_ACCEPT, 0, p, sizeof(p));
	if (rc > 0)
		e->order.features = a->features;
	return rc;
}

ssize_t kmp_enc_ready(struct kmp_enc *e, void *buf, size_t len, const struct kmp_ready *r)
{
	uint8_t p[KMP_READY_SIZE];

	put64(p, r->digest);
	put64(p + 8, r->pages);
	return enc_simple(e, buf, len, KMP_T_READY, 0, p, sizeof(p));
}

ssize_t kmp_enc_resumed(struct kmp_enc *e, void *buf, size_t len, const struct kmp_resumed *r)
{
	uint8_t p[KMP_RESUMED_EXT_SIZE];
	bool ext = e->order.features & KMP_FO_RESUMED_EXT;
	int rc = kmp_resumed_check(r, e->err, sizeof(e->err));

	if (rc)
		return -rc;
	if (!ext && (r->valid & KMP_RSM_EXT))
		return -kmp_fail(e->err, sizeof(e->err), KMP_E_FEATURE, "RESUMED extension "
				 "fields (valid 0x%x) not agreed in ACCEPT", r->valid & KMP_RSM_EXT);
	put32(p, r->valid);
	put16(p + 4, r->verify_note);
	put16(p + 6, r->pause_note);
	put64(p + 8, r->pages_verified);
	put64(p + 16, r->pages_bad);
	put64(p + 24, r->verify_us);
	put64(p + 32, r->guest_pause_us);
	if (!ext)
		return enc_simple(e, buf, len, KMP_T_RESUMED, 0, p, KMP_RESUMED_SIZE);
	put64(p + 40, r->mem_populated_created);
	put64(p + 48, r->mem_populated);
	put64(p + 56, r->mem_rss_created);
	put64(p + 64, r->mem_rss);
	put64(p + 72, r->resume_us);
	return enc_simple(e, buf, len, KMP_T_RESUMED, 0, p, KMP_RESUMED_EXT_SIZE);
}
