// SPDX-License-Identifier: GPL-2.0
/*
 * libvmm: boot a multiboot (v1) kernel, the way QEMU's -kernel does.
 *
 * Parsing (vmm_mb_parse) needs no VM: it finds the header, checks it, and
 * turns an ELF32 executable (PT_LOAD at p_paddr) or the a.out kludge
 * (header flag bit 16, preferred over ELF as in QEMU) into a list of
 * segments that lie in guest RAM, outside the 640K-1M hole.
 *
 * Loading (vmm_mb_load) copies the segments, zeroes their bss and writes one
 * boot-data window of MB_WIN_SIZE bytes in low memory (page aligned, below
 * the EBDA at 0x9fc00, not overlapping the kernel):
 *
 *   +0x0000  GDT: null, 0x08 flat 32-bit code, 0x10 flat data
 *   +0x0040  struct mb_info (flags: mem, cmdline, mmap, boot loader name)
 *   +0x00c0  "kmigrate"
 *   +0x0100  memory map (E820 style, each entry preceded by its size, 20)
 *   +0x1000  command line (at most VMM_MB_CMDLINE_MAX bytes + NUL)
 *
 * vCPU 0 then gets the state the multiboot spec asks for at entry: EAX =
 * 0x2BADB002, EBX = the info's address, CS a 32-bit execute/read segment
 * and DS/ES/FS/GS/SS read/write data segments, all base 0 limit 4 GiB,
 * CR0.PE = 1 and PG = 0, EFLAGS.IF = 0 and VM = 0, A20 on (KVM has no A20
 * gate).  The other vCPUs wait for INIT/SIPI, which needs the in-kernel
 * irqchip (vmm_config.irqchip); without it only 1 vCPU is accepted.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "internal.h"

#define MB_WIN_SIZE	0x3000ULL
#define MB_WIN_GDT	0x0000
#define MB_WIN_INFO	0x0040
#define MB_WIN_NAME	0x00c0
#define MB_WIN_MMAP	0x0100
#define MB_WIN_MMAP_MAX	0x0f00
#define MB_WIN_CMDLINE	0x1000
#define MB_LOW_END	0x9fc00ULL	/* EBDA: usable low RAM ends here */
#define MB_HOLE_START	0xa0000ULL
#define MB_HOLE_END	0x100000ULL
#define MB_BIOS_START	0xf0000ULL

#define MB_KNOWN_FLAGS	(VMM_MB_F_PAGE_ALIGN | VMM_MB_F_MEMINFO | VMM_MB_F_VIDEO)

/* The multiboot information structure (spec 3.3), the part we fill. */
struct mb_info {
	uint32_t flags;
	uint32_t mem_lower, mem_upper;
	uint32_t boot_device;
	uint32_t cmdline;
	uint32_t mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr;
	uint32_t drives_length, drives_addr;
	uint32_t config_table;
	uint32_t boot_loader_name;
	uint32_t apm_table;
	uint32_t vbe[6];
	uint8_t fb[22];
	uint8_t pad[2];
} __attribute__((packed));

