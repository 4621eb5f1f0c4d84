/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the virtio unit tests (test_virtio*.c): a fake guest memory
 * (1 MiB of RAM at GPA 1 MiB, dirty pages and MSI messages recorded) and
 * a driver's accesses to PCI config space and BARs.  All static inline:
 * the other unit tests do not link libvmm's device files.
 */
#ifndef KM_VFAKE_H
#define KM_VFAKE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/virtio_pci.h>

#include "pci.h"
#include "virtq.h"

/* ------------------------------------------------ fake guest memory -- */

#define GBASE	0x100000ull		/* RAM starts here: GPA 0 is not RAM */
#define GSIZE	(1ull << 20)

struct gmem {
	uint8_t *ram;
	uint64_t dirty_bytes;
	uint8_t dirty_page[GSIZE / 4096];
	struct vq_gmem vq;
	unsigned int msis;
	uint64_t msi_addr;
	uint32_t msi_data;
};

static inline void *g_map(void *opaque, uint64_t gpa, uint64_t len)
{
	struct gmem *g = opaque;

	if (gpa < GBASE || len > GSIZE || gpa - GBASE > GSIZE - len)
		return NULL;
	return g->ram + (gpa - GBASE);
}

static inline void g_dirty(void *opaque, uint64_t gpa, uint64_t len)
{
	struct gmem *g = opaque;
	uint64_t p;

	g->dirty_bytes += len;
	for (p = (gpa - GBASE) / 4096; p <= (gpa - GBASE + len - 1) / 4096; p++)
		g->dirty_page[p] = 1;
}

static inline int g_msi(void *opaque, uint64_t addr, uint32_t data)
{
	struct gmem *g = opaque;

	g->msis++;
	g->msi_addr = addr;
	g->msi_data = data;
	return 0;
}

static inline void g_init(struct gmem *g)
{
	memset(g, 0, sizeof(*g));
	if (posix_memalign((void **)&g->ram, 4096, GSIZE))
		abort();
	memset(g->ram, 0, GSIZE);
	g->vq = (struct vq_gmem){ .map = g_map, .dirty = g_dirty, .opaque = g };
}

static inline uint8_t *G(struct gmem *g, uint64_t gpa)
{
	return g->ram + (gpa - GBASE);
}

static inline uint32_t conf_rd(struct pci_bus *bus, unsigned int slot, unsigned int off,
			unsigned int size)
{
	uint32_t a = 0x80000000u | slot << 11 | (off & 0xfc), v = 0;

	pci_conf_io(bus, PCI_CONF_ADDR_PORT, true, &a, 4);
	pci_conf_io(bus, (uint16_t)(PCI_CONF_DATA_PORT + (off & 3)), false, &v, size);
	return v;
}

static inline void conf_wr(struct pci_bus *bus, unsigned int slot, unsigned int off,
		    unsigned int size, uint32_t v)
{
	uint32_t a = 0x80000000u | slot << 11 | (off & 0xfc);

	pci_conf_io(bus, PCI_CONF_ADDR_PORT, true, &a, 4);
	pci_conf_io(bus, (uint16_t)(PCI_CONF_DATA_PORT + (off & 3)), true, &v, size);
}

static inline void vf_bar_w(struct pci_bus *bus, uint64_t bar, uint64_t off, uint64_t v,
			    unsigned int len)
{
	pci_mmio(bus, bar + off, true, &v, len);
}

static inline uint64_t vf_bar_r(struct pci_bus *bus, uint64_t bar, uint64_t off,
				unsigned int len)
{
	uint64_t v = 0;

	pci_mmio(bus, bar + off, false, &v, len);
	return v;
}

#define CC(f)	offsetof(struct virtio_pci_common_cfg, f)

#endif
