// SPDX-License-Identifier: GPL-2.0
/*
 * modfuzz: fuzz and race the interfaces of kmigrate.ko (issue 13, point 4).
 *
 * Runs as root inside a lab host with /dev/kvm and kmigrate.ko loaded (as
 * the other kselftests; run.sh runs it with the short defaults), and must
 * leave the module loaded.  Tests, in order:
 *
 *   fuzz             seeded random and hostile calls on /dev/kmigrate and
 *                    the generic netlink family, checked against a model
 *                    of each session (the errno the uapi header promises)
 *                    with real VMs (one with a dirty ring and a running
 *                    guest, one without), real TCP connections with
 *                    readers, and wrong file descriptors of every kind
 *   race_*           threads: the VM fd, the socket or the session closed
 *                    while HARVEST and SEND_PAGES run; ATTACH of one VM on
 *                    two files at once; guest and host writing the pages
 *                    being sent; rmmod while sessions are open (refused)
 *                    and against opens
 *   load_loops       insmod, open, attach, bind, round, harvest, send,
 *                    close, rmmod, N times: unload refused while a session
 *                    is open; no growth of the slab caches or of
 *                    unreclaimable memory; kmemleak, when the kernel has
 *                    it, reports nothing allocated by this program
 *
 * Options (the harness of Linux 6.1 ignores the command line; these are
 * taken out before it runs):
 *   --seed N         the fuzzer's seed (default: from the clock; printed)
 *   --seconds S      fuzz for S seconds (default 20)
 *   --iterations N   stop the fuzzer after N calls (default: no limit)
 *   --races N        run each race N times (default 1)
 *   --loops N        load/unload loops (default 50)
 *   --ko PATH        kmigrate.ko (default: $KMIGRATE_KO, else
 *                    ../kmigrate.ko next to this program's directory)
 * The same from the environment: MODFUZZ_SEED, MODFUZZ_SECONDS,
 * MODFUZZ_ITERATIONS, MODFUZZ_RACES, MODFUZZ_LOOPS.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <linux/genetlink.h>
#include <netlink/genl/ctrl.h>
#include <linux/netlink.h>

#include "kselftest_harness.h"
#include "kmtest.h"
#include "dp_vm.h"

#define REC_MAGIC	0x52474d4bu
#define REC_PAGES	3
#define REC_ZERO	4
#define REC_HDR		16

/* ---- options ----------------------------------------------------------- */

static uint64_t opt_seed;
static long opt_seconds = 20;
static long opt_iterations;		/* 0: no limit */
static int opt_races = 1;
static int opt_loops = 50;
static char opt_ko[PATH_MAX];

/* ---- small helpers ----------------------------------------------------- */

/* splitmix64: one 64-bit state, reproducible from the seed. */
struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t rn(struct rng *r, uint32_t n)
{
	return n ? (uint32_t)(rnd(r) % n) : 0;
}

/* true with probability 1/n */
static bool one_in(struct rng *r, uint32_t n)
{
	return rn(r, n) == 0;
}

static int xioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) < 0 ? -errno : 0;
}

static int mod_unload(void)
{
	return syscall(SYS_delete_module, "kmigrate", O_NONBLOCK) ? -errno : 0;
}

static int mod_load(void)
{
	int fd, err = 0;

	fd = open(opt_ko, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (syscall(SYS_finit_module, fd, "", 0))
		err = -errno;
	close(fd);
	return err;
}

static bool mod_loaded(void)
{
	return access("/sys/module/kmigrate/initstate", F_OK) == 0;
}

/* The module is loaded, whatever an earlier test left. */
static int ensure_loaded(void)
{
	int err;

	if (mod_loaded())
		return 0;
	err = mod_load();
	return err == -EEXIST ? 0 : err;
}

static long refcnt(void)
{
	char buf[32];

	if (kmt_read_file("/sys/module/kmigrate/refcnt", buf, sizeof(buf)))
		return -1;
	return strtol(buf, NULL, 10);
}

static int session_count(void)
{
	struct kmt_info info;
	struct kmt_nl nl;
	int err;

	err = kmt_nl_open(&nl);
	if (err)
		return err;
	err = kmt_get_info(&nl, &info, NULL);
	kmt_nl_close(&nl);
	return err ? err : (int)info.session_count;
}

static int harvest(int km, uint64_t *gfns, uint32_t max, uint32_t *count,
		   uint32_t *flags)
{
	struct kmigrate_harvest h = {
		.gfns = (uintptr_t)gfns, .max_gfns = max,
	};
	int err = xioctl(km, KMIGRATE_HARVEST, &h);

	if (count)
		*count = err ? 0 : h.count;
	if (flags)
		*flags = h.flags;
	return err;
}

static int send_gfns(int km, const uint64_t *gfns, uint32_t n, uint32_t flags,
		     struct kmigrate_send *out)
{
	struct kmigrate_send s;
	int err;

	memset(&s, 0, sizeof(s));
	s.gfns = (uintptr_t)gfns;
	s.nr_gfns = n;
	s.flags = flags;
	err = xioctl(km, KMIGRATE_SEND_PAGES, &s);
	if (out)
		*out = s;
	return err;
}

static int set_bw(int km, uint64_t bps)
{
	struct kmigrate_bandwidth bw = { .bytes_per_sec = bps };

	return xioctl(km, KMIGRATE_SET_BANDWIDTH, &bw);
}

static int get_state(int km, struct kmigrate_stats *st)
{
	memset(st, 0, sizeof(*st));
	return xioctl(km, KMIGRATE_GET_STATS, st);
}

/*
 * Stops a started guest whose vCPUs may wait on a full ring: harvests on
 * km (or, with km < 0 or once km fails, on a session of its own: km is
 * detached then) until every vCPU halted.  0, or -ETIMEDOUT / the error
 * of the session.  The guest must be stopped before its struct is reused:
 * its vCPU threads use it.
 */
static int vm_stop(struct dp_vm *v, int km)
{
	static uint64_t sink[KMIGRATE_BATCH_MAX];
	uint64_t end = dp_now_ns() + 60000000000ull;
	struct kmigrate_attach a = { 0 };
	int own = -1, err = 0;

	if (!v->started)
		return 0;
	dp_vm_request_stop(v);
	while (!dp_vm_all_done(v)) {
		if (dp_now_ns() > end) {
			err = -ETIMEDOUT;
			break;
		}
		/* km broken (FAILED, closed): a session of our own, once km
		 * has let go of the VM (one session per VM) */
		if (v->ring_entries && (km < 0 ||
		    harvest(km, sink, KMIGRATE_BATCH_MAX, NULL, NULL))) {
			if (own >= 0 || v->vm < 0) {
				err = -EBADFD;
				break;
			}
			if (km >= 0)
				xioctl(km, KMIGRATE_DETACH_VM, NULL);
			own = kmt_open(O_RDWR);
			if (own < 0)
				return own;
			a.vm_fd = v->vm;
			err = xioctl(own, KMIGRATE_ATTACH_VM, &a);
			if (err)
				break;
			km = own;
		}
		usleep(1000);
	}
	if (own >= 0)
		close(own);
	if (!err)
		err = dp_vm_join(v);
	return err;
}

/* ---- a rig: guest, session, connection --------------------------------- */

struct rig {
	struct dp_vm vm;
	int km;
	int tx, rx;
	struct dp_reader rd;
	bool reading;
	char err[200];
};

static void rig_init(struct rig *g)
{
	memset(g, 0, sizeof(*g));
	g->km = g->tx = g->rx = -1;
	g->vm.kvm = g->vm.vm = -1;
	g->vm.vcpu_fd[0] = g->vm.vcpu_fd[1] = -1;
}

/* A VM (ring entries, vCPUs started when run), a session attached to it, a
 * bound TCP connection with a reader keeping cap bytes, round 0 started. */
static int rig_open(struct rig *g, uint32_t ring, int vcpus, bool run, size_t cap)
{
	struct kmigrate_attach a = { 0 };
	struct kmigrate_bind b = { 0 };
	struct kmigrate_round r = { 0 };
	int err;

	rig_init(g);
	err = dp_vm_create(&g->vm, ring, vcpus);
	if (err) {
		snprintf(g->err, sizeof(g->err), "vm: %s", g->vm.err);
		return err;
	}
	g->km = kmt_open(O_RDWR);
	if (g->km < 0) {
		snprintf(g->err, sizeof(g->err), "open: %s", strerror(-g->km));
		return g->km;
	}
	a.vm_fd = g->vm.vm;
	err = xioctl(g->km, KMIGRATE_ATTACH_VM, &a);
	if (!err)
		err = dp_tcp_pair(&g->tx, &g->rx);
	if (!err) {
		b.sock_fd = g->tx;
		err = xioctl(g->km, KMIGRATE_BIND_SOCKET, &b);
	}
	if (!err)
		err = xioctl(g->km, KMIGRATE_ROUND, &r);
	if (!err) {
		err = dp_reader_start(&g->rd, g->rx, cap);
		g->reading = !err;
	}
	if (!err && run) {
		err = dp_vm_start(&g->vm);
		if (err)
			snprintf(g->err, sizeof(g->err), "start: %s", g->vm.err);
	}
	if (err && !g->err[0])
		snprintf(g->err, sizeof(g->err), "session setup: %s", strerror(-err));
	return err;
}

static int rig_close(struct rig *g)
{
	int err = vm_stop(&g->vm, g->km);

	if (g->km >= 0)
		close(g->km);
	g->km = -1;
	if (g->reading)
		dp_reader_stop(&g->rd);
	if (g->tx >= 0)
		close(g->tx);
	if (g->rx >= 0)
		close(g->rx);
	g->tx = g->rx = -1;
	dp_reader_free(&g->rd);
	g->reading = false;
	dp_vm_destroy(&g->vm);
	return err;
}

/* ---- worker threads ----------------------------------------------------- */

#define MAX_ERRS	8

/* What a loop of one ioctl saw: how often each result came back. */
struct tally {
	int err[MAX_ERRS];
	unsigned long cnt[MAX_ERRS];
	unsigned long other;
	int other_err;
};

static void tally(struct tally *t, int err)
{
	int i;

	for (i = 0; i < MAX_ERRS; i++) {
		if (t->cnt[i] && t->err[i] == err) {
			t->cnt[i]++;
			return;
		}
		if (!t->cnt[i]) {
			t->err[i] = err;
			t->cnt[i] = 1;
			return;
		}
	}
	t->other++;
	t->other_err = err;
}

static unsigned long tally_of(const struct tally *t, int err)
{
	int i;

	for (i = 0; i < MAX_ERRS; i++)
		if (t->cnt[i] && t->err[i] == err)
			return t->cnt[i];
	return 0;
}

/* Every result is one of allowed[] (0 terminates the list after the first). */
static bool tally_only(const struct tally *t, const int *allowed, int n,
		       int *bad)
{
	int i, k;

	if (t->other) {
		*bad = t->other_err;
		return false;
	}
	for (i = 0; i < MAX_ERRS && t->cnt[i]; i++) {
		for (k = 0; k < n; k++)
			if (t->err[i] == allowed[k])
				break;
		if (k == n) {
			*bad = t->err[i];
			return false;
		}
	}
	return true;
}

static void tally_log(struct __test_metadata *_metadata, const char *what,
		      const struct tally *t)
{
	char buf[256];
	size_t o = 0;
	int i;

	for (i = 0; i < MAX_ERRS && t->cnt[i]; i++)
		o += snprintf(buf + o, sizeof(buf) - o, " %s x%lu",
			      t->err[i] ? strerror(-t->err[i]) : "ok", t->cnt[i]);
	if (!o)
		snprintf(buf, sizeof(buf), " (none)");
	TH_LOG("%s:%s", what, buf);
}

struct worker {
	pthread_t thr;
	int km;
	int op;			/* KMIGRATE_HARVEST, KMIGRATE_SEND_PAGES, ... */
	const uint64_t *gfns;	/* sends */
	uint32_t n;
	uint32_t flags;
	volatile int stop;
	bool started;
	struct tally t;
	uint64_t bytes;		/* sent, by the sends that succeeded */
	unsigned long calls;
	int first_fail;		/* first non-zero result */
};

static void *worker_thread(void *arg)
{
	static __thread uint64_t buf[KMIGRATE_BATCH_MAX];
	struct worker *w = arg;

	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		struct kmigrate_send s;
		int err;

		if (w->op == (int)KMIGRATE_HARVEST) {
			err = harvest(w->km, buf, KMIGRATE_BATCH_MAX, NULL, NULL);
		} else {
			err = send_gfns(w->km, w->gfns, w->n, w->flags, &s);
			if (!err)
				w->bytes += s.bytes;
		}
		if (err && !w->first_fail)
			__atomic_store_n(&w->first_fail, err, __ATOMIC_RELEASE);
		tally(&w->t, err);
		w->calls++;
		/* A dead file or a broken session: no point in spinning. */
		if (err == -EBADF || err == -ENOTTY)
			usleep(1000);
	}
	return NULL;
}

