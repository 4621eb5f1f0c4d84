// SPDX-License-Identifier: GPL-2.0
/*
 * libvmm: guest RAM.
 *
 * All RAM is one memfd, mapped once MAP_SHARED (so a migration can send it
 * with zero-copy or hand the fd to another process), and cut into KVM
 * memslots: below the PCI hole [0, 3 GiB) and above it from 4 GiB, each
 * piece split further at cfg.slot_max_bytes.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include "internal.h"

#define VMM_LOW_RAM_END		(3ULL << 30)
#define VMM_HIGH_RAM_START	(4ULL << 30)

uint8_t *vmm_ram(const struct vmm_vm *vm) { return vm->ram; }
uint64_t vmm_ram_size(const struct vmm_vm *vm) { return vm->ram_size; }
int vmm_ram_fd(const struct vmm_vm *vm) { return vm->ram_fd; }
uint64_t vmm_gfn_end(const struct vmm_vm *vm) { return vm->gfn_end; }

unsigned int vmm_mem_regions(const struct vmm_vm *vm,
			     const struct vmm_mem_region **regions)
{
	*regions = vm->regions;
	return vm->nr_slots;
}

struct vmm_slot *vmm_slot_by_id(struct vmm_vm *vm, uint32_t id)
{
	return id < vm->nr_slots ? &vm->slots[id] : NULL;
}

static int vmm_slot_set(struct vmm_vm *vm, struct vmm_slot *s, uint32_t flags)
{
	struct kvm_userspace_memory_region m = {
		.slot = s->r.slot,
		.flags = flags,
		.guest_phys_addr = s->r.gpa,
		.memory_size = s->r.size,
		.userspace_addr = (uintptr_t)s->r.hva,
	};

	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &m) < 0)
		return vmm_ioctl_err(vm, "KVM_SET_USER_MEMORY_REGION");
	return 0;
}

int vmm_mem_set_slot_flags(struct vmm_vm *vm, uint32_t flags)
{
	unsigned int i;
	int r;

	for (i = 0; i < vm->nr_slots; i++) {
		r = vmm_slot_set(vm, &vm->slots[i], flags);
		if (r)
			return r;
	}
	return 0;
}

static int vmm_add_slots(struct vmm_vm *vm, uint64_t gpa, uint64_t size,
			 uint64_t *ram_off)
{
	uint64_t max = vm->cfg.slot_max_bytes ? vm->cfg.slot_max_bytes : size;

	while (size) {
		uint64_t n = size < max ? size : max;
		struct vmm_slot *s;

		if (vm->nr_slots == VMM_MAX_REGIONS) {
			vmm_logf(vm, "too many memslots (max %d)", VMM_MAX_REGIONS);
			return -E2BIG;
		}
		s = &vm->slots[vm->nr_slots];
		s->r.gpa = gpa;
		s->r.size = n;
		s->r.ram_offset = *ram_off;
		s->r.hva = vm->ram + *ram_off;
		s->r.slot = vm->nr_slots;
		s->base_gfn = gpa >> VMM_PAGE_SHIFT;
		s->npages = n >> VMM_PAGE_SHIFT;
		vm->regions[vm->nr_slots] = s->r;
		vm->nr_slots++;
		gpa += n;
		size -= n;
		*ram_off += n;
		if (s->base_gfn + s->npages > vm->gfn_end)
			vm->gfn_end = s->base_gfn + s->npages;
	}
	return 0;
}

int vmm_mem_init(struct vmm_vm *vm)
{
	uint64_t size = vm->cfg.mem_bytes, low, off = 0;
	unsigned int i;
	int r;

	if (vm->cfg.slot_max_bytes % (2ULL << 20)) {
		vmm_logf(vm, "slot size must be a multiple of 2 MiB");
		return -EINVAL;
	}
	vm->ram_fd = memfd_create("kmigrate-guest-ram", MFD_CLOEXEC);
	if (vm->ram_fd < 0)
		return vmm_ioctl_err(vm, "memfd_create");
	if (ftruncate(vm->ram_fd, (off_t)size) < 0)
		return vmm_ioctl_err(vm, "ftruncate(guest RAM)");
	vm->ram = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_NORESERVE, vm->ram_fd, 0);
	if (vm->ram == MAP_FAILED) {
		vm->ram = NULL;
		return vmm_ioctl_err(vm, "mmap(guest RAM)");
	}
	vm->ram_size = size;
	madvise(vm->ram, size, MADV_HUGEPAGE);	/* best effort (shmem THP) */

	low = size < VMM_LOW_RAM_END ? size : VMM_LOW_RAM_END;
	r = vmm_add_slots(vm, 0, low, &off);
	if (!r && size > low)
		r = vmm_add_slots(vm, VMM_HIGH_RAM_START, size - low, &off);
	if (r)
		return r;
	for (i = 0; i < vm->nr_slots; i++) {
		r = vmm_slot_set(vm, &vm->slots[i], 0);
		if (r)
			return r;
	}
	vm->soft_dirty = calloc((vm->gfn_end + 63) / 64, sizeof(uint64_t));
	if (!vm->soft_dirty)
		return -ENOMEM;
	return 0;
}

