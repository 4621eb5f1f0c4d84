/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Exit status of every kmigrate command.  Documented in kmigrate(8),
 * section EXIT STATUS; scripts rely on these values, so never renumber.
 */
#ifndef KM_EXITCODE_H
#define KM_EXITCODE_H

enum km_exit {
	KM_EXIT_OK		= 0,	/* success */
	KM_EXIT_FAIL		= 1,	/* the operation failed */
	KM_EXIT_USAGE		= 2,	/* bad command line */
	KM_EXIT_NO_MODULE	= 3,	/* kmigrate.ko is not loaded */
	KM_EXIT_PERM		= 4,	/* permission denied (needs CAP_NET_ADMIN) */
	KM_EXIT_BUSY		= 5,	/* run: a disk is in use (locked by another VM) */
	KM_EXIT_UNSUPPORTED	= 6,	/* start: the VM has devices whose state
					 * cannot be migrated yet (virtio) */
	/* kmigrate check: the first failed pre-flight check (preflight.h) */
	KM_EXIT_PF_CPU		= 10,	/* cpu: CPUID features the destination lacks */
	KM_EXIT_PF_MEMORY	= 11,	/* memory: not enough available there */
	KM_EXIT_PF_VERSION	= 12,	/* version: / abi: protocol or module ABI */
	KM_EXIT_PF_LISTENER	= 13,	/* listener: the destination does not answer */
	KM_EXIT_PF_LIMIT	= 14,	/* limit: at its incoming-migration limit */
	KM_EXIT_PF_VCPUS	= 15,	/* vcpus: more vCPUs than it runs */
};

#endif /* KM_EXITCODE_H */
