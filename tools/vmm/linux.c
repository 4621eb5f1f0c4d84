// SPDX-License-Identifier: GPL-2.0
/*
 * libvmm: the board a stock Linux kernel boots on (see vmm.h, "Linux
 * boot"): loads a bzImage, its initrd and command line, writes the zero
 * page and the MP tables, puts vCPU 0 at startup_64 in long mode and the
 * APs into wait-for-SIPI, and serves the legacy ports Linux touches while
 * it boots:
 *
 *   0x3f8-0x3ff  16550A UART (serial.c), IRQ 4 through KVM_IRQ_LINE
 *   0x70/0x71    CMOS: RTC (host UTC, BCD, 24 h), status A-D, memory size
 *   0x61         system control port B (refresh bit toggles on reads)
 *   0x80, 0xed   POST / I/O delay: ignored
 *   0x60/0x64    no i8042 (reads 0: idle, nothing to read; Linux does not
 *                probe it without ACPI/PNP), but 0x64 <- 0xfe (pulse
 *                reset) ends the VM: that is how Linux reboots without ACPI
 *   elsewhere    reads all ones, writes ignored; logged once per port
 *                with the RIP, so a boot that goes wrong can be traced
 *
 * CPUID: KVM's supported set, with of the KVM paravirt leaves only
 * kvm-clock (LX_KVM_PV_FEATURES); the "hypervisor" bit (leaf 1 ECX 31)
 * that tells the guest to look for them; the TSC-deadline timer where KVM
 * emulates it; APIC ids per vCPU (cpu.c); invariant TSC hidden, so the
 * guest keeps kvm-clock (a guest on an invariant TSC prefers the TSC,
 * which does not survive a migration to another host's TSC).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "internal.h"

#define LX_MAX_KERNEL		(256ULL << 20)
#define LX_MAX_UNKNOWN_LOGS	64
#define LX_INFO_KERNEL		256	/* the kernel path and command line kept */
#define LX_INFO_CMDLINE		1024	/* for information (cut if longer) */
/*
 * The KVM paravirt features (CPUID 0x40000001 EAX) a Linux guest gets:
 * kvm-clock (CLOCKSOURCE, CLOCKSOURCE2, STABLE_BIT) and NOP_IO_DELAY.  Not
 * async page faults, steal time, PV EOI/IPIs/TLB flush/spinlocks: their
 * per-vCPU MSRs and shared pages are not migrated yet, and a guest using
 * them stalled in the lab (nested KVM under TCG) where one without boots.
 */
#define LX_KVM_PV_FEATURES	((1u << 0) | (1u << 1) | (1u << 3) | (1u << 24))

struct vmm_linux {
	struct vmm_vm *vm;
	pthread_mutex_t lock;		/* the UART, CMOS, port 0x61 */
	struct vmm_uart uart;
	void (*console_out)(void *opaque, const uint8_t *buf, size_t len);
	void *console_opaque;
	uint8_t cmos_idx;
	uint8_t cmos[128];
	uint8_t port61;
	unsigned int unknown_logged;
	uint8_t port_seen[65536 / 8];
	char kernel[LX_INFO_KERNEL], cmdline[LX_INFO_CMDLINE];	/* information */
};

/*
 * The board's state in a migration ("board", version 1): the UART, the
 * CMOS index and bytes (the RTC reads the host's clock, nothing to keep),
 * port 0x61, and what the guest was booted with, for `kmigrate vms`.
 */
#define LX_STATE_VERSION	1
struct lx_board_state {
	struct vmm_uart_state uart;
	uint8_t cmos_idx, port61;
	uint8_t reserved[6];
	uint8_t cmos[128];
	char kernel[LX_INFO_KERNEL];
	char cmdline[LX_INFO_CMDLINE];
};

/* Open a regular readable file and return its size (or -errno). */
static int lx_open(const char *what, const char *path, uint64_t max, int *fdp,
		   uint64_t *size, char *err, size_t errlen)
{
	struct stat st;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		return vmm_errf(err, errlen, r, "%s '%s': %s", what, path, strerror(errno));
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return vmm_errf(err, errlen, -EINVAL, "%s '%s': not a regular file", what, path);
	}
	if (!st.st_size || (uint64_t)st.st_size > max) {
		close(fd);
		return vmm_errf(err, errlen, st.st_size ? -E2BIG : -ENOEXEC,
			       "%s '%s': %s", what, path, st.st_size ? "too large" : "empty file");
	}
	*fdp = fd;
	*size = (uint64_t)st.st_size;
	return 0;
}

