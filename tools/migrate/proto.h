/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kmigrate migration wire protocol, version 1 (docs/PROTOCOL.md).
 *
 * A stream is a sequence of records, each a 16-byte header followed by
 * 'length' payload bytes; every field is fixed-width little-endian.  This
 * file offers:
 *
 *  - an encoder that writes a record's framing into a caller's buffer and
 *    keeps the running digest; page payloads are never copied: the PAGES
 *    encoder fills an iovec list whose page entries point into guest RAM,
 *    ready for writev()/sendmsg();
 *  - an incremental decoder: feed it bytes in any chunking, it calls one
 *    handler per decoded item, validates every field against the limits
 *    and the record order, and never reads beyond what it was given.
 *
 * Both directions use the same framing: the source sends HELLO ... END
 * COMMIT|ABORT, the destination answers ACCEPT, READY or ERROR, and
 * (optional feature KMP_FO_RESUMED) RESUMED after COMMIT.
 */
#ifndef KM_PROTO_H
#define KM_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifndef XXH_STATIC_LINKING_ONLY
#define XXH_STATIC_LINKING_ONLY	/* XXH64_state_t by value */
#endif
#include <xxhash.h>

#define KMP_VERSION		1u
#define KMP_REC_MAGIC		0x52474d4bu	/* "KMGR" on the wire */
#define KMP_HELLO_MAGIC		"KMIGRATE"	/* 8 bytes, no NUL */
#define KMP_PAGE_SIZE		4096u
#define KMP_PAGE_SHIFT		12

/* Sizes of the fixed parts, in bytes. */
#define KMP_HDR_SIZE		16u
#define KMP_GFN_SIZE		8u		/* one gfn entry */
#define KMP_HELLO_FIXED		136u		/* HELLO without its slot table */
#define KMP_SLOT_SIZE		16u		/* one (gpa, size) slot */
#define KMP_ROUND_SIZE		16u
#define KMP_END_SIZE		40u
#define KMP_ACCEPT_SIZE		32u
#define KMP_READY_SIZE		16u
#define KMP_RESUMED_SIZE	40u
#define KMP_RESUMED_EXT_SIZE	80u	/* with KMP_FO_RESUMED_EXT */
#define KMP_SWITCHBACK_SIZE	16u
#define KMP_ERROR_FIXED		8u		/* ERROR/ABORT without message */
#define KMP_SESSION_SIZE	16u
#define KMP_NAME_SIZE		64u
#define KMP_PROFILE_FIXED	48u		/* PROFILE without its CPUID table */
#define KMP_CPUID_ENT_SIZE	32u		/* one CPUID entry in PROFILE */
#define KMP_MODEL_SIZE		32u
#define KMP_DEV_SIZE		320u		/* one device in MACHINE */
#define KMP_DEV_PATH_SIZE	256u
#define KMP_DEV_IFNAME_SIZE	16u

/* Limits; a record beyond them is refused. */
#define KMP_MAX_SLOTS		64u
#define KMP_MAX_VCPUS		1024u
#define KMP_MAX_PAGES_BATCH	256u		/* pages in one PAGES record */
#define KMP_MAX_ZERO_BATCH	4096u		/* gfns in one ZERO record */
#define KMP_MAX_STATE		(16u << 20)	/* one VCPU_STATE blob */
#define KMP_MAX_MSG		256u		/* ERROR/ABORT message */
#define KMP_MAX_CPUID		256u		/* CPUID entries in PROFILE */
#define KMP_MAX_HOLE_BATCH	2048u		/* ranges in one HOLE record */
#define KMP_RANGE_SIZE		16u		/* one (gfn, npages) range */
#define KMP_MAX_DEVICES		16u		/* devices in one MACHINE */
#define KMP_MAX_RECORD		(KMP_HDR_SIZE + KMP_MAX_STATE)

/*
 * Required feature bits of HELLO (features_required).  PROFILE: a PROFILE
 * record (the guest's CPU model, CPUID and module ABI) follows HELLO.
 * CHECK: a pre-flight check only: the destination runs its admission checks,
 * answers ACCEPT or ERROR and the stream ends; no guest memory moves.
 */
