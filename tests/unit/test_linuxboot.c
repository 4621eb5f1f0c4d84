// SPDX-License-Identifier: GPL-2.0
/*
 * The pure parts of the Linux boot path of libvmm: bzImage setup-header
 * parsing and refusals (tools/vmm/bzimage.c), the e820 map, the placement
 * of kernel, initrd and command line, the zero page, the MP tables
 * (mptable.c) and the 16550A UART register model (serial.c).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"
#include "unit.h"
#include "vmm.h"

KM_SUITE(linuxboot);

#define IMG_LEN		0x4000
#define SETUP_SECTS	3		/* setup: 4 * 512 bytes */

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)v); put32(p + 4, (uint32_t)(v >> 32)); }
static uint32_t get32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

/* A minimal well-formed bzImage: a 2.15 header, 64-bit, relocatable. */
static void make_image(uint8_t *b)
{
	memset(b, 0, IMG_LEN);
	b[0x1f1] = SETUP_SECTS;
	put32(b + 0x1f4, (IMG_LEN - (SETUP_SECTS + 1) * 512) / 16);	/* syssize */
	put16(b + 0x1fe, 0xaa55);
	b[0x200] = 0xeb;
	b[0x201] = 0x6a;			/* header ends at 0x26c */
	memcpy(b + 0x202, "HdrS", 4);
	put16(b + 0x206, 0x020f);
	b[0x211] = 0x01;			/* LOADED_HIGH */
	put32(b + 0x22c, 0x7fffffff);		/* initrd_addr_max */
	put32(b + 0x230, 0x200000);		/* kernel_alignment */
	b[0x234] = 1;				/* relocatable */
	put16(b + 0x236, 0x1);			/* XLF_KERNEL_64 */
	put32(b + 0x238, 2047);			/* cmdline_size */
	put64(b + 0x258, 0x1000000);		/* pref_address */
	put32(b + 0x260, 0x2000000);		/* init_size: 32 MiB */
	b[0x1000] = 0x90;			/* "kernel" bytes */
}

TEST_F(linuxboot, parse_good)
{
	uint8_t *b = malloc(IMG_LEN);
	struct vmm_bz_image img;
	char err[200] = "";

	make_image(b);
	ASSERT_TRUE(vmm_bz_is_bzimage(b, IMG_LEN));
	ASSERT_EQ(0, vmm_bz_parse(b, IMG_LEN, &img, err, sizeof(err)));
	EXPECT_EQ(0x020f, img.version);
	EXPECT_EQ((SETUP_SECTS + 1) * 512, img.setup_size);
	EXPECT_EQ(img.setup_size, img.kernel_off);
	EXPECT_EQ(IMG_LEN - img.setup_size, img.kernel_size);
	EXPECT_EQ(0x26c, img.hdr_end);
	EXPECT_EQ(0x1000000, img.pref_address);
	EXPECT_EQ(0x2000000, img.init_size);
	EXPECT_EQ(2047, img.cmdline_size);
	EXPECT_TRUE(img.relocatable);
	/* setup_sects 0 means 4 */
	b[0x1f1] = 0;
	put32(b + 0x1f4, (IMG_LEN - 5 * 512) / 16);
	ASSERT_EQ(0, vmm_bz_parse(b, IMG_LEN, &img, err, sizeof(err)));
	EXPECT_EQ(5 * 512, img.setup_size);
	free(b);
}

struct bad_case {
	const char *what;
	unsigned int off;	/* byte to change, 0: none */
	uint8_t val;
	size_t len;		/* 0: IMG_LEN */
	const char *msg;	/* in the error message */
};

static const struct bad_case bad_cases[] = {
	{ "empty", 0, 0, 1, "HdrS" },
	{ "truncated in the header", 0, 0, 0x210, "truncated" },
	{ "truncated kernel", 0, 0, 0x1200, "truncated" },
	{ "setup only", 0, 0, 0x800, "truncated" },
	{ "wrong magic", 0x202, 'X', 0, "HdrS" },
	{ "bad boot flag", 0x1fe, 0, 0, "boot flag" },
	{ "protocol 2.09", 0x206, 0x09, 0, "too old" },
	{ "not 64-bit", 0x236, 0, 0, "64-bit" },
	{ "not relocatable", 0x234, 0, 0, "relocatable" },
	{ "zImage", 0x211, 0, 0, "zImage" },
	{ "short header", 0x201, 0x10, 0, "malformed" },
};

