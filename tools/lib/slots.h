/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Per-host concurrency slots for migrations: KIND ("out" or "in") slot N is
 * the file DIR/KIND-slot.N, held with an open-file-description write lock
 * (F_OFD_SETLK) by the process running that migration (the lock goes with
 * the process, so a crash frees it).
 * The file holds one line saying who holds it, for messages.
 *
 * Waiting is first come, first served: a waiter takes a ticket (a counter
 * in DIR/KIND-ticket, under the lock) and holds DIR/KIND-wait.TICKET locked
 * while it waits; it may take a free slot only when no live waiter has an
 * earlier ticket.  km_slot_try() does not jump the queue either.
 */
#ifndef KM_SLOTS_H
#define KM_SLOTS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

struct km_slot {
	int fd;			/* -1: none held */
	unsigned int idx;
};

/* Slots of @kind held now (by anyone, this process included), scanning
 * every slot file that may exist; @holders gets "who, who" (may be NULL). */
unsigned int km_slot_count(const char *dir, const char *kind, char *holders, size_t hlen);
/* Takes a free slot below @max now, writing @who into it.  0, -EBUSY (all
 * @max in use, or earlier waiters), or -errno with @err set. */
int km_slot_try(const char *dir, const char *kind, unsigned int max, const char *who,
		struct km_slot *s, char *err, size_t errlen);
/*
 * Waits in order for a slot.  @notify(arg, holders) is called once when it
 * has to wait because all @max slots are taken (holders: who has them).  Gives up with -EINTR when
 * *@stop becomes non-zero, with -EBUSY after @timeout_ms (0: never).  0 or
 * -errno with @err set.
 */
int km_slot_wait(const char *dir, const char *kind, unsigned int max, const char *who,
		 void (*notify)(void *arg, const char *holders), void *arg,
		 volatile sig_atomic_t *stop, unsigned int timeout_ms, struct km_slot *s,
		 char *err, size_t errlen);
/* Frees the slot (idempotent). */
void km_slot_release(struct km_slot *s);

#endif /* KM_SLOTS_H */
