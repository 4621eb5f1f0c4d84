// SPDX-License-Identifier: GPL-2.0
/*
 * libvmm: split virtqueues (virtq.h).  Layout of the rings (little-endian,
 * x86 only, so read as host integers):
 *
 *   descriptor table  16 bytes each: addr u64, len u32, flags u16, next u16
 *   available ring    flags u16, idx u16, ring[size] u16 (, used_event u16)
 *   used ring         flags u16, idx u16, ring[size] {id u32, len u32}
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <linux/virtio_ring.h>

#include "virtq.h"

struct vq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/* The most entries an indirect table may have (the guest's allocation). */
#define VQ_MAX_INDIRECT	VQ_MAX_SEGS

void vq_reset(struct virtq *q, uint16_t max_size)
{
	memset(q, 0, sizeof(*q));
	q->size = max_size;
	q->msix_vector = 0xffff;	/* VIRTIO_MSI_NO_VECTOR */
}

int vq_start(struct virtq *q, const struct vq_gmem *mem, bool indirect,
	     char *err, size_t errlen)
{
	uint64_t n = q->size;

	if (!n || n > VQ_MAX_SIZE || (n & (n - 1))) {
		snprintf(err, errlen, "queue size %u is not a power of 2 in 1..%u",
			 q->size, VQ_MAX_SIZE);
		return -EINVAL;
	}
	if ((q->desc_gpa & 15) || (q->avail_gpa & 1) || (q->used_gpa & 3)) {
		snprintf(err, errlen, "misaligned rings (desc %#llx avail %#llx used %#llx)",
			 (unsigned long long)q->desc_gpa, (unsigned long long)q->avail_gpa,
			 (unsigned long long)q->used_gpa);
		return -EINVAL;
	}
	q->desc = mem->map(mem->opaque, q->desc_gpa, 16 * n);
	q->avail = mem->map(mem->opaque, q->avail_gpa, 6 + 2 * n);
	q->used = mem->map(mem->opaque, q->used_gpa, 6 + 8 * n);
	if (!q->desc || !q->avail || !q->used) {
		snprintf(err, errlen, "a ring lies outside guest RAM (desc %#llx avail %#llx "
			 "used %#llx, size %u)", (unsigned long long)q->desc_gpa,
			 (unsigned long long)q->avail_gpa, (unsigned long long)q->used_gpa,
			 q->size);
		q->desc = q->avail = q->used = NULL;
		return -EINVAL;
	}
	q->mem = mem;
	q->indirect = indirect;
	q->last_avail = 0;
	q->used_idx = 0;
	q->enabled = true;
	return 0;
}

static uint16_t vq_ld16(const uint8_t *p)
{
	return __atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE);
}

/* Adds one buffer to @req; @err says why it cannot be used. */
static int vq_add_seg(const struct virtq *q, struct vq_req *req, const struct vq_desc *d,
		      char *err, size_t errlen)
{
	bool w = d->flags & VRING_DESC_F_WRITE;
	struct vq_seg *s;

	if (!d->len) {
		snprintf(err, errlen, "chain %u: a zero-length buffer", req->head);
		return -EINVAL;
	}
	if (req->nr == VQ_MAX_SEGS) {
		snprintf(err, errlen, "chain %u: more than %u buffers", req->head, VQ_MAX_SEGS);
		return -EINVAL;
	}
	if (!w && req->nr > req->nr_out) {
		snprintf(err, errlen, "chain %u: a readable buffer after a writable one",
			 req->head);
		return -EINVAL;
	}
	s = &req->seg[req->nr];
	s->hva = q->mem->map(q->mem->opaque, d->addr, d->len);
	if (!s->hva) {
		snprintf(err, errlen, "chain %u: buffer %#llx+%u lies outside guest RAM",
			 req->head, (unsigned long long)d->addr, d->len);
		return -EINVAL;
	}
	s->gpa = d->addr;
	s->len = d->len;
	s->write = w;
	req->nr++;
	if (w) {
		req->in_len += d->len;
	} else {
		req->nr_out++;
		req->out_len += d->len;
	}
	return 0;
}

/* Walks an indirect table: every entry once, no nesting, no loops. */
static int vq_walk_indirect(const struct virtq *q, struct vq_req *req,
			    const struct vq_desc *ind, char *err, size_t errlen)
{
	const uint8_t *tbl;
	uint32_t n = ind->len / 16, i = 0, steps;
	struct vq_desc d;
	int ret;

	if (!q->indirect) {
		snprintf(err, errlen, "chain %u: an indirect table without "
			 "VIRTIO_RING_F_INDIRECT_DESC", req->head);
		return -EINVAL;
	}
	if (ind->flags & VRING_DESC_F_NEXT || ind->flags & VRING_DESC_F_WRITE) {
		snprintf(err, errlen, "chain %u: an indirect descriptor with NEXT or WRITE",
			 req->head);
		return -EINVAL;
	}
	if (!ind->len || ind->len % 16 || n > VQ_MAX_INDIRECT) {
		snprintf(err, errlen, "chain %u: indirect table of %u bytes (a multiple of "
			 "16, at most %u entries)", req->head, ind->len, VQ_MAX_INDIRECT);
		return -EINVAL;
	}
	tbl = q->mem->map(q->mem->opaque, ind->addr, ind->len);
	if (!tbl) {
		snprintf(err, errlen, "chain %u: indirect table %#llx+%u lies outside guest RAM",
			 req->head, (unsigned long long)ind->addr, ind->len);
		return -EINVAL;
	}
	for (steps = 0;; steps++) {
		if (steps == n) {
			snprintf(err, errlen, "chain %u: the indirect table loops", req->head);
			return -EINVAL;
		}
		memcpy(&d, tbl + 16 * (size_t)i, sizeof(d));
		if (d.flags & VRING_DESC_F_INDIRECT) {
			snprintf(err, errlen, "chain %u: a nested indirect table", req->head);
			return -EINVAL;
		}
		ret = vq_add_seg(q, req, &d, err, errlen);
		if (ret)
			return ret;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		if (d.next >= n) {
			snprintf(err, errlen, "chain %u: indirect next %u beyond the table's %u",
				 req->head, d.next, n);
			return -EINVAL;
		}
		i = d.next;
	}
}

