// SPDX-License-Identifier: GPL-2.0
/*
 * libvmm: dirty page tracking.
 *
 * Ring mode (KVM_CAP_DIRTY_LOG_RING_ACQ_REL, else KVM_CAP_DIRTY_LOG_RING):
 * enabled before the first vCPU is created; each vCPU's ring is mapped at
 * KVM_DIRTY_LOG_PAGE_OFFSET of its fd.  The contract of
 * virt/kvm/dirty_ring.c: KVM fills an entry (slot, offset) and then
 * publishes it by setting flags = DIRTY; the collector loads flags with
 * acquire semantics, reads the entry, and hands it back with a release
 * store of flags = RESET; KVM_RESET_DIRTY_RINGS then re-protects the
 * collected pages and clears the flags.  A vCPU whose ring is (soft) full
 * exits with KVM_EXIT_DIRTY_RING_FULL and must not re-enter before the
 * collector has reset: its thread waits on ring_cond for the next reset.
 *
 * Bitmap mode: KVM_MEM_LOG_DIRTY_PAGES on the slots and KVM_GET_DIRTY_LOG;
 * with KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 the fetch does not re-protect and
 * KVM_CLEAR_DIRTY_LOG re-protects exactly the pages that were fetched
 * (in 1 GiB chunks, skipping clean ones), as QEMU does.
 *
 * Both modes produce the same thing: a set of gfns, re-armed before
 * vmm_dirty_harvest() returns, so the caller copies the pages afterwards and
 * a write racing with the copy is reported again by the next harvest.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <stdio.h>
#include <unistd.h>
#include "internal.h"

/*
 * Default ring: 65536 entries (1 MiB a vCPU), or the largest KVM offers.
 * KVM asks a vCPU to exit once its ring is within 64 entries (+ the PML
 * buffer) of full, but when it emulates a guest store it pushes one entry
 * per store, up to 1024 for one emulated REP STOS, before the vCPU gets to
 * exit: a small ring then overruns (seen on nested and PVM hosts, where
 * KVM emulates guest writes to write-protected pages).  A large ring plus
 * the reaper (below) keeps a ring far from full.
 */
#define VMM_RING_DEFAULT	65536
#define VMM_CLEAR_CHUNK		(1ULL << 18)	/* pages per KVM_CLEAR_DIRTY_LOG */

static const char *const mode_names[] = {
	[VMM_DIRTY_AUTO] = "auto",
	[VMM_DIRTY_RING] = "ring",
	[VMM_DIRTY_BITMAP] = "bitmap",
};

const char *vmm_dirty_mode_name(enum vmm_dirty_mode m)
{
	return (unsigned int)m < 3 ? mode_names[m] : "?";
}

enum vmm_dirty_mode vmm_dirty_mode(const struct vmm_vm *vm) { return vm->dirty_mode; }
uint32_t vmm_dirty_ring_entries(const struct vmm_vm *vm) { return vm->ring_entries; }
bool vmm_dirty_ring_acq_rel(const struct vmm_vm *vm) { return vm->ring_acq_rel; }
bool vmm_dirty_manual_protect(const struct vmm_vm *vm) { return vm->manual_protect; }
bool vmm_dirty_active(const struct vmm_vm *vm) { return vm->dirty_active; }
uint64_t vmm_dirty_ring_overflows(const struct vmm_vm *vm) { return vm->ring_overflows; }

/* ------------------------------------------------------------ bitmaps -- */

int vmm_dirty_bitmap_init(const struct vmm_vm *vm, struct vmm_dirty_bitmap *bm)
{
	bm->nbits = vm->gfn_end;
	bm->bits = calloc((bm->nbits + 63) / 64, sizeof(uint64_t));
	return bm->bits ? 0 : -ENOMEM;
}

void vmm_dirty_bitmap_free(struct vmm_dirty_bitmap *bm)
{
	free(bm->bits);
	bm->bits = NULL;
	bm->nbits = 0;
}

void vmm_dirty_bitmap_clear(struct vmm_dirty_bitmap *bm)
{
	memset(bm->bits, 0, (bm->nbits + 63) / 64 * sizeof(uint64_t));
}

