// SPDX-License-Identifier: GPL-2.0
/* Populated guest memory: SEEK_DATA / SEEK_HOLE and hole punching; see populated.h. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <linux/falloc.h>

#include "populated.h"

int km_pop_next_data(int fd, uint64_t from, uint64_t end, uint64_t *start, uint64_t *stop)
{
	off_t d, h;

	if (from >= end)
		return 0;
	d = lseek(fd, (off_t)from, SEEK_DATA);
	if (d < 0) {
		if (errno == ENXIO)	/* only a hole up to the end of the file */
			return 0;
		if (errno == EINVAL) {	/* no SEEK_DATA here: all of it is data */
			*start = from;
			*stop = end;
			return 1;
		}
		return -errno;
	}
	if ((uint64_t)d >= end)
		return 0;
	h = lseek(fd, d, SEEK_HOLE);
	if (h < 0)
		return -errno;
	*start = (uint64_t)d;
	*stop = (uint64_t)h < end ? (uint64_t)h : end;
	return 1;
}

int64_t km_pop_bytes(int fd, uint64_t off, uint64_t len)
{
	uint64_t pos = off, end = off + len, s = 0, e = 0;
	int64_t n = 0;
	int r;

	while ((r = km_pop_next_data(fd, pos, end, &s, &e)) > 0) {
		n += (int64_t)(e - s);
		pos = e;
	}
	return r < 0 ? r : n;
}

int km_pop_zero(int fd, void *map, uint64_t off, uint64_t len)
{
	uint64_t pos = off, end = off + len, s = 0, e = 0;
	int r;

	if (!len)
		return 0;
	if (!fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len))
		return 0;
	/* no punching here: zero what holds data, leave the holes alone */
	while ((r = km_pop_next_data(fd, pos, end, &s, &e)) > 0) {
		memset((char *)map + (s - off), 0, e - s);
		pos = e;
	}
	return r < 0 ? r : 1;
}

uint64_t km_pop_rss_shmem(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	unsigned long long kb = 0;
	char line[128];
	bool found = false;

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "RssShmem: %llu kB", &kb) == 1;
	fclose(f);
	return found ? (uint64_t)kb << 10 : 0;
}

int km_pop_walk(int fd, uint64_t ram_off, uint64_t gfn, uint64_t npages,
		const struct km_pop_walker *w)
{
	uint64_t pos = ram_off, end = ram_off + npages * 4096, s = 0, e = 0;
	int r;

	while (pos < end) {
		r = km_pop_next_data(fd, pos, end, &s, &e);
		if (r < 0)
			return r;
		if (!r)
			s = e = end;
		/* extents are page-aligned on shmem; round outwards anyway */
		s &= ~4095ULL;
		e = (e + 4095) & ~4095ULL;
		if (s > pos && (r = w->hole(w->opaque, gfn + (pos - ram_off) / 4096,
					    (s - pos) / 4096)))
			return r;
		if (e > s && (r = w->data(w->opaque, gfn + (s - ram_off) / 4096, (e - s) / 4096)))
			return r;
		pos = e;
	}
	return 0;
}
