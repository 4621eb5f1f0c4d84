// SPDX-License-Identifier: GPL-2.0
/*
 * The kmigrate migration wire protocol: the incremental decoder (proto.h).
 * Everything here parses bytes from the network: it trusts no field, checks
 * each against the limits and the record order before using it, and never
 * reads beyond what it was given (tests/fuzz/fuzz_recv.c fuzzes it).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "proto_wire.h"

/* Parses @len bytes of HELLO payload (len >= KMP_HELLO_FIXED) and checks it. */
static int hello_get(const uint8_t *p, size_t len, struct kmp_hello *h, char *why, size_t wl)
{
	memset(h, 0, sizeof(*h));
	if (memcmp(p, KMP_HELLO_MAGIC, 8))
		return kmp_fail(why, wl, KMP_E_MAGIC, "not a kmigrate stream (bad HELLO magic)");
	h->version = get32(p + 8);
	h->page_size = get32(p + 12);
	h->features_required = get64(p + 16);
	h->features_optional = get64(p + 24);
	memcpy(h->session, p + 32, KMP_SESSION_SIZE);
	h->mem_size = get64(p + 48);
	h->nr_vcpus = get32(p + 56);
	h->nr_slots = get32(p + 60);
	h->cpuid_hash = get64(p + 64);
	memcpy(h->name, p + 72, KMP_NAME_SIZE);
	if (h->version != KMP_VERSION)	/* before the length: it may differ */
		return kmp_hello_check(h, why, wl);
	if (h->nr_slots > KMP_MAX_SLOTS)
		return kmp_fail(why, wl, KMP_E_LIMIT, "%u memory slots (1 to %u allowed)",
			    h->nr_slots, KMP_MAX_SLOTS);
	if (len != kmp_hello_size(h))
		return kmp_fail(why, wl, KMP_E_LENGTH, "length %zu does not fit %u slots",
			    len, h->nr_slots);
	for (uint32_t i = 0; i < h->nr_slots; i++) {
		h->slots[i].gpa = get64(p + KMP_HELLO_FIXED + i * KMP_SLOT_SIZE);
		h->slots[i].size = get64(p + KMP_HELLO_FIXED + i * KMP_SLOT_SIZE + 8);
	}
	return kmp_hello_check(h, why, wl);
}

/*
 * The payload of ERROR/ABORT: code, reserved, message bytes.  The message
 * goes to logs and terminals as it is: a control byte but newline (the
 * lines of a pre-flight refusal) and tab, e.g. ESC or CR, becomes '?', so
 * that the peer cannot rewrite a terminal or forge a log line's start
 * (found by tests/fuzz/fuzz_recv.c).
 */
static int error_get(const uint8_t *p, size_t n, struct kmp_error *e, char *why, size_t len)
{
	size_t mlen = n - KMP_ERROR_FIXED;

	e->code = get32(p);
	if (get32(p + 4))
		return kmp_fail(why, len, KMP_E_RESERVED, "reserved field not zero");
	memcpy(e->msg, p + KMP_ERROR_FIXED, mlen);
	e->msg[mlen] = 0;
	for (size_t i = 0; i < mlen; i++) {
		unsigned char c = (unsigned char)e->msg[i];

		if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
			e->msg[i] = '?';
	}
	return kmp_msg_check((const char *)p + KMP_ERROR_FIXED, mlen, why, len);
}

/* ----------------------------------------------------------- decoder -- */

enum step {
	S_HDR,		/* collecting a record header */
	S_BODY,		/* collecting a whole small payload into body[] */
	S_GFNS,		/* PAGES: collecting the gfn table */
	S_PAGE,		/* PAGES: collecting page page_idx */
	S_STATE,	/* VCPU_STATE: collecting into blob */
	S_STOP,		/* complete or failed */
};

/* Largest payload collected into body[]: a full ZERO record. */
#define KMP_BODY_MAX	(KMP_MAX_ZERO_BATCH * KMP_GFN_SIZE)

struct kmp_dec {
	const struct kmp_dec_ops *ops;
	void *opaque;
	struct kmp_order order;
	XXH64_state_t xxh;
	struct kmp_end sum;		/* digest unused */
	uint64_t offset;		/* stream bytes consumed */
	uint64_t recno;			/* index of the current record */
	bool have_hello;
	struct kmp_hello hello;
	int code;
	char err[320];
	char why[200];			/* detail, before the record prefix */

