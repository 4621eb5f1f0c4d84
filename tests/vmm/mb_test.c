// SPDX-License-Identifier: GPL-2.0
/*
 * Boots the multiboot (v1) test kernel (tests/vmm/mb_guest/) under KVM with
 * libvmm and checks the boot protocol from both sides (TAP):
 *
 *   - the vCPU state at entry (read back from KVM before the first run):
 *     EAX/EBX, CS 32-bit code base 0 limit 4G, DS/ES/FS/GS/SS flat data,
 *     CR0.PE = 1 and PG = 0, EFER.LMA = 0, EFLAGS.IF = 0 and VM = 0
 *   - the multiboot info in guest memory (mem, cmdline, mmap, loader name),
 *     outside the kernel
 *   - the guest's own report (console line, event, pattern in memory,
 *     A20, EFLAGS/CR0 as it saw them)
 *   - an a.out-kludge image built here (bss zeroed, EAX at entry)
 *   - a kernel that keeps running (heartbeat), is paused, saved and restored
 *     into a second VM where it goes on, and is stopped from outside
 *   - refusals (not ELF, no header, bad checksum, ELF64, segment beyond
 *     guest memory, >1 vCPU without irqchip) with clear messages and the
 *     VM still usable; with the in-kernel irqchip and 2 vCPUs the AP stays
 *     in KVM_MP_STATE_UNINITIALIZED
 *
 *   mb_test [path/to/mb_guest.elf]   (default: mb_guest.elf next to mb_test)
 */
#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "vmm.h"

#define MEM		(64ULL << 20)
#define PATTERN_GPA	0x400000u
#define PATTERN_SIZE	0x10000u
#define PATTERN_XOR	0x4B4D4D42u
#define BEAT_GPA	(PATTERN_GPA + PATTERN_SIZE)
#define EV_DONE		2

static int tests, failed;

static void ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ok(bool cond, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d ", cond ? "" : "not ", ++tests);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!cond)
		failed++;
}

static void w32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	b = malloc((size_t)n + 1);
	if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
		free(b);
		b = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return b;
}

/* Reads a whole tmpfile back as a string. */
static char *slurp(FILE *f)
{
	long n;
	char *s;

	fflush(f);
	n = ftell(f);
	s = calloc(1, (size_t)n + 1);
	rewind(f);
	if (s && n > 0 && fread(s, 1, (size_t)n, f) != (size_t)n)
		s[0] = 0;
	fseek(f, 0, SEEK_END);
	return s;
}

struct vm {
	struct vmm_vm *vm;
	FILE *log, *con;
};

static int vm_new(struct vm *v, unsigned int vcpus, bool irqchip)
{
	struct vmm_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	memset(v, 0, sizeof(*v));
	v->log = tmpfile();
	v->con = tmpfile();
	cfg.mem_bytes = MEM;
	cfg.nr_vcpus = vcpus;
	cfg.irqchip = irqchip;
	cfg.log = v->log;
	cfg.console = v->con;
	return vmm_vm_create(&cfg, &v->vm);
}

static void vm_free(struct vm *v)
{
	if (v->vm)
		vmm_vm_destroy(v->vm);
	if (v->log)
		fclose(v->log);
	if (v->con)
		fclose(v->con);
	memset(v, 0, sizeof(*v));
}

/* Wait until vCPU 0 reported an event (or ended); returns its last event. */
static uint32_t wait_event(struct vmm_vm *vm, int ms)
{
	struct vmm_vcpu_stats st;

	for (; ms > 0; ms -= 10) {
		vmm_vcpu_stats(vmm_vcpu(vm, 0), &st);
		if (st.events || (st.exit != VMM_VCPU_RUNNING && st.exit != VMM_VCPU_NOT_STARTED))
			break;
		usleep(10000);
	}
	vmm_vcpu_stats(vmm_vcpu(vm, 0), &st);
	return st.events ? st.last_event : 0xffffffffu;
}

static bool seg_flat(const struct kvm_segment *s)
{
	return s->base == 0 && s->limit == 0xffffffff && s->present && s->s && s->g &&
	       !s->unusable;
}