#define KMP_FR_PROFILE		(1ull << 0)
#define KMP_FR_CHECK		(1ull << 1)
/*
 * SPARSE (needs PROFILE): PROFILE carries mem_populated, the bytes of guest
 * RAM the source holds (the rest was never touched), and the stream may
 * carry HOLE records: ranges of pages that are zero, sent as ranges.
 */
#define KMP_FR_SPARSE		(1ull << 2)
/*
 * BOARD (needs PROFILE): a MACHINE record follows PROFILE: the guest's
 * board (with KMP_MACHINE_F_LINUX the PC board of a Linux guest of
 * `kmigrate run --kernel`: in-kernel irqchip, UART and legacy ports) and
 * its devices (disks on shared storage, NICs), which the destination checks
 * before any page moves (pre-flight) and builds; one more VCPU_STATE
 * record, of libvmm's kind VMM_STATE_DEVICES (the board's and every
 * device's state), follows the VM and vCPU states.  A destination without
 * it refuses such a HELLO (FEATURE).
 */
#define KMP_FR_BOARD		(1ull << 3)
#define KMP_FEATURES_KNOWN	(KMP_FR_PROFILE | KMP_FR_CHECK | KMP_FR_SPARSE | KMP_FR_BOARD)

/*
 * Optional feature bits (HELLO features_optional, ACCEPT features: the
 * subset the destination uses).
 */
#define KMP_FO_RESUMED		(1ull << 0)	/* RESUMED after COMMIT */
#define KMP_FO_VERIFY		(1ull << 1)	/* verify the workload's memory
						 * before resuming (reported in
						 * RESUMED) */
#define KMP_FO_RESUMED_EXT	(1ull << 2)	/* RESUMED is KMP_RESUMED_EXT_SIZE
						 * bytes: the destination's guest
						 * RAM use (KMP_RSM_MEMORY) and
						 * resume time (KMP_RSM_RESUME) */
#define KMP_FO_SWITCHBACK	(1ull << 3)	/* the source may abort a switch-over
						 * (SWITCHBACK, after ROUND FINAL,
						 * before END): the destination
						 * discards the final round's state
						 * and live rounds follow */
#define KMP_FO_KNOWN		(KMP_FO_RESUMED | KMP_FO_VERIFY | KMP_FO_RESUMED_EXT | \
				 KMP_FO_SWITCHBACK)

/* Record types: source -> destination ... */
enum kmp_type {
	KMP_T_HELLO = 1,
	KMP_T_ROUND = 2,
	KMP_T_PAGES = 3,
	KMP_T_ZERO = 4,
	KMP_T_VCPU_STATE = 5,
	KMP_T_END = 6,
	KMP_T_COMMIT = 7,
	KMP_T_ABORT = 8,
	KMP_T_PROFILE = 9,	/* with KMP_FR_PROFILE, right after HELLO */
	KMP_T_HOLE = 10,	/* with KMP_FR_SPARSE: ranges of zero pages */
	KMP_T_MACHINE = 11,	/* with KMP_FR_BOARD, right after PROFILE */
	KMP_T_SWITCHBACK = 12,	/* with KMP_FO_SWITCHBACK: the switch-over is
				 * aborted, the guest runs on the source again */
	/* ... and destination -> source */
	KMP_T_ACCEPT = 0x81,
	KMP_T_READY = 0x82,
	KMP_T_ERROR = 0x83,
	KMP_T_RESUMED = 0x84,	/* with KMP_FO_RESUMED, after READY */
};

/* Flags of a ROUND record: the stop-and-copy round, the guest is paused. */
#define KMP_ROUND_F_FINAL	0x0001u

/*
 * Error codes: returned by the decoder and the encoder, and carried by
 * ERROR and ABORT records.  0 is success; new codes may be added, a
 * receiver shows an unknown code as a number.
 */
