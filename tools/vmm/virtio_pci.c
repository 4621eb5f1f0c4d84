// SPDX-License-Identifier: GPL-2.0
/*
 * libvmm: the virtio 1.x PCI transport (virtio_pci.h): capabilities,
 * common configuration, ISR, notifications and the MSI-X table.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#include "virtio_pci.h"

#define VP_MSIX_CTRL_ENABLE	0x8000
#define VP_MSIX_CTRL_MASKALL	0x4000

static struct virtio_pci *vp_of(struct pci_dev *d)
{
	return d->opaque;
}

/* -------------------------------------------------------------- MSI-X -- */

static uint16_t vp_msix_ctrl(const struct virtio_pci *vp)
{
	return (uint16_t)pci_cfg_get(&vp->pci, (unsigned int)vp->msix_cap + 2, 2);
}

/* Sends vector @v now, or records it pending while masked. */
static void vp_msix_fire(struct virtio_pci *vp, uint16_t v)
{
	uint16_t ctrl = vp_msix_ctrl(vp);
	const struct virtio_msix_entry *e;

	if (v >= VIRTIO_MAX_VECTORS || v > vp->nr_queues || !(ctrl & VP_MSIX_CTRL_ENABLE))
		return;
	e = &vp->msix[v];
	if ((ctrl & VP_MSIX_CTRL_MASKALL) || (e->ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT)) {
		vp->pba |= 1u << v;
		return;
	}
	vp->pba &= ~(1u << v);
	if (vp->signal_msi &&
	    !vp->signal_msi(vp->signal_opaque, (uint64_t)e->addr_hi << 32 | e->addr_lo, e->data))
		vp->interrupts++;
}

/* After an unmask: deliver what was pending. */
static void vp_msix_flush(struct virtio_pci *vp)
{
	unsigned int v;

	for (v = 0; v <= vp->nr_queues; v++)
		if (vp->pba & (1u << v))
			vp_msix_fire(vp, (uint16_t)v);
}

void virtio_pci_queue_irq(struct virtio_pci *vp, unsigned int q)
{
	vp->isr |= 1;
	vp_msix_fire(vp, vp->vq[q].msix_vector);
}

static void vp_config_irq(struct virtio_pci *vp)
{
	vp->isr |= 2;
	vp_msix_fire(vp, vp->msix_config);
}

void virtio_pci_fail(struct virtio_pci *vp, const char *fmt, ...)
{
	va_list ap;

	if (vp->status & VIRTIO_CONFIG_S_NEEDS_RESET)
		return;
	vp->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	if (!vp->failed_logged && vp->log) {
		fprintf(vp->log, "virtio %s: guest error, device needs reset: ", vp->pci.name);
		va_start(ap, fmt);
		vfprintf(vp->log, fmt, ap);
		va_end(ap);
		fputc('\n', vp->log);
		fflush(vp->log);
	}
	vp->failed_logged = true;
	vp_config_irq(vp);
}

