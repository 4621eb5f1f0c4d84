// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: the bytes a migration receiver takes from the network,
 * through the real code that parses them (tests/fuzz/README.md):
 *
 *  - the mode byte after the TLS handshake (km_tls_mode_answer, tls.c);
 *  - the record stream (tools/migrate/proto_dec.c and the shared checks of
 *    proto.c): frames, then each record's parser and its checks;
 *  - the destination's handling of what the decoder hands over, against a
 *    receiving context shaped like dest.c's: HELLO admitted only for a guest
 *    of at most FZ_RAM_MAX bytes in whole 2 MiB and at most VMM_MAX_VCPUS
 *    vCPUs, its RAM a heap buffer of exactly HELLO's size with the gfns laid
 *    out slot after slot (vmm_gfn_to_ram_page's layout), so that a page, a
 *    ZERO or a HOLE the decoder lets through outside guest memory is a
 *    heap overflow ASan reports; VCPU_STATE blobs through libvmm's own
 *    vmm_state_check/vmm_state_from_buf as dst_on_state has them (at most
 *    KM_DEST_MAX_STATE bytes each, the destination's limit); END
 *    needs the VM state and one state per vCPU.
 *
 * With the direction bit the input is the destination's answers instead
 * (ACCEPT, READY, ERROR, RESUMED), as the source decodes them.
 *
 * Input: byte 0 the mode byte; byte 1 options (FZ_O_*); the rest the
 * stream, fed to the decoder in the chunks the options pick (whole, one
 * byte at a time, or pseudo-random sizes), as a socket may deliver it.
 * With FZ_O_RESEAL the first END found at a record boundary gets the
 * digest and counts of what the decoder took before it (kmp_dec_totals),
 * as an honest source would have sent: a mutated stream still reaches
 * END's acceptance and COMMIT, not only the digest mismatch (the seeds
 * are real recordings with fewer pages per PAGES record, README.md).
 *
 * What the decoder promises is asserted: a violation abort()s, which
 * libFuzzer reports as a crash with the input that caused it.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dest.h"
#include "proto.h"
#include "tls.h"
#include "vmm.h"

#define FZ_RAM_MAX	(16ull << 20)	/* the fake host's free memory */

#define FZ_O_PLAIN	0x01	/* the listener runs --insecure */
#define FZ_O_CHUNK	0x06	/* 0: whole; pseudo-random sizes: 2: 1 to 8
				 * bytes, 4: 1 to 64, 6: 1 to 70000 */
#define FZ_O_DEST	0x08	/* the destination's answers (source side) */
#define FZ_O_CHECK	0x10	/* with FZ_O_DEST: a check-only stream */
#define FZ_O_RESEAL	0x20	/* END's digest and counts made right */

#define FZ_ASSERT(c) do { if (!(c)) fz_fail(#c, __LINE__); } while (0)

static void fz_fail(const char *what, int line)
{
	fprintf(stderr, "fuzz_recv: line %d: %s does not hold\n", line, what);
	abort();
}

/* ERROR/ABORT text as it reaches a log or a terminal: no control bytes
 * but newline (the lines of a pre-flight refusal) and tab. */
static bool fz_msg_ok(const char *msg)
{
	size_t n = strlen(msg);

	if (n > KMP_MAX_MSG)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)msg[i];

		if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

struct fz {
	struct kmp_dec *dec;
	const struct kmp_hello *h;
	bool admitted, checked, end, commit, aborted, want_profile;
	unsigned int switchbacks;
	uint8_t *ram;
	uint64_t ram_size;
	unsigned int nr_vcpus;
	struct vmm_state vmst;
	bool have_vmst;
	struct vmm_state *vst;
	uint64_t pages, zero;
	bool accepted, ready, resumed, error;
};

/* RAM offset of @gfn in the slot layout of HELLO, or -1. */
static int64_t fz_ram_off(const struct fz *f, uint64_t gfn)
{
	uint64_t off = 0;

	for (uint32_t i = 0; i < f->h->nr_slots; i++) {
		const struct kmp_slot *s = &f->h->slots[i];
		uint64_t first = s->gpa >> KMP_PAGE_SHIFT, n = s->size >> KMP_PAGE_SHIFT;

		if (gfn >= first && gfn - first < n)
			return (int64_t)(off + ((gfn - first) << KMP_PAGE_SHIFT));
		off += s->size;
	}
	return -1;
}

/*
 * Guest RAM of exactly @size bytes (ASan catches a byte beyond it).  The
 * buffer of the last size asked for is kept for the next input: a fresh
 * one of megabytes per input costs most of the time a run takes.
 */
static uint8_t *fz_ram(uint64_t size)
{
	static uint8_t *ram;
	static uint64_t ram_size;

	if (size != ram_size) {
		free(ram);
		ram_size = 0;
		ram = malloc(size);
		if (ram)
			ram_size = size;
	}
	return ram;
}

/* dest.c's admission of a HELLO: what it checks before creating the VM. */
static int fz_admit(struct fz *f, const struct kmp_hello *h)
{
	FZ_ASSERT(h == kmp_dec_hello(f->dec));
	FZ_ASSERT(!f->admitted);
	if (h->features_required & KMP_FR_CHECK) {
		f->checked = true;	/* ACCEPT: the stream ends here */
		return 0;
	}
	if (h->nr_vcpus > VMM_MAX_VCPUS) {
		kmp_dec_set_error(f->dec, "%u vCPUs: this host runs at most %u", h->nr_vcpus,
				  (unsigned int)VMM_MAX_VCPUS);
		return KMP_E_LAYOUT;
	}
	if (h->mem_size % (2ull << 20) || h->mem_size > FZ_RAM_MAX) {
		kmp_dec_set_error(f->dec, "guest memory %llu: not whole 2 MiB or too large",
				  (unsigned long long)h->mem_size);
		return KMP_E_RESOURCE;
	}
	f->ram = fz_ram(h->mem_size);
	f->vst = calloc(h->nr_vcpus, sizeof(*f->vst));
	if (!f->ram || !f->vst)
		return KMP_E_RESOURCE;
	f->ram_size = h->mem_size;
	f->nr_vcpus = h->nr_vcpus;
	f->admitted = true;
	return 0;
}

static int fz_hello(void *opaque, const struct kmp_hello *h)
{
	struct fz *f = opaque;
	char why[200];

	f->h = h;
	FZ_ASSERT(kmp_hello_check(h, why, sizeof(why)) == KMP_OK);
	FZ_ASSERT(h->nr_slots >= 1 && h->nr_slots <= KMP_MAX_SLOTS);
	if (h->features_required & KMP_FR_PROFILE) {
		f->want_profile = true;	/* admitted with PROFILE */
		return 0;
	}
	return fz_admit(f, h);
}

static int fz_profile(void *opaque, const struct kmp_profile *p)
{
	struct fz *f = opaque;
	char why[200];

	FZ_ASSERT(f->want_profile && f->h);
	FZ_ASSERT(kmp_profile_check(p, why, sizeof(why)) == KMP_OK);
	FZ_ASSERT(p->mem_populated <= f->h->mem_size);
	f->want_profile = false;
	return fz_admit(f, f->h);
}

static int fz_round(void *opaque, const struct kmp_round *r)
{
	struct fz *f = opaque;

	FZ_ASSERT(f->admitted && !(r->flags & ~KMP_ROUND_F_FINAL));
	return 0;
}

static int fz_page(void *opaque, uint64_t gfn, const void *data)
{
	struct fz *f = opaque;
	int64_t off;

	FZ_ASSERT(f->admitted);
	off = fz_ram_off(f, gfn);
	FZ_ASSERT(off >= 0);	/* the decoder checked the gfn table */
	memcpy(f->ram + off, data, KMP_PAGE_SIZE);	/* ASan: within RAM */
	f->pages++;
	return 0;
}

static int fz_zero(void *opaque, uint64_t gfn)
{
	struct fz *f = opaque;
	int64_t off;

	FZ_ASSERT(f->admitted);
	off = fz_ram_off(f, gfn);
	FZ_ASSERT(off >= 0);
	memset(f->ram + off, 0, KMP_PAGE_SIZE);
	f->zero++;
	return 0;
}

static int fz_hole(void *opaque, uint64_t gfn, uint64_t npages)
{
	struct fz *f = opaque;
	int64_t off, last;

	FZ_ASSERT(f->admitted && npages);
	FZ_ASSERT(npages <= f->ram_size >> KMP_PAGE_SHIFT);
	off = fz_ram_off(f, gfn);
	last = fz_ram_off(f, gfn + npages - 1);
	/* one slot: contiguous in RAM (dst_zero_range refuses otherwise) */
	FZ_ASSERT(off >= 0 && last == off + (int64_t)((npages - 1) << KMP_PAGE_SHIFT));
	memset(f->ram + off, 0, npages << KMP_PAGE_SHIFT);
	return 0;
}

/* dst_on_state: the blob checked and adopted by libvmm, then filed. */
static int fz_state(void *opaque, const void *blob, size_t len)
{
	struct fz *f = opaque;
	struct vmm_state st = { 0 };
	const struct vmm_state_hdr *h;
	int r;

	FZ_ASSERT(f->admitted && len >= 1 && len <= KM_DEST_MAX_STATE);
	r = vmm_state_check(blob, len);
	if (!r)
		r = vmm_state_from_buf(&st, blob, len);
	if (r) {
		kmp_dec_set_error(f->dec, "not a valid state");
		return KMP_E_STATE;
	}
	h = vmm_state_hdr(&st);
	FZ_ASSERT(h && h->total_size <= len && st.size == h->total_size);
	/* every section the check passed can be walked */
	for (uint32_t t = 1; t <= VMM_ST_VMINFO; t++) {
		uint32_t size = 0, count = 0;
		const uint8_t *p = vmm_state_find(&st, t, &size, &count);

		if (p)
			FZ_ASSERT(p >= st.buf && p + size <= st.buf + st.size);
	}
	if (h->kind == VMM_STATE_VM && !f->have_vmst) {
		f->vmst = st;
		f->have_vmst = true;
	} else if (h->kind == VMM_STATE_VCPU && h->index < f->nr_vcpus && !f->vst[h->index].buf) {
		f->vst[h->index] = st;
	} else {
		vmm_state_free(&st);
		kmp_dec_set_error(f->dec, "unexpected state");
		return KMP_E_STATE;
	}
	return 0;
}

static int fz_end(void *opaque, const struct kmp_end *e)
{
	struct fz *f = opaque;
	struct kmp_end sum;

	FZ_ASSERT(f->admitted && !f->end);
	/* the decoder verified the counts against what it handed over */
	kmp_dec_totals(f->dec, &sum);
	FZ_ASSERT(e->pages == f->pages && e->zero_pages == f->zero);
	FZ_ASSERT(e->pages == sum.pages && e->digest == sum.digest);
	if (!f->have_vmst)
		return KMP_E_STATE;
	for (unsigned int i = 0; i < f->nr_vcpus; i++)
		if (!f->vst[i].buf)
			return KMP_E_STATE;
	f->end = true;
	return 0;
}

static int fz_commit(void *opaque)
{
	struct fz *f = opaque;

	FZ_ASSERT(f->end && !f->commit);
	f->commit = true;
	return 0;
}

static int fz_abort(void *opaque, const struct kmp_error *e)
{
	struct fz *f = opaque;

	FZ_ASSERT(fz_msg_ok(e->msg));
	f->aborted = true;
	return 0;
}

/* An aborted switch-over (KMP_FO_SWITCHBACK): never after END. */
static int fz_switchback(void *opaque, const struct kmp_switchback *sb)
{
	struct fz *f = opaque;

	(void)sb;
	FZ_ASSERT(!f->end && !f->commit && !f->aborted);
	f->switchbacks++;
	return 0;
}

/* The source's side: the destination's answers. */
static int fz_accept(void *opaque, const struct kmp_accept *a)
{
	struct fz *f = opaque;

	FZ_ASSERT(!f->accepted && a->version == KMP_VERSION && !(a->features & ~KMP_FO_KNOWN));
	f->accepted = true;
	return 0;
}

static int fz_ready(void *opaque, const struct kmp_ready *r)
{
	struct fz *f = opaque;

	(void)r;
	FZ_ASSERT(f->accepted && !f->ready);
	f->ready = true;
	return 0;
}

static int fz_error(void *opaque, const struct kmp_error *e)
{
	struct fz *f = opaque;

	FZ_ASSERT(fz_msg_ok(e->msg));
	f->error = true;
	return 0;
}

static int fz_resumed(void *opaque, const struct kmp_resumed *r)
{
	struct fz *f = opaque;

	FZ_ASSERT(f->ready && !f->resumed && !(r->valid & ~KMP_RSM_KNOWN));
	FZ_ASSERT(r->pages_bad <= r->pages_verified);
	f->resumed = true;
	return 0;
}

static const struct kmp_dec_ops fz_ops = {
	.hello = fz_hello, .profile = fz_profile, .round = fz_round, .page = fz_page,
	.zero = fz_zero, .hole = fz_hole, .vcpu_state = fz_state, .end = fz_end,
	.commit = fz_commit, .abort = fz_abort, .accept = fz_accept, .ready = fz_ready,
	.error = fz_error, .resumed = fz_resumed, .switchback = fz_switchback,
};

/* The next chunk's size: as a socket may hand the stream over. */
static size_t fz_chunk(uint8_t opt, uint32_t *rng, size_t left)
{
	size_t n;

	switch (opt & FZ_O_CHUNK) {
	case 0:
		return left;
	default:
		*rng = *rng * 1103515245u + 12345u;
		n = (opt & FZ_O_CHUNK) == 2 ? (*rng >> 16) % 8 + 1 :
		    (opt & FZ_O_CHUNK) == 4 ? (*rng >> 16) % 64 + 1 : (*rng >> 8) % 70000 + 1;
		return n < left ? n : left;
	}
}

/* Offset of the first END header at a record boundary, or @size. */
static size_t fz_find_end(const uint8_t *p, size_t size)
{
	uint64_t off = 0;

	while (size - off >= KMP_HDR_SIZE) {
		uint32_t len = p[off + 8] | p[off + 9] << 8 | p[off + 10] << 16 |
			       (uint32_t)p[off + 11] << 24;

		if (p[off + 4] == KMP_T_END && !p[off + 5])
			return off;
		if (len > size - off - KMP_HDR_SIZE)
			break;
		off += KMP_HDR_SIZE + len;
	}
	return size;
}

/* Feeds @n bytes in chunks; the decoder's result. */
static int fz_feed(struct fz *f, uint8_t opt, uint32_t *rng, const uint8_t *p, size_t n)
{
	int rc = KMP_OK;

	while (n && rc == KMP_OK && !f->checked && !f->commit && !f->aborted) {
		size_t c = fz_chunk(opt, rng, n);

		rc = kmp_dec_feed(f->dec, p, c);
		p += c;
		n -= c;
	}
	return rc;
}

/* END's payload from what the decoder has taken so far. */
static void fz_reseal(const struct fz *f, uint8_t *end)
{
	struct kmp_end s;

	kmp_dec_totals(f->dec, &s);
	const uint64_t v[5] = { s.digest, s.records, s.pages, s.zero_pages, s.bytes };

	for (int i = 0; i < 5; i++)
		for (int b = 0; b < 8; b++)
			end[KMP_HDR_SIZE + i * 8 + b] = (uint8_t)(v[i] >> (8 * b));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f;
	unsigned char answer;
	char why[200];
	uint32_t rng;
	uint8_t opt;
	int rc = KMP_OK;

	if (size < 2)
		return 0;
	opt = data[1];
	/* the mode byte: one of the two answers, refused with a reason */
	why[0] = 0;
	if (km_tls_mode_answer(opt & FZ_O_PLAIN, data[0], &answer, why, sizeof(why)))
		FZ_ASSERT(answer == KM_TLS_NAK_MODE && why[0]);
	else
		FZ_ASSERT(answer == (opt & FZ_O_PLAIN ? KM_TLS_ACK_PLAIN : KM_TLS_ACK_KTLS));
	data += 2;
	size -= 2;
	rng = opt;

	memset(&f, 0, sizeof(f));
	f.dec = kmp_dec_new(opt & FZ_O_DEST ? KMP_DIR_DEST : KMP_DIR_SOURCE, &fz_ops, &f);
	FZ_ASSERT(f.dec);
	if (opt & FZ_O_DEST)
		kmp_dec_set_required(f.dec, opt & FZ_O_CHECK ? KMP_FR_CHECK : 0);
	else {
		kmp_dec_set_max_state(f.dec, KM_DEST_MAX_STATE);	/* as dest.c */
		/* as dest.c with a source that offers it (every current one) */
		kmp_dec_set_features(f.dec, KMP_FO_SWITCHBACK);
	}
	if (opt & FZ_O_RESEAL) {
		size_t cut = fz_find_end(data, size);
		uint8_t end[KMP_HDR_SIZE + KMP_END_SIZE];

		rc = fz_feed(&f, opt, &rng, data, cut);
		data += cut;
		size -= cut;
		if (rc == KMP_OK && size >= sizeof(end)) {
			memcpy(end, data, sizeof(end));
			fz_reseal(&f, end);
			rc = fz_feed(&f, opt, &rng, end, sizeof(end));
			data += sizeof(end);
			size -= sizeof(end);
		}
	}
	if (rc == KMP_OK)
		rc = fz_feed(&f, opt, &rng, data, size);
	if (rc == KMP_OK && !f.checked)
		rc = kmp_dec_finish(f.dec);
	if (rc != KMP_OK) {
		/* a refusal is sticky, has a code and says why */
		FZ_ASSERT(rc > 0 && rc < KMP_E__COUNT && rc == kmp_dec_code(f.dec));
		FZ_ASSERT(kmp_dec_error(f.dec)[0]);
		FZ_ASSERT(kmp_dec_feed(f.dec, "", 1) == rc);
		FZ_ASSERT(!kmp_dec_done(f.dec));
	} else if (!(opt & FZ_O_DEST) && !f.checked) {
		/* a complete migration stream: END verified, then COMMIT or ABORT */
		FZ_ASSERT(kmp_dec_done(f.dec));
		FZ_ASSERT(f.aborted || (f.end && f.commit));
	}
	if (getenv("FUZZ_RECV_TRACE"))	/* what one input did (README.md) */
		fprintf(stderr, "fuzz_recv: %s%s%s%s%s%s%s%s: %s\n",
			rc ? kmp_strerror((uint32_t)rc) : "ok", f.checked ? ", checked" : "",
			f.end ? ", END verified" : "",
			f.commit ? ", COMMIT" : f.aborted ? ", ABORT" : "",
			f.accepted ? ", ACCEPT" : "", f.ready ? ", READY" : "",
			f.resumed ? ", RESUMED" : "", f.error ? ", ERROR" : "",
			rc ? kmp_dec_error(f.dec) : "");
	vmm_state_free(&f.vmst);
	for (unsigned int i = 0; f.vst && i < f.nr_vcpus; i++)
		vmm_state_free(&f.vst[i]);
	free(f.vst);
	kmp_dec_free(f.dec);
	return 0;
}
