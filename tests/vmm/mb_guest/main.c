// SPDX-License-Identifier: GPL-2.0
/*
 * The multiboot (v1) test kernel, 32-bit protected mode, no paging.
 *
 * Checks what the loader gave it (magic, mem_lower/mem_upper, memory map
 * with the 640K-1M hole, command line, boot loader name, EFLAGS.IF/VM,
 * CR0.PE/PG, A20), writes a pattern (dword at gpa a = a ^ MB_PATTERN_XOR
 * over [MB_PATTERN_GPA, +MB_PATTERN_SIZE)), prints one line on the workload
 * guest's console port and reports on its event port (tools/vmm/guest/
 * wl_abi.h): code 2 (DONE) with arg 0 when every check passed, code 3
 * (PANIC) with arg = the mask of failed checks otherwise.
 *
 * With "fill" in the command line it first writes every page of RAM below
 * 4 GiB above the heartbeat pages once ("fill=N": the first N MiB of it) (each page's dwords = its gpa ^
 * MB_PATTERN_XOR, with REP STOSL: fast where KVM emulates the stores) and
 * says "mb: filled N MiB": a guest that used all of its memory, then goes
 * quiet.  "ws=N" makes the heartbeat rewrite N pages instead of
 * MB_BEAT_PAGES (a working set), "busy" without the pause between beats.
 *
 * Then, with "halt" in the command line, it halts with interrupts off (the
 * vCPU ends in a VMM without irqchip); else it keeps writing a heartbeat
 * counter into one of MB_BEAT_PAGES pages after the pattern, forever, so
 * that there is something to migrate.
 */
#include <stdint.h>

#define PORT_CONSOLE	0x500
#define PORT_EVENT	0x504
#define EV_DONE		2
#define EV_PANIC	3

#define MB_BOOT_MAGIC	0x2BADB002u
#define MB_PATTERN_GPA	0x400000u
#define MB_PATTERN_SIZE	0x10000u
#define MB_PATTERN_XOR	0x4B4D4D42u	/* "KMMB" */
#define MB_BEAT_GPA	(MB_PATTERN_GPA + MB_PATTERN_SIZE)
#define MB_BEAT_PAGES	256u

/* failed checks */
#define BAD_MAGIC	(1u << 0)
#define BAD_FLAGS	(1u << 1)
#define BAD_MEM		(1u << 2)
#define BAD_MMAP	(1u << 3)
#define BAD_CMDLINE	(1u << 4)
#define BAD_LOADER	(1u << 5)
#define BAD_EFLAGS	(1u << 6)
#define BAD_CR0		(1u << 7)
#define BAD_A20		(1u << 8)
#define BAD_PATTERN	(1u << 9)
#define BAD_SMALL	(1u << 10)

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
};

struct mb_mmap {
	uint32_t size;
	uint32_t addr_lo, addr_hi, len_lo, len_hi;
	uint32_t type;
} __attribute__((packed));

/* must be zero: the loader zeroes bss (global, so that it is really read) */
extern uint32_t mb_bss_word[64];
uint32_t mb_bss_word[64];

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static void puts_(const char *s)
{
	while (*s)
		outb(PORT_CONSOLE, (uint8_t)*s++);
}

static void putn(const char *s, uint32_t max)
{
	while (*s && max--)
		outb(PORT_CONSOLE, (uint8_t)*s++);
}

static void puthex(uint32_t v)
{
	int i;

	puts_("0x");
	for (i = 28; i >= 0; i -= 4)
		outb(PORT_CONSOLE, (uint8_t)"0123456789abcdef"[(v >> i) & 0xf]);
}