static int lx_read_all(int fd, void *buf, uint64_t len)
{
	uint64_t got = 0;

	while (got < len) {
		ssize_t k = pread(fd, (uint8_t *)buf + got, len - got, (off_t)got);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
		got += (uint64_t)k;
	}
	return 0;
}

static int lx_read_kernel(const char *path, uint8_t **buf, uint64_t *len,
			  struct vmm_bz_image *img, char *err, size_t errlen)
{
	char why[200];
	int fd, r;

	r = lx_open("kernel", path, LX_MAX_KERNEL, &fd, len, err, errlen);
	if (r)
		return r;
	*buf = malloc(*len);
	if (!*buf) {
		close(fd);
		return vmm_errf(err, errlen, -ENOMEM, "kernel '%s': out of memory", path);
	}
	r = lx_read_all(fd, *buf, *len);
	close(fd);
	if (r) {
		free(*buf);
		*buf = NULL;
		return vmm_errf(err, errlen, r, "kernel '%s': %s", path, strerror(-r));
	}
	r = vmm_bz_parse(*buf, *len, img, why, sizeof(why));
	if (r) {
		free(*buf);
		*buf = NULL;
		return vmm_errf(err, errlen, r, "kernel '%s': %s", path, why);
	}
	return 0;
}

static int lx_plan(const struct vmm_linux_config *cfg, uint64_t mem_bytes,
		   const struct vmm_bz_image *img, int *initrd_fd,
		   struct vmm_bz_plan *plan, char *err, size_t errlen)
{
	uint64_t isize = 0;
	int r;

	*initrd_fd = -1;
	if (cfg->initrd) {
		r = lx_open("initrd", cfg->initrd, 4ULL << 30, initrd_fd, &isize, err, errlen);
		if (r == -E2BIG)
			return vmm_errf(err, errlen, r, "initrd '%s' does not fit in %llu MiB of guest memory",
				       cfg->initrd, (unsigned long long)(mem_bytes >> 20));
		if (r)
			return r;
	}
	r = vmm_bz_plan(img, mem_bytes, isize, cfg->cmdline ? strlen(cfg->cmdline) : 0,
			plan, err, errlen);
	if (r && *initrd_fd >= 0) {
		close(*initrd_fd);
		*initrd_fd = -1;
	}
	return r;
}

int vmm_linux_check(const struct vmm_linux_config *cfg, uint64_t mem_bytes,
		    char *err, size_t errlen)
{
	struct vmm_bz_image img;
	struct vmm_bz_plan plan;
	uint8_t *buf;
	uint64_t len;
	int fd, r;

	r = lx_read_kernel(cfg->kernel, &buf, &len, &img, err, errlen);
	if (r)
		return r;
	free(buf);
	r = lx_plan(cfg, mem_bytes, &img, &fd, &plan, err, errlen);
	if (fd >= 0)
		close(fd);
	return r;
}

/* ------------------------------------------------------------ devices -- */

static void lx_uart_tx(void *opaque, uint8_t c)
{
	struct vmm_linux *lx = opaque;
	struct vmm_vm *vm = lx->vm;

	if (lx->console_out) {
		lx->console_out(lx->console_opaque, &c, 1);
	} else if (!vm->cfg.quiet_console) {
		FILE *f = vm->cfg.console ? vm->cfg.console : vm->log;

		fputc(c, f);
		if (c == '\n')
			fflush(f);
	}
}

static void lx_uart_irq(void *opaque, int level)
{
	struct vmm_linux *lx = opaque;
	struct kvm_irq_level l = { .irq = VMM_SERIAL_IRQ, .level = (uint32_t)level };

	if (ioctl(lx->vm->vm_fd, KVM_IRQ_LINE, &l) < 0)
		vmm_ioctl_err(lx->vm, "KVM_IRQ_LINE (serial)");
}

static void lx_uart_io(struct vmm_vcpu *vcpu, uint16_t port, bool out, void *data,
		       unsigned int size, void *opaque)
{
	struct vmm_linux *lx = opaque;
	uint8_t *d = data;

	(void)vcpu;
	pthread_mutex_lock(&lx->lock);
	if (out)
		vmm_uart_write(&lx->uart, port - VMM_SERIAL_PORT, d[0]);
	else
		d[0] = vmm_uart_read(&lx->uart, port - VMM_SERIAL_PORT);
	pthread_mutex_unlock(&lx->lock);
	if (!out && size > 1)
		memset(d + 1, 0xff, size - 1);
}

