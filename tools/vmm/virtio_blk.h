/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libvmm: virtio-blk (virtio 1.x, section 5.2) over the PCI transport.
 *
 * The backing file or block device is opened with O_DIRECT, so guest
 * writes never sit in the host's page cache (a migration's destination
 * reads the same bytes); guest buffers that are not aligned to the disk's
 * sector size are bounced through an aligned buffer.  FLUSH is fdatasync.
 * A read-write disk holds an exclusive flock(2), a read-only one a shared
 * one: a second VM (or process) that wants to write the disk is refused.
 *
 * Requests are served by one worker thread per disk, woken by an eventfd
 * that the queue notification writes; the vCPU returns at once.
 */
#ifndef KMIGRATE_VIRTIO_BLK_H
#define KMIGRATE_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "virtio_pci.h"

#define VBLK_QUEUE_SIZE	128
#define VBLK_SEG_MAX	(VBLK_QUEUE_SIZE - 2)	/* header and status take two */
#define VBLK_SIZE_MAX	(1u << 20)		/* bytes in one segment */
#define VBLK_REQ_MAX	(64u << 20)		/* bytes in one request */

struct vblk_disk {
	char path[256];
	int fd;
	bool ro;
	bool bdev;
	uint64_t sectors;		/* 512-byte sectors */
	uint32_t align;			/* O_DIRECT alignment of offsets, lengths, memory */
	char serial[20];		/* GET_ID */
	void *bounce;
	size_t bounce_size;
	uint64_t bounced;		/* requests that went through the bounce buffer */
};

/*
 * Opens and locks @path: -ENOENT, -EBUSY (another holder of the lock),
 * -EINVAL (not a regular file or block device, smaller than a sector, no
 * O_DIRECT on that file system) ... with a message in @err.
 */
int vblk_disk_open(struct vblk_disk *d, const char *path, bool ro, char *err, size_t errlen);
void vblk_disk_close(struct vblk_disk *d);

/*
 * Serves one request: reads the header, does the I/O, writes the status
 * byte.  Returns the bytes written into the chain (for the used ring), or
 * -EINVAL when the chain has no 16-byte header or no status byte (the
 * device then needs a reset).  *@status gets the VIRTIO_BLK_S_* code.
 */
int vblk_serve(struct vblk_disk *d, const struct vq_req *r, const struct vq_gmem *mem,
	       uint8_t *status, char *err, size_t errlen);

struct virtio_blk {
	struct virtio_pci vp;
	struct vblk_disk disk;
	int efd;			/* queue notifications */
	pthread_t thread;
	bool thread_started;
	bool stop;
	struct vq_req req;
	uint64_t requests, errors;
};

int virtio_blk_create(struct virtio_blk **out, const char *path, bool ro,
		      const struct vq_gmem *mem, FILE *log, char *err, size_t errlen);
/*
 * The destination of a migration: the source's disk of @bytes bytes at
 * @path, not opened (no fd, no lock: the source still writes it); its
 * requests fail until virtio_blk_open_disk(), which opens and locks it and
 * checks its size (-EINVAL with a line in @err when it differs).
 */
int virtio_blk_create_detached(struct virtio_blk **out, const char *path, bool ro,
			       uint64_t bytes, const struct vq_gmem *mem, FILE *log, char *err,
			       size_t errlen);
int virtio_blk_open_disk(struct virtio_blk *b, char *err, size_t errlen);
/* Closes the disk (and drops its lock): the guest's next owner may open it. */
void virtio_blk_close_disk(struct virtio_blk *b);
/* The guest is paused: serve every available request, fdatasync. */
int virtio_blk_quiesce(struct virtio_blk *b);
/* The worker thread (not needed when the caller calls virtio_blk_process). */
int virtio_blk_start(struct virtio_blk *b);
/* Serves every available request (what the worker does when woken). */
void virtio_blk_process(struct virtio_blk *b);
void virtio_blk_destroy(struct virtio_blk *b);

#endif
