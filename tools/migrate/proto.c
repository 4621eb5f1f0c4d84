// SPDX-License-Identifier: GPL-2.0
/*
 * The kmigrate migration wire protocol: record layouts, order, encoder
 * and incremental decoder.  docs/PROTOCOL.md is the specification.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#define KMP_MAX_GPA_BITS	52	/* x86-64 MAXPHYADDR at most */

/* ------------------------------------------------------ little endian -- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v;
	p[1] = v >> 8;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v);
	put16(p + 2, v >> 16);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, v);
	put32(p + 4, v >> 32);
}

static uint16_t get16(const uint8_t *p)
{
	return p[0] | (uint16_t)p[1] << 8;
}

static uint32_t get32(const uint8_t *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* ------------------------------------------------------------- names -- */

static const char *const err_names[KMP_E__COUNT] = {
	[KMP_OK] = "success",
	[KMP_E_MAGIC] = "bad magic",
	[KMP_E_VERSION] = "protocol version not supported",
	[KMP_E_FEATURE] = "required feature not supported",
	[KMP_E_TYPE] = "unknown record type",
	[KMP_E_LENGTH] = "bad record length",
	[KMP_E_LIMIT] = "protocol limit exceeded",
	[KMP_E_RESERVED] = "reserved field not zero",
	[KMP_E_ORDER] = "record out of order",
	[KMP_E_RANGE] = "gfn outside guest memory",
	[KMP_E_LAYOUT] = "bad guest layout",
	[KMP_E_DIGEST] = "stream digest mismatch",
	[KMP_E_TRUNCATED] = "stream truncated",
	[KMP_E_REFUSED] = "refused by the receiver",
	[KMP_E_STATE] = "vCPU state rejected",
	[KMP_E_RESOURCE] = "out of resources",
	[KMP_E_ABORTED] = "migration aborted by the peer",
	[KMP_E_INTERNAL] = "internal error",
	[KMP_E_NOSPACE] = "buffer too small",
};

const char *kmp_strerror(uint32_t code)
{
	return code < KMP_E__COUNT ? err_names[code] : "unknown error";
}

const char *kmp_type_name(uint32_t type)
{
	switch (type) {
	case KMP_T_HELLO:	return "HELLO";
	case KMP_T_ROUND:	return "ROUND";
	case KMP_T_PAGES:	return "PAGES";
	case KMP_T_ZERO:	return "ZERO";
	case KMP_T_VCPU_STATE:	return "VCPU_STATE";
	case KMP_T_END:		return "END";
	case KMP_T_COMMIT:	return "COMMIT";
	case KMP_T_ABORT:	return "ABORT";
	case KMP_T_PROFILE:	return "PROFILE";
	case KMP_T_HOLE:	return "HOLE";
	case KMP_T_ACCEPT:	return "ACCEPT";
	case KMP_T_READY:	return "READY";
	case KMP_T_ERROR:	return "ERROR";
	case KMP_T_RESUMED:	return "RESUMED";
	}
	return NULL;
}

const char *kmp_rsm_note_name(uint32_t note)
{
	switch (note) {
	case KMP_RSM_N_NONE:		return "measured";
	case KMP_RSM_N_NOT_ASKED:	return "verification not requested";
	case KMP_RSM_N_NOT_WORKLOAD:	return "not the workload guest (a kernel): its memory "
					       "has no known contents";
	case KMP_RSM_N_NO_PROGRESS:	return "the guest made no progress after resuming";
	case KMP_RSM_N_FAILED:		return "could not be measured";
	}
	return "unknown reason";
}

/* --------------------------------------------------------- the order -- */

enum phase {
	PH_START,	/* source: HELLO next; dest: ACCEPT next */
	PH_HELLO,	/* ROUND 0 next */
	PH_LIVE,	/* live rounds */
	PH_FINAL,	/* the stop-and-copy round */
	PH_STATE,	/* vCPU state */
	PH_END,		/* COMMIT or ABORT next */
	PH_ACCEPTED,	/* dest: READY next */
	PH_READY,	/* dest, with KMP_FO_RESUMED: RESUMED next */
	PH_DONE,
	PH_PROFILE,	/* source, with KMP_FR_PROFILE: PROFILE next */
};