TEST_F(linuxboot, parse_refuses_bad_images)
{
	uint8_t *b = malloc(IMG_LEN);
	struct vmm_bz_image img;
	unsigned int i;

	for (i = 0; i < KM_ARRAY_SIZE(bad_cases); i++) {
		const struct bad_case *c = &bad_cases[i];
		char err[200] = "";

		make_image(b);
		if (c->off)
			b[c->off] = c->val;
		EXPECT_EQ(-ENOEXEC, vmm_bz_parse(b, c->len ? c->len : IMG_LEN, &img, err,
						 sizeof(err)));
		EXPECT_NE(NULL, strstr(err, c->msg)) TH_LOG("%s: '%s'", c->what, err);
	}
	free(b);
}

TEST_F(linuxboot, e820_layouts)
{
	struct vmm_e820 m;

	vmm_e820_layout(64ULL << 20, &m);
	ASSERT_EQ(3, m.nr);
	EXPECT_EQ(0, m.e[0].addr);
	EXPECT_EQ(VMM_EBDA_START, m.e[0].size);
	EXPECT_EQ(VMM_E820_RAM, m.e[0].type);
	EXPECT_EQ(VMM_EBDA_START, m.e[1].addr);
	EXPECT_EQ(0x100000 - VMM_EBDA_START, m.e[1].size);
	EXPECT_EQ(VMM_E820_RESERVED, m.e[1].type);
	EXPECT_EQ(0x100000, m.e[2].addr);
	EXPECT_EQ((64ULL << 20) - 0x100000, m.e[2].size);
	EXPECT_EQ(VMM_E820_RAM, m.e[2].type);

	vmm_e820_layout(3ULL << 30, &m);		/* up to the hole exactly */
	ASSERT_EQ(3, m.nr);
	EXPECT_EQ((3ULL << 30) - 0x100000, m.e[2].size);

	vmm_e820_layout(8ULL << 30, &m);		/* split at the PCI hole */
	ASSERT_EQ(4, m.nr);
	EXPECT_EQ((3ULL << 30) - 0x100000, m.e[2].size);
	EXPECT_EQ(4ULL << 30, m.e[3].addr);
	EXPECT_EQ(5ULL << 30, m.e[3].size);
	EXPECT_EQ(VMM_E820_RAM, m.e[3].type);
}

TEST_F(linuxboot, plan_places_kernel_initrd_cmdline)
{
	uint8_t *b = malloc(IMG_LEN);
	struct vmm_bz_image img;
	struct vmm_bz_plan p;
	char err[300] = "";

	make_image(b);
	ASSERT_EQ(0, vmm_bz_parse(b, IMG_LEN, &img, err, sizeof(err)));
	ASSERT_EQ(0, vmm_bz_plan(&img, 256ULL << 20, 10 << 20, 100, &p, err, sizeof(err)));
	EXPECT_EQ(0x1000000, p.kernel_gpa);
	EXPECT_EQ(0x1000200, p.entry);
	EXPECT_EQ(VMM_BZ_CMDLINE, p.cmdline_gpa);
	EXPECT_EQ((256ULL << 20) - (10 << 20), p.initrd_gpa);	/* top of RAM */
	EXPECT_EQ(0, p.initrd_gpa % 4096);
	/* initrd_addr_max caps it below the top of RAM */
	img.initrd_addr_max = 0x5fffffff;
	ASSERT_EQ(0, vmm_bz_plan(&img, 4ULL << 30, 4097, 0, &p, err, sizeof(err)));
	EXPECT_EQ(0x60000000ULL - 8192, p.initrd_gpa);
	img.initrd_addr_max = 0x7fffffff;
	/* no initrd */
	ASSERT_EQ(0, vmm_bz_plan(&img, 64ULL << 20, 0, 0, &p, err, sizeof(err)));
	EXPECT_EQ(0, p.initrd_size);
	/* the initrd collides with the kernel: refused, with a hint */
	EXPECT_EQ(-E2BIG, vmm_bz_plan(&img, 64ULL << 20, 32 << 20, 0, &p, err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "does not fit")) TH_LOG("%s", err);
	EXPECT_NE(NULL, strstr(err, "--memory at least")) TH_LOG("%s", err);
	/* the kernel does not fit at all */
	EXPECT_EQ(-E2BIG, vmm_bz_plan(&img, 32ULL << 20, 0, 0, &p, err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "kernel needs")) TH_LOG("%s", err);
	/* a command line longer than the kernel's cmdline_size */
	EXPECT_EQ(0, vmm_bz_plan(&img, 256ULL << 20, 0, 2047, &p, err, sizeof(err)));
	EXPECT_EQ(-E2BIG, vmm_bz_plan(&img, 256ULL << 20, 0, 2048, &p, err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "command line")) TH_LOG("%s", err);
	free(b);
}

