// SPDX-License-Identifier: GPL-2.0
/*
 * Host test of the multiboot (v1) parser, vmm_mb_parse(): no KVM needed.
 * Synthetic ELF32 / a.out-kludge images, malformed on purpose, plus the real
 * test kernel if its path is given (mb_parse_test [mb_guest.elf]): every
 * truncation of it and random byte flips must give a clean error, never a
 * crash.  Prints TAP.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vmm.h"

static int tests, failed;

static void ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ok(bool cond, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d ", cond ? "" : "not ", ++tests);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond)
		failed++;
}

static void w32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void w16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }

#define IMG_SIZE	0x400
#define HDR_OFF		0x80
#define LOAD_GPA	0x100000u

/* A valid ELF32 multiboot kernel: one PT_LOAD of the whole file at 1 MiB. */
static void make_elf(uint8_t *b, uint32_t flags)
{
	memset(b, 0, IMG_SIZE);
	memcpy(b, "\177ELF", 4);
	b[4] = 1;			/* ELFCLASS32 */
	b[5] = 1;			/* little-endian */
	b[6] = 1;
	w16(b + 16, 2);			/* ET_EXEC */
	w16(b + 18, 3);			/* EM_386 */
	w32(b + 20, 1);
	w32(b + 24, LOAD_GPA + 0x100);	/* entry */
	w32(b + 28, 52);		/* phoff */
	w16(b + 40, 52);
	w16(b + 42, 32);
	w16(b + 44, 1);
	/* phdr */
	w32(b + 52, 1);			/* PT_LOAD */
	w32(b + 56, 0);			/* offset */
	w32(b + 60, LOAD_GPA);		/* vaddr */
	w32(b + 64, LOAD_GPA);		/* paddr */
	w32(b + 68, IMG_SIZE);		/* filesz */
	w32(b + 72, 0x2000);		/* memsz */
	w32(b + 76, 5);
	/* multiboot header */
	w32(b + HDR_OFF, VMM_MB_HEADER_MAGIC);
	w32(b + HDR_OFF + 4, flags);
	w32(b + HDR_OFF + 8, (uint32_t)-(VMM_MB_HEADER_MAGIC + flags));
	b[0x100] = 0xf4;		/* hlt */
}

static void set_flags(uint8_t *b, uint32_t off, uint32_t flags)
{
	w32(b + off + 4, flags);
	w32(b + off + 8, (uint32_t)-(VMM_MB_HEADER_MAGIC + flags));
}

/* A flat a.out-kludge image: header at HDR_OFF, loaded at LOAD_GPA. */
static void make_aout(uint8_t *b, uint32_t load_end, uint32_t bss_end, uint32_t entry)
{
	memset(b, 0, IMG_SIZE);
	w32(b + HDR_OFF, VMM_MB_HEADER_MAGIC);
	set_flags(b, HDR_OFF, VMM_MB_F_AOUT_KLUDGE | VMM_MB_F_MEMINFO);
	w32(b + HDR_OFF + 12, LOAD_GPA + HDR_OFF);	/* header_addr */
	w32(b + HDR_OFF + 16, LOAD_GPA);		/* load_addr */
	w32(b + HDR_OFF + 20, load_end);
	w32(b + HDR_OFF + 24, bss_end);
	w32(b + HDR_OFF + 28, entry);
}

static int parse(const void *b, size_t len, uint64_t ram, struct vmm_mb_image *img,
		 char *err)
{
	return vmm_mb_parse(b, len, ram, img, err, 256);
}

/* Expect failure r (0: any negative) with a message containing what. */
static void expect_err(const char *name, const void *b, size_t len, uint64_t ram, int r,
		       const char *what)
{
	struct vmm_mb_image img;
	char err[256];
	int got = parse(b, len, ram, &img, err);

	ok(got < 0 && (!r || got == r) && err[0] && (!what || strstr(err, what)),
	   "%s: refused (%d, \"%s\")", name, got, err);
}

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	b = malloc((size_t)n + 1);
	if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
		free(b);
		b = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return b;
}

