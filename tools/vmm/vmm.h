/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libvmm: the small KVM VMM core of kmigrate (`kmigrate run` builds on it).
 *
 *   kvm.c       /dev/kvm, the VM, capabilities, CPUID
 *   memory.c    guest RAM: one memfd, mapped once, split into memslots
 *   cpu.c       vCPUs, their threads, the run/exit loop, pause/resume (kick)
 *   ioport.c    port I/O dispatch and the workload's hypercall device
 *   dirty.c     dirty tracking: per-vCPU dirty ring or dirty bitmap
 *   reaper.c    the thread that collects dirty rings between harvests
 *   throttle.c  the per-vCPU throttle (a duty cycle) the migration sets
 *   state_buf.c the serialised state form: building, checking, finding
 *   state.c     vCPU / VM state save and restore
 *   devstate.c  the devices' state for a migration (struct vmm_dev_ops)
 *   x86.c       long-mode boot state (GDT, page tables, control registers)
 *   workload.c  the built-in workload guest: load, control, status, verify
 *   devices.c   PCI devices of a VM: the bus (pci.c), virtio-pci (virtio_pci.c,
 *               its state virtio_pci_state.c, virtq.c), virtio-blk
 *               (virtio_blk.c), virtio-net (virtio_net.c)
 *   announce.c  announce-self: the NICs' MACs into their taps after a resume
 *   multiboot.c multiboot (v1) kernels
 *   bzimage.c   Linux boot protocol: setup header, e820, zero page (pure)
 *   mptable.c   Intel MP tables: CPUs, IOAPIC, ISA/PCI interrupts (pure)
 *   serial.c    16550A UART register model (pure)
 *   linux.c     the Linux guest's board: load, UART/CMOS/misc ports, reset
 *   errf.c      an error explained into a caller's buffer (the loaders)
 *
 * Threading: one thread per vCPU once vmm_start() ran.  Everything else
 * (pause/resume, harvesting, state save/load, guest memory access) is called
 * from any other single controlling thread; vmm_dirty_harvest() may run in
 * its own thread (it serialises itself).
 *
 * Errors: functions return 0 (or a count) on success and -errno on failure;
 * a message is written to the VM's log stream (vmm_config.log, stderr).
 */
#ifndef KMIGRATE_VMM_H
#define KMIGRATE_VMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/kvm.h>

#define VMM_PAGE_SIZE		4096ULL
#define VMM_PAGE_SHIFT		12
#define VMM_MAX_VCPUS		64
#define VMM_MAX_REGIONS		8

struct vmm_vm;
struct vmm_vcpu;

/* ------------------------------------------------------------------ VM -- */

enum vmm_dirty_mode {
	VMM_DIRTY_AUTO = 0,	/* ring where offered, else bitmap */
	VMM_DIRTY_RING,		/* KVM_CAP_DIRTY_LOG_RING(_ACQ_REL); fails if absent */
	VMM_DIRTY_BITMAP,	/* KVM_GET_DIRTY_LOG (+ KVM_CLEAR_DIRTY_LOG) */
};

struct vmm_config {
	uint64_t mem_bytes;		/* guest RAM; multiple of 2 MiB */
	unsigned int nr_vcpus;		/* 1..VMM_MAX_VCPUS */
	enum vmm_dirty_mode dirty_mode;
	uint32_t ring_entries;		/* per vCPU, power of 2; 0: 65536 or
					 * the most KVM offers */
	bool no_manual_protect;		/* bitmap: don't use MANUAL_DIRTY_LOG_PROTECT2 */
	uint64_t slot_max_bytes;	/* split RAM into slots of at most this (2 MiB
					 * multiple); 0: only at the PCI hole (3 GiB) */
	bool irqchip;			/* in-kernel LAPIC/IOAPIC/PIC + PIT */
	int kick_signal;		/* signal used to kick vCPUs; 0: SIGRTMIN */
	FILE *log;			/* messages; NULL: stderr */
	FILE *console;			/* guest console output; NULL: log */
	bool quiet_console;		/* drop guest console output */
	const char *cpu_model;		/* cpumodel.h: NULL or "host": what KVM
					 * offers; else a named baseline */
};

