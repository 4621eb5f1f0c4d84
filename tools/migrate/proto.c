// SPDX-License-Identifier: GPL-2.0
/*
 * The kmigrate migration wire protocol: names, the record order and the
 * checks of fields that the encoder (proto_enc.c) and the decoder
 * (proto_dec.c) share.  docs/PROTOCOL.md is the specification.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proto.h"
#include "proto_wire.h"

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
	case KMP_T_MACHINE:	return "MACHINE";
	case KMP_T_SWITCHBACK:	return "SWITCHBACK";
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
	PH_MACHINE,	/* source, with KMP_FR_BOARD: MACHINE next */
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
	return type >= KMP_T_HELLO && type <= KMP_T_SWITCHBACK;
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
		if (required & KMP_FR_BOARD)
			return PH_MACHINE;
		return required & KMP_FR_CHECK ? PH_DONE : PH_HELLO;
	case PH_MACHINE:
		if (type != KMP_T_MACHINE)
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
		if (type == KMP_T_SWITCHBACK)
			return PH_LIVE;
		return type == KMP_T_VCPU_STATE ? PH_STATE : -1;
	case PH_STATE:
		if (type == KMP_T_SWITCHBACK)
			return PH_LIVE;
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
	if (type == KMP_T_SWITCHBACK && !(o->features & KMP_FO_SWITCHBACK))
		return KMP_E_TYPE;
	if (type == KMP_T_MACHINE && !(o->required & KMP_FR_BOARD))
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
	if (type == KMP_T_SWITCHBACK)
		o->states = 0;	/* the next final round sends them again */
	return KMP_OK;
}

/*
 * HELLO's required features decide what follows it (the order saw HELLO's
 * header only): PROFILE, or with CHECK alone nothing.
 */
void kmp_order_after_hello(struct kmp_order *o, uint64_t required)
{
	o->required = required;
	if (required & KMP_FR_PROFILE)
		o->phase = PH_PROFILE;
	else if (required & KMP_FR_CHECK)
		o->phase = PH_DONE;
}

/* Records covered by the digest: the source's, before END. */
bool kmp_type_digested(uint32_t type)
{
	return (type >= KMP_T_HELLO && type <= KMP_T_VCPU_STATE) || type == KMP_T_PROFILE ||
	       type == KMP_T_HOLE || type == KMP_T_MACHINE || type == KMP_T_SWITCHBACK;
}

/* ------------------------------------------------ fields and checking -- */

int kmp_fail(char *why, size_t len, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

int kmp_fail(char *why, size_t len, int code, const char *fmt, ...)
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
		return kmp_fail(why, len, KMP_E_LAYOUT, "VM name not NUL-terminated");
	for (size_t i = 0; i < n; i++)
		if (name[i] < 0x20 || name[i] > 0x7e)
			return kmp_fail(why, len, KMP_E_LAYOUT,
				    "VM name: byte %zu is not printable ASCII", i);
	for (size_t i = n; i < KMP_NAME_SIZE; i++)
		if (name[i])
			return kmp_fail(why, len, KMP_E_RESERVED,
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
			return kmp_fail(why, len, KMP_E_LAYOUT,
				    "slot %u (0x%llx+0x%llx) not page-aligned", i,
				    (unsigned long long)s->gpa, (unsigned long long)s->size);
		if (!s->size || s->gpa >= gpa_limit || s->size > gpa_limit - s->gpa)
			return kmp_fail(why, len, KMP_E_LAYOUT,
				    "slot %u (0x%llx+0x%llx) empty or beyond 2^%d", i,
				    (unsigned long long)s->gpa, (unsigned long long)s->size,
				    KMP_MAX_GPA_BITS);
		if (i && s->gpa < end)
			return kmp_fail(why, len, KMP_E_LAYOUT,
				    "slot %u (0x%llx) overlaps or precedes slot %u", i,
				    (unsigned long long)s->gpa, i - 1);
		end = s->gpa + s->size;
		total += s->size;	/* < 2^52 * 64: no overflow */
	}
	if (total != h->mem_size)
		return kmp_fail(why, len, KMP_E_LAYOUT,
			    "memory size 0x%llx differs from the slots' 0x%llx",
			    (unsigned long long)h->mem_size, (unsigned long long)total);
	return KMP_OK;
}

