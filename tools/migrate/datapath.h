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
 *            the mapping of guest RAM.
 *   (a later "kernel" one drives /dev/kmigrate: the kernel harvests and
 *   sends; it must produce the same records and keep the stream's encoder
 *   state, @enc, up to date.)
 *
 * The source keeps the protocol's control records (HELLO, ROUND,
 * VCPU_STATE, END, COMMIT), the convergence model and the socket's
 * pacing; the data path reports every record it sent through @sent, which
 * also lets the source account progress and notice a cancel.
 */
#ifndef KM_DATAPATH_H
#define KM_DATAPATH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "proto.h"
#include "vmm.h"

struct km_datapath;

/* What the source gives a data path. */
struct km_dp_env {
	struct vmm_vm *vm;
	int fd;				/* the migration socket */
	struct kmp_enc *enc;		/* the stream's encoder (order, digest) */
	void *opaque;			/* for the callbacks */
	/* writes @cnt iovecs completely (pacing, stalls, cancel): 0 or -1 */
	int (*writev)(void *opaque, struct iovec *iov, int cnt);
	/* a record of @pages PAGES or @zero ZERO gfns went out: 0 or -1 (stop) */
	int (*sent)(void *opaque, uint32_t pages, uint32_t zero);
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
	/* dirty tracking off, resources freed; safe to call twice */
	void (*fini)(struct km_datapath *dp);
};

struct km_datapath {
	const struct km_datapath_ops *ops;
	struct km_dp_env env;
	void *priv;
	char err[200];
};

extern const struct km_datapath_ops km_datapath_user;

/* The largest @n a send_pages call takes. */
#define KM_DP_MAX_BATCH		4096u

#endif /* KM_DATAPATH_H */
