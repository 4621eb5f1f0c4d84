// SPDX-License-Identifier: GPL-2.0
/*
 * libvmm: PCI bus 0, configuration mechanism #1 and BAR decoding (pci.h).
 *
 * Linux (arch/x86/pci/direct.c, CONFIG_PCI_DIRECT, on in Debian's 6.1
 * and 6.12) finds the bus without ACPI or a BIOS: it writes 0x80000000 to
 * 0xCF8 and wants it read back, then looks on bus 0 for a host bridge (class
 * 0x0600); slot 0 holds one.  It keeps the BAR addresses we assign, which
 * lie in the hole below 4 GiB that the e820 map leaves out of RAM.
 */
#include <errno.h>
#include <string.h>
#include <linux/pci_regs.h>

#include "pci.h"

void pci_dev_init(struct pci_dev *d, const char *name, uint16_t vendor, uint16_t device,
		  uint32_t class_code, uint8_t revision, uint16_t subsys_vendor,
		  uint16_t subsys_id)
{
	memset(d, 0, sizeof(*d));
	d->name = name;
	d->slot = -1;
	d->cfg[PCI_VENDOR_ID] = vendor & 0xff;
	d->cfg[PCI_VENDOR_ID + 1] = vendor >> 8;
	d->cfg[PCI_DEVICE_ID] = device & 0xff;
	d->cfg[PCI_DEVICE_ID + 1] = device >> 8;
	d->cfg[PCI_REVISION_ID] = revision;
	d->cfg[PCI_CLASS_PROG] = class_code & 0xff;
	d->cfg[PCI_CLASS_DEVICE] = (class_code >> 8) & 0xff;
	d->cfg[PCI_CLASS_DEVICE + 1] = (class_code >> 16) & 0xff;
	d->cfg[PCI_HEADER_TYPE] = PCI_HEADER_TYPE_NORMAL;
	d->cfg[PCI_SUBSYSTEM_VENDOR_ID] = subsys_vendor & 0xff;
	d->cfg[PCI_SUBSYSTEM_VENDOR_ID + 1] = subsys_vendor >> 8;
	d->cfg[PCI_SUBSYSTEM_ID] = subsys_id & 0xff;
	d->cfg[PCI_SUBSYSTEM_ID + 1] = subsys_id >> 8;
	/* command: I/O, memory, bus master, INTx disable */
	d->wmask[PCI_COMMAND] = PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	d->wmask[PCI_COMMAND + 1] = PCI_COMMAND_INTX_DISABLE >> 8;
	d->wmask[PCI_INTERRUPT_LINE] = 0xff;
	d->next_cap = 0x40;
	d->last_cap_next = &d->cfg[PCI_CAPABILITY_LIST];
}

int pci_dev_add_bar(struct pci_dev *d, int bar, uint32_t size)
{
	uint32_t mask = ~(size - 1) & PCI_BASE_ADDRESS_MEM_MASK;
	unsigned int off = PCI_BASE_ADDRESS_0 + 4 * bar, i;

	if (bar < 0 || bar > 5 || size < 16 || (size & (size - 1)))
		return -EINVAL;
	d->bar_size[bar] = size;
	for (i = 0; i < 4; i++)
		d->wmask[off + i] = (mask >> (8 * i)) & 0xff;
	return 0;
}

int pci_dev_add_cap(struct pci_dev *d, const void *body, const uint8_t *wmask,
		    unsigned int len)
{
	unsigned int off = d->next_cap;

	if (len < 2 || off + len > 256)
		return -ENOSPC;
	memcpy(&d->cfg[off], body, len);
	d->cfg[off + PCI_CAP_LIST_NEXT] = 0;
	if (wmask)
		memcpy(&d->wmask[off], wmask, len);
	d->wmask[off] = d->wmask[off + 1] = 0;
	*d->last_cap_next = (uint8_t)off;
	d->last_cap_next = &d->cfg[off + PCI_CAP_LIST_NEXT];
	d->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	d->next_cap = (uint8_t)((off + len + 3) & ~3u);
	if (off + len + 3 >= 256)
		d->next_cap = 0;	/* full: a later add fails */
	return (int)off;
}

uint64_t pci_dev_bar_addr(const struct pci_dev *d, int bar)
{
	if (!(d->cfg[PCI_COMMAND] & PCI_COMMAND_MEMORY) || !d->bar_size[bar])
		return 0;
	return pci_cfg_get(d, PCI_BASE_ADDRESS_0 + 4 * bar, 4) & PCI_BASE_ADDRESS_MEM_MASK;
}

void pci_bus_init(struct pci_bus *bus)
{
	memset(bus, 0, sizeof(*bus));
	pthread_mutex_init(&bus->lock, NULL);
	bus->mmio_next = PCI_MMIO_BASE;
	pci_dev_init(&bus->host, "host bridge", PCI_HOST_VENDOR, PCI_HOST_DEVICE,
		     0x060000, 0, PCI_HOST_VENDOR, PCI_HOST_DEVICE);
	bus->host.slot = 0;
	bus->dev[0] = &bus->host;
}

