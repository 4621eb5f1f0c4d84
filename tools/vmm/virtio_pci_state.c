// SPDX-License-Identifier: GPL-2.0
/*
 * libvmm: the virtio-pci transport's state for a migration (virtio_pci.h):
 * the PCI config space as the guest left it (BARs where it placed them,
 * the command register, the MSI-X capability's control word), the
 * negotiated features, status, ISR, the MSI-X table and pending bits, and
 * each queue: size, vector, enabled, ring addresses, next available entry
 * to take and next used entry to fill.  Loading maps the rings of every
 * enabled queue again (they are checked as when the driver enabled them).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <linux/virtio_ring.h>

#include "virtio_pci.h"

void virtio_pci_save(struct virtio_pci *vp, struct virtio_pci_state *s)
{
	unsigned int q;

	memset(s, 0, sizeof(*s));
	memcpy(s->cfg, vp->pci.cfg, sizeof(s->cfg));
	s->device_features = vp->device_features;
	s->driver_features = vp->driver_features;
	s->interrupts = vp->interrupts;
	s->dfselect = vp->dfselect;
	s->gfselect = vp->gfselect;
	s->pba = vp->pba;
	s->device_id = vp->device_id;
	s->nr_queues = (uint16_t)vp->nr_queues;
	s->msix_config = vp->msix_config;
	s->queue_sel = vp->queue_sel;
	s->status = vp->status;
	s->isr = vp->isr;
	s->failed_logged = vp->failed_logged;
	memcpy(s->msix, vp->msix, sizeof(s->msix));
	for (q = 0; q < vp->nr_queues; q++) {
		const struct virtq *v = &vp->vq[q];

		s->q[q].desc = v->desc_gpa;
		s->q[q].avail = v->avail_gpa;
		s->q[q].used = v->used_gpa;
		s->q[q].size = v->size;
		s->q[q].msix_vector = v->msix_vector;
		s->q[q].last_avail = v->last_avail;
		s->q[q].used_idx = v->used_idx;
		s->q[q].enabled = v->enabled;
	}
}

int virtio_pci_load(struct virtio_pci *vp, const struct virtio_pci_state *s, char *err,
		    size_t errlen)
{
	unsigned int q;
	char why[200];

	if (s->device_id != vp->device_id || s->nr_queues != vp->nr_queues ||
	    s->device_features != vp->device_features) {
		snprintf(err, errlen, "virtio device %u with %u queues, features %#llx: this one "
			 "is device %u with %u queues, features %#llx", s->device_id,
			 s->nr_queues, (unsigned long long)s->device_features, vp->device_id,
			 vp->nr_queues, (unsigned long long)vp->device_features);
		return -EINVAL;
	}
	if ((s->driver_features & ~s->device_features) || s->isr > 3 || s->failed_logged > 1 ||
	    s->pba >> (vp->nr_queues + 1)) {
		snprintf(err, errlen, "an inconsistent transport state");
		return -EBADMSG;
	}
	/* the same device: its config space differs only where the guest wrote */
	for (q = 0; q < sizeof(s->cfg); q++) {
		if ((s->cfg[q] ^ vp->pci.cfg[q]) & ~vp->pci.wmask[q] &&
		    !(q >= PCI_STATUS_OFF && q < PCI_STATUS_OFF + 2)) {
			snprintf(err, errlen, "PCI config byte %#x is %#x in the guest, %#x in "
				 "this device (read-only there)", q, s->cfg[q], vp->pci.cfg[q]);
			return -EINVAL;
		}
	}
	memcpy(vp->pci.cfg, s->cfg, sizeof(vp->pci.cfg));
	vp->driver_features = s->driver_features;
	vp->interrupts = s->interrupts;
	vp->dfselect = s->dfselect;
	vp->gfselect = s->gfselect;
	vp->pba = s->pba;
	vp->msix_config = s->msix_config;
	vp->queue_sel = s->queue_sel;
	vp->status = s->status;
	vp->isr = s->isr;
	vp->failed_logged = s->failed_logged;
	memcpy(vp->msix, s->msix, sizeof(vp->msix));
	for (q = 0; q < vp->nr_queues; q++) {
		struct virtq *v = &vp->vq[q];

		vq_reset(v, vp->qmax[q]);
		v->desc_gpa = s->q[q].desc;
		v->avail_gpa = s->q[q].avail;
		v->used_gpa = s->q[q].used;
		v->size = s->q[q].size;
		v->msix_vector = s->q[q].msix_vector;
		if (s->q[q].size > vp->qmax[q] || s->q[q].enabled > 1) {
			snprintf(err, errlen, "queue %u: size %u (at most %u here)", q,
				 s->q[q].size, vp->qmax[q]);
			return -EINVAL;
		}
		if (!s->q[q].enabled)
			continue;
		if (vq_start(v, vp->mem, virtio_has(vp, VIRTIO_RING_F_INDIRECT_DESC), why,
			     sizeof(why))) {
			snprintf(err, errlen, "queue %u: %s", q, why);
			return -EINVAL;
		}
		v->last_avail = s->q[q].last_avail;
		v->used_idx = s->q[q].used_idx;
	}
	return 0;
}
