/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The source side's insides, shared by its files (one job each):
 *
 *   source.c         the thread: start, the run from HELLO to COMMIT, the
 *                    give-back on failure, cancel, set, free
 *   source_conn.c    the connection: socket I/O and pacing, connect, TLS,
 *                    HELLO/ACCEPT, the data path up and down
 *   source_rounds.c  the rounds: bulk, live rounds, harvests, and the
 *                    convergence loop (converge.h decides)
 *   source_switch.c  the switch-over: pause, final round, state, END,
 *                    READY, COMMIT, RESUMED
 *   source_report.c  reporting: the status/result JSON and progress
 *
 * Everything here is private to tools/migrate/source*.c.
 */
#ifndef KM_SOURCE_INT_H
#define KM_SOURCE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "converge.h"
#include "datapath.h"
#include "proto.h"
#include "rate.h"
#include "switch_cost.h"
#include "source.h"
#include "throttle.h"
#include "tls.h"

#define SRC_STALL_MS		30000	/* no progress on the socket: give up */
#define SRC_MIN_ROUND_MS	100	/* shortest live round (lets dirt build up) */
#define SRC_DRAIN_BYTES		(32u << 10)	/* send queue we wait down to */
#define SRC_SNDBUF		(512u << 10)
#define SRC_RESUMED_MS	10000	/* after COMMIT: wait this long for RESUMED */
/*
 * The downtime model's fixed costs (converge.h), measured in the nested lab
 * (2 vCPUs: pause 1-9 ms, state 2-23 ms, END and READY 2-30 ms, all
 * doubling when the host is busy; 12-64 ms downtime with a few dirty
 * pages; an idle 1-vCPU guest once waited 59 ms for READY), kept on the
 * safe side: limits under ~60 ms fail as "fixed costs" there rather than
 * risk an overshoot.
 */
#define SRC_STOP_SLEEP_NS	20000000ULL	/* deciding harvest -> pause: a sleep (the
						 * throttle's last sleep ends, the guest's
						 * gap record restarts) */
#define SRC_THR_HISTORY		128	/* rounds of throttle history kept */
#define SRC_HISTORY		256	/* rounds of the round history kept */
#define SRC_FINAL_CHUNK		64u	/* final round: pages between abort checks */

/* One round of the result's round_history (source_report.c). */
enum src_rkind { SRC_RK_LIVE, SRC_RK_FINAL, SRC_RK_ABORTED };
struct src_round_rec {
	uint32_t round;
	uint8_t kind;			/* enum src_rkind */
	uint8_t decision, reason;	/* live: the model's verdict */
	uint32_t guest_speed;		/* % kept */
	uint64_t pages_sent, zero_pages, bytes_sent, duration_ns, send_ns;
	uint64_t dirty_pages, dirty_interval_ns, dirty_rate, link_rate;
	uint64_t predicted_ns;		/* the guest's pause, predicted */
	uint64_t budget_ns;
	uint64_t actual_ns;		/* final: the guest's pause (0 until known);
					 * aborted: paused -> resumed here */
};

/* The rounds' loop state: kept across an aborted switch-over. */
struct src_loop {
	struct kmc_config kc;
	struct kmc_state ks;
	struct kmc_verdict v;
	struct kmt_config tc;
	struct kmt_state ts;
	uint64_t ent_prev[VMM_MAX_VCPUS];
	uint64_t t_round, t_harvest, h_prev;
};

/* What the throttle did in one round (source_report.c prints it). */
struct src_thr_round {
	uint32_t round;
	uint32_t guest_speed;		/* % kept, mean over the vCPUs */
	uint64_t dirty_pages, dirty_rate;	/* harvested; smoothed pages/s */
	uint8_t speed[VMM_MAX_VCPUS];	/* % each vCPU keeps from now on */
	uint32_t vcpu_dirty[VMM_MAX_VCPUS];	/* ring entries of the round */
};

struct km_mig_src {
	struct vmm_vm *vm;
	char name[KMP_NAME_SIZE];
	struct km_mig_opts o;
	pthread_t thr;
	atomic_bool cancel;
	_Atomic uint64_t cancel_ns;	/* when it was asked for */
	atomic_bool done;
	atomic_bool committed;	/* COMMIT sent: the VM here is no longer used */
	bool completed;