size_t vmm_linux_console_input(struct vmm_linux *lx, const uint8_t *buf, size_t n)
{
	size_t k;

	pthread_mutex_lock(&lx->lock);
	k = vmm_uart_receive(&lx->uart, buf, n);
	pthread_mutex_unlock(&lx->lock);
	return k;
}

static uint8_t bcd(int v)
{
	return (uint8_t)((v / 10) << 4 | (v % 10));
}

static uint8_t lx_cmos_read(struct vmm_linux *lx, uint8_t idx)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	switch (idx) {
	case 0x00: return bcd(tm.tm_sec);
	case 0x02: return bcd(tm.tm_min);
	case 0x04: return bcd(tm.tm_hour);
	case 0x06: return bcd(tm.tm_wday + 1);
	case 0x07: return bcd(tm.tm_mday);
	case 0x08: return bcd(tm.tm_mon + 1);
	case 0x09: return bcd(tm.tm_year % 100);
	case 0x32: return bcd(19 + tm.tm_year / 100);
	case 0x0a: return 0x26;		/* 32.768 kHz, 1024 Hz; never "update in progress" */
	case 0x0b: return (lx->cmos[0x0b] & ~0x06) | 0x02;	/* 24 h, BCD */
	case 0x0c: return 0;
	case 0x0d: return 0x80;		/* battery good */
	default:   return lx->cmos[idx & 0x7f];
	}
}

static void lx_cmos_init(struct vmm_linux *lx, uint64_t mem)
{
	uint64_t ext = mem > (1ULL << 20) ? (mem - (1ULL << 20)) >> 10 : 0;	/* KiB above 1M */
	uint64_t hi = mem > (16ULL << 20) ? (mem - (16ULL << 20)) >> 16 : 0;	/* 64K above 16M */

	if (ext > 0xffff)
		ext = 0xffff;
	if (hi > 0xffff)
		hi = 0xffff;
	lx->cmos[0x15] = 0x80;		/* 640 KiB base memory */
	lx->cmos[0x16] = 0x02;
	lx->cmos[0x17] = lx->cmos[0x30] = (uint8_t)ext;
	lx->cmos[0x18] = lx->cmos[0x31] = (uint8_t)(ext >> 8);
	lx->cmos[0x34] = (uint8_t)hi;
	lx->cmos[0x35] = (uint8_t)(hi >> 8);
}

static void lx_misc_io(struct vmm_vcpu *vcpu, uint16_t port, bool out, void *data,
		       unsigned int size, void *opaque)
{
	struct vmm_linux *lx = opaque;
	uint8_t *d = data;

	pthread_mutex_lock(&lx->lock);
	switch (port) {
	case 0x70:
		if (out)
			lx->cmos_idx = d[0] & 0x7f;	/* bit 7: NMI mask */
		else
			d[0] = lx->cmos_idx;
		break;
	case 0x71:
		if (out)
			lx->cmos[lx->cmos_idx] = d[0];
		else
			d[0] = lx_cmos_read(lx, lx->cmos_idx);
		break;
	case 0x61:
		if (out) {
			lx->port61 = d[0] & 0x0f;
		} else {
			lx->port61 ^= 0x10;		/* refresh toggles */
			d[0] = lx->port61;
		}
		break;
	case 0x64:
		if (out && d[0] == 0xfe) {
			pthread_mutex_unlock(&lx->lock);
			vmm_request_end(vcpu->vm, "reset: the guest rebooted (i8042 pulse reset)");
			return;
		}
		if (!out)
			d[0] = 0;	/* idle: Linux's reboot polls for bit 1 clear */
		break;
	case 0x60:
		if (!out)
			d[0] = 0;
		break;
	default:			/* 0x80, 0xed */
		if (!out)
			d[0] = 0xff;
		break;
	}
	pthread_mutex_unlock(&lx->lock);
	if (!out && size > 1)
		memset(d + 1, 0xff, size - 1);
}