enum kmp_err {
	KMP_OK = 0,
	KMP_E_MAGIC = 1,	/* bad record or stream magic */
	KMP_E_VERSION = 2,	/* protocol version not supported */
	KMP_E_FEATURE = 3,	/* unknown required feature */
	KMP_E_TYPE = 4,		/* unknown record type */
	KMP_E_LENGTH = 5,	/* length inconsistent with the record */
	KMP_E_LIMIT = 6,	/* beyond a protocol limit */
	KMP_E_RESERVED = 7,	/* reserved field or flag not zero */
	KMP_E_ORDER = 8,	/* record not allowed here */
	KMP_E_RANGE = 9,	/* gfn outside guest memory */
	KMP_E_LAYOUT = 10,	/* bad or unacceptable guest layout */
	KMP_E_DIGEST = 11,	/* END digest or counts differ */
	KMP_E_TRUNCATED = 12,	/* stream ended inside a record */
	KMP_E_REFUSED = 13,	/* a handler refused the record */
	KMP_E_STATE = 14,	/* vCPU state could not be restored */
	KMP_E_RESOURCE = 15,	/* out of memory or other resources */
	KMP_E_ABORTED = 16,	/* the peer aborted */
	KMP_E_INTERNAL = 17,	/* a bug */
	KMP_E_NOSPACE = 18,	/* encoder: caller's buffer too small */
	KMP_E__COUNT
};

/* "bad magic", ...; "unknown error" for a code this build does not know. */
const char *kmp_strerror(uint32_t code);
/* "HELLO", ...; NULL for an unknown type. */
const char *kmp_type_name(uint32_t type);

/* One memory slot of the guest: guest-physical [gpa, gpa + size). */
struct kmp_slot {
	uint64_t gpa;
	uint64_t size;
};

struct kmp_hello {
	uint32_t version;		/* KMP_VERSION */
	uint32_t page_size;		/* KMP_PAGE_SIZE */
	uint64_t features_required;	/* refused unless all known */
	uint64_t features_optional;	/* unknown ones are ignored */
	uint8_t session[KMP_SESSION_SIZE]; /* random, per migration */
	uint64_t mem_size;		/* sum of the slot sizes */
	uint32_t nr_vcpus;
	uint32_t nr_slots;
	uint64_t cpuid_hash;		/* XXH64 of the CPUID table; 0: none */
	char name[KMP_NAME_SIZE];	/* NUL-terminated VM name */
	struct kmp_slot slots[KMP_MAX_SLOTS]; /* ascending, disjoint */
};

struct kmp_round {
	uint32_t round;			/* 0, 1, 2, ... */
	uint32_t flags;			/* KMP_ROUND_F_* */
	uint64_t dirty_pages;		/* pages this round will send (hint) */
};

struct kmp_end {
	uint64_t digest;	/* XXH64 of the covered bytes (see PROTOCOL.md) */
	uint64_t records;	/* records before END */
	uint64_t pages;		/* pages in PAGES records */
	uint64_t zero_pages;	/* gfns in ZERO records */
	uint64_t bytes;		/* stream bytes before END */
};

struct kmp_accept {
	uint32_t version;
	uint64_t features;	/* optional features the destination uses */
	uint8_t session[KMP_SESSION_SIZE]; /* echo of HELLO's */
};

struct kmp_ready {
	uint64_t digest;	/* echo of the verified END digest */
	uint64_t pages;		/* pages + zero pages received */
};

/* SWITCHBACK: the final round @round is aborted; the guest was paused
 * @paused_us on the source before it ran there again. */
struct kmp_switchback {
	uint32_t round;
	uint64_t paused_us;
};

/* RESUMED: what the destination saw when it resumed the guest. */
#define KMP_RSM_VERIFIED	0x0001u	/* pages_verified, pages_bad, verify_us */
#define KMP_RSM_PAUSE		0x0002u	/* guest_pause_us */
#define KMP_RSM_MEMORY		0x0004u	/* mem_* (KMP_FO_RESUMED_EXT only) */
#define KMP_RSM_RESUME		0x0008u	/* resume_us (KMP_FO_RESUMED_EXT only) */
#define KMP_RSM_EXT		(KMP_RSM_MEMORY | KMP_RSM_RESUME)
#define KMP_RSM_KNOWN		(KMP_RSM_VERIFIED | KMP_RSM_PAUSE | KMP_RSM_EXT)