	pthread_mutex_t lock;	/* the fields below, for status readers */
	const char *phase;
	const char *result;	/* NULL while running */
	char error[512];		/* the peer's ERROR (KMP_MAX_MSG) fits whole */
	uint32_t round;
	uint64_t bytes_sent, pages_sent, zero_pages, remaining;
	uint64_t hole_pages;	/* never touched: sent as HOLE ranges (or ZERO) */
	/* the guest's RAM held here (populated.h): at HELLO, after READY */
	int64_t pop_before, pop_after;
	uint64_t rss_before, rss_after;
	uint64_t link_rate, dirty_rate, predicted_ns;
	uint64_t guest_pages;
	uint64_t t_start, t_end, downtime_ns, pause_to_final_ns, state_bytes;
	uint64_t dest_pages;
	/* stop-and-copy, ns from the pause request: paused, harvested, final
	 * pages sent, state sent, END sent, READY received */
	uint64_t d_paused, d_harvest, d_pages, d_state, d_end, d_ready;
	/* ... COMMIT written (ns from the pause), the smoothed round trip
	 * then (TCP_INFO, us; 0 unknown) */
	uint64_t d_commit, commit_rtt_us;
	uint64_t d_save;		/* of which the state save took */
	uint64_t ready_ns;		/* paused -> READY (the former downtime_ms) */
	bool downtime_full;		/* downtime_ns has the destination's part */
	uint64_t downtime_verify_ns;	/* the destination's --verify, left out of it */
	uint64_t final_pages;
	/* rounds that resent every populated page (a dirty ring may have
	 * lost entries): how many, the last one, why */
	uint32_t full_resends, full_round;
	char full_why[128];
	/* per vCPU, during the live rounds (up to the pause): exits on a full
	 * dirty ring and the time spent waiting for its reset; rf_done once
	 * measured */
	uint64_t rf_exits[VMM_MAX_VCPUS], rf_wait_ns[VMM_MAX_VCPUS];
	unsigned int rf_n;	/* vCPUs measured; 0: not yet */
	uint64_t rf_base_exits[VMM_MAX_VCPUS], rf_base_wait_ns[VMM_MAX_VCPUS];	/* at the start */
	struct km_dp_zc_stats zc;	/* the data path's, once it is down */
	struct km_dp_kernel_stats ks;	/* the kernel data path's counters */
	char dp_note[320];		/* why not the kernel data path (auto) */
	pthread_mutex_t dp_lock;	/* dp_up and the data path vs. set_bandwidth */
	char peer[128];
	char tls_desc[64];		/* KM_TLS_DESC(_RECORDS, _PLAIN); "": not yet */
	char tls_peer[256];		/* the destination's subject */
	/* the destination's RESUMED (got_resumed) or why there is none */
	bool got_resumed;
	struct kmp_resumed resumed;
	char resumed_note[160];

	/* thread-private */
	int fd;
	struct km_chan ch;	/* every byte of the stream goes through it (tls.h) */
	struct kmp_enc enc;
	struct kmp_dec *dec;
	bool got_accept, got_ready, got_error;
	struct kmp_accept accept;
	struct kmp_ready ready;
	struct kmp_error peer_err;
	bool paused;		/* by us */
	bool hello_sent;
	struct km_tls *tls;	/* credentials (also for --insecure) */
	bool partial;		/* a record is half sent: no ABORT can follow */
	struct km_datapath dp;
	bool dp_up;
	struct vmm_dirty_bitmap bm;
	uint64_t gfns[KM_DP_MAX_BATCH];
	bool sparse;			/* feature SPARSE: holes as HOLE ranges */
	uint64_t r_bytes, r_pages, r_zero;	/* this round */
	struct km_bucket bucket;	/* the bandwidth cap (src_throttle) */
	uint64_t harvest_ns_max;	/* slowest live harvest */
	uint64_t t_hello_ns;		/* HELLO -> ACCEPT: bounds the round trip */