static void lx_unknown_io(struct vmm_vcpu *vcpu, uint16_t port, bool out, void *data,
			  unsigned int size, void *opaque)
{
	struct vmm_linux *lx = opaque;
	bool first;

	if (!out)
		memset(data, 0xff, size);
	pthread_mutex_lock(&lx->lock);
	first = !(lx->port_seen[port / 8] & (1u << (port % 8))) &&
		lx->unknown_logged < LX_MAX_UNKNOWN_LOGS;
	lx->port_seen[port / 8] |= (uint8_t)(1u << (port % 8));
	if (first)
		lx->unknown_logged++;
	pthread_mutex_unlock(&lx->lock);
	if (first) {
		struct kvm_regs r;
		unsigned long long rip = 0;

		if (!ioctl(vcpu->fd, KVM_GET_REGS, &r))
			rip = r.rip;
		vmm_logf(vcpu->vm, "vcpu %u: unhandled port %s %#x (%u bytes) at rip %#llx: %s; "
			 "logged once per port", vcpu->idx, out ? "write" : "read", port, size, rip,
			 out ? "ignored" : "reads all ones");
	}
}

/* ------------------------------------------------------------ loading -- */

static struct kvm_cpuid_entry2 *lx_cpuid(struct kvm_cpuid2 *c, uint32_t fn)
{
	uint32_t i;

	for (i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn)
			return &c->entries[i];
	return NULL;
}

static int lx_setup_cpus(struct vmm_vm *vm, uint64_t entry)
{
	/* KVM emulates it with its LAPIC but leaves announcing it to us */
	bool tsc_deadline = vmm_check_cap(vm, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
	unsigned int i;
	int r;

	for (i = 0; i < vm->nr_vcpus; i++) {
		struct vmm_vcpu *v = &vm->vcpus[i];
		struct kvm_cpuid_entry2 *e = lx_cpuid(v->cpuid, 0x80000007);
		struct kvm_cpuid_entry2 *l1 = lx_cpuid(v->cpuid, 1);
		struct kvm_cpuid_entry2 *pv = lx_cpuid(v->cpuid, 0x40000001);
		struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_UNINITIALIZED };

		if (e)
			e->edx &= ~(1u << 8);	/* invariant TSC: see the top */
		if (l1)
			l1->ecx |= 1u << 31;	/* "hypervisor": look at 0x40000000 */
		if (l1 && tsc_deadline)
			l1->ecx |= 1u << 24;	/* the LAPIC's TSC-deadline mode */
		if (pv)
			pv->eax &= LX_KVM_PV_FEATURES;
		if (ioctl(v->fd, KVM_SET_CPUID2, v->cpuid) < 0)
			return vmm_ioctl_err(vm, "KVM_SET_CPUID2");
		if (i == 0)
			continue;
		if (ioctl(v->fd, KVM_SET_MP_STATE, &mp) < 0)
			return vmm_ioctl_err(vm, "KVM_SET_MP_STATE (AP)");
	}
	r = vmm_x86_setup_tables(vm);
	if (r)
		return r;
	return vmm_x86_setup_longmode(&vm->vcpus[0], entry, 0, 0, VMM_BZ_ZERO_PAGE, 0);
}

static int lx_write_mptable(struct vmm_vm *vm, const struct vmm_linux_config *cfg)
{
	struct kvm_cpuid_entry2 *leaf1 = lx_cpuid(vm->vcpus[0].cpuid, 1);
	struct vmm_mp_config mc = {
		.nr_cpus = vm->nr_vcpus,
		.cpu_signature = leaf1 ? leaf1->eax : 0x600,
		.cpu_features = leaf1 ? leaf1->edx : 0x201,
		.nr_pci_irqs = cfg->nr_pci_irqs,
		.pci_irqs = cfg->pci_irqs,
	};
	uint8_t buf[4096];
	int n;

	n = vmm_mp_build(buf, sizeof(buf), (uint32_t)VMM_MP_GPA, &mc);
	if (n < 0)
		return n;
	return vmm_guest_write(vm, VMM_MP_GPA, buf, (uint64_t)n);
}

static int lx_load_initrd(struct vmm_vm *vm, int fd, const struct vmm_bz_plan *p)
{
	void *dst = vmm_gpa_to_hva(vm, p->initrd_gpa, p->initrd_size);
	int r;

	if (!dst)
		return -EFAULT;
	r = lx_read_all(fd, dst, p->initrd_size);
	if (!r)
		vmm_mark_dirty(vm, p->initrd_gpa, p->initrd_size);
	return r;
}

