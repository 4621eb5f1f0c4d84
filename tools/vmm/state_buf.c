// SPDX-License-Identifier: GPL-2.0
/*
 * libvmm: the serialised state form (struct vmm_state_hdr in vmm.h): building
 * it section by section, checking it on the way in, finding sections, and
 * comparing two vCPU states.  What goes into it is state.c's (vCPUs, VM)
 * and devstate.c's (devices).
 */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define MSR_IA32_TSC	0x10
/* Hyper-V counters that advance with time: the vCPU's run time and the
 * partition reference counter. */
#define HV_X64_MSR_VP_RUNTIME		0x40000010
#define HV_X64_MSR_TIME_REF_COUNT	0x40000020

/* MSRs whose value is a clock: they never read back equal. */
static bool msr_is_clock(uint32_t index)
{
	return index == MSR_IA32_TSC || index == HV_X64_MSR_VP_RUNTIME ||
	       index == HV_X64_MSR_TIME_REF_COUNT;
}

/* -------------------------------------------------------- serialising -- */

static const char *const type_names[] = {
	[VMM_ST_CPUID] = "cpuid", [VMM_ST_REGS] = "regs", [VMM_ST_SREGS] = "sregs",
	[VMM_ST_FPU] = "fpu", [VMM_ST_XSAVE] = "xsave", [VMM_ST_XCRS] = "xcrs",
	[VMM_ST_MSRS] = "msrs", [VMM_ST_EVENTS] = "events",
	[VMM_ST_MP_STATE] = "mp_state", [VMM_ST_DEBUGREGS] = "debugregs",
	[VMM_ST_LAPIC] = "lapic", [VMM_ST_TSC] = "tsc", [VMM_ST_CLOCK] = "clock",
	[VMM_ST_IRQCHIP] = "irqchip", [VMM_ST_PIT2] = "pit2",
	[VMM_ST_VMINFO] = "vminfo", [VMM_ST_DEVICE] = "device",
};

const char *vmm_state_type_name(uint32_t type)
{
	if (type < sizeof(type_names) / sizeof(type_names[0]) && type_names[type])
		return type_names[type];
	return "?";
}

static size_t pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

void vmm_state_free(struct vmm_state *st)
{
	free(st->buf);
	st->buf = NULL;
	st->size = st->cap = 0;
}