int main(int argc, char **argv)
{
	uint8_t b[IMG_SIZE], big[16384];
	struct vmm_mb_image img;
	char err[256];
	unsigned int i;
	int r;

	/* valid synthetic ELF */
	make_elf(b, VMM_MB_F_MEMINFO);
	r = parse(b, sizeof(b), 64 << 20, &img, err);
	ok(!r && img.nr_segs == 1 && img.entry == LOAD_GPA + 0x100 && img.lo == LOAD_GPA &&
	   img.hi == LOAD_GPA + 0x2000 && img.header_off == HDR_OFF && !img.aout_kludge &&
	   img.segs[0].file_size == IMG_SIZE && img.segs[0].mem_size == 0x2000,
	   "synthetic ELF32 parses (%d %s)", r, err);
	ok(!parse(b, sizeof(b), 0, &img, err), "ram_top 0 means 4 GiB");

	/* entry given as a virtual address (vaddr != paddr) */
	make_elf(b, 0);
	w32(b + 60, 0xc0100000);
	w32(b + 24, 0xc0100100);
	r = parse(b, sizeof(b), 64 << 20, &img, err);
	ok(!r && img.entry == LOAD_GPA + 0x100 && img.segs[0].gpa == LOAD_GPA,
	   "virtual entry point translated to the physical one (%#x)", img.entry);

	/* files too short, no header */
	expect_err("empty file", b, 0, 0, -ENOEXEC, "too short");
	expect_err("11 bytes", b, 11, 0, -ENOEXEC, "too short");
	expect_err("NULL buffer", NULL, 100, 0, -ENOEXEC, NULL);
	memset(big, 0x5a, sizeof(big));
	expect_err("no multiboot header", big, sizeof(big), 0, -ENOEXEC, "no multiboot header");
	memset(big, 0, sizeof(big));
	w32(big + 8192, VMM_MB_HEADER_MAGIC);
	w32(big + 8196, 0);
	w32(big + 8200, (uint32_t)-VMM_MB_HEADER_MAGIC);
	expect_err("header at 8192 (outside the search)", big, sizeof(big), 0, -ENOEXEC,
		   "no multiboot header");
	memset(big, 0, sizeof(big));
	w32(big + 0x102, VMM_MB_HEADER_MAGIC);
	w32(big + 0x106, 0);
	w32(big + 0x10a, (uint32_t)-VMM_MB_HEADER_MAGIC);
	expect_err("unaligned header", big, sizeof(big), 0, -ENOEXEC, "no multiboot header");
	make_elf(b, 0);
	w32(b + HDR_OFF + 8, 0x12345678);
	expect_err("header checksum wrong", b, sizeof(b), 0, -ENOEXEC, "checksum");
	expect_err("header cut by the end of the file", b, HDR_OFF + 8, 0, -ENOEXEC, NULL);

	/* flags */
	make_elf(b, 0);
	set_flags(b, HDR_OFF, 1u << 5);
	expect_err("unknown required flag bit 5", b, sizeof(b), 0, -ENOEXEC, "unsupported");
	set_flags(b, HDR_OFF, 1u << 15);
	expect_err("unknown required flag bit 15", b, sizeof(b), 0, -ENOEXEC, "unsupported");
	set_flags(b, HDR_OFF, VMM_MB_F_VIDEO | VMM_MB_F_MEMINFO);
	r = parse(b, sizeof(b), 0, &img, err);
	ok(!r && img.video_ignored, "video mode flag (bit 2) accepted and ignored, as in QEMU");
	set_flags(b, HDR_OFF, (1u << 20) | VMM_MB_F_PAGE_ALIGN);
	ok(!parse(b, sizeof(b), 0, &img, err), "unknown optional flag bit 20 accepted");

	/* not ELF */
	make_elf(b, 0);
	b[0] = 'X';
	expect_err("not an ELF", b, sizeof(b), 0, -ENOEXEC, "not an ELF");
	make_elf(b, 0);
	b[4] = 2;
	expect_err("ELF64", b, sizeof(b), 0, -ENOEXEC, "ELF64");
	make_elf(b, 0);
	b[4] = 7;
	expect_err("ELF class 7", b, sizeof(b), 0, -ENOEXEC, "class");
	make_elf(b, 0);
	b[5] = 2;
	expect_err("big-endian ELF", b, sizeof(b), 0, -ENOEXEC, "endian");
	make_elf(b, 0);
	w16(b + 16, 3);
	expect_err("ET_DYN", b, sizeof(b), 0, -ENOEXEC, "ET_EXEC");
	make_elf(b, 0);
	w16(b + 18, 62);
	expect_err("machine x86-64 in ELF32", b, sizeof(b), 0, -ENOEXEC, "i386");
	make_elf(b, 0);
	w16(b + 42, 56);
	expect_err("phentsize 56", b, sizeof(b), 0, -ENOEXEC, "program header size");
	make_elf(b, 0);
	w32(b + 28, 0xfffffff0);
	expect_err("phoff beyond the file", b, sizeof(b), 0, -ENOEXEC, "outside the file");
	make_elf(b, 0);
	w16(b + 44, 0xffff);
	expect_err("65535 program headers", b, sizeof(b), 0, -ENOEXEC, "outside the file");
	make_elf(b, 0);
	w16(b + 44, 0);
	expect_err("no program headers", b, sizeof(b), 0, -ENOEXEC, NULL);
	make_elf(b, 0);
	w32(b + 52, 4);
	expect_err("no PT_LOAD", b, sizeof(b), 0, -ENOEXEC, "PT_LOAD");
	make_elf(b, 0);
	w32(b + 68, IMG_SIZE + 1);
	w32(b + 72, 0x10000);
	expect_err("segment file range beyond the file", b, sizeof(b), 0, -ENOEXEC, "end of the file");
	make_elf(b, 0);
	w32(b + 56, 0xffffff00);
	expect_err("segment offset wraps", b, sizeof(b), 0, -ENOEXEC, "end of the file");
	make_elf(b, 0);
	w32(b + 72, 0x10);
	expect_err("filesz > memsz", b, sizeof(b), 0, -ENOEXEC, "exceeds memory size");
	make_elf(b, 0);
	expect_err("segment beyond guest memory", b, sizeof(b), LOAD_GPA + 0x1000, -ERANGE,
		   "beyond guest memory");
	make_elf(b, 0);
	w32(b + 64, 0xfffff000);
	expect_err("segment wraps at 4 GiB", b, sizeof(b), 0, -ERANGE, "beyond guest memory");
	make_elf(b, 0);
	w32(b + 64, 0xb8000);
	expect_err("segment in the 640K-1M hole", b, sizeof(b), 0, -ERANGE, "hole");
	make_elf(b, 0);
	w32(b + 24, 0x200000);
	expect_err("entry outside the segments", b, sizeof(b), 0, -ENOEXEC, "entry point");

	/* a.out kludge */
	make_aout(b, 0, LOAD_GPA + 0x3000, LOAD_GPA + 0x100);
	r = parse(b, sizeof(b), 64 << 20, &img, err);
	ok(!r && img.aout_kludge && img.nr_segs == 1 && img.segs[0].file_off == 0 &&
	   img.segs[0].file_size == IMG_SIZE && img.segs[0].mem_size == 0x3000 &&
	   img.entry == LOAD_GPA + 0x100, "a.out kludge parses (%d %s)", r, err);
	make_aout(b, LOAD_GPA + 0x200, 0, LOAD_GPA + 0x100);
	r = parse(b, sizeof(b), 64 << 20, &img, err);
	ok(!r && img.segs[0].file_size == 0x200 && img.segs[0].mem_size == 0x200,
	   "a.out kludge with load_end_addr, no bss");
	make_aout(b, 0, 0, LOAD_GPA + 0x100);
	memcpy(b, "\177ELF", 4);
	b[4] = 2;
	ok(!parse(b, sizeof(b), 0, &img, err) && img.aout_kludge,
	   "a.out kludge wins over the ELF headers (QEMU does the same)");
	make_aout(b, 0, 0, LOAD_GPA + 0x100);
	w32(b + HDR_OFF + 12, LOAD_GPA - 4);
	expect_err("kludge: header_addr < load_addr", b, sizeof(b), 0, -ENOEXEC, "header_addr");
	make_aout(b, 0, 0, LOAD_GPA + 0x100);
	w32(b + HDR_OFF + 12, LOAD_GPA + 0x1000);
	expect_err("kludge: load_addr before the file start", b, sizeof(b), 0, -ENOEXEC, "header_addr");
	make_aout(b, LOAD_GPA + 0x800, 0, LOAD_GPA + 0x100);
	expect_err("kludge: load_end_addr beyond the file", b, sizeof(b), 0, -ENOEXEC, "load_end_addr");
	make_aout(b, LOAD_GPA - 1, 0, LOAD_GPA + 0x100);
	expect_err("kludge: load_end_addr below load_addr", b, sizeof(b), 0, -ENOEXEC, "load_end_addr");
	make_aout(b, LOAD_GPA + 0x200, LOAD_GPA + 0x100, LOAD_GPA + 0x100);
	expect_err("kludge: bss_end_addr below load_end_addr", b, sizeof(b), 0, -ENOEXEC,
		   "bss_end_addr");
	make_aout(b, 0, 0, LOAD_GPA + 0x5000);
	expect_err("kludge: entry outside the image", b, sizeof(b), 0, -ENOEXEC, "entry point");
	make_aout(b, 0, 0xfffff000, LOAD_GPA + 0x100);
	expect_err("kludge: bss beyond guest memory", b, sizeof(b), 64 << 20, -ERANGE,
		   "beyond guest memory");
	make_aout(b, 0, 0, LOAD_GPA + 0x100);
	expect_err("kludge: fields cut by the end of the file", b, HDR_OFF + 20, 0, -ENOEXEC,
		   "cut off");

	/* random byte flips of a valid image: no crash, errors have messages */
	{
		unsigned int bad = 0, good = 0;

		srand(1);
		for (i = 0; i < 20000; i++) {
			unsigned int k, n = 1 + (unsigned int)rand() % 4;

			if (i & 1)
				make_elf(b, VMM_MB_F_MEMINFO);
			else
				make_aout(b, 0, LOAD_GPA + 0x3000, LOAD_GPA + 0x100);
			for (k = 0; k < n; k++)
				b[(unsigned int)rand() % 128] = (uint8_t)rand();
			r = parse(b, (size_t)rand() % (sizeof(b) + 1), 64 << 20, &img, err);
			if (r && !err[0])
				bad++;
			if (!r && (img.entry < img.lo || img.entry >= img.hi || img.hi > (64 << 20)))
				bad++;
			good += !r;
		}
		ok(!bad, "20000 mutated images: no crash, every error explained, "
		   "every accepted one consistent (%u accepted)", good);
	}

	/* the real test kernel */
	if (argc > 1) {
		size_t len, n;
		uint8_t *k = read_file(argv[1], &len);
		unsigned int bad = 0;

		ok(k != NULL, "read %s", argv[1]);
		if (k) {
			r = parse(k, len, 64 << 20, &img, err);
			ok(!r && !img.aout_kludge && img.nr_segs >= 1 && img.lo >= 0x100000 &&
			   img.entry >= img.lo && img.entry < img.hi,
			   "test kernel parses: %u segments [%#llx, %#llx), entry %#x (%s)",
			   img.nr_segs, (unsigned long long)img.lo, (unsigned long long)img.hi,
			   img.entry, err);
			size_t need = 0;

			for (n = 0; n < img.nr_segs; n++)
				if (img.segs[n].file_off + img.segs[n].file_size > need)
					need = img.segs[n].file_off + img.segs[n].file_size;
			for (n = 0; n < len; n++) {
				r = parse(k, n, 64 << 20, &img, err);
				if (n < need ? (!r || !err[0]) : r != 0)
					bad++;
			}
			ok(!bad, "every truncation of the test kernel that cuts its loaded "
			   "data (below %zu bytes) refused with a message, the others load", need);
			free(k);
		}
	} else {
		printf("ok %d test kernel # SKIP no path given\n", ++tests);
	}

	printf("1..%d\n", tests);
	return failed ? 1 : 0;
}