int kmp_hello_check(const struct kmp_hello *h, char *why, size_t len)
{
	uint64_t unknown = h->features_required & ~KMP_FEATURES_KNOWN;

	if (h->version != KMP_VERSION)
		return kmp_fail(why, len, KMP_E_VERSION, "protocol version %u, this build speaks %u",
			    h->version, KMP_VERSION);
	if (unknown)
		return kmp_fail(why, len, KMP_E_FEATURE, "unknown required features 0x%llx",
			    (unsigned long long)unknown);
	if (h->page_size != KMP_PAGE_SIZE)
		return kmp_fail(why, len, KMP_E_LAYOUT, "page size %u, only %u is supported",
			    h->page_size, KMP_PAGE_SIZE);
	if (!h->nr_vcpus || h->nr_vcpus > KMP_MAX_VCPUS)
		return kmp_fail(why, len, KMP_E_LIMIT, "%u vCPUs (1 to %u allowed)",
			    h->nr_vcpus, KMP_MAX_VCPUS);
	if (!h->nr_slots || h->nr_slots > KMP_MAX_SLOTS)
		return kmp_fail(why, len, KMP_E_LIMIT, "%u memory slots (1 to %u allowed)",
			    h->nr_slots, KMP_MAX_SLOTS);
	if ((h->features_required & KMP_FR_SPARSE) && !(h->features_required & KMP_FR_PROFILE))
		return kmp_fail(why, len, KMP_E_FEATURE, "feature SPARSE without PROFILE");
	if ((h->features_required & KMP_FR_BOARD) && !(h->features_required & KMP_FR_PROFILE))
		return kmp_fail(why, len, KMP_E_FEATURE, "feature BOARD without PROFILE");
	return check_name(h->name, why, len) ?: check_slots(h, why, len);
}

size_t kmp_hello_size(const struct kmp_hello *h)
{
	return KMP_HELLO_FIXED + (size_t)h->nr_slots * KMP_SLOT_SIZE;
}

int kmp_round_check(const struct kmp_order *o, const struct kmp_round *r,
		       char *why, size_t len)
{
	if (r->flags & ~KMP_ROUND_F_FINAL)
		return kmp_fail(why, len, KMP_E_RESERVED, "unknown round flags 0x%x", r->flags);
	if (r->round != o->next_round)
		return kmp_fail(why, len, KMP_E_ORDER, "round %u, expected round %u",
			    r->round, o->next_round);
	return KMP_OK;
}

int kmp_gfns_check(const struct kmp_hello *h, const uint64_t *gfns, uint32_t n,
		      char *why, size_t len)
{
	for (uint32_t i = 0; i < n; i++)
		if (!kmp_gfn_valid(h, gfns[i]))
			return kmp_fail(why, len, KMP_E_RANGE,
				    "gfn 0x%llx (entry %u) beyond guest memory (%llu pages)",
				    (unsigned long long)gfns[i], i,
				    (unsigned long long)kmp_hello_pages(h));
	return KMP_OK;
}

int kmp_ranges_check(const struct kmp_hello *h, const struct kmp_range *r, uint32_t n,
			char *why, size_t len)
{
	for (uint32_t i = 0; i < n; i++)
		if (!kmp_range_valid(h, r[i].gfn, r[i].npages))
			return kmp_fail(why, len, r[i].npages ? KMP_E_RANGE : KMP_E_LENGTH,
				    "range 0x%llx+%llu (entry %u) empty, wrapping or not within "
				    "one slot of guest memory (%llu pages)",
				    (unsigned long long)r[i].gfn, (unsigned long long)r[i].npages,
				    i, (unsigned long long)kmp_hello_pages(h));
	return KMP_OK;
}

/* PROFILE's mem_populated: with SPARSE at most mem_size, whole pages; else 0. */
int kmp_populated_check(const struct kmp_hello *h, uint64_t pop, char *why, size_t len)
{
	if (!(h->features_required & KMP_FR_SPARSE))
		return pop ? kmp_fail(why, len, KMP_E_RESERVED, "reserved field not zero") : KMP_OK;
	if (pop > h->mem_size || pop % KMP_PAGE_SIZE)
		return kmp_fail(why, len, KMP_E_LAYOUT, "populated memory %llu bytes: beyond the "
			    "guest's %llu or not whole pages", (unsigned long long)pop,
			    (unsigned long long)h->mem_size);
	return KMP_OK;
}