/* ---------------------------------------------------------- migration -- */

static int lx_state_save(void *opaque, uint32_t *version, void **buf, size_t *size)
{
	struct vmm_linux *lx = opaque;
	struct lx_board_state *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	pthread_mutex_lock(&lx->lock);
	vmm_uart_save(&lx->uart, &b->uart);
	b->cmos_idx = lx->cmos_idx;
	b->port61 = lx->port61;
	memcpy(b->cmos, lx->cmos, sizeof(b->cmos));
	pthread_mutex_unlock(&lx->lock);
	memcpy(b->kernel, lx->kernel, sizeof(b->kernel));
	memcpy(b->cmdline, lx->cmdline, sizeof(b->cmdline));
	*version = LX_STATE_VERSION;
	*buf = b;
	*size = sizeof(*b);
	return 0;
}

static int lx_state_load(void *opaque, uint32_t version, const void *buf, size_t size)
{
	struct vmm_linux *lx = opaque;
	const struct lx_board_state *b = buf;
	int r;

	if (version != LX_STATE_VERSION || size != sizeof(*b)) {
		vmm_logf(lx->vm, "board state: version %u, %zu bytes: this kmigrate takes "
			 "version %u, %zu bytes", version, size, LX_STATE_VERSION, sizeof(*b));
		return -EPROTO;
	}
	if (b->cmos_idx > 0x7f || !memchr(b->kernel, 0, sizeof(b->kernel)) ||
	    !memchr(b->cmdline, 0, sizeof(b->cmdline)))
		return -EBADMSG;
	pthread_mutex_lock(&lx->lock);
	r = vmm_uart_load(&lx->uart, &b->uart);
	if (!r) {
		lx->cmos_idx = b->cmos_idx;
		lx->port61 = b->port61;
		memcpy(lx->cmos, b->cmos, sizeof(lx->cmos));
		memcpy(lx->kernel, b->kernel, sizeof(lx->kernel));
		memcpy(lx->cmdline, b->cmdline, sizeof(lx->cmdline));
	}
	pthread_mutex_unlock(&lx->lock);
	return r == -EINVAL ? -EBADMSG : r;
}

static const struct vmm_dev_ops lx_state_ops = {
	.name = "board",
	.save = lx_state_save,
	.load = lx_state_load,
};

const char *vmm_linux_kernel(const struct vmm_linux *lx)
{
	return lx->kernel;
}

const char *vmm_linux_cmdline(const struct vmm_linux *lx)
{
	return lx->cmdline;
}

static int lx_register(struct vmm_vm *vm, struct vmm_linux *lx)
{
	static const uint16_t misc[] = { 0x60, 0x61, 0x64, 0x70, 0x71, 0x80, 0xed };
	unsigned int i;
	int r;

	r = vmm_io_register(vm, VMM_SERIAL_PORT, 8, lx_uart_io, lx);
	for (i = 0; !r && i < sizeof(misc) / sizeof(misc[0]); i++)
		r = vmm_io_register(vm, misc[i], misc[i] == 0x70 ? 2 : 1, lx_misc_io, lx);
	if (!r)
		r = vmm_dev_state_register(vm, &lx_state_ops, lx);
	if (r)
		return r;
	vmm_io_set_default(vm, lx_unknown_io, lx);
	return 0;
}

/* The board's own part, shared by a boot and a migration's destination. */
static struct vmm_linux *lx_new(struct vmm_vm *vm, const struct vmm_linux_config *cfg)
{
	struct vmm_linux *lx = calloc(1, sizeof(*lx));

	if (!lx)
		return NULL;
	lx->vm = vm;
	pthread_mutex_init(&lx->lock, NULL);
	lx->console_out = cfg->console_out;
	lx->console_opaque = cfg->console_opaque;
	vmm_uart_init(&lx->uart, lx_uart_tx, lx_uart_irq, lx);
	lx_cmos_init(lx, vm->ram_size);
	if (cfg->kernel)
		snprintf(lx->kernel, sizeof(lx->kernel), "%s", cfg->kernel);
	if (cfg->cmdline)
		snprintf(lx->cmdline, sizeof(lx->cmdline), "%s", cfg->cmdline);
	return lx;
}

