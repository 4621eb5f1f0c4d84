// SPDX-License-Identifier: GPL-2.0
/* Round 0 by populated extents; see bulk.h. */
#include <stdio.h>
#include <string.h>

#include "bulk.h"
#include "populated.h"

static int bulk_enc_err(struct km_bulk *b, ssize_t r, const char *what)
{
	snprintf(b->err, sizeof(b->err), "encoding %s: %s (%s)", what, b->enc->err,
		 kmp_strerror((uint32_t)-r));
	return -1;
}

static int bulk_flush_gfns(struct km_bulk *b)
{
	uint32_t n = b->ngfns;

	b->ngfns = 0;
	return n ? b->sink->pages(b->sink->opaque, b->gfns, n) : 0;
}

static int bulk_data(void *opaque, uint64_t gfn, uint64_t npages)
{
	struct km_bulk *b = opaque;

	while (npages--) {
		b->gfns[b->ngfns++] = gfn++;
		if (b->ngfns == KM_BULK_BATCH && bulk_flush_gfns(b))
			return -1;
	}
	return 0;
}

static int bulk_flush_holes(struct km_bulk *b)
{
	uint8_t buf[KMP_HDR_SIZE + KMP_MAX_HOLE_BATCH * KMP_RANGE_SIZE];
	uint64_t pages = 0;
	ssize_t n;

	if (!b->nholes)
		return 0;
	n = kmp_enc_hole(b->enc, buf, sizeof(buf), b->holes, b->nholes);
	if (n < 0)
		return bulk_enc_err(b, n, "HOLE");
	for (uint32_t i = 0; i < b->nholes; i++)
		pages += b->holes[i].npages;
	b->nholes = 0;
	return b->sink->record(b->sink->opaque, buf, (size_t)n, pages, 0);
}

/* Never touched: one HOLE range, or ZERO gfns for a destination without SPARSE. */
static int bulk_hole(void *opaque, uint64_t gfn, uint64_t npages)
{
	struct km_bulk *b = opaque;
	uint8_t buf[KMP_HDR_SIZE + KMP_MAX_ZERO_BATCH * KMP_GFN_SIZE];
	uint64_t z[KMP_MAX_ZERO_BATCH];
	ssize_t n;

	if (b->sparse) {
		b->holes[b->nholes++] = (struct kmp_range){ gfn, npages };
		return b->nholes == KMP_MAX_HOLE_BATCH ? bulk_flush_holes(b) : 0;
	}
	while (npages) {
		uint32_t c = npages < KMP_MAX_ZERO_BATCH ? (uint32_t)npages : KMP_MAX_ZERO_BATCH;

		for (uint32_t i = 0; i < c; i++)
			z[i] = gfn + i;
		n = kmp_enc_zero(b->enc, buf, sizeof(buf), z, c);
		if (n < 0)
			return bulk_enc_err(b, n, "ZERO");
		if (b->sink->record(b->sink->opaque, buf, (size_t)n, 0, c))
			return -1;
		gfn += c;
		npages -= c;
	}
	return 0;
}

int km_bulk_send(struct km_bulk *b, int fd, const struct km_bulk_region *rg, unsigned int nr)
{
	const struct km_pop_walker w = { b, bulk_data, bulk_hole };
	int r;

	b->err[0] = 0;
	b->ngfns = b->nholes = 0;
	for (unsigned int i = 0; i < nr; i++) {
		r = km_pop_walk(fd, rg[i].ram_offset, rg[i].gpa / KMP_PAGE_SIZE,
				rg[i].size / KMP_PAGE_SIZE, &w);
		if (r < -1)
			snprintf(b->err, sizeof(b->err), "finding the guest's populated memory: %s",
				 strerror(-r));
		if (r)
			return -1;
	}
	return bulk_flush_holes(b) || bulk_flush_gfns(b) ? -1 : 0;
}