void kmp_order_init(struct kmp_order *o, enum kmp_dir dir)
{
	memset(o, 0, sizeof(*o));
	o->dir = dir;
	o->phase = PH_START;
}

bool kmp_order_done(const struct kmp_order *o)
{
	return o->phase == PH_DONE;
}

bool kmp_order_final(const struct kmp_order *o)
{
	return o->phase == PH_FINAL;
}

static bool is_source_type(uint32_t type)
{
	return type >= KMP_T_HELLO && type <= KMP_T_HOLE;
}

/* Records of a round: page contents. */
static bool is_round_type(uint32_t type)
{
	return type == KMP_T_PAGES || type == KMP_T_ZERO || type == KMP_T_HOLE;
}

static bool is_dest_type(uint32_t type)
{
	return type >= KMP_T_ACCEPT && type <= KMP_T_RESUMED;
}

/* The phase after a source record of @type in @ph, or -1 if illegal. */
static int source_next(int ph, uint32_t type, uint32_t flags, uint64_t required)
{
	bool final = flags & KMP_ROUND_F_FINAL;

	if (type == KMP_T_ABORT)
		return PH_DONE;
	switch (ph) {
	case PH_PROFILE:
		if (type != KMP_T_PROFILE)
			return -1;
		return required & KMP_FR_CHECK ? PH_DONE : PH_HELLO;
	case PH_START:
		return type == KMP_T_HELLO ? PH_HELLO : -1;
	case PH_HELLO:
	case PH_LIVE:
		if (type == KMP_T_ROUND)
			return final ? PH_FINAL : PH_LIVE;
		if (ph == PH_LIVE && is_round_type(type))
			return PH_LIVE;
		return -1;
	case PH_FINAL:
		if (is_round_type(type))
			return PH_FINAL;
		return type == KMP_T_VCPU_STATE ? PH_STATE : -1;
	case PH_STATE:
		if (type == KMP_T_VCPU_STATE)
			return PH_STATE;
		return type == KMP_T_END ? PH_END : -1;
	case PH_END:
		return type == KMP_T_COMMIT ? PH_DONE : -1;
	}
	return -1;
}

static int dest_next(int ph, uint32_t type, uint64_t features, uint64_t required)
{
	if (type == KMP_T_ERROR)
		return PH_DONE;
	if (ph == PH_START && type == KMP_T_ACCEPT)
		return required & KMP_FR_CHECK ? PH_DONE : PH_ACCEPTED;
	if (ph == PH_ACCEPTED && type == KMP_T_READY)
		return features & KMP_FO_RESUMED ? PH_READY : PH_DONE;
	if (ph == PH_READY && type == KMP_T_RESUMED)
		return PH_DONE;
	return -1;
}

int kmp_order_next(struct kmp_order *o, uint32_t type, uint32_t flags)
{
	int next;

	if (o->dir == KMP_DIR_SOURCE ? !is_source_type(type) : !is_dest_type(type))
		return KMP_E_TYPE;
	if (o->phase == PH_DONE)
		return KMP_E_ORDER;
	/* a type of a feature the stream does not use is unknown there */
	if (type == KMP_T_HOLE && !(o->required & KMP_FR_SPARSE))
		return KMP_E_TYPE;
	if (o->dir == KMP_DIR_SOURCE)
		next = source_next(o->phase, type, flags, o->required);
	else
		next = dest_next(o->phase, type, o->features, o->required);
	if (next < 0)
		return KMP_E_ORDER;
	o->phase = next;
	if (type == KMP_T_ROUND)
		o->next_round++;
	if (type == KMP_T_VCPU_STATE)
		o->states++;
	return KMP_OK;
}

/*
 * HELLO's required features decide what follows it (the order saw HELLO's
 * header only): PROFILE, or with CHECK alone nothing.
 */
static void order_after_hello(struct kmp_order *o, uint64_t required)
{
	o->required = required;
	if (required & KMP_FR_PROFILE)
		o->phase = PH_PROFILE;
	else if (required & KMP_FR_CHECK)
		o->phase = PH_DONE;
}