int kmp_msg_check(const char *msg, size_t n, char *why, size_t len)
{
	if (n > KMP_MAX_MSG)
		return kmp_fail(why, len, KMP_E_LIMIT, "message of %zu bytes (at most %u)",
			    n, KMP_MAX_MSG);
	for (size_t i = 0; i < n; i++)
		if (!msg[i])
			return kmp_fail(why, len, KMP_E_LENGTH, "NUL byte in message");
	return KMP_OK;
}

/* Checks the header fields that depend on the type alone. */
int kmp_hdr_check(uint32_t type, uint32_t flags, uint32_t length, uint32_t count,
		     char *why, size_t len)
{
	uint32_t max_len = 0, min_len = 0;

	if (type != KMP_T_ROUND && type != KMP_T_MACHINE && flags)
		return kmp_fail(why, len, KMP_E_RESERVED, "flags 0x%x not zero", flags);
	if (type != KMP_T_PAGES && type != KMP_T_ZERO && type != KMP_T_HOLE &&
	    type != KMP_T_MACHINE && count)
		return kmp_fail(why, len, KMP_E_RESERVED, "count %u not zero", count);
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
	case KMP_T_SWITCHBACK:	min_len = max_len = KMP_SWITCHBACK_SIZE; break;
	case KMP_T_COMMIT:	break;
	case KMP_T_ACCEPT:	min_len = max_len = KMP_ACCEPT_SIZE; break;
	case KMP_T_READY:	min_len = max_len = KMP_READY_SIZE; break;
	case KMP_T_RESUMED:
		min_len = KMP_RESUMED_SIZE;
		max_len = KMP_RESUMED_EXT_SIZE;
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
			return kmp_fail(why, len, KMP_E_LIMIT, "%u pages (1 to %u allowed)",
				    count, KMP_MAX_PAGES_BATCH);
		min_len = max_len = count * (KMP_GFN_SIZE + KMP_PAGE_SIZE);
		break;
	case KMP_T_ZERO:
		if (!count || count > KMP_MAX_ZERO_BATCH)
			return kmp_fail(why, len, KMP_E_LIMIT, "%u zero pages (1 to %u allowed)",
				    count, KMP_MAX_ZERO_BATCH);
		min_len = max_len = count * KMP_GFN_SIZE;
		break;
	case KMP_T_MACHINE:
		if (flags & ~KMP_MACHINE_F_KNOWN)
			return kmp_fail(why, len, KMP_E_RESERVED, "MACHINE flags 0x%x unknown",
				    flags);
		if (count > KMP_MAX_DEVICES)
			return kmp_fail(why, len, KMP_E_LIMIT, "%u devices (0 to %u allowed)",
				    count, KMP_MAX_DEVICES);
		min_len = max_len = count * KMP_DEV_SIZE;
		break;
	case KMP_T_HOLE:
		if (!count || count > KMP_MAX_HOLE_BATCH)
			return kmp_fail(why, len, KMP_E_LIMIT, "%u ranges (1 to %u allowed)",
				    count, KMP_MAX_HOLE_BATCH);
		min_len = max_len = count * KMP_RANGE_SIZE;
		break;
	}
	if (length > max_len && min_len != max_len)
		return kmp_fail(why, len, KMP_E_LIMIT, "length %u beyond the limit %u",
			    length, max_len);
	if (length != min_len && min_len == max_len)
		return kmp_fail(why, len, KMP_E_LENGTH, "length %u, expected %u", length, min_len);
	if (length < min_len)
		return kmp_fail(why, len, KMP_E_LENGTH, "length %u below the minimum %u",
			    length, min_len);
	return KMP_OK;
}

int kmp_profile_check(const struct kmp_profile *pr, char *why, size_t len)
{
	size_t n = strnlen(pr->model, KMP_MODEL_SIZE);

	if (!n || n == KMP_MODEL_SIZE)
		return kmp_fail(why, len, KMP_E_LAYOUT, "CPU model name empty or not NUL-terminated");
	for (size_t i = 0; i < n; i++)
		if (pr->model[i] <= 0x20 || pr->model[i] > 0x7e)
			return kmp_fail(why, len, KMP_E_LAYOUT,
				    "CPU model: byte %zu is not printable ASCII", i);
	for (size_t i = n; i < KMP_MODEL_SIZE; i++)
		if (pr->model[i])
			return kmp_fail(why, len, KMP_E_RESERVED,
				    "CPU model: padding byte %zu not zero", i);
	if (pr->nent > KMP_MAX_CPUID)
		return kmp_fail(why, len, KMP_E_LIMIT, "%u CPUID entries (at most %u)",
			    pr->nent, KMP_MAX_CPUID);
	return KMP_OK;
}

