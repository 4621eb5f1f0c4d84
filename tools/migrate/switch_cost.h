/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The switch-over's costs, measured in this migration, and what they make
 * of the guest's pause (converge.h decides with them).  Pure arithmetic:
 * no clock, no I/O; the source (source_rounds.c) and `kmigrate profile`
 * (profile_model.c) feed it what they measured.
 *
 * The guest's pause, last instruction on the source to first on the
 * destination, is
 *
 *   pause (source: request -> every vCPU parked)
 *   + the final harvest
 *   + the final pages, the VM and vCPU state and END on the link (bytes /
 *     the link's rate: converge.h)
 *   + the state save (source)
 *   + END -> READY: one round trip + the destination's digest check and
 *     state load
 *   + COMMIT's trip: half a round trip
 *   + the destination's resume (COMMIT -> every vCPU running)
 *
 * Each is a measurement of this migration: pause, save and resume from a
 * trial pause of the guest after the bulk round (source_rounds.c: pause,
 * save every state, resume; the state's size too), the harvest from the
 * live rounds, the round trip from the connection (TCP_INFO), the load
 * from the save (the destination makes the same KVM calls in reverse; an
 * attempt that reached READY replaces it with END -> READY less the round
 * trip), the resume from the source's (vmm_resume, the same call as the
 * destination's vmm_start wakes).  An aborted switch-over replaces pause,
 * harvest and save with what that attempt measured.
 */
#ifndef KM_SWITCH_COST_H
#define KM_SWITCH_COST_H

#include <stdbool.h>
#include <stdint.h>

#include "converge.h"

/* The margin kept below the limit for jitter: the switch-over aborts when
 * it runs past the limit anyway (source_switch.c). */
#define KMS_MARGIN_PCT		10
#define KMS_MARGIN_MIN_NS	1000000ull

struct kms_costs {
	uint64_t pause_ns;	/* source: pause request -> every vCPU parked */
	uint64_t harvest_ns;	/* the final harvest */
	uint64_t save_ns;	/* source: VM + vCPU state save */
	uint64_t state_bytes;	/* their serialised size */
	uint64_t load_ns;	/* destination: digest check + state load */
	uint64_t resume_ns;	/* destination: COMMIT -> every vCPU running */
	uint64_t rtt_ns;	/* the link's round trip */
	uint64_t stop_delay_ns;	/* the deciding harvest -> the pause */
	bool measured;		/* pause/save/resume measured (else estimated) */
};

/* Before anything is measured: what a guest of @vcpus vCPUs costs on a
 * quiet host (used until the trial pause; profile's default). */
void kms_costs_estimate(struct kms_costs *k, unsigned int vcpus);
/* Sets @c's state_bytes, handoff_ns (pause + harvest + save + load +
 * resume), rtt_ns (END -> READY and half for COMMIT: 1.5 round trips),
 * stop_delay_ns, and the margin (KMS_MARGIN_*). */
void kms_costs_apply(const struct kms_costs *k, struct kmc_config *c);
/* The guest's pause stopping with nothing dirty but the stop delay's
 * pages, at @rate bytes/s: the floor this link and guest can reach
 * (UINT64_MAX: no rate). */
uint64_t kms_floor_ns(const struct kmc_state *s, const struct kmc_config *c, uint64_t rate);
/* The least downtime limit whose budget (limit less the margin) fits
 * @pause_ns, rounded up to a millisecond. */
uint64_t kms_limit_for_ns(const struct kmc_config *c, uint64_t pause_ns);

#endif /* KM_SWITCH_COST_H */