/* Why a RESUMED value is absent (verify_note, pause_note); 0 when present. */
enum kmp_rsm_note {
	KMP_RSM_N_NONE = 0,
	KMP_RSM_N_NOT_ASKED = 1,	/* verification not requested */
	KMP_RSM_N_NOT_WORKLOAD = 2,	/* not the workload guest (a kernel) */
	KMP_RSM_N_NO_PROGRESS = 3,	/* the guest made no progress to read */
	KMP_RSM_N_FAILED = 4,		/* could not be measured */
};

/* "verification not requested", ...; "unknown reason" for a new code. */
const char *kmp_rsm_note_name(uint32_t note);

struct kmp_resumed {
	uint32_t valid;			/* KMP_RSM_* */
	uint16_t verify_note;		/* enum kmp_rsm_note, 0 if VERIFIED */
	uint16_t pause_note;		/* enum kmp_rsm_note, 0 if PAUSE */
	uint64_t pages_verified;	/* work pages checked before resuming */
	uint64_t pages_bad;		/* of them inconsistent */
	uint64_t verify_us;		/* time the check took (guest paused) */
	uint64_t guest_pause_us;	/* longest pause the guest observed */
	/* KMP_RSM_MEMORY: the guest RAM the destination holds, in bytes */
	uint64_t mem_populated_created;	/* populated (memfd SEEK_DATA) when the
					 * VM was created, before any page */
	uint64_t mem_populated;		/* populated after COMMIT */
	uint64_t mem_rss_created;	/* the process's RssShmem, same instants */
	uint64_t mem_rss;
	/* KMP_RSM_RESUME: COMMIT received -> every vCPU running again there
	 * (the destination's share of the guest's pause after COMMIT: its
	 * --verify included) */
	uint64_t resume_us;
};

/* PROFILE: what the destination must offer to run the guest. */
struct kmp_cpuid_ent {
	uint32_t function, index, flags;	/* flags: KVM_CPUID_FLAG_* */
	uint32_t eax, ebx, ecx, edx;
};

struct kmp_profile {
	char model[KMP_MODEL_SIZE];	/* "host", "x86-64-v2", ...; NUL-terminated */
	uint32_t module_abi;		/* KMIGRATE_ABI_VERSION of the source's
					 * kmigrate.ko (kernel data path); 0: none */
	uint32_t nent;			/* 0 .. KMP_MAX_CPUID */
	uint64_t mem_populated;		/* with KMP_FR_SPARSE: guest RAM bytes the
					 * source holds (<= mem_size); else 0 */
	struct kmp_cpuid_ent ent[KMP_MAX_CPUID]; /* the guest's CPUID (vCPU 0) */
};

/* HOLE: @npages zero pages from @gfn, all in one slot. */
struct kmp_range {
	uint64_t gfn;
	uint64_t npages;
};

/*
 * MACHINE: the board and its devices (KMP_FR_BOARD).  The record's flags
 * are KMP_MACHINE_F_*, its count the devices (0 .. KMP_MAX_DEVICES), each
 * KMP_DEV_SIZE bytes:
 *   0 kind (u32: KMP_DEV_DISK, KMP_DEV_NET), 4 flags (u32: KMP_DEV_F_*),
 *   8 bytes (u64: a disk's size), 16 ident (u64: a disk's identity, XXH64
 *   of its first sector and its last 64 KiB), 24 mac[6], 2 reserved,
 *   32 path[256] (a disk), 288 bridge[16], 304 tap[16] (a NIC: the bridge
 *   its tap joins, or the existing tap); strings NUL-terminated, zero-padded.
 */
#define KMP_MACHINE_F_LINUX	0x0001u	/* the PC board of a Linux guest */
#define KMP_MACHINE_F_KNOWN	KMP_MACHINE_F_LINUX
enum kmp_dev_kind {
	KMP_DEV_DISK = 1,
	KMP_DEV_NET = 2,
};
#define KMP_DEV_F_RO		0x0001u	/* a read-only disk */
#define KMP_DEV_F_KNOWN		KMP_DEV_F_RO