struct mb_mmap_entry {
	uint32_t size;		/* 20: of the rest */
	uint64_t addr, len;
	uint32_t type;		/* 1 RAM, 2 reserved */
} __attribute__((packed));

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* Checks one segment against RAM and the hole; adds it. */
static int mb_add_seg(struct vmm_mb_image *img, uint64_t ram_top, uint64_t off,
		      uint64_t fsz, uint64_t gpa, uint64_t msz, const char *what,
		      char *err, size_t errlen)
{
	struct vmm_mb_seg *s;

	if (fsz > msz)
		return vmm_errf(err, errlen, -ENOEXEC, "%s: file size %#llx exceeds memory size %#llx",
			       what, (unsigned long long)fsz, (unsigned long long)msz);
	if (!msz)
		return 0;
	if (gpa + msz > ram_top || gpa + msz < gpa)
		return vmm_errf(err, errlen, -ERANGE,
			       "%s: [%#llx, %#llx) lies beyond guest memory (RAM ends at %#llx)",
			       what, (unsigned long long)gpa, (unsigned long long)(gpa + msz),
			       (unsigned long long)ram_top);
	if (gpa < MB_HOLE_END && gpa + msz > MB_HOLE_START)
		return vmm_errf(err, errlen, -ERANGE,
			       "%s: [%#llx, %#llx) overlaps the 640K-1M hole (VGA/BIOS)",
			       what, (unsigned long long)gpa, (unsigned long long)(gpa + msz));
	if (img->nr_segs == VMM_MB_MAX_SEGS)
		return vmm_errf(err, errlen, -E2BIG, "more than %d loadable segments",
			       VMM_MB_MAX_SEGS);
	s = &img->segs[img->nr_segs++];
	s->file_off = off;
	s->file_size = fsz;
	s->gpa = gpa;
	s->mem_size = msz;
	if (img->nr_segs == 1 || gpa < img->lo)
		img->lo = gpa;
	if (gpa + msz > img->hi)
		img->hi = gpa + msz;
	return 0;
}

static int mb_parse_aout(const uint8_t *b, size_t len, uint64_t ram_top,
			 struct vmm_mb_image *img, char *err, size_t errlen)
{
	const uint8_t *h = b + img->header_off;
	uint32_t header_addr, load_addr, load_end, bss_end, entry;
	uint64_t off, fsz, msz;
	int r;

	if ((uint64_t)img->header_off + 32 > len)
		return vmm_errf(err, errlen, -ENOEXEC,
			       "multiboot header: a.out kludge fields cut off by the end of the file");
	header_addr = rd32(h + 12);
	load_addr = rd32(h + 16);
	load_end = rd32(h + 20);
	bss_end = rd32(h + 24);
	entry = rd32(h + 28);
	if (header_addr < load_addr || header_addr - load_addr > img->header_off)
		return vmm_errf(err, errlen, -ENOEXEC,
			       "a.out kludge: header_addr %#x / load_addr %#x do not fit the header's "
			       "file offset %#x", header_addr, load_addr, img->header_off);
	off = img->header_off - (header_addr - load_addr);
	if (load_end) {
		if (load_end <= load_addr)
			return vmm_errf(err, errlen, -ENOEXEC,
				       "a.out kludge: load_end_addr %#x not above load_addr %#x",
				       load_end, load_addr);
		fsz = load_end - load_addr;
		if (off + fsz > len)
			return vmm_errf(err, errlen, -ENOEXEC,
				       "a.out kludge: load_end_addr %#x is beyond the end of the file",
				       load_end);
	} else {
		fsz = len - off;
	}
	msz = fsz;
	if (bss_end) {
		if (bss_end < load_addr + fsz)
			return vmm_errf(err, errlen, -ENOEXEC,
				       "a.out kludge: bss_end_addr %#x below the end of the loaded data %#llx",
				       bss_end, (unsigned long long)(load_addr + fsz));
		msz = bss_end - load_addr;
	}
	img->aout_kludge = true;
	img->entry = entry;
	r = mb_add_seg(img, ram_top, off, fsz, load_addr, msz, "a.out kludge image", err, errlen);
	if (r)
		return r;
	if (entry < img->lo || entry >= img->hi)
		return vmm_errf(err, errlen, -ENOEXEC,
			       "entry point %#x outside the loaded image [%#llx, %#llx)", entry,
			       (unsigned long long)img->lo, (unsigned long long)img->hi);
	return 0;
}

#define EM_386		3
#define PT_LOAD		1

static int mb_parse_elf(const uint8_t *b, size_t len, uint64_t ram_top,
			struct vmm_mb_image *img, char *err, size_t errlen)
{
	uint32_t phoff, e_entry, i;
	uint16_t phentsize, phnum;
	bool entry_set = false;
	int r;

