// SPDX-License-Identifier: GPL-2.0
/*
 * kmigrate run: run the built-in workload guest on this host with libvmm,
 * served by a per-VM control socket (tools/migrate/ctl.h).  With --kernel
 * it boots a multiboot (v1) kernel instead, as QEMU's -kernel does
 * (libvmm's multiboot.c); the workload's requests (verify) and fields
 * (progress) do not apply then.
 *
 * The process is single-threaded apart from the vCPU threads: one poll()
 * loop waits on the signals (signalfd), the control socket and its
 * clients, and is the one controlling thread libvmm asks for.
 *
 * Control requests (one JSON object a line):
 *   info    name, pid, memory, vcpus, dirty_mode, ring_entries, state
 *           (running/paused), workload, rate, working_set, uptime_ms,
 *           progress (page writes of all vCPUs), max_pause_us (the longest
 *           pause a vCPU observed), vcpus_status [{vcpu, progress,
 *           max_pause_us, stalls, state}]
 *   pause   stop the vCPUs (state "paused")
 *   resume  run them again
 *   stop    clean shutdown: reply, stop the guest, remove the socket, exit 0
 *   verify  pause (if running), check every work page of live memory with
 *           vmm_wl_verify(), resume; {"replay":false} skips the exact
 *           replay check.  Reply: pages, stamped, untouched, in_progress,
 *           bad, replayed, passed, first_bad, ms
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "cli.h"
#include "vmconsole.h"
#include "cmds.h"
#include "cpumodel.h"
#include "ctl.h"
#include "exitcode.h"
#include "run_devs.h"
#include "vmhost.h"
#include "vmm.h"

#define RUN_MIN_MEM	(8ULL << 20)	/* the workload's layout + 4 MiB of work */
#define RUN_MAX_MEM	(64ULL << 30)
#define RUN_WORK_GPA	(4ULL << 20)	/* WL_WORK_GPA: work pages from here */
#define RUN_MAX_RATE	100000000ULL

struct run_opts {
	const char *name;
	uint64_t mem;
	unsigned int vcpus;
	enum vmm_dirty_mode mode;
	enum vmm_wl_pattern pattern;
	uint64_t rate;
	uint64_t ws_bytes;
	uint32_t zero_every;		/* --zero-every: every Nth write zeroes */
	uint32_t ring_entries;
	bool detach;
	const char *kernel;		/* --kernel: multiboot kernel or bzImage */
	const char *cmdline;
	const char *initrd;		/* --initrd (bzImage only) */
	bool linux_kernel;		/* --kernel is a bzImage (setup header "HdrS") */
	const char *wl_opt;		/* the first workload-only option given */
	const char *cpu;		/* --cpu MODEL (cpumodel.h); NULL: host */
	struct run_devs devs;		/* --disk, --net */
};

struct run_state {
	const struct run_opts *o;
	struct vmm_vm *vm;
	bool stop;
	uint64_t start_ns;
	uint64_t pauses;
};

static const struct option run_longopts[] = {
	{ "memory", required_argument, NULL, 'm' },
	{ "vcpus", required_argument, NULL, 'c' },
	{ "dirty-log", required_argument, NULL, 'd' },
	{ "ring-entries", required_argument, NULL, 'R' },
	{ "workload", required_argument, NULL, 'w' },
	{ "rate", required_argument, NULL, 'r' },
	{ "working-set", required_argument, NULL, 's' },
	{ "zero-every", required_argument, NULL, 'Z' },
	{ "detach", no_argument, NULL, 'D' },
	{ "kernel", required_argument, NULL, 'K' },
	{ "cmdline", required_argument, NULL, 'L' },
	{ "append", required_argument, NULL, 'L' },
	{ "initrd", required_argument, NULL, 'I' },
	{ "cpu", required_argument, NULL, 'C' },
	{ "disk", required_argument, NULL, 'B' },
	{ "net", required_argument, NULL, 'N' },
	{ NULL, 0, NULL, 0 },
};

