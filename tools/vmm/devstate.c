// SPDX-License-Identifier: GPL-2.0
/*
 * libvmm: the devices' state for a migration (see struct vmm_dev_ops in
 * vmm.h): the registry of the VM's stateful devices and the
 * VMM_STATE_DEVICES form, one VMM_ST_DEVICE section per device.
 */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

int vmm_dev_state_register(struct vmm_vm *vm, const struct vmm_dev_ops *ops, void *opaque)
{
	if (vm->started || !ops || !ops->name || strlen(ops->name) >= VMM_DEV_NAME_SIZE ||
	    !ops->save || !ops->load)
		return -EINVAL;
	if (vm->nr_dev_states >= VMM_MAX_DEV_STATES)
		return -ENOSPC;
	vm->dev_states[vm->nr_dev_states].ops = ops;
	vm->dev_states[vm->nr_dev_states].opaque = opaque;
	vm->nr_dev_states++;
	return 0;
}

unsigned int vmm_dev_state_count(const struct vmm_vm *vm)
{
	return vm->nr_dev_states;
}

int vmm_dev_state_quiesce(struct vmm_vm *vm)
{
	unsigned int i;
	int r;

	for (i = 0; i < vm->nr_dev_states; i++) {
		const struct vmm_dev_ops *o = vm->dev_states[i].ops;

		if (o->quiesce && (r = o->quiesce(vm->dev_states[i].opaque))) {
			vmm_logf(vm, "device %u (%s): quiesce: %s", i, o->name, strerror(-r));
			return r;
		}
	}
	return 0;
}

int vmm_dev_state_save(struct vmm_vm *vm, struct vmm_state *st)
{
	unsigned int i;
	int r = vmm_state_begin(st, VMM_STATE_DEVICES, 0);

	for (i = 0; !r && i < vm->nr_dev_states; i++) {
		const struct vmm_dev_ops *o = vm->dev_states[i].ops;
		struct vmm_state_dev hdr;
		void *buf = NULL, *sec;
		size_t size = 0;

		memset(&hdr, 0, sizeof(hdr));
		r = o->save(vm->dev_states[i].opaque, &hdr.version, &buf, &size);
		if (r) {
			vmm_logf(vm, "device %u (%s): saving its state: %s", i, o->name,
				 strerror(-r));
			break;
		}
		sec = size <= UINT32_MAX / 2 ? malloc(sizeof(hdr) + size) : NULL;
		if (!sec) {
			free(buf);
			r = -ENOMEM;
			break;
		}
		memcpy(hdr.name, o->name, strlen(o->name));
		hdr.size = (uint32_t)size;
		memcpy(sec, &hdr, sizeof(hdr));
		if (size)
			memcpy((uint8_t *)sec + sizeof(hdr), buf, size);
		r = vmm_state_add(st, VMM_ST_DEVICE, sec, sizeof(hdr) + size, 1);
		free(sec);
		free(buf);
	}
	return r;
}

int vmm_dev_state_load(struct vmm_vm *vm, const struct vmm_state *st, char *err,
		       size_t errlen)
{
	const struct vmm_state_hdr *h = vmm_state_hdr(st);
	const struct vmm_state_dev *d[VMM_MAX_DEV_STATES];
	unsigned int i;
	uint32_t size;
	int r;

	if (!h || vmm_state_check(st->buf, st->size) || h->kind != VMM_STATE_DEVICES)
		return vmm_errf(err, errlen, -EBADMSG, "not a devices' state");
	for (i = 0; i <= vm->nr_dev_states; i++) {
		const void *p = vmm_state_find_nth(st, VMM_ST_DEVICE, i, &size);

		if (i == vm->nr_dev_states) {
			if (p)
				return vmm_errf(err, errlen, -EINVAL, "the guest has more devices "
						"than the %u of this VM", vm->nr_dev_states);
			break;
		}
		if (!p)
			return vmm_errf(err, errlen, -EINVAL, "the guest has %u device(s), this VM "
					"%u", i, vm->nr_dev_states);
		d[i] = p;
		if (size < sizeof(*d[i]) || d[i]->size != size - sizeof(*d[i]) ||
		    memchr(d[i]->name, 0, VMM_DEV_NAME_SIZE) == NULL)
			return vmm_errf(err, errlen, -EBADMSG, "device %u: a malformed section", i);
		if (strcmp(d[i]->name, vm->dev_states[i].ops->name))
			return vmm_errf(err, errlen, -EINVAL, "device %u is a %s in the guest, a %s "
					"here", i, d[i]->name, vm->dev_states[i].ops->name);
	}
	for (i = 0; i < vm->nr_dev_states; i++) {
		r = vm->dev_states[i].ops->load(vm->dev_states[i].opaque, d[i]->version, d[i] + 1,
						d[i]->size);
		if (r)
			return vmm_errf(err, errlen, r, "device %u (%s): loading its state: %s", i,
					d[i]->name, strerror(-r));
	}
	return 0;
}
