// SPDX-License-Identifier: GPL-2.0
/*
 * libvmm: the pure half of the x86 Linux boot protocol (no KVM, no VM):
 * parse and check a bzImage's setup header, lay out the e820 map for a
 * RAM size, and fill a boot_params "zero page".  linux.c loads what this
 * describes into a VM.  Offsets and fields follow the kernel's
 * Documentation/arch/x86/boot.rst; every value is little-endian.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "vmm.h"

/* boot_params / setup header offsets (boot.rst, "THE REAL-MODE KERNEL HEADER") */
#define BP_EXT_RAMDISK_IMAGE	0x0c0
#define BP_EXT_RAMDISK_SIZE	0x0c4
#define BP_E820_ENTRIES		0x1e8
#define BP_HDR			0x1f1	/* struct setup_header starts here */
#define BP_SETUP_SECTS		0x1f1
#define BP_SYSSIZE		0x1f4
#define BP_VID_MODE		0x1fa
#define BP_BOOT_FLAG		0x1fe
#define BP_JUMP			0x200
#define BP_HEADER		0x202
#define BP_VERSION		0x206
#define BP_TYPE_OF_LOADER	0x210
#define BP_LOADFLAGS		0x211
#define BP_CODE32_START		0x214
#define BP_RAMDISK_IMAGE	0x218
#define BP_RAMDISK_SIZE		0x21c
#define BP_HEAP_END_PTR		0x224
#define BP_CMD_LINE_PTR		0x228
#define BP_INITRD_ADDR_MAX	0x22c
#define BP_KERNEL_ALIGNMENT	0x230
#define BP_RELOCATABLE		0x234
#define BP_XLOADFLAGS		0x236
#define BP_CMDLINE_SIZE		0x238
#define BP_PREF_ADDRESS		0x258
#define BP_INIT_SIZE		0x260
#define BP_E820_TABLE		0x2d0

#define LF_LOADED_HIGH		0x01
#define LF_CAN_USE_HEAP		0x80
#define XLF_KERNEL_64		0x0001

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void wr32(uint8_t *p, uint32_t v) { wr16(p, (uint16_t)v); wr16(p + 2, (uint16_t)(v >> 16)); }
static void wr64(uint8_t *p, uint64_t v) { wr32(p, (uint32_t)v); wr32(p + 4, (uint32_t)(v >> 32)); }

bool vmm_bz_is_bzimage(const void *buf, size_t len)
{
	const uint8_t *b = buf;

	return len >= BP_HEADER + 4 && !memcmp(b + BP_HEADER, "HdrS", 4);
}