/* Records covered by the digest: the source's, before END. */
static bool type_digested(uint32_t type)
{
	return (type >= KMP_T_HELLO && type <= KMP_T_VCPU_STATE) || type == KMP_T_PROFILE ||
	       type == KMP_T_HOLE;
}

/* ------------------------------------------------ fields and checking -- */

static int fail(char *why, size_t len, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *why, size_t len, int code, const char *fmt, ...)
{
	va_list ap;

	if (why && len) {
		va_start(ap, fmt);
		vsnprintf(why, len, fmt, ap);
		va_end(ap);
	}
	return code;
}

uint64_t kmp_hello_pages(const struct kmp_hello *h)
{
	return h->mem_size >> KMP_PAGE_SHIFT;
}

bool kmp_gfn_valid(const struct kmp_hello *h, uint64_t gfn)
{
	uint32_t lo = 0, hi = h->nr_slots;

	if (gfn > (UINT64_MAX >> KMP_PAGE_SHIFT))
		return false;
	while (lo < hi) {	/* slots are ascending and disjoint */
		uint32_t mid = lo + (hi - lo) / 2;
		const struct kmp_slot *s = &h->slots[mid];
		uint64_t gpa = gfn << KMP_PAGE_SHIFT;

		if (gpa < s->gpa)
			hi = mid;
		else if (gpa - s->gpa >= s->size)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

bool kmp_range_valid(const struct kmp_hello *h, uint64_t gfn, uint64_t npages)
{
	uint64_t last;

	if (!npages || npages - 1 > UINT64_MAX - gfn)	/* empty, or wraps */
		return false;
	last = gfn + npages - 1;
	if (!kmp_gfn_valid(h, gfn) || !kmp_gfn_valid(h, last))
		return false;
	/* both ends valid: the same slot unless a slot ends in between */
	for (uint32_t i = 0; i < h->nr_slots; i++) {
		uint64_t first = h->slots[i].gpa >> KMP_PAGE_SHIFT;
		uint64_t end = first + (h->slots[i].size >> KMP_PAGE_SHIFT);

		if (gfn >= first && gfn < end)
			return last < end;
	}
	return false;
}

static int check_name(const char *name, char *why, size_t len)
{
	size_t n = strnlen(name, KMP_NAME_SIZE);

	if (n == KMP_NAME_SIZE)
		return fail(why, len, KMP_E_LAYOUT, "VM name not NUL-terminated");
	for (size_t i = 0; i < n; i++)
		if (name[i] < 0x20 || name[i] > 0x7e)
			return fail(why, len, KMP_E_LAYOUT,
				    "VM name: byte %zu is not printable ASCII", i);
	for (size_t i = n; i < KMP_NAME_SIZE; i++)
		if (name[i])
			return fail(why, len, KMP_E_RESERVED,
				    "VM name: padding byte %zu not zero", i);
	return KMP_OK;
}

static int check_slots(const struct kmp_hello *h, char *why, size_t len)
{
	const uint64_t gpa_limit = 1ull << KMP_MAX_GPA_BITS;
	uint64_t end = 0, total = 0;

	for (uint32_t i = 0; i < h->nr_slots; i++) {
		const struct kmp_slot *s = &h->slots[i];

		if ((s->gpa | s->size) & (KMP_PAGE_SIZE - 1))
			return fail(why, len, KMP_E_LAYOUT,
				    "slot %u (0x%llx+0x%llx) not page-aligned", i,
				    (unsigned long long)s->gpa, (unsigned long long)s->size);
		if (!s->size || s->gpa >= gpa_limit || s->size > gpa_limit - s->gpa)
			return fail(why, len, KMP_E_LAYOUT,
				    "slot %u (0x%llx+0x%llx) empty or beyond 2^%d", i,
				    (unsigned long long)s->gpa, (unsigned long long)s->size,
				    KMP_MAX_GPA_BITS);
		if (i && s->gpa < end)
			return fail(why, len, KMP_E_LAYOUT,
				    "slot %u (0x%llx) overlaps or precedes slot %u", i,
				    (unsigned long long)s->gpa, i - 1);
		end = s->gpa + s->size;
		total += s->size;	/* < 2^52 * 64: no overflow */
	}
	if (total != h->mem_size)
		return fail(why, len, KMP_E_LAYOUT,
			    "memory size 0x%llx differs from the slots' 0x%llx",
			    (unsigned long long)h->mem_size, (unsigned long long)total);
	return KMP_OK;
}

int kmp_hello_check(const struct kmp_hello *h, char *why, size_t len)
{
	uint64_t unknown = h->features_required & ~KMP_FEATURES_KNOWN;

	if (h->version != KMP_VERSION)
		return fail(why, len, KMP_E_VERSION, "protocol version %u, this build speaks %u",
			    h->version, KMP_VERSION);
	if (unknown)
		return fail(why, len, KMP_E_FEATURE, "unknown required features 0x%llx",
			    (unsigned long long)unknown);
	if (h->page_size != KMP_PAGE_SIZE)
		return fail(why, len, KMP_E_LAYOUT, "page size %u, only %u is supported",
			    h->page_size, KMP_PAGE_SIZE);
	if (!h->nr_vcpus || h->nr_vcpus > KMP_MAX_VCPUS)
		return fail(why, len, KMP_E_LIMIT, "%u vCPUs (1 to %u allowed)",
			    h->nr_vcpus, KMP_MAX_VCPUS);
	if (!h->nr_slots || h->nr_slots > KMP_MAX_SLOTS)
		return fail(why, len, KMP_E_LIMIT, "%u memory slots (1 to %u allowed)",
			    h->nr_slots, KMP_MAX_SLOTS);
	if ((h->features_required & KMP_FR_SPARSE) && !(h->features_required & KMP_FR_PROFILE))
		return fail(why, len, KMP_E_FEATURE, "feature SPARSE without PROFILE");
	return check_name(h->name, why, len) ?: check_slots(h, why, len);
}

static size_t hello_size(const struct kmp_hello *h)
{
	return KMP_HELLO_FIXED + (size_t)h->nr_slots * KMP_SLOT_SIZE;
}

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

/* Parses @len bytes of HELLO payload (len >= KMP_HELLO_FIXED) and checks it. */
static int hello_get(const uint8_t *p, size_t len, struct kmp_hello *h, char *why, size_t wl)
{
	memset(h, 0, sizeof(*h));
	if (memcmp(p, KMP_HELLO_MAGIC, 8))
		return fail(why, wl, KMP_E_MAGIC, "not a kmigrate stream (bad HELLO magic)");
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
		return fail(why, wl, KMP_E_LIMIT, "%u memory slots (1 to %u allowed)",
			    h->nr_slots, KMP_MAX_SLOTS);
	if (len != hello_size(h))
		return fail(why, wl, KMP_E_LENGTH, "length %zu does not fit %u slots",
			    len, h->nr_slots);
	for (uint32_t i = 0; i < h->nr_slots; i++) {
		h->slots[i].gpa = get64(p + KMP_HELLO_FIXED + i * KMP_SLOT_SIZE);
		h->slots[i].size = get64(p + KMP_HELLO_FIXED + i * KMP_SLOT_SIZE + 8);
	}
	return kmp_hello_check(h, why, wl);
}

static int round_check(const struct kmp_order *o, const struct kmp_round *r,
		       char *why, size_t len)
{
	if (r->flags & ~KMP_ROUND_F_FINAL)
		return fail(why, len, KMP_E_RESERVED, "unknown round flags 0x%x", r->flags);
	if (r->round != o->next_round)
		return fail(why, len, KMP_E_ORDER, "round %u, expected round %u",
			    r->round, o->next_round);
	return KMP_OK;
}

static int gfns_check(const struct kmp_hello *h, const uint64_t *gfns, uint32_t n,
		      char *why, size_t len)
{
	for (uint32_t i = 0; i < n; i++)
		if (!kmp_gfn_valid(h, gfns[i]))
			return fail(why, len, KMP_E_RANGE,
				    "gfn 0x%llx (entry %u) beyond guest memory (%llu pages)",
				    (unsigned long long)gfns[i], i,
				    (unsigned long long)kmp_hello_pages(h));
	return KMP_OK;
}

static int ranges_check(const struct kmp_hello *h, const struct kmp_range *r, uint32_t n,
			char *why, size_t len)
{
	for (uint32_t i = 0; i < n; i++)
		if (!kmp_range_valid(h, r[i].gfn, r[i].npages))
			return fail(why, len, r[i].npages ? KMP_E_RANGE : KMP_E_LENGTH,
				    "range 0x%llx+%llu (entry %u) empty, wrapping or not within "
				    "one slot of guest memory (%llu pages)",
				    (unsigned long long)r[i].gfn, (unsigned long long)r[i].npages,
				    i, (unsigned long long)kmp_hello_pages(h));
	return KMP_OK;
}

/* PROFILE's mem_populated: with SPARSE at most mem_size, whole pages; else 0. */
static int populated_check(const struct kmp_hello *h, uint64_t pop, char *why, size_t len)
{
	if (!(h->features_required & KMP_FR_SPARSE))
		return pop ? fail(why, len, KMP_E_RESERVED, "reserved field not zero") : KMP_OK;
	if (pop > h->mem_size || pop % KMP_PAGE_SIZE)
		return fail(why, len, KMP_E_LAYOUT, "populated memory %llu bytes: beyond the "
			    "guest's %llu or not whole pages", (unsigned long long)pop,
			    (unsigned long long)h->mem_size);
	return KMP_OK;
}

static int msg_check(const char *msg, size_t n, char *why, size_t len)
{
	if (n > KMP_MAX_MSG)
		return fail(why, len, KMP_E_LIMIT, "message of %zu bytes (at most %u)",
			    n, KMP_MAX_MSG);
	for (size_t i = 0; i < n; i++)
		if (!msg[i])
			return fail(why, len, KMP_E_LENGTH, "NUL byte in message");
	return KMP_OK;
}

/* The payload of ERROR/ABORT: code, reserved, message bytes. */
static int error_get(const uint8_t *p, size_t n, struct kmp_error *e, char *why, size_t len)
{
	size_t mlen = n - KMP_ERROR_FIXED;

	e->code = get32(p);
	if (get32(p + 4))
		return fail(why, len, KMP_E_RESERVED, "reserved field not zero");
	memcpy(e->msg, p + KMP_ERROR_FIXED, mlen);
	e->msg[mlen] = 0;
	return msg_check((const char *)p + KMP_ERROR_FIXED, mlen, why, len);
}

/* Checks the header fields that depend on the type alone. */
static int hdr_check(uint32_t type, uint32_t flags, uint32_t length, uint32_t count,
		     char *why, size_t len)
{
	uint32_t max_len = 0, min_len = 0;

	if (type != KMP_T_ROUND && flags)
		return fail(why, len, KMP_E_RESERVED, "flags 0x%x not zero", flags);
	if (type != KMP_T_PAGES && type != KMP_T_ZERO && type != KMP_T_HOLE && count)
		return fail(why, len, KMP_E_RESERVED, "count %u not zero", count);
	switch (type) {
	case KMP_T_HELLO:
		min_len = KMP_HELLO_FIXED;
		max_len = KMP_HELLO_FIXED + KMP_MAX_SLOTS * KMP_SLOT_SIZE;
		break;
	case KMP_T_ROUND:	min_len = max_len = KMP_ROUND_SIZE; break;
	case KMP_T_PROFILE:
		min_len = KMP_PROFILE_FIXED;
		max_len = KMP_PROFILE_FIXED + KMP_MAX_CPUID * KMP_CPUID_ENT_SIZE;
		break;
	case KMP_T_END:		min_len = max_len = KMP_END_SIZE; break;
	case KMP_T_COMMIT:	break;
	case KMP_T_ACCEPT:	min_len = max_len = KMP_ACCEPT_SIZE; break;
	case KMP_T_READY:	min_len = max_len = KMP_READY_SIZE; break;
	case KMP_T_RESUMED:
		min_len = KMP_RESUMED_SIZE;
		max_len = KMP_RESUMED_MEM_SIZE;
		break;
	case KMP_T_ABORT:
	case KMP_T_ERROR:
		min_len = KMP_ERROR_FIXED;
		max_len = KMP_ERROR_FIXED + KMP_MAX_MSG;
		break;
	case KMP_T_VCPU_STATE:
		min_len = 1;
		max_len = KMP_MAX_STATE;
		break;
	case KMP_T_PAGES:
		if (!count || count > KMP_MAX_PAGES_BATCH)
			return fail(why, len, KMP_E_LIMIT, "%u pages (1 to %u allowed)",
				    count, KMP_MAX_PAGES_BATCH);
		min_len = max_len = count * (KMP_GFN_SIZE + KMP_PAGE_SIZE);
		break;
	case KMP_T_ZERO:
		if (!count || count > KMP_MAX_ZERO_BATCH)
			return fail(why, len, KMP_E_LIMIT, "%u zero pages (1 to %u allowed)",
				    count, KMP_MAX_ZERO_BATCH);
		min_len = max_len = count * KMP_GFN_SIZE;
		break;
	case KMP_T_HOLE:
		if (!count || count > KMP_MAX_HOLE_BATCH)
			return fail(why, len, KMP_E_LIMIT, "%u ranges (1 to %u allowed)",
				    count, KMP_MAX_HOLE_BATCH);
		min_len = max_len = count * KMP_RANGE_SIZE;
		break;
	}
	if (length > max_len && min_len != max_len)
		return fail(why, len, KMP_E_LIMIT, "length %u beyond the limit %u",
			    length, max_len);
	if (length != min_len && min_len == max_len)
		return fail(why, len, KMP_E_LENGTH, "length %u, expected %u", length, min_len);
	if (length < min_len)
		return fail(why, len, KMP_E_LENGTH, "length %u below the minimum %u",
			    length, min_len);
	return KMP_OK;
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
		return -fail(e->err, sizeof(e->err), rc, "%s %s", kmp_type_name(type),
			     rc == KMP_E_TYPE ? "is not sent by this side" : "not allowed here");
	rc = hdr_check(type, flags, length, count, e->err, sizeof(e->err));
	if (rc)
		return -rc;
	if (len < fixed)
		return -fail(e->err, sizeof(e->err), KMP_E_NOSPACE,
			     "%s needs %zu bytes, buffer has %zu", kmp_type_name(type), fixed, len);
	return 0;
}

/* Ends a record of which @n bytes are in @buf: digest, counts, order. */
static ssize_t enc_commit(struct kmp_enc *e, const struct kmp_order *o, const uint8_t *buf,
			  size_t n, uint32_t type, uint32_t length)
{
	if (type_digested(type)) {
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
	rc = enc_simple(e, buf, len, KMP_T_HELLO, 0, p, hello_size(h));
	if (rc > 0) {
		e->hello = *h;
		order_after_hello(&e->order, h->features_required);
	}
	return rc;
}

int kmp_profile_check(const struct kmp_profile *pr, char *why, size_t len)
{
	size_t n = strnlen(pr->model, KMP_MODEL_SIZE);

	if (!n || n == KMP_MODEL_SIZE)
		return fail(why, len, KMP_E_LAYOUT, "CPU model name empty or not NUL-terminated");
	for (size_t i = 0; i < n; i++)
		if (pr->model[i] <= 0x20 || pr->model[i] > 0x7e)
			return fail(why, len, KMP_E_LAYOUT,
				    "CPU model: byte %zu is not printable ASCII", i);
	for (size_t i = n; i < KMP_MODEL_SIZE; i++)
		if (pr->model[i])
			return fail(why, len, KMP_E_RESERVED,
				    "CPU model: padding byte %zu not zero", i);
	if (pr->nent > KMP_MAX_CPUID)
		return fail(why, len, KMP_E_LIMIT, "%u CPUID entries (at most %u)",
			    pr->nent, KMP_MAX_CPUID);
	return KMP_OK;
}

static size_t profile_size(const struct kmp_profile *pr)
{
	return KMP_PROFILE_FIXED + (size_t)pr->nent * KMP_CPUID_ENT_SIZE;
}

ssize_t kmp_enc_profile(struct kmp_enc *e, void *buf, size_t len, const struct kmp_profile *pr)
{
	uint8_t p[KMP_PROFILE_FIXED + KMP_MAX_CPUID * KMP_CPUID_ENT_SIZE];
	int rc = kmp_profile_check(pr, e->err, sizeof(e->err)) ?:
		 populated_check(&e->hello, pr->mem_populated, e->err, sizeof(e->err));

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
	return enc_simple(e, buf, len, KMP_T_PROFILE, 0, p, (uint32_t)profile_size(pr));
}

void kmp_enc_set_required(struct kmp_enc *e, uint64_t required)
{
	e->order.required = required;
}

ssize_t kmp_enc_round(struct kmp_enc *e, void *buf, size_t len, const struct kmp_round *r)
{
	uint8_t p[KMP_ROUND_SIZE];
	int rc = e->order.dir == KMP_DIR_SOURCE ?
		 round_check(&e->order, r, e->err, sizeof(e->err)) : KMP_OK;

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
	rc = gfns_check(&e->hello, gfns, n, e->err, sizeof(e->err));
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
		return -fail(e->err, sizeof(e->err), KMP_E_LIMIT, "%u pages (1 to %u allowed)",
			     n, KMP_MAX_PAGES_BATCH);
	if (iovcnt < (size_t)n + 1)
		return -fail(e->err, sizeof(e->err), KMP_E_NOSPACE,
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

ssize_t kmp_enc_hole(struct kmp_enc *e, void *buf, size_t len, const struct kmp_range *r,
		     uint32_t n)
{
	uint32_t length;
	struct kmp_order o;
	uint8_t *p = buf;
	int rc;

	if (n > KMP_MAX_HOLE_BATCH)	/* before n * size can overflow */
		return -fail(e->err, sizeof(e->err), KMP_E_LIMIT, "%u ranges (1 to %u allowed)",
			     n, KMP_MAX_HOLE_BATCH);
	length = n * KMP_RANGE_SIZE;
	rc = enc_begin(e, &o, len, KMP_T_HOLE, 0, length, n, KMP_HDR_SIZE + (size_t)length);
	if (rc)
		return rc;
	rc = ranges_check(&e->hello, r, n, e->err, sizeof(e->err));
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
		return -fail(e->err, sizeof(e->err), KMP_E_FEATURE,
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

/* Checks the rules of a RESUMED beyond its length; explains into @why. */
static int resumed_check(const struct kmp_resumed *r, char *why, size_t len)
{
	if (r->valid & ~KMP_RSM_KNOWN)
		return fail(why, len, KMP_E_RESERVED, "unknown valid bits 0x%x",
			    r->valid & ~KMP_RSM_KNOWN);
	if (r->valid & KMP_RSM_VERIFIED ? r->verify_note :
	    r->pages_verified || r->pages_bad || r->verify_us)
		return fail(why, len, KMP_E_RESERVED, "verification fields inconsistent "
			    "with the valid bits (note %u)", r->verify_note);
	if (r->valid & KMP_RSM_PAUSE ? r->pause_note : r->guest_pause_us)
		return fail(why, len, KMP_E_RESERVED, "guest pause inconsistent with the "
			    "valid bits (note %u)", r->pause_note);
	if (!(r->valid & KMP_RSM_MEMORY) && (r->mem_populated_created || r->mem_populated ||
					     r->mem_rss_created || r->mem_rss))
		return fail(why, len, KMP_E_RESERVED, "memory fields without the valid bit");
	if (r->pages_bad > r->pages_verified)
		return fail(why, len, KMP_E_RANGE, "%llu bad pages of %llu verified",
			    (unsigned long long)r->pages_bad,
			    (unsigned long long)r->pages_verified);
	return KMP_OK;
}

ssize_t kmp_enc_resumed(struct kmp_enc *e, void *buf, size_t len, const struct kmp_resumed *r)
{
	uint8_t p[KMP_RESUMED_MEM_SIZE];
	int rc = resumed_check(r, e->err, sizeof(e->err));

	if (rc)
		return -rc;
	put32(p, r->valid);
	put16(p + 4, r->verify_note);
	put16(p + 6, r->pause_note);
	put64(p + 8, r->pages_verified);
	put64(p + 16, r->pages_bad);
	put64(p + 24, r->verify_us);
	put64(p + 32, r->guest_pause_us);
	if (!(r->valid & KMP_RSM_MEMORY))
		return enc_simple(e, buf, len, KMP_T_RESUMED, 0, p, KMP_RESUMED_SIZE);
	put64(p + 40, r->mem_populated_created);
	put64(p + 48, r->mem_populated);
	put64(p + 56, r->mem_rss_created);
	put64(p + 64, r->mem_rss);
	return enc_simple(e, buf, len, KMP_T_RESUMED, 0, p, KMP_RESUMED_MEM_SIZE);
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
	d->digest_now = type_digested(d->type) &&
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
	order_after_hello(&d->order, d->hello.features_required);
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
	rc = populated_check(&d->hello, pr.mem_populated, d->why, sizeof(d->why));
	if (rc)
		return dec_fail(d, rc);
	rc = kmp_profile_check(&pr, d->why, sizeof(d->why));
	if (rc)
		return dec_fail(d, rc);
	if (d->length != profile_size(&pr))
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
	rc = round_check(&before, &r, d->why, sizeof(d->why));
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

static int dec_hole(struct kmp_dec *d)
{
	struct kmp_range r;
	int rc;

	for (uint32_t i = 0; i < d->count; i++) {	/* all valid, or none used */
		r.gfn = get64(d->body + i * KMP_RANGE_SIZE);
		r.npages = get64(d->body + i * KMP_RANGE_SIZE + 8);
		rc = ranges_check(&d->hello, &r, 1, d->why, sizeof(d->why));
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
	bool mem = r.valid & KMP_RSM_MEMORY;
	int rc;

	if (d->length != (mem ? KMP_RESUMED_MEM_SIZE : KMP_RESUMED_SIZE))
		return dec_failf(d, KMP_E_LENGTH, "RESUMED of %u bytes %s the memory bit",
				 d->length, mem ? "with" : "without");
	if (mem && !(d->order.features & KMP_FO_MEMORY))
		return dec_failf(d, KMP_E_FEATURE, "RESUMED carries memory, not agreed in ACCEPT");
	if (mem) {
		r.mem_populated_created = get64(d->body + 40);
		r.mem_populated = get64(d->body + 48);
		r.mem_rss_created = get64(d->body + 56);
		r.mem_rss = get64(d->body + 64);
	}
	rc = resumed_check(&r, d->why, sizeof(d->why));
	if (rc)
		return dec_fail(d, rc);
	return CALL(d, resumed, &r);
}

static int dec_ready(struct kmp_dec *d)
{
	struct kmp_ready r = { .digest = get64(d->body), .pages = get64(d->body + 8) };

	return CALL(d, ready, &r);
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
	case KMP_T_END:		rc = dec_end(d); break;
	case KMP_T_COMMIT:	rc = CALL(d, commit); break;
	case KMP_T_ABORT:
	case KMP_T_ERROR:	rc = dec_error_rec(d); break;
	case KMP_T_ACCEPT:	rc = dec_accept(d); break;
	case KMP_T_READY:	rc = dec_ready(d); break;
	case KMP_T_RESUMED:	rc = dec_resumed(d); break;
	default:		rc = dec_failf(d, KMP_E_INTERNAL, "no body decoder"); break;
	}
	return rc ? rc : dec_next_record(d);
}

/* The gfn table of a PAGES record is complete: check it all, then pages. */
static int dec_gfns(struct kmp_dec *d)
{
	int rc;

	gfns_get(d->body, d->gfns, d->count);
	rc = gfns_check(&d->hello, d->gfns, d->count, d->why, sizeof(d->why));
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
	if (rc)
		return dec_failf(d, rc, "%s", rc == KMP_E_TYPE ?
				 "record of the other direction" : "record not allowed here");
	rc = hdr_check(d->type, d->flags, d->length, d->count, d->why, sizeof(d->why));
	if (rc)
		return dec_fail(d, rc);
	if (type_digested(d->type)) {
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