/* Formats an explanation into @err (if any) and returns @ret (errf.c). */
int vmm_errf(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

int vmm_vm_create(const struct vmm_config *cfg, struct vmm_vm **out);
/* Stops the vCPU threads (if any), frees everything. */
void vmm_vm_destroy(struct vmm_vm *vm);

int vmm_kvm_fd(const struct vmm_vm *vm);
int vmm_vm_fd(const struct vmm_vm *vm);
unsigned int vmm_nr_vcpus(const struct vmm_vm *vm);
struct vmm_vcpu *vmm_vcpu(struct vmm_vm *vm, unsigned int idx);
int vmm_vcpu_fd(const struct vmm_vcpu *vcpu);
unsigned int vmm_vcpu_index(const struct vmm_vcpu *vcpu);
struct kvm_run *vmm_vcpu_kvm_run(struct vmm_vcpu *vcpu);
/* Guest TSC frequency as KVM reports it (KVM_GET_TSC_KHZ), 0 if unknown. */
uint32_t vmm_tsc_khz(const struct vmm_vm *vm);
/* KVM_CHECK_EXTENSION on the VM fd (falls back to /dev/kvm). */
int vmm_check_cap(const struct vmm_vm *vm, long cap);
/* The CPUID given to the vCPUs (host KVM_GET_SUPPORTED_CPUID + APIC ids). */
const struct kvm_cpuid2 *vmm_vcpu_cpuid(const struct vmm_vcpu *vcpu);
FILE *vmm_log(const struct vmm_vm *vm);

/* -------------------------------------------------------------- memory -- */

struct vmm_mem_region {
	uint64_t gpa;		/* guest-physical start */
	uint64_t size;		/* bytes */
	uint64_t ram_offset;	/* offset in the RAM mapping / memfd */
	uint8_t *hva;		/* host address */
	uint32_t slot;		/* KVM memslot id */
};

/* The whole RAM: one shared mapping of one memfd, in RAM order. */
uint8_t *vmm_ram(const struct vmm_vm *vm);
uint64_t vmm_ram_size(const struct vmm_vm *vm);
int vmm_ram_fd(const struct vmm_vm *vm);
unsigned int vmm_mem_regions(const struct vmm_vm *vm,
			     const struct vmm_mem_region **regions);
/* One past the highest guest frame number of RAM (size of gfn bitmaps). */
uint64_t vmm_gfn_end(const struct vmm_vm *vm);
/* gfn -> RAM page index (offset / 4096), -1 if the gfn is not RAM */
int64_t vmm_gfn_to_ram_page(const struct vmm_vm *vm, uint64_t gfn);
/* RAM page index -> gfn, -1 if out of range */
int64_t vmm_ram_page_to_gfn(const struct vmm_vm *vm, uint64_t page);
/* Host address of [gpa, gpa + len) if it lies in one region, else NULL. */
void *vmm_gpa_to_hva(const struct vmm_vm *vm, uint64_t gpa, uint64_t len);
/*
 * Writes by the VMM itself into guest memory are invisible to KVM's dirty
 * tracking: use these so that the next harvest reports the pages.
 */
int vmm_guest_write(struct vmm_vm *vm, uint64_t gpa, const void *src, uint64_t len);
void vmm_mark_dirty(struct vmm_vm *vm, uint64_t gpa, uint64_t len);

/* ---------------------------------------------------------------- vCPUs -- */

/*
 * Port I/O handler.  data holds size bytes (1, 2, 4) for one access; for IN
 * the handler fills it.  String I/O calls the handler once per element.
 */
typedef void (*vmm_io_fn)(struct vmm_vcpu *vcpu, uint16_t port, bool out,
			  void *data, unsigned int size, void *opaque);
int vmm_io_register(struct vmm_vm *vm, uint16_t port, uint16_t count,
		    vmm_io_fn fn, void *opaque);

/* Events the workload guest reports through its hypercall port. */
typedef void (*vmm_event_fn)(struct vmm_vcpu *vcpu, uint32_t code, uint32_t arg,
			     void *opaque);
void vmm_set_event_handler(struct vmm_vm *vm, vmm_event_fn fn, void *opaque);

enum vmm_vcpu_exit {
	VMM_VCPU_NOT_STARTED = 0,
	VMM_VCPU_RUNNING,
	VMM_VCPU_HALTED,	/* HLT without in-kernel irqchip: the vCPU is done */
	VMM_VCPU_STOPPED,	/* vmm_stop() */
	VMM_VCPU_SHUTDOWN,	/* triple fault */
	VMM_VCPU_FAIL_ENTRY,
	VMM_VCPU_INTERNAL_ERROR,
	VMM_VCPU_SYSTEM_EVENT,
	VMM_VCPU_ERROR,		/* KVM_RUN failed, unknown exit */
};
const char *vmm_vcpu_exit_name(enum vmm_vcpu_exit e);

struct vmm_vcpu_stats {
	uint64_t runs;			/* KVM_RUN calls */
	uint64_t exits_io;
	uint64_t exits_mmio;
	uint64_t exits_intr;		/* kicked out by a signal */
	uint64_t exits_ring_full;	/* KVM_EXIT_DIRTY_RING_FULL */
	uint64_t ring_full_wait_ns;	/* time spent waiting for a ring reset */
	uint64_t ring_full_wait_max_ns;	/* the longest of those waits */
	uint64_t exits_other;
	uint64_t events;		/* hypercall events */
	uint32_t last_event;		/* (arg << 8) | code */
	uint64_t throttle_ns;		/* time slept by the throttle */
	uint64_t throttle_sleeps;	/* periods it slept in */
	enum vmm_vcpu_exit exit;
};
void vmm_vcpu_stats(struct vmm_vcpu *vcpu, struct vmm_vcpu_stats *st);

/*
 * Throttle (throttle.c): the vCPU runs @speed_pct % (1..100; 100: full
 * speed) of every VMM_THROTTLE_PERIOD_NS and sleeps outside KVM_RUN for the
 * rest, holding no lock.  Works with any dirty tracking.  Takes effect at
 * once (a kick); a pause parks a sleeping vCPU within a millisecond and
 * the throttle is kept over pause/resume: vmm_throttle_clear() ends it for
 * every vCPU.  -EINVAL for a speed out of range.
 */
#define VMM_THROTTLE_PERIOD_NS	10000000ULL
int vmm_vcpu_set_throttle(struct vmm_vcpu *vcpu, unsigned int speed_pct);
unsigned int vmm_vcpu_throttle(const struct vmm_vcpu *vcpu);	/* 1..100 */
void vmm_throttle_clear(struct vmm_vm *vm);
/* Ring mode, user harvests: the dirty-ring entries collected from this
 * vCPU so far (one per logged write, so a measure of its dirty rate); 0
 * with the bitmap or when the module reaps the rings. */
uint64_t vmm_vcpu_dirty_entries(const struct vmm_vcpu *vcpu);

/* Start one thread per vCPU; they run the guest until paused/stopped. */
int vmm_start(struct vmm_vm *vm);
/*
 * Stop all vCPUs outside KVM_RUN (signal kick + immediate_exit), with any
 * pending port I/O completed so their state is consistent; returns once
 * every vCPU thread is parked (or has ended).  Safe to call when paused.
 */
int vmm_pause(struct vmm_vm *vm);
int vmm_resume(struct vmm_vm *vm);
bool vmm_paused(const struct vmm_vm *vm);
/* Wait until every vCPU thread has ended (timeout_ms < 0: forever). */
int vmm_wait(struct vmm_vm *vm, int timeout_ms);
/* End all vCPU threads and join them. */
void vmm_stop(struct vmm_vm *vm);
/* Number of vCPU threads that ended abnormally (shutdown, errors). */
unsigned int vmm_failed_vcpus(struct vmm_vm *vm);
/* Print regs/sregs of a vCPU (paused or ended) to the log. */
void vmm_vcpu_dump(struct vmm_vcpu *vcpu, const char *why);

/* --------------------------------------------------------- dirty pages -- */

/* A set of guest frame numbers: one bit per gfn, [0, vmm_gfn_end()). */
struct vmm_dirty_bitmap {
	uint64_t *bits;
	uint64_t nbits;
};

int vmm_dirty_bitmap_init(const struct vmm_vm *vm, struct vmm_dirty_bitmap *bm);
void vmm_dirty_bitmap_free(struct vmm_dirty_bitmap *bm);
void vmm_dirty_bitmap_clear(struct vmm_dirty_bitmap *bm);
uint64_t vmm_dirty_bitmap_count(const struct vmm_dirty_bitmap *bm);
static inline bool vmm_dirty_test(const struct vmm_dirty_bitmap *bm, uint64_t gfn)
{
	return gfn < bm->nbits && (bm->bits[gfn / 64] >> (gfn % 64)) & 1;
}
/* Next set gfn >= from, or bm->nbits. */
uint64_t vmm_dirty_next(const struct vmm_dirty_bitmap *bm, uint64_t from);

/* The mode in use (RING or BITMAP). */
enum vmm_dirty_mode vmm_dirty_mode(const struct vmm_vm *vm);
const char *vmm_dirty_mode_name(enum vmm_dirty_mode m);
/* Details: ring entries per vCPU, whether _ACQ_REL / manual protect are used. */
uint32_t vmm_dirty_ring_entries(const struct vmm_vm *vm);
bool vmm_dirty_ring_acq_rel(const struct vmm_vm *vm);
bool vmm_dirty_manual_protect(const struct vmm_vm *vm);
/* Harvests so far that found a ring overflowed (and reported every
 * populated page, once per overflow). */
uint64_t vmm_dirty_ring_overflows(const struct vmm_vm *vm);

/*
 * Start/stop logging (KVM_MEM_LOG_DIRTY_PAGES on every slot).  Start before
 * the first full copy of memory; every page written afterwards is reported
 * by a later harvest.  Stop drops whatever is still logged.
 */
int vmm_dirty_start(struct vmm_vm *vm);
int vmm_dirty_stop(struct vmm_vm *vm);
bool vmm_dirty_active(const struct vmm_vm *vm);

/*
 * Ring mode: a thread that collects the rings between harvests (every
 * @period_us, 0: 2 ms, when a ring is an eighth full, and at once when a
 * vCPU exits on a full ring), so no ring overruns and no vCPU waits for a
 * whole round; vmm_dirty_harvest() returns what it gathered too.  Not with
 * vmm_dirty_harvest_ext() (-EBUSY there).  vmm_dirty_stop() ends it.  A
 * no-op in bitmap mode.
 */
int vmm_dirty_reaper_start(struct vmm_vm *vm, uint32_t period_us);
/*
 * The same with another collector of the rings (vmm_ring_collect_fn below,
 * e.g. the module's KMIGRATE_HARVEST), which then runs in the reaper's
 * thread too, under the harvest lock; vmm_dirty_harvest_ext() with the
 * same @opaque takes what the reaper gathered.  @collect must be usable
 * until vmm_dirty_reaper_stop() returns.
 */
struct vmm_harvest_stats;
typedef int64_t (*vmm_ring_collect_fn)(void *opaque, struct vmm_dirty_bitmap *out,
				       uint32_t *ring_fetch, unsigned int nr_vcpus,
				       struct vmm_harvest_stats *st, bool *overflow);
int vmm_dirty_reaper_start_ext(struct vmm_vm *vm, uint32_t period_us,
			       vmm_ring_collect_fn collect, void *opaque);
/* Stops the reaper (if any) and waits for it; vmm_dirty_stop() does too. */
void vmm_dirty_reaper_stop(struct vmm_vm *vm);
bool vmm_dirty_reaper_running(const struct vmm_vm *vm);
uint64_t vmm_dirty_reaps(const struct vmm_vm *vm);
/* Why the last overflow reported every page ("" if none did). */
const char *vmm_dirty_overflow_reason(const struct vmm_vm *vm);

struct vmm_harvest_stats {
	uint64_t entries;	/* ring entries / bitmap bits collected (incl. VMM writes) */
	uint64_t new_pages;	/* bits that were not yet set in the output bitmap */
	uint64_t reset;		/* ring: entries KVM_RESET_DIRTY_RINGS re-armed */
	uint64_t ns;		/* time taken */
	uint32_t ring_waiters;	/* vCPUs that were waiting on a full ring */
	uint32_t overflows;	/* rings found completely full: entries may have
				 * been lost, so every populated RAM page was
				 * reported (vmm_dirty_overflow_reason) */
	uint64_t reaped;	/* ring entries the reaper collected since the
				 * previous harvest (included in entries) */
};

typedef void (*vmm_dirty_fn)(uint64_t gfn, void *opaque);

/*
 * Collect the pages dirtied since the previous harvest (or since
 * vmm_dirty_start()) and re-arm tracking for them: the ring entries are
 * marked KVM_DIRTY_GFN_F_RESET and KVM_RESET_DIRTY_RINGS is issued, or
 * the bitmap is fetched with KVM_GET_DIRTY_LOG and cleared with
 * KVM_CLEAR_DIRTY_LOG.  The gfns are OR-ed into out (if given) and passed
 * to fn (if given; in ring mode a gfn may come more than once).
 *
 * Pages are write-protected again only when this returns: copy their
 * contents afterwards, never from inside fn.  Returns the number of
 * entries collected, or -errno.
 *
 * Ring mode: should a ring be found completely full, or KVM's count of
 * re-armed entries disagree with ours (KVM pushes one entry per emulated
 * store when it emulates guest code, and can then overrun a ring), entries
 * may be lost: every populated RAM page is reported once (st->overflows,
 * vmm_dirty_overflow_reason()) and the rings are put back in step; the
 * slots KVM skipped, found at a later harvest, are not reported again.
 * The default ring size and the reaper keep rings from overrunning.
 */
int64_t vmm_dirty_harvest(struct vmm_vm *vm, struct vmm_dirty_bitmap *out,
			  vmm_dirty_fn fn, void *opaque,
			  struct vmm_harvest_stats *st);
/*
 * The same, and @vfn (if given) gets each gfn with the index of the vCPU
 * whose ring held it, or -1 where that is unknown: bitmap mode, pages the
 * VMM wrote itself, what a reaper gathered, or every page reported after
 * an overflow (`kmigrate profile` counts pages per vCPU with it).
 */
typedef void (*vmm_dirty_vcpu_fn)(uint64_t gfn, int vcpu, void *opaque);
int64_t vmm_dirty_harvest_vcpu(struct vmm_vm *vm, struct vmm_dirty_bitmap *out,
			       vmm_dirty_fn fn, vmm_dirty_vcpu_fn vfn, void *opaque,
			       struct vmm_harvest_stats *st);
/*
 * Ring mode with another collector (the kmigrate module's KMIGRATE_HARVEST):
 * under the harvest lock, @collect reads and resets the rings instead of
 * libvmm.  It gets @nr_vcpus positions in @ring_fetch (libvmm's, in: where
 * the next entry is; out: where it is after the collection, so libvmm's own
 * harvest can take over later), ORs the gfns into @out, adds to st->reset,
 * and sets *@overflow when entries may be lost (every RAM page is then
 * reported).  Returns the entries collected or -errno.  libvmm then adds
 * the pages the VMM wrote itself (vmm_mark_dirty) and wakes the vCPUs that
 * wait on a full ring.  In bitmap mode it is vmm_dirty_harvest().
 */
int64_t vmm_dirty_harvest_ext(struct vmm_vm *vm, struct vmm_dirty_bitmap *out,
			      vmm_ring_collect_fn collect, void *opaque,
			      struct vmm_harvest_stats *st);
/* Ring mode: wait until some vCPU waits on a full ring (1) or timeout (0). */
int vmm_dirty_wait_full(struct vmm_vm *vm, int timeout_ms);

/* --------------------------------------------------------------- state -- */

/*
 * A serialised state: a header followed by typed sections, every field
 * fixed-width little-endian; KVM structures are stored as their uapi
 * layout.  Can be written to a file or a socket as is and checked with
 * vmm_state_check() on the way in.
 *
 *   struct vmm_state_hdr;  { struct vmm_state_sec; payload; pad to 8 } ...
 */
#define VMM_STATE_MAGIC		0x53564d4bu	/* "KMVS" */
#define VMM_STATE_VERSION	1
#define VMM_STATE_ARCH_X86_64	1

enum vmm_state_kind {
	VMM_STATE_VCPU = 1,
	VMM_STATE_VM = 2,
	VMM_STATE_DEVICES = 3,	/* devstate.c: one VMM_ST_DEVICE per device */
};

struct vmm_state_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t hdr_size;	/* sizeof(struct vmm_state_hdr) */
	uint32_t total_size;	/* header + all sections */
	uint32_t nr_sections;
	uint16_t arch;		/* VMM_STATE_ARCH_* */
	uint16_t kind;		/* enum vmm_state_kind */
	uint32_t index;		/* vCPU index */
	uint64_t reserved;
};