uint64_t vmm_dirty_bitmap_count(const struct vmm_dirty_bitmap *bm)
{
	uint64_t i, n = 0;

	for (i = 0; i < (bm->nbits + 63) / 64; i++)
		n += (uint64_t)__builtin_popcountll(bm->bits[i]);
	return n;
}

uint64_t vmm_dirty_next(const struct vmm_dirty_bitmap *bm, uint64_t from)
{
	uint64_t w, i;

	if (from >= bm->nbits)
		return bm->nbits;
	i = from / 64;
	w = bm->bits[i] & (~0ULL << (from % 64));
	for (;;) {
		if (w) {
			uint64_t gfn = i * 64 + (uint64_t)__builtin_ctzll(w);

			return gfn < bm->nbits ? gfn : bm->nbits;
		}
		if (++i >= (bm->nbits + 63) / 64)
			return bm->nbits;
		w = bm->bits[i];
	}
}

/* ------------------------------------------------------------- set up -- */

int vmm_dirty_init_vm(struct vmm_vm *vm)
{
	enum vmm_dirty_mode want = vm->cfg.dirty_mode;
	int max_acq = vmm_check_cap(vm, KVM_CAP_DIRTY_LOG_RING_ACQ_REL);
	int max_tso = vmm_check_cap(vm, KVM_CAP_DIRTY_LOG_RING);
	int max = max_acq > 0 ? max_acq : max_tso;

	if (want == VMM_DIRTY_AUTO)
		want = max > 0 ? VMM_DIRTY_RING : VMM_DIRTY_BITMAP;
	if (want == VMM_DIRTY_RING) {
		struct kvm_enable_cap cap = { 0 };
		uint32_t n = vm->cfg.ring_entries ? vm->cfg.ring_entries : VMM_RING_DEFAULT;
		uint64_t bytes;

		/* the default shrinks to what KVM offers; an explicit size does not */
		while (!vm->cfg.ring_entries && max > 0 &&
		       (uint64_t)n * sizeof(struct kvm_dirty_gfn) > (uint64_t)max && n > 256)
			n >>= 1;
		bytes = (uint64_t)n * sizeof(struct kvm_dirty_gfn);

		if (max <= 0) {
			vmm_logf(vm, "dirty ring not offered by this KVM");
			return -ENOTSUP;
		}
		if (n & (n - 1) || bytes < VMM_PAGE_SIZE || bytes > (uint64_t)max) {
			vmm_logf(vm, "dirty ring: %u entries invalid (power of 2, %llu..%d bytes)",
				 n, (unsigned long long)VMM_PAGE_SIZE, max);
			return -EINVAL;
		}
		cap.cap = max_acq > 0 ? KVM_CAP_DIRTY_LOG_RING_ACQ_REL : KVM_CAP_DIRTY_LOG_RING;
		cap.args[0] = bytes;
		if (ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0)
			return vmm_ioctl_err(vm, "KVM_ENABLE_CAP(DIRTY_LOG_RING)");
		vm->ring_entries = n;
		vm->ring_acq_rel = max_acq > 0;
	} else {
		int mp = vmm_check_cap(vm, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);

		want = VMM_DIRTY_BITMAP;
		if (mp > 0 && !vm->cfg.no_manual_protect) {
			struct kvm_enable_cap cap = {
				.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
				.args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE,
			};

			if (ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0)
				return vmm_ioctl_err(vm, "KVM_ENABLE_CAP(MANUAL_DIRTY_LOG_PROTECT2)");
			vm->manual_protect = true;
		}
	}
	vm->dirty_mode = want;
	return 0;
}

int vmm_dirty_init_vcpu(struct vmm_vcpu *v)
{
	struct vmm_vm *vm = v->vm;
	void *p;

	if (vm->dirty_mode != VMM_DIRTY_RING)
		return 0;
	p = mmap(NULL, (size_t)vm->ring_entries * sizeof(struct kvm_dirty_gfn),
		 PROT_READ | PROT_WRITE, MAP_SHARED, v->fd,
		 (off_t)KVM_DIRTY_LOG_PAGE_OFFSET * getpagesize());
	if (p == MAP_FAILED)
		return vmm_ioctl_err(vm, "mmap(dirty ring)");
	v->ring = p;
	v->ring_fetch = 0;
	return 0;
}