int vmm_bz_parse(const void *buf, size_t len, struct vmm_bz_image *img,
		 char *err, size_t errlen)
{
	const uint8_t *b = buf;
	unsigned int sects;

	memset(img, 0, sizeof(*img));
	if (!vmm_bz_is_bzimage(buf, len))
		return vmm_errf(err, errlen, -ENOEXEC,
			       "not a bzImage: no \"HdrS\" setup header at offset 0x202");
	if (len < 0x300)
		return vmm_errf(err, errlen, -ENOEXEC, "truncated: %zu bytes, no whole setup header", len);
	if (rd16(b + BP_BOOT_FLAG) != 0xaa55)
		return vmm_errf(err, errlen, -ENOEXEC, "bad boot flag %#x (want 0xaa55)",
			       rd16(b + BP_BOOT_FLAG));
	img->version = rd16(b + BP_VERSION);
	if (img->version < VMM_BZ_MIN_VERSION)
		return vmm_errf(err, errlen, -ENOEXEC,
			       "boot protocol %u.%02u is too old: the 64-bit entry needs %u.%02u",
			       img->version >> 8, img->version & 0xff,
			       VMM_BZ_MIN_VERSION >> 8, VMM_BZ_MIN_VERSION & 0xff);
	img->xloadflags = rd16(b + BP_XLOADFLAGS);
	if (!(img->xloadflags & XLF_KERNEL_64))
		return vmm_errf(err, errlen, -ENOEXEC,
			       "not a 64-bit kernel (XLF_KERNEL_64 unset): no 64-bit entry point");
	img->relocatable = b[BP_RELOCATABLE] != 0;
	if (!img->relocatable)
		return vmm_errf(err, errlen, -ENOEXEC, "not a relocatable kernel");
	if (!(b[BP_LOADFLAGS] & LF_LOADED_HIGH))
		return vmm_errf(err, errlen, -ENOEXEC, "not a bzImage (zImage loaded low)");
	sects = b[BP_SETUP_SECTS] ? b[BP_SETUP_SECTS] : 4;
	img->setup_size = (uint64_t)(sects + 1) * 512;
	img->hdr_end = BP_JUMP + 2 + b[BP_JUMP + 1];	/* jump's target: end of the header */
	if (img->hdr_end > img->setup_size || img->hdr_end < BP_INIT_SIZE + 4)
		return vmm_errf(err, errlen, -ENOEXEC, "setup header of %llu bytes is malformed",
			       (unsigned long long)img->hdr_end);
	if (len <= img->setup_size)
		return vmm_errf(err, errlen, -ENOEXEC,
			       "truncated: %zu bytes, the setup code alone is %llu",
			       len, (unsigned long long)img->setup_size);
	img->kernel_off = img->setup_size;
	img->kernel_size = len - img->setup_size;
	if (img->kernel_size < (uint64_t)rd32(b + BP_SYSSIZE) * 16)
		return vmm_errf(err, errlen, -ENOEXEC,
			       "truncated: the kernel is %llu bytes, its header says %llu",
			       (unsigned long long)img->kernel_size,
			       (unsigned long long)rd32(b + BP_SYSSIZE) * 16);
	img->initrd_addr_max = rd32(b + BP_INITRD_ADDR_MAX);
	img->kernel_alignment = rd32(b + BP_KERNEL_ALIGNMENT);
	img->cmdline_size = rd32(b + BP_CMDLINE_SIZE);
	img->pref_address = rd64(b + BP_PREF_ADDRESS);
	img->init_size = rd32(b + BP_INIT_SIZE);
	if (img->init_size < img->kernel_size)
		img->init_size = (uint32_t)img->kernel_size;
	return 0;
}

/* Add [start, end) of type to the map, if it is not empty. */
static void e820_add(struct vmm_e820 *m, uint64_t start, uint64_t end, uint32_t type)
{
	if (end > start && m->nr < VMM_E820_MAX)
		m->e[m->nr++] = (struct vmm_e820_entry){ start, end - start, type };
}

void vmm_e820_layout(uint64_t mem_bytes, struct vmm_e820 *m)
{
	uint64_t low = mem_bytes < VMM_PCI_HOLE_START ? mem_bytes : VMM_PCI_HOLE_START;

	memset(m, 0, sizeof(*m));
	e820_add(m, 0, VMM_EBDA_START, VMM_E820_RAM);
	e820_add(m, VMM_EBDA_START, 0x100000, VMM_E820_RESERVED);
	e820_add(m, 0x100000, low, VMM_E820_RAM);
	if (mem_bytes > VMM_PCI_HOLE_START)
		e820_add(m, 1ULL << 32, (1ULL << 32) + mem_bytes - VMM_PCI_HOLE_START,
			 VMM_E820_RAM);
}

