// SPDX-License-Identifier: GPL-2.0
/*
 * kmigrate VMM: the built-in workload guest (x86-64 long mode, freestanding).
 *
 * The VMM enters every vCPU at _start (entry.S) already in long mode, with
 * rdi = vCPU index, rsi = params gpa, rdx = 0 (memory base: identity map)
 * and rsp at the top of the vCPU's stack.
 */
#include <stdint.h>

static inline void wl_out8(uint16_t port, uint8_t v)
{
	__asm__ __volatile__("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void wl_out32(uint16_t port, uint32_t v)
{
	__asm__ __volatile__("outl %0, %1" : : "a"(v), "Nd"(port));
}

/*
 * String port input into dst[0..n), backwards (DF set): KVM's emulator
 * writes a forward `rep insb` from its read-ahead buffer in one piece (one
 * dirty-ring entry), a backward one element by element, each store its
 * own ring entry: n entries in one exit.
 */
static inline void wl_ins8(uint16_t port, void *dst, uint32_t n)
{
	uint8_t *last = (uint8_t *)dst + n - 1;

	__asm__ __volatile__("std; rep insb; cld"
			     : "+D"(last), "+c"(n) : "d"(port) : "memory", "cc");
}

#define WL_HAVE_FPU_CHECK 1
#include "wl_core.h"

void wl_guest_main(uint64_t vcpu, uint64_t params_gpa, uint64_t mem_base);

void wl_guest_main(uint64_t vcpu, uint64_t params_gpa, uint64_t mem_base)
{
	(void)params_gpa;
	wl_run((uint8_t *)mem_base, (uint32_t)vcpu);
	for (;;)
		__asm__ __volatile__("cli; hlt");
}

/* gcc may emit calls to these even when freestanding */
void *memset(void *d, int c, unsigned long n);
void *memcpy(void *d, const void *s, unsigned long n);

void *memset(void *d, int c, unsigned long n)
{
	unsigned char *p = d;

	while (n--)
		*p++ = (unsigned char)c;
	return d;
}

void *memcpy(void *d, const void *s, unsigned long n)
{
	unsigned char *p = d;
	const unsigned char *q = s;

	while (n--)
		*p++ = *q++;
	return d;
}
