/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The source's data path: the hot part of a migration, behind a small ops
 * table so that the same rounds (source.c) can run over another
 * implementation.
 *
 *   harvest     the pages dirtied since the last harvest -> a dirty set
 *   send_pages  gfns -> PAGES / ZERO records on the migration socket
 *
 * Implementations:
 *   "user"   datapath_user.c: libvmm's dirty ring or bitmap (mmap'd ring /
 *            KVM_GET_DIRTY_LOG), pages written with writev() straight from
 *            the mapping of guest RAM (through env.writev: the source's
 *            struct km_chan, tls.h, so GnuTLS's records where the kernel
 *            has no kTLS); large batches with MSG_ZEROCOPY (env.zerocopy,
 *            off with GnuTLS records), completions reaped from the error
 *            queue.
 *   "kernel" datapath_kernel.c: /dev/kmigrate (kmigrate.ko) harvests the
 *            dirty rings (KMIGRATE_HARVEST; bitmap mode: libvmm's
 *            KVM_GET_DIRTY_LOG) and writes the PAGES / ZERO records on the
 *            socket itself (KMIGRATE_SEND_PAGES, zero-copy, paced by the
 *            module's own cap), with the stream encoder's digest state
 *            handed in and out, so @enc stays what kmp_enc_pages() /
 *            kmp_enc_zero() would have made it.
 *
 * The source keeps the protocol's control records (HELLO, ROUND,
 * VCPU_STATE, END, COMMIT), the convergence model and the socket's
 * pacing; the data path reports every record it sent through @sent, which
 * also lets the source account progress and notice a cancel.
 */
#ifndef KM_DATAPATH_H
#define KM_DATAPATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "proto.h"
#include "vmm.h"

struct km_datapath;

/* One send of the data path's own (e.g. sendmsg with MSG_ZEROCOPY) on @fd:
 * what sendmsg(2) returns, errno set (EAGAIN: the caller waits, retries). */
typedef ssize_t (*km_dp_tx_fn)(void *ctx, int fd, const struct iovec *iov, int cnt);

/* What the source gives a data path. */
struct km_dp_env {
	struct vmm_vm *vm;
	int fd;				/* the migration socket */
	struct kmp_enc *enc;		/* the stream's encoder (order, digest) */
	void *opaque;			/* for the callbacks */
	/* writes @cnt iovecs completely (pacing, stalls, cancel): 0 or -1 */
	int (*writev)(void *opaque, struct iovec *iov, int cnt);
	/* as writev, but every chunk goes out through @tx(@ctx, ...) instead
	 * of writev(2) (same pacing, stalls, cancel, accounting) */
	int (*writev_tx)(void *opaque, struct iovec *iov, int cnt, km_dp_tx_fn tx, void *ctx);
	/* a record of @pages PAGES or @zero ZERO gfns went out: 0 or -1 (stop) */
	int (*sent)(void *opaque, uint32_t pages, uint32_t zero);
	bool zerocopy;			/* MSG_ZEROCOPY allowed (--no-zerocopy: off) */
	const char *zc_off;		/* why not, when not --no-zerocopy (the note) */
	/* bytes the data path wrote on the socket itself (not through
	 * writev/writev_tx): accounted like theirs */
	void (*account)(void *opaque, uint64_t bytes);
	uint64_t bandwidth;		/* the cap at the start, bytes/s; 0: none */
	uint32_t stall_ms;		/* no progress this long: give up */
};

/* The kernel data path's counters (KMIGRATE_GET_STATS), kept after fini. */
struct km_dp_kernel_stats {
	bool valid;
	uint32_t state, rounds, error;
	uint64_t pages_harvested, pages_sent, zero_pages, bytes_sent;
	uint64_t harvest_ns, send_ns, send_stalls, bandwidth;
	uint64_t harvest_calls, send_calls, overflows;
};

