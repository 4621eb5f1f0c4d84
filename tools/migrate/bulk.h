/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Round 0 of a migration, the bulk copy (issue 17): walks the guest's RAM
 * memfd by data extents (populated.h) and hands
 *   - the populated pages' gfns to the data path (which reads them and
 *     sends PAGES, or ZERO when all zero), in batches;
 *   - the never-touched pages, without reading them, as HOLE records
 *     (feature SPARSE) or, for a destination without it, ZERO records,
 *     encoded here on the stream's encoder.
 * Nothing here touches guest memory: a hole stays a hole on this host.
 */
#ifndef KM_BULK_H
#define KM_BULK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define KM_BULK_BATCH		4096u	/* gfns per pages() call (KM_DP_MAX_BATCH) */

/* A RAM region: guest-physical [gpa, gpa + size) at @ram_offset of the memfd. */
struct km_bulk_region {
	uint64_t gpa, size, ram_offset;
};

struct km_bulk_sink {
	void *opaque;
	/* @n (1 .. KM_BULK_BATCH) populated gfns for the data path; 0 or -1 */
	int (*pages)(void *opaque, const uint64_t *gfns, uint32_t n);
	/* an encoded HOLE record of @hole_pages pages or ZERO record of @zero
	 * gfns (@len bytes at @buf) to write; 0 or -1 */
	int (*record)(void *opaque, const void *buf, size_t len, uint64_t hole_pages,
		      uint32_t zero);
};

struct km_bulk {
	struct kmp_enc *enc;		/* the stream's, in round 0 */
	bool sparse;			/* SPARSE in HELLO: HOLE records */
	const struct km_bulk_sink *sink;
	char err[200];			/* set when the failure is ours, not the sink's */
	/* private */
	uint64_t gfns[KM_BULK_BATCH];
	uint32_t ngfns;
	struct kmp_range holes[KMP_MAX_HOLE_BATCH];
	uint32_t nholes;
};

/*
 * Round 0 over @nr regions of memfd @fd.  Returns 0, or -1 with b->err set
 * (an lseek or encoder error) or empty (a sink callback failed).
 */
int km_bulk_send(struct km_bulk *b, int fd, const struct km_bulk_region *rg, unsigned int nr);

#endif /* KM_BULK_H */
