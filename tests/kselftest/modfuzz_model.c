// SPDX-License-Identifier: GPL-2.0
/*
 * modfuzz: the fuzzer's model of each session, its mismatch reports and
 * watchdog, its world of VMs, sockets and file descriptors (set up and
 * torn down), and the weighted choice of the next operation.
 */

#include "modfuzz.h"

const char *const fz_op_names[] = {
	"open", "close", "attach", "detach", "bind", "round", "harvest", "send",
	"end", "bandwidth", "stats", "version/features", "raw ioctl", "genl",
	"memslot", "host writes", "fork",
};

static const uint8_t fz_weights[OP_NR] = {
	[OP_OPEN] = 4, [OP_CLOSE] = 2, [OP_ATTACH] = 6, [OP_DETACH] = 2,
	[OP_BIND] = 6, [OP_ROUND] = 6, [OP_HARVEST] = 10, [OP_SEND] = 12,
	[OP_END] = 2, [OP_BW] = 3, [OP_STATS] = 4, [OP_VERSION] = 3,
	[OP_RAW] = 4, [OP_GENL] = 14, [OP_SLOT] = 1, [OP_WRITE] = 3,
	[OP_FORK] = 1,
};

bool fz_failed(struct fz *z)
{
	return z->fail[0] != 0;
}

void __attribute__((format(printf, 2, 3)))
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

void fz_expect(struct fz *z, const char *what, int want, int got)
{
	if (want != got)
		fz_mismatch(z, "%s: expected %s, got %s", what,
			    want ? strerror(-want) : "success",
			    got ? strerror(-got) : "success");
}

/* ---- the watchdog: a call that does not return in 120 s is a hang ----- */

void *fz_watchdog(void *arg)
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

bool live(int state)
{
	return state == KMIGRATE_SESSION_ATTACHED || state == KMIGRATE_SESSION_RUNNING;
}

struct fz_sess *fz_pick(struct fz *z, bool open)
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
void *fz_badptr(struct fz *z)
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
uint64_t fz_gfn(struct fz *z, int vm, bool *valid)
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

bool fz_gfn_valid(struct fz *z, int vm, uint64_t g)
{
	if (g < DP_MEM_PAGES)
		return true;
	return vm == VM_RING && z->slot1_on && g >= FZ_SLOT1_GPA / DP_PAGE_SIZE &&
	       g < (FZ_SLOT1_GPA + FZ_SLOT1_SIZE) / DP_PAGE_SIZE;
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

int fz_setup(struct fz *z, char *err, size_t errlen)
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
void fz_teardown(struct fz *z)
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

int fz_pick_op(struct fz *z)
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
