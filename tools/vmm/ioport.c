// SPDX-License-Identifier: GPL-2.0
/*
 * libvmm: port I/O dispatch and the hypercall device of the workload guest
 * (ports WL_PORT_BASE.., see guest/wl_abi.h):
 *
 *   0x500 out8   console byte (printed per vCPU, line by line)
 *   0x504 out32  event: (arg << 8) | code  -> vmm_set_event_handler()
 *   0x508 in32   the vCPU's index
 *
 * Unclaimed ports read as all ones and ignore writes, like an empty ISA bus
 * (or go to the handler of vmm_io_set_default()).
 */
#include <string.h>
#include "internal.h"
#include "guest/wl_abi.h"

int vmm_io_register(struct vmm_vm *vm, uint16_t port, uint16_t count,
		    vmm_io_fn fn, void *opaque)
{
	if (vm->nr_io == VMM_MAX_IO_HANDLERS || !count)
		return -ENOSPC;
	vm->io[vm->nr_io++] = (struct vmm_io_handler){
		.port = port, .count = count, .fn = fn, .opaque = opaque,
	};
	return 0;
}

void vmm_io_set_default(struct vmm_vm *vm, vmm_io_fn fn, void *opaque)
{
	vm->default_io = fn;
	vm->default_io_opaque = opaque;
}

void vmm_set_event_handler(struct vmm_vm *vm, vmm_event_fn fn, void *opaque)
{
	vm->event_fn = fn;
	vm->event_opaque = opaque;
}

void vmm_io_dispatch(struct vmm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	struct vmm_vm *vm = vcpu->vm;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool out = run->io.direction == KVM_EXIT_IO_OUT;
	unsigned int i, h;

	for (h = 0; h < vm->nr_io; h++) {
		if (run->io.port >= vm->io[h].port &&
		    run->io.port - vm->io[h].port < vm->io[h].count)
			break;
	}
	for (i = 0; i < run->io.count; i++, data += run->io.size) {
		if (h < vm->nr_io)
			vm->io[h].fn(vcpu, run->io.port, out, data, run->io.size,
				     vm->io[h].opaque);
		else if (vm->default_io)
			vm->default_io(vcpu, run->io.port, out, data, run->io.size,
				       vm->default_io_opaque);
		else if (!out)
			memset(data, 0xff, run->io.size);
	}
}

static void vmm_console_flush(struct vmm_vcpu *vcpu)
{
	struct vmm_vm *vm = vcpu->vm;
	FILE *f = vm->cfg.console ? vm->cfg.console : vm->log;

	if (!vm->cfg.quiet_console) {
		pthread_mutex_lock(&vm->lock);
		fprintf(f, "guest[%u]: %.*s\n", vcpu->idx, (int)vcpu->console_len,
			vcpu->console);
		fflush(f);
		pthread_mutex_unlock(&vm->lock);
	}
	vcpu->console_len = 0;
}

static void vmm_hcall_io(struct vmm_vcpu *vcpu, uint16_t port, bool out,
			 void *data, unsigned int size, void *opaque)
{
	struct vmm_vm *vm = vcpu->vm;
	uint32_t v = 0;

	(void)opaque;
	if (!out) {
		v = port == WL_PORT_VCPU_ID ? vcpu->idx : 0xffffffffu;
		memcpy(data, &v, size);
		return;
	}
	memcpy(&v, data, size < sizeof(v) ? size : sizeof(v));
	switch (port) {
	case WL_PORT_CONSOLE:
		if ((char)v == '\n' || vcpu->console_len == VMM_CONSOLE_LINE)
			vmm_console_flush(vcpu);
		if ((char)v != '\n')
			vcpu->console[vcpu->console_len++] = (char)v;
		break;
	case WL_PORT_EVENT:
		vcpu->stats.events++;
		vcpu->stats.last_event = v;
		if ((v & 0xff) == WL_EV_PANIC)
			vmm_logf(vm, "vcpu %u: guest panic %u", vcpu->idx, v >> 8);
		if (vm->event_fn)
			vm->event_fn(vcpu, v & 0xff, v >> 8, vm->event_opaque);
		break;
	default:
		break;
	}
}

void vmm_io_init_default(struct vmm_vm *vm)
{
	vmm_io_register(vm, WL_PORT_BASE, WL_PORT_COUNT, vmm_hcall_io, NULL);
}