TEST_F(linuxboot, zero_page)
{
	uint8_t *b = malloc(IMG_LEN), zp[4096];
	struct vmm_bz_image img;
	struct vmm_e820 m;
	struct vmm_bz_params p;
	char err[200];
	unsigned int i;

	make_image(b);
	ASSERT_EQ(0, vmm_bz_parse(b, IMG_LEN, &img, err, sizeof(err)));
	vmm_e820_layout(8ULL << 30, &m);
	p = (struct vmm_bz_params){
		.kernel_gpa = 0x1000000, .cmdline_gpa = 0x60000,
		.initrd_gpa = 0x7000000, .initrd_size = 0x123456, .e820 = &m,
	};
	memset(zp, 0xaa, sizeof(zp));
	ASSERT_EQ(0, vmm_bz_fill_params(b, &img, zp, &p));
	EXPECT_EQ(0, zp[0]);				/* cleared outside the header */
	EXPECT_EQ(0, memcmp(zp + 0x202, "HdrS", 4));	/* the header, copied */
	EXPECT_EQ(0x020f, zp[0x206] | zp[0x207] << 8);
	EXPECT_EQ(0xff, zp[0x210]);			/* type_of_loader */
	EXPECT_EQ(0x81, zp[0x211]);			/* LOADED_HIGH | CAN_USE_HEAP */
	EXPECT_EQ(0x1000000, get32(zp + 0x214));	/* code32_start */
	EXPECT_EQ(0x7000000, get32(zp + 0x218));
	EXPECT_EQ(0x123456, get32(zp + 0x21c));
	EXPECT_EQ(0x60000, get32(zp + 0x228));
	EXPECT_EQ(0, zp[0x26c]);			/* past the header: not copied */
	ASSERT_EQ(m.nr, zp[0x1e8]);
	for (i = 0; i < m.nr; i++) {
		EXPECT_EQ(m.e[i].addr, get64(zp + 0x2d0 + 20 * i));
		EXPECT_EQ(m.e[i].size, get64(zp + 0x2d0 + 20 * i + 8));
		EXPECT_EQ(m.e[i].type, get32(zp + 0x2d0 + 20 * i + 16));
	}
	free(b);
}