struct vmm_state_sec {
	uint32_t type;		/* enum vmm_state_type */
	uint32_t size;		/* payload bytes (without padding) */
	uint32_t count;		/* elements, for arrays; else 1 */
	uint32_t flags;
};

enum vmm_state_type {
	/* vCPU */
	VMM_ST_CPUID = 1,	/* struct kvm_cpuid_entry2[count] */
	VMM_ST_REGS,		/* struct kvm_regs */
	VMM_ST_SREGS,		/* struct kvm_sregs */
	VMM_ST_FPU,		/* struct kvm_fpu (only without XSAVE) */
	VMM_ST_XSAVE,		/* struct kvm_xsave, size bytes (XSAVE2: may be > 4096) */
	VMM_ST_XCRS,		/* struct kvm_xcrs */
	VMM_ST_MSRS,		/* struct kvm_msr_entry[count] */
	VMM_ST_EVENTS,		/* struct kvm_vcpu_events */
	VMM_ST_MP_STATE,	/* struct kvm_mp_state */
	VMM_ST_DEBUGREGS,	/* struct kvm_debugregs */
	VMM_ST_LAPIC,		/* struct kvm_lapic_state (irqchip only) */
	VMM_ST_TSC,		/* struct vmm_state_tsc */
	/* VM */
	VMM_ST_CLOCK = 32,	/* struct kvm_clock_data */
	VMM_ST_IRQCHIP,		/* struct kvm_irqchip[count]: PIC master, slave, IOAPIC */
	VMM_ST_PIT2,		/* struct kvm_pit_state2 */
	VMM_ST_VMINFO,		/* struct vmm_state_vminfo */
	/* devices (VMM_STATE_DEVICES) */
	VMM_ST_DEVICE = 64,	/* struct vmm_state_dev + the device's own bytes */
};