int vq_pop(struct virtq *q, struct vq_req *req, char *err, size_t errlen)
{
	uint16_t avail_idx, head, i, steps;
	struct vq_desc d;
	int ret;

	if (!q->enabled || !q->avail)
		return 0;
	avail_idx = vq_ld16(q->avail + 2);
	if (avail_idx == q->last_avail)
		return 0;
	if ((uint16_t)(avail_idx - q->last_avail) > q->size) {
		snprintf(err, errlen, "available index %u is %u ahead of the device's %u "
			 "(queue size %u)", avail_idx, (uint16_t)(avail_idx - q->last_avail),
			 q->last_avail, q->size);
		return -EINVAL;
	}
	head = vq_ld16(q->avail + 4 + 2 * (q->last_avail & (q->size - 1)));
	if (head >= q->size) {
		snprintf(err, errlen, "head %u beyond the queue size %u", head, q->size);
		return -EINVAL;
	}
	req->head = head;
	req->nr = req->nr_out = 0;
	req->out_len = req->in_len = 0;
	i = head;
	for (steps = 0;; steps++) {
		if (steps == q->size) {
			snprintf(err, errlen, "chain %u loops (more than %u descriptors)",
				 head, q->size);
			return -EINVAL;
		}
		memcpy(&d, q->desc + 16 * (size_t)i, sizeof(d));
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (req->nr) {
				snprintf(err, errlen, "chain %u: an indirect table after other "
					 "buffers", head);
				return -EINVAL;
			}
			ret = vq_walk_indirect(q, req, &d, err, errlen);
			if (ret)
				return ret;
			break;
		}
		ret = vq_add_seg(q, req, &d, err, errlen);
		if (ret)
			return ret;
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		if (d.next >= q->size) {
			snprintf(err, errlen, "chain %u: next %u beyond the queue size %u",
				 head, d.next, q->size);
			return -EINVAL;
		}
		i = d.next;
	}
	q->last_avail++;
	return 1;
}

bool vq_push(struct virtq *q, uint16_t head, uint32_t len)
{
	uint16_t slot = q->used_idx & (q->size - 1);
	uint32_t elem[2] = { head, len };
	uint16_t flags;

	memcpy(q->used + 4 + 8 * (size_t)slot, elem, sizeof(elem));
	q->used_idx++;
	/* the entry before the index that publishes it */
	__atomic_store_n((uint16_t *)(q->used + 2), q->used_idx, __ATOMIC_RELEASE);
	q->mem->dirty(q->mem->opaque, q->used_gpa + 4 + 8 * (uint64_t)slot, 8);
	q->mem->dirty(q->mem->opaque, q->used_gpa + 2, 2);
	/* the driver's flags after our index store (a full barrier between) */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	flags = vq_ld16(q->avail);
	return !(flags & VRING_AVAIL_F_NO_INTERRUPT);
}

int vq_req_read(const struct vq_req *req, uint64_t off, void *dst, uint64_t len)
{
	uint8_t *out = dst;
	unsigned int i;

	if (off > req->out_len || len > req->out_len - off)
		return -EINVAL;
	for (i = 0; i < req->nr_out && len; i++) {
		const struct vq_seg *s = &req->seg[i];
		uint64_t n;

		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		n = s->len - off < len ? s->len - off : len;
		memcpy(out, s->hva + off, n);
		out += n;
		len -= n;
		off = 0;
	}
	return 0;
}

int vq_req_write(const struct vq_req *req, const struct vq_gmem *mem, uint64_t off,
		 const void *src, uint64_t len)
{
	const uint8_t *in = src;
	unsigned int i;

	if (off > req->in_len || len > req->in_len - off)
		return -EINVAL;
	for (i = req->nr_out; i < req->nr && len; i++) {
		const struct vq_seg *s = &req->seg[i];
		uint64_t n;

		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		n = s->len - off < len ? s->len - off : len;
		memcpy(s->hva + off, in, n);
		mem->dirty(mem->opaque, s->gpa + off, n);
		in += n;
		len -= n;
		off = 0;
	}
	return 0;
}

void vq_req_dirty(const struct vq_req *req, const struct vq_gmem *mem, uint64_t len)
{
	unsigned int i;

	for (i = req->nr_out; i < req->nr && len; i++) {
		uint64_t n = req->seg[i].len < len ? req->seg[i].len : len;

		mem->dirty(mem->opaque, req->seg[i].gpa, n);
		len -= n;
	}
}