struct kmp_dev {
	uint32_t kind;			/* enum kmp_dev_kind */
	uint32_t flags;			/* KMP_DEV_F_* */
	uint64_t bytes;			/* disk: size */
	uint64_t ident;			/* disk: identity (see above) */
	uint8_t mac[6];			/* NIC */
	char path[KMP_DEV_PATH_SIZE];	/* disk */
	char bridge[KMP_DEV_IFNAME_SIZE];	/* NIC: "" with an existing tap */
	char tap[KMP_DEV_IFNAME_SIZE];	/* NIC: "" with a bridge */
};

struct kmp_machine {
	uint32_t flags;			/* KMP_MACHINE_F_* */
	uint32_t nr;			/* devices */
	struct kmp_dev dev[KMP_MAX_DEVICES];
};

/* Checks kinds, flags and strings; explains into @why. */
int kmp_machine_check(const struct kmp_machine *m, char *why, size_t len);

/* ERROR (destination) and ABORT (source). */
struct kmp_error {
	uint32_t code;			/* enum kmp_err */
	char msg[KMP_MAX_MSG + 1];	/* NUL-terminated */
};

/* Checks a HELLO against the protocol rules; explains into @why. */
int kmp_hello_check(const struct kmp_hello *h, char *why, size_t len);
/* Checks a PROFILE's model name and entry count; explains into @why. */
int kmp_profile_check(const struct kmp_profile *p, char *why, size_t len);
/* True if [gfn, gfn + npages) is non-empty and lies in one of @h's slots. */
bool kmp_range_valid(const struct kmp_hello *h, uint64_t gfn, uint64_t npages);
/* True if @gfn lies in one of @h's slots. */
bool kmp_gfn_valid(const struct kmp_hello *h, uint64_t gfn);
/* Guest pages described by @h (mem_size / page size). */
uint64_t kmp_hello_pages(const struct kmp_hello *h);

/* -------------------------------------------------------------------- */
/* Record order, shared by encoder and decoder.                          */

enum kmp_dir {
	KMP_DIR_SOURCE,		/* records the source sends */
	KMP_DIR_DEST,		/* records the destination sends */
};

struct kmp_order {
	enum kmp_dir dir;
	uint8_t phase;		/* private */
	uint64_t features;	/* optional features in use (from ACCEPT) */
	uint64_t required;	/* HELLO's features_required */
	uint32_t next_round;
	uint32_t states;	/* VCPU_STATE records seen */
};

void kmp_order_init(struct kmp_order *o, enum kmp_dir dir);
/*
 * KMP_OK if a record of @type (ROUND: with @flags) may come next, and
 * moves on; else KMP_E_TYPE (not a type of this direction) or KMP_E_ORDER.
 */
int kmp_order_next(struct kmp_order *o, uint32_t type, uint32_t flags);
/* True once the stream is complete (COMMIT/ABORT, READY/ERROR). */
bool kmp_order_done(const struct kmp_order *o);
/* True inside the final round (page payloads are digested). */
bool kmp_order_final(const struct kmp_order *o);

/* -------------------------------------------------------------------- */
/* Encoder.                                                               */

struct kmp_enc {
	struct kmp_order order;
	XXH64_state_t xxh;
	struct kmp_end sum;	/* digest filled by kmp_enc_end */
	uint64_t mem_pages;
	struct kmp_hello hello;	/* for gfn checks */
	char err[160];		/* why the last call failed */
};

/*
 * Every kmp_enc_*() function checks its arguments and the record order,
 * writes the record into @buf (at most @len bytes) and returns the bytes
 * written, or -(enum kmp_err) with the reason in enc->err.  On error the
 * encoder is unchanged.
 */
void kmp_enc_init(struct kmp_enc *e, enum kmp_dir dir);
/* @msg as ABORT/ERROR carry it, into @out (KMP_MAX_MSG bytes, not
 * NUL-terminated): whole when it fits, else cut after the last whole word
 * (a word longer than KMP_MSG_WORD_MAX: mid-word, at a UTF-8 character
 * boundary) with trailing blanks and separators dropped and "..." added.
 * Returns the length. */