static int worker_start(struct worker *w, int km, int op, const uint64_t *gfns,
			uint32_t n, uint32_t flags)
{
	int err;

	memset(w, 0, sizeof(*w));
	w->km = km;
	w->op = op;
	w->gfns = gfns;
	w->n = n;
	w->flags = flags;
	err = pthread_create(&w->thr, NULL, worker_thread, w);
	w->started = !err;
	return -err;
}

/* Waits (at most 10 s) until a call of w failed; its error, or 0. */
static int worker_wait_fail(struct worker *w)
{
	uint64_t end = dp_now_ns() + 10000000000ull;
	int err;

	while (!(err = __atomic_load_n(&w->first_fail, __ATOMIC_ACQUIRE)) &&
	       dp_now_ns() < end)
		usleep(1000);
	return err;
}

/* Stops and joins; 0, or -ETIMEDOUT when it did not end within 30 s (it is
 * left running: the test fails and exits). */
static int worker_stop(struct worker *w)
{
	struct timespec ts;

	if (!w->started)
		return 0;
	__atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 30;
	if (pthread_timedjoin_np(w->thr, NULL, &ts))
		return -ETIMEDOUT;
	w->started = false;
	return 0;
}

/* The gfns 16.. of the 4 MiB slot, n of them, in a shuffled order. */
static void gfn_list(uint64_t *g, uint32_t n, uint64_t seed)
{
	struct rng r = { seed };
	uint32_t i;

	for (i = 0; i < n; i++)
		g[i] = DP_STAMP_FIRST + i % DP_STAMP_PAGES;
	for (i = n - 1; i > 0; i--) {
		uint32_t j = rn(&r, i + 1);
		uint64_t t = g[i];

		g[i] = g[j];
		g[j] = t;
	}
}

/* ========================================================================
 * The fuzzer
 * ======================================================================== */

#define FZ_SESSIONS	6
#define FZ_SOCKS	3
#define FZ_SLOT1_GPA	(64ull << 20)
#define FZ_SLOT1_SIZE	(1u << 20)
#define FZ_KVM_MAX_VCPUS 1024	/* x86 KVM_MAX_VCPUS on 6.1 and 6.12 */

enum { VM_RING, VM_PLAIN, FZ_VMS };

/* A wrong or right file descriptor for ATTACH and BIND, and what each must
 * answer (BIND's answer for a live session without a socket). */
struct fz_fd {
	const char *name;
	int fd;
	int attach;		/* expected ATTACH result (a free session) */
	int bind;		/* expected BIND result */
	int vm;			/* VM_* for the real VMs, -1 else */
	bool own;		/* ours to close at the end */
};

struct fz_sess {
	int fd;			/* -1: slot unused */
	int vm;			/* VM_*, -1: none attached */
	bool sock;
	int state;		/* enum kmigrate_session_state */
	uint32_t rounds, round;
	uint32_t error;
};

struct fz {
	struct rng r;
	struct dp_vm vm[FZ_VMS];
	void *slot1;		/* host memory of VM_RING's slot 1 */
	bool slot1_on;
	int tx[FZ_SOCKS], rx[FZ_SOCKS];
	struct dp_reader rd[FZ_SOCKS];
	struct fz_fd fds[24];
	int nfds;
	struct fz_sess s[FZ_SESSIONS];
	struct fz_sess *holder[FZ_VMS];	/* the session each VM is attached to */
	/* generic netlink, raw */
	int nl;
	int family;
	uint32_t seq;
	/* hostile memory */
	void *unmapped;		/* a page no access is allowed to */
	uint64_t gfns[KMIGRATE_BATCH_MAX + 8];
	uint64_t hbuf[KMIGRATE_BATCH_MAX];
	uint32_t fetch[FZ_KVM_MAX_VCPUS * 5];
	/* statistics */
	unsigned long calls, by_op[32], ok_op[32];
	unsigned long genl_msgs, genl_ok;
	/* the first mismatch */
	char fail[400];
	/* what runs now, for the watchdog */
	volatile int cur_op;
	volatile uint64_t cur_since;
	uint64_t cur_iter;
};

static const char *const fz_op_names[] = {
	"open", "close", "attach", "detach", "bind", "round", "harvest", "send",
	"end", "bandwidth", "stats", "version/features", "raw ioctl", "genl",
	"memslot", "host writes", "fork",
};

enum {
	OP_OPEN, OP_CLOSE, OP_ATTACH, OP_DETACH, OP_BIND, OP_ROUND, OP_HARVEST,
	OP_SEND, OP_END, OP_BW, OP_STATS, OP_VERSION, OP_RAW, OP_GENL,
	OP_SLOT, OP_WRITE, OP_FORK, OP_NR
};

static const uint8_t fz_weights[OP_NR] = {
	[OP_OPEN] = 4, [OP_CLOSE] = 2, [OP_ATTACH] = 6, [OP_DETACH] = 2,
	[OP_BIND] = 6, [OP_ROUND] = 6, [OP_HARVEST] = 10, [OP_SEND] = 12,
	[OP_END] = 2, [OP_BW] = 3, [OP_STATS] = 4, [OP_VERSION] = 3,
	[OP_RAW] = 4, [OP_GENL] = 14, [OP_SLOT] = 1, [OP_WRITE] = 3,
	[OP_FORK] = 1,
};

static bool fz_failed(struct fz *z)
{
	return z->fail[0] != 0;
}

static void __attribute__((format(printf, 2, 3)))
fz_mismatch(struct fz *z, const char *fmt, ...)
{
	va_list ap;
	int o;

	if (fz_failed(z))
		return;
	o = snprintf(z->fail, sizeof(z->fail), "seed %llu call %llu: ",
		     (unsigned long long)opt_seed, (unsigned long long)z->cur_iter);
	va_start(ap, fmt);
	vsnprintf(z->fail + o, sizeof(z->fail) - o, fmt, ap);
	va_end(ap);
}

static void fz_expect(struct fz *z, const char *what, int want, int got)
{
	if (want != got)
		fz_mismatch(z, "%s: expected %s, got %s", what,
			    want ? strerror(-want) : "success",
			    got ? strerror(-got) : "success");
}

/* ---- the watchdog: a call that does not return in 120 s is a hang ----- */

static void *fz_watchdog(void *arg)
{
	struct fz *z = arg;

	for (;;) {
		uint64_t since = z->cur_since;

		sleep(1);
		if (since && since == z->cur_since &&
		    dp_now_ns() - since > 120000000000ull) {
			fprintf(stderr,
				"# modfuzz: HANG: call %llu (%s) has not returned in 120 s (seed %llu)\n",
				(unsigned long long)z->cur_iter,
				fz_op_names[z->cur_op], (unsigned long long)opt_seed);
			fflush(stderr);
			_exit(3);
		}
	}
	return NULL;
}

/* ---- model helpers ------------------------------------------------------- */

static bool live(int state)
{
	return state == KMIGRATE_SESSION_ATTACHED || state == KMIGRATE_SESSION_RUNNING;
}

static struct fz_sess *fz_pick(struct fz *z, bool open)
{
	int i, k = rn(&z->r, FZ_SESSIONS);

	for (i = 0; i < FZ_SESSIONS; i++) {
		struct fz_sess *s = &z->s[(k + i) % FZ_SESSIONS];

		if ((s->fd >= 0) == open)
			return s;
	}
	return NULL;
}

/* A hostile pointer for an ioctl argument, or NULL to use the real one. */
static void *fz_badptr(struct fz *z)
{
	switch (rn(&z->r, 5)) {
	case 0: return (void *)0;
	case 1: return z->unmapped;
	case 2: return (void *)0xffff888000000000ull;	/* the kernel's */
	case 3: return (void *)0x0000800000000000ull;	/* non-canonical */
	default: return (char *)z->unmapped - 4;	/* straddles the end */
	}
}

/* A gfn: in slot 0 (mostly), in slot 1 (valid while it is there), or out. */
static uint64_t fz_gfn(struct fz *z, int vm, bool *valid)
{
	uint64_t g;

	switch (rn(&z->r, 12)) {
	case 0:
		g = FZ_SLOT1_GPA / DP_PAGE_SIZE + rn(&z->r, FZ_SLOT1_SIZE / DP_PAGE_SIZE);
		*valid = vm == VM_RING && z->slot1_on;
		return g;
	case 1:
		g = DP_MEM_PAGES + rn(&z->r, 1u << 20);	/* between the slots, above */
		*valid = vm == VM_RING && z->slot1_on &&
			 g >= FZ_SLOT1_GPA / DP_PAGE_SIZE &&
			 g < (FZ_SLOT1_GPA + FZ_SLOT1_SIZE) / DP_PAGE_SIZE;
		return g;
	case 2:
		*valid = false;
		switch (rn(&z->r, 4)) {
		case 0: return UINT64_MAX;
		case 1: return 1ull << 63;
		case 2: return (1ull << 52) + rn(&z->r, 100);
		default: return rnd(&z->r);
		}
	default:
		*valid = true;
		return rn(&z->r, DP_MEM_PAGES);
	}
}

static bool fz_gfn_valid(struct fz *z, int vm, uint64_t g)
{
	if (g < DP_MEM_PAGES)
		return true;
	return vm == VM_RING && z->slot1_on && g >= FZ_SLOT1_GPA / DP_PAGE_SIZE &&
	       g < (FZ_SLOT1_GPA + FZ_SLOT1_SIZE) / DP_PAGE_SIZE;
}

/* ---- the operations ------------------------------------------------------ */

static void fz_open(struct fz *z)
{
	struct fz_sess *s = fz_pick(z, false);
	int fd;

	if (!s)
		return;
	fd = kmt_open(O_RDWR);
	if (fd == -EBUSY)	/* the genl fuzz may have lowered the limit */
		return;
	if (fd < 0) {
		fz_mismatch(z, "open /dev/kmigrate: %s", strerror(-fd));
		return;
	}
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->vm = -1;
	s->state = KMIGRATE_SESSION_IDLE;
	z->ok_op[OP_OPEN]++;
}

static void fz_close(struct fz *z)
{
	struct fz_sess *s = fz_pick(z, true);

	if (!s)
		return;
	close(s->fd);
	s->fd = -1;
	if (s->vm >= 0)
		z->holder[s->vm] = NULL;
	z->ok_op[OP_CLOSE]++;
}

static void fz_attach(struct fz *z, struct fz_sess *s)
{
	struct kmigrate_attach a;
	const struct fz_fd *f = &z->fds[rn(&z->r, z->nfds)];
	void *arg = &a;
	int want, got;

	memset(&a, 0, sizeof(a));
	a.vm_fd = f->fd;
	want = f->attach;
	if (one_in(&z->r, 8)) {
		a.flags = 1u << rn(&z->r, 32);
		want = -EOPNOTSUPP;
	} else if (one_in(&z->r, 10)) {
		a.reserved = (uint32_t)rnd(&z->r) | 1;
		want = -EINVAL;
	} else if (s->vm >= 0) {
		want = -EBUSY;
	} else if (f->vm >= 0 && z->holder[f->vm]) {
		want = -EBUSY;		/* one session per VM */
	}
	if (one_in(&z->r, 12)) {
		arg = fz_badptr(z);
		want = -EFAULT;
	}
	got = xioctl(s->fd, KMIGRATE_ATTACH_VM, arg);
	fz_expect(z, "ATTACH_VM", want, got);
	if (!got) {
		z->holder[f->vm] = s;
		s->vm = f->vm;
		s->sock = false;
		s->state = KMIGRATE_SESSION_ATTACHED;
		s->rounds = s->round = 0;
		s->error = 0;
		if (a.nr_memslots != (f->vm == VM_RING && z->slot1_on ? 2u : 1u))
			fz_mismatch(z, "ATTACH_VM: %u memory slots", a.nr_memslots);
		if (a.ring_entries != z->vm[f->vm].ring_entries)
			fz_mismatch(z, "ATTACH_VM: %u ring entries", a.ring_entries);
	}
}

