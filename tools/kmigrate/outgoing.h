/* SPDX-License-Identifier: GPL-2.0 */
/*
 * `kmigrate start` and the host's limits on outgoing migrations
 * (config.h, slots.h): the process running `start` holds one of the
 * max_outgoing slots "out" under the run directory for the migration's
 * whole life, waiting for one in order (or refusing with --no-wait), and
 * gives its migration a share of the host's bandwidth cap: cap / running
 * outgoing migrations, recomputed when one starts or ends.
 */
#ifndef KM_OUTGOING_H
#define KM_OUTGOING_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "slots.h"

struct km_out {
	const struct km_conf *conf;
	struct km_slot slot;
	uint64_t user_bw;	/* --bandwidth (0: none) */
	unsigned int running;	/* outgoing migrations when the share was set */
	uint64_t bw;		/* the cap given to the migration (0: none) */
};

/* Takes an outgoing slot for NAME -> TO, waiting in order unless @nowait.
 * Returns 0, or an exit status after printing why. */
int km_out_begin(struct km_out *o, const struct km_conf *conf, const char *name,
		 const char *to, uint64_t user_bw, bool nowait, volatile sig_atomic_t *stop);
/* The cap for the migration now: min(--bandwidth, host cap / running). */
uint64_t km_out_share(struct km_out *o);
/* Another outgoing migration started or ended: true with the new cap in
 * *@bw when it changed. */
bool km_out_rebalance(struct km_out *o, uint64_t *bw);
void km_out_end(struct km_out *o);

#endif /* KM_OUTGOING_H */