	/* the current record */
	enum step step;
	uint64_t rec_offset;
	uint32_t type, flags, length, count;
	uint32_t page_idx;
	bool digest_now;		/* the bytes being collected are digested */
	size_t have, need;
	uint8_t *dst;			/* where bytes are collected */
	uint8_t hdr[KMP_HDR_SIZE];
	uint8_t *blob;
	uint32_t max_state;		/* kmp_dec_set_max_state */
	uint64_t gfns[KMP_MAX_PAGES_BATCH];
	uint8_t page[KMP_PAGE_SIZE];
	uint8_t body[KMP_BODY_MAX];
};

static void dec_collect(struct kmp_dec *d, enum step step, uint8_t *dst, size_t need)
{
	d->step = step;
	d->dst = dst;
	d->have = 0;
	d->need = need;
	d->digest_now = kmp_type_digested(d->type) &&
			(step != S_PAGE || kmp_order_final(&d->order));
}

struct kmp_dec *kmp_dec_new(enum kmp_dir dir, const struct kmp_dec_ops *ops, void *opaque)
{
	static const struct kmp_dec_ops no_ops;
	struct kmp_dec *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->ops = ops ? ops : &no_ops;
	d->opaque = opaque;
	d->max_state = KMP_MAX_STATE;
	kmp_order_init(&d->order, dir);
	XXH64_reset(&d->xxh, 0);
	dec_collect(d, S_HDR, d->hdr, KMP_HDR_SIZE);
	return d;
}

void kmp_dec_free(struct kmp_dec *d)
{
	if (!d)
		return;
	free(d->blob);
	free(d);
}

const char *kmp_dec_error(const struct kmp_dec *d)
{
	return d->err;
}

int kmp_dec_code(const struct kmp_dec *d)
{
	return d->code;
}

const struct kmp_hello *kmp_dec_hello(const struct kmp_dec *d)
{
	return d->have_hello ? &d->hello : NULL;
}

bool kmp_dec_done(const struct kmp_dec *d)
{
	return !d->code && kmp_order_done(&d->order) && d->step == S_STOP;
}

void kmp_dec_totals(const struct kmp_dec *d, struct kmp_end *sum)
{
	*sum = d->sum;
	sum->digest = XXH64_digest(&d->xxh);
}

void kmp_dec_set_error(struct kmp_dec *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->why, sizeof(d->why), fmt, ap);
	va_end(ap);
}

/* Stops the decoder with @code: "record N (TYPE) at byte B: <d->why>". */
static int dec_fail(struct kmp_dec *d, int code)
{
	const char *name = kmp_type_name(d->type);

	if (code <= 0 || code >= KMP_E__COUNT)
		code = KMP_E_REFUSED;
	if (!d->why[0])
		snprintf(d->why, sizeof(d->why), "%s", kmp_strerror(code));
	if (name)
		snprintf(d->err, sizeof(d->err), "record %llu (%s) at byte %llu: %s",
			 (unsigned long long)d->recno, name,
			 (unsigned long long)d->rec_offset, d->why);
	else
		snprintf(d->err, sizeof(d->err), "record %llu at byte %llu: %s",
			 (unsigned long long)d->recno, (unsigned long long)d->rec_offset, d->why);
	d->code = code;
	d->step = S_STOP;
	return code;
}

static int dec_failf(struct kmp_dec *d, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int dec_failf(struct kmp_dec *d, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->why, sizeof(d->why), fmt, ap);
	va_end(ap);
	return dec_fail(d, code);
}

/* A handler's result -> the decoder's. */
static int dec_handler(struct kmp_dec *d, int rc)
{
	if (!rc)
		return KMP_OK;
	if (!d->why[0])
		snprintf(d->why, sizeof(d->why), "refused by the receiver (%s)",
			 kmp_strerror(rc > 0 && rc < KMP_E__COUNT ? rc : KMP_E_REFUSED));
	return dec_fail(d, rc);
}

