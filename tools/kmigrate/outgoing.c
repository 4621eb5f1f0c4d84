// SPDX-License-Identifier: GPL-2.0
/* Outgoing migration slots and the host's shared bandwidth cap (outgoing.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ctl.h"
#include "exitcode.h"
#include "outgoing.h"
#include "rate.h"

struct out_wait {
	const char *name;
	unsigned int max;
};

static void out_notify(void *arg, const char *holders)
{
	const struct out_wait *w = arg;

	fprintf(stderr, "kmigrate start: %s: waiting for an outgoing migration slot: the host "
		"is at its limit of %u outgoing migrations (running: %s)\n", w->name, w->max,
		*holders ? holders : "?");
	fflush(stderr);
}

int km_out_begin(struct km_out *o, const struct km_conf *conf, const char *name,
		 const char *to, uint64_t user_bw, bool nowait, volatile sig_atomic_t *stop)
{
	struct out_wait w = { name, conf->max_outgoing };
	char who[400], err[512] = "";
	int r;

	memset(o, 0, sizeof(*o));
	o->conf = conf;
	o->slot.fd = -1;
	o->user_bw = user_bw;
	snprintf(who, sizeof(who), "%s -> %s (pid %d)", name, to, (int)getpid());
	if (nowait) {
		r = km_slot_try(km_ctl_run_dir(), "out", conf->max_outgoing, who, &o->slot, err,
				sizeof(err));
		if (r == -EBUSY) {
			char holders[512];

			km_slot_count(km_ctl_run_dir(), "out", holders, sizeof(holders));
			km_err("start: %s: host at its limit of %u outgoing migrations (running: "
			       "%s); not waiting (--no-wait)", name, conf->max_outgoing,
			       *holders ? holders : "others are waiting");
			return KM_EXIT_FAIL;
		}
	} else {
		r = km_slot_wait(km_ctl_run_dir(), "out", conf->max_outgoing, who, out_notify, &w,
				 stop, 0, &o->slot, err, sizeof(err));
	}
	if (r) {
		km_err("start: %s: outgoing migration slot: %s", name, err);
		return KM_EXIT_FAIL;
	}
	return KM_EXIT_OK;
}

static uint64_t out_compute(struct km_out *o, unsigned int running)
{
	uint64_t share, bw = o->user_bw;

	if (!o->conf->bandwidth)
		return bw;
	share = o->conf->bandwidth / (running ? running : 1);
	if (!share)
		share = 1;
	return bw && bw < share ? bw : share;
}

uint64_t km_out_share(struct km_out *o)
{
	o->running = km_slot_count(km_ctl_run_dir(), "out", NULL, 0);
	o->bw = out_compute(o, o->running);
	return o->bw;
}

bool km_out_rebalance(struct km_out *o, uint64_t *bw)
{
	unsigned int n;
	uint64_t nb;

	if (!o->conf->bandwidth)
		return false;
	n = km_slot_count(km_ctl_run_dir(), "out", NULL, 0);
	if (n == o->running)
		return false;
	o->running = n;
	nb = out_compute(o, n);
	if (nb == o->bw)
		return false;
	o->bw = nb;
	*bw = nb;
	return true;
}

void km_out_end(struct km_out *o)
{
	km_slot_release(&o->slot);
}