	if (len < 52)
		return vmm_errf(err, errlen, -ENOEXEC, "ELF header cut off (file of %zu bytes)", len);
	if (b[4] == 2)
		return vmm_errf(err, errlen, -ENOEXEC,
			       "ELF64 kernel: multiboot v1 boots 32-bit ELF only (or set the a.out kludge)");
	if (b[4] != 1)
		return vmm_errf(err, errlen, -ENOEXEC, "ELF class %u unknown", b[4]);
	if (b[5] != 1)
		return vmm_errf(err, errlen, -ENOEXEC, "ELF not little-endian");
	if (rd16(b + 16) != 2)
		return vmm_errf(err, errlen, -ENOEXEC, "ELF type %u is not an executable (ET_EXEC)",
			       rd16(b + 16));
	if (rd16(b + 18) != EM_386)
		return vmm_errf(err, errlen, -ENOEXEC, "ELF machine %u is not i386", rd16(b + 18));
	e_entry = rd32(b + 24);
	phoff = rd32(b + 28);
	phentsize = rd16(b + 42);
	phnum = rd16(b + 44);
	if (phentsize != 32)
		return vmm_errf(err, errlen, -ENOEXEC, "ELF program header size %u (expected 32)",
			       phentsize);
	if (!phnum || (uint64_t)phoff + (uint64_t)phnum * 32 > len)
		return vmm_errf(err, errlen, -ENOEXEC, "ELF program headers (%u at %#x) outside the file",
			       phnum, phoff);
	for (i = 0; i < phnum; i++) {
		const uint8_t *ph = b + phoff + i * 32;
		uint32_t off = rd32(ph + 4), vaddr = rd32(ph + 8), paddr = rd32(ph + 12);
		uint32_t fsz = rd32(ph + 16), msz = rd32(ph + 20);
		char what[48];

		if (rd32(ph) != PT_LOAD)
			continue;
		snprintf(what, sizeof(what), "ELF segment %u", i);
		if ((uint64_t)off + fsz > len)
			return vmm_errf(err, errlen, -ENOEXEC,
				       "%s: file range [%#x, %#llx) beyond the end of the file (%zu bytes)",
				       what, off, (unsigned long long)off + fsz, len);
		r = mb_add_seg(img, ram_top, off, fsz, paddr, msz, what, err, errlen);
		if (r)
			return r;
		/* entry given as a virtual address: take it to the physical one */
		if (!entry_set && msz && e_entry >= vaddr && e_entry - vaddr < msz) {
			img->entry = paddr + (e_entry - vaddr);
			entry_set = true;
		}
	}
	if (!img->nr_segs)
		return vmm_errf(err, errlen, -ENOEXEC, "ELF has no loadable (PT_LOAD) segment");
	if (!entry_set)
		return vmm_errf(err, errlen, -ENOEXEC, "ELF entry point %#x outside every loaded segment",
			       e_entry);
	return 0;
}

int vmm_mb_parse(const void *buf, size_t len, uint64_t ram_top,
		 struct vmm_mb_image *img, char *err, size_t errlen)
{
	const uint8_t *b = buf;
	size_t lim = len < VMM_MB_SEARCH ? len : VMM_MB_SEARCH, off;
	bool bad_sum = false, found = false;
	uint32_t flags = 0;

