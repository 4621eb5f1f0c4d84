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

#endif /* KM_RATE_H */
