// SPDX-License-Identifier: GPL-2.0
/*
 * libvmm: the PCI devices of a VM (vmm.h, "PCI devices"): the bus behind
 * ports 0xCF8..0xCFF, the MMIO exits of its BARs (cpu.c hands them here),
 * guest memory for the virtqueues (reads checked against the memslots,
 * the VMM's writes reported to dirty tracking) and MSI-X messages through
 * KVM_SIGNAL_MSI (the in-kernel irqchip).
 *
 * Queue notifications: wherever the guest puts a device's BAR, its notify
 * area is registered with KVM_IOEVENTFD (2-byte writes, as Linux makes
 * them) on the eventfd the device's worker waits on, so a notification
 * costs no exit to the VMM; other writes there still come as MMIO exits
 * and reach the same eventfd through the transport.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "internal.h"
#include "pci.h"
#include "virtio_blk.h"
#include "virtio_net.h"

struct vmm_device {
	enum vmm_dev_kind kind;
	struct virtio_blk *blk;
	struct virtio_net *net;
	struct vmm_vm *vm;
};

struct vmm_devices {
	struct pci_bus bus;
	pthread_mutex_t ioev_lock;
	bool ioev_failed;		/* said once; notifications exit instead */
	struct vq_gmem mem;
	unsigned int nr;
	struct vmm_device dev[VMM_MAX_DEVICES];
};

static void *vmm_devs_map(void *opaque, uint64_t gpa, uint64_t len)
{
	return vmm_gpa_to_hva(opaque, gpa, len);
}

static void vmm_devs_dirty(void *opaque, uint64_t gpa, uint64_t len)
{
	vmm_mark_dirty(opaque, gpa, len);
}

static int vmm_devs_msi(void *opaque, uint64_t addr, uint32_t data)
{
	struct vmm_vm *vm = opaque;
	struct kvm_msi msi = {
		.address_lo = (uint32_t)addr, .address_hi = (uint32_t)(addr >> 32), .data = data,
	};

	return ioctl(vm->vm_fd, KVM_SIGNAL_MSI, &msi) < 0 ? -errno : 0;
}

static struct virtio_pci *vmm_dev_vp(struct vmm_device *dev);
static void vmm_devs_sync_ioev(struct vmm_vm *vm, struct vmm_devices *d);

/* (De)registers the notify area of @vp at @base (KVM_IOEVENTFD). */
static int vmm_devs_ioev(struct vmm_vm *vm, struct virtio_pci *vp, uint64_t base, bool on)
{
	unsigned int q;

	for (q = 0; q < vp->nr_queues; q++) {
		struct kvm_ioeventfd io = {
			.addr = base + VP_NOTIFY_OFF + VP_NOTIFY_MULT * q, .len = 2,
			.fd = vp->notify_fd, .flags = on ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
		};

		if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0)
			return -errno;
	}
	return 0;
}

/* After a config write: follow the BARs that moved or were turned on/off. */
static void vmm_devs_sync_ioev(struct vmm_vm *vm, struct vmm_devices *d)
{
	unsigned int i;
	int r;

	pthread_mutex_lock(&d->ioev_lock);
	for (i = 0; i < d->nr && !d->ioev_failed; i++) {
		struct virtio_pci *vp = vmm_dev_vp(&d->dev[i]);
		uint64_t base = pci_dev_bar_addr(&vp->pci, 0);

		if (vp->notify_fd < 0 || base == vp->ioeventfd_base)
			continue;
		if (vp->ioeventfd_base)
			vmm_devs_ioev(vm, vp, vp->ioeventfd_base, false);
		vp->ioeventfd_base = 0;
		if (!base)
			continue;
		r = vmm_devs_ioev(vm, vp, base, true);
		if (r) {
			vmm_devs_ioev(vm, vp, base, false);
			vmm_logf(vm, "devices: KVM_IOEVENTFD: %s; queue notifications exit to "
				 "the VMM instead", strerror(-r));
			d->ioev_failed = true;
			break;
		}
		vp->ioeventfd_base = base;
	}
	pthread_mutex_unlock(&d->ioev_lock);
}

static void vmm_devs_conf_io(struct vmm_vcpu *vcpu, uint16_t port, bool out, void *data,
			     unsigned int size, void *opaque)
{
	struct vmm_devices *d = opaque;

	pci_conf_io(&d->bus, port, out, data, size);
	if (out && port >= PCI_CONF_DATA_PORT)
		vmm_devs_sync_ioev(vcpu->vm, d);
}

static struct vmm_devices *vmm_devs_get(struct vmm_vm *vm)
{
	struct vmm_devices *d = vm->devs;

	if (d)
		return d;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	pci_bus_init(&d->bus);
	pthread_mutex_init(&d->ioev_lock, NULL);
	if (vmm_io_register(vm, PCI_CONF_ADDR_PORT, 8, vmm_devs_conf_io, d)) {
		pci_bus_destroy(&d->bus);
		pthread_mutex_destroy(&d->ioev_lock);
		free(d);
		return NULL;
	}
	d->mem = (struct vq_gmem){ .map = vmm_devs_map, .dirty = vmm_devs_dirty, .opaque = vm };
	vm->devs = d;
	return d;
}