static void fz_detach(struct fz *z, struct fz_sess *s)
{
	int got = xioctl(s->fd, KMIGRATE_DETACH_VM, NULL);

	fz_expect(z, "DETACH_VM", s->vm >= 0 ? 0 : -EBADFD, got);
	if (s->vm >= 0)
		z->holder[s->vm] = NULL;
	s->vm = -1;
	s->sock = false;
	s->state = KMIGRATE_SESSION_IDLE;
}

static void fz_bind(struct fz *z, struct fz_sess *s)
{
	struct kmigrate_bind b;
	const struct fz_fd *f = &z->fds[rn(&z->r, z->nfds)];
	void *arg = &b;
	int want, got;

	memset(&b, 0, sizeof(b));
	/* a real connection half the time */
	if (one_in(&z->r, 2)) {
		int k = rn(&z->r, FZ_SOCKS);

		b.sock_fd = z->tx[k];
		want = 0;
	} else {
		b.sock_fd = f->fd;
		want = f->bind;
	}
	if (one_in(&z->r, 8)) {
		b.flags = 1u << rn(&z->r, 32);
		want = -EOPNOTSUPP;
	} else if (one_in(&z->r, 10)) {
		b.reserved = rnd(&z->r) | 1;
		want = -EINVAL;
	} else if (s->vm < 0 || !live(s->state)) {
		want = -EBADFD;
	} else if (s->sock) {
		want = -EBUSY;
	}
	if (one_in(&z->r, 12)) {
		arg = fz_badptr(z);
		want = -EFAULT;
	}
	got = xioctl(s->fd, KMIGRATE_BIND_SOCKET, arg);
	fz_expect(z, "BIND_SOCKET", want, got);
	if (!got)
		s->sock = true;
}

static void fz_round(struct fz *z, struct fz_sess *s)
{
	struct kmigrate_round r;
	void *arg = &r;
	uint32_t next = s->rounds ? s->round + 1 : 0;
	int want = 0, got;

	memset(&r, 0, sizeof(r));
	r.round = one_in(&z->r, 6) ? (uint32_t)rnd(&z->r) : next;
	r.dirty_pages = rnd(&z->r);
	if (one_in(&z->r, 4))
		r.flags = KMIGRATE_ROUND_F_FINAL;
	if (one_in(&z->r, 8)) {
		r.flags |= 2u << rn(&z->r, 31);
		want = -EOPNOTSUPP;
	} else if (s->vm < 0 || !live(s->state)) {
		want = -EBADFD;
	} else if (r.round != next) {
		want = -EINVAL;
	}
	if (one_in(&z->r, 12)) {
		arg = fz_badptr(z);
		want = -EFAULT;
	}
	got = xioctl(s->fd, KMIGRATE_ROUND, arg);
	fz_expect(z, "ROUND", want, got);
	if (!got) {
		s->state = KMIGRATE_SESSION_RUNNING;
		s->round = r.round;
		s->rounds++;
	}
}

static void fz_harvest(struct fz *z, struct fz_sess *s)
{
	struct kmigrate_harvest h;
	void *arg = &h;
	bool maybe_fault = false, maybe_einval = false;
	int want = 0, got;

	memset(&h, 0, sizeof(h));
	h.gfns = (uintptr_t)z->hbuf;
	switch (rn(&z->r, 6)) {
	case 0: h.max_gfns = 1; break;
	case 1: h.max_gfns = KMIGRATE_BATCH_MAX; break;
	case 2: h.max_gfns = one_in(&z->r, 2) ? 0 : KMIGRATE_BATCH_MAX + 1 + rn(&z->r, 1u << 20); break;
	default: h.max_gfns = 1 + rn(&z->r, KMIGRATE_BATCH_MAX); break;
	}
	if (one_in(&z->r, 3)) {
		h.ring_fetch = (uintptr_t)z->fetch;
		h.nr_ring_fetch = one_in(&z->r, 4) ? rn(&z->r, ARRAY_SIZE(z->fetch))
						   : rn(&z->r, 8);
		if (h.nr_ring_fetch > FZ_KVM_MAX_VCPUS)
			maybe_einval = true;	/* KVM_MAX_VCPUS: 1024, or 4096 (MAXSMP) */
	}
	if (one_in(&z->r, 10)) {
		h.gfns = (uintptr_t)fz_badptr(z);
		maybe_fault = true;	/* only when something was collected */
	}
	if (one_in(&z->r, 12) && h.ring_fetch) {
		h.ring_fetch = (uintptr_t)z->unmapped;
		maybe_fault = h.nr_ring_fetch > 0;
	}
	if (one_in(&z->r, 8)) {
		h.flags = 1u << rn(&z->r, 32);
		want = -EOPNOTSUPP;
		maybe_einval = false;
	} else if (one_in(&z->r, 10)) {
		h.reserved = (uint32_t)rnd(&z->r) | 1;
		want = -EINVAL;
	} else if (!h.max_gfns || h.max_gfns > KMIGRATE_BATCH_MAX ||
		   h.nr_ring_fetch > 5 * FZ_KVM_MAX_VCPUS) {
		want = -EINVAL;
	} else if (s->vm < 0 || !live(s->state)) {
		want = -EBADFD;
		maybe_fault = false;
	} else if (!z->vm[s->vm].ring_entries) {
		want = -EOPNOTSUPP;
		maybe_fault = false;
	}
	if (one_in(&z->r, 12)) {
		arg = fz_badptr(z);
		want = -EFAULT;
		maybe_einval = maybe_fault = false;
	}
	got = xioctl(s->fd, KMIGRATE_HARVEST, arg);
	if (got != want && !(maybe_fault && got == -EFAULT) &&
	    !(maybe_einval && got == -EINVAL))
		fz_expect(z, "HARVEST", want, got);
	if (!got) {
		uint32_t i;

		if (h.count > h.max_gfns)
			fz_mismatch(z, "HARVEST: count %u > max %u", h.count, h.max_gfns);
		for (i = 0; i < h.count && arg == &h && h.gfns == (uintptr_t)z->hbuf; i++) {
			uint64_t g = z->hbuf[i];

			if (g >= DP_MEM_PAGES &&
			    (g < FZ_SLOT1_GPA / DP_PAGE_SIZE ||
			     g >= (FZ_SLOT1_GPA + FZ_SLOT1_SIZE) / DP_PAGE_SIZE)) {
				fz_mismatch(z, "HARVEST: gfn 0x%llx outside the slots",
					    (unsigned long long)g);
				break;
			}
		}
	}
}

static void fz_send(struct fz *z, struct fz_sess *s)
{
	static const uint64_t caps[] = { 0, 0, 64ull << 20, 1ull << 30, UINT64_MAX,
					 1ull << 63, 100000000000ull };
	struct kmigrate_send a;
	void *arg = &a;
	uint32_t n, i;
	bool all_valid = true, gfns_bad = false;
	int want = 0, got;

	/* A sane cap first: the genl fuzz may have set one of 1 byte/s. */
	got = set_bw(s->fd, caps[rn(&z->r, ARRAY_SIZE(caps))]);
	fz_expect(z, "SET_BANDWIDTH before a send", 0, got);

	memset(&a, 0, sizeof(a));
	switch (rn(&z->r, 6)) {
	case 0: n = KMIGRATE_BATCH_MAX; break;
	case 1: n = one_in(&z->r, 2) ? 0 : KMIGRATE_BATCH_MAX + 1 + rn(&z->r, 1u << 24); break;
	case 2: n = 1; break;
	default: n = 1 + rn(&z->r, 600); break;
	}
	if (n && n <= KMIGRATE_BATCH_MAX) {
		bool one_bad = one_in(&z->r, 4);
		int vm = s->vm >= 0 ? s->vm : VM_RING;

		for (i = 0; i < n; i++) {
			bool valid;

			if (one_bad && i == n - 1 - rn(&z->r, n))
				z->gfns[i] = fz_gfn(z, vm, &valid);
			else if (one_in(&z->r, 3) && i)
				z->gfns[i] = z->gfns[i - 1] + 1;	/* runs for GUP */
			else
				z->gfns[i] = rn(&z->r, DP_MEM_PAGES);
		}
	}
	a.gfns = (uintptr_t)z->gfns;
	a.nr_gfns = n;
	a.flags = one_in(&z->r, 3) ? KMIGRATE_SEND_F_DIGEST_PAGES : 0;
	a.digest.total_len = rnd(&z->r);
	a.digest.v[0] = rnd(&z->r);
	a.digest.memsize = rn(&z->r, 32);
	if (n > 16 && n <= KMIGRATE_BATCH_MAX && one_in(&z->r, 10)) {
		/* the gfn array straddles the end of the mapping */
		a.gfns = (uintptr_t)((char *)z->unmapped - 8 * rn(&z->r, 16));
		gfns_bad = true;
	}
	if (one_in(&z->r, 8)) {
		a.flags |= 2u << rn(&z->r, 31);
		want = -EOPNOTSUPP;
	} else if (one_in(&z->r, 10)) {
		if (one_in(&z->r, 2))
			a.digest.reserved = (uint32_t)rnd(&z->r) | 1;
		else
			a.digest.memsize = 32 + rn(&z->r, 1u << 30);
		want = -EINVAL;
	} else if (!n || n > KMIGRATE_BATCH_MAX) {
		want = -EINVAL;
	} else if (s->vm < 0 || !s->sock || s->state != KMIGRATE_SESSION_RUNNING) {
		want = -EBADFD;
	} else if (gfns_bad) {
		want = -EFAULT;
	} else {
		/* gfns checked against the session's VM, its slots now */
		for (i = 0; i < n; i++)
			all_valid &= fz_gfn_valid(z, s->vm, z->gfns[i]);
		want = all_valid ? 0 : -ERANGE;
	}
	if (one_in(&z->r, 12)) {
		arg = fz_badptr(z);
		want = -EFAULT;
	}
	got = xioctl(s->fd, KMIGRATE_SEND_PAGES, arg);
	fz_expect(z, "SEND_PAGES", want, got);
	if (!got && a.pages + a.zero_pages != n)
		fz_mismatch(z, "SEND_PAGES: %u pages + %u zero for %u gfns",
			    a.pages, a.zero_pages, n);
}

static void fz_end(struct fz *z, struct fz_sess *s)
{
	struct kmigrate_end e;
	void *arg = &e;
	int want = 0, got;

	memset(&e, 0, sizeof(e));
	e.error = one_in(&z->r, 2) ? 0 : rn(&z->r, 200);
	if (one_in(&z->r, 8)) {
		e.flags = 1u << rn(&z->r, 32);
		want = -EOPNOTSUPP;
	} else if (one_in(&z->r, 8)) {
		e.error = 4096 + rn(&z->r, 1u << 30);
		want = -EINVAL;
	} else if (s->vm < 0 || (!live(s->state) &&
				 s->state != KMIGRATE_SESSION_FAILED)) {
		want = -EBADFD;
	}
	if (one_in(&z->r, 12)) {
		arg = fz_badptr(z);
		want = -EFAULT;
	}
	got = xioctl(s->fd, KMIGRATE_END, arg);
	fz_expect(z, "END", want, got);
	if (!got) {
		if (s->state == KMIGRATE_SESSION_FAILED)
			;
		else if (e.error)
			s->state = KMIGRATE_SESSION_FAILED;
		else
			s->state = KMIGRATE_SESSION_DONE;
	}
}

static void fz_bw(struct fz *z, struct fz_sess *s)
{
	struct kmigrate_bandwidth b;
	void *arg = &b;
	int want = 0;

	memset(&b, 0, sizeof(b));
	b.bytes_per_sec = rnd(&z->r);
	if (one_in(&z->r, 6)) {
		b.flags = 1u << rn(&z->r, 32);
		want = -EOPNOTSUPP;
	} else if (one_in(&z->r, 6)) {
		b.reserved = (uint32_t)rnd(&z->r) | 1;
		want = -EINVAL;
	}
	if (one_in(&z->r, 10)) {
		arg = fz_badptr(z);
		want = -EFAULT;
	}
	fz_expect(z, "SET_BANDWIDTH", want, xioctl(s->fd, KMIGRATE_SET_BANDWIDTH, arg));
}

