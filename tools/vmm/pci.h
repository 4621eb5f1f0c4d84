/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libvmm: a PCI bus 0 behind a host bridge reached through configuration
 * mechanism #1 (ports 0xCF8 address, 0xCFC..0xCFF data), with 32-bit
 * memory BARs the guest can size and move.  The bus knows nothing of KVM:
 * devices.c wires the ports and the MMIO exits to it, and the unit tests
 * drive it directly.
 *
 * Config space is 256 bytes a function (function 0 only).  Every byte has
 * a write mask (pci_dev.wmask): a write changes only the masked bits, so a
 * BAR's mask, ~(size - 1), is all BAR sizing needs (write all ones, read
 * back the size).  Capabilities are chained from 0x40 in the order added.
 */
#ifndef KMIGRATE_PCI_H
#define KMIGRATE_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define PCI_SLOTS		32
#define PCI_CONF_ADDR_PORT	0xcf8
#define PCI_CONF_DATA_PORT	0xcfc
/* Where the BARs go: the hole below 4 GiB, up to the IOAPIC. */
#define PCI_MMIO_BASE		0xc0000000ULL
#define PCI_MMIO_END		0xfec00000ULL

#define PCI_HOST_VENDOR		0x1b36	/* a generic host bridge: no quirks */
#define PCI_HOST_DEVICE		0x0008

struct pci_dev;

struct pci_dev_ops {
	/* A guest access to [off, off + len) of BAR @bar (len 1, 2, 4, 8). */
	void (*bar_read)(struct pci_dev *d, int bar, uint64_t off, void *data,
			 unsigned int len);
	void (*bar_write)(struct pci_dev *d, int bar, uint64_t off, const void *data,
			  unsigned int len);
	/* After a config write to [off, off + len) (optional). */
	void (*cfg_written)(struct pci_dev *d, unsigned int off, unsigned int len);
};

struct pci_dev {
	uint8_t cfg[256];
	uint8_t wmask[256];
	uint32_t bar_size[6];		/* 0: no BAR */
	uint8_t next_cap;		/* where the next capability goes */
	uint8_t *last_cap_next;		/* the cap_next byte to chain it from */
	int slot;			/* on the bus, -1 until added */
	const struct pci_dev_ops *ops;
	void *opaque;
	const char *name;
};

struct pci_bus {
	pthread_mutex_t lock;		/* the address latch and the slots */
	uint32_t conf_addr;		/* the 0xCF8 latch */
	uint64_t mmio_next;		/* next free BAR address */
	struct pci_dev host;
	struct pci_dev *dev[PCI_SLOTS];
};

static inline uint32_t pci_cfg_get(const struct pci_dev *d, unsigned int off, unsigned int len)
{
	uint32_t v = 0;
	unsigned int i;

	for (i = 0; i < len; i++)
		v |= (uint32_t)d->cfg[off + i] << (8 * i);
	return v;
}

/* Identity and class (class = base << 16 | sub << 8 | prog-if). */
void pci_dev_init(struct pci_dev *d, const char *name, uint16_t vendor, uint16_t device,
		  uint32_t class_code, uint8_t revision, uint16_t subsys_vendor,
		  uint16_t subsys_id);
/* A 32-bit non-prefetchable memory BAR of @size bytes (a power of 2 >= 16). */
int pci_dev_add_bar(struct pci_dev *d, int bar, uint32_t size);
/*
 * Appends a capability: @len bytes of @body, whose first two bytes (id,
 * next) are filled in by the chain; @wmask (may be NULL) gives its
 * writable bits.  Returns its config offset, or -ENOSPC.
 */
int pci_dev_add_cap(struct pci_dev *d, const void *body, const uint8_t *wmask,
		    unsigned int len);
/* The address BAR @bar decodes now (0 when memory decoding is off). */
uint64_t pci_dev_bar_addr(const struct pci_dev *d, int bar);

void pci_bus_init(struct pci_bus *bus);
void pci_bus_destroy(struct pci_bus *bus);
/* Puts @d in the first free slot and its BARs in the MMIO window;
 * returns the slot, or -ENOSPC. */
int pci_bus_add(struct pci_bus *bus, struct pci_dev *d);

/* Config space of bus 0 slot @slot function 0 (others read all ones). */
uint32_t pci_conf_read(struct pci_bus *bus, unsigned int slot, unsigned int off,
		       unsigned int len);
void pci_conf_write(struct pci_bus *bus, unsigned int slot, unsigned int off,
		    unsigned int len, uint32_t val);
/* An access to the ports 0xCF8..0xCFF (size 1, 2 or 4). */
void pci_conf_io(struct pci_bus *bus, uint16_t port, bool out, void *data, unsigned int size);
/* An access to guest-physical @gpa: true if a BAR claimed it. */
bool pci_mmio(struct pci_bus *bus, uint64_t gpa, bool write, void *data, unsigned int len);

#endif
