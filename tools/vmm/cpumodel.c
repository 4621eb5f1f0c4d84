// SPDX-License-Identifier: GPL-2.0
/* CPU models: the CPUID a guest sees; see cpumodel.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cpumodel.h"
#include "internal.h"

enum { R_EAX, R_EBX, R_ECX, R_EDX };

/* Models, one bit each. */
#define M_V1	0x01u
#define M_V2	0x02u
#define M_V3	0x04u
#define M_V4	0x08u
#define M_Q64	0x10u
#define L1	(M_V1 | M_V2 | M_V3 | M_V4 | M_Q64)	/* x86-64 baseline */
#define L2	(M_V2 | M_V3 | M_V4)
#define L3	(M_V3 | M_V4)
#define L4	(M_V4)

static const struct model {
	const char *name;
	unsigned int bit;
} models[] = {
	{ "x86-64-v1", M_V1 },
	{ "x86-64-v2", M_V2 },
	{ "x86-64-v3", M_V3 },
	{ "x86-64-v4", M_V4 },
	{ "qemu64", M_Q64 },
};

/* The feature bits a model may mask, with their /proc/cpuinfo names. */
static const struct feat {
	uint32_t leaf, sub;
	uint8_t reg, bit;
	const char *name;
	unsigned int models;
} feats[] = {
	/* leaf 1 edx: the x86-64 baseline (psABI v1 and what every x86-64 has) */
	{ 1, 0, R_EDX, 0, "fpu", L1 },	{ 1, 0, R_EDX, 1, "vme", 0 },
	{ 1, 0, R_EDX, 2, "de", L1 },	{ 1, 0, R_EDX, 3, "pse", L1 },
	{ 1, 0, R_EDX, 4, "tsc", L1 },	{ 1, 0, R_EDX, 5, "msr", L1 },
	{ 1, 0, R_EDX, 6, "pae", L1 },	{ 1, 0, R_EDX, 7, "mce", L1 },
	{ 1, 0, R_EDX, 8, "cx8", L1 },	{ 1, 0, R_EDX, 9, "apic", L1 },
	{ 1, 0, R_EDX, 11, "sep", L1 },	{ 1, 0, R_EDX, 12, "mtrr", L1 },
	{ 1, 0, R_EDX, 13, "pge", L1 },	{ 1, 0, R_EDX, 14, "mca", L1 },
	{ 1, 0, R_EDX, 15, "cmov", L1 },	{ 1, 0, R_EDX, 16, "pat", L1 },
	{ 1, 0, R_EDX, 17, "pse36", L1 },	{ 1, 0, R_EDX, 19, "clflush", L1 },
	{ 1, 0, R_EDX, 23, "mmx", L1 },	{ 1, 0, R_EDX, 24, "fxsr", L1 },
	{ 1, 0, R_EDX, 25, "sse", L1 },	{ 1, 0, R_EDX, 26, "sse2", L1 },
	{ 1, 0, R_EDX, 28, "ht", 0 },
	{ 0x80000001, 0, R_EDX, 11, "syscall", L1 },
	{ 0x80000001, 0, R_EDX, 20, "nx", L1 },
	{ 0x80000001, 0, R_EDX, 29, "lm", L1 },
	{ 0x80000001, 0, R_EDX, 26, "pdpe1gb", 0 },
	{ 0x80000001, 0, R_EDX, 27, "rdtscp", 0 },
	/* psABI v2 (qemu64 has sse3, cx16, lahf_lm of it) */
	{ 1, 0, R_ECX, 0, "pni", L2 | M_Q64 },	/* sse3 */
	{ 1, 0, R_ECX, 9, "ssse3", L2 },
	{ 1, 0, R_ECX, 13, "cx16", L2 | M_Q64 },
	{ 1, 0, R_ECX, 19, "sse4_1", L2 },
	{ 1, 0, R_ECX, 20, "sse4_2", L2 },
	{ 1, 0, R_ECX, 23, "popcnt", L2 },
	{ 0x80000001, 0, R_ECX, 0, "lahf_lm", L2 | M_Q64 },
	/* psABI v3 */
	{ 1, 0, R_ECX, 12, "fma", L3 },
	{ 1, 0, R_ECX, 22, "movbe", L3 },
	{ 1, 0, R_ECX, 26, "xsave", L3 },
	{ 1, 0, R_ECX, 28, "avx", L3 },
	{ 1, 0, R_ECX, 29, "f16c", L3 },
	{ 7, 0, R_EBX, 3, "bmi1", L3 },
	{ 7, 0, R_EBX, 5, "avx2", L3 },
	{ 7, 0, R_EBX, 8, "bmi2", L3 },
	{ 0x80000001, 0, R_ECX, 5, "abm", L3 },	/* lzcnt */
	/* psABI v4 */
	{ 7, 0, R_EBX, 16, "avx512f", L4 },
	{ 7, 0, R_EBX, 17, "avx512dq", L4 },
	{ 7, 0, R_EBX, 28, "avx512cd", L4 },
	{ 7, 0, R_EBX, 30, "avx512bw", L4 },
	{ 7, 0, R_EBX, 31, "avx512vl", L4 },
	/* beyond every baseline: named so that a host model's guest can say
	 * what a destination lacks */
	{ 1, 0, R_ECX, 1, "pclmulqdq", 0 },
	{ 1, 0, R_ECX, 25, "aes", 0 },
	{ 1, 0, R_ECX, 30, "rdrand", 0 },
	{ 7, 0, R_EBX, 0, "fsgsbase", 0 },
	{ 7, 0, R_EBX, 9, "erms", 0 },
	{ 7, 0, R_EBX, 18, "rdseed", 0 },
	{ 7, 0, R_EBX, 19, "adx", 0 },
	{ 7, 0, R_EBX, 20, "smap", 0 },
	{ 7, 0, R_EBX, 7, "smep", 0 },
	{ 7, 0, R_EBX, 29, "sha_ni", 0 },
	{ 7, 0, R_ECX, 2, "umip", 0 },
	{ 7, 0, R_ECX, 9, "vaes", 0 },
	{ 7, 0, R_EDX, 4, "fsrm", 0 },
	{ 0x80000001, 0, R_ECX, 2, "svm", 0 },
	{ 0x80000001, 0, R_ECX, 6, "sse4a", 0 },
	{ 0x80000001, 0, R_ECX, 8, "3dnowprefetch", 0 },
	/* leaf 0xd: the XSAVE state components (XCR0 bits of subleaf 0) of
	 * the baselines with xsave: x87, SSE, AVX (v3); opmask, ZMM_Hi256,
	 * Hi16_ZMM (v4); the rest only for the host model */
	{ 0xd, 0, R_EAX, 0, "xstate_x87", L3 },
	{ 0xd, 0, R_EAX, 1, "xstate_sse", L3 },
	{ 0xd, 0, R_EAX, 2, "xstate_avx", L3 },
	{ 0xd, 0, R_EAX, 3, "xstate_bndregs", 0 },
	{ 0xd, 0, R_EAX, 4, "xstate_bndcsr", 0 },
	{ 0xd, 0, R_EAX, 5, "xstate_opmask", L4 },
	{ 0xd, 0, R_EAX, 6, "xstate_zmm_hi256", L4 },
	{ 0xd, 0, R_EAX, 7, "xstate_hi16_zmm", L4 },
	{ 0xd, 0, R_EAX, 9, "xstate_pkru", 0 },
	{ 0xd, 0, R_EAX, 17, "xstate_xtilecfg", 0 },
	{ 0xd, 0, R_EAX, 18, "xstate_xtiledata", 0 },
	/* subleaf 1: beyond every baseline (a baseline guest uses XSAVE and
	 * XRSTOR only, and no supervisor state) */
	{ 0xd, 1, R_EAX, 0, "xsaveopt", 0 },
	{ 0xd, 1, R_EAX, 1, "xsavec", 0 },
	{ 0xd, 1, R_EAX, 2, "xgetbv1", 0 },
	{ 0xd, 1, R_EAX, 3, "xsaves", 0 },
};