static void fz_stats(struct fz *z, struct fz_sess *s)
{
	struct kmigrate_stats st;
	int got;

	if (one_in(&z->r, 10)) {
		fz_expect(z, "GET_STATS", -EFAULT,
			  xioctl(s->fd, KMIGRATE_GET_STATS, fz_badptr(z)));
		return;
	}
	got = get_state(s->fd, &st);
	fz_expect(z, "GET_STATS", 0, got);
	if (got)
		return;
	/* A send that failed on the socket makes it FAILED: follow. */
	if (st.state == KMIGRATE_SESSION_FAILED && s->state == KMIGRATE_SESSION_RUNNING &&
	    st.error) {
		fz_mismatch(z, "session failed unexpectedly: %s", strerror(st.error));
		return;
	}
	if (st.state != (uint32_t)s->state)
		fz_mismatch(z, "GET_STATS: state %u, model %d", st.state, s->state);
	if (s->vm >= 0 && st.rounds != s->rounds)
		fz_mismatch(z, "GET_STATS: %u rounds, model %u", st.rounds, s->rounds);
}

static void fz_version(struct fz *z, struct fz_sess *s)
{
	struct kmigrate_version v;
	struct kmigrate_features f;
	int want = 0;

	switch (rn(&z->r, 3)) {
	case 0:
		memset(&v, 0, sizeof(v));
		if (one_in(&z->r, 3)) {
			v.flags = (uint32_t)rnd(&z->r) | 1;
			want = -EOPNOTSUPP;
		}
		fz_expect(z, "GET_VERSION", want, xioctl(s->fd, KMIGRATE_GET_VERSION, &v));
		if (!want && v.abi_version != KMIGRATE_ABI_VERSION)
			fz_mismatch(z, "GET_VERSION: abi %u", v.abi_version);
		break;
	case 1:
		fz_expect(z, "GET_FEATURES", 0, xioctl(s->fd, KMIGRATE_GET_FEATURES, &f));
		break;
	default:
		memset(&f, 0, sizeof(f));
		f.features = one_in(&z->r, 2) ? KMIGRATE_FEATURES_ALL : 0;
		switch (rn(&z->r, 4)) {
		case 0:
			f.features |= 2ull << rn(&z->r, 63);
			want = -EOPNOTSUPP;
			break;
		case 1:
			f.flags = 1u << rn(&z->r, 32);
			want = -EOPNOTSUPP;
			break;
		case 2:
			f.reserved = (uint32_t)rnd(&z->r) | 1;
			want = -EINVAL;
			break;
		}
		fz_expect(z, "SET_FEATURES", want, xioctl(s->fd, KMIGRATE_SET_FEATURES, &f));
		break;
	}
}

/* Any ioctl number with our magic that is not one of the uapi's: ENOTTY. */
static void fz_raw(struct fz *z, struct fz_sess *s)
{
	static const unsigned long known[] = {
		KMIGRATE_GET_VERSION, KMIGRATE_GET_FEATURES, KMIGRATE_SET_FEATURES,
		KMIGRATE_ATTACH_VM, KMIGRATE_DETACH_VM, KMIGRATE_BIND_SOCKET,
		KMIGRATE_SET_BANDWIDTH, KMIGRATE_ROUND, KMIGRATE_HARVEST,
		KMIGRATE_SEND_PAGES, KMIGRATE_END, KMIGRATE_GET_STATS,
	};
	static uint8_t buf[1 << 14];
	unsigned long cmd;
	unsigned int i;

	do {
		unsigned int nr = rn(&z->r, 256), size = rn(&z->r, 1u << 14);

		if (one_in(&z->r, 2)) {
			/* a known number with another size or direction */
			cmd = known[rn(&z->r, ARRAY_SIZE(known))];
			nr = _IOC_NR(cmd);
			if (one_in(&z->r, 2))
				size = _IOC_SIZE(cmd) + 1 + rn(&z->r, 64);
		}
		/* our magic only: other numbers may be the VFS's (FIOCLEX...) */
		cmd = _IOC(rn(&z->r, 4), KMIGRATE_IOC_MAGIC, nr, size);
		for (i = 0; i < ARRAY_SIZE(known); i++)
			if (cmd == known[i])
				break;
	} while (i < ARRAY_SIZE(known));
	fz_expect(z, "unknown ioctl", -ENOTTY, xioctl(s->fd, cmd, buf));
}

/* ---- generic netlink, raw bytes ------------------------------------------ */

static int fz_nl_put(uint8_t *p, size_t room, uint16_t type, const void *data,
		     uint16_t len)
{
	struct nlattr *a = (struct nlattr *)p;
	size_t tot = NLA_ALIGN(NLA_HDRLEN + len);

	if (tot > room)
		return 0;
	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	if (len)
		memcpy(p + NLA_HDRLEN, data, len);
	memset(p + NLA_HDRLEN + len, 0, tot - NLA_HDRLEN - len);
	return tot;
}

/* Random attributes: types 0..15 (KMIGRATE_A_MAX is 11), lengths around
 * the right ones and far off, nests with their own random attributes. */
static size_t fz_nl_attrs(struct fz *z, uint8_t *p, size_t room, int depth,
			  int *nattrs)
{
	size_t o = 0;
	int n = rn(&z->r, 5), i;

	for (i = 0; i < n; i++) {
		uint8_t data[600];
		uint16_t type = rn(&z->r, 16), len;
		uint64_t v = rnd(&z->r);

		switch (rn(&z->r, 8)) {
		case 0: len = 0; break;
		case 1: len = 1 + rn(&z->r, 3); break;
		case 2: len = 4; v = rn(&z->r, 300); break;
		case 3: len = 8; break;
		case 4: len = rn(&z->r, sizeof(data)); break;
		default: len = one_in(&z->r, 2) ? 4 : 8; break;
		}
		memset(data, 0, sizeof(data));
		memcpy(data, &v, sizeof(v) < len ? sizeof(v) : len);
		if (len > 8)
			for (uint16_t k = 8; k < len; k++)
				data[k] = rnd(&z->r);
		if ((type == KMIGRATE_A_SESSION || one_in(&z->r, 10)) && depth < 2) {
			struct nlattr *a = (struct nlattr *)(p + o);
			size_t in;

			if (room - o < NLA_HDRLEN + 256)
				break;
			in = fz_nl_attrs(z, p + o + NLA_HDRLEN, room - o - NLA_HDRLEN - 8,
					 depth + 1, nattrs);
			a->nla_type = type | (one_in(&z->r, 2) ? NLA_F_NESTED : 0);
			a->nla_len = NLA_HDRLEN + in;
			o += NLA_ALIGN(a->nla_len);
			(*nattrs)++;
		} else {
			int put;

			if (one_in(&z->r, 20))
				type |= NLA_F_NESTED;
			put = fz_nl_put(p + o, room - o, type, data, len);
			o += put;
			if (put)
				(*nattrs)++;
		}
	}
	return o;
}

/* Sends one message; 0 and the kernel's error, or a transport failure. */
static int fz_nl_xfer(struct fz *z, uint8_t *msg, size_t len, int *kerr, int *replies)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)msg;
	static uint8_t buf[1 << 16];
	uint32_t seq = nlh->nlmsg_seq;

	*kerr = 1;
	*replies = 0;
	if (send(z->nl, msg, len, 0) != (ssize_t)len)
		return -errno;
	for (;;) {
		ssize_t n = recv(z->nl, buf, sizeof(buf), 0);
		struct nlmsghdr *h;
		int left;

		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		left = n;
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned int)left);
		     h = NLMSG_NEXT(h, left)) {
			if (h->nlmsg_seq != seq)
				continue;	/* left over from an earlier one */
			if (h->nlmsg_type == NLMSG_ERROR) {
				*kerr = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
				return 0;
			}
			if (h->nlmsg_type == NLMSG_DONE) {
				*kerr = 0;
				if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(int)))
					*kerr = *(int *)NLMSG_DATA(h);
				return 0;
			}
			(*replies)++;
		}
	}
}

static void fz_genl(struct fz *z)
{
	static uint8_t msg[1 << 15];
	struct nlmsghdr *nlh = (struct nlmsghdr *)msg;
	struct genlmsghdr *g = NLMSG_DATA(nlh);
	int nattrs = 0, kerr, replies, err;
	bool dump, sane;
	size_t len;
	uint8_t cmd;

	memset(msg, 0, NLMSG_HDRLEN + GENL_HDRLEN);
	cmd = one_in(&z->r, 6) ? rn(&z->r, 256) : 1 + rn(&z->r, 5);
	dump = cmd == KMIGRATE_CMD_GET_SESSION ? !one_in(&z->r, 5) : one_in(&z->r, 8);
	nlh->nlmsg_type = z->family;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (dump ? NLM_F_DUMP : 0);
	nlh->nlmsg_seq = ++z->seq;
	g->cmd = cmd;
	g->version = one_in(&z->r, 10) ? rn(&z->r, 256) : KMIGRATE_GENL_VERSION;
	g->reserved = one_in(&z->r, 10) ? 1 + rn(&z->r, 0xffff) : 0;
	len = NLMSG_HDRLEN + GENL_HDRLEN;
	if (cmd == KMIGRATE_CMD_SET_SESSION && one_in(&z->r, 2)) {
		/* close to valid: a session nest with an id that may exist */
		uint8_t in[64];
		uint32_t id = 1 + rn(&z->r, 64);
		uint64_t bw = one_in(&z->r, 2) ? 0 : rnd(&z->r);
		size_t o = 0;
		struct nlattr *a = (struct nlattr *)(msg + len);

		if (!one_in(&z->r, 6))
			o += fz_nl_put(in + o, sizeof(in) - o, KMIGRATE_SESSION_A_ID, &id, 4);
		if (!one_in(&z->r, 6))
			o += fz_nl_put(in + o, sizeof(in) - o, KMIGRATE_SESSION_A_BANDWIDTH, &bw, 8);
		if (one_in(&z->r, 6))
			o += fz_nl_put(in + o, sizeof(in) - o, KMIGRATE_SESSION_A_STATE, &id, 4);
		a->nla_type = KMIGRATE_A_SESSION | (one_in(&z->r, 2) ? NLA_F_NESTED : 0);
		a->nla_len = NLA_HDRLEN + o;
		memcpy(msg + len + NLA_HDRLEN, in, o);
		len += NLA_ALIGN(a->nla_len);
		nattrs = 1;
	} else if (!one_in(&z->r, 3)) {
		len += fz_nl_attrs(z, msg + len, sizeof(msg) - len, 0, &nattrs);
	}
	if (sizeof(msg) - len > 1024 && one_in(&z->r, 30)) {
		/* one attribute as big as the message allows */
		size_t big = sizeof(msg) - len - NLA_HDRLEN - 8;
		static uint8_t junk[1 << 15];

		len += fz_nl_put(msg + len, sizeof(msg) - len, rn(&z->r, 12), junk,
				 big > 0xfff0 ? 0xfff0 : big);
		nattrs++;
	}
	nlh->nlmsg_len = len;
	/* an attribute whose length runs past the message */
	if (nattrs && one_in(&z->r, 20))
		((struct nlattr *)(msg + NLMSG_HDRLEN + GENL_HDRLEN))->nla_len += 4 + rn(&z->r, 400);

	z->genl_msgs++;
	err = fz_nl_xfer(z, msg, len, &kerr, &replies);
	if (err) {
		fz_mismatch(z, "genl cmd %u: no answer (%s)", cmd, strerror(-err));
		return;
	}
	if (!kerr)
		z->genl_ok++;
	/* Every answer is one of these. */
	if (kerr && kerr != -EINVAL && kerr != -EOPNOTSUPP && kerr != -ENOENT &&
	    kerr != -ERANGE && kerr != -EMSGSIZE) {
		fz_mismatch(z, "genl cmd %u%s: error %d", cmd, dump ? " (dump)" : "", kerr);
		return;
	}
	sane = !g->reserved;
	/* What the uapi header promises for each command. */
	if (sane && (cmd == KMIGRATE_CMD_UNSPEC || cmd > KMIGRATE_CMD_SET_SESSION)) {
		fz_expect(z, "genl unknown command", -EOPNOTSUPP, kerr);
	} else if (sane && cmd == KMIGRATE_CMD_GET_INFO && !dump) {
		fz_expect(z, "genl GET_INFO", nattrs ? -EINVAL : 0, kerr);
		if (!kerr && replies != 1)
			fz_mismatch(z, "genl GET_INFO: %d replies", replies);
	} else if (sane && cmd == KMIGRATE_CMD_GET_SESSION && dump && !nattrs) {
		fz_expect(z, "genl GET_SESSION dump", 0, kerr);
	} else if (sane && cmd == KMIGRATE_CMD_GET_SESSION && dump) {
		fz_expect(z, "genl GET_SESSION dump with attributes", -EINVAL, kerr);
	} else if (sane && !dump && cmd == KMIGRATE_CMD_SET_CONFIG && !nattrs) {
		fz_expect(z, "genl SET_CONFIG with nothing", -EINVAL, kerr);
	}
}