#define CALL(d, fn, ...) \
	dec_handler(d, (d)->ops->fn ? (d)->ops->fn((d)->opaque, ##__VA_ARGS__) : 0)

/* The record is complete: collect the next header, if any. */
static int dec_next_record(struct kmp_dec *d)
{
	d->recno++;
	d->rec_offset = d->offset;
	d->type = 0;
	d->why[0] = 0;
	free(d->blob);
	d->blob = NULL;
	if (kmp_order_done(&d->order))
		d->step = S_STOP;
	else
		dec_collect(d, S_HDR, d->hdr, KMP_HDR_SIZE);
	return KMP_OK;
}

static int dec_hello(struct kmp_dec *d)
{
	int rc = hello_get(d->body, d->length, &d->hello, d->why, sizeof(d->why));

	if (rc)
		return dec_fail(d, rc);
	d->have_hello = true;
	kmp_order_after_hello(&d->order, d->hello.features_required);
	return CALL(d, hello, &d->hello);
}

static int dec_profile(struct kmp_dec *d)
{
	struct kmp_profile pr;
	const uint8_t *p = d->body;
	int rc;

	memset(&pr, 0, sizeof(pr));
	memcpy(pr.model, p, KMP_MODEL_SIZE);
	pr.module_abi = get32(p + 32);
	pr.nent = get32(p + 36);
	pr.mem_populated = get64(p + 40);
	rc = kmp_populated_check(&d->hello, pr.mem_populated, d->why, sizeof(d->why));
	if (rc)
		return dec_fail(d, rc);
	rc = kmp_profile_check(&pr, d->why, sizeof(d->why));
	if (rc)
		return dec_fail(d, rc);
	if (d->length != kmp_profile_size(&pr))
		return dec_failf(d, KMP_E_LENGTH, "length %u does not fit %u CPUID entries",
				 d->length, pr.nent);
	for (uint32_t i = 0; i < pr.nent; i++) {
		const uint8_t *x = p + KMP_PROFILE_FIXED + i * KMP_CPUID_ENT_SIZE;
		struct kmp_cpuid_ent *c = &pr.ent[i];

		if (get32(x + 12))
			return dec_failf(d, KMP_E_RESERVED,
					 "CPUID entry %u: reserved field not zero", i);
		c->function = get32(x);
		c->index = get32(x + 4);
		c->flags = get32(x + 8);
		c->eax = get32(x + 16);
		c->ebx = get32(x + 20);
		c->ecx = get32(x + 24);
		c->edx = get32(x + 28);
	}
	return CALL(d, profile, &pr);
}

void kmp_dec_set_max_state(struct kmp_dec *d, uint32_t max)
{
	d->max_state = max && max < KMP_MAX_STATE ? max : KMP_MAX_STATE;
}

void kmp_dec_set_required(struct kmp_dec *d, uint64_t required)
{
	d->order.required = required;
}

static int dec_round(struct kmp_dec *d)
{
	struct kmp_round r = {
		.round = get32(d->body),
		.flags = d->flags,
		.dirty_pages = get64(d->body + 8),
	};
	struct kmp_order before = d->order;
	int rc;

	before.next_round--;	/* the order already counted this round */
	rc = kmp_round_check(&before, &r, d->why, sizeof(d->why));
	if (rc)
		return dec_fail(d, rc);
	if (get32(d->body + 4))
		return dec_failf(d, KMP_E_RESERVED, "reserved field not zero");
	return CALL(d, round, &r);
}

static void gfns_get(const uint8_t *p, uint64_t *gfns, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		gfns[i] = get64(p + i * KMP_GFN_SIZE);
}

static int dec_zero(struct kmp_dec *d)
{
	uint64_t gfn;
	int rc;

	for (uint32_t i = 0; i < d->count; i++) {	/* all valid, or none used */
		gfn = get64(d->body + i * KMP_GFN_SIZE);
		if (!kmp_gfn_valid(&d->hello, gfn))
			return dec_failf(d, KMP_E_RANGE,
					 "gfn 0x%llx (entry %u) beyond guest memory (%llu pages)",
					 (unsigned long long)gfn, i,
					 (unsigned long long)kmp_hello_pages(&d->hello));
	}
	for (uint32_t i = 0; i < d->count; i++) {
		rc = CALL(d, zero, get64(d->body + i * KMP_GFN_SIZE));
		if (rc)
			return rc;
	}
	d->sum.zero_pages += d->count;
	return KMP_OK;
}

static int dec_machine(struct kmp_dec *d)
{
	struct kmp_machine m;
	int rc;

	memset(&m, 0, sizeof(m));
	m.flags = d->flags;
	m.nr = d->count;
	for (uint32_t i = 0; i < m.nr; i++) {
		const uint8_t *x = d->body + i * KMP_DEV_SIZE;
		struct kmp_dev *v = &m.dev[i];

		v->kind = get32(x);
		v->flags = get32(x + 4);
		v->bytes = get64(x + 8);
		v->ident = get64(x + 16);
		memcpy(v->mac, x + 24, 6);
		if (x[30] || x[31])
			return dec_failf(d, KMP_E_RESERVED, "device %u: reserved bytes not zero", i);
		memcpy(v->path, x + 32, KMP_DEV_PATH_SIZE);
		memcpy(v->bridge, x + 288, KMP_DEV_IFNAME_SIZE);
		memcpy(v->tap, x + 304, KMP_DEV_IFNAME_SIZE);
	}
	rc = kmp_machine_check(&m, d->why, sizeof(d->why));
	if (rc)
		return dec_fail(d, rc);
	return CALL(d, machine, &m);
}

static int dec_hole(struct kmp_dec *d)
{
	struct kmp_range r;
	int rc;

	for (uint32_t i = 0; i < d->count; i++) {	/* all valid, or none used */
		r.gfn = get64(d->body + i * KMP_RANGE_SIZE);
		r.npages = get64(d->body + i * KMP_RANGE_SIZE + 8);
		rc = kmp_ranges_check(&d->hello, &r, 1, d->why, sizeof(d->why));
		if (rc)
			return dec_fail(d, rc);
	}
	for (uint32_t i = 0; i < d->count; i++) {
		rc = CALL(d, hole, get64(d->body + i * KMP_RANGE_SIZE),
			  get64(d->body + i * KMP_RANGE_SIZE + 8));
		if (rc)
			return rc;
	}
	return KMP_OK;
}

static int dec_end(struct kmp_dec *d)
{
	struct kmp_end e = {
		.digest = get64(d->body),
		.records = get64(d->body + 8),
		.pages = get64(d->body + 16),
		.zero_pages = get64(d->body + 24),
		.bytes = get64(d->body + 32),
	};
	uint64_t digest = XXH64_digest(&d->xxh);
	const struct kmp_end *s = &d->sum;

	if (e.digest != digest)
		return dec_failf(d, KMP_E_DIGEST,
				 "digest 0x%016llx, the stream received has 0x%016llx",
				 (unsigned long long)e.digest, (unsigned long long)digest);
	if (e.records != s->records || e.pages != s->pages ||
	    e.zero_pages != s->zero_pages || e.bytes != s->bytes)
		return dec_failf(d, KMP_E_DIGEST,
				 "END counts %llu records, %llu pages, %llu zero, %llu bytes; "
				 "received %llu, %llu, %llu, %llu",
				 (unsigned long long)e.records, (unsigned long long)e.pages,
				 (unsigned long long)e.zero_pages, (unsigned long long)e.bytes,
				 (unsigned long long)s->records, (unsigned long long)s->pages,
				 (unsigned long long)s->zero_pages, (unsigned long long)s->bytes);
	return CALL(d, end, &e);
}

static int dec_error_rec(struct kmp_dec *d)
{
	struct kmp_error e;
	int rc = error_get(d->body, d->length, &e, d->why, sizeof(d->why));

	if (rc)
		return dec_fail(d, rc);
	if (d->type == KMP_T_ABORT)
		return CALL(d, abort, &e);
	return CALL(d, error, &e);
}

static int dec_accept(struct kmp_dec *d)
{
	struct kmp_accept a = { .version = get32(d->body), .features = get64(d->body + 8) };

	memcpy(a.session, d->body + 16, KMP_SESSION_SIZE);
	if (get32(d->body + 4))
		return dec_failf(d, KMP_E_RESERVED, "reserved field not zero");
	if (a.version != KMP_VERSION)
		return dec_failf(d, KMP_E_VERSION, "protocol version %u, this build speaks %u",
				 a.version, KMP_VERSION);
	/* a destination answers with a subset of what the source offered */
	if (a.features & ~KMP_FO_KNOWN)
		return dec_failf(d, KMP_E_FEATURE, "unknown features 0x%llx",
				 (unsigned long long)(a.features & ~KMP_FO_KNOWN));
	d->order.features = a.features;
	return CALL(d, accept, &a);
}

static int dec_resumed(struct kmp_dec *d)
{
	struct kmp_resumed r = {
		.valid = get32(d->body),
		.verify_note = get16(d->body + 4),
		.pause_note = get16(d->body + 6),
		.pages_verified = get64(d->body + 8),
		.pages_bad = get64(d->body + 16),
		.verify_us = get64(d->body + 24),
		.guest_pause_us = get64(d->body + 32),
	};
	bool ext = d->order.features & KMP_FO_RESUMED_EXT;
	uint32_t want = ext ? KMP_RESUMED_EXT_SIZE : KMP_RESUMED_SIZE;
	int rc;

	if (d->length != want)
		return dec_failf(d, KMP_E_LENGTH, "RESUMED of %u bytes, expected %u (extension "
				 "%sagreed in ACCEPT)", d->length, want, ext ? "" : "not ");
	if (!ext && (r.valid & KMP_RSM_EXT))
		return dec_failf(d, KMP_E_FEATURE, "RESUMED extension fields (valid 0x%x) not "
				 "agreed in ACCEPT", r.valid & KMP_RSM_EXT);
	if (ext) {
		r.mem_populated_created = get64(d->body + 40);
		r.mem_populated = get64(d->body + 48);
		r.mem_rss_created = get64(d->body + 56);
		r.mem_rss = get64(d->body + 64);
		r.resume_us = get64(d->body + 72);
	}
	rc = kmp_resumed_check(&r, d->why, sizeof(d->why));
	if (rc)
		return dec_fail(d, rc);
	return CALL(d, resumed, &r);
}

static int dec_ready(struct kmp_dec *d)
{
	struct kmp_ready r = { .digest = get64(d->body), .pages = get64(d->body + 8) };

	return CALL(d, ready, &r);
}

static int dec_switchback(struct kmp_dec *d)
{
	struct kmp_switchback sb = { .round = get32(d->body), .paused_us = get64(d->body + 8) };

	if (get32(d->body + 4))
		return dec_failf(d, KMP_E_RESERVED, "SWITCHBACK: reserved field not zero");
	if (sb.round + 1 != d->order.next_round)
		return dec_failf(d, KMP_E_ORDER, "SWITCHBACK of round %u: the final round is %u",
				 sb.round, d->order.next_round - 1);
	return CALL(d, switchback, &sb);
}

void kmp_dec_set_features(struct kmp_dec *d, uint64_t features)
{
	d->order.features = features;
}

/* A small record's payload is complete in body[]. */
static int dec_body(struct kmp_dec *d)
{
	int rc;

	switch (d->type) {
	case KMP_T_HELLO:	rc = dec_hello(d); break;
	case KMP_T_ROUND:	rc = dec_round(d); break;
	case KMP_T_PROFILE:	rc = dec_profile(d); break;
	case KMP_T_ZERO:	rc = dec_zero(d); break;
	case KMP_T_HOLE:	rc = dec_hole(d); break;
	case KMP_T_MACHINE:	rc = dec_machine(d); break;
	case KMP_T_END:		rc = dec_end(d); break;
	case KMP_T_COMMIT:	rc = CALL(d, commit); break;
	case KMP_T_ABORT:
	case KMP_T_ERROR:	rc = dec_error_rec(d); break;
	case KMP_T_ACCEPT:	rc = dec_accept(d); break;
	case KMP_T_READY:	rc = dec_ready(d); break;
	case KMP_T_RESUMED:	rc = dec_resumed(d); break;
	case KMP_T_SWITCHBACK:	rc = dec_switchback(d); break;
	default:		rc = dec_failf(d, KMP_E_INTERNAL, "no body decoder"); break;
	}
	return rc ? rc : dec_next_record(d);
}

/* The gfn table of a PAGES record is complete: check it all, then pages. */
static int dec_gfns(struct kmp_dec *d)
{
	int rc;

	gfns_get(d->body, d->gfns, d->count);
	rc = kmp_gfns_check(&d->hello, d->gfns, d->count, d->why, sizeof(d->why));
	if (rc)
		return dec_fail(d, rc);
	d->page_idx = 0;
	dec_collect(d, S_PAGE, d->page, KMP_PAGE_SIZE);
	return KMP_OK;
}

static int dec_page(struct kmp_dec *d, const uint8_t *data)
{
	int rc = CALL(d, page, d->gfns[d->page_idx], data);

	if (rc)
		return rc;
	d->sum.pages++;
	if (++d->page_idx < d->count) {
		dec_collect(d, S_PAGE, d->page, KMP_PAGE_SIZE);
		return KMP_OK;
	}
	return dec_next_record(d);
}

static int dec_state(struct kmp_dec *d)
{
	int rc = CALL(d, vcpu_state, d->blob, d->length);

	return rc ? rc : dec_next_record(d);
}

static int dec_payload_start(struct kmp_dec *d)
{
	switch (d->type) {
	case KMP_T_PAGES:
		dec_collect(d, S_GFNS, d->body, (size_t)d->count * KMP_GFN_SIZE);
		return KMP_OK;
	case KMP_T_VCPU_STATE:
		d->blob = malloc(d->length);
		if (!d->blob)
			return dec_failf(d, KMP_E_RESOURCE, "no memory for %u bytes of state",
					 d->length);
		dec_collect(d, S_STATE, d->blob, d->length);
		return KMP_OK;
	}
	if (!d->length)
		return dec_body(d);
	dec_collect(d, S_BODY, d->body, d->length);
	return KMP_OK;
}

/* A record header is complete in hdr[]. */
static int dec_header(struct kmp_dec *d)
{
	int rc;

	if (get32(d->hdr) != KMP_REC_MAGIC)
		return dec_failf(d, KMP_E_MAGIC, "bad record magic 0x%08x", get32(d->hdr));
	d->type = get16(d->hdr + 4);
	d->flags = get16(d->hdr + 6);
	d->length = get32(d->hdr + 8);
	d->count = get32(d->hdr + 12);
	if (!kmp_type_name(d->type)) {
		uint32_t type = d->type;

		d->type = 0;
		return dec_failf(d, KMP_E_TYPE, "unknown record type %u", type);
	}
	rc = kmp_order_next(&d->order, d->type, d->flags);
	if (rc == KMP_E_TYPE && d->type == KMP_T_HOLE && d->order.dir == KMP_DIR_SOURCE)
		return dec_failf(d, rc, "HOLE in a stream without the feature SPARSE");
	if (rc == KMP_E_TYPE && d->type == KMP_T_MACHINE && d->order.dir == KMP_DIR_SOURCE)
		return dec_failf(d, rc, "MACHINE in a stream without the feature BOARD");
	if (rc == KMP_E_TYPE && d->type == KMP_T_SWITCHBACK && d->order.dir == KMP_DIR_SOURCE)
		return dec_failf(d, rc, "SWITCHBACK in a stream without the feature SWITCHBACK "
				 "(the destination did not accept it)");
	if (rc)
		return dec_failf(d, rc, "%s", rc == KMP_E_TYPE ?
				 "record of the other direction" : "record not allowed here");
	rc = kmp_hdr_check(d->type, d->flags, d->length, d->count, d->why, sizeof(d->why));
	if (rc)
		return dec_fail(d, rc);
	if (d->type == KMP_T_VCPU_STATE && d->length > d->max_state)
		return dec_failf(d, KMP_E_LIMIT, "state of %u bytes: this receiver takes at most %u",
				 d->length, d->max_state);
	if (kmp_type_digested(d->type)) {
		XXH64_update(&d->xxh, d->hdr, KMP_HDR_SIZE);
		d->sum.records++;
		d->sum.bytes += KMP_HDR_SIZE + (uint64_t)d->length;
	}
	return dec_payload_start(d);
}

/* d->need bytes are collected (at @direct if not copied). */
static int dec_step(struct kmp_dec *d, const uint8_t *direct)
{
	switch (d->step) {
	case S_HDR:	return dec_header(d);
	case S_BODY:	return dec_body(d);
	case S_GFNS:	return dec_gfns(d);
	case S_PAGE:	return dec_page(d, direct ? direct : d->page);
	case S_STATE:	return dec_state(d);
	case S_STOP:	break;
	}
	return dec_failf(d, KMP_E_INTERNAL, "bad decoder step");
}

int kmp_dec_feed(struct kmp_dec *d, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len && !d->code) {
		size_t take = d->need - d->have;
		const uint8_t *direct = NULL;
		int rc;

		if (d->step == S_STOP)
			return dec_failf(d, KMP_E_ORDER, "data after the end of the stream");
		if (take > len)
			take = len;
		if (d->step == S_PAGE && take == d->need)
			direct = p;	/* a whole page in the input: no copy */
		else
			memcpy(d->dst + d->have, p, take);
		if (d->digest_now)
			XXH64_update(&d->xxh, p, take);
		d->have += take;
		d->offset += take;
		p += take;
		len -= take;
		if (d->have == d->need) {
			rc = dec_step(d, direct);
			if (rc)
				return rc;
		}
	}
	return d->code;
}

int kmp_dec_finish(struct kmp_dec *d)
{
	if (d->code || kmp_dec_done(d))
		return d->code;
	if (d->step == S_HDR && !d->have)
		return dec_failf(d, KMP_E_TRUNCATED, "stream ended before %s",
				 d->recno ? "its last record" : "HELLO");
	return dec_failf(d, KMP_E_TRUNCATED, "stream ended inside the record (byte %llu)",
			 (unsigned long long)d->offset);
}