void vmm_mem_free(struct vmm_vm *vm)
{
	if (vm->ram)
		munmap(vm->ram, vm->ram_size);
	if (vm->ram_fd >= 0)
		close(vm->ram_fd);
	free(vm->soft_dirty);
	vm->ram = NULL;
	vm->ram_fd = -1;
	vm->soft_dirty = NULL;
}

int64_t vmm_gfn_to_ram_page(const struct vmm_vm *vm, uint64_t gfn)
{
	unsigned int i;

	for (i = 0; i < vm->nr_slots; i++) {
		const struct vmm_slot *s = &vm->slots[i];

		if (gfn >= s->base_gfn && gfn < s->base_gfn + s->npages)
			return (int64_t)((s->r.ram_offset >> VMM_PAGE_SHIFT) +
					 gfn - s->base_gfn);
	}
	return -1;
}

int64_t vmm_ram_page_to_gfn(const struct vmm_vm *vm, uint64_t page)
{
	unsigned int i;

	for (i = 0; i < vm->nr_slots; i++) {
		const struct vmm_slot *s = &vm->slots[i];
		uint64_t first = s->r.ram_offset >> VMM_PAGE_SHIFT;

		if (page >= first && page < first + s->npages)
			return (int64_t)(s->base_gfn + page - first);
	}
	return -1;
}

void *vmm_gpa_to_hva(const struct vmm_vm *vm, uint64_t gpa, uint64_t len)
{
	unsigned int i;

	for (i = 0; i < vm->nr_slots; i++) {
		const struct vmm_mem_region *r = &vm->slots[i].r;

		if (gpa >= r->gpa && len <= r->size && gpa - r->gpa <= r->size - len)
			return r->hva + (gpa - r->gpa);
	}
	return NULL;
}

void vmm_mark_dirty(struct vmm_vm *vm, uint64_t gpa, uint64_t len)
{
	uint64_t gfn, end;

	if (!len)
		return;
	end = (gpa + len - 1) >> VMM_PAGE_SHIFT;
	for (gfn = gpa >> VMM_PAGE_SHIFT; gfn <= end && gfn < vm->gfn_end; gfn++)
		__atomic_fetch_or(&vm->soft_dirty[gfn / 64], 1ULL << (gfn % 64),
				  __ATOMIC_RELEASE);
}

int vmm_guest_write(struct vmm_vm *vm, uint64_t gpa, const void *src, uint64_t len)
{
	void *p = vmm_gpa_to_hva(vm, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(p, src, len);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	vmm_mark_dirty(vm, gpa, len);
	return 0;
}