/* ---- the VMs, the fds ---------------------------------------------------- */

static void fz_slot(struct fz *z)
{
	struct kvm_userspace_memory_region r = {
		.slot = 1, .flags = KVM_MEM_LOG_DIRTY_PAGES,
		.guest_phys_addr = FZ_SLOT1_GPA,
		.memory_size = z->slot1_on ? 0 : FZ_SLOT1_SIZE,
		.userspace_addr = (uintptr_t)z->slot1,
	};

	if (ioctl(z->vm[VM_RING].vm, KVM_SET_USER_MEMORY_REGION, &r)) {
		fz_mismatch(z, "KVM_SET_USER_MEMORY_REGION slot 1: %s", strerror(errno));
		return;
	}
	z->slot1_on = !z->slot1_on;
	/* A session attached before counts the slots it had; no model there. */
}

static void fz_write(struct fz *z)
{
	struct dp_vm *v = &z->vm[rn(&z->r, FZ_VMS)];
	uint32_t n = 1 + rn(&z->r, 64), i;

	for (i = 0; i < n; i++) {
		uint64_t g = DP_STAMP_FIRST + rn(&z->r, DP_STAMP_PAGES);

		if (one_in(&z->r, 3))
			memset(v->mem + g * DP_PAGE_SIZE, 0, DP_PAGE_SIZE);
		else
			memset(v->mem + g * DP_PAGE_SIZE + rn(&z->r, DP_PAGE_SIZE),
			       (int)rnd(&z->r) | 1, 1);
	}
	if (z->slot1_on)
		memset((char *)z->slot1 + rn(&z->r, FZ_SLOT1_SIZE), 0x5a, 1);
}

/* Another process drives a session of ours: every call -EPERM once a VM is
 * attached (the VM's mm is not the child's). */
static void fz_fork(struct fz *z, struct fz_sess *s)
{
	struct kmigrate_round r = { 0 };
	int status;
	pid_t pid;

	if (s->vm < 0)
		return;
	pid = fork();
	if (pid < 0)
		return;
	if (!pid) {
		uint64_t g = 20;
		int a = harvest(s->fd, z->hbuf, 8, NULL, NULL);
		int b = send_gfns(s->fd, &g, 1, 0, NULL);
		int c = xioctl(s->fd, KMIGRATE_ROUND, &r);
		int d = xioctl(s->fd, KMIGRATE_DETACH_VM, NULL);

		_exit(a == -EPERM && b == -EPERM && c == -EPERM && d == -EPERM ? 0 : 1);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		fz_mismatch(z, "a child's calls on our attached session were not all EPERM");
}

static int fz_add_fd(struct fz *z, const char *name, int fd, int attach, int bind,
		     int vm)
{
	struct fz_fd *f = &z->fds[z->nfds++];

	f->name = name;
	f->fd = fd;
	f->attach = attach;
	f->bind = bind;
	f->vm = vm;
	f->own = vm < 0 && fd >= 0 && strcmp(name, "/dev/kvm") && strcmp(name, "vCPU");
	return fd;
}

static int fz_setup(struct fz *z, char *err, size_t errlen)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_nl snl = { .nl_family = AF_NETLINK };
	struct timeval tv = { .tv_sec = 10 };
	struct kmt_nl nl;
	int i, e, sp[2], fd, p[2];
	char *m;

	memset(z, 0, sizeof(*z));
	z->r.s = opt_seed;
	for (i = 0; i < FZ_SESSIONS; i++)
		z->s[i].fd = -1;
	for (i = 0; i < FZ_SOCKS; i++)
		z->tx[i] = z->rx[i] = -1;

	e = dp_vm_create(&z->vm[VM_RING], 1024, 1);
	if (!e)
		e = dp_vm_create(&z->vm[VM_PLAIN], 0, 0);
	if (e) {
		snprintf(err, errlen, "VMs: %.90s / %.90s", z->vm[0].err, z->vm[1].err);
		return e;
	}
	z->slot1 = mmap(NULL, FZ_SLOT1_SIZE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	m = mmap(NULL, 2 * DP_PAGE_SIZE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (z->slot1 == MAP_FAILED || m == MAP_FAILED) {
		snprintf(err, errlen, "mmap: %s", strerror(errno));
		return -ENOMEM;
	}
	/* PROT_NONE, not unmapped: no later mapping can land there */
	mprotect(m + DP_PAGE_SIZE, DP_PAGE_SIZE, PROT_NONE);
	z->unmapped = m + DP_PAGE_SIZE;

	/* the connections: two IPv4, one IPv6 when there is ::1 */
	for (i = 0; i < FZ_SOCKS; i++) {
		e = dp_tcp_pair(&z->tx[i], &z->rx[i]);
		if (!e)
			e = dp_reader_start(&z->rd[i], z->rx[i], 0);
		if (e) {
			snprintf(err, errlen, "tcp pair: %s", strerror(-e));
			return e;
		}
	}

	/* the file descriptors ATTACH and BIND get */
	fz_add_fd(z, "VM with ring", z->vm[VM_RING].vm, 0, -ENOTSOCK, VM_RING);
	fz_add_fd(z, "VM without ring", z->vm[VM_PLAIN].vm, 0, -ENOTSOCK, VM_PLAIN);
	fz_add_fd(z, "/dev/kvm", z->vm[VM_RING].kvm, -EINVAL, -ENOTSOCK, -1);
	fz_add_fd(z, "vCPU", z->vm[VM_RING].vcpu_fd[0], -EINVAL, -ENOTSOCK, -1);
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	fz_add_fd(z, "/dev/null", fd, -EINVAL, -ENOTSOCK, -1);
	if (pipe2(p, O_CLOEXEC) == 0)
		fz_add_fd(z, "pipe", p[0], -EINVAL, -ENOTSOCK, -1);
	fz_add_fd(z, "eventfd", eventfd(0, EFD_CLOEXEC), -EINVAL, -ENOTSOCK, -1);
	fd = kmt_open(O_RDWR);
	fz_add_fd(z, "a kmigrate session", fd, -EINVAL, -ENOTSOCK, -1);
	fz_add_fd(z, "fd -1", -1, -EBADF, -EBADF, -1);
	fz_add_fd(z, "fd INT_MIN", INT_MIN, -EBADF, -EBADF, -1);
	fz_add_fd(z, "fd 1000000", 1000000, -EBADF, -EBADF, -1);
	/* a number no file has (checked below) */
	fz_add_fd(z, "a closed fd", 987, -EBADF, -EBADF, -1);
	fz_add_fd(z, "UDP", socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), -EINVAL,
		  -EPROTONOSUPPORT, -1);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0)
		fz_add_fd(z, "unix stream", sp[0], -EINVAL, -EPROTONOSUPPORT, -1);
	fz_add_fd(z, "netlink", socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC),
		  -EINVAL, -EPROTONOSUPPORT, -1);
	fz_add_fd(z, "UDPv6", socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0),
		  -EINVAL, -EPROTONOSUPPORT, -1);
	fz_add_fd(z, "unconnected TCP", socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0),
		  -EINVAL, -ENOTCONN, -1);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && !bind(fd, (struct sockaddr *)&sin, sizeof(sin)) && !listen(fd, 1))
		fz_add_fd(z, "listening TCP", fd, -EINVAL, -ENOTCONN, -1);
	{
		int a, b;

		if (!dp_tcp_pair(&a, &b)) {
			shutdown(a, SHUT_WR);	/* FIN_WAIT: not ESTABLISHED */
			fz_add_fd(z, "TCP after shutdown(SHUT_WR)", a, -EINVAL, -ENOTCONN, -1);
		}
	}
	for (i = 0; i < z->nfds; i++) {
		if (z->fds[i].fd == -1 && strcmp(z->fds[i].name, "fd -1")) {
			snprintf(err, errlen, "%s: %s", z->fds[i].name, strerror(errno));
			return -EIO;
		}
	}
	if (fcntl(987, F_GETFD) != -1) {
		snprintf(err, errlen, "fd 987 is open");
		return -EIO;
	}

	/* raw generic netlink */
	e = kmt_nl_open(&nl);
	if (e) {
		snprintf(err, errlen, "genl: %d", e);
		return e;
	}
	z->family = nl.family;
	kmt_nl_close(&nl);
	z->nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (z->nl < 0 || bind(z->nl, (struct sockaddr *)&snl, sizeof(snl)) ||
	    setsockopt(z->nl, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv))) {
		snprintf(err, errlen, "netlink socket: %s", strerror(errno));
		return -EIO;
	}
	e = dp_vm_start(&z->vm[VM_RING]);
	if (e) {
		snprintf(err, errlen, "start guest: %s", z->vm[VM_RING].err);
		return e;
	}
	return 0;
}

/* The guest keeps running: one session keeps harvesting it now and then
 * (see fz_harvest); at the end, stop it and let everything go. */
static void fz_teardown(struct fz *z)
{
	int i;

	for (i = 0; i < FZ_SESSIONS; i++)
		if (z->s[i].fd >= 0)
			close(z->s[i].fd);
	for (i = 0; i < z->nfds; i++)
		if (z->fds[i].own)
			close(z->fds[i].fd);
	vm_stop(&z->vm[VM_RING], -1);
	for (i = 0; i < FZ_SOCKS; i++) {
		dp_reader_stop(&z->rd[i]);
		close(z->tx[i]);
		close(z->rx[i]);
		dp_reader_free(&z->rd[i]);
	}
	dp_vm_destroy(&z->vm[VM_RING]);
	dp_vm_destroy(&z->vm[VM_PLAIN]);
	if (z->nl >= 0)
		close(z->nl);
}

static int fz_pick_op(struct fz *z)
{
	unsigned int sum = 0, i, x;

	for (i = 0; i < OP_NR; i++)
		sum += fz_weights[i];
	x = rn(&z->r, sum);
	for (i = 0; i < OP_NR; i++) {
		if (x < fz_weights[i])
			return i;
		x -= fz_weights[i];
	}
	return OP_STATS;
}

FIXTURE(slow) {
	int unused;
};

FIXTURE_SETUP(slow)
{
	self->unused = 0;
	ASSERT_EQ(0, ensure_loaded()) {
		TH_LOG("load %s", opt_ko);
	}
}

FIXTURE_TEARDOWN(slow)
{
}

/* Timeouts are set from the options in main(). */
TEST_F_TIMEOUT(slow, fuzz, 600)
{
	static struct fz z;
	uint64_t end = dp_now_ns() + (uint64_t)opt_seconds * 1000000000ull;
	char err[200] = "";
	struct kmt_nl nl;
	pthread_t wd;
	int e, i;

	TH_LOG("seed %llu, %ld s, %ld calls at most (0: no limit; --seed %llu reproduces)",
	       (unsigned long long)opt_seed, opt_seconds, opt_iterations,
	       (unsigned long long)opt_seed);
	e = fz_setup(&z, err, sizeof(err));
	ASSERT_EQ(0, e) {
		TH_LOG("setup: %s", err);
	}
	ASSERT_EQ(0, pthread_create(&wd, NULL, fz_watchdog, &z));
	pthread_detach(wd);

	while (!fz_failed(&z) && dp_now_ns() < end &&
	       (!opt_iterations || z.calls < (unsigned long)opt_iterations)) {
		int op = fz_pick_op(&z);
		struct fz_sess *s = NULL;

		if (op != OP_OPEN && op != OP_CLOSE && op != OP_GENL &&
		    op != OP_SLOT && op != OP_WRITE) {
			s = fz_pick(&z, true);
			if (!s) {
				op = OP_OPEN;
			}
		}
		z.cur_iter = z.calls;
		z.cur_op = op;
		z.cur_since = dp_now_ns();
		z.by_op[op]++;
		switch (op) {
		case OP_OPEN: fz_open(&z); break;
		case OP_CLOSE: fz_close(&z); break;
		case OP_ATTACH: fz_attach(&z, s); break;
		case OP_DETACH: fz_detach(&z, s); break;
		case OP_BIND: fz_bind(&z, s); break;
		case OP_ROUND: fz_round(&z, s); break;
		case OP_HARVEST: fz_harvest(&z, s); break;
		case OP_SEND: fz_send(&z, s); break;
		case OP_END: fz_end(&z, s); break;
		case OP_BW: fz_bw(&z, s); break;
		case OP_STATS: fz_stats(&z, s); break;
		case OP_VERSION: fz_version(&z, s); break;
		case OP_RAW: fz_raw(&z, s); break;
		case OP_GENL: fz_genl(&z); break;
		case OP_SLOT: fz_slot(&z); break;
		case OP_WRITE: fz_write(&z); break;
		case OP_FORK: fz_fork(&z, s); break;
		}
		z.cur_since = 0;
		z.calls++;
	}
	EXPECT_FALSE(fz_failed(&z)) {
		TH_LOG("%s", z.fail);
	}
	{
		char line[600];
		size_t o = 0;

		for (i = 0; i < OP_NR; i++)
			o += snprintf(line + o, sizeof(line) - o, " %s %lu;",
				      fz_op_names[i], z.by_op[i]);
		TH_LOG("%lu calls (seed %llu):%s genl %lu messages, %lu accepted",
		       z.calls, (unsigned long long)opt_seed, line, z.genl_msgs, z.genl_ok);
	}
	/* The limits back to their defaults, the sessions gone. */
	ASSERT_EQ(0, kmt_nl_open(&nl));
	EXPECT_EQ(0, kmt_reset_config(&nl));
	kmt_nl_close(&nl);
	fz_teardown(&z);
	EXPECT_EQ(0, session_count());
}