static void check_entry_state(struct vmm_vm *vm, const struct vmm_mb_image *img)
{
	int fd = vmm_vcpu_fd(vmm_vcpu(vm, 0));
	struct kvm_sregs s;
	struct kvm_regs r;
	const struct kvm_segment *d[5];
	bool data_ok = true;
	unsigned int i;

	if (ioctl(fd, KVM_GET_SREGS, &s) < 0 || ioctl(fd, KVM_GET_REGS, &r) < 0) {
		ok(false, "entry state: KVM_GET_(S)REGS: %s", strerror(errno));
		return;
	}
	ok(r.rax == VMM_MB_BOOT_MAGIC, "entry: EAX = %#llx (0x2BADB002)", (unsigned long long)r.rax);
	ok(r.rbx && r.rbx < 0xa0000 && (r.rbx + 88 <= img->lo || r.rbx >= img->hi),
	   "entry: EBX = %#llx, info below 640K and outside the kernel", (unsigned long long)r.rbx);
	ok(r.rip == img->entry, "entry: EIP = %#llx (the kernel's entry %#x)",
	   (unsigned long long)r.rip, img->entry);
	ok(!(r.rflags & (1u << 9)) && !(r.rflags & (1u << 17)) && (r.rflags & 2),
	   "entry: EFLAGS = %#llx, IF = 0, VM = 0", (unsigned long long)r.rflags);
	ok(seg_flat(&s.cs) && (s.cs.type & 0x8) && (s.cs.type & 0x2) && s.cs.db && !s.cs.l,
	   "entry: CS 32-bit execute/read, base 0, limit 4G (sel %#x type %#x db %u l %u)",
	   s.cs.selector, s.cs.type, s.cs.db, s.cs.l);
	d[0] = &s.ds; d[1] = &s.es; d[2] = &s.fs; d[3] = &s.gs; d[4] = &s.ss;
	for (i = 0; i < 5; i++)
		data_ok &= seg_flat(d[i]) && !(d[i]->type & 0x8) && (d[i]->type & 0x2);
	ok(data_ok && s.ss.db, "entry: DS/ES/FS/GS/SS flat read/write data, base 0, limit 4G");
	ok((s.cr0 & 1) && !(s.cr0 & (1ULL << 31)), "entry: CR0 = %#llx, PE = 1, PG = 0",
	   (unsigned long long)s.cr0);
	ok(!(s.efer & ((1 << 8) | (1 << 10))) && !(s.cr4 & (1 << 5)),
	   "entry: EFER.LME/LMA = 0, CR4.PAE = 0 (not long mode)");
	{
		const uint64_t *gdt = vmm_gpa_to_hva(vm, s.gdt.base, 24);

		ok(gdt && s.gdt.limit >= 23 && gdt[s.cs.selector / 8] == 0x00cf9b000000ffffULL &&
		   gdt[s.ds.selector / 8] == 0x00cf93000000ffffULL,
		   "entry: the GDT in guest memory matches CS/DS (so a reload keeps them)");
	}
}

static void check_info(struct vmm_vm *vm, uint32_t info, const struct vmm_mb_image *img,
		       const char *cmdline)
{
	const uint32_t *mi = vmm_gpa_to_hva(vm, info, 88);
	const uint8_t *mm, *p;
	const char *cl, *name;
	bool hole_ok = true, kernel_ok = true;
	uint64_t ram = 0;
	unsigned int n = 0;

	if (!mi) {
		ok(false, "info: at %#x in RAM", info);
		return;
	}
	ok((mi[0] & 0x245) == 0x245, "info: flags %#x have mem, cmdline, mmap, loader name", mi[0]);
	ok(mi[1] == 639 && mi[2] == (MEM - (1 << 20)) >> 10,
	   "info: mem_lower = %u KiB, mem_upper = %u KiB", mi[1], mi[2]);
	cl = vmm_gpa_to_hva(vm, mi[4], strlen(cmdline) + 1);
	ok(cl && !strcmp(cl, cmdline), "info: cmdline '%s'", cl ? cl : "?");
	name = vmm_gpa_to_hva(vm, mi[16], 9);
	ok(name && !strcmp(name, "kmigrate"), "info: boot loader name '%s'", name ? name : "?");
	mm = vmm_gpa_to_hva(vm, mi[12], mi[11]);
	for (p = mm; p && p < mm + mi[11]; p += 4 + *(const uint32_t *)p) {
		uint64_t a, l;
		uint32_t type;

		memcpy(&a, p + 4, 8);
		memcpy(&l, p + 12, 8);
		memcpy(&type, p + 20, 4);
		if (type == 1) {
			ram += l;
			if (a < 0x100000 && a + l > 0xa0000)
				hole_ok = false;
		}
		n++;
	}
	ok(mm && n >= 4 && hole_ok && ram == MEM - 0x60400,
	   "info: mmap of %u entries, %llu KiB RAM, 640K-1M not RAM", n,
	   (unsigned long long)(ram >> 10));
	kernel_ok = (mi[4] + strlen(cmdline) < img->lo || mi[4] >= img->hi) &&
		    (mi[12] + mi[11] <= img->lo || mi[12] >= img->hi);
	ok(kernel_ok && mi[4] < 0xa0000 && mi[12] < 0xa0000,
	   "info: cmdline (%#x) and mmap (%#x) in low memory, outside the kernel", mi[4], mi[12]);
}