static int st_reserve(struct vmm_state *st, size_t more)
{
	size_t need = st->size + more, cap = st->cap ? st->cap : 4096;
	uint8_t *p;

	if (need <= st->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	p = realloc(st->buf, cap);
	if (!p)
		return -ENOMEM;
	memset(p + st->cap, 0, cap - st->cap);
	st->buf = p;
	st->cap = cap;
	return 0;
}

int vmm_state_begin(struct vmm_state *st, uint16_t kind, uint32_t index)
{
	struct vmm_state_hdr *h;

	st->size = 0;
	if (st_reserve(st, sizeof(*h)))
		return -ENOMEM;
	h = (struct vmm_state_hdr *)st->buf;
	memset(h, 0, sizeof(*h));
	h->magic = VMM_STATE_MAGIC;
	h->version = VMM_STATE_VERSION;
	h->hdr_size = sizeof(*h);
	h->arch = VMM_STATE_ARCH_X86_64;
	h->kind = kind;
	h->index = index;
	st->size = sizeof(*h);
	h->total_size = (uint32_t)st->size;
	return 0;
}

int vmm_state_add(struct vmm_state *st, uint32_t type, const void *data,
		  size_t size, uint32_t count)
{
	struct vmm_state_hdr *h;
	struct vmm_state_sec *s;

	if (size > UINT32_MAX / 2 || st_reserve(st, sizeof(*s) + pad8(size)))
		return -ENOMEM;
	s = (struct vmm_state_sec *)(st->buf + st->size);
	s->type = type;
	s->size = (uint32_t)size;
	s->count = count;
	s->flags = 0;
	memcpy(s + 1, data, size);
	memset((uint8_t *)(s + 1) + size, 0, pad8(size) - size);
	st->size += sizeof(*s) + pad8(size);
	h = (struct vmm_state_hdr *)st->buf;
	h->nr_sections++;
	h->total_size = (uint32_t)st->size;
	return 0;
}

int vmm_state_check(const void *buf, size_t len)
{
	const struct vmm_state_hdr *h = buf;
	size_t off;
	uint32_t i;

	if (len < sizeof(*h) || h->magic != VMM_STATE_MAGIC ||
	    h->version != VMM_STATE_VERSION || h->hdr_size != sizeof(*h) ||
	    h->arch != VMM_STATE_ARCH_X86_64 || h->total_size > len ||
	    h->total_size < sizeof(*h))
		return -EBADMSG;
	off = sizeof(*h);
	for (i = 0; i < h->nr_sections; i++) {
		const struct vmm_state_sec *s = (const void *)((const uint8_t *)buf + off);

		if (h->total_size - off < sizeof(*s))
			return -EBADMSG;
		off += sizeof(*s);
		if (h->total_size - off < pad8(s->size))
			return -EBADMSG;
		off += pad8(s->size);
	}
	return off == h->total_size ? 0 : -EBADMSG;
}

int vmm_state_from_buf(struct vmm_state *st, const void *buf, size_t len)
{
	int r = vmm_state_check(buf, len);

	if (r)
		return r;
	len = ((const struct vmm_state_hdr *)buf)->total_size;
	st->size = 0;
	if (st_reserve(st, len))
		return -ENOMEM;
	memcpy(st->buf, buf, len);
	st->size = len;
	return 0;
}

const struct vmm_state_hdr *vmm_state_hdr(const struct vmm_state *st)
{
	return st->size >= sizeof(struct vmm_state_hdr) ? (const void *)st->buf : NULL;
}

const void *vmm_state_find(const struct vmm_state *st, uint32_t type,
			   uint32_t *size, uint32_t *count)
{
	const struct vmm_state_hdr *h = vmm_state_hdr(st);
	size_t off = sizeof(*h);
	uint32_t i;

	if (!h)
		return NULL;
	for (i = 0; i < h->nr_sections; i++) {
		const struct vmm_state_sec *s = (const void *)(st->buf + off);

		if (s->type == type) {
			if (size)
				*size = s->size;
			if (count)
				*count = s->count;
			return s + 1;
		}
		off += sizeof(*s) + pad8(s->size);
	}
	return NULL;
}

/* A fixed-size section of exactly the expected size, or NULL. */
const void *vmm_state_find_nth(const struct vmm_state *st, uint32_t type, uint32_t n,
			       uint32_t *size)
{
	const struct vmm_state_hdr *h = vmm_state_hdr(st);
	size_t off = sizeof(*h);
	uint32_t i;

	if (!h)
		return NULL;
	for (i = 0; i < h->nr_sections; i++) {
		const struct vmm_state_sec *s = (const void *)(st->buf + off);

		if (s->type == type && !n--) {
			if (size)
				*size = s->size;
			return s + 1;
		}
		off += sizeof(*s) + pad8(s->size);
	}
	return NULL;
}

const void *vmm_state_get(const struct vmm_state *st, uint32_t type, size_t size)
{
	uint32_t sz;
	const void *p = vmm_state_find(st, type, &sz, NULL);

	return p && sz == size ? p : NULL;
}

/* ---------------------------------------------------------- comparing -- */

static int vmm_compare_msrs(const struct kvm_msr_entry *a, uint32_t na,
			    const struct kvm_msr_entry *b, uint32_t nb, FILE *out)
{
	uint32_t i, j;
	int diffs = 0;

	for (i = 0; i < na; i++) {
		if (msr_is_clock(a[i].index))
			continue;
		for (j = 0; j < nb && b[j].index != a[i].index; j++)
			;
		if (j == nb || b[j].data != a[i].data) {
			if (out && diffs < 16)
				fprintf(out, "  msr %#x: %#llx vs %s%#llx\n", a[i].index,
					(unsigned long long)a[i].data, j == nb ? "missing " : "",
					j == nb ? 0ULL : (unsigned long long)b[j].data);
			diffs++;
		}
	}
	if (na != nb) {
		if (out)
			fprintf(out, "  msr count %u vs %u\n", na, nb);
		diffs++;
	}
	return diffs;
}

int vmm_state_compare(const struct vmm_state *a, const struct vmm_state *b, FILE *out)
{
	const struct vmm_state_hdr *h = vmm_state_hdr(a);
	size_t off;
	uint32_t i;
	int sections = 0;

	if (!h || !vmm_state_hdr(b))
		return -EINVAL;
	off = sizeof(*h);
	for (i = 0; i < h->nr_sections; i++) {
		const struct vmm_state_sec *s = (const void *)(a->buf + off);
		const void *pa = s + 1, *pb;
		uint32_t sb, cb, k;

		off += sizeof(*s) + pad8(s->size);
		if (s->type == VMM_ST_TSC)
			continue;
		pb = vmm_state_find(b, s->type, &sb, &cb);
		if (!pb) {
			if (out)
				fprintf(out, "  %s: missing\n", vmm_state_type_name(s->type));
			sections++;
			continue;
		}
		if (s->type == VMM_ST_MSRS) {
			if (vmm_compare_msrs(pa, s->count, pb, cb, out)) {
				if (out)
					fprintf(out, "  msrs: differ\n");
				sections++;
			}
			continue;
		}
		if (sb != s->size || memcmp(pa, pb, sb)) {
			if (out) {
				fprintf(out, "  %s: differs (%u vs %u bytes)", vmm_state_type_name(s->type),
					s->size, sb);
				for (k = 0; k < s->size && k < sb; k++)
					if (((const uint8_t *)pa)[k] != ((const uint8_t *)pb)[k]) {
						fprintf(out, ", first at byte %u", k);
						break;
					}
				fputc('\n', out);
			}
			sections++;
		}
	}
	return sections;
}
