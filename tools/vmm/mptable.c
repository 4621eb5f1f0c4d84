// SPDX-License-Identifier: GPL-2.0
/*
 * libvmm: the Intel MultiProcessor Specification 1.4 tables that tell a
 * Linux guest (booted without ACPI) its CPUs, its IOAPIC and how ISA and
 * PCI interrupts reach it.  Pure: builds into a caller's buffer.
 *
 *   floating pointer (16 bytes, "_MP_")  ->  configuration table ("PCMP"):
 *     one processor entry per vCPU (APIC id = vCPU index, vCPU 0 the BSP)
 *     bus 0 "PCI", bus 1 "ISA"
 *     the IOAPIC (id nr_cpus, at 0xfec00000)
 *     ISA IRQ n -> IOAPIC pin n for n = 0..15 but 2 (KVM's default GSI
 *       routing: the PIT drives pin 0), edge, active high
 *     each PCI interrupt of vmm_mp_config.pci_irqs: bus 0, (dev << 2 | pin)
 *       -> its IOAPIC pin, level, active low
 *     LINT0 = ExtINT, LINT1 = NMI on every local APIC
 */
#include <errno.h>
#include <string.h>
#include "vmm.h"

#define MP_PROC		0
#define MP_BUS		1
#define MP_IOAPIC	2
#define MP_INTSRC	3
#define MP_LINTSRC	4

#define MP_INT		0
#define MP_NMI		1
#define MP_EXTINT	3

#define MP_BUS_PCI	0
#define MP_BUS_ISA	1

#define MP_IRQ_LEVEL_LOW	0x0f	/* polarity active low (3), trigger level (3 << 2) */

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }

uint8_t vmm_mp_checksum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s += *p++;
	return s;
}

size_t vmm_mp_size(const struct vmm_mp_config *c)
{
	return 16 + 44 + 20 * c->nr_cpus + 2 * 8 + 8 + 8 * (15 + c->nr_pci_irqs) + 2 * 8;
}

static uint8_t *mp_irq(uint8_t *p, uint8_t type, uint8_t kind, uint16_t flags,
		       uint8_t bus, uint8_t busirq, uint8_t apic, uint8_t pin)
{
	p[0] = type;
	p[1] = kind;
	put16(p + 2, flags);
	p[4] = bus;
	p[5] = busirq;
	p[6] = apic;
	p[7] = pin;
	return p + 8;
}

int vmm_mp_build(uint8_t *buf, size_t len, uint32_t gpa, const struct vmm_mp_config *c)
{
	uint8_t *fp = buf, *tbl = buf + 16, *p;
	uint8_t ioapic_id = (uint8_t)c->nr_cpus;
	uint16_t entries = 0;
	unsigned int i;

	if (!c->nr_cpus || c->nr_cpus > VMM_MAX_VCPUS || c->nr_pci_irqs > VMM_MP_MAX_PCI_IRQS)
		return -EINVAL;
	if (len < vmm_mp_size(c))
		return -ENOSPC;
	memset(buf, 0, vmm_mp_size(c));

	p = tbl + 44;
	for (i = 0; i < c->nr_cpus; i++, entries++) {
		p[0] = MP_PROC;
		p[1] = (uint8_t)i;			/* local APIC id */
		p[2] = 0x14;				/* local APIC version */
		p[3] = 0x01 | (i == 0 ? 0x02 : 0);	/* enabled, BSP */
		put32(p + 4, c->cpu_signature);
		put32(p + 8, c->cpu_features);
		p += 20;
	}
	p[0] = MP_BUS;
	p[1] = MP_BUS_PCI;
	memcpy(p + 2, "PCI   ", 6);
	p += 8;
	p[0] = MP_BUS;
	p[1] = MP_BUS_ISA;
	memcpy(p + 2, "ISA   ", 6);
	p += 8;
	entries += 2;
	p[0] = MP_IOAPIC;
	p[1] = ioapic_id;
	p[2] = 0x11;				/* IOAPIC version */
	p[3] = 0x01;				/* enabled */
	put32(p + 4, VMM_IOAPIC_ADDR);
	p += 8;
	entries++;
	for (i = 0; i < 16; i++) {
		if (i == 2)
			continue;	/* the cascade: no device behind it */
		p = mp_irq(p, MP_INTSRC, MP_INT, 0, MP_BUS_ISA, (uint8_t)i, ioapic_id, (uint8_t)i);
		entries++;
	}
	for (i = 0; i < c->nr_pci_irqs; i++, entries++) {
		const struct vmm_mp_pci_irq *q = &c->pci_irqs[i];

		p = mp_irq(p, MP_INTSRC, MP_INT, MP_IRQ_LEVEL_LOW, MP_BUS_PCI,
			   (uint8_t)(q->dev << 2 | (q->pin & 3)), ioapic_id, q->gsi);
	}
	p = mp_irq(p, MP_LINTSRC, MP_EXTINT, 0, MP_BUS_ISA, 0, 0xff, 0);
	p = mp_irq(p, MP_LINTSRC, MP_NMI, 0, MP_BUS_ISA, 0, 0xff, 1);
	entries += 2;

	memcpy(tbl, "PCMP", 4);
	put16(tbl + 4, (uint16_t)(p - tbl));
	tbl[6] = 4;				/* spec revision 1.4 */
	memcpy(tbl + 8, "KMIGRATE", 8);
	memcpy(tbl + 16, "LINUXGUEST  ", 12);
	put16(tbl + 34, entries);
	put32(tbl + 36, VMM_LAPIC_ADDR);
	tbl[7] = (uint8_t)-vmm_mp_checksum(tbl, (size_t)(p - tbl));

	memcpy(fp, "_MP_", 4);
	put32(fp + 4, gpa + 16);		/* the configuration table */
	fp[8] = 1;				/* length in 16-byte units */
	fp[9] = 4;				/* spec revision 1.4 */
	fp[10] = (uint8_t)-vmm_mp_checksum(fp, 16);
	return (int)(p - buf);
}
