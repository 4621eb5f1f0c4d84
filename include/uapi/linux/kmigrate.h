/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kmigrate: kernel-assisted live migration of KVM guests.
 *
 * This is the one ABI header shared by kmigrate.ko, the kmigrate tool and
 * the tests.  Every structure uses fixed-width fields with explicit padding;
 * padding and reserved fields must be zero and unknown flag bits are refused
 * with -EOPNOTSUPP, so the ABI can grow by adding attributes, feature bits
 * and fields carved out of reserved space.
 *
 * Two interfaces are offered:
 *
 * 1. The character device /dev/kmigrate (mode 0600).  Each open file is one
 *    migration session (see enum kmigrate_session_state); at most
 *    %KMIGRATE_A_MAX_SESSIONS may be open at once (-EBUSY beyond).  Its ioctls use one magic, KMIGRATE_IOC_MAGIC,
 *    with numbered ranges:
 *
 *      0x00-0x0f  version and feature negotiation
 *      0x10-0x1f  attaching a KVM VM
 *      0x20-0x2f  binding the migration socket, bandwidth
 *      0x30-0x3f  harvesting and sending pages, rounds, counters
 *
 *    An ioctl the module does not know returns -ENOTTY.
 *
 *    The data path of one migration, in the order the calls must come:
 *
 *      open("/dev/kmigrate")          session IDLE
 *      KMIGRATE_ATTACH_VM(vm_fd)      ATTACHED: the VM is referenced
 *      KMIGRATE_BIND_SOCKET(tcp_fd)   the migration connection
 *      KMIGRATE_SET_BANDWIDTH         any time after open (also netlink)
 *      KMIGRATE_HARVEST             optional: drain the rings before
 *                                     the bulk copy (state unchanged)
 *      repeat per round:
 *        KMIGRATE_ROUND               RUNNING: counters, a netlink event
 *        KMIGRATE_HARVEST             dirty rings -> gfns (rings reset)
 *        KMIGRATE_SEND_PAGES          gfns -> PAGES/ZERO records, zero-copy
 *      KMIGRATE_END(result)           DONE or FAILED: a netlink event
 *      KMIGRATE_DETACH_VM or close    references dropped
 *
 *    Every call on a session must come from the process that owns the VM
 *    (the one that created it: its memory is read through that process's
 *    mm and KVM's dirty-ring reset runs in its context); -EPERM otherwise.
 *    A call in the wrong state gets -EBADFD; the records a session writes
 *    are those of docs/PROTOCOL.md, byte for byte what the userspace data
 *    path writes for the same pages.
 *
 * 2. The generic netlink family KMIGRATE_GENL_NAME, version
 *    KMIGRATE_GENL_VERSION.  Every command has a strict attribute policy:
 *    an attribute that is not part of the command's policy, or a malformed
 *    one, is refused with -EINVAL and an extended ack message.  Only
 *    KMIGRATE_CMD_GET_INFO is open to every user; the session dump, the
 *    events group and every command that changes state require
 *    CAP_NET_ADMIN in the initial user namespace (-EPERM otherwise), and
 *    so does opening the character device (-EPERM, whatever its mode).
 */
#ifndef _UAPI_LINUX_KMIGRATE_H
#define _UAPI_LINUX_KMIGRATE_H

#include <linux/types.h>
#include <linux/ioctl.h>

/* Bumped on any incompatible change of this header. */
#define KMIGRATE_ABI_VERSION		1

/* Name of the misc character device, i.e. /dev/kmigrate. */
#define KMIGRATE_DEVICE_NAME		"kmigrate"

/* ------------------------------------------------------------------ */
/* Character device                                                    */
/* ------------------------------------------------------------------ */

#define KMIGRATE_IOC_MAGIC		0xB8

/*
 * Optional features a file context can enable with KMIGRATE_SET_FEATURES;
 * KMIGRATE_GET_VERSION lists those the module has.  KMIGRATE_FEATURES_ALL
 * lists every bit this header knows, and the module refuses any other bit
 * with -EOPNOTSUPP.
 *
 * KMIGRATE_FEATURE_HARVEST_WHILE_SENDING: KMIGRATE_HARVEST does not wait
 *	for a KMIGRATE_SEND_PAGES in progress on the same file (it has a lock
 *	of its own), so a second thread of the VM's process can collect the
 *	rings while a round is on the wire and no vCPU waits on a full ring
 *	for longer than one collection.  The module always behaves so;
 *	enabling the bit changes nothing (it is a capability to test for).
 */
#define KMIGRATE_FEATURE_HARVEST_WHILE_SENDING	(1ULL << 0)
#define KMIGRATE_FEATURES_ALL		KMIGRATE_FEATURE_HARVEST_WHILE_SENDING

/**
 * struct kmigrate_version - answer of KMIGRATE_GET_VERSION
 * @abi_version: KMIGRATE_ABI_VERSION the module was built with.
 * @flags: in: must be zero (no flags defined yet); out: zero.
 * @features: every feature bit the module supports.
 * @module_version: NUL-terminated module version string.
 */
struct kmigrate_version {
	__u32 abi_version;
	__u32 flags;
	__u64 features;
	char module_version[48];
};

/**
 * struct kmigrate_features - argument of KMIGRATE_SET_FEATURES
 * @features: feature bits to enable for this file; each must be supported.
 * @flags: must be zero.
 * @reserved: must be zero.
 */
struct kmigrate_features {
	__u64 features;
	__u32 flags;
	__u32 reserved;
};

/**
 * struct kmigrate_attach - argument of KMIGRATE_ATTACH_VM
 * @vm_fd: in: a KVM VM file descriptor (from KVM_CREATE_VM) of the caller's
 *	own VM.  -EBADF: not an open fd; -EINVAL: not a KVM VM; -EPERM: a VM
 *	another process created; -EBUSY: this session has a VM already, or
 *	another session has this VM attached (a VM's dirty rings have one
 *	collector: DETACH_VM or close that session first).
 * @flags: in: must be zero (-EOPNOTSUPP).
 * @nr_vcpus: out: vCPUs the VM has now (more may be added later; each
 *	harvest walks the vCPUs there are then).
 * @nr_memslots: out: memory slots of address space 0.
 * @ring_entries: out: dirty ring entries per vCPU, 0 when the VM has no
 *	dirty ring (KVM_CAP_DIRTY_LOG_RING not enabled: KMIGRATE_HARVEST
 *	answers -EOPNOTSUPP, pages can still be sent).
 * @reserved: must be zero.
 * @mem_bytes: out: bytes of guest memory in the memory slots.
 */
struct kmigrate_attach {
	__s32 vm_fd;
	__u32 flags;
	__u32 nr_vcpus;
	__u32 nr_memslots;
	__u32 ring_entries;
	__u32 reserved;
	__u64 mem_bytes;
};

/**
 * struct kmigrate_bind - argument of KMIGRATE_BIND_SOCKET
 * @sock_fd: in: a connected TCP socket (IPv4 or IPv6, kTLS allowed) on
 *	which the caller runs the migration stream.  -ENOTSOCK: not a socket;
 *	-EPROTONOSUPPORT: not TCP (UDP, unix, ...); -ENOTCONN: not connected;
 *	-EBUSY: a socket is bound already.  The session writes on it with the
 *	socket's own send timeout (SO_SNDTIMEO); the caller must not write on
 *	it while a KMIGRATE_SEND_PAGES runs.
 * @flags: in: must be zero.
 * @reserved: must be zero.
 */
struct kmigrate_bind {
	__s32 sock_fd;
	__u32 flags;
	__u64 reserved;
};

/**
 * struct kmigrate_bandwidth - argument of KMIGRATE_SET_BANDWIDTH
 * @bytes_per_sec: cap on the bytes the session writes, 0 = unlimited.
 *	The module paces its sends (a token bucket of 50 ms of bytes, at least
 *	256 KiB); a change applies at once, also to a send that is waiting.
 * @flags: must be zero.
 * @reserved: must be zero.
 */
struct kmigrate_bandwidth {
	__u64 bytes_per_sec;
	__u32 flags;
	__u32 reserved;
};

/* Largest number of gfns KMIGRATE_HARVEST and KMIGRATE_SEND_PAGES take. */
#define KMIGRATE_BATCH_MAX		4096

/**
 * struct kmigrate_harvest - argument of KMIGRATE_HARVEST (may run while
 *	another thread's KMIGRATE_SEND_PAGES sends: see
 *	KMIGRATE_FEATURE_HARVEST_WHILE_SENDING; two harvests are serialised)
 * @gfns: in: user address of an array of @max_gfns __u64, filled with the
 *	guest frame numbers of dirty pages (address space 0; a gfn may appear
 *	more than once).
 * @max_gfns: in: 1..%KMIGRATE_BATCH_MAX.
 * @count: out: gfns written.  Every entry collected is handed back to KVM
 *	(KVM_RESET_DIRTY_RINGS, which write-protects the pages again) before
 *	the call returns, so a later write shows in a later harvest.  When
 *	@count == @max_gfns more entries may be waiting: call again.
 * @flags: in: must be zero.  out: %KMIGRATE_HARVEST_F_OVERFLOW when a ring
 *	was found completely full (KVM may have overwritten entries), KVM's
 *	count of re-armed entries differed, the ring slots KVM skipped after
 *	such an overflow were found and handed back (once per overflow: the
 *	module puts the ring back in step instead of reporting it at every
 *	later harvest), or the previous harvest failed after handing entries
 *	back to KVM: the caller must treat every page as dirty.
 * @reset: out: entries KVM reported as reset.
 * @ring_fetch: in: 0, or the user address of an array of @nr_ring_fetch
 *	__u32 that receives, for each vCPU index, the ring position the next
 *	harvest reads (so that a userspace collector can take over later).
 * @nr_ring_fetch: in: entries of @ring_fetch, at most KVM's vCPU limit
 *	(KVM_CAP_MAX_VCPUS; -EINVAL beyond).
 * @reserved: must be zero.
 * @harvest_ns: out: time spent in the call.
 */
struct kmigrate_harvest {
	__u64 gfns;
	__u32 max_gfns;
	__u32 count;
	__u32 flags;
	__u32 reset;
	__u64 ring_fetch;
	__u32 nr_ring_fetch;
	__u32 reserved;
	__u64 harvest_ns;
};

#define KMIGRATE_HARVEST_F_OVERFLOW	(1U << 0)

/**
 * struct kmigrate_digest - a running XXH64 (seed 0), as the stream's
 *	encoder keeps it (docs/PROTOCOL.md, Digest)
 * @total_len: bytes digested so far.
 * @v: the four accumulators.
 * @mem: bytes not yet folded into @v (@memsize of them).
 * @memsize: 0..31.
 * @reserved: must be zero.
 *
 * The fields are those of the XXH64 streaming state (the kernel's struct
 * xxh64_state, libxxhash's XXH64_state_t): a caller hands its state in and
 * takes the updated one back, so one digest covers the records of both.
 */
struct kmigrate_digest {
	__u64 total_len;
	__u64 v[4];
	__u8 mem[32];
	__u32 memsize;
	__u32 reserved;
};

/**
 * struct kmigrate_send - argument of KMIGRATE_SEND_PAGES
 * @gfns: in: user address of @nr_gfns __u64 guest frame numbers; each must
 *	lie in a memory slot of address space 0 (-ERANGE otherwise, nothing
 *	sent).
 * @nr_gfns: in: 1..%KMIGRATE_BATCH_MAX.
 * @flags: in: %KMIGRATE_SEND_F_DIGEST_PAGES: page payloads go into the
 *	digest (the FINAL round, guest paused); otherwise only the records'
 *	headers and gfns do.  Other bits: -EOPNOTSUPP.
 * @digest: in: the stream's digest before these records; out: after them.
 * @pages: out: pages sent in PAGES records.
 * @zero_pages: out: gfns sent in ZERO records (all-zero pages).
 * @records: out: records written.
 * @stalls: out: sends that waited for room in the socket (or the cap).
 * @bytes: out: bytes written on the socket.
 * @send_ns: out: time spent in the call, waits included.
 *
 * All-zero pages go as ZERO records (up to 4096 gfns), the others as PAGES
 * records (up to 256 pages): the page contents are handed to the network
 * stack by reference (no copy), the headers and gfns are copied.  The
 * records are complete or the call fails: on any error (-EPIPE,
 * -ECONNRESET, -EAGAIN after the socket's send timeout, -EINTR on a fatal
 * signal, -EFAULT for guest memory that is gone) the stream is broken, the
 * session is FAILED and only KMIGRATE_END, DETACH and close remain.
 */
struct kmigrate_send {
	__u64 gfns;
	__u32 nr_gfns;
	__u32 flags;
	struct kmigrate_digest digest;
	__u32 pages;
	__u32 zero_pages;
	__u32 records;
	__u32 stalls;
	__u64 bytes;
	__u64 send_ns;
};

#define KMIGRATE_SEND_F_DIGEST_PAGES	(1U << 0)
#define KMIGRATE_SEND_F_ALL		(KMIGRATE_SEND_F_DIGEST_PAGES)

/**
 * struct kmigrate_round - argument of KMIGRATE_ROUND: a round starts
 * @round: 0 for the bulk copy, then +1 each (-EINVAL otherwise).
 * @flags: %KMIGRATE_ROUND_F_FINAL for the stop-and-copy round.
 * @dirty_pages: pages the round will send (the ROUND record's hint).
 */
struct kmigrate_round {
	__u32 round;
	__u32 flags;
	__u64 dirty_pages;
};

#define KMIGRATE_ROUND_F_FINAL		(1U << 0)
#define KMIGRATE_ROUND_F_ALL		(KMIGRATE_ROUND_F_FINAL)

/**
 * struct kmigrate_end - argument of KMIGRATE_END: the migration is over
 * @error: 0: it completed (session DONE); a positive errno: it failed
 *	(FAILED).  Either way a %KMIGRATE_EVENT_SESSION_END event is sent.
 * @flags: must be zero.
 */
struct kmigrate_end {
	__u32 error;
	__u32 flags;
};

/**
 * struct kmigrate_stats - answer of KMIGRATE_GET_STATS: the session's
 *	counters (also in the netlink session dump)
 * @state: enum kmigrate_session_state.
 * @round: the last round started.
 * @rounds: KMIGRATE_ROUND calls.
 * @error: the errno it failed with, 0 if none.
 * @pages_harvested: gfns returned by KMIGRATE_HARVEST.
 * @pages_sent: pages sent in PAGES records.
 * @zero_pages: gfns sent in ZERO records.
 * @bytes_sent: bytes written on the socket.
 * @harvest_ns: time spent harvesting.
 * @send_ns: time spent sending, waits included.
 * @send_stalls: sends that waited for room in the socket or for the cap.
 * @bandwidth: the cap now, bytes per second, 0 = unlimited.
 */
struct kmigrate_stats {
	__u32 state;
	__u32 round;
	__u32 rounds;
	__u32 error;
	__u64 pages_harvested;
	__u64 pages_sent;
	__u64 zero_pages;
	__u64 bytes_sent;
	__u64 harvest_ns;
	__u64 send_ns;
	__u64 send_stalls;
	__u64 bandwidth;
};

/* 0x00-0x0f: version and features. */
#define KMIGRATE_GET_VERSION	_IOWR(KMIGRATE_IOC_MAGIC, 0x00, struct kmigrate_version)
#define KMIGRATE_GET_FEATURES	_IOR(KMIGRATE_IOC_MAGIC, 0x01, struct kmigrate_features)
#define KMIGRATE_SET_FEATURES	_IOW(KMIGRATE_IOC_MAGIC, 0x02, struct kmigrate_features)

/* 0x10-0x1f: the VM. */
#define KMIGRATE_ATTACH_VM	_IOWR(KMIGRATE_IOC_MAGIC, 0x10, struct kmigrate_attach)
#define KMIGRATE_DETACH_VM	_IO(KMIGRATE_IOC_MAGIC, 0x11)

/* 0x20-0x2f: the migration socket and its pace. */
#define KMIGRATE_BIND_SOCKET	_IOW(KMIGRATE_IOC_MAGIC, 0x20, struct kmigrate_bind)
#define KMIGRATE_SET_BANDWIDTH	_IOW(KMIGRATE_IOC_MAGIC, 0x21, struct kmigrate_bandwidth)

/* 0x30-0x3f: rounds, harvesting and sending. */
#define KMIGRATE_ROUND		_IOW(KMIGRATE_IOC_MAGIC, 0x30, struct kmigrate_round)
#define KMIGRATE_HARVEST	_IOWR(KMIGRATE_IOC_MAGIC, 0x31, struct kmigrate_harvest)
#define KMIGRATE_SEND_PAGES	_IOWR(KMIGRATE_IOC_MAGIC, 0x32, struct kmigrate_send)
#define KMIGRATE_END		_IOW(KMIGRATE_IOC_MAGIC, 0x33, struct kmigrate_end)
#define KMIGRATE_GET_STATS	_IOR(KMIGRATE_IOC_MAGIC, 0x34, struct kmigrate_stats)

/* ------------------------------------------------------------------ */
/* Generic netlink                                                     */
/* ------------------------------------------------------------------ */

#define KMIGRATE_GENL_NAME		"kmigrate"
#define KMIGRATE_GENL_VERSION		1

/**
 * enum kmigrate_cmd - generic netlink commands
 * @KMIGRATE_CMD_GET_INFO: module information (doit).  Request: no
 *	attributes.  Reply: %KMIGRATE_A_MODULE_VERSION, %KMIGRATE_A_ABI_VERSION,
 *	%KMIGRATE_A_GENL_VERSION, %KMIGRATE_A_FEATURES,
 *	%KMIGRATE_A_SESSION_COUNT, %KMIGRATE_A_MAX_SESSIONS,
 *	%KMIGRATE_A_DEFAULT_BANDWIDTH.
 * @KMIGRATE_CMD_GET_SESSION: list migration sessions (dumpit, admin only).
 *	Each reply message carries one %KMIGRATE_A_SESSION nest.
 * @KMIGRATE_CMD_SET_CONFIG: change host-wide limits (admin only).  Request:
 *	any of %KMIGRATE_A_MAX_SESSIONS, %KMIGRATE_A_DEFAULT_BANDWIDTH and
 *	%KMIGRATE_A_FLAGS; at least one limit or %KMIGRATE_CONFIG_F_RESET
 *	must be given (-EINVAL otherwise).  Success is acked with no reply.
 * @KMIGRATE_CMD_SET_SESSION: change one live session (admin only).
 *	Request: a %KMIGRATE_A_SESSION nest with %KMIGRATE_SESSION_A_ID and
 *	%KMIGRATE_SESSION_A_BANDWIDTH (both required; -ENOENT: no such
 *	session).  The new cap applies at once, also to a send that waits.
 * @KMIGRATE_CMD_EVENT: multicast only, on group %KMIGRATE_MCGRP_EVENTS
 *	(joining it is admin only):
 *	%KMIGRATE_A_EVENT and a %KMIGRATE_A_SESSION nest with the session's
 *	counters at that moment.  Sent, not accepted (-EOPNOTSUPP).
 */
enum kmigrate_cmd {
	KMIGRATE_CMD_UNSPEC,
	KMIGRATE_CMD_GET_INFO,
	KMIGRATE_CMD_GET_SESSION,
	KMIGRATE_CMD_SET_CONFIG,
	KMIGRATE_CMD_SET_SESSION,
	KMIGRATE_CMD_EVENT,

	__KMIGRATE_CMD_MAX,
	KMIGRATE_CMD_MAX = __KMIGRATE_CMD_MAX - 1
};

/*
 * Flags carried in %KMIGRATE_A_FLAGS of KMIGRATE_CMD_SET_CONFIG.
 * @KMIGRATE_CONFIG_F_RESET: restore every limit not given in the request to
 *	its load-time default.
 */
#define KMIGRATE_CONFIG_F_RESET		(1U << 0)
#define KMIGRATE_CONFIG_F_ALL		(KMIGRATE_CONFIG_F_RESET)

/* Range and load-time default of %KMIGRATE_A_MAX_SESSIONS. */
#define KMIGRATE_MAX_SESSIONS_LIMIT	256
#define KMIGRATE_MAX_SESSIONS_DEFAULT	16

/**
 * enum kmigrate_attr - top-level attributes
 * @KMIGRATE_A_MODULE_VERSION: string, module version.
 * @KMIGRATE_A_ABI_VERSION: u32, KMIGRATE_ABI_VERSION of the module.
 * @KMIGRATE_A_GENL_VERSION: u32, KMIGRATE_GENL_VERSION of the module.
 * @KMIGRATE_A_FEATURES: u64, KMIGRATE_FEATURES_* supported.
 * @KMIGRATE_A_SESSION_COUNT: u32, sessions (open files of /dev/kmigrate).
 * @KMIGRATE_A_MAX_SESSIONS: u32, sessions allowed at once
 *	(1..%KMIGRATE_MAX_SESSIONS_LIMIT, default %KMIGRATE_MAX_SESSIONS_DEFAULT);
 *	lowering it below the current count refuses new sessions only.
 * @KMIGRATE_A_DEFAULT_BANDWIDTH: u64, bandwidth cap in bytes per second
 *	given to new sessions; 0 means unlimited.
 * @KMIGRATE_A_FLAGS: u32, request flags of the command.
 * @KMIGRATE_A_SESSION: nest of enum kmigrate_session_attr.
 * @KMIGRATE_A_PAD: padding for 64-bit attributes.
 * @KMIGRATE_A_EVENT: u32, enum kmigrate_event (events only).
 */
enum kmigrate_attr {
	KMIGRATE_A_UNSPEC,
	KMIGRATE_A_MODULE_VERSION,
	KMIGRATE_A_ABI_VERSION,
	KMIGRATE_A_GENL_VERSION,
	KMIGRATE_A_FEATURES,
	KMIGRATE_A_SESSION_COUNT,
	KMIGRATE_A_MAX_SESSIONS,
	KMIGRATE_A_DEFAULT_BANDWIDTH,
	KMIGRATE_A_FLAGS,
	KMIGRATE_A_SESSION,
	KMIGRATE_A_PAD,
	KMIGRATE_A_EVENT,

	__KMIGRATE_A_MAX,
	KMIGRATE_A_MAX = __KMIGRATE_A_MAX - 1
};

/**
 * enum kmigrate_session_attr - attributes nested in %KMIGRATE_A_SESSION
 * @KMIGRATE_SESSION_A_ID: u32, session id, unique while the module is loaded.
 * @KMIGRATE_SESSION_A_OWNER_PID: u32, thread group id that created it, as
 *	seen from the reader's pid namespace (0 when not visible there).
 * @KMIGRATE_SESSION_A_STATE: u32, enum kmigrate_session_state.
 * @KMIGRATE_SESSION_A_BANDWIDTH: u64, bandwidth cap in bytes per second.
 * @KMIGRATE_SESSION_A_PAD: padding for 64-bit attributes.
 *
 * Set once a VM is attached (the fields of struct kmigrate_stats):
 * @KMIGRATE_SESSION_A_VM_PID: u32, process owning the attached VM, in the
 *	reader's pid namespace (0 when not visible there).
 * @KMIGRATE_SESSION_A_ROUND: u32, the last round started.
 * @KMIGRATE_SESSION_A_ROUNDS: u32, rounds started.
 * @KMIGRATE_SESSION_A_PAGES_HARVESTED: u64.
 * @KMIGRATE_SESSION_A_PAGES_SENT: u64.
 * @KMIGRATE_SESSION_A_ZERO_PAGES: u64.
 * @KMIGRATE_SESSION_A_BYTES_SENT: u64.
 * @KMIGRATE_SESSION_A_HARVEST_NS: u64.
 * @KMIGRATE_SESSION_A_SEND_NS: u64.
 * @KMIGRATE_SESSION_A_SEND_STALLS: u64.
 * @KMIGRATE_SESSION_A_ERROR: u32, errno the session failed with.
 * @KMIGRATE_SESSION_A_NR_VCPUS: u32, vCPUs at attach time.
 * @KMIGRATE_SESSION_A_MEM_BYTES: u64, guest memory at attach time.
 */
enum kmigrate_session_attr {
	KMIGRATE_SESSION_A_UNSPEC,
	KMIGRATE_SESSION_A_ID,
	KMIGRATE_SESSION_A_OWNER_PID,
	KMIGRATE_SESSION_A_STATE,
	KMIGRATE_SESSION_A_BANDWIDTH,
	KMIGRATE_SESSION_A_PAD,
	KMIGRATE_SESSION_A_VM_PID,
	KMIGRATE_SESSION_A_ROUND,
	KMIGRATE_SESSION_A_ROUNDS,
	KMIGRATE_SESSION_A_PAGES_HARVESTED,
	KMIGRATE_SESSION_A_PAGES_SENT,
	KMIGRATE_SESSION_A_ZERO_PAGES,
	KMIGRATE_SESSION_A_BYTES_SENT,
	KMIGRATE_SESSION_A_HARVEST_NS,
	KMIGRATE_SESSION_A_SEND_NS,
	KMIGRATE_SESSION_A_SEND_STALLS,
	KMIGRATE_SESSION_A_ERROR,
	KMIGRATE_SESSION_A_NR_VCPUS,
	KMIGRATE_SESSION_A_MEM_BYTES,

	__KMIGRATE_SESSION_A_MAX,
	KMIGRATE_SESSION_A_MAX = __KMIGRATE_SESSION_A_MAX - 1
};

/**
 * enum kmigrate_session_state - life of a session
 * @KMIGRATE_SESSION_IDLE: file opened, no VM attached.
 * @KMIGRATE_SESSION_ATTACHED: a VM is attached, nothing sent yet.
 * @KMIGRATE_SESSION_RUNNING: rounds in progress.
 * @KMIGRATE_SESSION_DONE: finished; counters are final.
 * @KMIGRATE_SESSION_FAILED: ended with an error.
 */
enum kmigrate_session_state {
	KMIGRATE_SESSION_IDLE,
	KMIGRATE_SESSION_ATTACHED,
	KMIGRATE_SESSION_RUNNING,
	KMIGRATE_SESSION_DONE,
	KMIGRATE_SESSION_FAILED,

	__KMIGRATE_SESSION_STATE_MAX,
	KMIGRATE_SESSION_STATE_MAX = __KMIGRATE_SESSION_STATE_MAX - 1
};

/* The multicast group of KMIGRATE_CMD_EVENT. */
#define KMIGRATE_MCGRP_EVENTS		"events"

/**
 * enum kmigrate_event - what a KMIGRATE_CMD_EVENT reports
 * @KMIGRATE_EVENT_SESSION_START: a VM was attached (a migration begins).
 * @KMIGRATE_EVENT_ROUND: a round started (KMIGRATE_ROUND); the counters
 *	cover every round before it.
 * @KMIGRATE_EVENT_SESSION_END: KMIGRATE_END with no error.
 * @KMIGRATE_EVENT_SESSION_ERROR: KMIGRATE_END with an error, or a send
 *	failed (the stream is broken); %KMIGRATE_SESSION_A_ERROR says why.
 * @KMIGRATE_EVENT_BANDWIDTH: the cap was changed.
 */
enum kmigrate_event {
	KMIGRATE_EVENT_UNSPEC,
	KMIGRATE_EVENT_SESSION_START,
	KMIGRATE_EVENT_ROUND,
	KMIGRATE_EVENT_SESSION_END,
	KMIGRATE_EVENT_SESSION_ERROR,
	KMIGRATE_EVENT_BANDWIDTH,

	__KMIGRATE_EVENT_MAX,
	KMIGRATE_EVENT_MAX = __KMIGRATE_EVENT_MAX - 1
};

#endif /* _UAPI_LINUX_KMIGRATE_H */
