/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libvmm: the virtio 1.x PCI transport ("modern" only: vendor 0x1AF4,
 * device 0x1040 + the virtio device id) with MSI-X.  One 32 KiB memory
 * BAR 0 holds every structure the capabilities point at:
 *
 *   0x0000  common configuration (struct virtio_pci_common_cfg)
 *   0x1000  ISR status (read clears)
 *   0x2000  device configuration (the device's own layout)
 *   0x3000  notifications: queue N at 0x3000 + 4 * N
 *   0x4000  MSI-X table: one vector per queue plus one for configuration
 *   0x5000  MSI-X pending bits
 *
 * Interrupts are MSI-X messages only (the VMM's signal_msi, KVM_SIGNAL_MSI
 * with the in-kernel irqchip): Linux's virtio_pci uses MSI-X whenever the
 * device offers it, so no INTx pin and no MP-table routing are needed.
 * A guest that turns MSI-X off gets no interrupts (documented limit).
 *
 * Threading: vp->lock guards the transport and the queues.  The vCPU
 * threads take it for BAR and config accesses; a device's worker takes it
 * while it serves a queue (pop, I/O, push, interrupt).  Queue
 * notifications call ops->notify without the lock (it wakes the worker).
 */
#ifndef KMIGRATE_VIRTIO_PCI_H
#define KMIGRATE_VIRTIO_PCI_H

#include <pthread.h>
#include <stdio.h>

#include "pci.h"
#include "virtq.h"

#define VIRTIO_PCI_VENDOR	0x1af4
#define VIRTIO_PCI_DEVICE_BASE	0x1040
#define VIRTIO_MAX_QUEUES	8
#define VIRTIO_MAX_VECTORS	(VIRTIO_MAX_QUEUES + 1)

#define VP_BAR_SIZE		0x8000
#define VP_COMMON_OFF		0x0000
#define VP_COMMON_LEN		0x40
#define VP_ISR_OFF		0x1000
#define VP_DEVCFG_OFF		0x2000
#define VP_NOTIFY_OFF		0x3000
#define VP_NOTIFY_MULT		4
#define VP_MSIX_OFF		0x4000
#define VP_PBA_OFF		0x5000

struct virtio_pci;

struct virtio_dev_ops {
	/* device configuration space, [off, off + len) within cfg_size */
	void (*cfg_read)(struct virtio_pci *vp, unsigned int off, void *data,
			 unsigned int len);
	/* the driver kicked queue @q (no lock held) */
	void (*notify)(struct virtio_pci *vp, unsigned int q);
	/* device reset (vp->lock held): forget in-flight work */
	void (*reset)(struct virtio_pci *vp);
	/* DRIVER_OK was set (vp->lock held; optional) */
	void (*driver_ok)(struct virtio_pci *vp);
};

struct virtio_msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl;
};

struct virtio_pci {
	struct pci_dev pci;
	pthread_mutex_t lock;
	const struct virtio_dev_ops *ops;
	void *dev;				/* the device's own state */
	const struct vq_gmem *mem;
	FILE *log;
	/* KVM_SIGNAL_MSI or the test's recorder; returns 0 or -errno */
	int (*signal_msi)(void *opaque, uint64_t addr, uint32_t data);
	void *signal_opaque;

	uint16_t device_id;			/* virtio id: 1 net, 2 block */
	unsigned int nr_queues;
	unsigned int cfg_size;
	uint64_t device_features;		/* offered */
	uint64_t driver_features;		/* accepted */
	uint32_t dfselect, gfselect;
	uint8_t status;
	uint8_t isr;
	uint16_t msix_config;
	uint16_t queue_sel;
	uint16_t qmax[VIRTIO_MAX_QUEUES];
	struct virtq vq[VIRTIO_MAX_QUEUES];
	int msix_cap;				/* config offset of the MSI-X capability */
	struct virtio_msix_entry msix[VIRTIO_MAX_VECTORS];
	uint32_t pba;
	bool failed_logged;
	uint64_t interrupts;			/* MSI-X messages sent */
	/* the eventfd that ops->notify writes, for KVM_IOEVENTFD (-1: none) */
	int notify_fd;
	uint64_t ioeventfd_base;		/* notify area registered (0: none) */
};

/*
 * Sets up the transport of a device: PCI identity (class @class_code),
 * capabilities, the BAR, @nr_queues queues of @qsize entries, and the
 * features offered (@features: the device's own; VERSION_1 and
 * INDIRECT_DESC are added).
 */
int virtio_pci_init(struct virtio_pci *vp, const char *name, uint16_t device_id,
		    uint32_t class_code, unsigned int nr_queues, uint16_t qsize,
		    unsigned int cfg_size, uint64_t features,
		    const struct virtio_dev_ops *ops, void *dev, const struct vq_gmem *mem,
		    FILE *log);
void virtio_pci_destroy(struct virtio_pci *vp);

/* Whether feature bit @bit was negotiated. */
static inline bool virtio_has(const struct virtio_pci *vp, unsigned int bit)
{
	return (vp->driver_features >> bit) & 1;
}
/* Whether queue @q may be served now (DRIVER_OK, enabled, not failed). */
bool virtio_queue_live(const struct virtio_pci *vp, unsigned int q);
/* Interrupt for queue @q (vp->lock held): MSI-X vector or pending bit. */
void virtio_pci_queue_irq(struct virtio_pci *vp, unsigned int q);
/*
 * The guest broke the rules (a bad chain, a ring outside RAM): the device
 * stops (NEEDS_RESET, a configuration interrupt) and the reason is logged
 * once per reset.  vp->lock held.
 */
void virtio_pci_fail(struct virtio_pci *vp, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * The transport's state for a migration (virtio_pci_state.c), fixed-width:
 * save with vp->lock held or the device idle; load into the same kind of
 * device (same id, queues, features offered) before the guest runs.  The
 * device's own state and its eventfd registration are its owner's.
 */
#define PCI_STATUS_OFF		0x06	/* device-set bits (read-only) */
struct virtio_pci_state_q {
	uint64_t desc, avail, used;
	uint16_t size, msix_vector, last_avail, used_idx;
	uint8_t enabled;
	uint8_t reserved[7];
};
struct virtio_pci_state {
	uint8_t cfg[256];
	uint64_t device_features, driver_features;
	uint64_t interrupts;
	uint32_t dfselect, gfselect;
	uint32_t pba;
	uint16_t device_id, nr_queues;
	uint16_t msix_config, queue_sel;
	uint8_t status, isr, failed_logged;
	uint8_t reserved[5];
	struct virtio_msix_entry msix[VIRTIO_MAX_VECTORS];
	struct virtio_pci_state_q q[VIRTIO_MAX_QUEUES];
};
void virtio_pci_save(struct virtio_pci *vp, struct virtio_pci_state *s);
/* -EINVAL / -EBADMSG with a line in @err. */
int virtio_pci_load(struct virtio_pci *vp, const struct virtio_pci_state *s, char *err,
		    size_t errlen);

#endif