/* ========================================================================
 * Races
 * ======================================================================== */

static const int ok_only[] = { 0 };

/* The VM fd closed while HARVEST and SEND_PAGES run: the session holds the
 * VM, both go on working; the VM goes when the session lets it go. */
TEST_F_TIMEOUT(slow, race_vm_fd_closed, 600)
{
	static uint64_t gfns[512];
	struct worker h, s;
	struct rig g;
	int it, bad;

	for (it = 0; it < opt_races; it++) {
		ASSERT_EQ(0, rig_open(&g, 1024, 1, true, 0)) {
			TH_LOG("%s", g.err);
		}
		gfn_list(gfns, 512, opt_seed + it);
		ASSERT_EQ(0, worker_start(&h, g.km, KMIGRATE_HARVEST, NULL, 0, 0));
		ASSERT_EQ(0, worker_start(&s, g.km, KMIGRATE_SEND_PAGES, gfns, 512,
					  it & 1 ? KMIGRATE_SEND_F_DIGEST_PAGES : 0));
		usleep(20000 + (it * 37 % 200) * 1000);
		ASSERT_EQ(0, close(g.vm.vm));
		g.vm.vm = -1;
		usleep(200000);
		ASSERT_EQ(0, worker_stop(&h));
		ASSERT_EQ(0, worker_stop(&s));
		EXPECT_TRUE(tally_only(&h.t, ok_only, 1, &bad)) {
			tally_log(_metadata, "harvest", &h.t);
		}
		EXPECT_TRUE(tally_only(&s.t, ok_only, 1, &bad)) {
			tally_log(_metadata, "send", &s.t);
		}
		EXPECT_LT(0, s.calls);
		/* still working after the close */
		EXPECT_EQ(0, harvest(g.km, (uint64_t *)gfns, 512, NULL, NULL));
		gfn_list(gfns, 512, opt_seed + it);
		EXPECT_EQ(0, send_gfns(g.km, gfns, 512, 0, NULL));
		/* the guest is stopped through the session, which holds the VM */
		EXPECT_EQ(0, vm_stop(&g.vm, g.km));
		ASSERT_EQ(0, rig_close(&g)) {
			TH_LOG("the guest did not stop");
		}
	}
	EXPECT_EQ(0, session_count());
}

/* The socket closed by us (the session holds it: sends go on), shut down
 * (sends fail, the session is FAILED), or closed by the peer, while a
 * send and a harvest run; with and without a cap. */
TEST_F_TIMEOUT(slow, race_socket_closed, 600)
{
	static uint64_t gfns[1024];
	static const int after_break[] = { 0, -EPIPE, -ECONNRESET, -EBADFD };
	static const int harvest_ok[] = { 0, -EBADFD };
	struct kmigrate_stats st;
	struct worker h, s;
	struct rig g;
	int it, v, bad;

	for (it = 0; it < opt_races; it++) {
		for (v = 0; v < 4; v++) {
			ASSERT_EQ(0, rig_open(&g, 1024, 1, true, 0)) {
				TH_LOG("%s", g.err);
			}
			if (v == 3) {
				ASSERT_EQ(0, set_bw(g.km, 4 << 20));
			}
			gfn_list(gfns, 1024, opt_seed + it * 4 + v);
			ASSERT_EQ(0, worker_start(&h, g.km, KMIGRATE_HARVEST, NULL, 0, 0));
			ASSERT_EQ(0, worker_start(&s, g.km, KMIGRATE_SEND_PAGES, gfns,
						  1024, 0));
			usleep(30000 + (it * 53 % 150) * 1000);
			switch (v) {
			case 0:		/* our fd: the session's reference stays */
				ASSERT_EQ(0, close(g.tx));
				g.tx = -1;
				break;
			case 1:
			case 3:
				ASSERT_EQ(0, shutdown(g.tx, SHUT_RDWR));
				break;
			case 2:		/* the peer goes */
				dp_reader_stop(&g.rd);
				g.reading = false;
				close(g.rx);
				g.rx = -1;
				break;
			}
			usleep(300000);
			if (v) {	/* the sends notice */
				EXPECT_NE(0, worker_wait_fail(&s));
			}
			ASSERT_EQ(0, worker_stop(&s)) {
				TH_LOG("variant %d: a send did not return", v);
			}
			ASSERT_EQ(0, worker_stop(&h));
			EXPECT_TRUE(tally_only(&h.t, harvest_ok, 2, &bad)) {
				tally_log(_metadata, "harvest", &h.t);
			}
			ASSERT_EQ(0, get_state(g.km, &st));
			if (v == 0) {
				EXPECT_TRUE(tally_only(&s.t, ok_only, 1, &bad)) {
					tally_log(_metadata, "send (our fd closed)", &s.t);
				}
				EXPECT_EQ(KMIGRATE_SESSION_RUNNING, st.state);
			} else {
				EXPECT_TRUE(tally_only(&s.t, after_break, 4, &bad)) {
					TH_LOG("variant %d: unexpected %s", v, strerror(-bad));
					tally_log(_metadata, "send", &s.t);
				}
				/* peer gone: RST or not yet noticed; shut down: EPIPE */
				if (v != 2 || st.state == KMIGRATE_SESSION_FAILED) {
					EXPECT_EQ(KMIGRATE_SESSION_FAILED, st.state);
					EXPECT_TRUE(st.error == EPIPE || st.error == ECONNRESET) {
						TH_LOG("variant %d: error %u", v, st.error);
					}
					EXPECT_EQ(-EBADFD, send_gfns(g.km, gfns, 1, 0, NULL));
				}
			}
			ASSERT_EQ(0, rig_close(&g)) {
				TH_LOG("the guest did not stop");
			}
		}
	}
	EXPECT_EQ(0, session_count());
}

/* The session closed (or replaced by dup2) while HARVEST and SEND_PAGES
 * run: calls in flight finish, later ones see EBADF (ENOTTY on the file
 * put in its place); the session goes, the VM can be attached again. */
TEST_F_TIMEOUT(slow, race_session_closed, 600)
{
	static uint64_t gfns[1024];
	static const int after[] = { 0, -EBADF, -ENOTTY };
	struct worker h, s;
	struct rig g;
	int it, v, bad, base, null, n;

	base = session_count();
	ASSERT_LE(0, base);
	for (it = 0; it < opt_races; it++) {
		for (v = 0; v < 2; v++) {
			ASSERT_EQ(0, rig_open(&g, 1024, 1, true, 0)) {
				TH_LOG("%s", g.err);
			}
			gfn_list(gfns, 1024, opt_seed + it * 2 + v);
			ASSERT_EQ(0, worker_start(&h, g.km, KMIGRATE_HARVEST, NULL, 0, 0));
			ASSERT_EQ(0, worker_start(&s, g.km, KMIGRATE_SEND_PAGES, gfns,
						  1024, KMIGRATE_SEND_F_DIGEST_PAGES));
			usleep(30000 + (it * 71 % 150) * 1000);
			if (v == 0) {
				ASSERT_EQ(0, close(g.km));
			} else {
				null = open("/dev/null", O_RDWR | O_CLOEXEC);
				ASSERT_LE(0, null);
				ASSERT_EQ(g.km, dup2(null, g.km));
				close(null);
			}
			EXPECT_EQ(v ? -ENOTTY : -EBADF, worker_wait_fail(&s));
			EXPECT_EQ(v ? -ENOTTY : -EBADF, worker_wait_fail(&h));
			ASSERT_EQ(0, worker_stop(&s));
			ASSERT_EQ(0, worker_stop(&h));
			EXPECT_TRUE(tally_only(&h.t, after, 3, &bad)) {
				tally_log(_metadata, "harvest", &h.t);
			}
			EXPECT_TRUE(tally_only(&s.t, after, 3, &bad)) {
				tally_log(_metadata, "send", &s.t);
			}
			EXPECT_LT(0, tally_of(&s.t, v ? -ENOTTY : -EBADF));
			if (v == 1)
				close(g.km);
			g.km = -1;
			/* released: counted out at once */
			n = session_count();
			EXPECT_EQ(base, n);
			/* the VM is free again: stopped through a new session */
			EXPECT_EQ(0, vm_stop(&g.vm, -1));
			ASSERT_EQ(0, rig_close(&g)) {
				TH_LOG("the guest did not stop");
			}
		}
	}
}

struct attach_arg {
	int km, vm, err;
	pthread_barrier_t *bar;
};

static void *attach_thread(void *p)
{
	struct attach_arg *a = p;
	struct kmigrate_attach at = { .vm_fd = a->vm };

	pthread_barrier_wait(a->bar);
	a->err = xioctl(a->km, KMIGRATE_ATTACH_VM, &at);
	return NULL;
}

/* Loops ATTACH of one VM on a session of its own until it works. */
struct claimer {
	pthread_t thr;
	int km, vm;
	volatile int stop;
	struct tally t;
	uint64_t got_ns;	/* when it worked */
};

static void *claimer_thread(void *p)
{
	struct claimer *c = p;

	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		struct kmigrate_attach at = { .vm_fd = c->vm };
		int err = xioctl(c->km, KMIGRATE_ATTACH_VM, &at);

		tally(&c->t, err);
		if (!err) {
			c->got_ns = dp_now_ns();
			break;
		}
		usleep(500);
	}
	return NULL;
}

/*
 * ATTACH of one VM on two files at once: one gets it, the other -EBUSY (a
 * VM's dirty rings have one collector; two sessions harvesting one VM made
 * KVM's reset run past its pushed entries: WARN in kvm_dirty_ring_push()
 * and a vCPU stuck on a ring that counts as full for ever).  The loser
 * keeps trying while the winner harvests and sends, and gets the VM once
 * the winner lets go; one file from two threads: one gets it.
 */