/* Bits that are no ISA feature: never masked, never compared. */
static const struct { uint32_t leaf; uint8_t reg; uint32_t mask; } passthrough[] = {
	{ 1, R_ECX, (1u << 21) | (1u << 24) | (1u << 27) | (1u << 31) },
};

/* Registers a baseline masks to the bits of its features. */
static const struct { uint32_t leaf, sub; uint8_t reg; } masked_regs[] = {
	{ 1, 0, R_ECX }, { 1, 0, R_EDX }, { 7, 0, R_EBX }, { 7, 0, R_ECX }, { 7, 0, R_EDX },
	{ 0x80000001, 0, R_ECX }, { 0x80000001, 0, R_EDX },
	{ 0xd, 0, R_EAX }, { 0xd, 0, R_EDX },	/* XCR0 components */
	{ 0xd, 1, R_EAX },			/* xsaveopt xsavec xgetbv1 xsaves */
	{ 0xd, 1, R_ECX }, { 0xd, 1, R_EDX },	/* IA32_XSS components: none */
};

#define ARRAY_N(a) (sizeof(a) / sizeof((a)[0]))

/* The XSAVE area's legacy region (512) and header (64): components 0, 1. */
#define XSTATE_LEGACY_HDR	576u

static const struct model *model_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_N(models); i++)
		if (!strcmp(models[i].name, name))
			return &models[i];
	return NULL;
}

