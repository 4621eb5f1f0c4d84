// SPDX-License-Identifier: GPL-2.0
/* Pre-flight checks of a migration; see preflight.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kmigrate.h>

#include "cpumodel.h"
#include "inlimit.h"
#include "preflight.h"
#include "vmm.h"

const char *km_pf_cpu_max;

void km_pf_profile(struct vmm_vm *vm, uint32_t module_abi, struct kmp_profile *p)
{
	const struct kvm_cpuid2 *c = vmm_vcpu_cpuid(vmm_vcpu(vm, 0));

	memset(p, 0, sizeof(*p));
	snprintf(p->model, sizeof(p->model), "%s", vmm_cpu_model(vm));
	p->module_abi = module_abi;
	for (uint32_t i = 0; c && i < c->nent && i < KMP_MAX_CPUID; i++) {
		p->ent[i].function = c->entries[i].function;
		p->ent[i].index = c->entries[i].index;
		p->ent[i].flags = c->entries[i].flags;
		p->ent[i].eax = c->entries[i].eax;
		p->ent[i].ebx = c->entries[i].ebx;
		p->ent[i].ecx = c->entries[i].ecx;
		p->ent[i].edx = c->entries[i].edx;
		p->nent = i + 1;
	}
}

uint64_t km_pf_mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[128];
	unsigned long long kb = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return (uint64_t)kb << 10;
}

uint32_t km_pf_local_module_abi(void)
{
	struct kmigrate_version ver;
	int fd = open("/dev/kmigrate", O_RDWR | O_CLOEXEC);
	uint32_t abi = 0;

	if (fd < 0)
		return 0;
	memset(&ver, 0, sizeof(ver));
	if (ioctl(fd, KMIGRATE_GET_VERSION, &ver) == 0)
		abi = ver.abi_version;
	close(fd);
	return abi;
}

uint32_t km_pf_source_module_abi(bool kernel_path)
{
	const char *t = getenv("KMIGRATE_TEST_MODULE_ABI");	/* tests only */
	uint32_t abi;

	if (!kernel_path)
		return 0;
	if (t && *t)
		return (uint32_t)strtoul(t, NULL, 0);
	abi = km_pf_local_module_abi();
	return abi ? abi : KMIGRATE_ABI_VERSION;
}

struct pf_out {
	char *msg;
	size_t len, used;
	unsigned int n;
	uint32_t *code;
};

static void pf_fail(struct pf_out *o, uint32_t code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void pf_fail(struct pf_out *o, uint32_t code, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!o->n++)
		*o->code = code;
	if (o->used + 2 >= o->len)
		return;
	if (o->used)
		o->msg[o->used++] = '\n';
	va_start(ap, fmt);
	n = vsnprintf(o->msg + o->used, o->len - o->used, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	o->used += (size_t)n < o->len - o->used ? (size_t)n : o->len - o->used - 1;
}

static void pf_cpu(const struct kmp_profile *p, const struct km_pf_env *env, struct pf_out *o)
{
	struct vmm_cpuid_ent g[KMP_MAX_CPUID];
	struct kvm_cpuid2 *offer = vmm_kvm_supported_cpuid(-1);
	char missing[200], why[200];
	unsigned int n;

	if (!offer) {
		pf_fail(o, KMP_E_REFUSED, "cpu: this host's KVM is not usable (/dev/kvm: %s)",
			strerror(errno));
		return;
	}
	if (env && env->cpu_max && vmm_cpumodel_apply(env->cpu_max, offer, why, sizeof(why))) {
		pf_fail(o, KMP_E_REFUSED, "cpu: this host's limit --cpu-max %s is beyond its KVM "
			"(lacks %s)", env->cpu_max, why);
		free(offer);
		return;
	}
	for (uint32_t i = 0; i < p->nent; i++) {
		g[i].function = p->ent[i].function;
		g[i].index = p->ent[i].index;
		g[i].eax = p->ent[i].eax;
		g[i].ebx = p->ent[i].ebx;
		g[i].ecx = p->ent[i].ecx;
		g[i].edx = p->ent[i].edx;
	}
	n = vmm_cpuid_missing(g, p->nent, offer, missing, sizeof(missing));
	if (n && env && env->cpu_max)
		pf_fail(o, KMP_E_REFUSED, "cpu: guest (model %s) needs %u feature%s this host "
			"(--cpu-max %s) lacks: %s", p->model, n, n == 1 ? "" : "s",
			env->cpu_max, missing);
	else if (n)
		pf_fail(o, KMP_E_REFUSED, "cpu: guest (model %s) needs %u feature%s this host's "
			"KVM lacks: %s", p->model, n, n == 1 ? "" : "s", missing);
	free(offer);
}

unsigned int km_pf_dest_check(const struct kmp_hello *h, const struct kmp_profile *p,
			      const struct km_pf_env *env, char *msg, size_t len,
			      uint32_t *code)
{
	struct pf_out o = { .msg = msg, .len = len, .code = code };
	uint64_t avail = km_pf_mem_available();

	if (len)
		msg[0] = 0;
	*code = KMP_OK;
	if (p)
		pf_cpu(p, env, &o);
	/* SPARSE: what the guest holds on the source, not what it may grow to */
	if (p && (h->features_required & KMP_FR_SPARSE)) {
		if (avail && avail < p->mem_populated + KM_PF_MEM_OVERHEAD)
			pf_fail(&o, KMP_E_RESOURCE, "memory: destination has %" PRIu64 " MiB "
				"available, guest uses %" PRIu64 " MiB of its %" PRIu64 " MiB + %llu "
				"MiB", avail >> 20, p->mem_populated >> 20, h->mem_size >> 20,
				KM_PF_MEM_OVERHEAD >> 20);
	} else if (avail && avail < h->mem_size + KM_PF_MEM_OVERHEAD) {
		pf_fail(&o, KMP_E_RESOURCE, "memory: destination has %" PRIu64 " MiB available, "
			"guest needs %" PRIu64 " MiB + %llu MiB", avail >> 20, h->mem_size >> 20,
			KM_PF_MEM_OVERHEAD >> 20);
	}
	if (h->nr_vcpus > VMM_MAX_VCPUS)
		pf_fail(&o, KMP_E_LAYOUT, "vcpus: guest has %u vCPUs, this host runs at most %u",
			h->nr_vcpus, (unsigned int)VMM_MAX_VCPUS);
	if (p && p->module_abi) {
		uint32_t abi = km_pf_local_module_abi();

		if (abi && abi != p->module_abi)
			pf_fail(&o, KMP_E_VERSION, "abi: source's kmigrate.ko speaks ABI %u, "
				"this host's %u", p->module_abi, abi);
	}
	if (env && env->in_max && env->in_active >= env->in_max)
		pf_fail(&o, KMP_E_RESOURCE, "limit: %u of %u incoming migrations already run "
			"here (a migration would %s)", env->in_active, env->in_max,
			env->in_queue ? "wait for one to end, up to " KM_IN_QUEUE_S " s" :
			"be refused");
	return o.n;
}