/* MSG_ZEROCOPY, as the data path used it (all 0 when it did not). */
struct km_dp_zc_stats {
	bool enabled;			/* SO_ZEROCOPY set on the socket */
	char note[96];			/* why not enabled ("" when enabled) */
	uint64_t sends;			/* sendmsg(MSG_ZEROCOPY) calls that sent */
	uint64_t bytes;			/* bytes they sent */
	uint64_t completions;		/* of those sends, completed (reaped) */
	uint64_t copied;		/* ... of which the kernel copied anyway
					 * (SO_EE_CODE_ZEROCOPY_COPIED; approximate:
					 * the kernel merges adjacent id ranges into
					 * one report whatever their codes) */
	uint64_t enobufs;		/* chunks sent with a copy after ENOBUFS */
};

struct km_datapath_ops {
	const char *name;
	/* dirty tracking on (every later write shows in a harvest); -errno */
	int (*init)(struct km_datapath *dp);
	/* pages dirtied since the last harvest into @set (cleared first by
	 * the caller); the duration in *ns.  Returns the count or -errno. */
	int64_t (*harvest)(struct km_datapath *dp, struct vmm_dirty_bitmap *set, uint64_t *ns);
	/* sends the @n pages of @gfns (all-zero ones as ZERO); 0 or -1 with
	 * dp->err set (or the callbacks' own failure) */
	int (*send_pages)(struct km_datapath *dp, const uint64_t *gfns, uint32_t n);
	/* optional: takes what the kernel reports on the socket's error
	 * queue (zerocopy completions, which make poll() say POLLERR); waits
	 * up to @wait_ms for all outstanding ones.  Never fails the stream. */
	void (*reap)(struct km_datapath *dp, int wait_ms);
	/* optional: a round starts (after its ROUND record went out) */
	int (*round)(struct km_datapath *dp, uint32_t round, bool final, uint64_t pages);
	/* optional: a new cap (bytes/s, 0: none) for pages this path paces
	 * itself; -errno.  May be called from another thread. */
	int (*set_bandwidth)(struct km_datapath *dp, uint64_t bytes_per_sec);
	/* optional: true when page sends are paced by the data path (the
	 * source then paces only its own writes) */
	bool paces_pages;
	/* optional: the migration is over (@error 0: completed), before fini */
	void (*end)(struct km_datapath *dp, int error);
	/* dirty tracking off, resources freed (outstanding zerocopy
	 * completions waited for, briefly); safe to call twice */
	void (*fini)(struct km_datapath *dp);
};

struct km_datapath {
	const struct km_datapath_ops *ops;
	struct km_dp_env env;
	void *priv;
	char err[200];
	bool broken;			/* a send failed mid-record: no ABORT may follow */
	struct km_dp_zc_stats zc;	/* kept after fini */
	struct km_dp_kernel_stats ks;	/* kept after fini */
	/* harvests that reported every populated page because a dirty ring
	 * may have lost entries, and the last one's cause */
	uint32_t full_passes;
	char full_why[128];
};

/* After a harvest: count a full pass (@st->overflows) and say why. */
void km_dp_note_harvest(struct km_datapath *dp, const struct vmm_harvest_stats *st);

extern const struct km_datapath_ops km_datapath_user;
extern const struct km_datapath_ops km_datapath_kernel;

/*
 * The kernel data path's session, opened before the migration thread
 * starts (in the process that owns the VM): /dev/kmigrate opened and the
 * VM attached.  Returns the session fd or -errno with @why set (e.g.
 * "/dev/kmigrate: No such file or directory (kmigrate.ko not loaded)").
 * km_dp_kernel_adopt() hands it to @dp (whose ops must be
 * km_datapath_kernel) before init; km_dp_kernel_close() closes an fd never
 * adopted.
 */
int km_dp_kernel_open(struct vmm_vm *vm, char *why, size_t whylen);
int km_dp_kernel_adopt(struct km_datapath *dp, int fd);
void km_dp_kernel_close(int fd);
/* An adopted session never initialised: closed, @dp->priv freed (the
 * source then takes the user data path, e.g. without kernel TLS). */
void km_dp_kernel_release(struct km_datapath *dp);

/* The largest @n a send_pages call takes. */
#define KM_DP_MAX_BATCH		4096u

#endif /* KM_DATAPATH_H */