TEST_F_TIMEOUT(slow, race_attach_two_files, 600)
{
	static const int busy_only[] = { -EBUSY };
	static uint64_t gfns[256];
	struct attach_arg a[2];
	pthread_barrier_t bar;
	pthread_t t[2];
	struct worker h, s;
	struct claimer c;
	struct kmigrate_bind b = { 0 };
	struct kmigrate_round r = { 0 };
	struct dp_vm vm;
	struct dp_reader rd;
	uint64_t t_detach;
	int km[2], tx, rx, it, i, win, bad;

	ASSERT_EQ(0, dp_vm_create(&vm, 1024, 2)) {
		TH_LOG("%s", vm.err);
	}
	ASSERT_EQ(0, dp_vm_start(&vm));
	ASSERT_EQ(0, dp_tcp_pair(&tx, &rx));
	ASSERT_EQ(0, dp_reader_start(&rd, rx, 0));
	ASSERT_EQ(0, pthread_barrier_init(&bar, NULL, 2));
	for (it = 0; it < opt_races; it++) {
		/* two files */
		for (i = 0; i < 2; i++) {
			km[i] = kmt_open(O_RDWR);
			ASSERT_LE(0, km[i]);
			a[i] = (struct attach_arg){ .km = km[i], .vm = vm.vm, .bar = &bar };
			ASSERT_EQ(0, pthread_create(&t[i], NULL, attach_thread, &a[i]));
		}
		for (i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
		ASSERT_TRUE((a[0].err == 0 && a[1].err == -EBUSY) ||
			    (a[1].err == 0 && a[0].err == -EBUSY)) {
			TH_LOG("two files, one VM: %d and %d", a[0].err, a[1].err);
		}
		win = a[0].err ? 1 : 0;
		b.sock_fd = tx;
		ASSERT_EQ(0, xioctl(km[win], KMIGRATE_BIND_SOCKET, &b));
		ASSERT_EQ(0, xioctl(km[win], KMIGRATE_ROUND, &r));
		gfn_list(gfns, 256, opt_seed + it);
		c = (struct claimer){ .km = km[!win], .vm = vm.vm };
		ASSERT_EQ(0, pthread_create(&c.thr, NULL, claimer_thread, &c));
		ASSERT_EQ(0, worker_start(&h, km[win], KMIGRATE_HARVEST, NULL, 0, 0));
		ASSERT_EQ(0, worker_start(&s, km[win], KMIGRATE_SEND_PAGES, gfns, 256, 0));
		usleep(200000);
		ASSERT_EQ(0, worker_stop(&h));
		ASSERT_EQ(0, worker_stop(&s));
		EXPECT_TRUE(tally_only(&h.t, ok_only, 1, &bad)) {
			tally_log(_metadata, "harvest", &h.t);
		}
		EXPECT_TRUE(tally_only(&s.t, ok_only, 1, &bad)) {
			tally_log(_metadata, "send", &s.t);
		}
		/* the winner lets go (DETACH, or close): the loser gets it */
		t_detach = dp_now_ns();
		if (it & 1) {
			EXPECT_EQ(0, close(km[win]));
		} else {
			EXPECT_EQ(0, xioctl(km[win], KMIGRATE_DETACH_VM, NULL));
		}
		for (i = 0; i < 5000 && !__atomic_load_n(&c.got_ns, __ATOMIC_ACQUIRE); i++)
			usleep(1000);
		__atomic_store_n(&c.stop, 1, __ATOMIC_RELEASE);
		pthread_join(c.thr, NULL);
		EXPECT_LT(t_detach, c.got_ns) {
			tally_log(_metadata, "the loser's ATTACHes", &c.t);
		}
		EXPECT_EQ(1, tally_of(&c.t, 0));
		/* EBUSY until then, nothing else */
		{
			struct tally rest = c.t;
			int k;

			for (k = 0; k < MAX_ERRS; k++)
				if (rest.cnt[k] && rest.err[k] == 0)
					rest.err[k] = -EBUSY;
			EXPECT_TRUE(tally_only(&rest, busy_only, 1, &bad)) {
				tally_log(_metadata, "the loser's ATTACHes", &c.t);
			}
		}
		/* the new holder collects the rings (the guest's vCPUs wait) */
		EXPECT_EQ(0, harvest(km[!win], (uint64_t *)gfns, 256, NULL, NULL));
		if (!(it & 1))
			close(km[win]);
		close(km[!win]);

		/* one file, two threads */
		km[0] = kmt_open(O_RDWR);
		ASSERT_LE(0, km[0]);
		for (i = 0; i < 2; i++) {
			a[i] = (struct attach_arg){ .km = km[0], .vm = vm.vm, .bar = &bar };
			ASSERT_EQ(0, pthread_create(&t[i], NULL, attach_thread, &a[i]));
		}
		for (i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
		EXPECT_TRUE((a[0].err == 0 && a[1].err == -EBUSY) ||
			    (a[1].err == 0 && a[0].err == -EBUSY)) {
			TH_LOG("one file, two ATTACHes: %d and %d", a[0].err, a[1].err);
		}
		close(km[0]);
	}
	/* The guest still runs: its rings are sound. */
	EXPECT_EQ(0, vm_stop(&vm, -1));
	dp_reader_stop(&rd);
	close(tx);
	close(rx);
	dp_reader_free(&rd);
	dp_vm_destroy(&vm);
	pthread_barrier_destroy(&bar);
}

struct writer {
	pthread_t thr;
	uint8_t *mem;
	volatile int stop;
	unsigned long passes;
};

/* The host writes the pages being sent through the guest's mapping:
 * whole pages to zero and back, single bytes. */
static void *writer_thread(void *p)
{
	struct writer *w = p;
	struct rng r = { 42 };

	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		uint64_t g = DP_STAMP_FIRST + rn(&r, DP_STAMP_PAGES);

		if (one_in(&r, 2))
			memset(w->mem + g * DP_PAGE_SIZE, one_in(&r, 2) ? 0 : 0xa5,
			       DP_PAGE_SIZE);
		else
			w->mem[g * DP_PAGE_SIZE + rn(&r, DP_PAGE_SIZE)] = rnd(&r) | 1;
		w->passes++;
	}
	return NULL;
}

/* Walks the records in buf[0..len): well-formed PAGES and ZERO records. */
static int check_framing(const uint8_t *buf, size_t len, char *why, size_t wl)
{
	size_t off = 0;

	while (off + REC_HDR <= len) {
		uint32_t magic, length, count;
		uint16_t type;

		memcpy(&magic, buf + off, 4);
		memcpy(&type, buf + off + 4, 2);
		memcpy(&length, buf + off + 8, 4);
		memcpy(&count, buf + off + 12, 4);
		if (magic != REC_MAGIC || (type != REC_PAGES && type != REC_ZERO) ||
		    !count ||
		    length != (uint64_t)count * (type == REC_PAGES ? 8 + DP_PAGE_SIZE : 8)) {
			snprintf(why, wl, "bad record at byte %zu: magic %#x type %u length %u count %u",
				 off, magic, type, length, count);
			return -1;
		}
		off += REC_HDR + length;
	}
	if (off != len) {
		snprintf(why, wl, "stream ends inside a record (%zu of %zu)", off, len);
		return -1;
	}
	return 0;
}

/* A guest that keeps writing the pages being sent, and a host thread
 * writing them through the mapping: every send succeeds, the stream is
 * whole records, as many bytes as the sends said. */
TEST_F_TIMEOUT(slow, race_writers_while_sending, 600)
{
	static uint64_t gfns[KMIGRATE_BATCH_MAX];
	const size_t cap = 48u << 20;
	struct writer w = { 0 };
	struct worker h;
	struct rig g;
	uint64_t bytes = 0, t_end;
	unsigned long sends = 0;
	char why[200];
	int it, err, bad;

	for (it = 0; it < opt_races; it++) {
		ASSERT_EQ(0, rig_open(&g, 1024, 2, true, cap)) {
			TH_LOG("%s", g.err);
		}
		w.mem = g.vm.mem;
		w.stop = 0;
		ASSERT_EQ(0, pthread_create(&w.thr, NULL, writer_thread, &w));
		ASSERT_EQ(0, worker_start(&h, g.km, KMIGRATE_HARVEST, NULL, 0, 0));
		gfn_list(gfns, KMIGRATE_BATCH_MAX, opt_seed + it);
		bytes = 0;
		t_end = dp_now_ns() + 1500000000ull;
		while (dp_now_ns() < t_end && bytes < cap - (20u << 20)) {
			struct kmigrate_send s;
			uint32_t n = 64 + (sends * 977) % (KMIGRATE_BATCH_MAX - 64);

			err = send_gfns(g.km, gfns, n,
					sends & 1 ? KMIGRATE_SEND_F_DIGEST_PAGES : 0, &s);
			ASSERT_EQ(0, err) {
				TH_LOG("send %lu: %s", sends, strerror(-err));
			}
			EXPECT_EQ(n, s.pages + s.zero_pages);
			bytes += s.bytes;
			sends++;
		}
		__atomic_store_n(&w.stop, 1, __ATOMIC_RELEASE);
		pthread_join(w.thr, NULL);
		ASSERT_EQ(0, worker_stop(&h));
		EXPECT_TRUE(tally_only(&h.t, ok_only, 1, &bad)) {
			tally_log(_metadata, "harvest", &h.t);
		}
		EXPECT_LT(0, tally_of(&h.t, 0));
		EXPECT_EQ(0, dp_reader_wait(&g.rd, bytes, 30000)) {
			TH_LOG("read %zu of %llu bytes", dp_reader_len(&g.rd),
			       (unsigned long long)bytes);
		}
		EXPECT_EQ(bytes, dp_reader_len(&g.rd));
		EXPECT_EQ(0, check_framing(g.rd.buf, dp_reader_len(&g.rd), why, sizeof(why))) {
			TH_LOG("%s", why);
		}
		TH_LOG("%lu sends, %llu bytes, %lu host writes, guest at iteration %llu",
		       sends, (unsigned long long)bytes, w.passes,
		       (unsigned long long)dp_vm_iter(&g.vm, 0));
		ASSERT_EQ(0, rig_close(&g)) {
			TH_LOG("the guest did not stop");
		}
	}
}

/* rmmod while sessions are open, one of them sending: refused (-EAGAIN,
 * O_NONBLOCK as rmmod asks), the module stays; after the last close it
 * goes, and comes back. */
TEST_F_TIMEOUT(slow, race_rmmod_with_sessions, 600)
{
	static uint64_t gfns[512];
	struct worker s, h;
	struct rig g;
	int it, k, idle;

	for (it = 0; it < opt_races; it++) {
		ASSERT_EQ(0, rig_open(&g, 1024, 1, true, 0)) {
			TH_LOG("%s", g.err);
		}
		idle = kmt_open(O_RDWR);
		ASSERT_LE(0, idle);
		gfn_list(gfns, 512, opt_seed + it);
		ASSERT_EQ(0, worker_start(&s, g.km, KMIGRATE_SEND_PAGES, gfns, 512, 0));
		ASSERT_EQ(0, worker_start(&h, g.km, KMIGRATE_HARVEST, NULL, 0, 0));
		EXPECT_LE(2, refcnt());
		for (k = 0; k < 10; k++) {
			EXPECT_EQ(-EAGAIN, mod_unload());
			usleep(10000);
		}
		ASSERT_EQ(0, worker_stop(&s));
		ASSERT_EQ(0, worker_stop(&h));
		EXPECT_TRUE(mod_loaded());
		EXPECT_LT(0, tally_of(&s.t, 0));
		EXPECT_EQ(0, vm_stop(&g.vm, g.km));
		ASSERT_EQ(0, rig_close(&g)) {
			TH_LOG("the guest did not stop");
		}
		/* one idle session left: still refused */
		EXPECT_EQ(-EAGAIN, mod_unload());
		close(idle);
		EXPECT_EQ(0, mod_unload());
		EXPECT_FALSE(mod_loaded());
		EXPECT_NE(0, access(KMT_DEV_PATH, F_OK));
		ASSERT_EQ(0, mod_load());
	}
}

struct opener {
	pthread_t thr;
	int vm;
	volatile int stop;
	unsigned long opened, attached, refused;
	int bad;
};

static void *opener_thread(void *p)
{
	static __thread uint64_t buf[64];
	struct opener *o = p;

	while (!__atomic_load_n(&o->stop, __ATOMIC_ACQUIRE)) {
		struct kmigrate_attach a = { .vm_fd = o->vm };
		int km = kmt_open(O_RDWR), err;

		if (km < 0) {
			/* the node is gone with the module, or going */
			if (km == -ENOENT || km == -ENODEV || km == -ENXIO)
				o->refused++;
			else
				o->bad = km;
			usleep(500);
			continue;
		}
		o->opened++;
		err = xioctl(km, KMIGRATE_ATTACH_VM, &a);
		if (!err) {
			o->attached++;
			harvest(km, buf, 64, NULL, NULL);
		} else {
			o->bad = err;
		}
		close(km);
	}
	return NULL;
}

/* rmmod and insmod against a thread that opens, attaches and closes: each
 * unload either works (no file open) or is refused; an open either gets a
 * working session or finds no device. */
TEST_F_TIMEOUT(slow, race_rmmod_against_open, 600)
{
	struct opener o = { 0 };
	struct dp_vm vm;
	unsigned long unloaded = 0, refused = 0;
	uint64_t end;
	int it, err;

	ASSERT_EQ(0, dp_vm_create(&vm, 1024, 1)) {
		TH_LOG("%s", vm.err);
	}
	o.vm = vm.vm;
	ASSERT_EQ(0, pthread_create(&o.thr, NULL, opener_thread, &o));
	for (it = 0; it < opt_races; it++) {
		end = dp_now_ns() + 2000000000ull;
		while (dp_now_ns() < end) {
			err = mod_unload();
			if (!err) {
				unloaded++;
				usleep(2000);
				/* EEXIST: an open asked the kernel to load it
				 * (char-major-10-250) first */
				do {
					err = mod_load();
				} while (err == -EBUSY);
				ASSERT_TRUE(!err || err == -EEXIST) {
					TH_LOG("insmod: %s", strerror(-err));
				}
			} else {
				/* EBUSY: being loaded by the kernel just then */
				ASSERT_TRUE(err == -EAGAIN || err == -EBUSY) {
					TH_LOG("rmmod: %s", strerror(-err));
				}
				refused++;
			}
			usleep(1000);
		}
	}
	__atomic_store_n(&o.stop, 1, __ATOMIC_RELEASE);
	pthread_join(o.thr, NULL);
	ASSERT_EQ(0, ensure_loaded());
	TH_LOG("rmmod: %lu unloaded, %lu refused; opens: %lu (%lu attached), %lu without a device",
	       unloaded, refused, o.opened, o.attached, o.refused);
	EXPECT_EQ(0, o.bad) {
		TH_LOG("opener: %s", strerror(-o.bad));
	}
	EXPECT_LT(0, o.attached);
	dp_vm_destroy(&vm);
}

/* ========================================================================
 * Load and unload with sessions, and leaks
 * ======================================================================== */

struct slab {
	char name[64];
	long active, objsize, perslab;
};

static int read_slabs(struct slab *s, int max)
{
	FILE *f = fopen("/proc/slabinfo", "re");
	char line[512];
	int n = 0;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f) && n < max) {
		long num;

		if (line[0] == '#' || !strncmp(line, "slabinfo", 8))
			continue;
		if (sscanf(line, "%63s %ld %ld %ld %ld", s[n].name, &s[n].active, &num,
			   &s[n].objsize, &s[n].perslab) == 5)
			n++;
	}
	fclose(f);
	return n;
}