const char *vmm_cpu_model(const struct vmm_vm *vm)
{
	return vm->cfg.cpu_model ? vm->cfg.cpu_model : VMM_CPU_HOST;
}

bool vmm_cpumodel_known(const char *name)
{
	return name && (!strcmp(name, VMM_CPU_HOST) || model_find(name));
}

const char *vmm_cpumodel_list(void)
{
	return "host, x86-64-v1, x86-64-v2, x86-64-v3, x86-64-v4, qemu64";
}

static uint32_t *reg_of(struct kvm_cpuid_entry2 *e, unsigned int reg)
{
	switch (reg) {
	case R_EAX: return &e->eax;
	case R_EBX: return &e->ebx;
	case R_ECX: return &e->ecx;
	}
	return &e->edx;
}

static struct kvm_cpuid_entry2 *find(struct kvm_cpuid2 *c, uint32_t leaf, uint32_t sub)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == leaf && c->entries[i].index == sub)
			return &c->entries[i];
	return NULL;
}

static void add_name(char *out, size_t len, size_t *used, const char *name)
{
	int n;

	if (!len || *used >= len)
		return;
	if (*used + strlen(name) + 5 >= len) {
		if (!strstr(out, "..."))
			*used += (size_t)snprintf(out + *used, len - *used, "%s...",
						  *used ? " " : "");
		return;
	}
	n = snprintf(out + *used, len - *used, "%s%s", *used ? " " : "", name);
	if (n > 0)
		*used += (size_t)n;
}

/*
 * Leaf 0xd after masking: without xsave (leaf 1 ecx bit 26) the whole leaf
 * reads 0, as on a CPU without XSAVE.  With it, a component subleaf (2..63)
 * of a component no longer in XCR0 (subleaf 0 eax/edx) or IA32_XSS
 * (subleaf 1 ecx/edx) reads 0, and the sizes follow the components left:
 * subleaf 0 ebx and ecx the standard-format size of all of them (as KVM
 * reports its offer; KVM updates ebx to the guest's XCR0 as it runs),
 * subleaf 1 ebx (the compacted size) 0 when neither xsavec nor xsaves is
 * left.
 */
static void xstate_fixup(struct kvm_cpuid2 *c)
{
	struct kvm_cpuid_entry2 *l1 = find(c, 1, 0), *s0 = find(c, 0xd, 0), *s1 = find(c, 0xd, 1);
	bool xsave = l1 && (l1->ecx & (1u << 26));
	uint64_t xcr0 = s0 ? s0->eax | (uint64_t)s0->edx << 32 : 0;
	uint64_t xss = s1 ? s1->ecx | (uint64_t)s1->edx << 32 : 0;
	uint32_t std = XSTATE_LEGACY_HDR;

	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		uint32_t idx = e->index;

		if (e->function != 0xd)
			continue;
		if (!xsave || (idx >= 2 && (idx >= 64 || !((xcr0 | xss) & (1ull << idx))))) {
			e->eax = e->ebx = e->ecx = e->edx = 0;
			continue;
		}
		if (idx < 2 || !e->eax)
			continue;
		/* ecx bit 0: a supervisor component (no standard offset) */
		if (!(e->ecx & 1) && e->ebx + e->eax > std)
			std = e->ebx + e->eax;
	}
	if (!xsave)
		return;
	if (s0)
		s0->ebx = s0->ecx = std;
	/* the compacted size (XSAVEC/XSAVES): no baseline has either */
	if (s1 && !(s1->eax & ((1u << 1) | (1u << 3))))
		s1->ebx = 0;
}

