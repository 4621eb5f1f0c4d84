/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libvmm: split virtqueues (virtio 1.x, section 2.7) on guest memory that
 * is reached through struct vq_gmem only, so the walker runs against a
 * fake guest memory in the unit tests and against the VM's RAM in libvmm.
 *
 * Every guest address and length is checked by vq_gmem.map() before it is
 * touched; a descriptor is copied out of guest memory once and the copy is
 * what gets checked and used (the guest can change the table under us).
 * A malformed chain (a loop, an address outside RAM, a zero length, a
 * readable buffer after a writable one, nested or misplaced indirect
 * tables, more than the queue size) makes vq_pop() fail with -EINVAL and a
 * reason; the transport then marks the device NEEDS_RESET.
 */
#ifndef KMIGRATE_VIRTQ_H
#define KMIGRATE_VIRTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VQ_MAX_SIZE	256		/* queue size offered to the guest */
#define VQ_MAX_SEGS	VQ_MAX_SIZE	/* buffers in one chain (indirect too) */

/* Guest memory as the devices see it. */
struct vq_gmem {
	/* Host address of [gpa, gpa + len) if it is all guest RAM, else NULL. */
	void *(*map)(void *opaque, uint64_t gpa, uint64_t len);
	/* The VMM wrote [gpa, gpa + len): report it to dirty tracking. */
	void (*dirty)(void *opaque, uint64_t gpa, uint64_t len);
	void *opaque;
};

struct vq_seg {
	uint8_t *hva;
	uint64_t gpa;
	uint32_t len;
	bool write;		/* device-writable */
};

/* One descriptor chain taken from the available ring. */
struct vq_req {
	uint16_t head;
	unsigned int nr;		/* segments: readable ones first */
	unsigned int nr_out;		/* readable (driver -> device) segments */
	uint64_t out_len, in_len;	/* bytes readable / writable */
	struct vq_seg seg[VQ_MAX_SEGS];
};

struct virtq {
	/* set by the driver through the transport */
	uint16_t size;
	bool enabled;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t msix_vector;
	/* set by vq_start() */
	const struct vq_gmem *mem;
	bool indirect;			/* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	uint8_t *desc, *avail, *used;	/* host addresses of the rings */
	uint16_t last_avail;		/* next available entry to take */
	uint16_t used_idx;		/* next used entry to fill */
};

/* Back to the state after a device reset (size @max_size, not enabled). */
void vq_reset(struct virtq *q, uint16_t max_size);
/*
 * The driver enabled the queue: check and map its three rings.  Returns 0,
 * or -EINVAL with a reason in @err (size not a power of 2, misaligned or
 * out-of-RAM rings).
 */
int vq_start(struct virtq *q, const struct vq_gmem *mem, bool indirect,
	     char *err, size_t errlen);
/*
 * Takes the next available chain into @req: 1, 0 when none is available,
 * -EINVAL (with a reason in @err) when the ring or the chain is malformed.
 */
int vq_pop(struct virtq *q, struct vq_req *req, char *err, size_t errlen);
/*
 * Returns chain @head to the driver with @len bytes written, and reports
 * the used-ring entry (and the written buffers, given by the caller's
 * vq_req_dirty) to dirty tracking.  Returns whether the driver wants an
 * interrupt (VRING_AVAIL_F_NO_INTERRUPT clear).
 */
bool vq_push(struct virtq *q, uint16_t head, uint32_t len);

/* Copy bytes [off, off + len) of the readable part of @req to @dst. */
int vq_req_read(const struct vq_req *req, uint64_t off, void *dst, uint64_t len);
/* Copy @len bytes from @src to [off, off + len) of the writable part. */
int vq_req_write(const struct vq_req *req, const struct vq_gmem *mem, uint64_t off,
		 const void *src, uint64_t len);
/* Report the first @len bytes of the writable part as written. */
void vq_req_dirty(const struct vq_req *req, const struct vq_gmem *mem, uint64_t len);

#endif