/* A device's section: who it is, then its state as it serialises it. */
#define VMM_DEV_NAME_SIZE	16
struct vmm_state_dev {
	char name[VMM_DEV_NAME_SIZE];	/* "board", "virtio-blk", ...; NUL-padded */
	uint32_t version;		/* of the device's own layout */
	uint32_t size;			/* bytes that follow */
};

struct vmm_state_tsc {
	uint64_t tsc;		/* guest TSC (MSR 0x10) at save time */
	uint32_t tsc_khz;	/* guest TSC frequency */
	uint32_t reserved;
	int64_t realtime_ns;	/* host CLOCK_REALTIME when tsc was read */
};

struct vmm_state_vminfo {
	uint64_t mem_bytes;
	uint32_t nr_vcpus;
	uint32_t nr_regions;
	struct {
		uint64_t gpa, size, ram_offset;
	} regions[VMM_MAX_REGIONS];
};

struct vmm_state {
	uint8_t *buf;		/* the serialised form: hdr + sections */
	size_t size;		/* bytes used */
	size_t cap;
};

void vmm_state_free(struct vmm_state *st);
/* Validate a serialised state (sizes, magic, section bounds). */
int vmm_state_check(const void *buf, size_t len);
/* Adopt a validated copy of buf. */
int vmm_state_from_buf(struct vmm_state *st, const void *buf, size_t len);
const struct vmm_state_hdr *vmm_state_hdr(const struct vmm_state *st);
/* Payload of the first section of that type, NULL if absent. */
const void *vmm_state_find(const struct vmm_state *st, uint32_t type,
			   uint32_t *size, uint32_t *count);
const char *vmm_state_type_name(uint32_t type);
/* The @n-th (from 0) section of that type, NULL if there are fewer. */
const void *vmm_state_find_nth(const struct vmm_state *st, uint32_t type, uint32_t n,
			       uint32_t *size);
/* A section of exactly @size bytes, NULL if absent or of another size. */
const void *vmm_state_get(const struct vmm_state *st, uint32_t type, size_t size);
/* Building a state: a header of @kind, then sections (0 or -ENOMEM). */
int vmm_state_begin(struct vmm_state *st, uint16_t kind, uint32_t index);
int vmm_state_add(struct vmm_state *st, uint32_t type, const void *data, size_t size,
		  uint32_t count);

/*
 * Save the full architectural state of a vCPU that is paused or not yet
 * started: CPUID, regs, sregs, XSAVE (KVM_GET_XSAVE2 if offered) or FPU,
 * XCRs, every MSR of KVM_GET_MSR_INDEX_LIST that reads back, events, MP
 * state, debug registers, LAPIC (with irqchip) and the TSC with a host
 * timestamp.
 */
int vmm_vcpu_state_save(struct vmm_vcpu *vcpu, struct vmm_state *st);

/*
 * What a load wrote of the guest's debug state.  Only what differs from a
 * fresh vCPU is written: a guest that never used its debug registers,
 * DEBUGCTL or the LBR MSRs gets none of them set by the load, so nothing
 * reaches KVM's (and through it the host's) debug handling that the guest
 * did not put there itself.
 */
struct vmm_load_stats {
	unsigned int debug_msrs_written;	/* DEBUGCTL and LBR MSRs */
	unsigned int debugregs_written;		/* vCPUs given KVM_SET_DEBUGREGS */
};

struct vmm_load_opts {
	/*
	 * Advance the guest TSC by the host time elapsed since the save
	 * (CLOCK_REALTIME), so the guest sees the real length of the pause.
	 * Without it the TSC resumes where it stopped.
	 */
	bool tsc_advance;
	int64_t now_ns;		/* the "now" for tsc_advance; 0: read the clock */
	struct vmm_load_stats *stats;	/* optional, added to */
};

/*
 * Load a state into a vCPU that has not run yet (the CPUID is set first)
 * or is paused (then the CPUID must be identical).
 */
int vmm_vcpu_state_load(struct vmm_vcpu *vcpu, const struct vmm_state *st,
			const struct vmm_load_opts *opts);
/* Same for every vCPU with one clock reading for all (states[i] -> vCPU i). */
int vmm_vcpus_state_load(struct vmm_vm *vm, const struct vmm_state *states,
			 const struct vmm_load_opts *opts);