TEST_F(linuxboot, mptable)
{
	static const struct vmm_mp_pci_irq pci[] = { { 3, 0, 10 }, { 4, 1, 11 } };
	struct vmm_mp_config c = {
		.nr_cpus = 4, .cpu_signature = 0x806f8, .cpu_features = 0x201,
		.nr_pci_irqs = 2, .pci_irqs = pci,
	};
	uint8_t buf[4096], *t, *e;
	unsigned int i, procs = 0, ioapics = 0, isa = 0, pcis = 0, lints = 0, bsp = 0;
	uint16_t len, count;
	int n;

	n = vmm_mp_build(buf, sizeof(buf), 0x9fc00, &c);
	ASSERT_GT(n, 0);
	ASSERT_EQ((size_t)n, vmm_mp_size(&c));
	/* floating pointer */
	EXPECT_EQ(0, memcmp(buf, "_MP_", 4));
	EXPECT_EQ(0x9fc00 + 16, get32(buf + 4));
	EXPECT_EQ(1, buf[8]);
	EXPECT_EQ(4, buf[9]);
	EXPECT_EQ(0, vmm_mp_checksum(buf, 16));
	/* configuration table */
	t = buf + 16;
	EXPECT_EQ(0, memcmp(t, "PCMP", 4));
	len = (uint16_t)(t[4] | t[5] << 8);
	count = (uint16_t)(t[34] | t[35] << 8);
	EXPECT_EQ(n - 16, len);
	EXPECT_EQ(0, vmm_mp_checksum(t, len));
	EXPECT_EQ(VMM_LAPIC_ADDR, get32(t + 36));
	for (e = t + 44, i = 0; i < count; i++) {
		switch (e[0]) {
		case 0:
			EXPECT_EQ(procs, e[1]);		/* APIC id = vCPU index */
			EXPECT_TRUE(e[3] & 1);
			bsp += !!(e[3] & 2);
			EXPECT_EQ(0x806f8, get32(e + 4));
			procs++;
			e += 20;
			break;
		case 2:
			EXPECT_EQ(4, e[1]);		/* after the CPUs' ids */
			EXPECT_EQ(VMM_IOAPIC_ADDR, get32(e + 4));
			ioapics++;
			e += 8;
			break;
		case 3:
			if (e[4] == 1) {		/* ISA: identity, never the cascade */
				EXPECT_EQ(e[5], e[7]);
				EXPECT_NE(2, e[5]);
				isa++;
			} else {
				EXPECT_EQ(0, e[4]);	/* PCI bus 0 */
				EXPECT_EQ(pci[pcis].dev << 2 | pci[pcis].pin, e[5]);
				EXPECT_EQ(pci[pcis].gsi, e[7]);
				EXPECT_EQ(0x0f, e[2]);	/* level, active low */
				pcis++;
			}
			e += 8;
			break;
		case 4:
			lints++;
			e += 8;
			break;
		default:
			e += 8;
		}
	}
	EXPECT_EQ(t + len, e);
	EXPECT_EQ(4, procs);
	EXPECT_EQ(1, bsp);
	EXPECT_EQ(1, ioapics);
	EXPECT_EQ(15, isa);
	EXPECT_EQ(2, pcis);
	EXPECT_EQ(2, lints);
	/* too small a buffer, bad counts */
	EXPECT_EQ(-ENOSPC, vmm_mp_build(buf, 100, 0x9fc00, &c));
	c.nr_cpus = 0;
	EXPECT_EQ(-EINVAL, vmm_mp_build(buf, sizeof(buf), 0x9fc00, &c));
	c.nr_cpus = VMM_MAX_VCPUS;
	EXPECT_GT(vmm_mp_build(buf, sizeof(buf), 0x9fc00, &c), 0);
	EXPECT_EQ(0, vmm_mp_checksum(buf + 16, vmm_mp_size(&c) - 16));
}

struct uart_sink {
	uint8_t out[64];
	unsigned int nout;
	int level;
	unsigned int edges;
};

static void sink_tx(void *o, uint8_t c)
{
	struct uart_sink *s = o;

	if (s->nout < sizeof(s->out))
		s->out[s->nout++] = c;
}

static void sink_irq(void *o, int level)
{
	struct uart_sink *s = o;

	s->level = level;
	s->edges++;
}

