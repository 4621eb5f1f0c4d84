// SPDX-License-Identifier: GPL-2.0
/*
 * modfuzz: the threads the race tests start (modfuzz.c), and the check
 * of the stream's framing.
 */

#include "modfuzz.h"

void *attach_thread(void *p)
{
	struct attach_arg *a = p;
	struct kmigrate_attach at = { .vm_fd = a->vm };

	pthread_barrier_wait(a->bar);
	a->err = xioctl(a->km, KMIGRATE_ATTACH_VM, &at);
	return NULL;
}

void *claimer_thread(void *p)
{
	struct claimer *c = p;

	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		struct kmigrate_attach at = { .vm_fd = c->vm };
		int err = xioctl(c->km, KMIGRATE_ATTACH_VM, &at);

		tally(&c->t, err);
		if (!err) {
			c->got_ns = dp_now_ns();
			break;
		}
		usleep(500);
	}
	return NULL;
}

/* The host writes the pages being sent through the guest's mapping:
 * whole pages to zero and back, single bytes. */
void *writer_thread(void *p)
{
	struct writer *w = p;
	struct rng r = { 42 };

	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		uint64_t g = DP_STAMP_FIRST + rn(&r, DP_STAMP_PAGES);

		if (one_in(&r, 2))
			memset(w->mem + g * DP_PAGE_SIZE, one_in(&r, 2) ? 0 : 0xa5,
			       DP_PAGE_SIZE);
		else
			w->mem[g * DP_PAGE_SIZE + rn(&r, DP_PAGE_SIZE)] = rnd(&r) | 1;
		w->passes++;
	}
	return NULL;
}

/* Walks the records in buf[0..len): well-formed PAGES and ZERO records. */
int check_framing(const uint8_t *buf, size_t len, char *why, size_t wl)
{
	size_t off = 0;

	while (off + REC_HDR <= len) {
		uint32_t magic, length, count;
		uint16_t type;

		memcpy(&magic, buf + off, 4);
		memcpy(&type, buf + off + 4, 2);
		memcpy(&length, buf + off + 8, 4);
		memcpy(&count, buf + off + 12, 4);
		if (magic != REC_MAGIC || (type != REC_PAGES && type != REC_ZERO) ||
		    !count ||
		    length != (uint64_t)count * (type == REC_PAGES ? 8 + DP_PAGE_SIZE : 8)) {
			snprintf(why, wl, "bad record at byte %zu: magic %#x type %u length %u count %u",
				 off, magic, type, length, count);
			return -1;
		}
		off += REC_HDR + length;
	}
	if (off != len) {
		snprintf(why, wl, "stream ends inside a record (%zu of %zu)", off, len);
		return -1;
	}
	return 0;
}

void *opener_thread(void *p)
{
	static __thread uint64_t buf[64];
	struct opener *o = p;

	while (!__atomic_load_n(&o->stop, __ATOMIC_ACQUIRE)) {
		struct kmigrate_attach a = { .vm_fd = o->vm };
		int km = kmt_open(O_RDWR), err;

		if (km < 0) {
			/* the node is gone with the module, or going */
			if (km == -ENOENT || km == -ENODEV || km == -ENXIO)
				o->refused++;
			else
				o->bad = km;
			usleep(500);
			continue;
		}
		o->opened++;
		err = xioctl(km, KMIGRATE_ATTACH_VM, &a);
		if (!err) {
			o->attached++;
			harvest(km, buf, 64, NULL, NULL);
		} else {
			o->bad = err;
		}
		close(km);
	}
	return NULL;
}