/* Unreclaimable slab and vmalloc memory (kB), as /proc/meminfo says. */
static long unreclaimable_kb(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[128];
	long v, sum = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "SUnreclaim: %ld", &v) == 1 ||
		    sscanf(line, "VmallocUsed: %ld", &v) == 1)
			sum += v;
	}
	fclose(f);
	return sum;
}

#define KMEMLEAK "/sys/kernel/debug/kmemleak"

static bool kmemleak_cmd(const char *cmd)
{
	int fd = open(KMEMLEAK, O_WRONLY | O_CLOEXEC);
	bool ok;

	if (fd < 0)
		return false;
	ok = write(fd, cmd, strlen(cmd)) == (ssize_t)strlen(cmd);
	close(fd);
	return ok;
}

/* Objects kmemleak reports that this process allocated; -1 without it. */
static int kmemleak_ours(struct __test_metadata *_metadata)
{
	char line[512], comm[32];
	int n = 0, printed = 0;
	FILE *f;

	if (!kmemleak_cmd("scan"))
		return -1;
	f = fopen(KMEMLEAK, "re");
	if (!f)
		return -1;
	snprintf(comm, sizeof(comm), "pid %d,", getpid());
	while (fgets(line, sizeof(line), f)) {
		bool ours = strstr(line, comm) || strstr(line, "kmigrate");

		if (ours && strstr(line, "comm "))
			n++;
		if ((ours || (printed && printed < 40)) && printed < 40) {
			TH_LOG("kmemleak: %s", line);
			printed++;
		}
	}
	fclose(f);
	return n;
}

static int one_loop(int vmfd, int tx, struct kmt_nl *nl, const uint64_t *gfns,
		    char *why, size_t wl)
{
	struct kmigrate_attach a = { .vm_fd = vmfd };
	struct kmigrate_bind b = { .sock_fd = tx };
	struct kmigrate_round r = { 0 };
	static uint64_t buf[256];
	struct kmt_info info;
	struct kmt_session ss[8];
	struct kmt_dump d = { .s = ss, .max = 8 };
	int km, err;

#define STEP(what, expr) do {						\
	err = (expr);							\
	if (err) {							\
		snprintf(why, wl, "%s: %s", what, strerror(-err));	\
		return err;						\
	}								\
} while (0)

	STEP("insmod", mod_load());
	km = kmt_open(O_RDWR);
	STEP("open", km < 0 ? km : 0);
	err = mod_unload();
	if (err != -EAGAIN) {
		snprintf(why, wl, "rmmod with a session open: %s",
			 err ? strerror(-err) : "it worked");
		return -EIO;
	}
	STEP("ATTACH_VM", xioctl(km, KMIGRATE_ATTACH_VM, &a));
	STEP("BIND_SOCKET", xioctl(km, KMIGRATE_BIND_SOCKET, &b));
	STEP("ROUND", xioctl(km, KMIGRATE_ROUND, &r));
	STEP("HARVEST", harvest(km, buf, 256, NULL, NULL));
	STEP("SEND_PAGES", send_gfns(km, gfns, 64, 0, NULL));
	nl->family = genl_ctrl_resolve(nl->sk, KMIGRATE_GENL_NAME);
	STEP("genl family", nl->family < 0 ? -ENOENT : 0);
	STEP("GET_INFO", kmt_get_info(nl, &info, NULL));
	STEP("GET_SESSION", kmt_dump_sessions(nl, &d, NULL));
	if (d.n != 1) {
		snprintf(why, wl, "dump: %d sessions", d.n);
		return -EIO;
	}
	STEP("close", close(km) ? -errno : 0);
	STEP("rmmod", mod_unload());
	return 0;
#undef STEP
}

TEST_F_TIMEOUT(slow, load_loops, 600)
{
	static struct slab before[512], after[512];
	static uint64_t gfns[64];
	struct dp_reader rd;
	struct kmt_nl nl;
	struct dp_vm vm;
	char why[200] = "";
	long mem0, mem1;
	int i, k, nb, na, err, leaks = 0, tx, rx, km;
	bool kmemleak;

	ASSERT_EQ(0, dp_vm_create(&vm, 1024, 1)) {
		TH_LOG("%s", vm.err);
	}
	for (i = 0; i < 64; i++) {
		gfns[i] = DP_STAMP_FIRST + i;
		memset(vm.mem + gfns[i] * DP_PAGE_SIZE, i & 1 ? 0 : i, DP_PAGE_SIZE);
	}
	/* one connection and one netlink socket for every loop: sockets that
	 * linger (TIME_WAIT, RCU) would look like a leak */
	ASSERT_EQ(0, dp_tcp_pair(&tx, &rx));
	ASSERT_EQ(0, dp_reader_start(&rd, rx, 0));
	ASSERT_EQ(0, kmt_nl_open(&nl));
	ASSERT_EQ(0, mod_unload()) {
		TH_LOG("rmmod before the loops: is a session open?");
	}
	/* two loops to warm the caches, then the baseline */
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, one_loop(vm.vm, tx, &nl, gfns, why, sizeof(why))) {
			TH_LOG("warm-up: %s", why);
		}
	}
	kmemleak = kmemleak_cmd("clear");
	usleep(200000);
	nb = read_slabs(before, 512);
	mem0 = unreclaimable_kb();
	for (i = 0; i < opt_loops; i++) {
		err = one_loop(vm.vm, tx, &nl, gfns, why, sizeof(why));
		if (err) {
			ASSERT_EQ(0, err) {
				TH_LOG("loop %d of %d: %s", i + 1, opt_loops, why);
			}
		}
	}
	usleep(500000);	/* RCU-deferred frees */
	na = read_slabs(after, 512);
	mem1 = unreclaimable_kb();
	TH_LOG("%d loops: unreclaimable slab + vmalloc %ld kB -> %ld kB, kmemleak %s",
	       opt_loops, mem0, mem1, kmemleak ? "on" : "not in this kernel");
	/* A session's data path is ~150 kB: a leak of it per loop is MBs. */
	EXPECT_LT(mem1 - mem0, 4096 + opt_loops * 8L);
	/* A cache that grew by an object per loop, beyond per-CPU slack. */
	for (i = 0; i < na && nb > 0; i++) {
		for (k = 0; k < nb; k++)
			if (!strcmp(after[i].name, before[k].name))
				break;
		if (k == nb)
			continue;
		if (after[i].active - before[k].active >= opt_loops &&
		    after[i].active - before[k].active > 4 * after[i].perslab * 2 + 16) {
			TH_LOG("slab %s: %ld -> %ld objects of %ld bytes over %d loops",
			       after[i].name, before[k].active, after[i].active,
			       after[i].objsize, opt_loops);
			leaks++;
		}
	}
	EXPECT_EQ(0, leaks);
	if (kmemleak) {
		EXPECT_EQ(0, kmemleak_ours(_metadata));
	}

	/* leave it loaded, as found */
	ASSERT_EQ(0, mod_load());
	km = kmt_open(O_RDWR);
	EXPECT_LE(0, km);
	EXPECT_EQ(-EAGAIN, mod_unload());
	close(km);
	kmt_nl_close(&nl);
	dp_reader_stop(&rd);
	close(tx);
	close(rx);
	dp_reader_free(&rd);
	dp_vm_destroy(&vm);
}

/* ---- main ----------------------------------------------------------------- */

static long num_opt(const char *name, const char *v, long min, long max)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 0);
	if (errno || *end || n < min || n > max) {
		fprintf(stderr, "modfuzz: %s %s: want %ld..%ld\n", name, v, min, max);
		exit(2);
	}
	return n;
}

int main(int argc, char **argv)
{
	struct __fixture_metadata *f;
	struct __test_metadata *t;
	const char *e;
	char exe[PATH_MAX - 64];
	ssize_t n;
	int i;

	opt_seed = (uint64_t)time(NULL) * 1000003u ^ (uint64_t)getpid();
	if ((e = getenv("MODFUZZ_SEED")))
		opt_seed = strtoull(e, NULL, 0);
	if ((e = getenv("MODFUZZ_SECONDS")))
		opt_seconds = num_opt("MODFUZZ_SECONDS", e, 0, 86400);
	if ((e = getenv("MODFUZZ_ITERATIONS")))
		opt_iterations = num_opt("MODFUZZ_ITERATIONS", e, 0, LONG_MAX);
	if ((e = getenv("MODFUZZ_RACES")))
		opt_races = num_opt("MODFUZZ_RACES", e, 1, 100000);
	if ((e = getenv("MODFUZZ_LOOPS")))
		opt_loops = num_opt("MODFUZZ_LOOPS", e, 1, 1000000);
	if ((e = getenv("KMIGRATE_KO")))
		snprintf(opt_ko, sizeof(opt_ko), "%s", e);
	for (i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v) {
			fprintf(stderr, "modfuzz: %s needs a value\n", argv[i]);
			return 2;
		}
		if (!strcmp(argv[i], "--seed"))
			opt_seed = strtoull(v, NULL, 0);
		else if (!strcmp(argv[i], "--seconds"))
			opt_seconds = num_opt(argv[i], v, 0, 86400);
		else if (!strcmp(argv[i], "--iterations"))
			opt_iterations = num_opt(argv[i], v, 0, LONG_MAX);
		else if (!strcmp(argv[i], "--races"))
			opt_races = num_opt(argv[i], v, 1, 100000);
		else if (!strcmp(argv[i], "--loops"))
			opt_loops = num_opt(argv[i], v, 1, 1000000);
		else if (!strcmp(argv[i], "--ko"))
			snprintf(opt_ko, sizeof(opt_ko), "%s", v);
		else {
			fprintf(stderr,
				"usage: modfuzz [--seed N] [--seconds S] [--iterations N] [--races N] [--loops N] [--ko PATH]\n");
			return 2;
		}
		i++;
	}
	if (!opt_ko[0]) {
		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n > 0) {
			exe[n] = '\0';
			*strrchr(exe, '/') = '\0';
			snprintf(opt_ko, sizeof(opt_ko), "%s/../kmigrate.ko", exe);
		}
	}
	printf("# modfuzz: seed %llu (--seed %llu reproduces), %ld s of fuzzing%s, races x%d, %d load loops, module %s\n",
	       (unsigned long long)opt_seed, (unsigned long long)opt_seed, opt_seconds,
	       opt_iterations ? " (or the --iterations given)" : "", opt_races, opt_loops, opt_ko);
	fflush(stdout);

	/* The harness's timeouts, from the options. */
	for (f = __fixture_list; f; f = f->next)
		for (t = f->tests; t; t = t->next) {
			if (!strcmp(t->name, "fuzz"))
				t->timeout = opt_seconds + 300;
			else if (!strcmp(t->name, "load_loops"))
				t->timeout = 120 + opt_loops * 3;
			else
				t->timeout = 120 + opt_races * 60;
		}
	return test_harness_run(argc, argv);
}
