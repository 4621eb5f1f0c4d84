/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The destination side of a live migration (docs/PROTOCOL.md): runs in the
 * child that `kmigrate listen` forks for one connection.
 *
 *   HELLO -> checks (layout, vCPUs, CPUID, the name not running here),
 *   creates the VM (libvmm, dirty mode auto as `kmigrate run`), takes the
 *   name's control socket -> ACCEPT -> PAGES/ZERO into guest RAM ->
 *   VCPU_STATE (the VM state, then one per vCPU) -> END (digest and totals
 *   checked by the decoder) -> loads the state -> READY -> COMMIT ->
 *   (optionally verifies the workload's memory) -> starts the vCPUs and
 *   serves the VM exactly like `kmigrate run` (vmhost.c).
 *
 * A HELLO with CHECK (`kmigrate check`) gets ACCEPT or an ERROR with the
 * failed checks' lines (preflight.h) and nothing else; the child exits
 * with KM_DEST_CHECKED on its status fd.
 *
 * On ABORT, a bad stream, a lost connection before COMMIT, a signal or any
 * error: the VM is destroyed, one line is logged, and the child exits 1.
 */
#ifndef KM_DEST_H
#define KM_DEST_H

#include <stdbool.h>

struct km_chan;

struct km_dest_opts {
	bool verify;		/* vmm_wl_verify the memory before resuming */
	const char *peer;	/* for messages */
	int status_fd;		/* gets one byte: 0 running, else failed (before
				 * it, KM_DEST_NAME); -1: none */
	int dirty_mode;		/* enum vmm_dirty_mode of the new VM (0: auto) */
	struct km_chan *chan;	/* the stream's transport after the handshake
				 * (tls.h: GnuTLS records without kTLS); NULL:
				 * the socket's own calls */
};

/* The status byte of a connection that only ran the pre-flight checks
 * (CHECK), passed or not: no migration, `listen --once` goes on listening.
 * (tls.h's KM_TLS_REFUSED, 0xfe, is the other such byte.) */
#define KM_DEST_CHECKED	0xfd
/* Before its status, the child names the guest once HELLO came: this byte,
 * a length byte (1 .. KMP_NAME_SIZE - 1), the name (not NUL-terminated).
 * The listener then names the VM when the child dies without reporting. */
#define KM_DEST_NAME	0xfc

/* The largest VCPU_STATE the destination takes: a real one is about 9 KiB
 * (XSAVE with AMX, MSRs, CPUID: tens of KiB at most); the protocol's 16 MiB
 * would let a hostile source make it hold about 1 GiB of states (the VM's
 * and one per vCPU).  docs/TESTING.md. */
#define KM_DEST_MAX_STATE	(1u << 20)

/* Handles connection @fd; returns the process exit status (after the
 * migrated VM stopped, on success). */
int km_mig_dest_run(int fd, const struct km_dest_opts *o);

#endif /* KM_DEST_H */