	memset(img, 0, sizeof(*img));
	if (err && errlen)
		err[0] = 0;
	if (!ram_top || ram_top > (1ULL << 32))
		ram_top = 1ULL << 32;
	if (!b || len < 12)
		return vmm_errf(err, errlen, -ENOEXEC, "file too short for a multiboot kernel (%zu bytes)",
			       len);
	for (off = 0; off + 12 <= lim; off += 4) {
		if (rd32(b + off) != VMM_MB_HEADER_MAGIC)
			continue;
		flags = rd32(b + off + 4);
		if ((uint32_t)(VMM_MB_HEADER_MAGIC + flags + rd32(b + off + 8))) {
			bad_sum = true;
			continue;
		}
		found = true;
		break;
	}
	if (!found)
		return vmm_errf(err, errlen, -ENOEXEC, bad_sum ?
			       "multiboot header checksum wrong (magic + flags + checksum != 0)" :
			       "no multiboot header (magic 0x1BADB002) in the first 8192 bytes");
	img->header_off = (uint32_t)off;
	img->header_flags = flags;
	if (flags & 0xffff & ~MB_KNOWN_FLAGS)
		return vmm_errf(err, errlen, -ENOEXEC,
			       "multiboot header requires unsupported features (flags %#x, "
			       "unknown required bits %#x)", flags, flags & 0xffff & ~MB_KNOWN_FLAGS);
	img->video_ignored = flags & VMM_MB_F_VIDEO;
	if (flags & VMM_MB_F_AOUT_KLUDGE)
		return mb_parse_aout(b, len, ram_top, img, err, errlen);
	if (len < 4 || memcmp(b, "\177ELF", 4))
		return vmm_errf(err, errlen, -ENOEXEC,
			       "not an ELF file, and the multiboot header has no a.out kludge (flag 16)");
	return mb_parse_elf(b, len, ram_top, img, err, errlen);
}

/* ---------------------------------------------------------------- load -- */

/* Copy (src) or zero (src NULL) guest memory page by page (slots may split). */
static int mb_fill(struct vmm_vm *vm, uint64_t gpa, const uint8_t *src, uint64_t len)
{
	while (len) {
		uint64_t n = VMM_PAGE_SIZE - (gpa & (VMM_PAGE_SIZE - 1));
		uint8_t *p;

		if (n > len)
			n = len;
		p = vmm_gpa_to_hva(vm, gpa, n);
		if (!p)
			return -EFAULT;
		if (src) {
			memcpy(p, src, n);
			src += n;
		} else {
			memset(p, 0, n);
		}
		vmm_mark_dirty(vm, gpa, n);
		gpa += n;
		len -= n;
	}
	return 0;
}

/* End of the RAM that is contiguous from gpa 0 (regions are in gpa order). */
static uint64_t mb_low_top(const struct vmm_vm *vm, const struct vmm_mem_region *rg,
			   unsigned int n)
{
	uint64_t top = 0;
	unsigned int i;

	(void)vm;
	for (i = 0; i < n; i++) {
		if (rg[i].gpa != top)
			break;
		top += rg[i].size;
	}
	return top;
}

int vmm_x86_setup_protmode32(struct vmm_vcpu *v, uint32_t gdt_gpa, uint32_t eip,
			     uint32_t eax, uint32_t ebx)
{
	struct vmm_vm *vm = v->vm;
	struct kvm_sregs s;
	struct kvm_regs r;
	struct kvm_segment code, data;

	if (ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
		return vmm_ioctl_err(vm, "KVM_GET_SREGS");
	memset(&code, 0, sizeof(code));
	code.selector = 0x08;
	code.limit = 0xffffffff;
	code.type = 0xb;	/* execute/read, accessed */
	code.present = 1;
	code.s = 1;
	code.db = 1;
	code.g = 1;
	data = code;
	data.selector = 0x10;
	data.type = 0x3;	/* read/write, accessed */
	s.cs = code;
	s.ds = s.es = s.fs = s.gs = s.ss = data;
	memset(&s.tr, 0, sizeof(s.tr));
	s.tr.limit = 0xffff;
	s.tr.type = 0xb;	/* busy 32-bit TSS, as after reset */
	s.tr.present = 1;
	memset(&s.ldt, 0, sizeof(s.ldt));
	s.ldt.limit = 0xffff;
	s.ldt.type = 0x2;
	s.ldt.present = 1;
	s.gdt.base = gdt_gpa;
	s.gdt.limit = 3 * 8 - 1;
	s.idt.base = 0;
	s.idt.limit = 0x3ff;
	s.cr0 = 0x11;		/* PE | ET */
	s.cr2 = 0;
	s.cr3 = 0;
	s.cr4 = 0;
	s.efer = 0;
	if (ioctl(v->fd, KVM_SET_SREGS, &s) < 0)
		return vmm_ioctl_err(vm, "KVM_SET_SREGS");

	memset(&r, 0, sizeof(r));
	r.rflags = 0x2;
	r.rip = eip;
	r.rax = eax;
	r.rbx = ebx;
	if (ioctl(v->fd, KVM_SET_REGS, &r) < 0)
		return vmm_ioctl_err(vm, "KVM_SET_REGS");
	if (vm->cfg.irqchip) {
		struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_RUNNABLE };

		if (ioctl(v->fd, KVM_SET_MP_STATE, &mp) < 0)
			return vmm_ioctl_err(vm, "KVM_SET_MP_STATE");
	}
	return 0;
}