bool virtio_queue_live(const struct virtio_pci *vp, unsigned int q)
{
	return q < vp->nr_queues && vp->vq[q].enabled &&
	       (vp->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
	       !(vp->status & (VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED));
}

/* -------------------------------------------------------- common cfg -- */

static void vp_reset(struct virtio_pci *vp)
{
	unsigned int q;

	if (vp->ops->reset)
		vp->ops->reset(vp);
	for (q = 0; q < vp->nr_queues; q++)
		vq_reset(&vp->vq[q], vp->qmax[q]);
	vp->status = 0;
	vp->isr = 0;
	vp->driver_features = 0;
	vp->dfselect = vp->gfselect = 0;
	vp->msix_config = VIRTIO_MSI_NO_VECTOR;
	vp->queue_sel = 0;
	vp->failed_logged = false;
}

/* The common configuration as the driver reads it now. */
static void vp_common_snapshot(const struct virtio_pci *vp, uint8_t *buf)
{
	struct virtio_pci_common_cfg c;
	const struct virtq *q = vp->queue_sel < vp->nr_queues ? &vp->vq[vp->queue_sel] : NULL;

	memset(&c, 0, sizeof(c));
	c.device_feature_select = vp->dfselect;
	c.device_feature = vp->dfselect < 2 ?
			   (uint32_t)(vp->device_features >> (32 * vp->dfselect)) : 0;
	c.guest_feature_select = vp->gfselect;
	c.guest_feature = vp->gfselect < 2 ?
			  (uint32_t)(vp->driver_features >> (32 * vp->gfselect)) : 0;
	c.msix_config = vp->msix_config;
	c.num_queues = (uint16_t)vp->nr_queues;
	c.device_status = vp->status;
	c.config_generation = 0;
	c.queue_select = vp->queue_sel;
	if (q) {
		c.queue_size = q->size;
		c.queue_msix_vector = q->msix_vector;
		c.queue_enable = q->enabled;
		c.queue_notify_off = vp->queue_sel;
		c.queue_desc_lo = (uint32_t)q->desc_gpa;
		c.queue_desc_hi = (uint32_t)(q->desc_gpa >> 32);
		c.queue_avail_lo = (uint32_t)q->avail_gpa;
		c.queue_avail_hi = (uint32_t)(q->avail_gpa >> 32);
		c.queue_used_lo = (uint32_t)q->used_gpa;
		c.queue_used_hi = (uint32_t)(q->used_gpa >> 32);
	}
	memset(buf, 0, VP_COMMON_LEN);
	memcpy(buf, &c, sizeof(c));
}

static void vp_set_half(uint64_t *v, bool hi, uint32_t val)
{
	if (hi)
		*v = (*v & 0xffffffffull) | (uint64_t)val << 32;
	else
		*v = (*v & ~0xffffffffull) | val;
}

static void vp_set_status(struct virtio_pci *vp, uint8_t s)
{
	if (!s) {
		vp_reset(vp);
		return;
	}
	if ((s & VIRTIO_CONFIG_S_FEATURES_OK) && !(vp->status & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    ((vp->driver_features & ~vp->device_features) ||
	     !virtio_has(vp, VIRTIO_F_VERSION_1)))
		s &= (uint8_t)~VIRTIO_CONFIG_S_FEATURES_OK;	/* refused: it reads back */
	vp->status = (uint8_t)(s | (vp->status & VIRTIO_CONFIG_S_NEEDS_RESET));
	if ((s & VIRTIO_CONFIG_S_DRIVER_OK) && vp->ops->driver_ok)
		vp->ops->driver_ok(vp);
}

static void vp_common_write(struct virtio_pci *vp, unsigned int off, uint64_t v64,
			    unsigned int len)
{
	uint32_t v = (uint32_t)v64;
	struct virtq *q = vp->queue_sel < vp->nr_queues ? &vp->vq[vp->queue_sel] : NULL;
	char err[256];

#define F(field) offsetof(struct virtio_pci_common_cfg, field)
	switch (off) {
	case F(device_feature_select):
		vp->dfselect = v;
		break;
	case F(guest_feature_select):
		vp->gfselect = v;
		break;
	case F(guest_feature):
		if (vp->gfselect < 2 && !(vp->status & VIRTIO_CONFIG_S_FEATURES_OK))
			vp_set_half(&vp->driver_features, vp->gfselect, v);
		break;
	case F(msix_config):
		vp->msix_config = v < VIRTIO_MAX_VECTORS && v <= vp->nr_queues ?
				  (uint16_t)v : VIRTIO_MSI_NO_VECTOR;
		break;
	case F(device_status):
		vp_set_status(vp, (uint8_t)v);
		break;
	case F(queue_select):
		vp->queue_sel = (uint16_t)v;
		break;
	default:
		if (!q || q->enabled)
			break;	/* a queue's setup is fixed once it is enabled */
		switch (off) {
		case F(queue_size):
			q->size = (uint16_t)v;
			break;
		case F(queue_msix_vector):
			q->msix_vector = v < VIRTIO_MAX_VECTORS && v <= vp->nr_queues ?
					 (uint16_t)v : VIRTIO_MSI_NO_VECTOR;
			break;
		case F(queue_enable):
			if (v != 1)
				break;
			if (vq_start(q, vp->mem, virtio_has(vp, VIRTIO_RING_F_INDIRECT_DESC),
				     err, sizeof(err)))
				virtio_pci_fail(vp, "queue %u: %s", vp->queue_sel, err);
			break;
		case F(queue_desc_lo):
		case F(queue_desc_hi):
			vp_set_half(&q->desc_gpa, off == F(queue_desc_hi), v);
			if (len == 8 && off == F(queue_desc_lo))
				q->desc_gpa = v64;
			break;
		case F(queue_avail_lo):
		case F(queue_avail_hi):
			vp_set_half(&q->avail_gpa, off == F(queue_avail_hi), v);
			if (len == 8 && off == F(queue_avail_lo))
				q->avail_gpa = v64;
			break;
		case F(queue_used_lo):
		case F(queue_used_hi):
			vp_set_half(&q->used_gpa, off == F(queue_used_hi), v);
			if (len == 8 && off == F(queue_used_lo))
				q->used_gpa = v64;
			break;
		default:
			break;
		}
	}
#undef F
}

/* ---------------------------------------------------------------- BAR -- */

static void vp_bar_read(struct pci_dev *d, int bar, uint64_t off, void *data, unsigned int len)
{
	struct virtio_pci *vp = vp_of(d);
	uint8_t buf[VP_COMMON_LEN];

	memset(data, 0, len);
	if (bar != 0)
		return;
	pthread_mutex_lock(&vp->lock);
	if (off + len <= VP_COMMON_OFF + VP_COMMON_LEN) {
		vp_common_snapshot(vp, buf);
		memcpy(data, buf + off, len);
	} else if (off == VP_ISR_OFF) {
		*(uint8_t *)data = vp->isr;	/* read clears */
		vp->isr = 0;
	} else if (off >= VP_DEVCFG_OFF && off + len <= VP_DEVCFG_OFF + vp->cfg_size) {
		vp->ops->cfg_read(vp, (unsigned int)(off - VP_DEVCFG_OFF), data, len);
	} else if (off >= VP_MSIX_OFF && off + len <= VP_MSIX_OFF + sizeof(vp->msix)) {
		memcpy(data, (uint8_t *)vp->msix + (off - VP_MSIX_OFF), len);
	} else if (off >= VP_PBA_OFF && off + len <= VP_PBA_OFF + 8) {
		uint64_t pba = vp->pba;

		memcpy(data, (uint8_t *)&pba + (off - VP_PBA_OFF), len);
	}
	pthread_mutex_unlock(&vp->lock);
}

static void vp_bar_write(struct pci_dev *d, int bar, uint64_t off, const void *data,
			 unsigned int len)
{
	struct virtio_pci *vp = vp_of(d);
	uint64_t v = 0;

	if (bar != 0 || len > 8)
		return;
	memcpy(&v, data, len);
	if (off >= VP_NOTIFY_OFF && off < VP_NOTIFY_OFF + VP_NOTIFY_MULT * vp->nr_queues) {
		/* the driver writes the queue index; the offset names it too */
		vp->ops->notify(vp, (unsigned int)((off - VP_NOTIFY_OFF) / VP_NOTIFY_MULT));
		return;
	}
	pthread_mutex_lock(&vp->lock);
	if (off + len <= VP_COMMON_OFF + VP_COMMON_LEN) {
		vp_common_write(vp, (unsigned int)off, v, len);
	} else if (off >= VP_MSIX_OFF && off + len <= VP_MSIX_OFF + sizeof(vp->msix) &&
		   !(off & 3) && len == 4) {
		uint64_t rel = off - VP_MSIX_OFF;

		memcpy((uint8_t *)vp->msix + rel, &v, 4);
		if (rel % 16 == 12)
			vp_msix_flush(vp);	/* vector control: maybe unmasked */
	}
	pthread_mutex_unlock(&vp->lock);
}

static void vp_cfg_written(struct pci_dev *d, unsigned int off, unsigned int len)
{
	struct virtio_pci *vp = vp_of(d);

	if (off + len > (unsigned int)vp->msix_cap + 2 && off < (unsigned int)vp->msix_cap + 4) {
		pthread_mutex_lock(&vp->lock);
		vp_msix_flush(vp);
		pthread_mutex_unlock(&vp->lock);
	}
}

static const struct pci_dev_ops vp_pci_ops = {
	.bar_read = vp_bar_read,
	.bar_write = vp_bar_write,
	.cfg_written = vp_cfg_written,
};

/* ------------------------------------------------------------- set up -- */

static int vp_add_vcap(struct virtio_pci *vp, uint8_t type, uint32_t off, uint32_t len)
{
	struct virtio_pci_notify_cap c;
	unsigned int size = type == VIRTIO_PCI_CAP_NOTIFY_CFG ? sizeof(c) : sizeof(c.cap);

	memset(&c, 0, sizeof(c));
	c.cap.cap_vndr = PCI_CAP_ID_VNDR;
	c.cap.cap_len = (uint8_t)size;
	c.cap.cfg_type = type;
	c.cap.bar = 0;
	c.cap.offset = off;
	c.cap.length = len;
	c.notify_off_multiplier = VP_NOTIFY_MULT;
	return pci_dev_add_cap(&vp->pci, &c, NULL, size);
}

int virtio_pci_init(struct virtio_pci *vp, const char *name, uint16_t device_id,
		    uint32_t class_code, unsigned int nr_queues, uint16_t qsize,
		    unsigned int cfg_size, uint64_t features,
		    const struct virtio_dev_ops *ops, void *dev, const struct vq_gmem *mem,
		    FILE *log)
{
	uint8_t msix[12] = { PCI_CAP_ID_MSIX }, wmask[12] = { 0 };
	unsigned int q;
	int r;

	if (!nr_queues || nr_queues > VIRTIO_MAX_QUEUES || cfg_size > 0x1000 ||
	    !qsize || qsize > VQ_MAX_SIZE || (qsize & (qsize - 1)))
		return -EINVAL;
	memset(vp, 0, sizeof(*vp));
	/* non-transitional: subsystem id 0x40 or more (virtio 1.x, 4.1.2) */
	pci_dev_init(&vp->pci, name, VIRTIO_PCI_VENDOR, VIRTIO_PCI_DEVICE_BASE + device_id,
		     class_code, 1, VIRTIO_PCI_VENDOR, 0x40 + device_id);
	vp->pci.ops = &vp_pci_ops;
	vp->pci.opaque = vp;
	pci_dev_add_bar(&vp->pci, 0, VP_BAR_SIZE);
	if (vp_add_vcap(vp, VIRTIO_PCI_CAP_COMMON_CFG, VP_COMMON_OFF, VP_COMMON_LEN) < 0 ||
	    vp_add_vcap(vp, VIRTIO_PCI_CAP_ISR_CFG, VP_ISR_OFF, 4) < 0 ||
	    vp_add_vcap(vp, VIRTIO_PCI_CAP_NOTIFY_CFG, VP_NOTIFY_OFF,
			VP_NOTIFY_MULT * nr_queues) < 0 ||
	    (cfg_size && vp_add_vcap(vp, VIRTIO_PCI_CAP_DEVICE_CFG, VP_DEVCFG_OFF, cfg_size) < 0))
		return -ENOSPC;
	/* MSI-X: table size - 1; enable and function mask are the guest's */
	msix[2] = (uint8_t)nr_queues;
	wmask[3] = (VP_MSIX_CTRL_ENABLE | VP_MSIX_CTRL_MASKALL) >> 8;
	msix[4] = VP_MSIX_OFF & 0xff;
	msix[5] = VP_MSIX_OFF >> 8;
	msix[8] = VP_PBA_OFF & 0xff;
	msix[9] = VP_PBA_OFF >> 8;
	r = pci_dev_add_cap(&vp->pci, msix, wmask, sizeof(msix));
	if (r < 0)
		return r;
	vp->msix_cap = r;
	for (q = 0; q < VIRTIO_MAX_VECTORS; q++)
		vp->msix[q].ctrl = PCI_MSIX_ENTRY_CTRL_MASKBIT;
	pthread_mutex_init(&vp->lock, NULL);
	vp->ops = ops;
	vp->dev = dev;
	vp->mem = mem;
	vp->log = log;
	vp->device_id = device_id;
	vp->nr_queues = nr_queues;
	vp->cfg_size = cfg_size;
	vp->device_features = features | 1ull << VIRTIO_F_VERSION_1 |
			      1ull << VIRTIO_RING_F_INDIRECT_DESC;
	for (q = 0; q < nr_queues; q++)
		vp->qmax[q] = qsize;
	vp->notify_fd = -1;
	vp->status = 1;		/* so that the reset below runs ops->reset */
	vp_reset(vp);
	return 0;
}

void virtio_pci_destroy(struct virtio_pci *vp)
{
	pthread_mutex_destroy(&vp->lock);
}