static const struct km_usage run_usage = {
	.args = "NAME [OPTIONS]",
	.options =
	"  -m, --memory SIZE        guest RAM, a multiple of 2 MiB (8M-64G; default 256M)\n"
	"  -c, --vcpus N            vCPUs (1-64; default 1)\n"
	"  -d, --dirty-log MODE     ring, bitmap or auto (default: ring where offered)\n"
	"      --ring-entries N     dirty ring entries per vCPU, a power of 2 (default\n"
	"                           65536, or the most KVM offers)\n"
	"  -w, --workload PATTERN   seq, random or hotcold (default seq)\n"
	"  -r, --rate PAGES/s       page writes per second per vCPU; 0: unlimited\n"
	"                           (default 1000)\n"
	"  -s, --working-set SIZE   pages each vCPU writes (default: its share of RAM)\n"
	"      --zero-every N       every Nth write zeroes its page instead (a guest\n"
	"                           freeing memory; 2-1000000; default: never)\n"
	"  -D, --detach             run in the background once the VM is up\n"
	"      --cpu MODEL          the CPUID the guest sees: host (all KVM offers,\n"
	"                           default) or a baseline: x86-64-v1 .. x86-64-v4,\n"
	"                           qemu64; refused if this host cannot offer it\n"
	"      --kernel FILE        boot this kernel instead of the workload (not with\n"
	"                           -w, -r, -s, --zero-every): a Linux bzImage (x86-64,\n"
	"                           boot protocol 2.12+; SMP, serial console) or a\n"
	"                           multiboot (v1) ELF (1 vCPU)\n"
	"      --initrd FILE        the initramfs of a Linux --kernel\n"
	"      --append STR         the kernel's command line (also --cmdline)\n"
	"      --disk PATH[,ro]     a virtio-blk disk: a file or block device, opened\n"
	"                           with O_DIRECT and locked (repeatable, up to 8)\n"
	"      --net bridge=BR|tap=TAP[,mac=MAC]\n"
	"                           a virtio-net NIC on a new tap in bridge BR, or on\n"
	"                           an existing TAP (repeatable, up to 8)\n",
	.notes =
	"Runs the built-in workload guest (or the --kernel) until stopped (SIGTERM,\n"
	"SIGINT or 'kmigrate stop NAME').  NAME is [A-Za-z0-9._-]{1,64}; the VM's\n"
	"control socket is $KMIGRATE_RUN_DIR/NAME.sock (default /run/kmigrate/vms).\n"
	"SIZE takes K, M, G, T suffixes (powers of 1024).  With --detach the log\n"
	"goes to $KMIGRATE_RUN_DIR/NAME.log.  A Linux guest's serial console (ttyS0)\n"
	"is kept in $KMIGRATE_RUN_DIR/NAME.console (the last 1-2 MiB: at 1 MiB the\n"
	"file moves to NAME.console.1).\n",
};

/* Whether the file starts like a bzImage (setup header magic "HdrS"). */
static bool run_is_bzimage(const char *path)
{
	uint8_t hdr[0x210];
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, hdr, sizeof(hdr));
	close(fd);
	return n > 0 && vmm_bz_is_bzimage(hdr, (size_t)n);
}

/* "256M", "1G", "65536", "1.5G" -> bytes (binary suffixes). */
static int run_parse_size(const char *s, uint64_t *out)
{
	char *end;
	double v;
	uint64_t mult = 1;

	errno = 0;
	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	v = strtod(s, &end);
	if (errno || end == s || v < 0)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': mult = 1ULL << 10; end++; break;
	case 'm': case 'M': mult = 1ULL << 20; end++; break;
	case 'g': case 'G': mult = 1ULL << 30; end++; break;
	case 't': case 'T': mult = 1ULL << 40; end++; break;
	default: break;
	}
	if (mult > 1 && (!strcmp(end, "iB") || !strcmp(end, "ib") || !strcmp(end, "B")))
		end += strlen(end);
	else if (mult == 1 && (!strcmp(end, "B") || !strcmp(end, "b")))
		end++;
	if (*end)
		return -EINVAL;
	if (v * (double)mult > 1.8e19)
		return -ERANGE;
	*out = (uint64_t)(v * (double)mult);
	return 0;
}

