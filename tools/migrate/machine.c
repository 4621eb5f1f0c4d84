// SPDX-License-Identifier: GPL-2.0
/* The MACHINE record from a VM and into a VM (libvmm); see machine.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "machine.h"

int km_machine_describe(struct vmm_vm *vm, bool linux_board, struct kmp_machine *m,
			char *err, size_t errlen)
{
	struct vmm_dev_info di;
	unsigned int i;
	int r;

	memset(m, 0, sizeof(*m));
	m->flags = linux_board ? KMP_MACHINE_F_LINUX : 0;
	for (i = 0; !vmm_dev_info(vm, i, &di); i++) {
		struct kmp_dev *d = &m->dev[i];

		if (i >= KMP_MAX_DEVICES) {
			snprintf(err, errlen, "more than %u devices", KMP_MAX_DEVICES);
			return -E2BIG;
		}
		if (di.kind == VMM_DEV_DISK) {
			d->kind = KMP_DEV_DISK;
			d->flags = di.ro ? KMP_DEV_F_RO : 0;
			if (strlen(di.path) >= sizeof(d->path)) {
				snprintf(err, errlen, "disk '%s': path too long", di.path);
				return -ENAMETOOLONG;
			}
			snprintf(d->path, sizeof(d->path), "%s", di.path);
			r = km_disk_identity(di.path, &d->bytes, &d->ident, err, errlen);
			if (r)
				return r;
		} else {
			d->kind = KMP_DEV_NET;
			memcpy(d->mac, di.mac, sizeof(d->mac));
			if (di.bridge)
				snprintf(d->bridge, sizeof(d->bridge), "%s", di.bridge);
			else
				snprintf(d->tap, sizeof(d->tap), "%s", di.tap ? di.tap : "");
			if (!d->bridge[0] && !d->tap[0]) {
				snprintf(err, errlen, "NIC %u: neither a bridge nor a tap", i);
				return -EINVAL;
			}
		}
		m->nr = i + 1;
	}
	return 0;
}

int km_machine_build(struct vmm_vm *vm, const struct kmp_machine *m, const char *name,
		     char *err, size_t errlen)
{
	unsigned int nics = 0;
	uint32_t i;
	int r;

	for (i = 0; i < m->nr; i++) {
		const struct kmp_dev *d = &m->dev[i];

		if (d->kind == KMP_DEV_DISK) {
			r = vmm_disk_add_detached(vm, d->path, d->flags & KMP_DEV_F_RO, d->bytes,
						  err, errlen);
		} else {
			struct vmm_net_cfg nc = {
				.vm_name = name, .index = nics++,
				.bridge = d->bridge[0] ? d->bridge : NULL,
				.tap = d->tap[0] ? d->tap : NULL, .has_mac = true,
			};

			memcpy(nc.mac, d->mac, sizeof(nc.mac));
			r = vmm_net_add(vm, &nc, err, errlen);
		}
		if (r)
			return r;
	}
	return 0;
}