void vmm_dirty_free(struct vmm_vm *vm)
{
	unsigned int i;

	vmm_dirty_reaper_stop(vm);
	free(vm->reaped);
	vm->reaped = NULL;
	for (i = 0; i < vm->nr_slots; i++) {
		free(vm->slots[i].bitmap);
		vm->slots[i].bitmap = NULL;
	}
}

/* ------------------------------------------------------ start / stop -- */

int vmm_dirty_start(struct vmm_vm *vm)
{
	unsigned int i;
	int r;

	pthread_mutex_lock(&vm->harvest_lock);
	if (vm->dirty_mode == VMM_DIRTY_BITMAP) {
		for (i = 0; i < vm->nr_slots; i++) {
			struct vmm_slot *s = &vm->slots[i];

			if (!s->bitmap)
				s->bitmap = calloc((s->npages + 63) / 64, sizeof(uint64_t));
			if (!s->bitmap) {
				pthread_mutex_unlock(&vm->harvest_lock);
				return -ENOMEM;
			}
		}
	}
	r = vmm_mem_set_slot_flags(vm, KVM_MEM_LOG_DIRTY_PAGES);
	if (!r) {
		vm->dirty_active = true;
		vm->rearm_failed = false;
	}
	pthread_mutex_unlock(&vm->harvest_lock);
	return r;
}

int vmm_dirty_stop(struct vmm_vm *vm)
{
	int r;

	vmm_dirty_reaper_stop(vm);
	pthread_mutex_lock(&vm->harvest_lock);
	r = vmm_mem_set_slot_flags(vm, 0);
	vm->dirty_active = false;
	pthread_mutex_unlock(&vm->harvest_lock);
	if (vm->dirty_mode == VMM_DIRTY_RING)
		vmm_dirty_harvest(vm, NULL, NULL, NULL, NULL);	/* drain + wake */
	return r;
}

/* ------------------------------------------------------------ harvest -- */

struct vmm_sink {
	struct vmm_dirty_bitmap *out;
	vmm_dirty_fn fn;
	vmm_dirty_vcpu_fn vfn;		/* vmm_dirty_harvest_vcpu() */
	void *opaque;
	uint64_t new_pages;
	int vcpu;			/* the ring being collected, -1: none */
};

static inline void vmm_sink_gfn(struct vmm_sink *s, uint64_t gfn)
{
	if (s->out && gfn < s->out->nbits) {
		uint64_t *w = &s->out->bits[gfn / 64], m = 1ULL << (gfn % 64);

		if (!(*w & m)) {
			*w |= m;
			s->new_pages++;
		}
	}
	if (s->fn)
		s->fn(gfn, s->opaque);
	if (s->vfn)
		s->vfn(gfn, s->vcpu, s->opaque);
}

/* OR a word of 64 gfns starting at gfn (a multiple of 64) into the sink. */
static inline uint64_t vmm_sink_word(struct vmm_sink *s, uint64_t gfn, uint64_t w)
{
	uint64_t n = (uint64_t)__builtin_popcountll(w);

	if (s->out && gfn / 64 < (s->out->nbits + 63) / 64) {
		uint64_t *o = &s->out->bits[gfn / 64];

		s->new_pages += (uint64_t)__builtin_popcountll(w & ~*o);
		*o |= w;
	}
	while ((s->fn || s->vfn) && w) {
		uint64_t g = gfn + (uint64_t)__builtin_ctzll(w);

		if (s->fn)
			s->fn(g, s->opaque);
		if (s->vfn)
			s->vfn(g, -1, s->opaque);
		w &= w - 1;
	}
	return n;
}

