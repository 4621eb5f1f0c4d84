/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Pre-flight checks of a migration (docs/PROTOCOL.md, PROFILE and CHECK):
 * what the source tells the destination about its guest beyond HELLO (the
 * CPU model, the CPUID table of vCPU 0, the module ABI of its data path),
 * and the destination's admission checks, each failure one line:
 *
 *   version: ...        protocol version (only from `kmigrate check`: a
 *                       destination that refuses the HELLO as such)
 *   cpu: ...            the guest's CPUID needs features this host's KVM
 *                       (or its --cpu-max model) lacks, by name
 *   memory: ...         MemAvailable < guest memory + KM_PF_MEM_OVERHEAD
 *   vcpus: ...          more vCPUs than this host runs
 *   abi: ...            the source's kmigrate.ko ABI differs from the one
 *                       loaded here (only when both have one)
 *   limit: ...          the host's incoming limit is reached
 *
 * The destination sends the lines, newline-separated, as the message of
 * its ERROR (at most KMP_MAX_MSG bytes: long lists end with "...").
 */
#ifndef KM_PREFLIGHT_H
#define KM_PREFLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct vmm_vm;

/* Room for the VMM and the host beyond the guest's RAM. */
#define KM_PF_MEM_OVERHEAD	(32ULL << 20)

/* The guest's model and CPUID (vCPU 0) into @p; @module_abi: 0 (user data
 * path) or KMIGRATE_ABI_VERSION. */
void km_pf_profile(struct vmm_vm *vm, uint32_t module_abi, struct kmp_profile *p);

/* `kmigrate listen --cpu-max MODEL`: NULL, or the most this host offers. */
extern const char *km_pf_cpu_max;

struct km_pf_env {
	const char *cpu_max;	/* this host offers at most this model; NULL: all */
	unsigned int in_active;	/* incoming migrations running here (limit) */
	unsigned int in_max;	/* 0: no limit known */
	bool in_queue;		/* beyond the limit a migration would queue */
};

/*
 * The destination's checks of @h (and @p, NULL without PROFILE).  Returns
 * the number of failed checks, their lines in @msg and in *@code the ERROR
 * code of the first (KMP_E_REFUSED for cpu, KMP_E_RESOURCE for memory and
 * limit, KMP_E_LAYOUT for vCPUs, KMP_E_VERSION for abi).
 */
unsigned int km_pf_dest_check(const struct kmp_hello *h, const struct kmp_profile *p,
			      const struct km_pf_env *env, char *msg, size_t len,
			      uint32_t *code);

/* MemAvailable of /proc/meminfo in bytes; 0 if unknown. */
uint64_t km_pf_mem_available(void);
/* KMIGRATE_ABI_VERSION of the kmigrate.ko loaded here; 0 if none. */
uint32_t km_pf_local_module_abi(void);
/*
 * The module ABI a source puts in PROFILE: 0 on the user data path; on the
 * kernel path the loaded module's (KMIGRATE_GET_VERSION).  Tests only:
 * KMIGRATE_TEST_MODULE_ABI=N in the VM process's environment claims ABI N
 * instead, as KMIGRATE_TEST_HELLO_VERSION claims a protocol version, so
 * that the lab can show a destination refusing an ABI mismatch.
 */
uint32_t km_pf_source_module_abi(bool kernel_path);

#endif /* KM_PREFLIGHT_H */