size_t kmp_profile_size(const struct kmp_profile *pr)
{
	return KMP_PROFILE_FIXED + (size_t)pr->nent * KMP_CPUID_ENT_SIZE;
}

/* Checks the rules of a RESUMED beyond its length; explains into @why. */
int kmp_resumed_check(const struct kmp_resumed *r, char *why, size_t len)
{
	if (r->valid & ~KMP_RSM_KNOWN)
		return kmp_fail(why, len, KMP_E_RESERVED, "unknown valid bits 0x%x",
			    r->valid & ~KMP_RSM_KNOWN);
	if (r->valid & KMP_RSM_VERIFIED ? r->verify_note :
	    r->pages_verified || r->pages_bad || r->verify_us)
		return kmp_fail(why, len, KMP_E_RESERVED, "verification fields inconsistent "
			    "with the valid bits (note %u)", r->verify_note);
	if (r->valid & KMP_RSM_PAUSE ? r->pause_note : r->guest_pause_us)
		return kmp_fail(why, len, KMP_E_RESERVED, "guest pause inconsistent with the "
			    "valid bits (note %u)", r->pause_note);
	if (!(r->valid & KMP_RSM_MEMORY) && (r->mem_populated_created || r->mem_populated ||
					     r->mem_rss_created || r->mem_rss))
		return kmp_fail(why, len, KMP_E_RESERVED, "memory fields without the valid bit");
	if (!(r->valid & KMP_RSM_RESUME) && r->resume_us)
		return kmp_fail(why, len, KMP_E_RESERVED, "resume time without the valid bit");
	if (r->pages_bad > r->pages_verified)
		return kmp_fail(why, len, KMP_E_RANGE, "%llu bad pages of %llu verified",
			    (unsigned long long)r->pages_bad,
			    (unsigned long long)r->pages_verified);
	return KMP_OK;
}

static bool str_ok(const char *s, size_t size)
{
	size_t n = strnlen(s, size);

	if (n == size)
		return false;
	for (size_t i = n; i < size; i++)	/* zero-padded */
		if (s[i])
			return false;
	return true;
}

int kmp_machine_check(const struct kmp_machine *m, char *why, size_t len)
{
	if (m->flags & ~KMP_MACHINE_F_KNOWN)
		return kmp_fail(why, len, KMP_E_RESERVED, "MACHINE flags 0x%x unknown", m->flags);
	if (m->nr > KMP_MAX_DEVICES)
		return kmp_fail(why, len, KMP_E_LIMIT, "%u devices (0 to %u allowed)", m->nr,
			    KMP_MAX_DEVICES);
	for (uint32_t i = 0; i < m->nr; i++) {
		const struct kmp_dev *d = &m->dev[i];

		if (d->kind != KMP_DEV_DISK && d->kind != KMP_DEV_NET)
			return kmp_fail(why, len, KMP_E_LAYOUT, "device %u: unknown kind %u", i,
				    d->kind);
		if (d->flags & ~KMP_DEV_F_KNOWN || (d->kind == KMP_DEV_NET && d->flags))
			return kmp_fail(why, len, KMP_E_RESERVED, "device %u: flags 0x%x", i,
				    d->flags);
		if (!str_ok(d->path, sizeof(d->path)) || !str_ok(d->bridge, sizeof(d->bridge)) ||
		    !str_ok(d->tap, sizeof(d->tap)))
			return kmp_fail(why, len, KMP_E_LAYOUT, "device %u: a name not "
				    "NUL-terminated and zero-padded", i);
		if (d->kind == KMP_DEV_DISK ? !d->path[0] || d->bridge[0] || d->tap[0] ||
		    d->bytes < 512 : d->path[0] || d->bytes || d->ident || !d->bridge[0] == !d->tap[0])
			return kmp_fail(why, len, KMP_E_LAYOUT, "device %u: a %s with the fields of "
				    "another kind", i, d->kind == KMP_DEV_DISK ? "disk" : "NIC");
	}
	return 0;
}