static void putdec(uint32_t v)
{
	char b[12];
	int i = 11;

	b[i] = 0;
	do {
		b[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	puts_(b + i);
}

static int has_word(const char *s, const char *w)
{
	const char *p, *q;

	for (; *s; s++) {
		for (p = s, q = w; *q && *p == *q; p++, q++)
			;
		if (!*q)
			return 1;
	}
	return 0;
}

/* The decimal after the first @key ("ws=") in @s, or @def. */
static uint32_t word_value(const char *s, const char *key, uint32_t def)
{
	const char *p, *q;
	uint32_t v = 0;

	for (; *s; s++) {
		for (p = s, q = key; *q && *p == *q; p++, q++)
			;
		if (*q)
			continue;
		if (*p < '0' || *p > '9')
			return def;
		while (*p >= '0' && *p <= '9')
			v = v * 10 + (uint32_t)(*p++ - '0');
		return v;
	}
	return def;
}

static int streq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

void mb_main(uint32_t magic, const struct mb_info *mbi, uint32_t eflags, uint32_t cr0);

void mb_main(uint32_t magic, const struct mb_info *mbi, uint32_t eflags, uint32_t cr0)
{
	volatile uint32_t *w;
	const char *cmdline = "";
	uint32_t bad = 0, mmap_n = 0, ram_kib = 0, i, beat = 0;
	uint64_t top = 0, top_lo = 0;	/* RAM's end; below 4 GiB */
	uint32_t ws = MB_BEAT_PAGES, spin = 1000;

	if (magic != MB_BOOT_MAGIC) {
		/* nothing else can be trusted */
		puts_("mb: bad magic ");
		puthex(magic);
		outb(PORT_CONSOLE, '\n');
		outl(PORT_EVENT, (BAD_MAGIC << 8) | EV_PANIC);
		return;
	}
	if ((mbi->flags & 0x245) != 0x245)	/* mem, cmdline, mmap, loader */
		bad |= BAD_FLAGS;
	if (!(mbi->flags & 1) || mbi->mem_lower < 600 || mbi->mem_lower > 640 ||
	    mbi->mem_upper < 1024)
		bad |= BAD_MEM;
	if (mbi->flags & (1u << 6)) {
		const uint8_t *p = (const uint8_t *)mbi->mmap_addr;
		const uint8_t *end = p + mbi->mmap_length;

		while (p < end) {
			const struct mb_mmap *e = (const void *)p;
			uint64_t a = e->addr_lo | (uint64_t)e->addr_hi << 32;
			uint64_t l = e->len_lo | (uint64_t)e->len_hi << 32;

			if (e->type == 1) {
				ram_kib += (uint32_t)(l >> 10);
				if (a < 0x100000 && a + l > 0xa0000)
					bad |= BAD_MMAP;	/* RAM in the hole */
				if (a + l > top)
					top = a + l;
				if (a < 0x100000000ull && a + l > top_lo)
					top_lo = a + l < 0x100000000ull ? a + l : 0xfffff000ull;
			}
			mmap_n++;
			p += e->size + 4;
		}
		if (!mmap_n || ram_kib < mbi->mem_upper)
			bad |= BAD_MMAP;
	} else {
		bad |= BAD_MMAP;
	}
	if (mbi->flags & (1u << 2))
		cmdline = (const char *)mbi->cmdline;
	else
		bad |= BAD_CMDLINE;
	if (has_word(cmdline, "expect-cmdline") && !has_word(cmdline, "hello=world"))
		bad |= BAD_CMDLINE;
	if (!(mbi->flags & (1u << 9)) || !streq((const char *)mbi->boot_loader_name, "kmigrate"))
		bad |= BAD_LOADER;
	if (eflags & ((1u << 9) | (1u << 17)))	/* IF, VM */
		bad |= BAD_EFLAGS;
	if (!(cr0 & 1) || (cr0 & (1u << 31)))	/* PE, PG */
		bad |= BAD_CR0;
	for (i = 0; i < 64; i++)
		if (((volatile uint32_t *)mb_bss_word)[i])
			bad |= BAD_FLAGS;

	/* room for the A20 probe, the pattern and the heartbeat pages */
	if ((uint64_t)mbi->mem_upper * 1024 + 0x100000 < MB_BEAT_GPA + MB_BEAT_PAGES * 4096) {
		bad |= BAD_SMALL;
	} else {
		volatile uint32_t *lo = (volatile uint32_t *)0x200000;
		volatile uint32_t *hi = (volatile uint32_t *)0x300000;	/* lo | bit 20 */

		*hi = 0x11111111;
		*lo = 0x22222222;
		if (*hi != 0x11111111)
			bad |= BAD_A20;
		*hi = 0;
		*lo = 0;
		for (w = (volatile uint32_t *)MB_PATTERN_GPA;
		     (uint32_t)w < MB_PATTERN_GPA + MB_PATTERN_SIZE; w++)
			*w = (uint32_t)w ^ MB_PATTERN_XOR;
		for (w = (volatile uint32_t *)MB_PATTERN_GPA;
		     (uint32_t)w < MB_PATTERN_GPA + MB_PATTERN_SIZE; w++)
			if (*w != ((uint32_t)w ^ MB_PATTERN_XOR))
				bad |= BAD_PATTERN;
	}

	puts_(bad ? "mb: FAIL" : "mb: ok");
	puts_(" magic=");
	puthex(magic);
	puts_(" mem_lower=");
	putdec(mbi->mem_lower);
	puts_(" mem_upper=");
	putdec(mbi->mem_upper);
	puts_(" mmap=");
	putdec(mmap_n);
	puts_(" eflags=");
	puthex(eflags);
	puts_(" cr0=");
	puthex(cr0);
	puts_(" bad=");
	puthex(bad);
	puts_(" cmdline='");
	putn(cmdline, 100);
	puts_("'\n");
	if (has_word(cmdline, "fill") && !(bad & BAD_SMALL)) {
		uint32_t pg, first = MB_BEAT_GPA + MB_BEAT_PAGES * 4096;
		uint32_t mib = word_value(cmdline, "fill=", 0);

		if (mib && (uint64_t)first + ((uint64_t)mib << 20) < top_lo)
			top_lo = (uint64_t)first + ((uint64_t)mib << 20);

		for (pg = first; pg >= first && (uint64_t)pg + 4096 <= top_lo; pg += 4096) {
			uint32_t dst = pg, n = 1024, v = pg ^ MB_PATTERN_XOR;

			__asm__ volatile("cld; rep stosl" : "+D"(dst), "+c"(n) : "a"(v) : "memory");
		}
		puts_("mb: filled ");
		putdec((uint32_t)((top_lo - first) >> 20));
		puts_(" MiB\n");
	}
	ws = word_value(cmdline, "ws=", MB_BEAT_PAGES);
	if (!ws || (uint64_t)MB_BEAT_GPA + (uint64_t)ws * 4096 > top_lo)
		ws = MB_BEAT_PAGES;
	if (has_word(cmdline, "busy"))
		spin = 0;
	outl(PORT_EVENT, bad ? (bad << 8) | EV_PANIC : EV_DONE);

	if (has_word(cmdline, "halt") || (bad & BAD_SMALL))
		return;
	for (;;) {
		w = (volatile uint32_t *)(MB_BEAT_GPA + (beat % ws) * 4096);
		w[0] = beat;
		w[1] = beat ^ MB_PATTERN_XOR;
		beat++;
		for (i = 0; i < spin; i++)
			__asm__ volatile("pause");
	}
}