	/* the throttle (throttle.h), published under lock for status readers */
	unsigned int thr_n;			/* vCPUs; 0: no round decided yet */
	uint32_t thr_speed[VMM_MAX_VCPUS];	/* % kept now */
	uint64_t thr_sleep_ns[VMM_MAX_VCPUS];	/* slept by the throttle so far */
	uint32_t thr_steps;			/* rounds that lowered a speed */
	struct src_thr_round thr_hist[SRC_THR_HISTORY];
	uint32_t thr_nhist, thr_hist_dropped;

	/* the switch-over model's measured costs (switch_cost.h) */
	struct kms_costs costs;
	struct src_loop lp;
	bool can_abort;			/* the destination takes SWITCHBACK */
	uint64_t pred_pause_ns;		/* the last stop's prediction */
	uint64_t floor_ns;		/* the pause this link and guest reach */
	uint32_t sw_attempts, sw_aborts;	/* switch-overs tried, aborted */
	struct src_sw_abort {
		uint32_t round;
		uint64_t paused_ns;	/* paused -> resumed here */
		uint64_t at_ns;		/* paused -> the abort decided */
		uint64_t projected_ns;	/* the pause it would have been */
		char why[96];
	} sw_abort[8];
	struct src_round_rec hist[SRC_HISTORY];
	uint32_t nhist, hist_dropped;
};

/* source_report.c */
void src_set(struct km_mig_src *m, const char *phase);
void src_progress(struct km_mig_src *m, const struct kmc_state *ks,
		  const struct kmc_verdict *v);
/* The throttle after round @round decided (@vd: the vCPUs' ring entries
 * of the round); also takes the vCPUs' throttle sleep counters. */
void src_thr_record(struct km_mig_src *m, uint32_t round, const struct kmt_state *ts,
		    const uint64_t *vd, uint64_t dirty, uint64_t dirty_rate);

/* source_conn.c */
int src_fail(struct km_mig_src *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int src_pump(struct km_mig_src *m);
int src_check(struct km_mig_src *m);
int src_wait(struct km_mig_src *m, short ev, int ms);
int src_writev(struct km_mig_src *m, struct iovec *iov, int cnt);
int src_send(struct km_mig_src *m, const void *buf, size_t len);
int src_drain(struct km_mig_src *m, uint64_t timeout_ms);
int src_enc_err(struct km_mig_src *m, ssize_t r, const char *what);
int src_dp_fail(struct km_mig_src *m);
/* The data path sent @pages pages and @zero zero markers (its "sent"). */
int src_dp_sent(void *opaque, uint32_t pages, uint32_t zero);
int src_dp_up(struct km_mig_src *m);
void src_dp_down(struct km_mig_src *m);
int src_tls_load(struct km_mig_src *m);
int src_open(struct km_mig_src *m);
int src_hello(struct km_mig_src *m);
int src_retry_plain(struct km_mig_src *m);

/* A round into the history (m->lock taken here). */
void src_hist_add(struct km_mig_src *m, const struct src_round_rec *r);

/* source_rounds.c */
int src_round(struct km_mig_src *m, uint32_t round, bool final, uint64_t pages);
int src_send_dirty(struct km_mig_src *m);
int src_harvest(struct km_mig_src *m, uint64_t *count, uint32_t next_round);
void src_ring_waits(struct km_mig_src *m, uint64_t *exits, uint64_t *wait_ns);
/* Bulk round, then live rounds until the model says stop (0, with
 * *@round the last live round) or not converging (-1, the error set).
 * @again: after an aborted switch-over, *@round its final round (the
 * dirty set m->bm not sent yet goes in live round *@round + 1; no bulk). */
int src_rounds(struct km_mig_src *m, uint32_t *round, bool again);

/* source_switch.c */
/* Pause, final round @round + 1, state, END, READY, COMMIT, RESUMED: 0;
 * -1 failed (the error set); 1 aborted within the limit, the guest runs
 * here again, SWITCHBACK sent (live rounds go on). */
int src_switchover(struct km_mig_src *m, uint32_t round);

#endif /* KM_SOURCE_INT_H */