int vmm_cpumodel_apply(const char *name, struct kvm_cpuid2 *c, char *missing, size_t len)
{
	const struct model *m;
	unsigned int nmiss = 0;
	size_t used = 0;

	if (len)
		missing[0] = 0;
	if (!name || !strcmp(name, VMM_CPU_HOST))
		return 0;
	m = model_find(name);
	if (!m)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_N(feats); i++) {
		const struct feat *f = &feats[i];
		struct kvm_cpuid_entry2 *e;

		if (!(f->models & m->bit))
			continue;
		e = find(c, f->leaf, f->sub);
		if (!e || !(*reg_of(e, f->reg) & (1u << f->bit))) {
			add_name(missing, len, &used, f->name);
			nmiss++;
		}
	}
	if (nmiss)
		return -ENOTSUP;
	for (size_t i = 0; i < ARRAY_N(masked_regs); i++) {
		struct kvm_cpuid_entry2 *e = find(c, masked_regs[i].leaf, masked_regs[i].sub);
		uint32_t keep = 0;

		if (!e)
			continue;
		for (size_t j = 0; j < ARRAY_N(feats); j++)
			if (feats[j].leaf == masked_regs[i].leaf &&
			    feats[j].sub == masked_regs[i].sub &&
			    feats[j].reg == masked_regs[i].reg && (feats[j].models & m->bit))
				keep |= 1u << feats[j].bit;
		for (size_t j = 0; j < ARRAY_N(passthrough); j++)
			if (passthrough[j].leaf == masked_regs[i].leaf &&
			    passthrough[j].reg == masked_regs[i].reg)
				keep |= passthrough[j].mask;
		*reg_of(e, masked_regs[i].reg) &= keep;
	}
	xstate_fixup(c);
	return 0;
}

unsigned int vmm_cpuid_missing(const struct vmm_cpuid_ent *guest, unsigned int ng,
			       const struct kvm_cpuid2 *offer, char *out, size_t len)
{
	unsigned int nmiss = 0;
	size_t used = 0;

	if (len)
		out[0] = 0;
	for (size_t i = 0; i < ARRAY_N(feats); i++) {
		const struct feat *f = &feats[i];
		const struct vmm_cpuid_ent *g = NULL;
		struct kvm_cpuid_entry2 *o;
		struct kvm_cpuid_entry2 ge;

		for (unsigned int j = 0; j < ng; j++)
			if (guest[j].function == f->leaf && guest[j].index == f->sub)
				g = &guest[j];
		if (!g)
			continue;
		memset(&ge, 0, sizeof(ge));
		ge.eax = g->eax;
		ge.ebx = g->ebx;
		ge.ecx = g->ecx;
		ge.edx = g->edx;
		if (!(*reg_of(&ge, f->reg) & (1u << f->bit)))
			continue;
		o = find((struct kvm_cpuid2 *)offer, f->leaf, f->sub);
		if (o && (*reg_of(o, f->reg) & (1u << f->bit)))
			continue;
		add_name(out, len, &used, f->name);
		nmiss++;
	}
	return nmiss;
}

struct kvm_cpuid2 *vmm_kvm_supported_cpuid(int kvm_fd)
{
	struct kvm_cpuid2 *c;
	int fd = kvm_fd, n = 64, err;

	if (fd < 0) {
		fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
		if (fd < 0)
			return NULL;
	}
	for (;;) {
		c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c) {
			err = ENOMEM;
			break;
		}
		c->nent = n;
		if (ioctl(fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			if (kvm_fd < 0)
				close(fd);
			return c;
		}
		err = errno;
		free(c);
		c = NULL;
		if (err != E2BIG || n >= 4096)
			break;
		n *= 2;
	}
	if (kvm_fd < 0)
		close(fd);
	errno = err;
	return NULL;
}