/*
 * VM-wide state: RAM layout, kvmclock, irqchip + PIT (when in-kernel).
 * kvmclock is saved with KVM_GET_CLOCK's host CLOCK_REALTIME (and TSC) where
 * KVM gives them; the load then passes KVM_CLOCK_REALTIME so KVM advances the
 * guest's clock by the real time elapsed since the save (its wall clock does
 * not fall behind by the pause), unless the hosts' clocks disagree: a save
 * "in the future" or more than VMM_CLOCK_MAX_GAP_NS ago resumes the clock
 * where it stopped instead (logged).
 */
#define VMM_CLOCK_MAX_GAP_NS	(10ULL * 1000000000ULL)
int vmm_vm_state_save(struct vmm_vm *vm, struct vmm_state *st);
int vmm_vm_state_load(struct vmm_vm *vm, const struct vmm_state *st);

/*
 * Devices' state (devstate.c): one small interface every device that holds
 * guest-visible state implements, registered with the VM in a fixed order
 * (the same configuration registers them in the same order on both hosts).
 *
 *   quiesce  the vCPUs are paused: finish what is in flight (requests the
 *            device's threads still process, writes to flush) so that the
 *            state saved next is final; may be NULL
 *   save     add the device's state: its bytes after struct vmm_state_dev
 *   load     the destination, vCPUs not started: take those bytes (the
 *            version and size as save wrote them) and re-establish what KVM
 *            holds for the device (interrupt lines, routes, eventfds)
 *
 * vmm_dev_state_save() builds a VMM_STATE_DEVICES state: one VMM_ST_DEVICE
 * section per device, in registration order; vmm_dev_state_load() checks
 * the count and every name before loading any.
 */
struct vmm_dev_ops {
	const char *name;		/* < VMM_DEV_NAME_SIZE bytes */
	int (*quiesce)(void *opaque);
	int (*save)(void *opaque, uint32_t *version, void **buf, size_t *size);
	int (*load)(void *opaque, uint32_t version, const void *buf, size_t size);
};
#define VMM_MAX_DEV_STATES	(VMM_MAX_DEVICES + 2)
int vmm_dev_state_register(struct vmm_vm *vm, const struct vmm_dev_ops *ops, void *opaque);
unsigned int vmm_dev_state_count(const struct vmm_vm *vm);
int vmm_dev_state_quiesce(struct vmm_vm *vm);
int vmm_dev_state_save(struct vmm_vm *vm, struct vmm_state *st);
/* -EINVAL with a line in @err when the devices differ from the saved ones. */
int vmm_dev_state_load(struct vmm_vm *vm, const struct vmm_state *st, char *err,
		       size_t errlen);

/*
 * Compare two vCPU states section by section, for checks after a
 * restore.  Differences are printed to out (if given); the TSC MSR and
 * the TSC section are skipped.  Returns the number of differing sections.
 */
int vmm_state_compare(const struct vmm_state *a, const struct vmm_state *b,
		      FILE *out);

/* ----------------------------------------------------------- x86 boot -- */

/*
 * Put a vCPU straight into 64-bit mode: the GDT, TSS and identity page
 * tables (2 MiB pages over all RAM) at the fixed addresses of the workload
 * layout (guest/wl_abi.h) are written by vmm_x86_setup_tables(); then
 * each vCPU gets CR0/CR4/EFER/CR3, flat segments, XCR0 and the given
 * rip/rsp/rdi/rsi/rdx.
 */
int vmm_x86_setup_tables(struct vmm_vm *vm);
int vmm_x86_setup_longmode(struct vmm_vcpu *vcpu, uint64_t rip, uint64_t rsp,
			   uint64_t rdi, uint64_t rsi, uint64_t rdx);

/* ------------------------------------------------------------ workload -- */

enum vmm_wl_pattern {
	VMM_WL_SEQ = 0,
	VMM_WL_RANDOM = 1,
	VMM_WL_HOTCOLD = 2,
};

struct vmm_wl_config {
	enum vmm_wl_pattern pattern;
	uint64_t rate;		/* pages/s per vCPU; 0: as fast as it can */
	uint64_t ws_pages;	/* working set per vCPU in pages; 0: all work
				 * memory (split evenly unless shared) */
	bool shared;		/* all vCPUs write one set (atomic page claim) */
	bool header_only;	/* stamp 32 bytes instead of the whole page */
	bool no_fpu_check;	/* don't keep the SSE counter (xmm15) */
	uint32_t hot_pct;	/* hot/cold: hot set, % of working set (0: 10) */
	uint32_t hot_prob;	/* hot/cold: % of writes to it (0: 90) */
	uint64_t seed;
	uint32_t zero_every;	/* every Nth write zeroes its page; 0: never */
};

int vmm_wl_parse_pattern(const char *s, enum vmm_wl_pattern *p);
const char *vmm_wl_pattern_name(enum vmm_wl_pattern p);

/*
 * Load the built-in workload guest into a fresh VM: image, tables,
 * parameters and the boot state of every vCPU.  Then vmm_start().
 */
int vmm_wl_load(struct vmm_vm *vm, const struct vmm_wl_config *cfg);
/* Ask the guest to stop (it reports DONE and halts); tracked as dirty. */
int vmm_wl_request_stop(struct vmm_vm *vm);
/* Reset the guest's "longest pause" records (new epoch). */
int vmm_wl_reset_gaps(struct vmm_vm *vm);
/*
 * Each vCPU writes its next page once through string port input first
 * (std; rep insb of 1024 bytes, backwards): KVM emulates it one element at
 * a time, pushing one dirty-ring entry per byte, so a ring smaller than
 * that overruns (a deliberate overflow, for tests).  The page's contents
 * end as usual.
 */
int vmm_wl_burst(struct vmm_vm *vm);

struct vmm_wl_vcpu_status {
	uint64_t seq;		/* page writes done */
	uint64_t max_gap_tsc;
	uint64_t max_gap_us;	/* longest pause the guest observed */
	uint64_t max_gap_end_tsc;
	uint64_t stalls;	/* pauses > 100 us */
	uint64_t stall_us;	/* their sum */
	uint64_t collisions;
	uint64_t last_tsc;
	uint32_t state;		/* 0 init, 1 running, 2 done, 3 panic */
	uint32_t errors;	/* FPU check failures */
};

/* Read the guest's status page (from live memory or a copy of RAM). */
int vmm_wl_status(const struct vmm_vm *vm, unsigned int vcpu,
		  struct vmm_wl_vcpu_status *st);
int vmm_wl_status_from(const void *ram, uint64_t ram_size, unsigned int vcpu,
		       struct vmm_wl_vcpu_status *st);

#define VMM_WL_VERIFY_REPLAY	(1u << 0)	/* exact check against a replay */
#define VMM_WL_VERIFY_QUIET	(1u << 1)

struct vmm_wl_report {
	uint64_t pages;		/* work pages examined */
	uint64_t untouched;	/* all zero */
	uint64_t stamped;	/* consistent stamp */
	uint64_t in_progress;	/* being written when the vCPU stopped (allowed) */
	uint64_t bad;		/* inconsistent, foreign, future or stale */
	uint64_t replayed;	/* writes replayed for the exact check */
	uint64_t first_bad_gfn;
	char first_bad[192];
};