static void check_guest_report(struct vm *v, const char *cmdline)
{
	uint32_t ev = wait_event(v->vm, 10000);
	char *con = slurp(v->con), want[256];
	const uint32_t *pat = vmm_gpa_to_hva(v->vm, PATTERN_GPA, PATTERN_SIZE);
	unsigned int i, badpat = 0;

	ok(ev == EV_DONE, "guest: reported DONE (event %#x; failed-check mask %#x)", ev,
	   ev == 0xffffffffu ? 0 : ev >> 8);
	ok(con && strstr(con, "mb: ok magic=0x2badb002 mem_lower=639 mem_upper=64512"),
	   "guest: console line");
	snprintf(want, sizeof(want), "cmdline='%s'", cmdline);
	ok(con && strstr(con, want), "guest: saw the command line");
	ok(con && strstr(con, " bad=0x00000000"), "guest: every check inside passed (A20, "
	   "EFLAGS, CR0, bss, mmap)");
	if (con && *con)
		printf("# %s", con);
	free(con);
	for (i = 0; pat && i < PATTERN_SIZE / 4; i++)
		if (pat[i] != ((PATTERN_GPA + i * 4) ^ PATTERN_XOR))
			badpat++;
	ok(pat && !badpat, "guest: pattern written over [%#x, %#x) (%u bad words)",
	   PATTERN_GPA, PATTERN_GPA + PATTERN_SIZE, badpat);
}

/* A flat a.out-kludge kernel: outl %eax to the event port, hlt. */
static size_t make_aout(uint8_t *b)
{
	static const uint8_t code[] = {
		0x66, 0xba, 0x04, 0x05,		/* mov $0x504, %dx */
		0xef,				/* out %eax, (%dx) */
		0xfa, 0xf4,			/* cli; hlt */
		0xeb, 0xfc,			/* jmp .-2 */
	};
	uint32_t flags = VMM_MB_F_AOUT_KLUDGE | VMM_MB_F_MEMINFO;

	memset(b, 0, 0x100);
	w32(b, VMM_MB_HEADER_MAGIC);
	w32(b + 4, flags);
	w32(b + 8, (uint32_t)-(VMM_MB_HEADER_MAGIC + flags));
	w32(b + 12, 0x200000);		/* header_addr */
	w32(b + 16, 0x200000);		/* load_addr */
	w32(b + 20, 0);			/* load_end_addr: whole file */
	w32(b + 24, 0x204000);		/* bss_end_addr */
	w32(b + 28, 0x200040);		/* entry */
	memcpy(b + 0x40, code, sizeof(code));
	return 0x100;
}

static void expect_refused(struct vm *v, const char *name, const void *buf, size_t len,
			   const char *what)
{
	char *log;
	long before = ftell(v->log);
	int r = vmm_mb_load(v->vm, buf, len, "x");

	log = slurp(v->log);
	ok(r < 0 && log && strstr(log + before, what), "refused: %s (%s): %s", name,
	   strerror(-r), log ? strtok(log + before, "\n") : "?");
	free(log);
}

