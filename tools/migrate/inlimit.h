/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The host's limit on incoming migrations (config max_incoming, `listen
 * --max-incoming`): the listener's child takes one of the "in" slots
 * (slots.h) under the run directory when the HELLO arrives and gives it
 * back at COMMIT (or when it exits).  Beyond the limit it answers ERROR
 * "host at its limit of N incoming migrations" (policy refuse, the
 * default), or waits in order for a slot up to KM_IN_QUEUE_MAX_MS (policy
 * queue: the source waits 30 s for ACCEPT) and refuses then.
 */
#ifndef KM_INLIMIT_H
#define KM_INLIMIT_H

#include <stdbool.h>
#include <stddef.h>

#define KM_IN_QUEUE_MAX_MS	25000
#define KM_IN_QUEUE_S		"25"

struct km_in_limits {
	unsigned int max;	/* default 2 */
	bool queue;		/* wait for a slot instead of refusing */
};

/* Set by `kmigrate listen` before it forks the children. */
extern struct km_in_limits km_in_limits;

/* Takes an incoming slot for VM @name from @peer: 0, or -EBUSY / -errno
 * with @err the message for the source. */
int km_in_slot_take(const char *name, const char *peer, char *err, size_t errlen);
/* Gives it back (idempotent). */
void km_in_slot_release(void);

#endif /* KM_INLIMIT_H */