int vmm_mb_load(struct vmm_vm *vm, const void *buf, size_t len, const char *cmdline)
{
	const struct vmm_mem_region *rg;
	unsigned int nrg = vmm_mem_regions(vm, &rg), i, n = 0;
	uint64_t low_top = mb_low_top(vm, rg, nrg), win = 0, w;
	struct mb_mmap_entry mm[VMM_MAX_REGIONS + 4];
	struct vmm_mb_image img;
	struct mb_info info;
	uint64_t gdt[3];
	size_t clen = cmdline ? strlen(cmdline) : 0;
	char err[256];
	int r;

	if (vm->started) {
		vmm_logf(vm, "multiboot: the VM is already running");
		return -EBUSY;
	}
	if (vm->nr_vcpus > 1 && !vm->cfg.irqchip) {
		vmm_logf(vm, "multiboot: %u vCPUs need the in-kernel irqchip (the APs wait for "
			 "INIT/SIPI); use 1 vCPU", vm->nr_vcpus);
		return -EINVAL;
	}
	if (low_top < 2 * MB_HOLE_END) {
		vmm_logf(vm, "multiboot: needs at least 2 MiB of RAM from address 0");
		return -EINVAL;
	}
	if (clen > VMM_MB_CMDLINE_MAX) {
		vmm_logf(vm, "multiboot: command line of %zu bytes (at most %d)", clen,
			 VMM_MB_CMDLINE_MAX);
		return -E2BIG;
	}
	r = vmm_mb_parse(buf, len, low_top, &img, err, sizeof(err));
	if (r) {
		vmm_logf(vm, "multiboot: %s", err);
		return r;
	}
	if (img.video_ignored)
		vmm_logf(vm, "multiboot: the kernel asks for video mode information: not given");

	/* the boot-data window: first page-aligned fit below the EBDA */
	for (w = 0x1000; w + MB_WIN_SIZE <= MB_LOW_END; w += 0x1000) {
		bool clash = false;

		for (i = 0; i < img.nr_segs && !clash; i++)
			clash = img.segs[i].gpa < w + MB_WIN_SIZE &&
				img.segs[i].gpa + img.segs[i].mem_size > w;
		if (!clash) {
			win = w;
			break;
		}
	}
	if (!win) {
		vmm_logf(vm, "multiboot: the kernel leaves no room below 640 KiB for the boot information");
		return -ENOSPC;
	}

	for (i = 0; i < img.nr_segs; i++) {
		const struct vmm_mb_seg *s = &img.segs[i];

		r = mb_fill(vm, s->gpa, (const uint8_t *)buf + s->file_off, s->file_size);
		if (!r)
			r = mb_fill(vm, s->gpa + s->file_size, NULL, s->mem_size - s->file_size);
		if (r) {
			vmm_logf(vm, "multiboot: segment at %#llx is not in guest RAM",
				 (unsigned long long)s->gpa);
			return r;
		}
	}

	/* memory map: low RAM, EBDA, BIOS, RAM from 1 MiB, then other regions */
	memset(mm, 0, sizeof(mm));
	mm[n++] = (struct mb_mmap_entry){ 20, 0, MB_LOW_END, 1 };
	mm[n++] = (struct mb_mmap_entry){ 20, MB_LOW_END, MB_HOLE_START - MB_LOW_END, 2 };
	mm[n++] = (struct mb_mmap_entry){ 20, MB_BIOS_START, MB_HOLE_END - MB_BIOS_START, 2 };
	mm[n++] = (struct mb_mmap_entry){ 20, MB_HOLE_END, low_top - MB_HOLE_END, 1 };
	for (i = 0; i < nrg; i++) {
		if (rg[i].gpa < low_top)
			continue;
		if (mm[n - 1].addr + mm[n - 1].len == rg[i].gpa && mm[n - 1].addr >= low_top)
			mm[n - 1].len += rg[i].size;
		else
			mm[n++] = (struct mb_mmap_entry){ 20, rg[i].gpa, rg[i].size, 1 };
	}

	memset(&info, 0, sizeof(info));
	info.flags = VMM_MB_INFO_MEM | VMM_MB_INFO_CMDLINE | VMM_MB_INFO_MMAP |
		     VMM_MB_INFO_LOADER;
	info.mem_lower = MB_LOW_END >> 10;
	info.mem_upper = (uint32_t)(((low_top < (1ULL << 32) ? low_top : (1ULL << 32)) -
				     MB_HOLE_END) >> 10);
	info.cmdline = (uint32_t)(win + MB_WIN_CMDLINE);
	info.mmap_length = n * sizeof(mm[0]);
	info.mmap_addr = (uint32_t)(win + MB_WIN_MMAP);
	info.boot_loader_name = (uint32_t)(win + MB_WIN_NAME);

	gdt[0] = 0;
	gdt[1] = 0x00cf9b000000ffffULL;		/* 0x08: code, 32-bit, accessed */
	gdt[2] = 0x00cf93000000ffffULL;		/* 0x10: data, writable, accessed */

	if ((r = mb_fill(vm, win, NULL, MB_WIN_SIZE)) ||
	    (r = mb_fill(vm, win + MB_WIN_GDT, (const uint8_t *)gdt, sizeof(gdt))) ||
	    (r = mb_fill(vm, win + MB_WIN_INFO, (const uint8_t *)&info, sizeof(info))) ||
	    (r = mb_fill(vm, win + MB_WIN_NAME, (const uint8_t *)"kmigrate", 9)) ||
	    (r = mb_fill(vm, win + MB_WIN_MMAP, (const uint8_t *)mm, n * sizeof(mm[0]))) ||
	    (clen && (r = mb_fill(vm, win + MB_WIN_CMDLINE, (const uint8_t *)cmdline, clen))))
		return r;

	/* vCPU 0 only; the APs keep their reset state (wait for SIPI) */
	return vmm_x86_setup_protmode32(&vm->vcpus[0], (uint32_t)(win + MB_WIN_GDT), img.entry,
					VMM_MB_BOOT_MAGIC, (uint32_t)(win + MB_WIN_INFO));
}

int vmm_mb_load_file(struct vmm_vm *vm, const char *path, const char *cmdline)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		vmm_logf(vm, "multiboot: %s: %s", path, strerror(errno));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (1LL << 30)) {
		vmm_logf(vm, "multiboot: %s: not a regular file of at most 1 GiB", path);
		close(fd);
		return -EINVAL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t k = read(fd, buf + got, (size_t)st.st_size - got);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	close(fd);
	if (got != (size_t)st.st_size) {
		vmm_logf(vm, "multiboot: %s: short read", path);
		free(buf);
		return -EIO;
	}
	r = vmm_mb_load(vm, buf, got, cmdline);
	if (r)
		vmm_logf(vm, "multiboot: %s: not loaded", path);
	free(buf);
	return r;
}