static int run_parse(int argc, char **argv, struct run_opts *o)
{
	char why[256];
	uint32_t u;
	int c;

	while ((c = km_getopt(argc, argv, "m:c:d:w:r:s:D", run_longopts,
			      &run_usage)) != KM_OPT_END) {
		switch (c) {
		case 'm':
			if (run_parse_size(optarg, &o->mem))
				return km_usage_error("invalid --memory '%s': expected a size like 256M or 1G",
						      optarg), KM_OPT_EXIT_USAGE;
			if (o->mem < RUN_MIN_MEM || o->mem > RUN_MAX_MEM)
				return km_usage_error("invalid --memory '%s': must be 8M to 64G", optarg),
				       KM_OPT_EXIT_USAGE;
			if (o->mem % (2ULL << 20))
				return km_usage_error("invalid --memory '%s': must be a multiple of 2 MiB",
						      optarg), KM_OPT_EXIT_USAGE;
			break;
		case 'c':
			if (km_parse_u32(optarg, 1, VMM_MAX_VCPUS, &u, why, sizeof(why)))
				return km_usage_error("invalid --vcpus: %s", why), KM_OPT_EXIT_USAGE;
			o->vcpus = u;
			break;
		case 'd':
			if (!strcmp(optarg, "ring"))
				o->mode = VMM_DIRTY_RING;
			else if (!strcmp(optarg, "bitmap"))
				o->mode = VMM_DIRTY_BITMAP;
			else if (!strcmp(optarg, "auto"))
				o->mode = VMM_DIRTY_AUTO;
			else
				return km_usage_error("invalid --dirty-log '%s': expected ring, bitmap or auto",
						      optarg), KM_OPT_EXIT_USAGE;
			break;
		case 'R':
			if (km_parse_u32(optarg, 64, 65536, &u, why, sizeof(why)))
				return km_usage_error("invalid --ring-entries: %s", why), KM_OPT_EXIT_USAGE;
			if (u & (u - 1))
				return km_usage_error("invalid --ring-entries '%s': must be a power of 2",
						      optarg), KM_OPT_EXIT_USAGE;
			o->ring_entries = u;
			break;
		case 'w':
			o->wl_opt = o->wl_opt ? o->wl_opt : "--workload";
			if (vmm_wl_parse_pattern(optarg, &o->pattern))
				return km_usage_error("invalid --workload '%s': expected seq, random or hotcold",
						      optarg), KM_OPT_EXIT_USAGE;
			break;
		case 'r': {
			char *end;
			unsigned long long v;

			o->wl_opt = o->wl_opt ? o->wl_opt : "--rate";
			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (end != optarg && !strcmp(end, "/s"))
				end += 2;
			if (errno || end == optarg || *end || optarg[0] == '-' || v > RUN_MAX_RATE)
				return km_usage_error("invalid --rate '%s': expected page writes per second (0-%llu)",
						      optarg, RUN_MAX_RATE), KM_OPT_EXIT_USAGE;
			o->rate = v;
			break;
		}
		case 's':
			o->wl_opt = o->wl_opt ? o->wl_opt : "--working-set";
			if (run_parse_size(optarg, &o->ws_bytes) || o->ws_bytes < VMM_PAGE_SIZE)
				return km_usage_error("invalid --working-set '%s': expected a size of at least 4K",
						      optarg), KM_OPT_EXIT_USAGE;
			break;
		case 'Z':
			o->wl_opt = o->wl_opt ? o->wl_opt : "--zero-every";
			if (km_parse_u32(optarg, 2, 1000000, &u, why, sizeof(why)))
				return km_usage_error("invalid --zero-every: %s", why), KM_OPT_EXIT_USAGE;
			o->zero_every = u;
			break;
		case 'D':
			o->detach = true;
			break;
		case 'K':
			if (!*optarg)
				return km_usage_error("invalid --kernel '': expected a file"),
				       KM_OPT_EXIT_USAGE;
			o->kernel = optarg;
			break;
		case 'L':
			if (strlen(optarg) > VMM_MB_CMDLINE_MAX)
				return km_usage_error("invalid --append/--cmdline: longer than %d bytes",
						      VMM_MB_CMDLINE_MAX), KM_OPT_EXIT_USAGE;
			o->cmdline = optarg;
			break;
		case 'B':
			if (run_devs_parse_disk(&o->devs, optarg))
				return KM_OPT_EXIT_USAGE;
			break;
		case 'N':
			if (run_devs_parse_net(&o->devs, optarg))
				return KM_OPT_EXIT_USAGE;
			break;
		case 'I':
			if (!*optarg)
				return km_usage_error("invalid --initrd '': expected a file"),
				       KM_OPT_EXIT_USAGE;
			o->initrd = optarg;
			break;
		case 'C':
			if (!vmm_cpumodel_known(optarg))
				return km_usage_error("invalid --cpu '%s': expected one of %s",
						      optarg, vmm_cpumodel_list()), KM_OPT_EXIT_USAGE;
			o->cpu = optarg;
			break;
		default:
			return c;
		}
	}
	if (optind >= argc)
		return km_usage_error("missing the VM's NAME"), KM_OPT_EXIT_USAGE;
	o->name = argv[optind++];
	if (!km_ctl_name_valid(o->name))
		return km_usage_error("invalid NAME '%s': use 1-64 of A-Z a-z 0-9 . _ -", o->name),
		       KM_OPT_EXIT_USAGE;
	if (km_no_args(argc, argv))
		return KM_OPT_EXIT_USAGE;
	if (o->cmdline && !o->kernel)
		return km_usage_error("--append/--cmdline needs --kernel"), KM_OPT_EXIT_USAGE;
	if (o->initrd && !o->kernel)
		return km_usage_error("--initrd needs --kernel"), KM_OPT_EXIT_USAGE;
	if (o->kernel && o->wl_opt)
		return km_usage_error("%s is an option of the built-in workload: not with --kernel",
				      o->wl_opt), KM_OPT_EXIT_USAGE;
	if (o->kernel && access(o->kernel, R_OK))
		return km_usage_error("invalid --kernel '%s': %s", o->kernel, strerror(errno)),
		       KM_OPT_EXIT_USAGE;
	o->linux_kernel = o->kernel && run_is_bzimage(o->kernel);
	if (o->linux_kernel) {
		struct vmm_linux_config lc = {
			.kernel = o->kernel, .initrd = o->initrd, .cmdline = o->cmdline,
		};
		char err[512];

		if (vmm_linux_check(&lc, o->mem, err, sizeof(err)))
			return km_usage_error("invalid --kernel/--initrd/--append: %s", err),
			       KM_OPT_EXIT_USAGE;
	} else if (o->kernel && o->initrd) {
		return km_usage_error("--initrd needs a Linux bzImage --kernel; '%s' is not one "
				      "(no \"HdrS\" setup header)", o->kernel), KM_OPT_EXIT_USAGE;
	}
	if (o->kernel && !o->linux_kernel && o->vcpus > 1)
		return km_usage_error("a multiboot --kernel boots 1 vCPU (the APs would need the "
				      "in-kernel irqchip to start)"), KM_OPT_EXIT_USAGE;
	if (o->ws_bytes) {
		uint64_t work = (o->mem - RUN_WORK_GPA) / VMM_PAGE_SIZE;

		if (o->ws_bytes / VMM_PAGE_SIZE * o->vcpus > work)
			return km_usage_error("invalid --working-set: %u vCPUs x %" PRIu64
					      " pages exceed the %" PRIu64 " work pages of the guest",
					      o->vcpus, (uint64_t)(o->ws_bytes / VMM_PAGE_SIZE), work),
			       KM_OPT_EXIT_USAGE;
	}
	return KM_OPT_END;
}