void pci_bus_destroy(struct pci_bus *bus)
{
	pthread_mutex_destroy(&bus->lock);
}

int pci_bus_add(struct pci_bus *bus, struct pci_dev *d)
{
	int slot, bar;

	for (slot = 0; slot < PCI_SLOTS && bus->dev[slot]; slot++)
		;
	if (slot == PCI_SLOTS)
		return -ENOSPC;
	for (bar = 0; bar < 6; bar++) {
		uint64_t size = d->bar_size[bar], addr;

		if (!size)
			continue;
		addr = (bus->mmio_next + size - 1) & ~(size - 1);
		if (addr + size > PCI_MMIO_END)
			return -ENOSPC;
		bus->mmio_next = addr + size;
		d->cfg[PCI_BASE_ADDRESS_0 + 4 * bar] = addr & 0xf0;
		d->cfg[PCI_BASE_ADDRESS_0 + 4 * bar + 1] = (addr >> 8) & 0xff;
		d->cfg[PCI_BASE_ADDRESS_0 + 4 * bar + 2] = (addr >> 16) & 0xff;
		d->cfg[PCI_BASE_ADDRESS_0 + 4 * bar + 3] = (addr >> 24) & 0xff;
	}
	d->slot = slot;
	bus->dev[slot] = d;
	return slot;
}

uint32_t pci_conf_read(struct pci_bus *bus, unsigned int slot, unsigned int off,
		       unsigned int len)
{
	if (slot >= PCI_SLOTS || !bus->dev[slot] || off + len > 256)
		return len == 4 ? 0xffffffffu : (1u << (8 * len)) - 1;
	return pci_cfg_get(bus->dev[slot], off, len);
}

void pci_conf_write(struct pci_bus *bus, unsigned int slot, unsigned int off,
		    unsigned int len, uint32_t val)
{
	struct pci_dev *d;
	unsigned int i;

	if (slot >= PCI_SLOTS || !bus->dev[slot] || off + len > 256)
		return;
	d = bus->dev[slot];
	for (i = 0; i < len; i++) {
		uint8_t m = d->wmask[off + i], b = (val >> (8 * i)) & 0xff;

		d->cfg[off + i] = (uint8_t)((d->cfg[off + i] & ~m) | (b & m));
	}
	if (d->ops && d->ops->cfg_written)
		d->ops->cfg_written(d, off, len);
}

void pci_conf_io(struct pci_bus *bus, uint16_t port, bool out, void *data, unsigned int size)
{
	uint32_t v = 0, a;

	if (size != 1 && size != 2 && size != 4)
		return;
	memcpy(&v, data, size);
	pthread_mutex_lock(&bus->lock);
	if (port >= PCI_CONF_ADDR_PORT && port < PCI_CONF_DATA_PORT) {
		/* the address latch answers 32-bit accesses only */
		if (port == PCI_CONF_ADDR_PORT && size == 4) {
			if (out)
				bus->conf_addr = v & 0x80fffffcu;
			else
				v = bus->conf_addr;
		} else if (!out) {
			v = 0xffffffffu;
		}
	} else {
		unsigned int off, slot;

		a = bus->conf_addr;
		off = (a & 0xfc) + (port - PCI_CONF_DATA_PORT);
		slot = (a >> 11) & 0x1f;
		if (!(a & 0x80000000u) || (a >> 16 & 0xff) || (a >> 8 & 7) ||
		    off + size > 256 || (off & (size - 1))) {
			if (!out)
				v = 0xffffffffu;
		} else if (out) {
			pci_conf_write(bus, slot, off, size, v);
		} else {
			v = pci_conf_read(bus, slot, off, size);
		}
	}
	pthread_mutex_unlock(&bus->lock);
	if (!out)
		memcpy(data, &v, size);
}

bool pci_mmio(struct pci_bus *bus, uint64_t gpa, bool write, void *data, unsigned int len)
{
	struct pci_dev *d = NULL;
	uint64_t off = 0;
	int slot, bar = -1;

	pthread_mutex_lock(&bus->lock);
	for (slot = 1; slot < PCI_SLOTS && bar < 0; slot++) {
		int b;

		if (!bus->dev[slot])
			continue;
		for (b = 0; b < 6; b++) {
			uint64_t base = pci_dev_bar_addr(bus->dev[slot], b);
			uint64_t size = bus->dev[slot]->bar_size[b];

			if (base && gpa >= base && gpa - base < size && len <= size - (gpa - base)) {
				d = bus->dev[slot];
				bar = b;
				off = gpa - base;
				break;
			}
		}
	}
	pthread_mutex_unlock(&bus->lock);
	if (!d || !d->ops)
		return false;
	if (write)
		d->ops->bar_write(d, bar, off, data, len);
	else
		d->ops->bar_read(d, bar, off, data, len);
	return true;
}