/* Pages [first, first + count) of slot @s into the sink. */
static uint64_t vmm_sink_range(struct vmm_sink *sink, const struct vmm_slot *s,
			       uint64_t first, uint64_t count)
{
	uint64_t n = 0, k = first, end = first + count;

	while (k < end) {
		uint64_t gfn = s->base_gfn + k, bit = gfn % 64;
		uint64_t take = 64 - bit < end - k ? 64 - bit : end - k;
		uint64_t w = (take == 64 ? ~0ULL : ((1ULL << take) - 1)) << bit;

		n += vmm_sink_word(sink, gfn - bit, w);
		k += take;
	}
	return n;
}

/*
 * Every populated RAM page, for when the dirty information cannot be
 * trusted.  A page the guest never wrote is a hole of the memfd (reading
 * it would allocate it): SEEK_DATA/SEEK_HOLE skip those, so a full pass
 * costs the memory in use, not the memory configured.  Where the file
 * cannot tell, every page.
 */
static uint64_t vmm_sink_all(struct vmm_vm *vm, struct vmm_sink *sink)
{
	uint64_t n = 0;
	unsigned int i;

	for (i = 0; i < vm->nr_slots; i++) {
		const struct vmm_slot *s = &vm->slots[i];
		off_t base = (off_t)s->r.ram_offset, end = base + (off_t)s->r.size;
		off_t pos = base, data, hole;

		while (pos < end) {
			data = lseek(vm->ram_fd, pos, SEEK_DATA);
			if (data < 0 && errno == ENXIO)
				break;		/* no data after pos */
			if (data < 0) {		/* cannot tell: all of the rest */
				data = pos;
				hole = end;
			} else {
				hole = lseek(vm->ram_fd, data, SEEK_HOLE);
				if (hole < 0)
					hole = end;
			}
			if (data >= end)
				break;
			if (hole > end)
				hole = end;
			data &= ~(off_t)(VMM_PAGE_SIZE - 1);
			n += vmm_sink_range(sink, s, (uint64_t)(data - base) >> VMM_PAGE_SHIFT,
					    (uint64_t)(hole - data + VMM_PAGE_SIZE - 1) >>
					    VMM_PAGE_SHIFT);
			pos = hole;
		}
	}
	return n;
}

/*
 * After an overflow KVM counts entries that were overwritten: its next
 * entries land further on than where we look, behind slots it already
 * cleared.  Those empty slots followed by published entries are the lost
 * ones: hand them back as collected so KVM's reset index walks over them
 * and both sides agree again.  (x86 stores are seen in order, so an empty
 * slot before a published one cannot happen otherwise.)
 */
