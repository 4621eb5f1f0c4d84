// SPDX-License-Identifier: GPL-2.0
/* The host's limit on incoming migrations (inlimit.h). */
#include <errno.h>
#include <stdio.h>

#include "config.h"
#include "ctl.h"
#include "inlimit.h"
#include "slots.h"

struct km_in_limits km_in_limits = { .max = KM_CONF_DEFAULT_MAX };

static struct km_slot in_slot = { .fd = -1 };

static void in_notify(void *arg, const char *holders)
{
	const char *name = arg;

	fprintf(stderr, "kmigrate listen: incoming %s queued: the host is at its limit of %u "
		"incoming migrations (running: %s)\n", name, km_in_limits.max, holders);
}

int km_in_slot_take(const char *name, const char *peer, char *err, size_t errlen)
{
	char who[400], e[300] = "", holders[512];
	int r;

	if (in_slot.fd >= 0)
		return 0;
	snprintf(who, sizeof(who), "%s from %s", name, peer);
	if (!km_in_limits.queue) {
		r = km_slot_try(km_ctl_run_dir(), "in", km_in_limits.max, who, &in_slot, e,
				sizeof(e));
	} else {
		r = km_slot_wait(km_ctl_run_dir(), "in", km_in_limits.max, who, in_notify,
				 (void *)name, NULL, KM_IN_QUEUE_MAX_MS, &in_slot, e, sizeof(e));
	}
	if (r == -EBUSY) {
		km_slot_count(km_ctl_run_dir(), "in", holders, sizeof(holders));
		snprintf(err, errlen, "host at its limit of %u incoming migrations%s (running: %s)",
			 km_in_limits.max, km_in_limits.queue ? ", queued " KM_IN_QUEUE_S " s" : "",
			 *holders ? holders : "?");
		return r;
	}
	if (r) {
		snprintf(err, errlen, "incoming migration slot: %s", e);
		return r;
	}
	fprintf(stderr, "kmigrate listen: incoming %s from %s started (slot %u of %u)\n", name,
		peer, in_slot.idx + 1, km_in_limits.max);
	return 0;
}

void km_in_slot_release(void)
{
	km_slot_release(&in_slot);
}