#define KMP_MSG_ELLIPSIS	"..."
#define KMP_MSG_ELLIPSIS_LEN	3u
#define KMP_MSG_WORD_MAX	48u
size_t kmp_msg_fit(const char *msg, char *out);
ssize_t kmp_enc_hello(struct kmp_enc *e, void *buf, size_t len, const struct kmp_hello *h);
/* Right after HELLO, when it has KMP_FR_PROFILE. */
ssize_t kmp_enc_profile(struct kmp_enc *e, void *buf, size_t len, const struct kmp_profile *p);
/* Right after PROFILE, when HELLO has KMP_FR_BOARD. */
ssize_t kmp_enc_machine(struct kmp_enc *e, void *buf, size_t len, const struct kmp_machine *m);
ssize_t kmp_enc_round(struct kmp_enc *e, void *buf, size_t len, const struct kmp_round *r);
ssize_t kmp_enc_zero(struct kmp_enc *e, void *buf, size_t len,
		     const uint64_t *gfns, uint32_t n);
/* With KMP_FR_SPARSE, in a round: @n ranges (1 .. KMP_MAX_HOLE_BATCH). */
ssize_t kmp_enc_hole(struct kmp_enc *e, void *buf, size_t len,
		     const struct kmp_range *r, uint32_t n);
ssize_t kmp_enc_vcpu_state(struct kmp_enc *e, void *buf, size_t len,
			   const void *blob, uint32_t blob_len);
ssize_t kmp_enc_end(struct kmp_enc *e, void *buf, size_t len);
ssize_t kmp_enc_commit(struct kmp_enc *e, void *buf, size_t len);
/* ABORT and ERROR carry at most KMP_MAX_MSG bytes of @msg (the limit of
 * the wire format, which older peers enforce): a longer one is cut at the
 * last word that leaves room for KMP_MSG_ELLIPSIS (kmp_msg_fit). */
ssize_t kmp_enc_abort(struct kmp_enc *e, void *buf, size_t len, uint32_t code, const char *msg);
ssize_t kmp_enc_accept(struct kmp_enc *e, void *buf, size_t len, const struct kmp_accept *a);
ssize_t kmp_enc_ready(struct kmp_enc *e, void *buf, size_t len, const struct kmp_ready *r);
ssize_t kmp_enc_error(struct kmp_enc *e, void *buf, size_t len, uint32_t code, const char *msg);
/* In the final round before END, when ACCEPT announced KMP_FO_SWITCHBACK
 * (kmp_enc_set_features): back to live rounds. */
ssize_t kmp_enc_switchback(struct kmp_enc *e, void *buf, size_t len,
			   const struct kmp_switchback *s);
/* The optional features in use (ACCEPT's): the source's encoder and the
 * destination's decoder learn them here. */
void kmp_enc_set_features(struct kmp_enc *e, uint64_t features);
/* Only after READY, when ACCEPT announced KMP_FO_RESUMED. */
ssize_t kmp_enc_resumed(struct kmp_enc *e, void *buf, size_t len, const struct kmp_resumed *r);

/* Bytes of the PAGES framing (header + gfn table) for @n pages. */
static inline size_t kmp_pages_hdr_size(uint32_t n)
{
	return KMP_HDR_SIZE + (size_t)n * KMP_GFN_SIZE;
}

/*
 * A PAGES record of @n pages, zero-copy: writes the header and gfn table
 * into @buf (kmp_pages_hdr_size(n) bytes) and fills @iov[0] with it and
 * @iov[1..n] with @pages[i] (KMP_PAGE_SIZE bytes each, not copied).
 * @iovcnt must be at least n + 1.  Returns the number of iovecs (n + 1)
 * or -(enum kmp_err).  In the final round the pages are digested now: they
 * must not change until sent (the guest is paused).
 */
int kmp_enc_pages(struct kmp_enc *e, void *buf, size_t len, const uint64_t *gfns,
		  const void *const *pages, uint32_t n, struct iovec *iov, size_t iovcnt);