int main(int argc, char **argv)
{
	const char *kpath;
	char defpath[4096];
	uint8_t *k, *bad;
	size_t klen;
	struct vmm_mb_image img;
	struct vm v;
	char err[256];
	int r;

	if (argc > 1) {
		kpath = argv[1];
	} else {
		char self[4096];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

		self[n > 0 ? n : 0] = 0;
		snprintf(defpath, sizeof(defpath), "%s/mb_guest.elf", n > 0 ? dirname(self) : ".");
		kpath = defpath;
	}
	k = read_file(kpath, &klen);
	if (!k) {
		printf("not ok 1 read the test kernel %s\n1..1\n", kpath);
		return 1;
	}
	r = vmm_mb_parse(k, klen, MEM, &img, err, sizeof(err));
	ok(!r, "test kernel %s parses (%s)", kpath, err);

	/* 1. the test kernel, halting at the end */
	{
		const char *cl = "halt expect-cmdline hello=world";
		struct vmm_vcpu_stats st;
		struct kvm_regs regs;

		r = vm_new(&v, 1, false);
		ok(!r, "VM created: 64 MiB, 1 vCPU (%s)", strerror(-r));
		if (r) {
			printf("1..%d\n", tests);
			return 1;
		}
		r = vmm_mb_load_file(v.vm, kpath, cl);
		ok(!r, "vmm_mb_load_file (%s)", strerror(-r));
		ioctl(vmm_vcpu_fd(vmm_vcpu(v.vm, 0)), KVM_GET_REGS, &regs);
		check_entry_state(v.vm, &img);
		check_info(v.vm, (uint32_t)regs.rbx, &img, cl);
		r = vmm_start(v.vm);
		ok(!r, "vmm_start");
		check_guest_report(&v, cl);
		r = vmm_wait(v.vm, 5000);
		vmm_vcpu_stats(vmm_vcpu(v.vm, 0), &st);
		ok(!r && st.exit == VMM_VCPU_HALTED && !vmm_failed_vcpus(v.vm),
		   "guest halted cleanly (exit %s)", vmm_vcpu_exit_name(st.exit));
		vm_free(&v);
	}

	/* 2. a kernel that keeps running: heartbeat, stopped from outside */
	if (!vm_new(&v, 1, false)) {
		const volatile uint32_t *beat;
		uint32_t b0 = 0;

		r = vmm_mb_load_file(v.vm, kpath, NULL);
		ok(!r && !vmm_start(v.vm), "running kernel (empty cmdline) started");
		ok(wait_event(v.vm, 10000) == EV_DONE, "running kernel: reported DONE");
		beat = vmm_gpa_to_hva(v.vm, BEAT_GPA, 4096);
		usleep(100000);
		b0 = beat[0];
		usleep(300000);
		ok(vmm_wait(v.vm, 0) != 0 && !vmm_failed_vcpus(v.vm),
		   "running kernel: still running after 400 ms (beat %u)", b0);
		vmm_pause(v.vm);
		ok(vmm_paused(v.vm), "running kernel: paused");
		{
			/* save/restore into a second VM, as a migration would */
			struct vmm_state cpu = { 0 }, vmst = { 0 };
			struct vm v2;
			const volatile uint32_t *beat2;
			uint32_t s0, s1;
			unsigned int i;
			int r1, r2 = -1, r3 = -1;

			r1 = vmm_vcpu_state_save(vmm_vcpu(v.vm, 0), &cpu);
			if (!r1)
				r1 = vmm_vm_state_save(v.vm, &vmst);
			if (!r1 && !vm_new(&v2, 1, false)) {
				memcpy(vmm_ram(v2.vm), vmm_ram(v.vm), vmm_ram_size(v.vm));
				r2 = vmm_vm_state_load(v2.vm, &vmst);
				if (!r2)
					r2 = vmm_vcpus_state_load(v2.vm, &cpu, NULL);
				beat2 = vmm_gpa_to_hva(v2.vm, BEAT_GPA, 256 * 4096);
				s0 = 0;
				for (i = 0; i < 256; i++)
					s0 = beat2[i * 1024] > s0 ? beat2[i * 1024] : s0;
				if (!r2 && !(r3 = vmm_start(v2.vm))) {
					usleep(300000);
					s1 = 0;
					for (i = 0; i < 256; i++)
						s1 = beat2[i * 1024] > s1 ? beat2[i * 1024] : s1;
					r3 = s1 > s0 && vmm_wait(v2.vm, 0) && !vmm_failed_vcpus(v2.vm) ?
					     0 : -1;
					printf("# heartbeat %u -> %u in the restored VM\n", s0, s1);
				}
				vmm_stop(v2.vm);
				vm_free(&v2);
			}
			ok(!r1 && !r2 && !r3, "running kernel: state + RAM restored into a new VM, "
			   "it keeps running there (%d %d %d)", r1, r2, r3);
			vmm_state_free(&cpu);
			vmm_state_free(&vmst);
		}
		vmm_resume(v.vm);
		vmm_stop(v.vm);
		ok(!vmm_failed_vcpus(v.vm), "running kernel: stopped from outside");
		vm_free(&v);
	}

	/* 3. a.out kludge: bss zeroed, EAX at entry reported */
	if (!vm_new(&v, 1, false)) {
		uint8_t img2[0x100];
		size_t n = make_aout(img2);
		uint8_t *bss = vmm_gpa_to_hva(v.vm, 0x200000, 0x4000);
		uint32_t ev;
		bool zero = true;
		unsigned int i;

		memset(bss, 0xff, 0x4000);
		r = vmm_mb_load(v.vm, img2, n, "kludge");
		for (i = 0x100; i < 0x4000; i++)
			zero &= !bss[i];
		ok(!r && zero && !memcmp(bss, img2, n), "a.out kludge: loaded, bss zeroed (%s)",
		   strerror(-r));
		ok(!vmm_start(v.vm), "a.out kludge: started");
		ev = wait_event(v.vm, 10000);
		ok(ev == VMM_MB_BOOT_MAGIC, "a.out kludge: EAX at entry = %#x", ev);
		vmm_wait(v.vm, 5000);
		vm_free(&v);
	}

	/* 4. refusals, then the same VM still boots the good kernel */
	bad = malloc(klen);
	if (bad && !vm_new(&v, 1, false)) {
		uint32_t phoff, i;
		uint16_t phnum;

		memcpy(bad, k, klen);
		bad[0] = 'X';
		expect_refused(&v, "not an ELF", bad, klen, "not an ELF");
		memcpy(bad, k, klen);
		bad[4] = 2;
		expect_refused(&v, "ELF64", bad, klen, "ELF64");
		memcpy(bad, k, klen);
		bad[img.header_off + 8] ^= 1;
		expect_refused(&v, "header checksum wrong", bad, klen, "checksum");
		memcpy(bad, k, klen);
		memset(bad + img.header_off, 0, 12);
		expect_refused(&v, "no multiboot header", bad, klen, "no multiboot header");
		expect_refused(&v, "empty file", bad, 0, "too short");
		memcpy(bad, k, klen);
		memcpy(&phoff, bad + 28, 4);
		memcpy(&phnum, bad + 44, 2);
		for (i = 0; i < phnum; i++) {
			uint32_t pa;

			memcpy(&pa, bad + phoff + i * 32 + 12, 4);
			pa += 0x7f00000;	/* 128 MiB up: beyond the 64 MiB guest */
			memcpy(bad + phoff + i * 32 + 12, &pa, 4);
		}
		expect_refused(&v, "segments beyond guest memory", bad, klen, "beyond guest memory");
		r = vmm_mb_load_file(v.vm, "/nonexistent/kernel", NULL);
		ok(r == -ENOENT, "refused: missing file (%s)", strerror(-r));
		r = vmm_mb_load(v.vm, k, klen, "halt");
		ok(!r && !vmm_start(v.vm) && wait_event(v.vm, 10000) == EV_DONE,
		   "after the refusals the same VM boots the test kernel");
		vmm_wait(v.vm, 5000);
		vm_free(&v);
	}
	free(bad);

	/* 5. 2 vCPUs: refused without irqchip; with it the AP waits for SIPI */
	if (!vm_new(&v, 2, false)) {
		expect_refused(&v, "2 vCPUs without irqchip", k, klen, "irqchip");
		vm_free(&v);
	}
	r = vm_new(&v, 2, true);
	if (!r) {
		struct kvm_mp_state mp = { 0 };
		struct vmm_vcpu_stats st;

		r = vmm_mb_load(v.vm, k, klen, "halt");
		ok(!r && !vmm_start(v.vm), "irqchip, 2 vCPUs: loaded and started (%s)", strerror(-r));
		ok(wait_event(v.vm, 10000) == EV_DONE, "irqchip, 2 vCPUs: BSP reported DONE");
		vmm_pause(v.vm);
		ioctl(vmm_vcpu_fd(vmm_vcpu(v.vm, 1)), KVM_GET_MP_STATE, &mp);
		vmm_vcpu_stats(vmm_vcpu(v.vm, 1), &st);
		ok(mp.mp_state == KVM_MP_STATE_UNINITIALIZED,
		   "irqchip, 2 vCPUs: AP waits for INIT/SIPI (mp_state %u, exit %s)", mp.mp_state,
		   vmm_vcpu_exit_name(st.exit));
		vmm_resume(v.vm);
		vmm_stop(v.vm);
		vm_free(&v);
	} else {
		printf("ok %d irqchip, 2 vCPUs # SKIP VM with irqchip: %s\n", ++tests, strerror(-r));
		vm_free(&v);
	}

	free(k);
	printf("1..%d\n", tests);
	return failed ? 1 : 0;
}