/* The control requests and the serve loop are in tools/migrate/vmhost.c
 * (shared with the destination of a migration, `kmigrate listen`). */

/* ---------------------------------------------------------------- run -- */

/* The daemon's end of --detach: tell the parent how the start went. */
static void run_notify(int *fd, unsigned char status)
{
	if (*fd < 0)
		return;
	if (write(*fd, &status, 1) != 1) {
		/* the parent is gone: nothing to tell */
	}
	close(*fd);
	*fd = -1;
}

/* The --detach parent: waits for the daemon's status byte. */
static int run_wait_child(int fd, pid_t pid)
{
	unsigned char status;
	ssize_t n;

	do {
		n = read(fd, &status, 1);
	} while (n < 0 && errno == EINTR);
	close(fd);
	if (n == 1)
		return status;
	km_err("%s: the VM process (pid %d) ended before the VM was up", "run", (int)pid);
	return KM_EXIT_FAIL;
}

int run_main(int argc, char **argv)
{
	struct run_opts o = {
		.mem = 256ULL << 20, .vcpus = 1, .mode = VMM_DIRTY_AUTO,
		.pattern = VMM_WL_SEQ, .rate = 1000,
	};
	struct run_state rs = { .o = &o };
	struct km_ctl_server srv;
	struct vmm_config cfg;
	struct vmm_wl_config wl;
	struct vmm_linux *lx = NULL;
	struct run_console con;
	char err[512];
	sigset_t sigs;
	int ret, sfd = -1, notify = -1;

	ret = run_parse(argc, argv, &o);
	if (ret != KM_OPT_END)
		return km_opt_exit(ret);
	run_console_init(&con);

	ret = km_ctl_server_open(&srv, o.name, err, sizeof(err));
	if (ret) {
		km_err("run: %s", err);
		return KM_EXIT_FAIL;
	}
	fflush(NULL);
	if (o.detach) {
		int p[2];
		pid_t pid;

		if (pipe2(p, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
			km_err("run: starting the VM process: %s", strerror(errno));
			km_ctl_server_close(&srv);
			return KM_EXIT_FAIL;
		}
		if (pid > 0) {
			/* the daemon owns the socket and the lock now */
			close(p[1]);
			close(srv.listen_fd);
			close(srv.lock_fd);
			ret = run_wait_child(p[0], pid);
			if (!ret)
				printf("%s: running (pid %d), control socket %s\n",
				       o.name, (int)pid, srv.sock_path);
			return ret;
		}
		close(p[0]);
		notify = p[1];
		setsid();
	}

	/* Before any thread exists, so that the vCPU threads inherit it. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (sfd < 0) {
		km_err("run: signalfd: %s", strerror(errno));
		ret = KM_EXIT_FAIL;
		goto out_srv;
	}

	memset(&cfg, 0, sizeof(cfg));
	cfg.mem_bytes = o.mem;
	cfg.nr_vcpus = o.vcpus;
	cfg.dirty_mode = o.mode;
	cfg.ring_entries = o.ring_entries;
	cfg.quiet_console = true;
	cfg.cpu_model = o.cpu;
	cfg.irqchip = o.linux_kernel;
	ret = vmm_vm_create(&cfg, &rs.vm);
	if (ret) {
		km_err("run: %s: creating the VM: %s%s", o.name, strerror(-ret),
		       access("/dev/kvm", R_OK | W_OK) ? " (is /dev/kvm there and usable?)" : "");
		ret = KM_EXIT_FAIL;
		goto out_srv;
	}
	ret = run_devs_add(&o.devs, rs.vm, o.name);
	if (ret)
		goto out_vm;
	memset(&wl, 0, sizeof(wl));
	wl.pattern = o.pattern;
	wl.rate = o.rate;
	wl.ws_pages = o.ws_bytes / VMM_PAGE_SIZE;
	wl.zero_every = o.zero_every;
	wl.seed = vmm_realtime_ns() ^ ((uint64_t)getpid() << 32);
	if (o.linux_kernel) {
		ret = run_console_open(&con, srv.sock_path, err, sizeof(err));
		if (!ret) {
			struct vmm_linux_config lc = {
				.kernel = o.kernel, .initrd = o.initrd, .cmdline = o.cmdline,
				.console_out = run_console_out, .console_opaque = &con,
			};

			ret = vmm_linux_load(rs.vm, &lc, &lx, err, sizeof(err));
		}
		if (!ret)
			ret = run_console_serve(&con, lx, err, sizeof(err));
		if (ret) {
			km_err("run: %s: %s", o.name, err);
			ret = KM_EXIT_FAIL;
			goto out_vm;
		}
	} else if (o.kernel) {
		ret = vmm_mb_load_file(rs.vm, o.kernel, o.cmdline);
	} else {
		ret = vmm_wl_load(rs.vm, &wl);
	}
	if (!ret)
		ret = vmm_start(rs.vm);
	if (ret) {
		km_err("run: %s: starting the guest: %s", o.name, strerror(-ret));
		ret = KM_EXIT_FAIL;
		goto out_vm;
	}
	rs.start_ns = vmm_now_ns();
	if (o.detach) {
		km_ctl_redirect_log(o.name, false);
		run_notify(&notify, KM_EXIT_OK);
	} else {
		printf("%s: running (pid %d), %" PRIu64 " MiB, %u vCPU(s), dirty %s; control socket %s\n",
		       o.name, (int)getpid(), o.mem >> 20, o.vcpus,
		       vmm_dirty_mode_name(vmm_dirty_mode(rs.vm)), srv.sock_path);
		fflush(stdout);
	}
	fprintf(stderr, "kmigrate run: %s: up: pid %d, %" PRIu64 " MiB, %u vCPU(s), dirty %s\n",
		o.name, (int)getpid(), o.mem >> 20, o.vcpus,
		vmm_dirty_mode_name(vmm_dirty_mode(rs.vm)));

	{
		struct km_vmhost h;

		km_vmhost_init(&h, o.name, rs.vm);
		h.workload = o.kernel ? NULL : vmm_wl_pattern_name(o.pattern);
		h.rate = o.rate;
		h.ws_bytes = o.ws_bytes;
		h.kernel = o.kernel;
		h.cmdline = o.cmdline;
		h.linux_guest = o.linux_kernel;
		h.console_log = o.linux_kernel ? con.path : NULL;
		h.start_ns = rs.start_ns;
		ret = km_vmhost_serve(&h, &srv, sfd);
		km_vmhost_shutdown(&h);
	}
	fprintf(stderr, "kmigrate run: %s: stopped\n", o.name);
out_vm:
	vmm_vm_destroy(rs.vm);
	run_console_close(&con);	/* its thread feeds lx */
	vmm_linux_free(lx);		/* after both: the VM's ports use it */
out_srv:
	km_ctl_server_close(&srv);
	if (sfd >= 0)
		close(sfd);
	run_notify(&notify, (unsigned char)ret);
	if (o.detach)
		exit(ret);	/* the daemon: nothing of the CLI's to flush */
	return ret;
}