static struct virtio_pci *vmm_dev_vp(struct vmm_device *dev)
{
	return dev->kind == VMM_DEV_DISK ? &dev->blk->vp : virtio_net_pci(dev->net);
}

/* ------------------------------------------------ state (vmm_dev_ops) -- */

#define VMM_DEV_STATE_VERSION	1	/* struct virtio_pci_state */

static int vmm_dev_quiesce(void *opaque)
{
	struct vmm_device *dev = opaque;

	return dev->kind == VMM_DEV_DISK ? virtio_blk_quiesce(dev->blk) : 0;
}

static int vmm_dev_save(void *opaque, uint32_t *version, void **buf, size_t *size)
{
	struct vmm_device *dev = opaque;
	struct virtio_pci *vp = vmm_dev_vp(dev);
	struct virtio_pci_state *s = malloc(sizeof(*s));

	if (!s)
		return -ENOMEM;
	pthread_mutex_lock(&vp->lock);
	virtio_pci_save(vp, s);
	pthread_mutex_unlock(&vp->lock);
	*version = VMM_DEV_STATE_VERSION;
	*buf = s;
	*size = sizeof(*s);
	return 0;
}

static int vmm_dev_load(void *opaque, uint32_t version, const void *buf, size_t size)
{
	struct vmm_device *dev = opaque;
	struct virtio_pci *vp = vmm_dev_vp(dev);
	char err[256];
	int r;

	if (version != VMM_DEV_STATE_VERSION || size != sizeof(struct virtio_pci_state)) {
		vmm_logf(dev->vm, "%s: state version %u, %zu bytes: this kmigrate takes version "
			 "%u, %zu bytes", vp->pci.name, version, size, VMM_DEV_STATE_VERSION,
			 sizeof(struct virtio_pci_state));
		return -EPROTO;
	}
	pthread_mutex_lock(&vp->lock);
	r = virtio_pci_load(vp, buf, err, sizeof(err));
	pthread_mutex_unlock(&vp->lock);
	if (r) {
		vmm_logf(dev->vm, "%s in slot %d: %s", vp->pci.name, vp->pci.slot, err);
		return r;
	}
	/* the notify area where the guest put the BAR: KVM_IOEVENTFD again */
	vmm_devs_sync_ioev(dev->vm, dev->vm->devs);
	return 0;
}

static const struct vmm_dev_ops vmm_blk_state_ops = {
	.name = "virtio-blk", .quiesce = vmm_dev_quiesce,
	.save = vmm_dev_save, .load = vmm_dev_load,
};

static const struct vmm_dev_ops vmm_net_state_ops = {
	.name = "virtio-net", .quiesce = vmm_dev_quiesce,
	.save = vmm_dev_save, .load = vmm_dev_load,
};

/* Puts a created device on the bus and starts its worker. */
static int vmm_dev_plug(struct vmm_vm *vm, struct vmm_devices *d, struct vmm_device *dev,
			char *err, size_t errlen)
{
	struct virtio_pci *vp = vmm_dev_vp(dev);
	int r;

	vp->signal_msi = vmm_devs_msi;
	vp->signal_opaque = vm;
	dev->vm = vm;
	r = vmm_dev_state_register(vm, dev->kind == VMM_DEV_DISK ? &vmm_blk_state_ops :
				   &vmm_net_state_ops, dev);
	if (r) {
		snprintf(err, errlen, "registering its state: %s", strerror(-r));
		return r;
	}
	r = pci_bus_add(&d->bus, &vp->pci);
	if (r < 0) {
		snprintf(err, errlen, "no room on PCI bus 0 or in its MMIO window");
		return r;
	}
	r = dev->kind == VMM_DEV_DISK ? virtio_blk_start(dev->blk) : virtio_net_start(dev->net);
	if (r) {
		d->bus.dev[vp->pci.slot] = NULL;
		snprintf(err, errlen, "starting the device's thread: %s", strerror(-r));
		return r;
	}
	d->nr++;
	return 0;
}

static int vmm_disk_add_at(struct vmm_vm *vm, const char *path, bool ro, uint64_t bytes,
			   char *err, size_t errlen)
{
	struct vmm_devices *d = vmm_devs_get(vm);
	struct vmm_device *dev;
	int r;

	if (!d) {
		snprintf(err, errlen, "disk '%s': out of memory or I/O handlers", path);
		return -ENOMEM;
	}
	if (d->nr == VMM_MAX_DEVICES) {
		snprintf(err, errlen, "disk '%s': at most %u devices", path, VMM_MAX_DEVICES);
		return -ENOSPC;
	}
	dev = &d->dev[d->nr];
	memset(dev, 0, sizeof(*dev));
	dev->kind = VMM_DEV_DISK;
	r = bytes ? virtio_blk_create_detached(&dev->blk, path, ro, bytes, &d->mem, vm->log, err,
					       errlen) :
		    virtio_blk_create(&dev->blk, path, ro, &d->mem, vm->log, err, errlen);
	if (r)
		return r;
	r = vmm_dev_plug(vm, d, dev, err, errlen);
	if (r) {
		virtio_blk_destroy(dev->blk);
		dev->blk = NULL;
	}
	return r;
}