/* -------------------------------------------------------------------- */
/* Decoder.                                                               */

struct kmp_dec;

/*
 * Handlers, each optional.  A handler returns 0, or an enum kmp_err (or
 * any non-zero value, taken as KMP_E_REFUSED) to stop the decoder; it may
 * explain with kmp_dec_set_error() first.  Pointers passed to handlers are
 * valid only during the call.
 */
struct kmp_dec_ops {
	int (*hello)(void *opaque, const struct kmp_hello *h);
	int (*profile)(void *opaque, const struct kmp_profile *p);
	int (*machine)(void *opaque, const struct kmp_machine *m);
	int (*round)(void *opaque, const struct kmp_round *r);
	int (*page)(void *opaque, uint64_t gfn, const void *data);
	int (*zero)(void *opaque, uint64_t gfn);
	/* HOLE: one range, already checked against the slots */
	int (*hole)(void *opaque, uint64_t gfn, uint64_t npages);
	int (*vcpu_state)(void *opaque, const void *blob, size_t len);
	/* END, with the digest and counts already verified */
	int (*end)(void *opaque, const struct kmp_end *e);
	int (*commit)(void *opaque);
	int (*abort)(void *opaque, const struct kmp_error *err);
	int (*accept)(void *opaque, const struct kmp_accept *a);
	int (*ready)(void *opaque, const struct kmp_ready *r);
	int (*error)(void *opaque, const struct kmp_error *err);
	int (*resumed)(void *opaque, const struct kmp_resumed *r);
	/* SWITCHBACK: discard the final round's state; live rounds follow */
	int (*switchback)(void *opaque, const struct kmp_switchback *s);
};

/* NULL if out of memory.  @dir: which side's records the decoder reads. */
struct kmp_dec *kmp_dec_new(enum kmp_dir dir, const struct kmp_dec_ops *ops, void *opaque);
void kmp_dec_free(struct kmp_dec *d);

/*
 * Consumes @len bytes.  Returns KMP_OK or the error that stopped the
 * decoder (sticky: later calls return it again).  Bytes after the
 * stream's last record are refused (KMP_E_ORDER).
 */
int kmp_dec_feed(struct kmp_dec *d, const void *buf, size_t len);
/* The input ended: KMP_OK if the stream is complete, else KMP_E_TRUNCATED. */
int kmp_dec_finish(struct kmp_dec *d);
/* "record 17 (PAGES): gfn 0x12345 beyond guest memory ..."; "" if none. */
const char *kmp_dec_error(const struct kmp_dec *d);
int kmp_dec_code(const struct kmp_dec *d);
/* For handlers: sets the error message for the code they will return. */
void kmp_dec_set_error(struct kmp_dec *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The HELLO received (NULL before); valid until kmp_dec_free. */
const struct kmp_hello *kmp_dec_hello(const struct kmp_dec *d);
/* True once the stream is complete. */
bool kmp_dec_done(const struct kmp_dec *d);
/* The destination's decoder: the optional features its ACCEPT took
 * (SWITCHBACK is refused without KMP_FO_SWITCHBACK). */
void kmp_dec_set_features(struct kmp_dec *d, uint64_t features);
/* The source's decoder of a check-only stream (KMP_FR_CHECK): the
 * destination's ACCEPT ends it. */
void kmp_dec_set_required(struct kmp_dec *d, uint64_t required);
/* The largest VCPU_STATE this receiver takes (1 .. KMP_MAX_STATE, the
 * default; 0: the default): a longer one is refused at its header
 * (KMP_E_LIMIT), before a buffer of its length is allocated. */
void kmp_dec_set_max_state(struct kmp_dec *d, uint32_t max);
/* The destination's encoder, from HELLO: with KMP_FR_CHECK, ACCEPT ends
 * the stream. */
void kmp_enc_set_required(struct kmp_enc *e, uint64_t required);
/* Totals so far (digest: of the covered bytes so far). */
void kmp_dec_totals(const struct kmp_dec *d, struct kmp_end *sum);

#endif /* KM_PROTO_H */