/*
 * Check a copy of guest RAM (RAM order, as vmm_ram()) taken while the
 * guest was stopped: every work page is all zero or carries a whole,
 * self-consistent stamp for its own gfn, from a vCPU that exists, not newer
 * than that vCPU's counter (read from the status page in the same copy).
 * With VMM_WL_VERIFY_REPLAY (split working sets only) the guest's page
 * choices are replayed from its parameters: each page must hold exactly
 * the last write that chose it (the page being written at the stop may be
 * torn or one write ahead).  Returns 0 if all pages pass, else -EBADMSG.
 */
int vmm_wl_verify(const void *ram, uint64_t ram_size, unsigned int flags,
		  struct vmm_wl_report *rep, FILE *out);
/* The same on @ram mapped from memfd @fd: holes of @fd are zero pages,
 * checked without reading (so without allocating) them. */
int vmm_wl_verify_fd(const void *ram, uint64_t ram_size, int fd, unsigned int flags,
		     struct vmm_wl_report *rep, FILE *out);

/* The embedded guest image. */
const void *vmm_wl_image(size_t *size);

/* ----------------------------------------- multiboot v1 (multiboot.c) -- */
/*
 * Boot a multiboot (v1) kernel the way QEMU's -kernel does: the header is
 * searched in the first 8192 bytes (4-byte aligned); ELF32 executables are
 * loaded by their PT_LOAD segments at p_paddr (bss zeroed), or by the a.out
 * kludge (header flag bit 16, which takes precedence, as in QEMU).  ELF64
 * is refused.  The multiboot info (mem, cmdline, mmap with the 640K-1M
 * hole, boot loader name "kmigrate"), the command line, the memory map and
 * a flat GDT go into one low-memory window below 640 KiB that the kernel
 * does not use.  vCPU 0 enters in 32-bit protected mode (flat 4 GiB CS/DS/
 * ES/FS/GS/SS, CR0 = PE|ET, paging off, EFLAGS = 0x2) with EAX = 0x2BADB002
 * and EBX = the info's address.  Other vCPUs need the in-kernel irqchip:
 * they wait for INIT/SIPI (KVM_MP_STATE_UNINITIALIZED), as on QEMU.
 */
#define VMM_MB_HEADER_MAGIC	0x1BADB002u
#define VMM_MB_BOOT_MAGIC	0x2BADB002u
#define VMM_MB_SEARCH		8192
#define VMM_MB_MAX_SEGS		16
#define VMM_MB_CMDLINE_MAX	4096
/* header flags */
#define VMM_MB_F_PAGE_ALIGN	(1u << 0)	/* modules page aligned (none given) */
#define VMM_MB_F_MEMINFO	(1u << 1)	/* mem_* required */
#define VMM_MB_F_VIDEO		(1u << 2)	/* video mode: ignored (QEMU too) */
#define VMM_MB_F_AOUT_KLUDGE	(1u << 16)	/* load addresses in the header */
/* info flags set */
#define VMM_MB_INFO_MEM		(1u << 0)
#define VMM_MB_INFO_CMDLINE	(1u << 2)
#define VMM_MB_INFO_MMAP	(1u << 6)
#define VMM_MB_INFO_LOADER	(1u << 9)

struct vmm_mb_seg {
	uint64_t file_off;	/* bytes from the file ... */
	uint64_t file_size;
	uint64_t gpa;		/* ... copied here, then zero up to mem_size */
	uint64_t mem_size;
};

struct vmm_mb_image {
	uint32_t header_off;	/* offset of the multiboot header in the file */
	uint32_t header_flags;
	uint32_t entry;		/* guest-physical entry point */
	bool aout_kludge;	/* loaded by the header's addresses, not as ELF */
	bool video_ignored;	/* flag bit 2 was set: no video info given */
	unsigned int nr_segs;
	struct vmm_mb_seg segs[VMM_MB_MAX_SEGS];
	uint64_t lo, hi;	/* guest-physical span [lo, hi) of all segments */
};

/*
 * Parse a kernel file (no KVM needed): finds and checks the header, the
 * ELF32 program headers or the a.out kludge fields, and every segment
 * against [0, ram_top) (ram_top 0: 4 GiB) and the 640K-1M hole.  Returns
 * 0, or -ENOEXEC (not a usable multiboot kernel) / -EINVAL / -ERANGE with
 * a message in err.
 */
int vmm_mb_parse(const void *buf, size_t len, uint64_t ram_top,
		 struct vmm_mb_image *img, char *err, size_t errlen);
/*
 * Load a kernel into a fresh VM (before vmm_start()): segments, info,
 * vCPU 0's boot state.  cmdline may be NULL (an empty command line is
 * passed).  Messages go to the VM's log.
 */
int vmm_mb_load(struct vmm_vm *vm, const void *buf, size_t len, const char *cmdline);
int vmm_mb_load_file(struct vmm_vm *vm, const char *path, const char *cmdline);
/* Put a vCPU into 32-bit flat protected mode at eip (GDT at gdt_gpa: null, code 0x08, data 0x10). */
int vmm_x86_setup_protmode32(struct vmm_vcpu *vcpu, uint32_t gdt_gpa, uint32_t eip,
			     uint32_t eax, uint32_t ebx);
/* ------------------------------------------------- end multiboot v1 -- */

/* ------------------------------------------- PCI devices (devices.c) -- */
/*
 * virtio devices on PCI bus 0 (docs/DEVICES.md): add them after
 * vmm_vm_create() and before vmm_start().  Interrupts are MSI-X through
 * KVM_SIGNAL_MSI, so a guest that uses them needs vmm_config.irqchip.
 * Each device has its own worker thread; everything is freed by
 * vmm_vm_destroy() (a tap kmigrate created goes away with it).
 */
#define VMM_MAX_DEVICES		16

enum vmm_dev_kind {
	VMM_DEV_DISK = 1,
	VMM_DEV_NET = 2,
};

struct vmm_net_cfg {
	const char *vm_name;	/* for the tap's name and the default MAC */
	unsigned int index;	/* the NIC's number in the VM, from 0 */
	const char *bridge;	/* create a tap and attach it here, or */
	const char *tap;	/* use this existing tap */
	bool has_mac;
	uint8_t mac[6];
};

struct vmm_dev_info {
	enum vmm_dev_kind kind;
	unsigned int pci_slot;
	uint64_t interrupts;	/* MSI-X messages sent */
	/* disk */
	const char *path;
	bool ro;
	uint64_t bytes;
	uint64_t requests;
	/* NIC */
	const char *tap;
	const char *bridge;	/* NULL: an existing tap */
	uint8_t mac[6];
	uint64_t rx_packets, tx_packets;
};