static uint32_t vmm_ring_resync(struct vmm_vm *vm, struct vmm_vcpu *v)
{
	uint32_t mask = vm->ring_entries - 1, d, k;

	if (__atomic_load_n(&v->ring[v->ring_fetch & mask].flags, __ATOMIC_ACQUIRE))
		return 0;
	for (d = 1; d < vm->ring_entries; d++) {
		uint32_t f = __atomic_load_n(&v->ring[(v->ring_fetch + d) & mask].flags,
					     __ATOMIC_ACQUIRE);

		if (f & KVM_DIRTY_GFN_F_DIRTY)
			break;
		if (f)
			return 0;	/* not the pattern: leave it alone */
	}
	if (d == vm->ring_entries)
		return 0;
	for (k = 0; k < d; k++)
		__atomic_store_n(&v->ring[(v->ring_fetch + k) & mask].flags,
				 KVM_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
	v->ring_fetch += d;
	if (vm->ring_mismatches++ < 3)
		vmm_logf(vm, "vcpu %u: dirty ring resynchronised over %u lost entries", v->idx, d);
	return d;
}

/*
 * A ring may have lost entries: every populated page goes into @sink (one
 * full pass covers whatever was lost up to now).  First the write
 * protection of all guest RAM is armed again (dirty logging off and on for
 * every slot): a page whose entry was lost was made writable by the write
 * that pushed it, and no entry would ever be reset to protect it again, so
 * its later writes would go unseen (the lab's 6.12 hosts showed it: a page
 * sent once after the overflow, then stale on the destination).  Returns
 * the pages reported.  Context: harvest_lock held.
 */
static uint64_t vmm_ring_report_all(struct vmm_vm *vm, struct vmm_sink *sink)
{
	int r = 0;

	vm->ring_overflows++;
	if (vm->dirty_active) {
		r = vmm_mem_set_slot_flags(vm, 0);
		if (!r)
			r = vmm_mem_set_slot_flags(vm, KVM_MEM_LOG_DIRTY_PAGES);
	}
	if (vm->ring_overflows == 1 || r)
		vmm_logf(vm, "dirty ring overflowed (%s): %s; reporting every populated page "
			 "dirty once", vm->ring_overflow_why, r ? "re-arming the write protection "
			 "FAILED: a page may be missed" : "write protection re-armed");
	if (r)
		vm->rearm_failed = true;
	return vmm_sink_all(vm, sink);
}

/* The rings were reset (or may have room): wake the vCPUs waiting on a full
 * one.  Context: harvest_lock held. */
void vmm_ring_reset_done(struct vmm_vm *vm, struct vmm_harvest_stats *st)
{
	pthread_mutex_lock(&vm->lock);
	vm->ring_reset_gen++;
	if (st)
		st->ring_waiters = vm->nr_ring_waiters;
	pthread_cond_broadcast(&vm->ring_cond);
	pthread_mutex_unlock(&vm->lock);
}

/*
 * Collect every published entry of every ring into @sink and hand them
 * back to KVM.  Returns the entries collected (or -errno) and sets
 * *@lost when entries may have been lost: a ring found completely full
 * (KVM overwrote entries; it WARNs "should never get full"), or KVM's
 * count of re-armed entries differing from ours, or the slots KVM skipped
 * after an overflow (vmm_ring_resync).  Context: harvest_lock held.
 */
static int64_t vmm_ring_collect(struct vmm_vm *vm, struct vmm_sink *sink,
				struct vmm_harvest_stats *st, bool *lost)
{
	uint32_t mask = vm->ring_entries - 1;
	uint64_t n = 0, bogus = 0, got, phantom = 0, d;
	unsigned int i;
	int r;

	for (i = 0; i < vm->nr_vcpus; i++) {
		struct vmm_vcpu *v = &vm->vcpus[i];

		if (vm->ring_resync) {
			/*
			 * Slots KVM skipped: the trace of an overflow.  Usually
			 * that of one already reported, but it cannot be told
			 * apart from a new one for sure: report again (with the
			 * reaper both reports land in the same round's set).
			 */
			d = vmm_ring_resync(vm, v);
			phantom += d;
			if (d) {
				snprintf(vm->ring_overflow_why, sizeof(vm->ring_overflow_why),
					 "vcpu %u: %llu ring entries skipped by KVM", v->idx,
					 (unsigned long long)d);
				*lost = true;
			}
		}
		sink->vcpu = (int)i;
		for (got = 0;; got++) {
			struct kvm_dirty_gfn *e = &v->ring[v->ring_fetch & mask];
			uint32_t flags = __atomic_load_n(&e->flags, __ATOMIC_ACQUIRE);
			uint32_t slot, as_id, id;
			uint64_t off;

			if (!(flags & KVM_DIRTY_GFN_F_DIRTY))
				break;
			slot = e->slot;
			off = e->offset;
			as_id = slot >> 16;
			id = slot & 0xffff;
			if (as_id == 0 && id < vm->nr_slots && off < vm->slots[id].npages)
				vmm_sink_gfn(sink, vm->slots[id].base_gfn + off);
			else
				bogus++;
			__atomic_store_n(&e->flags, KVM_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
			v->ring_fetch++;
			n++;
		}
		__atomic_add_fetch(&v->dirty_entries, got, __ATOMIC_RELAXED);
		sink->vcpu = -1;
		/*
		 * KVM makes a vCPU exit before its ring gets within 64 entries
		 * (+ the PML buffer) of full; a completely full ring means KVM
		 * pushed more than that in one go (it does when it emulates
		 * guest stores: one entry per store) and may have overwritten
		 * entries we had not collected.
		 */
		if (got >= vm->ring_entries) {
			snprintf(vm->ring_overflow_why, sizeof(vm->ring_overflow_why),
				 "vcpu %u: ring of %u entries found full, KVM may have "
				 "overwritten entries", v->idx, vm->ring_entries);
			*lost = true;
		}
	}
	if (n || phantom) {
		r = ioctl(vm->vm_fd, KVM_RESET_DIRTY_RINGS, 0);
		if (r < 0)
			return vmm_ioctl_err(vm, "KVM_RESET_DIRTY_RINGS");
		/* KVM re-arms exactly what was handed back, unless the rings went wrong */
		if ((uint64_t)r != n + phantom) {
			if (vm->ring_mismatches++ < 3)
				vmm_logf(vm, "dirty ring: handed back %llu, KVM reset %d",
					 (unsigned long long)(n + phantom), r);
			snprintf(vm->ring_overflow_why, sizeof(vm->ring_overflow_why),
				 "KVM re-armed %d ring entries of %llu handed back", r,
				 (unsigned long long)(n + phantom));
			*lost = true;
		}
		if (st)
			st->reset += (uint64_t)r;
	}
	if (bogus)
		vmm_logf(vm, "dirty ring: %llu entries outside RAM slots",
			 (unsigned long long)bogus);
	if (*lost)
		vm->ring_resync = true;	/* from now on look for skipped slots */
	return (int64_t)n;
}

/* OR the reaper's pages into @sink and clear them.  Context: harvest_lock. */
static uint64_t vmm_reaped_take(struct vmm_vm *vm, struct vmm_sink *sink)
{
	uint64_t k, n = 0, words = (vm->gfn_end + 63) / 64;

	if (!vm->reaped)
		return 0;
	for (k = 0; k < words; k++) {
		if (vm->reaped[k]) {
			n += vmm_sink_word(sink, k * 64, vm->reaped[k]);
			vm->reaped[k] = 0;
		}
	}
	return n;
}

static int64_t vmm_harvest_rings(struct vmm_vm *vm, struct vmm_sink *sink,
				 struct vmm_harvest_stats *st)
{
	bool lost = vm->reaped_lost;
	int64_t n = vmm_ring_collect(vm, sink, st, &lost);

	if (n < 0)
		return n;
	if (st)
		st->reaped = vm->reaped_entries;
	vm->reaped_entries = 0;
	vm->reaped_lost = false;
	n += (int64_t)vmm_reaped_take(vm, sink);
	if (lost) {
		n += (int64_t)vmm_ring_report_all(vm, sink);
		if (st)
			st->overflows = 1;
		if (vm->rearm_failed)
			n = -EIO;	/* a page may go unseen: the migration must not go on */
	}
	vmm_ring_reset_done(vm, st);
	return n;
}

/* The reaper's collection (reaper.c): the rings into @out.  Context:
 * harvest_lock held. */
int64_t vmm_ring_collect_into(struct vmm_vm *vm, struct vmm_dirty_bitmap *out, bool *lost)
{
	struct vmm_sink sink = { .out = out, .vcpu = -1 };
	int64_t n = vmm_ring_collect(vm, &sink, NULL, lost);

	vmm_ring_reset_done(vm, NULL);
	return n;
}

/*
 * One pass of an external collector (vmm_ring_collect_fn) from libvmm's
 * ring positions, which it moves on.  Context: harvest_lock held.
 */
static int64_t vmm_ring_collect_ext(struct vmm_vm *vm, struct vmm_dirty_bitmap *out,
				    vmm_ring_collect_fn collect, void *opaque,
				    struct vmm_harvest_stats *st, bool *overflow)
{
	uint32_t fetch[VMM_MAX_VCPUS];
	unsigned int i;
	int64_t n;

	for (i = 0; i < vm->nr_vcpus; i++)
		fetch[i] = vm->vcpus[i].ring_fetch;
	n = collect(opaque, out, fetch, vm->nr_vcpus, st, overflow);
	if (n >= 0)
		for (i = 0; i < vm->nr_vcpus; i++)
			vm->vcpus[i].ring_fetch = fetch[i];
	return n;
}

/* The reaper's collection with vm->reap_collect.  Context: harvest_lock. */
int64_t vmm_ring_collect_ext_into(struct vmm_vm *vm, struct vmm_dirty_bitmap *out, bool *lost)
{
	struct vmm_harvest_stats st;
	bool overflow = false;
	int64_t n;

	memset(&st, 0, sizeof(st));
	n = vmm_ring_collect_ext(vm, out, vm->reap_collect, vm->reap_opaque, &st, &overflow);
	if (n < 0)
		vm->reap_failed = true;	/* entries may be lost: the collector says so
					 * at its next call, which the harvest makes */
	if (overflow) {
		*lost = true;
		snprintf(vm->ring_overflow_why, sizeof(vm->ring_overflow_why),
			 "reported by the kernel collector");
	}
	vmm_ring_reset_done(vm, NULL);
	return n;
}

const char *vmm_dirty_overflow_reason(const struct vmm_vm *vm) { return vm->ring_overflow_why; }

static int64_t vmm_harvest_bitmaps(struct vmm_vm *vm, struct vmm_sink *sink)
{
	uint64_t n = 0, w, first, k;
	unsigned int i;

	for (i = 0; i < vm->nr_slots; i++) {
		struct vmm_slot *s = &vm->slots[i];
		uint64_t words = (s->npages + 63) / 64;
		struct kvm_dirty_log log = { .slot = s->r.slot, .dirty_bitmap = s->bitmap };

		if (!s->bitmap)
			continue;
		if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
			return vmm_ioctl_err(vm, "KVM_GET_DIRTY_LOG");
		if (vm->manual_protect) {
			for (first = 0; first < s->npages; first += VMM_CLEAR_CHUNK) {
				uint64_t np = s->npages - first < VMM_CLEAR_CHUNK ?
					      s->npages - first : VMM_CLEAR_CHUNK;
				struct kvm_clear_dirty_log clr = {
					.slot = s->r.slot,
					.num_pages = (uint32_t)np,
					.first_page = first,
					.dirty_bitmap = &s->bitmap[first / 64],
				};

				for (w = 0, k = first / 64; k < (first + np + 63) / 64; k++)
					w |= s->bitmap[k];
				if (!w)
					continue;
				if (ioctl(vm->vm_fd, KVM_CLEAR_DIRTY_LOG, &clr) < 0)
					return vmm_ioctl_err(vm, "KVM_CLEAR_DIRTY_LOG");
			}
		}
		for (k = 0; k < words; k++) {
			if (s->bitmap[k])
				n += vmm_sink_word(sink, s->base_gfn + k * 64, s->bitmap[k]);
		}
	}
	return (int64_t)n;
}

static uint64_t vmm_harvest_soft(struct vmm_vm *vm, struct vmm_sink *sink)
{
	uint64_t k, w, n = 0;

	for (k = 0; k < (vm->gfn_end + 63) / 64; k++) {
		if (!__atomic_load_n(&vm->soft_dirty[k], __ATOMIC_RELAXED))
			continue;
		w = __atomic_exchange_n(&vm->soft_dirty[k], 0, __ATOMIC_ACQ_REL);
		if (w)
			n += vmm_sink_word(sink, k * 64, w);
	}
	return n;
}

int64_t vmm_dirty_harvest(struct vmm_vm *vm, struct vmm_dirty_bitmap *out,
			  vmm_dirty_fn fn, void *opaque,
			  struct vmm_harvest_stats *st)
{
	return vmm_dirty_harvest_vcpu(vm, out, fn, NULL, opaque, st);
}

int64_t vmm_dirty_harvest_vcpu(struct vmm_vm *vm, struct vmm_dirty_bitmap *out,
			       vmm_dirty_fn fn, vmm_dirty_vcpu_fn vfn, void *opaque,
			       struct vmm_harvest_stats *st)
{
	struct vmm_sink sink = { .out = out, .fn = fn, .vfn = vfn, .opaque = opaque,
				 .vcpu = -1 };
	uint64_t t0 = vmm_now_ns();
	int64_t n;

	if (st)
		memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&vm->harvest_lock);
	if (vm->dirty_mode == VMM_DIRTY_RING)
		n = vmm_harvest_rings(vm, &sink, st);
	else
		n = vm->dirty_active ? vmm_harvest_bitmaps(vm, &sink) : 0;
	if (n >= 0)
		n += (int64_t)vmm_harvest_soft(vm, &sink);
	pthread_mutex_unlock(&vm->harvest_lock);
	if (st && n >= 0) {
		st->entries = (uint64_t)n;
		st->new_pages = sink.new_pages;
		st->ns = vmm_now_ns() - t0;
	}
	return n;
}

int64_t vmm_dirty_harvest_ext(struct vmm_vm *vm, struct vmm_dirty_bitmap *out,
			      vmm_ring_collect_fn collect, void *opaque,
			      struct vmm_harvest_stats *st)
{
	struct vmm_sink sink = { .out = out, .vcpu = -1 };
	struct vmm_harvest_stats local;
	uint64_t t0 = vmm_now_ns(), before = out ? vmm_dirty_bitmap_count(out) : 0;
	bool overflow = false;
	int64_t n;

	if (vm->dirty_mode != VMM_DIRTY_RING)
		return vmm_dirty_harvest(vm, out, NULL, NULL, st);
	/* one owner of the rings' collection at a time (its reaper may run) */
	if (vm->reaper_running && (!vm->reap_collect || vm->reap_opaque != opaque))
		return -EBUSY;
	if (!st)
		st = &local;
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&vm->harvest_lock);
	n = vmm_ring_collect_ext(vm, out, collect, opaque, st, &overflow);
	if (n >= 0) {
		/* what the reaper (same collector) gathered since the last harvest */
		overflow |= vm->reaped_lost;
		st->reaped = vm->reaped_entries;
		vm->reaped_entries = 0;
		vm->reaped_lost = false;
		vm->reap_failed = false;
		n += (int64_t)vmm_reaped_take(vm, &sink);
		if (overflow) {
			vm->ring_resync = true;
			snprintf(vm->ring_overflow_why, sizeof(vm->ring_overflow_why),
				 "reported by the kernel collector");
			n += (int64_t)vmm_ring_report_all(vm, &sink);
			st->overflows++;
		}
		n += (int64_t)vmm_harvest_soft(vm, &sink);
		if (overflow && vm->rearm_failed)
			n = -EIO;	/* a page may go unseen: the migration must not go on */
	}
	/* whatever happened, the rings may have room now */
	vmm_ring_reset_done(vm, st);
	pthread_mutex_unlock(&vm->harvest_lock);
	if (n >= 0) {
		st->entries = (uint64_t)n;
		st->new_pages = out ? vmm_dirty_bitmap_count(out) - before : 0;
		st->ns = vmm_now_ns() - t0;
	}
	return n;
}