int vmm_bz_fill_params(const void *kernel, const struct vmm_bz_image *img,
		       uint8_t *zp, const struct vmm_bz_params *p)
{
	const uint8_t *b = kernel;
	unsigned int i;

	memset(zp, 0, VMM_PAGE_SIZE);
	/* the setup header as the kernel file holds it, then ours on top */
	memcpy(zp + BP_HDR, b + BP_HDR, img->hdr_end - BP_HDR);
	wr16(zp + BP_VID_MODE, 0xffff);			/* "normal" */
	zp[BP_TYPE_OF_LOADER] = 0xff;			/* undefined loader */
	zp[BP_LOADFLAGS] |= LF_CAN_USE_HEAP;
	wr16(zp + BP_HEAP_END_PTR, 0xfe00);
	wr32(zp + BP_CODE32_START, (uint32_t)p->kernel_gpa);
	wr32(zp + BP_CMD_LINE_PTR, (uint32_t)p->cmdline_gpa);
	wr32(zp + BP_RAMDISK_IMAGE, (uint32_t)p->initrd_gpa);
	wr32(zp + BP_RAMDISK_SIZE, (uint32_t)p->initrd_size);
	wr32(zp + BP_EXT_RAMDISK_IMAGE, (uint32_t)(p->initrd_gpa >> 32));
	wr32(zp + BP_EXT_RAMDISK_SIZE, (uint32_t)(p->initrd_size >> 32));
	if (p->e820->nr > VMM_E820_MAX)
		return -E2BIG;
	zp[BP_E820_ENTRIES] = (uint8_t)p->e820->nr;
	for (i = 0; i < p->e820->nr; i++) {
		uint8_t *e = zp + BP_E820_TABLE + 20 * i;

		wr64(e, p->e820->e[i].addr);
		wr64(e + 8, p->e820->e[i].size);
		wr32(e + 16, p->e820->e[i].type);
	}
	return 0;
}

int vmm_bz_plan(const struct vmm_bz_image *img, uint64_t mem_bytes,
		uint64_t initrd_size, size_t cmdline_len, struct vmm_bz_plan *plan,
		char *err, size_t errlen)
{
	uint64_t low_top = mem_bytes < VMM_PCI_HOLE_START ? mem_bytes : VMM_PCI_HOLE_START;
	uint64_t need, kend, imax;

	memset(plan, 0, sizeof(*plan));
	if (cmdline_len >= VMM_BZ_CMDLINE_MAX ||
	    (img->cmdline_size && cmdline_len > img->cmdline_size))
		return vmm_errf(err, errlen, -E2BIG,
			       "the command line is %zu bytes; this kernel takes at most %u",
			       cmdline_len, img->cmdline_size ? img->cmdline_size :
			       (unsigned int)VMM_BZ_CMDLINE_MAX - 1);
	/*
	 * A relocatable kernel loaded below pref_address (LOAD_PHYSICAL_ADDR)
	 * moves itself up there to decompress: it needs init_size bytes from
	 * the higher of the two either way.
	 */
	plan->kernel_gpa = 0x100000;
	if (img->pref_address >= 0x100000 && img->pref_address < low_top)
		plan->kernel_gpa = img->pref_address;
	kend = (plan->kernel_gpa > img->pref_address ? plan->kernel_gpa : img->pref_address) +
	       img->init_size;
	kend = (kend + VMM_PAGE_SIZE - 1) & ~(VMM_PAGE_SIZE - 1);
	if (kend > low_top)
		return vmm_errf(err, errlen, -E2BIG,
			       "the kernel needs memory up to %llu MiB (%u MiB from %#llx); the guest has %llu MiB",
			       (unsigned long long)(kend >> 20), img->init_size >> 20,
			       (unsigned long long)plan->kernel_gpa,
			       (unsigned long long)(mem_bytes >> 20));
	plan->entry = plan->kernel_gpa + 0x200;
	plan->cmdline_gpa = VMM_BZ_CMDLINE;
	if (!initrd_size)
		return 0;
	imax = img->initrd_addr_max ? (uint64_t)img->initrd_addr_max + 1 : 0x38000000ULL;
	if (imax > low_top)
		imax = low_top;
	need = (kend + initrd_size + (1ULL << 20) - 1) >> 20;
	if (initrd_size > imax || ((imax - initrd_size) & ~(VMM_PAGE_SIZE - 1)) < kend)
		return vmm_errf(err, errlen, -E2BIG,
			       "the initrd (%llu MiB) does not fit beside the kernel in %llu MiB of guest memory: give --memory at least %llu MiB",
			       (unsigned long long)((initrd_size + (1ULL << 20) - 1) >> 20),
			       (unsigned long long)(mem_bytes >> 20),
			       (unsigned long long)(((need + 1) + 1) & ~1ULL));
	plan->initrd_gpa = (imax - initrd_size) & ~(VMM_PAGE_SIZE - 1);
	plan->initrd_size = initrd_size;
	return 0;
}