int vmm_linux_attach(struct vmm_vm *vm, const struct vmm_linux_config *cfg,
		     struct vmm_linux **out, char *err, size_t errlen)
{
	struct vmm_linux *lx;
	int r;

	*out = NULL;
	if (vm->started || !vm->cfg.irqchip)
		return vmm_errf(err, errlen, -EINVAL, "a Linux guest needs a new VM with the "
				"in-kernel irqchip");
	lx = lx_new(vm, &(struct vmm_linux_config){
		.console_out = cfg->console_out, .console_opaque = cfg->console_opaque });
	if (!lx)
		return vmm_errf(err, errlen, -ENOMEM, "out of memory");
	r = lx_register(vm, lx);
	if (r) {
		pthread_mutex_destroy(&lx->lock);
		free(lx);
		return vmm_errf(err, errlen, r, "setting up the board: %s", strerror(-r));
	}
	*out = lx;
	return 0;
}

int vmm_linux_load(struct vmm_vm *vm, const struct vmm_linux_config *cfg,
		   struct vmm_linux **out, char *err, size_t errlen)
{
	struct vmm_linux *lx = NULL;
	struct vmm_bz_image img;
	struct vmm_bz_plan plan;
	struct vmm_bz_params bp;
	struct vmm_e820 e820;
	uint8_t *kbuf = NULL, zp[VMM_PAGE_SIZE];
	uint64_t klen;
	int ifd = -1, r;

	*out = NULL;
	if (vm->started || !vm->cfg.irqchip)
		return vmm_errf(err, errlen, -EINVAL, "a Linux guest needs a new VM with the in-kernel irqchip");
	r = lx_read_kernel(cfg->kernel, &kbuf, &klen, &img, err, errlen);
	if (r)
		return r;
	r = lx_plan(cfg, vm->ram_size, &img, &ifd, &plan, err, errlen);
	if (r)
		goto out;
	lx = lx_new(vm, cfg);
	r = -ENOMEM;
	if (!lx)
		goto out;

	r = vmm_guest_write(vm, plan.kernel_gpa, kbuf + img.kernel_off, img.kernel_size);
	if (!r && ifd >= 0)
		r = lx_load_initrd(vm, ifd, &plan);
	if (!r)
		r = vmm_guest_write(vm, plan.cmdline_gpa, cfg->cmdline ? cfg->cmdline : "",
				    (cfg->cmdline ? strlen(cfg->cmdline) : 0) + 1);
	if (r) {
		vmm_errf(err, errlen, r, "loading the kernel into guest memory: %s", strerror(-r));
		goto out;
	}
	vmm_e820_layout(vm->ram_size, &e820);
	bp = (struct vmm_bz_params){
		.kernel_gpa = plan.kernel_gpa, .cmdline_gpa = plan.cmdline_gpa,
		.initrd_gpa = plan.initrd_gpa, .initrd_size = plan.initrd_size,
		.e820 = &e820,
	};
	r = vmm_bz_fill_params(kbuf, &img, zp, &bp);
	if (!r)
		r = vmm_guest_write(vm, VMM_BZ_ZERO_PAGE, zp, sizeof(zp));
	if (!r)
		r = lx_write_mptable(vm, cfg);
	if (!r)
		r = lx_setup_cpus(vm, plan.entry);
	if (!r)
		r = lx_register(vm, lx);
	if (r) {
		vmm_errf(err, errlen, r, "setting up the guest: %s", strerror(-r));
		goto out;
	}
	vmm_logf(vm, "linux: boot protocol %u.%02u, kernel %llu KiB at %#llx (entry %#llx), "
		 "initrd %llu KiB at %#llx, %u vCPU(s)", img.version >> 8, img.version & 0xff,
		 (unsigned long long)(img.kernel_size >> 10), (unsigned long long)plan.kernel_gpa,
		 (unsigned long long)plan.entry, (unsigned long long)(plan.initrd_size >> 10),
		 (unsigned long long)plan.initrd_gpa, vm->nr_vcpus);
	*out = lx;
	lx = NULL;
out:
	if (ifd >= 0)
		close(ifd);
	free(kbuf);
	if (lx) {
		pthread_mutex_destroy(&lx->lock);
		free(lx);
	}
	return r;
}

void vmm_linux_free(struct vmm_linux *lx)
{
	if (!lx)
		return;
	pthread_mutex_destroy(&lx->lock);
	free(lx);
}
