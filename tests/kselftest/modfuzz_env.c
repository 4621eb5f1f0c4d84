// SPDX-License-Identifier: GPL-2.0
/*
 * modfuzz: the helpers under the tests: ioctls, loading and unloading
 * the module, the rig (a guest, a session, a connection), tallies of
 * results and the worker threads that loop one ioctl.
 */

#include "modfuzz.h"

int xioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) < 0 ? -errno : 0;
}

int mod_unload(void)
{
	return syscall(SYS_delete_module, "kmigrate", O_NONBLOCK) ? -errno : 0;
}

int mod_load(void)
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

bool mod_loaded(void)
{
	return access("/sys/module/kmigrate/initstate", F_OK) == 0;
}

/* The module is loaded, whatever an earlier test left. */
int ensure_loaded(void)
{
	int err;

	if (mod_loaded())
		return 0;
	err = mod_load();
	return err == -EEXIST ? 0 : err;
}

long refcnt(void)
{
	char buf[32];

	if (kmt_read_file("/sys/module/kmigrate/refcnt", buf, sizeof(buf)))
		return -1;
	return strtol(buf, NULL, 10);
}

int session_count(void)
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

int harvest(int km, uint64_t *gfns, uint32_t max, uint32_t *count,
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

int send_gfns(int km, const uint64_t *gfns, uint32_t n, uint32_t flags,
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

int set_bw(int km, uint64_t bps)
{
	struct kmigrate_bandwidth bw = { .bytes_per_sec = bps };

	return xioctl(km, KMIGRATE_SET_BANDWIDTH, &bw);
}

int get_state(int km, struct kmigrate_stats *st)
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
int vm_stop(struct dp_vm *v, int km)
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

static void rig_init(struct rig *g)
{
	memset(g, 0, sizeof(*g));
	g->km = g->tx = g->rx = -1;
	g->vm.kvm = g->vm.vm = -1;
	g->vm.vcpu_fd[0] = g->vm.vcpu_fd[1] = -1;
}

/* A VM (ring entries, vCPUs started when run), a session attached to it, a
 * bound TCP connection with a reader keeping cap bytes, round 0 started. */
int rig_open(struct rig *g, uint32_t ring, int vcpus, bool run, size_t cap)
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

int rig_close(struct rig *g)
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

void tally(struct tally *t, int err)
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

unsigned long tally_of(const struct tally *t, int err)
{
	int i;

	for (i = 0; i < MAX_ERRS; i++)
		if (t->cnt[i] && t->err[i] == err)
			return t->cnt[i];
	return 0;
}

/* Every result is one of allowed[] (0 terminates the list after the first). */
bool tally_only(const struct tally *t, const int *allowed, int n,
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

int worker_start(struct worker *w, int km, int op, const uint64_t *gfns,
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
int worker_wait_fail(struct worker *w)
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
int worker_stop(struct worker *w)
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
void gfn_list(uint64_t *g, uint32_t n, uint64_t seed)
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