/* Returns 0, or -errno with one line in @err (-EBUSY: the disk is locked). */
int vmm_disk_add(struct vmm_vm *vm, const char *path, bool ro, char *err, size_t errlen);
int vmm_net_add(struct vmm_vm *vm, const struct vmm_net_cfg *cfg, char *err, size_t errlen);
/*
 * A migration's disk handoff (docs/DEVICES.md): the destination adds the
 * source's disk detached (its size as the source has it; no fd, no lock:
 * the source still writes it) and opens them all with vmm_disks_open() once
 * the guest is its own (COMMIT); the source closes its disks (drops their
 * locks) with vmm_disks_close() right before it sends COMMIT.  Open reports
 * the first disk that fails (-errno, a line in @err) and opens the others.
 */
int vmm_disk_add_detached(struct vmm_vm *vm, const char *path, bool ro, uint64_t bytes,
			  char *err, size_t errlen);
int vmm_disks_open(struct vmm_vm *vm, char *err, size_t errlen);
void vmm_disks_close(struct vmm_vm *vm);
unsigned int vmm_dev_count(const struct vmm_vm *vm);
int vmm_dev_info(const struct vmm_vm *vm, unsigned int i, struct vmm_dev_info *info);

/* ----------------------------------------------- announce-self (announce.c) -- */
/*
 * After a migrated guest resumes on the destination: for each NIC, frames
 * into its tap so the bridge and the switches upstream learn the MAC's new
 * port at once (a RARP as QEMU's announce-self sends, and an unsolicited
 * IPv6 neighbour advertisement for the MAC's EUI-64 link-local address),
 * @rounds times, the first at once, then after initial_ms, initial_ms +
 * step_ms, ...  A thread of its own sends them: start returns at once and
 * the vCPUs never wait.  Call it right after vmm_start() of the resumed
 * guest.  Starting again restarts the rounds; vmm_vm_destroy() stops it.
 */
struct vmm_announce_params {
	unsigned int rounds;		/* 1..100 */
	unsigned int initial_ms;	/* the spacing after round 1 */
	unsigned int step_ms;		/* added for each later round */
};
#define VMM_ANNOUNCE_DEFAULTS	{ .rounds = 5, .initial_ms = 50, .step_ms = 50 }

struct vmm_announce_stats {
	unsigned int rounds;		/* rounds sent */
	uint64_t frames;		/* frames written into the taps */
	uint64_t errors;		/* writes refused (the first is logged) */
};

/* 0 (also for a VM without NICs: nothing to send), or -errno. */
int vmm_announce_start(struct vmm_vm *vm, const struct vmm_announce_params *p);
/* Stops the rounds (if any), with what was sent in @st (may be NULL). */
void vmm_announce_stop(struct vmm_vm *vm, struct vmm_announce_stats *st);

/* ------------------------------------ Linux boot (bzimage.c, mptable.c,
 *                                       serial.c, linux.c) -- */
/*
 * A stock x86-64 bzImage booted through the 64-bit boot protocol
 * (Documentation/arch/x86/boot.rst), no firmware:
 *
 *   0x1000..0x50000  GDT, TSS, identity page tables (vmm_x86_setup_tables)
 *   0x7000           boot_params (the zero page); RSI at entry
 *   0x60000          the command line (at most the header's cmdline_size)
 *   0x9fc00          MP tables (vmm_mp_build), in the reserved 639K-1M hole
 *   pref_address     the protected-mode kernel (16 MiB for Debian; 1 MiB
 *                    if it would not fit there), init_size bytes reserved
 *   top of low RAM   the initrd, below initrd_addr_max, page aligned
 *
 * e820: RAM [0, 639K), reserved [639K, 1M), RAM [1M, min(mem, 3G)) and,
 * above 3 GiB of memory, the rest from 4 GiB (the PCI hole 3-4 GiB).
 * vCPU 0 enters startup_64 (load address + 0x200) in long mode with RSI =
 * boot_params; the others wait for INIT/SIPI (in-kernel irqchip needed).
 */
#define VMM_BZ_MIN_VERSION	0x020c	/* 2.12: xloadflags, XLF_KERNEL_64 */
#define VMM_BZ_ZERO_PAGE	0x7000ULL
#define VMM_BZ_CMDLINE		0x60000ULL
#define VMM_BZ_CMDLINE_MAX	0x10000ULL
#define VMM_MP_GPA		0x9fc00ULL
#define VMM_EBDA_START		0x9fc00ULL
#define VMM_PCI_HOLE_START	(3ULL << 30)
#define VMM_IOAPIC_ADDR		0xfec00000u
#define VMM_LAPIC_ADDR		0xfee00000u

struct vmm_bz_image {
	uint16_t version;		/* boot protocol, 0x020c = 2.12 */
	uint16_t xloadflags;
	bool relocatable;
	uint64_t setup_size;		/* real-mode part: (setup_sects + 1) * 512 */
	uint64_t hdr_end;		/* file offset where the setup header ends */
	uint64_t kernel_off, kernel_size;	/* the protected-mode kernel in the file */
	uint32_t initrd_addr_max;	/* highest byte an initrd may use */
	uint32_t kernel_alignment;
	uint32_t cmdline_size;		/* longest command line, without NUL */
	uint64_t pref_address;
	uint32_t init_size;		/* memory the kernel needs from its load address */
};

/* Has the "HdrS" magic at 0x202 (a bzImage, not an ELF or multiboot). */
bool vmm_bz_is_bzimage(const void *buf, size_t len);
/*
 * Check a bzImage: magic, boot flag, protocol >= 2.12, 64-bit entry,
 * relocatable, loaded high, not truncated.  -ENOEXEC with a message.
 */
int vmm_bz_parse(const void *buf, size_t len, struct vmm_bz_image *img,
		 char *err, size_t errlen);

#define VMM_E820_MAX		8
#define VMM_E820_RAM		1
#define VMM_E820_RESERVED	2
struct vmm_e820_entry {
	uint64_t addr, size;
	uint32_t type;
};
struct vmm_e820 {
	unsigned int nr;
	struct vmm_e820_entry e[VMM_E820_MAX];
};
/* The guest's memory map for mem_bytes of RAM (see the layout above). */
void vmm_e820_layout(uint64_t mem_bytes, struct vmm_e820 *m);

/* Where a kernel, its initrd and command line go in a given RAM size. */
struct vmm_bz_plan {
	uint64_t kernel_gpa;		/* the protected-mode kernel */
	uint64_t initrd_gpa, initrd_size;
	uint64_t cmdline_gpa;
	uint64_t entry;			/* startup_64 */
};
/*
 * Place the kernel, an initrd of initrd_size bytes (0: none) and a command
 * line of cmdline_len bytes in mem_bytes of RAM.  -E2BIG (the kernel or the
 * initrd does not fit, the command line is longer than the kernel takes)
 * with a message.
 */
int vmm_bz_plan(const struct vmm_bz_image *img, uint64_t mem_bytes,
		uint64_t initrd_size, size_t cmdline_len, struct vmm_bz_plan *plan,
		char *err, size_t errlen);

