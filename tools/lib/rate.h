/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Bandwidth rates, in bytes per second; 0 means unlimited (as in the ABI).
 *
 * Accepted syntax (see kmigrate(8)):  NUMBER[.FRACTION][ ][UNIT][/s]
 *   UNIT   B (bytes), K M G T [B] (powers of 1000 bytes),
 *          Ki Mi Gi Ti [B] (powers of 1024 bytes),
 *          bit kbit mbit gbit tbit kibit ... (bits, divided by 8);
 *          prefixes and "bit" in any case, "B" upper case only.
 *   "0" and "unlimited" mean no cap.
 */
#ifndef KM_RATE_H
#define KM_RATE_H

#include <stddef.h>
#include <stdint.h>

/* Longest string km_rate_format() writes, NUL included. */
#define KM_RATE_STRLEN	32

/*
 * Parses @s into *@bps.  Returns 0, or -EINVAL (bad syntax) / -ERANGE
 * (too large, or below 1 byte/s) with the reason written to @why.
 */
int km_rate_parse(const char *s, uint64_t *bps, char *why, size_t whylen);

/*
 * Writes @bps in human units into @buf ("unlimited", "999 B/s",
 * "125 MB/s", "1 GiB/s", "1.235 MB/s"); exact units are preferred, else
 * SI with up to three decimals.  Returns @buf.
 */
char *km_rate_format(uint64_t bps, char *buf, size_t len);

/*
 * Pacing to a cap: a token bucket of KM_BUCKET_DEPTH_DIV-th of a second of
 * the cap (50 ms, at least KM_BUCKET_DEPTH_MIN bytes), as kmod/dp.c paces
 * the kernel data path.  The bucket counts the bytes written into the
 * migration stream (the payload of TCP), not TCP/IP headers.  A sender
 * charges what it wrote and sleeps for the returned time: the bucket may
 * go into debt by one write, and after an idle spell it holds at most its
 * depth, so a one-second window carries at most the cap plus 50 ms of it
 * plus one write.
 */
#define KM_BUCKET_DEPTH_DIV	20
#define KM_BUCKET_DEPTH_MIN	(64u << 10)

struct km_bucket {
	uint64_t rate;		/* the cap the bucket was last filled at; 0: none yet */
	uint64_t t_ns;		/* when it was last filled */
	int64_t tokens;		/* bytes that may go now; negative: a debt */
};

/* The bucket's depth in bytes at @rate (> 0). */
uint64_t km_bucket_depth(uint64_t rate);

/*
 * Charges @bytes at time @now_ns against the cap @rate (bytes/s; 0: no cap,
 * which empties the bucket's state).  A change of @rate takes effect from
 * now: the time since the last call is refilled at the old rate.  Returns
 * the nanoseconds to wait before the next send (0: none); charging 0 bytes
 * after waiting tells whether the debt is paid.
 */
uint64_t km_bucket_charge(struct km_bucket *b, uint64_t rate, uint64_t now_ns,
			  uint64_t bytes);

#endif /* KM_RATE_H */
