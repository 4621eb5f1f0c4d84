/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The running-VM side of kmigrate: a libvmm VM served by its control
 * socket (ctl.h).  `kmigrate run` (a VM started here) and the destination
 * child of `kmigrate listen` (a VM migrated in) both end up in
 * km_vmhost_serve(), so a VM behaves the same whichever way it came.
 *
 * Control requests handled here (one JSON object a line):
 *   info, pause, resume, stop, verify     (see run.c's header comment)
 *   migrate {"to":"HOST[:PORT]","downtime_ms":N,"max_rounds":N,
 *            "bandwidth":BYTES_PER_S,"verify":BOOL}
 *            (verify, default true: the destination checks the workload's
 *            memory before resuming it; ignored for a --kernel guest)
 *            starts an outgoing live migration (source.c) in a thread;
 *            replies at once {"state":"started"}
 *   migrate-status   progress of the running (or the last) migration:
 *            {"event":"progress",...} while it runs, then
 *            {"event":"result","result":"completed"|"failed"|"cancelled",...}
 *   migrate-cancel   asks the running migration to stop; the guest resumes
 *            here
 * While a migration runs, pause/resume/verify/stop are refused (the
 * migration thread is the VM's controlling thread then).  After a
 * completed migration the guest runs on the destination: the VM here is
 * stopped and the process exits 0 once a client has read the result (or
 * after KM_VMHOST_LINGER_MS).
 */
#ifndef KM_VMHOST_H
#define KM_VMHOST_H

#include <stdbool.h>
#include <stdint.h>

#include "ctl.h"
#include "vmm.h"

#define KM_VMHOST_LINGER_MS	10000

struct km_mig_src;

struct km_vmhost {
	const char *name;
	struct vmm_vm *vm;
	uint64_t mem;
	unsigned int vcpus;
	const char *workload;		/* pattern name, or NULL: read the guest's */
	const char *kernel;		/* run --kernel: a multiboot kernel, no workload */
	const char *cmdline;
	bool linux_guest;		/* --kernel is a Linux bzImage */
	const char *console_log;	/* its serial console log (NULL: none) */
	uint64_t rate;
	uint64_t ws_bytes;
	const char *origin;		/* "started" or "migrated" */
	bool stop;
	uint64_t start_ns;
	uint64_t pauses;
	/* verification of incoming memory (dest.c): -1 = not done */
	int64_t pages_verified;
	int64_t verify_bad;
	uint64_t verify_ms;
	/* outgoing migration */
	struct km_mig_src *mig;		/* running or last one; NULL: none */
	bool migrated;			/* completed: the guest runs elsewhere */
	uint64_t migrated_ns;		/* when the result became final */
	bool result_read;
};

/* Fills the fields with their defaults (pages_verified -1, ...). */
void km_vmhost_init(struct km_vmhost *h, const char *name, struct vmm_vm *vm);

/*
 * Serves the VM until it stops: a signal on @sfd (signalfd), a stop
 * request, a failed vCPU, or a completed outgoing migration.  Returns the
 * exit status (0 on a clean stop or a completed migration).  The caller
 * then calls km_vmhost_shutdown() and destroys the VM.
 */
int km_vmhost_serve(struct km_vmhost *h, struct km_ctl_server *srv, int sfd);
/* Stops the guest: asks the workload to finish, then ends the vCPU threads. */
void km_vmhost_shutdown(struct km_vmhost *h);

#endif /* KM_VMHOST_H */
