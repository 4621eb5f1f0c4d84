/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Populated guest memory (issue 17): which parts of the guest's RAM memfd
 * hold pages, found with lseek(SEEK_DATA / SEEK_HOLE) without faulting
 * the rest in, and how to make a range zero without allocating it.
 *
 * Guest RAM is one memfd (tools/vmm/memory.c); a page the guest never
 * touched is a hole of that file and reads as zero.  The source sends
 * holes as HOLE ranges (docs/PROTOCOL.md, feature SPARSE) and reads only
 * the data extents; the destination punches (fallocate PUNCH_HOLE) what
 * must become zero instead of writing zeros, so each side keeps about
 * what the guest uses.
 *
 * A file system without SEEK_DATA (EINVAL) counts as all data: the old
 * behaviour, every page read and sent.
 */
#ifndef KM_POPULATED_H
#define KM_POPULATED_H

#include <stdint.h>

/*
 * The first data extent in [@from, @end) of @fd: 1 with [*@start, *@stop)
 * (clipped to @end), 0 when the rest is a hole, -errno on an error.
 */
int km_pop_next_data(int fd, uint64_t from, uint64_t end, uint64_t *start, uint64_t *stop);

/* Bytes of data (populated pages) in [@off, @off + @len) of @fd; -errno. */
int64_t km_pop_bytes(int fd, uint64_t off, uint64_t len);

/*
 * Makes [@off, @off + @len) of @fd (mapped at @map, the mapping of offset
 * @off) zero without allocating it: FALLOC_FL_PUNCH_HOLE|KEEP_SIZE; when
 * the punch fails, memset of the populated pages only.  @off and @len are
 * page-aligned.  Returns 0 (punched), 1 (written with zeros) or -errno.
 */
int km_pop_zero(int fd, void *map, uint64_t off, uint64_t len);

/* RssShmem of /proc/self/status in bytes (shared memory this process
 * maps: its guest RAM); 0 if unknown. */
uint64_t km_pop_rss_shmem(void);



/*
 * Walks @npages guest pages from @gfn, held at byte @ram_off of @fd: @data
 * for each run of populated pages, @hole for each run never touched, in
 * ascending order.  A callback's non-zero return stops the walk and is
 * returned; -errno for an lseek error.
 */
struct km_pop_walker {
	void *opaque;
	int (*data)(void *opaque, uint64_t gfn, uint64_t npages);
	int (*hole)(void *opaque, uint64_t gfn, uint64_t npages);
};

int km_pop_walk(int fd, uint64_t ram_off, uint64_t gfn, uint64_t npages,
		const struct km_pop_walker *w);
#endif /* KM_POPULATED_H */
