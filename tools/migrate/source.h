/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The source side of a live migration (docs/PROTOCOL.md), run in a thread
 * of the process that owns the VM (`kmigrate run`, vmhost.c):
 *
 *   connect -> HELLO/ACCEPT -> dirty logging on -> ROUND 0: bulk copy of
 *   all RAM (all-zero pages as ZERO gfns) -> live rounds of harvested
 *   dirty pages, each fed to the convergence model (converge.h) and, unless
 *   --converge fail, the throttle (throttle.h: slows the vCPUs that dirty
 *   the most, down to a floor; undone before the pause and on any
 *   failure) -> when it
 *   says stop: pause, ROUND FINAL with the last dirty set, VM + vCPU state
 *   (VCPU_STATE records), END -> READY -> COMMIT -> RESUMED (the
 *   destination's verification and guest-observed pause; optional).
 *
 * Harvesting and sending pages go through a data path (datapath.h; "user":
 * writev() straight from guest RAM, kmp_enc_pages()).
 * Any failure before COMMIT (connect, ERROR from the destination, a lost
 * connection, a timeout, no convergence, a cancel) sends ABORT when it can
 * and resumes the guest here.  After COMMIT the guest stays paused here
 * and the owner stops it: it runs on the destination.
 */
#ifndef KM_SOURCE_H
#define KM_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json.h>

#include "vmm.h"

#define KM_MIG_DEFAULT_PORT	49152
#define KM_MIG_DEFAULT_DOWNTIME_MS 300
#define KM_MIG_DEFAULT_MAX_ROUNDS 30
#define KM_MIG_MAX_DOWNTIME_MS	3600000u
#define KM_MIG_DEFAULT_RETRIES	3
#define KM_MIG_MAX_RETRIES	8

/*
 * Which data path (datapath.h) moves the pages: "kernel" (kmigrate.ko via
 * /dev/kmigrate), "user", or "auto": kernel when /dev/kmigrate opens and
 * takes the VM (KMIGRATE_ATTACH_VM), else user, with the reason in the
 * result's "datapath_note".
 */
enum km_mig_datapath {
	KM_MIG_DP_AUTO,
	KM_MIG_DP_KERNEL,
	KM_MIG_DP_USER,
};
/* "auto", "kernel", "user" <-> the enum; -EINVAL for another name */
int km_mig_datapath_parse(const char *s, enum km_mig_datapath *out);
const char *km_mig_datapath_name(enum km_mig_datapath d);

struct km_mig_opts {
	char to[256];			/* HOST, HOST:PORT, [V6]:PORT */
	uint64_t downtime_ms;		/* downtime limit for the model */
	uint32_t max_rounds;		/* live rounds before giving up */
	uint64_t bandwidth;		/* bytes/s cap; 0: none */
	uint32_t connect_timeout_ms;	/* connect retries for this long */
	uint32_t ready_timeout_ms;	/* END -> READY */
	bool verify;			/* ask the destination to verify the
					 * workload's memory (KMP_FO_VERIFY) */
	bool workload;			/* the guest is the built-in workload */
	bool board;			/* devices or a board: their description
					 * and state go too (KMP_FR_BOARD) */
	bool linux_board;		/* ... the PC board of a Linux guest */
	bool zerocopy;			/* MSG_ZEROCOPY for large page batches
					 * where the socket has it (default) */
	enum km_mig_datapath datapath;	/* --datapath (default auto) */
	bool check_only;		/* pre-flight check only (KMP_FR_CHECK):
					 * HELLO + PROFILE, ACCEPT or ERROR */
	bool insecure;			/* --insecure: authenticated, plaintext */
	char tls_dir[256];		/* --tls-dir ("": km_tls_dir(NULL)) */
	char tls_name[256];		/* --tls-name ("": the host of @to) */
	char via[16];			/* --via IFACE: SO_BINDTODEVICE; "" none */
	char source_address[64];	/* bind to it before connecting; "" none */
	bool converge_fail;		/* --converge fail: no throttle, fail as
					 * before; default throttle (throttle.h) */
	uint32_t throttle_floor_pct;	/* --throttle-floor: least guest speed
					 * a vCPU keeps, 1..100 (default 10) */
	uint32_t switchover_retries;	/* --switchover-retries: switch-overs
					 * aborted (past the limit) and tried
					 * again, 0..KM_MIG_MAX_RETRIES (default 3) */
};

void km_mig_opts_default(struct km_mig_opts *o);

struct km_mig_src;

/* Starts the migration thread; the caller must not touch @vm's run state
 * (pause, resume, harvest) until km_mig_src_done().  With --datapath kernel
 * and no usable /dev/kmigrate it fails with -errno and @err saying why. */
int km_mig_src_start(struct vmm_vm *vm, const char *name, const struct km_mig_opts *o,
		     struct km_mig_src **out, char *err, size_t errlen);
/* The thread has finished (the result is final). */
bool km_mig_src_done(struct km_mig_src *m);
/* COMMIT sent (the thread may still wait for RESUMED): the VM here is no
 * longer touched by the thread; the owner stops it. */
bool km_mig_src_committed(struct km_mig_src *m);
/* Finished with COMMIT sent: the guest runs on the destination. */
bool km_mig_src_completed(struct km_mig_src *m);
/* Changes the bandwidth cap of the running migration (bytes/s, 0: none):
 * the source's pacing and the kernel data path's.  -ESRCH: it is over;
 * other -errno with @err set. */
int km_mig_src_set_bandwidth(struct km_mig_src *m, uint64_t bytes_per_sec, char *err,
			     size_t errlen);
/* Changes the downtime limit of the running migration (ms, > 0): the
 * model uses it from the next round.  -ESRCH: it is over (@err set). */
int km_mig_src_set_downtime(struct km_mig_src *m, uint64_t ms, char *err, size_t errlen);
/* Asks the thread to give up (before COMMIT); the guest resumes here. */
void km_mig_src_cancel(struct km_mig_src *m);
/* {"event":"progress",...} or {"event":"result",...}; NULL: no memory. */
struct json_object *km_mig_src_status(struct km_mig_src *m);
/* Waits for the thread and frees. */
void km_mig_src_free(struct km_mig_src *m);

/* "host:port" parsing shared with listen: [v6]:port, v4:port, name:port,
 * bare host or v6 literal.  Returns 0 or -EINVAL. */
int km_mig_split_hostport(const char *s, char *host, size_t hlen, char *port,
			  size_t plen, unsigned int def_port);

#endif /* KM_SOURCE_H */