/* ---------------------------------------------------- ring-full waits -- */

void vmm_dirty_ring_full_wait(struct vmm_vcpu *v)
{
	struct vmm_vm *vm = v->vm;
	uint64_t t0 = vmm_now_ns(), gen;

	/*
	 * Wait for a reset newer than the one seen before the KVM_RUN that
	 * exited: a reset in between already made room, re-enter at once.
	 */
	pthread_mutex_lock(&vm->lock);
	gen = v->ring_gen_seen;
	vm->nr_ring_waiters++;
	pthread_cond_broadcast(&vm->full_cond);
	while (gen == vm->ring_reset_gen && !vm->pause_req && !vm->quit)
		pthread_cond_wait(&vm->ring_cond, &vm->lock);
	vm->nr_ring_waiters--;
	t0 = vmm_now_ns() - t0;
	v->stats.ring_full_wait_ns += t0;
	if (t0 > v->stats.ring_full_wait_max_ns)
		v->stats.ring_full_wait_max_ns = t0;
	pthread_mutex_unlock(&vm->lock);
}

int vmm_dirty_wait_full(struct vmm_vm *vm, int timeout_ms)
{
	struct timespec ts;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)timeout_ms * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&vm->lock);
	while (!vm->nr_ring_waiters && r != ETIMEDOUT && vm->nr_active)
		r = pthread_cond_timedwait(&vm->full_cond, &vm->lock, &ts);
	r = vm->nr_ring_waiters > 0;
	pthread_mutex_unlock(&vm->lock);
	return r;
}