int vmm_disk_add(struct vmm_vm *vm, const char *path, bool ro, char *err, size_t errlen)
{
	return vmm_disk_add_at(vm, path, ro, 0, err, errlen);
}

int vmm_disk_add_detached(struct vmm_vm *vm, const char *path, bool ro, uint64_t bytes,
			  char *err, size_t errlen)
{
	if (!bytes) {
		snprintf(err, errlen, "disk '%s': no size", path);
		return -EINVAL;
	}
	return vmm_disk_add_at(vm, path, ro, bytes, err, errlen);
}

int vmm_disks_open(struct vmm_vm *vm, char *err, size_t errlen)
{
	unsigned int i;
	int r, ret = 0;

	for (i = 0; vm->devs && i < vm->devs->nr; i++) {
		char why[300];

		if (vm->devs->dev[i].kind != VMM_DEV_DISK)
			continue;
		r = virtio_blk_open_disk(vm->devs->dev[i].blk, why, sizeof(why));
		if (r && !ret) {
			snprintf(err, errlen, "%s", why);
			ret = r;
		}
	}
	return ret;
}

void vmm_disks_close(struct vmm_vm *vm)
{
	unsigned int i;

	for (i = 0; vm->devs && i < vm->devs->nr; i++)
		if (vm->devs->dev[i].kind == VMM_DEV_DISK)
			virtio_blk_close_disk(vm->devs->dev[i].blk);
}

int vmm_net_add(struct vmm_vm *vm, const struct vmm_net_cfg *cfg, char *err, size_t errlen)
{
	struct vmm_devices *d = vmm_devs_get(vm);
	struct vmm_device *dev;
	int r;

	if (!d) {
		snprintf(err, errlen, "net: out of memory or I/O handlers");
		return -ENOMEM;
	}
	if (d->nr == VMM_MAX_DEVICES) {
		snprintf(err, errlen, "net: at most %u devices", VMM_MAX_DEVICES);
		return -ENOSPC;
	}
	dev = &d->dev[d->nr];
	memset(dev, 0, sizeof(*dev));
	dev->kind = VMM_DEV_NET;
	r = virtio_net_create(&dev->net, cfg, &d->mem, vm->log, err, errlen);
	if (r)
		return r;
	r = vmm_dev_plug(vm, d, dev, err, errlen);
	if (r) {
		virtio_net_destroy(dev->net);
		dev->net = NULL;
	}
	return r;
}

unsigned int vmm_dev_count(const struct vmm_vm *vm)
{
	return vm->devs ? vm->devs->nr : 0;
}

int vmm_dev_info(const struct vmm_vm *vm, unsigned int i, struct vmm_dev_info *info)
{
	struct vmm_device *dev;
	struct virtio_pci *vp;

	if (!vm->devs || i >= vm->devs->nr)
		return -ENOENT;
	dev = &vm->devs->dev[i];
	vp = vmm_dev_vp(dev);
	memset(info, 0, sizeof(*info));
	info->kind = dev->kind;
	info->pci_slot = (unsigned int)vp->pci.slot;
	info->interrupts = vp->interrupts;
	if (dev->kind == VMM_DEV_DISK) {
		info->path = dev->blk->disk.path;
		info->ro = dev->blk->disk.ro;
		info->bytes = dev->blk->disk.sectors * 512;
		info->requests = dev->blk->requests;
	} else {
		virtio_net_info(dev->net, info);
	}
	return 0;
}

int vmm_net_tap_fd(const struct vmm_vm *vm, unsigned int i)
{
	if (!vm->devs || i >= vm->devs->nr || vm->devs->dev[i].kind != VMM_DEV_NET)
		return -ENOENT;
	return virtio_net_tap_fd(vm->devs->dev[i].net);
}

bool vmm_devices_mmio(struct vmm_vm *vm, uint64_t gpa, bool write, void *data, unsigned int len)
{
	return vm->devs && pci_mmio(&vm->devs->bus, gpa, write, data, len);
}

void vmm_devices_free(struct vmm_vm *vm)
{
	struct vmm_devices *d = vm->devs;
	unsigned int i;

	if (!d)
		return;
	for (i = 0; i < d->nr; i++) {
		struct virtio_pci *vp = vmm_dev_vp(&d->dev[i]);

		if (vp->ioeventfd_base)
			vmm_devs_ioev(vm, vp, vp->ioeventfd_base, false);
		if (d->dev[i].kind == VMM_DEV_DISK)
			virtio_blk_destroy(d->dev[i].blk);
		else
			virtio_net_destroy(d->dev[i].net);
	}
	pci_bus_destroy(&d->bus);
	pthread_mutex_destroy(&d->ioev_lock);
	free(d);
	vm->devs = NULL;
}