struct vmm_bz_params {
	uint64_t kernel_gpa, cmdline_gpa, initrd_gpa, initrd_size;
	const struct vmm_e820 *e820;
};
/* Fill the 4096-byte zero page zp from the kernel's header and p. */
int vmm_bz_fill_params(const void *kernel, const struct vmm_bz_image *img,
		       uint8_t *zp, const struct vmm_bz_params *p);

/* MP tables (mptable.c).  PCI interrupt routing for PCI devices: */
#define VMM_MP_MAX_PCI_IRQS	32
struct vmm_mp_pci_irq {
	uint8_t dev;		/* device number on bus 0 */
	uint8_t pin;		/* 0 = INTA# .. 3 = INTD# */
	uint8_t gsi;		/* IOAPIC pin it drives (KVM_IRQ_LINE irq) */
};
struct vmm_mp_config {
	unsigned int nr_cpus;
	uint32_t cpu_signature;		/* CPUID.1 EAX */
	uint32_t cpu_features;		/* CPUID.1 EDX */
	unsigned int nr_pci_irqs;
	const struct vmm_mp_pci_irq *pci_irqs;
};
size_t vmm_mp_size(const struct vmm_mp_config *c);
uint8_t vmm_mp_checksum(const uint8_t *p, size_t len);
/* Build the floating pointer + table for address gpa into buf: bytes used or -errno. */
int vmm_mp_build(uint8_t *buf, size_t len, uint32_t gpa, const struct vmm_mp_config *c);

/* The 16550A register model (serial.c); the caller serialises calls. */
#define VMM_UART_FIFO		16
struct vmm_uart {
	uint8_t ier, lcr, mcr, lsr, msr, scr, dll, dlm, fcr;
	bool thr_ipending;
	int irq_level;
	uint8_t rx[VMM_UART_FIFO];
	unsigned int rx_head, rx_count;
	void (*tx)(void *opaque, uint8_t byte);	/* a byte the guest sent */
	void (*irq)(void *opaque, int level);	/* the interrupt line changed */
	void *opaque;
};
void vmm_uart_init(struct vmm_uart *u, void (*tx)(void *, uint8_t),
		   void (*irq)(void *, int), void *opaque);
uint8_t vmm_uart_read(struct vmm_uart *u, unsigned int off);
void vmm_uart_write(struct vmm_uart *u, unsigned int off, uint8_t v);
/* Bytes for the guest to read: returns how many fit in the FIFO. */
size_t vmm_uart_receive(struct vmm_uart *u, const uint8_t *buf, size_t n);
size_t vmm_uart_rx_room(const struct vmm_uart *u);
/* Its registers and FIFO for a migration (fixed-width, 32 bytes). */
struct vmm_uart_state {
	uint8_t ier, lcr, mcr, lsr, msr, scr, dll, dlm, fcr;
	uint8_t thr_ipending, irq_level, rx_head, rx_count;
	uint8_t reserved[3];
	uint8_t rx[VMM_UART_FIFO];
};
void vmm_uart_save(const struct vmm_uart *u, struct vmm_uart_state *s);
/* -EINVAL for an inconsistent state; an asserted line is raised again
 * through the irq callback (the destination's pin starts low). */
int vmm_uart_load(struct vmm_uart *u, const struct vmm_uart_state *s);

/*
 * The board a Linux guest sees (linux.c): kernel, initrd and command line
 * loaded, MP tables, the UART at 0x3f8 / IRQ 4, CMOS/RTC at 0x70, port
 * 0x61, 0x80 (POST), the i8042 reset (0x64 <- 0xfe ends the VM: a guest
 * reboot), unknown ports (reads all ones, writes ignored, logged once per
 * port with the RIP).  The VM must have been created with irqchip = true.
 */
#define VMM_SERIAL_PORT		0x3f8
#define VMM_SERIAL_IRQ		4
struct vmm_linux;
struct vmm_linux_config {
	const char *kernel;		/* bzImage path */
	const char *initrd;		/* NULL: none */
	const char *cmdline;		/* NULL: empty */
	/* the guest's serial output; NULL: the VM's console stream */
	void (*console_out)(void *opaque, const uint8_t *buf, size_t len);
	void *console_opaque;
	/* PCI interrupts to describe in the MP table (the virtio-pci bus) */
	unsigned int nr_pci_irqs;
	const struct vmm_mp_pci_irq *pci_irqs;
};
/*
 * Read and check the files against mem_bytes without a VM (for a clear
 * error before anything is created).  0, or -errno with a message:
 * -ENOENT/-EACCES/-EIO (files), -ENOEXEC (not a usable bzImage), -E2BIG.
 */
int vmm_linux_check(const struct vmm_linux_config *cfg, uint64_t mem_bytes,
		    char *err, size_t errlen);
int vmm_linux_load(struct vmm_vm *vm, const struct vmm_linux_config *cfg,
		   struct vmm_linux **out, char *err, size_t errlen);
/*
 * The board alone, for the destination of a migration: the UART, CMOS and
 * misc ports and the board's state (vmm_dev_ops "board": UART registers and
 * FIFO, CMOS, port 0x61, the kernel and command line it was booted with, as
 * information), no kernel loaded, no vCPU set up: memory, CPUID and vCPU
 * state come from the source.  cfg->kernel, initrd and cmdline are unused.
 * vmm_linux_load() registers the same state, so both hosts agree.
 */
int vmm_linux_attach(struct vmm_vm *vm, const struct vmm_linux_config *cfg,
		     struct vmm_linux **out, char *err, size_t errlen);
/* The kernel path and command line the guest was booted with ("" unknown;
 * on a destination: as the source's state said, once loaded). */
const char *vmm_linux_kernel(const struct vmm_linux *lx);
const char *vmm_linux_cmdline(const struct vmm_linux *lx);
/* Feed console input to the UART: bytes taken (the FIFO holds 16). */
size_t vmm_linux_console_input(struct vmm_linux *lx, const uint8_t *buf, size_t n);
void vmm_linux_free(struct vmm_linux *lx);

/* Port I/O nobody registered: fn is called instead of the all-ones default. */
void vmm_io_set_default(struct vmm_vm *vm, vmm_io_fn fn, void *opaque);
/*
 * End the VM from inside (a vCPU thread may call it): every vCPU thread
 * ends (exit VMM_VCPU_STOPPED) and vmm_guest_ended() says why.
 */
void vmm_request_end(struct vmm_vm *vm, const char *why);
/* NULL while the guest has not asked to end, else the reason. */
const char *vmm_guest_ended(const struct vmm_vm *vm);
/* ------------------------------------------------- end Linux boot -- */

/* -------------------------------------------------------------- helpers -- */

uint64_t vmm_now_ns(void);		/* CLOCK_MONOTONIC */
uint64_t vmm_realtime_ns(void);		/* CLOCK_REALTIME */

#endif