TEST_F(linuxboot, uart_registers)
{
	struct uart_sink s = { .nout = 0 };
	struct vmm_uart u;
	uint8_t in[20];
	unsigned int i;

	vmm_uart_init(&u, sink_tx, sink_irq, &s);
	EXPECT_EQ(0x60, vmm_uart_read(&u, 5));		/* LSR: THRE | TEMT */
	EXPECT_EQ(0x01, vmm_uart_read(&u, 2) & 0x0f);	/* IIR: nothing pending */
	/* scratch, divisor latch */
	vmm_uart_write(&u, 7, 0xa5);
	EXPECT_EQ(0xa5, vmm_uart_read(&u, 7));
	vmm_uart_write(&u, 3, 0x83);			/* DLAB, 8N1 */
	vmm_uart_write(&u, 0, 0x01);
	vmm_uart_write(&u, 1, 0x00);
	EXPECT_EQ(0x01, vmm_uart_read(&u, 0));
	EXPECT_EQ(0x00, vmm_uart_read(&u, 1));
	vmm_uart_write(&u, 3, 0x03);
	EXPECT_EQ(0x03, vmm_uart_read(&u, 3));
	EXPECT_EQ(0, s.nout);				/* DLL writes are not data */
	/* transmit */
	vmm_uart_write(&u, 0, 'h');
	vmm_uart_write(&u, 0, 'i');
	ASSERT_EQ(2, s.nout);
	EXPECT_EQ(0, memcmp(s.out, "hi", 2));
	EXPECT_EQ(0, s.level);				/* IER 0: no interrupt */
	/* THRE interrupt: raised by enabling it, acknowledged by reading IIR */
	vmm_uart_write(&u, 1, 0x02);
	EXPECT_EQ(1, s.level);
	EXPECT_EQ(0x02, vmm_uart_read(&u, 2) & 0x0f);
	EXPECT_EQ(0, s.level);
	EXPECT_EQ(0x01, vmm_uart_read(&u, 2) & 0x0f);
	vmm_uart_write(&u, 0, '!');			/* sent: THR empty again */
	EXPECT_EQ(1, s.level);
	vmm_uart_write(&u, 1, 0x00);
	EXPECT_EQ(0, s.level);
	/* FIFO mode shows in IIR */
	vmm_uart_write(&u, 2, 0x07);
	EXPECT_EQ(0xc0, vmm_uart_read(&u, 2) & 0xc0);
	/* receive: data ready, RDA interrupt, FIFO order, overrun */
	for (i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)('a' + i);
	vmm_uart_write(&u, 1, 0x05);			/* RDI | RLSI */
	EXPECT_EQ(VMM_UART_FIFO, vmm_uart_receive(&u, in, sizeof(in)));
	EXPECT_EQ(0, vmm_uart_rx_room(&u));
	EXPECT_EQ(1, s.level);
	EXPECT_EQ(0x04, vmm_uart_read(&u, 2) & 0x0f);
	EXPECT_EQ(0x01, vmm_uart_read(&u, 5) & 0x01);	/* LSR.DR */
	for (i = 0; i < VMM_UART_FIFO; i++)
		EXPECT_EQ('a' + i, vmm_uart_read(&u, 0));
	EXPECT_EQ(0, vmm_uart_read(&u, 5) & 0x01);
	EXPECT_EQ(0, s.level);
	/* a push into a full FIFO (loopback) overruns: LSR.OE, RLS interrupt */
	vmm_uart_write(&u, 4, 0x10);			/* loopback */
	EXPECT_EQ(0, vmm_uart_rx_room(&u));
	for (i = 0; i < VMM_UART_FIFO + 1; i++)
		vmm_uart_write(&u, 0, (uint8_t)i);
	EXPECT_EQ(0x06, vmm_uart_read(&u, 2) & 0x0f);
	EXPECT_EQ(0x02, vmm_uart_read(&u, 5) & 0x02);	/* OE, cleared by reading */
	EXPECT_EQ(0, vmm_uart_read(&u, 5) & 0x02);
	EXPECT_EQ(0, vmm_uart_read(&u, 0));		/* looped back, in order */
	vmm_uart_write(&u, 2, 0x03);			/* clear the receive FIFO */
	EXPECT_EQ(0, vmm_uart_read(&u, 5) & 0x01);
	/* loopback modem lines: RTS -> CTS, DTR -> DSR, OUT2 -> DCD */
	vmm_uart_write(&u, 4, 0x10 | 0x02);
	EXPECT_EQ(0x10, vmm_uart_read(&u, 6) & 0xf0);
	vmm_uart_write(&u, 4, 0x10 | 0x08 | 0x01);
	EXPECT_EQ(0xa0, vmm_uart_read(&u, 6) & 0xf0);
	EXPECT_EQ(3, s.nout);
	vmm_uart_write(&u, 4, 0x0b);			/* back to normal */
	EXPECT_EQ(0xb0, vmm_uart_read(&u, 6) & 0xf0);	/* DCD DSR CTS */
	EXPECT_EQ(VMM_UART_FIFO, vmm_uart_rx_room(&u));
}

TEST_HARNESS_MAIN
