// SPDX-License-Identifier: GPL-2.0
/*
 * kmigrate.ko selftest: the data path of a session (ATTACH_VM, DETACH_VM,
 * BIND_SOCKET, SET_BANDWIDTH, ROUND, HARVEST, SEND_PAGES, END, GET_STATS)
 * against the contract of include/uapi/linux/kmigrate.h and the records of
 * docs/PROTOCOL.md.
 *
 * Runs as root inside a lab host (with /dev/kvm: nested SVM), with
 * kmigrate.ko loaded.  Each test makes its own small VM (dp_vm.c): 4 MiB of
 * guest memory, optionally a dirty ring, and vCPUs that stamp pages.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "kselftest_harness.h"
#include "kmtest.h"
#include "dp_vm.h"

#define REC_MAGIC	0x52474d4bu
#define REC_PAGES	3
#define REC_ZERO	4
#define REC_HDR		16
#define PAGES_MAX	256
#define ZERO_MAX	4096

/* ---- helpers --------------------------------------------------------- */

/* The tests that run a guest or pace a send get more than the default 30 s
 * (a shared, emulated host can be slow); they use this empty fixture. */
FIXTURE(slow) {
	int unused;
};

FIXTURE_SETUP(slow)
{
	self->unused = 0;
}

FIXTURE_TEARDOWN(slow)
{
}

#define SLOW_TIMEOUT	120

/* A session with a VM attached and (optionally) a socket bound. */
struct dp_ctx {
	struct dp_vm vm;
	int km;
	int tx;		/* bound to the session */
	int rx;		/* the peer */
	struct kmigrate_attach at;
	char err[200];
};

static void ctx_init(struct dp_ctx *c)
{
	memset(c, 0, sizeof(*c));
	c->km = c->tx = c->rx = -1;
	c->vm.kvm = c->vm.vm = -1;
	c->vm.vcpu_fd[0] = c->vm.vcpu_fd[1] = -1;
}

/* VM (ring entries, vCPUs of which nr_now made), session, attach; bind a
 * fresh TCP pair if bind. */
static int ctx_open_bind(struct dp_ctx *c, uint32_t ring, int nr_vcpus, int nr_now,
			 bool bind)
{
	struct kmigrate_bind b = { 0 };
	int err;

	ctx_init(c);
	err = dp_vm_create_some(&c->vm, ring, nr_vcpus, nr_now);
	if (err) {
		snprintf(c->err, sizeof(c->err), "vm: %s", c->vm.err);
		return err;
	}
	c->km = kmt_open(O_RDWR);
	if (c->km < 0) {
		err = c->km;
		snprintf(c->err, sizeof(c->err), "open %s: %s", KMT_DEV_PATH, strerror(-err));
		return err;
	}
	c->at.vm_fd = c->vm.vm;
	err = kmt_ioctl(c->km, KMIGRATE_ATTACH_VM, &c->at);
	if (err) {
		snprintf(c->err, sizeof(c->err), "ATTACH_VM: %s", strerror(-err));
		return err;
	}
	if (!bind)
		return 0;
	err = dp_tcp_pair(&c->tx, &c->rx);
	if (err) {
		snprintf(c->err, sizeof(c->err), "tcp pair on 127.0.0.1: %s", strerror(-err));
		return err;
	}
	b.sock_fd = c->tx;
	err = kmt_ioctl(c->km, KMIGRATE_BIND_SOCKET, &b);
	if (err)
		snprintf(c->err, sizeof(c->err), "BIND_SOCKET: %s", strerror(-err));
	return err;
}

static int ctx_open(struct dp_ctx *c, uint32_t ring, int nr_vcpus, bool bind)
{
	return ctx_open_bind(c, ring, nr_vcpus, nr_vcpus, bind);
}

static int ctx_open_some(struct dp_ctx *c, uint32_t ring, int nr_vcpus, int nr_now)
{
	return ctx_open_bind(c, ring, nr_vcpus, nr_now, true);
}

static void ctx_close(struct dp_ctx *c)
{
	if (c->km >= 0)
		close(c->km);
	if (c->tx >= 0)
		close(c->tx);
	if (c->rx >= 0)
		close(c->rx);
	c->km = c->tx = c->rx = -1;
	dp_vm_destroy(&c->vm);
}

static int do_round(int km, uint32_t round, uint32_t flags)
{
	struct kmigrate_round r = { .round = round, .flags = flags, .dirty_pages = 1 };

	return kmt_ioctl(km, KMIGRATE_ROUND, &r);
}

static int get_stats(int km, struct kmigrate_stats *st)
{
	memset(st, 0, sizeof(*st));
	return kmt_ioctl(km, KMIGRATE_GET_STATS, st);
}

static void digest_from_xxh(struct kmigrate_digest *d, const XXH64_state_t *s)
{
	memset(d, 0, sizeof(*d));
	d->total_len = s->total_len;
	memcpy(d->v, s->v, sizeof(d->v));
	memcpy(d->mem, s->mem64, sizeof(d->mem));
	d->memsize = s->memsize;
}

static void xxh_from_digest(XXH64_state_t *s, const struct kmigrate_digest *d)
{
	memset(s, 0, sizeof(*s));
	s->total_len = d->total_len;
	memcpy(s->v, d->v, sizeof(s->v));
	memcpy(s->mem64, d->mem, sizeof(s->mem64));
	s->memsize = d->memsize;
}

static int send_pages(int km, const uint64_t *gfns, uint32_t n, uint32_t flags,
		      const struct kmigrate_digest *din, struct kmigrate_send *s)
{
	memset(s, 0, sizeof(*s));
	s->gfns = (uintptr_t)gfns;
	s->nr_gfns = n;
	s->flags = flags;
	if (din)
		s->digest = *din;
	else {
		XXH64_state_t st;

		XXH64_reset(&st, 0);
		digest_from_xxh(&s->digest, &st);
	}
	return kmt_ioctl(km, KMIGRATE_SEND_PAGES, s);
}

static bool page_is_zero(const uint8_t *p)
{
	size_t i;

	for (i = 0; i < DP_PAGE_SIZE; i++)
		if (p[i])
			return false;
	return true;
}

static uint32_t rd32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t rd16(const uint8_t *p)
{
	return p[0] | p[1] << 8;
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/*
 * The records one SEND_PAGES wrote, buf[0..len): only PAGES and ZERO
 * records, well-formed, whose gfns are exactly the multiset of gfns[],
 * each page byte for byte the guest's (mem), zero pages in ZERO records
 * and the others in PAGES records; the counters of s agree; the digest
 * out of s is din updated with the headers and gfns (and the pages with
 * KMIGRATE_SEND_F_DIGEST_PAGES).
 */
static void check_records(struct __test_metadata *_metadata, const uint8_t *buf,
			  size_t len, const uint64_t *gfns, uint32_t n,
			  const uint8_t *mem, const struct kmigrate_digest *din,
			  const struct kmigrate_send *s)
{
	static int want[DP_MEM_PAGES];
	uint64_t pages = 0, zero = 0, records = 0, exp_zero = 0;
	XXH64_state_t st, got;
	size_t off = 0;
	uint32_t i;
	int bad_gfn = 0, bad_page = 0, misplaced = 0;

	memset(want, 0, sizeof(want));
	for (i = 0; i < n; i++) {
		ASSERT_LT(gfns[i], DP_MEM_PAGES);
		want[gfns[i]]++;
		if (page_is_zero(mem + gfns[i] * DP_PAGE_SIZE))
			exp_zero++;
	}
	xxh_from_digest(&st, din);

	while (off < len) {
		const uint8_t *h = buf + off;
		uint32_t magic, length, count, k;
		uint16_t type, flags;

		ASSERT_LE(off + REC_HDR, len) {
			TH_LOG("stream ends inside a record header at byte %zu", off);
		}
		magic = rd32(h);
		type = rd16(h + 4);
		flags = rd16(h + 6);
		length = rd32(h + 8);
		count = rd32(h + 12);
		ASSERT_EQ(REC_MAGIC, magic) {
			TH_LOG("record %llu at byte %zu: magic 0x%x",
			       (unsigned long long)records, off, magic);
		}
		ASSERT_EQ(0, flags);
		ASSERT_TRUE(type == REC_PAGES || type == REC_ZERO) {
			TH_LOG("record %llu at byte %zu: type %u (only PAGES/ZERO expected)",
			       (unsigned long long)records, off, type);
		}
		ASSERT_GE(count, 1);
		if (type == REC_PAGES) {
			ASSERT_LE(count, PAGES_MAX);
			ASSERT_EQ((uint64_t)count * (8 + DP_PAGE_SIZE), length);
		} else {
			ASSERT_LE(count, ZERO_MAX);
			ASSERT_EQ((uint64_t)count * 8, length);
		}
		ASSERT_LE(off + REC_HDR + length, len) {
			TH_LOG("stream ends inside record %llu (%u bytes at %zu, have %zu)",
			       (unsigned long long)records, length, off, len);
		}
		XXH64_update(&st, h, REC_HDR + (size_t)count * 8);
		if (type == REC_PAGES && (s->flags & KMIGRATE_SEND_F_DIGEST_PAGES))
			XXH64_update(&st, h + REC_HDR + (size_t)count * 8,
				     (size_t)count * DP_PAGE_SIZE);
		for (k = 0; k < count; k++) {
			uint64_t gfn = rd64(h + REC_HDR + 8 * k);
			const uint8_t *gp;

			if (gfn >= DP_MEM_PAGES || want[gfn] <= 0) {
				if (bad_gfn++ < 5)
					TH_LOG("record %llu: gfn 0x%llx not sent (or too often)",
					       (unsigned long long)records,
					       (unsigned long long)gfn);
				continue;
			}
			want[gfn]--;
			gp = mem + gfn * DP_PAGE_SIZE;
			if (type == REC_ZERO) {
				zero++;
				if (!page_is_zero(gp) && misplaced++ < 5)
					TH_LOG("gfn 0x%llx in a ZERO record is not zero",
					       (unsigned long long)gfn);
			} else {
				const uint8_t *wp = h + REC_HDR + (size_t)count * 8 +
						    (size_t)k * DP_PAGE_SIZE;

				pages++;
				if (page_is_zero(gp) && misplaced++ < 5)
					TH_LOG("zero gfn 0x%llx sent in a PAGES record",
					       (unsigned long long)gfn);
				if (memcmp(wp, gp, DP_PAGE_SIZE) && bad_page++ < 5)
					TH_LOG("gfn 0x%llx: page bytes differ from guest memory",
					       (unsigned long long)gfn);
			}
		}
		off += REC_HDR + length;
		records++;
	}
	EXPECT_EQ(0, bad_gfn);
	EXPECT_EQ(0, bad_page);
	EXPECT_EQ(0, misplaced);
	for (i = 0; i < DP_MEM_PAGES; i++) {
		EXPECT_EQ(0, want[i]) {
			TH_LOG("gfn 0x%x: %d copies missing from the stream", i, want[i]);
		}
		if (want[i])
			break;
	}
	EXPECT_EQ(exp_zero, zero);
	EXPECT_EQ(n - exp_zero, pages);
	EXPECT_EQ(pages, s->pages);
	EXPECT_EQ(zero, s->zero_pages);
	EXPECT_EQ(records, s->records);
	EXPECT_EQ(len, s->bytes);

	/* The digest: same state as ours, field by field, and same hash. */
	EXPECT_EQ(st.total_len, s->digest.total_len);
	EXPECT_EQ(0, memcmp(st.v, s->digest.v, sizeof(st.v))) {
		TH_LOG("digest accumulators differ");
	}
	EXPECT_EQ(st.memsize, s->digest.memsize);
	if (st.memsize == s->digest.memsize && st.memsize <= 32) {
		EXPECT_EQ(0, memcmp(st.mem64, s->digest.mem, st.memsize));
	}
	EXPECT_EQ(0, s->digest.reserved);
	xxh_from_digest(&got, &s->digest);
	EXPECT_EQ(XXH64_digest(&st), XXH64_digest(&got));
}

/* Fill guest memory from the host: page p gets a pattern unless zero. */
static void fill_page(uint8_t *mem, uint64_t gfn, uint32_t seed)
{
	uint32_t *w = (uint32_t *)(mem + gfn * DP_PAGE_SIZE);
	uint32_t x = seed * 2654435761u + (uint32_t)gfn * 40503u + 1;
	size_t i;

	for (i = 0; i < DP_PAGE_SIZE / 4; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		w[i] = x;
	}
}

/* ---- attach ----------------------------------------------------------- */

TEST(attach_bad_fds)
{
	struct kmigrate_attach a;
	struct dp_vm vm, vm2;
	int km, fd, p[2], kvm, err;

	err = dp_vm_create(&vm, 0, 1);
	ASSERT_EQ(0, err) {
		TH_LOG("%s", vm.err);
	}
	km = kmt_open(O_RDWR);
	ASSERT_LE(0, km);

	/* Not an open fd. */
	fd = open("/dev/null", O_RDONLY);
	ASSERT_LE(0, fd);
	close(fd);
	memset(&a, 0, sizeof(a));
	a.vm_fd = fd;
	EXPECT_EQ(-EBADF, kmt_ioctl(km, KMIGRATE_ATTACH_VM, &a));
	a.vm_fd = -1;
	EXPECT_EQ(-EBADF, kmt_ioctl(km, KMIGRATE_ATTACH_VM, &a));

	/* Open, but not a KVM VM. */
	fd = open("/dev/null", O_RDWR);
	ASSERT_LE(0, fd);
	a.vm_fd = fd;
	EXPECT_EQ(-EINVAL, kmt_ioctl(km, KMIGRATE_ATTACH_VM, &a));
	close(fd);
	ASSERT_EQ(0, pipe(p));
	a.vm_fd = p[0];
	EXPECT_EQ(-EINVAL, kmt_ioctl(km, KMIGRATE_ATTACH_VM, &a));
	close(p[0]);
	close(p[1]);
	kvm = open("/dev/kvm", O_RDWR);
	ASSERT_LE(0, kvm);
	a.vm_fd = kvm;		/* the system fd, not a VM */
	EXPECT_EQ(-EINVAL, kmt_ioctl(km, KMIGRATE_ATTACH_VM, &a));
	close(kvm);
	a.vm_fd = vm.vcpu_fd[0];	/* a vCPU, not a VM */
	EXPECT_EQ(-EINVAL, kmt_ioctl(km, KMIGRATE_ATTACH_VM, &a));
	a.vm_fd = km;		/* a kmigrate session */
	EXPECT_EQ(-EINVAL, kmt_ioctl(km, KMIGRATE_ATTACH_VM, &a));

	/* Unknown flags, reserved. */
	memset(&a, 0, sizeof(a));
	a.vm_fd = vm.vm;
	a.flags = 1;
	EXPECT_EQ(-EOPNOTSUPP, kmt_ioctl(km, KMIGRATE_ATTACH_VM, &a));
	a.flags = 0x80000000u;
	EXPECT_EQ(-EOPNOTSUPP, kmt_ioctl(km, KMIGRATE_ATTACH_VM, &a));
	a.flags = 0;
	a.reserved = 1;
	EXPECT_EQ(-EINVAL, kmt_ioctl(km, KMIGRATE_ATTACH_VM, &a));

	/* None of that attached anything. */
	{
		struct kmigrate_stats st;

		ASSERT_EQ(0, get_stats(km, &st));
		EXPECT_EQ(KMIGRATE_SESSION_IDLE, st.state);
	}

	/* The real one, then a second is refused (same VM or another). */
	memset(&a, 0, sizeof(a));
	a.vm_fd = vm.vm;
	ASSERT_EQ(0, kmt_ioctl(km, KMIGRATE_ATTACH_VM, &a));
	EXPECT_EQ(1, a.nr_vcpus);
	EXPECT_EQ(1, a.nr_memslots);
	EXPECT_EQ(0, a.ring_entries);
	EXPECT_EQ(DP_MEM_SIZE, a.mem_bytes);
	memset(&a, 0, sizeof(a));
	a.vm_fd = vm.vm;
	EXPECT_EQ(-EBUSY, kmt_ioctl(km, KMIGRATE_ATTACH_VM, &a));
	ASSERT_EQ(0, dp_vm_create(&vm2, 0, 1));
	a.vm_fd = vm2.vm;
	EXPECT_EQ(-EBUSY, kmt_ioctl(km, KMIGRATE_ATTACH_VM, &a));
	{
		struct kmigrate_stats st;

		ASSERT_EQ(0, get_stats(km, &st));
		EXPECT_EQ(KMIGRATE_SESSION_ATTACHED, st.state);
	}
	/* Detach, and the session takes a VM again. */
	EXPECT_EQ(0, kmt_ioctl(km, KMIGRATE_DETACH_VM, NULL));
	close(km);
	dp_vm_destroy(&vm2);
	dp_vm_destroy(&vm);
}

/*
 * One session per VM: a second session's ATTACH of a VM that another has
 * is refused with -EBUSY until that one lets go (DETACH_VM or close).  Two
 * sessions collecting one VM's dirty rings corrupted KVM's state of them
 * (found by modfuzz: WARN in kvm_dirty_ring_push(), a vCPU stuck on a ring
 * full for ever); modfuzz's race_attach_two_files races the two ATTACHes.
 */
TEST(attach_one_vm_one_session)
{
	struct kmigrate_attach a;
	struct dp_vm vm, vm2;
	int km1, km2, km3;

	ASSERT_EQ(0, dp_vm_create(&vm, 1024, 1)) {
		TH_LOG("%s", vm.err);
	}
	ASSERT_EQ(0, dp_vm_create(&vm2, 0, 1)) {
		TH_LOG("%s", vm2.err);
	}
	km1 = kmt_open(O_RDWR);
	km2 = kmt_open(O_RDWR);
	km3 = kmt_open(O_RDWR);
	ASSERT_LE(0, km1);
	ASSERT_LE(0, km2);
	ASSERT_LE(0, km3);

	memset(&a, 0, sizeof(a));
	a.vm_fd = vm.vm;
	ASSERT_EQ(0, kmt_ioctl(km1, KMIGRATE_ATTACH_VM, &a));
	memset(&a, 0, sizeof(a));
	a.vm_fd = vm.vm;
	EXPECT_EQ(-EBUSY, kmt_ioctl(km2, KMIGRATE_ATTACH_VM, &a));
	/* another VM is free */
	memset(&a, 0, sizeof(a));
	a.vm_fd = vm2.vm;
	EXPECT_EQ(0, kmt_ioctl(km2, KMIGRATE_ATTACH_VM, &a));
	/* released by DETACH_VM */
	EXPECT_EQ(0, kmt_ioctl(km1, KMIGRATE_DETACH_VM, NULL));
	memset(&a, 0, sizeof(a));
	a.vm_fd = vm.vm;
	EXPECT_EQ(0, kmt_ioctl(km3, KMIGRATE_ATTACH_VM, &a));
	memset(&a, 0, sizeof(a));
	a.vm_fd = vm.vm;
	EXPECT_EQ(-EBUSY, kmt_ioctl(km1, KMIGRATE_ATTACH_VM, &a));
	/* released by close */
	close(km3);
	memset(&a, 0, sizeof(a));
	a.vm_fd = vm.vm;
	EXPECT_EQ(0, kmt_ioctl(km1, KMIGRATE_ATTACH_VM, &a));
	close(km1);
	close(km2);
	dp_vm_destroy(&vm2);
	dp_vm_destroy(&vm);
}

TEST(attach_reports_the_vm)
{
	struct dp_ctx c;
	int err;

	err = ctx_open(&c, 4096, 2, false);
	ASSERT_EQ(0, err) {
		TH_LOG("%s", c.err);
	}
	EXPECT_EQ(2, c.at.nr_vcpus);
	EXPECT_EQ(1, c.at.nr_memslots);
	EXPECT_EQ(4096, c.at.ring_entries);
	EXPECT_EQ(DP_MEM_SIZE, c.at.mem_bytes);
	EXPECT_EQ(0, c.at.reserved);
	EXPECT_EQ(0, c.at.flags);
	ctx_close(&c);
}

/* ---- bind ------------------------------------------------------------- */

TEST(bind_errors)
{
	struct kmigrate_bind b;
	struct dp_ctx c;
	int s, sp[2], tx, rx, fd, err;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);

	/* Before attach. */
	fd = kmt_open(O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, dp_tcp_pair(&tx, &rx));
	memset(&b, 0, sizeof(b));
	b.sock_fd = tx;
	EXPECT_EQ(-EBADFD, kmt_ioctl(fd, KMIGRATE_BIND_SOCKET, &b));
	close(fd);

	err = ctx_open(&c, 0, 1, false);
	ASSERT_EQ(0, err) {
		TH_LOG("%s", c.err);
	}
	/* Not a socket. */
	fd = open("/dev/null", O_RDWR);
	b.sock_fd = fd;
	EXPECT_EQ(-ENOTSOCK, kmt_ioctl(c.km, KMIGRATE_BIND_SOCKET, &b));
	close(fd);
	/* UDP, unconnected and connected. */
	s = socket(AF_INET, SOCK_DGRAM, 0);
	ASSERT_LE(0, s);
	b.sock_fd = s;
	EXPECT_EQ(-EPROTONOSUPPORT, kmt_ioctl(c.km, KMIGRATE_BIND_SOCKET, &b));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(9);
	ASSERT_EQ(0, connect(s, (struct sockaddr *)&sin, sizeof(sin)));
	EXPECT_EQ(-EPROTONOSUPPORT, kmt_ioctl(c.km, KMIGRATE_BIND_SOCKET, &b));
	close(s);
	/* Unix stream, connected. */
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sp));
	b.sock_fd = sp[0];
	EXPECT_EQ(-EPROTONOSUPPORT, kmt_ioctl(c.km, KMIGRATE_BIND_SOCKET, &b));
	close(sp[0]);
	close(sp[1]);
	/* TCP, not connected: fresh, and listening. */
	s = socket(AF_INET, SOCK_STREAM, 0);
	ASSERT_LE(0, s);
	b.sock_fd = s;
	EXPECT_EQ(-ENOTCONN, kmt_ioctl(c.km, KMIGRATE_BIND_SOCKET, &b));
	sin.sin_port = 0;
	ASSERT_EQ(0, bind(s, (struct sockaddr *)&sin, sizeof(sin)));
	ASSERT_EQ(0, listen(s, 1));
	ASSERT_EQ(0, getsockname(s, (struct sockaddr *)&sin, &len));
	EXPECT_EQ(-ENOTCONN, kmt_ioctl(c.km, KMIGRATE_BIND_SOCKET, &b));
	close(s);
	/* Flags, reserved. */
	b.sock_fd = tx;
	b.flags = 1;
	EXPECT_EQ(-EOPNOTSUPP, kmt_ioctl(c.km, KMIGRATE_BIND_SOCKET, &b));
	b.flags = 0;
	b.reserved = 1;
	EXPECT_EQ(-EINVAL, kmt_ioctl(c.km, KMIGRATE_BIND_SOCKET, &b));
	b.reserved = 0;
	/* The real one, then a second is refused. */
	EXPECT_EQ(0, kmt_ioctl(c.km, KMIGRATE_BIND_SOCKET, &b));
	EXPECT_EQ(-EBUSY, kmt_ioctl(c.km, KMIGRATE_BIND_SOCKET, &b));
	close(rx);
	close(tx);
	ctx_close(&c);
}

/* ---- order, arguments -------------------------------------------------- */

TEST(calls_out_of_order_ebadfd)
{
	struct kmigrate_harvest h;
	struct kmigrate_send s;
	struct kmigrate_end e = { 0 };
	struct kmigrate_stats st;
	uint64_t gfns[4096], one = DP_STAMP_FIRST;
	struct dp_ctx c;
	int km, err;

	/* IDLE: no VM. */
	km = kmt_open(O_RDWR);
	ASSERT_LE(0, km);
	EXPECT_EQ(-EBADFD, do_round(km, 0, 0));
	memset(&h, 0, sizeof(h));
	h.gfns = (uintptr_t)gfns;
	h.max_gfns = 4096;
	EXPECT_EQ(-EBADFD, kmt_ioctl(km, KMIGRATE_HARVEST, &h));
	EXPECT_EQ(-EBADFD, send_pages(km, &one, 1, 0, NULL, &s));
	EXPECT_EQ(-EBADFD, kmt_ioctl(km, KMIGRATE_END, &e));
	EXPECT_EQ(-EBADFD, kmt_ioctl(km, KMIGRATE_DETACH_VM, NULL));
	close(km);

	/* ATTACHED and bound, no round yet: nothing to send. */
	err = ctx_open(&c, 4096, 1, true);
	ASSERT_EQ(0, err) {
		TH_LOG("%s", c.err);
	}
	EXPECT_EQ(-EBADFD, send_pages(c.km, &one, 1, 0, NULL, &s));
	ASSERT_EQ(0, do_round(c.km, 0, 0));
	h.count = 0;
	EXPECT_EQ(0, kmt_ioctl(c.km, KMIGRATE_HARVEST, &h));
	ASSERT_EQ(0, get_stats(c.km, &st));
	EXPECT_EQ(KMIGRATE_SESSION_RUNNING, st.state);

	/* DONE: only DETACH and close are left. */
	EXPECT_EQ(0, kmt_ioctl(c.km, KMIGRATE_END, &e));
	ASSERT_EQ(0, get_stats(c.km, &st));
	EXPECT_EQ(KMIGRATE_SESSION_DONE, st.state);
	EXPECT_EQ(0, st.error);
	EXPECT_EQ(-EBADFD, do_round(c.km, 1, 0));
	EXPECT_EQ(-EBADFD, kmt_ioctl(c.km, KMIGRATE_HARVEST, &h));
	EXPECT_EQ(-EBADFD, send_pages(c.km, &one, 1, 0, NULL, &s));
	EXPECT_EQ(-EBADFD, kmt_ioctl(c.km, KMIGRATE_END, &e));
	EXPECT_EQ(0, kmt_ioctl(c.km, KMIGRATE_DETACH_VM, NULL));
	ctx_close(&c);
}

/* The header's order: ROUND comes before a round's HARVEST. */
/*
 * HARVEST is allowed once a VM is attached, before round 0: the source
 * drains what the rings hold before its bulk copy, so that the first live
 * round reports only writes made after the bulk copy began.  The session
 * stays ATTACHED (a harvest is not a round).
 */
TEST(harvest_before_first_round_allowed)
{
	struct kmigrate_harvest h;
	struct kmigrate_stats st;
	uint64_t gfns[64];
	struct dp_ctx c;
	int err;

	err = ctx_open(&c, 4096, 1, true);
	ASSERT_EQ(0, err) {
		TH_LOG("%s", c.err);
	}
	memset(&h, 0, sizeof(h));
	h.gfns = (uintptr_t)gfns;
	h.max_gfns = 64;
	EXPECT_EQ(0, kmt_ioctl(c.km, KMIGRATE_HARVEST, &h));
	EXPECT_LE(h.count, 64u);
	ASSERT_EQ(0, get_stats(c.km, &st));
	EXPECT_EQ(KMIGRATE_SESSION_ATTACHED, st.state);
	ctx_close(&c);
}

/* ATTACH, (no BIND), ROUND: a send has no socket, a call out of order. */
TEST(send_without_socket_ebadfd)
{
	uint64_t one = DP_STAMP_FIRST;
	struct kmigrate_send s;
	struct dp_ctx c;
	int err;

	err = ctx_open(&c, 0, 1, false);
	ASSERT_EQ(0, err) {
		TH_LOG("%s", c.err);
	}
	EXPECT_EQ(-EBADFD, send_pages(c.km, &one, 1, 0, NULL, &s));
	err = do_round(c.km, 0, 0);
	if (err == 0) {
		EXPECT_EQ(-EBADFD, send_pages(c.km, &one, 1, 0, NULL, &s));
	} else {
		EXPECT_EQ(-EBADFD, err);
	}
	ctx_close(&c);
}

TEST(round_numbering)
{
	struct kmigrate_round r;
	struct kmigrate_stats st;
	struct dp_ctx c;
	int err;

	err = ctx_open(&c, 0, 1, true);
	ASSERT_EQ(0, err) {
		TH_LOG("%s", c.err);
	}
	EXPECT_EQ(-EINVAL, do_round(c.km, 1, 0));
	EXPECT_EQ(-EOPNOTSUPP, do_round(c.km, 0, 2));
	memset(&r, 0, sizeof(r));
	ASSERT_EQ(0, kmt_ioctl(c.km, KMIGRATE_ROUND, &r));
	EXPECT_EQ(-EINVAL, do_round(c.km, 0, 0));
	EXPECT_EQ(-EINVAL, do_round(c.km, 2, 0));
	EXPECT_EQ(-EOPNOTSUPP, do_round(c.km, 1, 0x80000000u));
	EXPECT_EQ(0, do_round(c.km, 1, 0));
	EXPECT_EQ(-EINVAL, do_round(c.km, 1, 0));
	EXPECT_EQ(-EINVAL, do_round(c.km, 3, 0));
	EXPECT_EQ(0, do_round(c.km, 2, KMIGRATE_ROUND_F_FINAL));
	ASSERT_EQ(0, get_stats(c.km, &st));
	EXPECT_EQ(KMIGRATE_SESSION_RUNNING, st.state);
	EXPECT_EQ(2, st.round);
	EXPECT_EQ(3, st.rounds);
	ctx_close(&c);
}

TEST(harvest_arguments)
{
	struct kmigrate_harvest h;
	void *bad;
	uint64_t gfns[KMIGRATE_BATCH_MAX + 1];
	struct dp_ctx c;
	int err;

	err = ctx_open(&c, 4096, 1, true);
	ASSERT_EQ(0, err) {
		TH_LOG("%s", c.err);
	}
	ASSERT_EQ(0, do_round(c.km, 0, 0));
	memset(&h, 0, sizeof(h));
	h.gfns = (uintptr_t)gfns;
	h.max_gfns = 0;
	EXPECT_EQ(-EINVAL, kmt_ioctl(c.km, KMIGRATE_HARVEST, &h));
	h.max_gfns = KMIGRATE_BATCH_MAX + 1;
	EXPECT_EQ(-EINVAL, kmt_ioctl(c.km, KMIGRATE_HARVEST, &h));
	h.max_gfns = 0xffffffffu;
	EXPECT_EQ(-EINVAL, kmt_ioctl(c.km, KMIGRATE_HARVEST, &h));
	h.max_gfns = KMIGRATE_BATCH_MAX;
	h.flags = 1;
	EXPECT_EQ(-EOPNOTSUPP, kmt_ioctl(c.km, KMIGRATE_HARVEST, &h));
	h.flags = 0;
	h.reserved = 1;
	EXPECT_EQ(-EINVAL, kmt_ioctl(c.km, KMIGRATE_HARVEST, &h));
	h.reserved = 0;
	EXPECT_EQ(0, kmt_ioctl(c.km, KMIGRATE_HARVEST, &h));
	EXPECT_LE(h.count, h.max_gfns);
	h.nr_ring_fetch = 0xffffffffu;		/* more than KVM's vCPU limit */
	h.ring_fetch = (uintptr_t)gfns;
	EXPECT_EQ(-EINVAL, kmt_ioctl(c.km, KMIGRATE_HARVEST, &h));

	/*
	 * A harvest that fails after handing entries back to KVM (here: its
	 * ring positions cannot be written) lost them for the caller: the
	 * next one says OVERFLOW (resend everything), the one after does not.
	 */
	bad = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, bad);
	h.ring_fetch = (uintptr_t)bad;
	h.nr_ring_fetch = 1;
	EXPECT_EQ(-EFAULT, kmt_ioctl(c.km, KMIGRATE_HARVEST, &h));
	h.ring_fetch = 0;
	h.nr_ring_fetch = 0;
	h.flags = 0;
	EXPECT_EQ(0, kmt_ioctl(c.km, KMIGRATE_HARVEST, &h));
	EXPECT_TRUE(h.flags & KMIGRATE_HARVEST_F_OVERFLOW);
	h.flags = 0;
	EXPECT_EQ(0, kmt_ioctl(c.km, KMIGRATE_HARVEST, &h));
	EXPECT_FALSE(h.flags & KMIGRATE_HARVEST_F_OVERFLOW);
	munmap(bad, 4096);
	ctx_close(&c);

	/* A VM without a dirty ring: nothing to harvest. */
	err = ctx_open(&c, 0, 1, true);
	ASSERT_EQ(0, err) {
		TH_LOG("%s", c.err);
	}
	EXPECT_EQ(0, c.at.ring_entries);
	ASSERT_EQ(0, do_round(c.km, 0, 0));
	memset(&h, 0, sizeof(h));
	h.gfns = (uintptr_t)gfns;
	h.max_gfns = KMIGRATE_BATCH_MAX;
	EXPECT_EQ(-EOPNOTSUPP, kmt_ioctl(c.km, KMIGRATE_HARVEST, &h));
	ctx_close(&c);
}

TEST(send_arguments)
{
	static uint64_t gfns[KMIGRATE_BATCH_MAX + 1];
	struct kmigrate_send s;
	struct kmigrate_stats st;
	struct dp_reader rd;
	struct dp_ctx c;
	int err;

	err = ctx_open(&c, 0, 1, true);
	ASSERT_EQ(0, err) {
		TH_LOG("%s", c.err);
	}
	ASSERT_EQ(0, dp_reader_start(&rd, c.rx, 1 << 20));
	ASSERT_EQ(0, do_round(c.km, 0, 0));
	fill_page(c.vm.mem, 100, 1);
	gfns[0] = 100;
	gfns[1] = 200;
	EXPECT_EQ(-EINVAL, send_pages(c.km, gfns, 0, 0, NULL, &s));
	EXPECT_EQ(-EINVAL, send_pages(c.km, gfns, KMIGRATE_BATCH_MAX + 1, 0, NULL, &s));
	EXPECT_EQ(-EOPNOTSUPP, send_pages(c.km, gfns, 2, 2, NULL, &s));
	EXPECT_EQ(-EOPNOTSUPP, send_pages(c.km, gfns, 2, 0x80000000u, NULL, &s));
	{
		struct kmigrate_digest d;
		XXH64_state_t x;

		XXH64_reset(&x, 0);
		digest_from_xxh(&d, &x);
		d.reserved = 1;
		EXPECT_EQ(-EINVAL, send_pages(c.km, gfns, 2, 0, &d, &s));
		d.reserved = 0;
		d.memsize = 32;
		EXPECT_EQ(-EINVAL, send_pages(c.km, gfns, 2, 0, &d, &s));
	}
	/* A gfn outside memory, anywhere in the batch: nothing is sent. */
	gfns[2] = DP_MEM_PAGES;
	EXPECT_EQ(-ERANGE, send_pages(c.km, gfns, 3, 0, NULL, &s));
	gfns[2] = ~0ull;
	EXPECT_EQ(-ERANGE, send_pages(c.km, gfns, 3, 0, NULL, &s));
	gfns[0] = 1ull << 40;
	EXPECT_EQ(-ERANGE, send_pages(c.km, gfns, 1, 0, NULL, &s));
	gfns[0] = 100;
	EXPECT_EQ(-EFAULT, kmt_ioctl(c.km, KMIGRATE_SEND_PAGES, &(struct kmigrate_send){
		.gfns = 8, .nr_gfns = 1 }));
	usleep(100000);
	EXPECT_EQ(0, dp_reader_len(&rd)) {
		TH_LOG("refused sends wrote %zu bytes", dp_reader_len(&rd));
	}
	/* The session is not broken by refused calls. */
	ASSERT_EQ(0, get_stats(c.km, &st));
	EXPECT_EQ(KMIGRATE_SESSION_RUNNING, st.state);
	EXPECT_EQ(0, st.bytes_sent);
	ASSERT_EQ(0, send_pages(c.km, gfns, 2, 0, NULL, &s));
	EXPECT_EQ(1, s.pages);
	EXPECT_EQ(1, s.zero_pages);
	EXPECT_EQ(0, dp_reader_wait(&rd, s.bytes, 5000));
	usleep(50000);
	EXPECT_EQ(s.bytes, dp_reader_len(&rd));
	{
		struct kmigrate_digest d0;
		XXH64_state_t x;

		XXH64_reset(&x, 0);
		digest_from_xxh(&d0, &x);
		check_records(_metadata, rd.buf, dp_reader_len(&rd), gfns, 2,
			      c.vm.mem, &d0, &s);
	}
	dp_reader_stop(&rd);
	ctx_close(&c);
	dp_reader_free(&rd);
}

/* ---- not the VM's owner ------------------------------------------------ */

struct child_args {
	int km;
	int vm_fd;
	int tx;
};

static int child_calls(void *arg)
{
	struct child_args *a = arg;
	struct kmigrate_harvest h = { 0 };
	struct kmigrate_send s = { 0 };
	struct kmigrate_end e = { 0 };
	struct kmigrate_round r = { .round = 1 };
	struct kmigrate_bind b = { .sock_fd = a->tx };
	struct kmigrate_attach at = { .vm_fd = a->vm_fd };
	uint64_t gfns[4] = { 16, 17, 18, 19 };
	int km2;

	h.gfns = (uintptr_t)gfns;
	h.max_gfns = 4;
	s.gfns = (uintptr_t)gfns;
	s.nr_gfns = 4;
	if (kmt_ioctl(a->km, KMIGRATE_ROUND, &r) != -EPERM)
		return 10;
	if (kmt_ioctl(a->km, KMIGRATE_HARVEST, &h) != -EPERM)
		return 11;
	if (kmt_ioctl(a->km, KMIGRATE_SEND_PAGES, &s) != -EPERM)
		return 12;
	if (kmt_ioctl(a->km, KMIGRATE_BIND_SOCKET, &b) != -EPERM)
		return 13;
	if (kmt_ioctl(a->km, KMIGRATE_END, &e) != -EPERM)
		return 14;
	if (kmt_ioctl(a->km, KMIGRATE_DETACH_VM, NULL) != -EPERM)
		return 15;
	/* Its own session, the parent's VM. */
	km2 = kmt_open(O_RDWR);
	if (km2 < 0)
		return 16;
	if (kmt_ioctl(km2, KMIGRATE_ATTACH_VM, &at) != -EPERM)
		return 17;
	close(km2);
	return 0;
}

TEST(other_process_eperm)
{
	struct kmigrate_harvest h = { 0 };
	struct kmigrate_stats st;
	struct child_args a;
	uint64_t gfns[16];
	struct dp_ctx c;
	int err, rc;

	err = ctx_open(&c, 4096, 1, true);
	ASSERT_EQ(0, err) {
		TH_LOG("%s", c.err);
	}
	ASSERT_EQ(0, do_round(c.km, 0, 0));
	a.km = c.km;
	a.vm_fd = c.vm.vm;
	a.tx = c.tx;
	rc = kmt_run_child(child_calls, &a);
	EXPECT_EQ(0, rc) {
		TH_LOG("child: call %d (10 ROUND, 11 HARVEST, 12 SEND, 13 BIND, "
		       "14 END, 15 DETACH, 17 ATTACH of another's VM) did not get EPERM",
		       rc);
	}
	/* None of the child's calls took effect: round 1 is still next. */
	ASSERT_EQ(0, get_stats(c.km, &st));
	EXPECT_EQ(KMIGRATE_SESSION_RUNNING, st.state);
	EXPECT_EQ(1, st.rounds);
	EXPECT_EQ(0, do_round(c.km, 1, 0));
	h.gfns = (uintptr_t)gfns;
	h.max_gfns = 16;
	EXPECT_EQ(0, kmt_ioctl(c.km, KMIGRATE_HARVEST, &h));
	ctx_close(&c);
}

/* ---- send: records, digest, counters ----------------------------------- */

TEST(send_records_and_digest)
{
	static uint64_t gfns[KMIGRATE_BATCH_MAX];
	struct kmigrate_digest d0, dmid;
	struct kmigrate_send s;
	struct kmigrate_stats st;
	uint64_t tot_pages = 0, tot_zero = 0, tot_bytes = 0;
	struct dp_reader rd;
	struct dp_ctx c;
	XXH64_state_t x;
	size_t base = 0;
	uint32_t i, n;
	int err, pass;

	err = ctx_open(&c, 0, 1, true);
	ASSERT_EQ(0, err) {
		TH_LOG("%s", c.err);
	}
	ASSERT_EQ(0, dp_reader_start(&rd, c.rx, 40 << 20));
	ASSERT_EQ(0, do_round(c.km, 0, 0));
	/* Non-zero pages: every third page from 16, plus pages with only
	 * their last or first byte set; the rest stays zero. */
	for (i = DP_STAMP_FIRST; i < DP_MEM_PAGES; i += 3)
		fill_page(c.vm.mem, i, 7);
	c.vm.mem[500 * DP_PAGE_SIZE + DP_PAGE_SIZE - 1] = 1;
	c.vm.mem[501 * DP_PAGE_SIZE] = 0x80;

	XXH64_reset(&x, 0);
	digest_from_xxh(&d0, &x);
	/* A digest in the middle of a stream, 37 bytes (memsize 5). */
	XXH64_update(&x, "the HELLO and ROUND records, 37 bytes", 37);
	digest_from_xxh(&dmid, &x);

	for (pass = 0; pass < 3; pass++) {
		uint32_t flags = 0;
		const struct kmigrate_digest *din = &d0;

		if (pass == 0) {
			/* A mix: zero and non-zero, runs, a repeat, 500/501. */
			n = 0;
			for (i = 10; i < 300; i++)
				gfns[n++] = i;
			gfns[n++] = 500;
			gfns[n++] = 501;
			gfns[n++] = 19;
			gfns[n++] = 1023;
			gfns[n++] = 0;
		} else if (pass == 1) {
			/* Final-round style: pages digested, state handed in. */
			flags = KMIGRATE_SEND_F_DIGEST_PAGES;
			din = &dmid;
			n = 0;
			for (i = 1023; i >= 700; i--)
				gfns[n++] = i;
		} else {
			/* The largest batch: every page four times. */
			n = KMIGRATE_BATCH_MAX;
			for (i = 0; i < n; i++)
				gfns[i] = (i * 7) % DP_MEM_PAGES;
			din = &dmid;
		}
		err = send_pages(c.km, gfns, n, flags, din, &s);
		ASSERT_EQ(0, err) {
			TH_LOG("pass %d: SEND_PAGES: %s", pass, strerror(-err));
		}
		ASSERT_EQ(0, dp_reader_wait(&rd, base + s.bytes, 20000)) {
			TH_LOG("pass %d: %zu of %llu bytes arrived", pass,
			       dp_reader_len(&rd) - base, (unsigned long long)s.bytes);
		}
		usleep(20000);
		ASSERT_EQ(base + s.bytes, dp_reader_len(&rd)) {
			TH_LOG("pass %d: more bytes on the wire than reported", pass);
		}
		check_records(_metadata, rd.buf + base, s.bytes, gfns, n, c.vm.mem,
			      din, &s);
		EXPECT_GE(s.send_ns, 1);
		base += s.bytes;
		tot_pages += s.pages;
		tot_zero += s.zero_pages;
		tot_bytes += s.bytes;
		ASSERT_EQ(0, get_stats(c.km, &st));
		EXPECT_EQ(tot_pages, st.pages_sent);
		EXPECT_EQ(tot_zero, st.zero_pages);
		EXPECT_EQ(tot_bytes, st.bytes_sent);
		EXPECT_GE(st.send_ns, s.send_ns);
	}
	EXPECT_EQ(KMIGRATE_SESSION_RUNNING, st.state);
	EXPECT_EQ(0, st.pages_harvested);
	EXPECT_EQ(0, st.error);
	EXPECT_EQ(1, st.rounds);
	dp_reader_stop(&rd);
	ctx_close(&c);
	dp_reader_free(&rd);
}

/* ---- harvest while the guest writes: no dirty page missed ---------------- */

struct track {
	uint64_t shadow[DP_MEM_PAGES];	/* stamp read after the last report */
	uint8_t reported[DP_MEM_PAGES];
	uint32_t fetch[DP_MAX_VCPUS];
	uint64_t harvested;
	uint64_t calls;
	uint64_t changed;		/* reports that saw a new stamp */
	uint64_t overflows;
};

static uint64_t gfn_buf[KMIGRATE_BATCH_MAX];

/* Harvest until a call returns fewer than max gfns; then re-read the
 * stamps of every page reported. */
static void collect(struct __test_metadata *_metadata, struct dp_ctx *c,
		    struct track *t, uint32_t max)
{
	struct kmigrate_harvest h;
	uint32_t fetch[DP_MAX_VCPUS], i, r = c->vm.ring_entries;
	int err, v;

	do {
		uint64_t delta = 0;

		memset(&h, 0, sizeof(h));
		h.gfns = (uintptr_t)gfn_buf;
		h.max_gfns = max;
		h.ring_fetch = (uintptr_t)fetch;
		h.nr_ring_fetch = c->vm.nr_vcpus;
		memset(fetch, 0xff, sizeof(fetch));
		err = kmt_ioctl(c->km, KMIGRATE_HARVEST, &h);
		ASSERT_EQ(0, err) {
			TH_LOG("HARVEST: %s", strerror(-err));
		}
		ASSERT_LE(h.count, max);
		t->calls++;
		t->harvested += h.count;
		for (i = 0; i < h.count; i++) {
			ASSERT_LT(gfn_buf[i], DP_MEM_PAGES) {
				TH_LOG("harvested gfn 0x%llx beyond memory",
				       (unsigned long long)gfn_buf[i]);
			}
			t->reported[gfn_buf[i]] = 1;
		}
		if (h.flags & KMIGRATE_HARVEST_F_OVERFLOW) {
			t->overflows++;
			memset(t->reported, 1, sizeof(t->reported));
		}
		EXPECT_EQ(0, h.flags & ~KMIGRATE_HARVEST_F_OVERFLOW);
		/* The rings advanced by what was collected. */
		for (v = 0; v < c->vm.nr_vcpus; v++) {
			delta += (uint32_t)(fetch[v] - t->fetch[v]) % r;
			t->fetch[v] = fetch[v];
		}
		EXPECT_EQ(h.count % r, delta % r) {
			TH_LOG("ring_fetch moved by %llu, %u gfns harvested",
			       (unsigned long long)delta, h.count);
		}
	} while (h.count == max);

	for (i = 0; i < DP_MEM_PAGES; i++) {
		uint64_t s;

		if (!t->reported[i])
			continue;
		t->reported[i] = 0;
		s = dp_vm_stamp(&c->vm, i);
		if (s != t->shadow[i])
			t->changed++;
		t->shadow[i] = s;
	}
}

static void harvest_no_miss(struct __test_metadata *_metadata, uint32_t ring,
			    uint32_t interval_us, bool late_vcpu)
{
	static struct track t;
	struct kmigrate_stats st;
	uint64_t iter0[DP_MAX_VCPUS], full = 0;
	struct dp_ctx c;
	int err, phase, v;
	uint32_t maxes[] = { KMIGRATE_BATCH_MAX, 37, 1, 500 };

	memset(&t, 0, sizeof(t));
	err = ctx_open_some(&c, ring, 2, late_vcpu ? 1 : 2);
	ASSERT_EQ(0, err) {
		TH_LOG("%s", c.err);
	}
	ASSERT_EQ(ring, c.at.ring_entries);
	ASSERT_EQ(late_vcpu ? 1 : 2, c.at.nr_vcpus);
	ASSERT_EQ(0, do_round(c.km, 0, 0));
	if (late_vcpu) {
		/* A vCPU added after ATTACH: harvests walk it too. */
		collect(_metadata, &c, &t, KMIGRATE_BATCH_MAX);
		ASSERT_EQ(0, dp_vm_add_vcpus(&c.vm)) {
			TH_LOG("%s", c.vm.err);
		}
	}
	/* Round 0 starts with every page; what the rings hold from the
	 * code/control pages written by the host is irrelevant. */
	collect(_metadata, &c, &t, KMIGRATE_BATCH_MAX);

	for (phase = 0; phase < 3; phase++) {
		uint64_t end, hard, misses = 0, i;
		int k = 0;

		for (v = 0; v < c.vm.nr_vcpus; v++)
			iter0[v] = dp_vm_iter(&c.vm, v);
		ASSERT_EQ(0, dp_vm_start(&c.vm)) {
			TH_LOG("%s", c.vm.err);
		}
		end = dp_now_ns() + 700000000ull;
		hard = dp_now_ns() + 8000000000ull;
		for (;;) {
			bool progress = true;

			for (v = 0; v < c.vm.nr_vcpus; v++)
				if (dp_vm_iter(&c.vm, v) < iter0[v] + 2)
					progress = false;
			if ((progress && dp_now_ns() > end) || dp_now_ns() > hard)
				break;
			collect(_metadata, &c, &t, maxes[k++ % 4]);
			usleep(interval_us);
		}
		/* Pause: the vCPUs halt at the end of a pass (one blocked on
		 * a full ring needs harvests to get there). */
		dp_vm_request_stop(&c.vm);
		hard = dp_now_ns() + 10000000000ull;
		while (!dp_vm_all_done(&c.vm) && dp_now_ns() < hard) {
			collect(_metadata, &c, &t, maxes[k++ % 4]);
			usleep(1000);
		}
		ASSERT_TRUE(dp_vm_all_done(&c.vm)) {
			TH_LOG("phase %d: vCPUs did not halt within 10 s", phase);
		}
		ASSERT_EQ(0, dp_vm_join(&c.vm)) {
			TH_LOG("%s", c.vm.err);
		}
		collect(_metadata, &c, &t, KMIGRATE_BATCH_MAX);
		collect(_metadata, &c, &t, KMIGRATE_BATCH_MAX);
		for (v = 0; v < c.vm.nr_vcpus; v++) {
			EXPECT_GE(dp_vm_iter(&c.vm, v), iter0[v] + 2) {
				TH_LOG("phase %d: vCPU %d made only %llu passes", phase, v,
				       (unsigned long long)(dp_vm_iter(&c.vm, v) - iter0[v]));
			}
		}
		/* Every page whose stamp differs from what we saw at its
		 * last report was written without being reported. */
		for (i = DP_STAMP_FIRST; i < DP_MEM_PAGES; i++) {
			uint64_t s = dp_vm_stamp(&c.vm, i);

			if (s != t.shadow[i] && misses++ < 5)
				TH_LOG("phase %d: gfn 0x%llx: stamp 0x%llx, last reported 0x%llx: missed",
				       phase, (unsigned long long)i, (unsigned long long)s,
				       (unsigned long long)t.shadow[i]);
		}
		EXPECT_EQ(0, misses);
		if (misses)
			break;
	}
	for (v = 0; v < c.vm.nr_vcpus; v++)
		full += c.vm.ring_full[v];
	TH_LOG("ring %u: %llu harvest calls, %llu gfns, %llu new stamps, %llu ring-full exits, %llu overflows",
	       ring, (unsigned long long)t.calls, (unsigned long long)t.harvested,
	       (unsigned long long)t.changed, (unsigned long long)full,
	       (unsigned long long)t.overflows);
	/* The test saw real traffic: three phases of >= 2 passes each. */
	EXPECT_GE(t.changed, 3 * DP_STAMP_PAGES);
	ASSERT_EQ(0, get_stats(c.km, &st));
	EXPECT_EQ(t.harvested, st.pages_harvested);
	EXPECT_GE(st.harvest_ns, 1);
	if (ring <= 512) {
		EXPECT_GE(full, 1) {
			TH_LOG("a %u-entry ring never filled: the test did not test that", ring);
		}
	}
	ctx_close(&c);
}

TEST_F_TIMEOUT(slow, harvest_while_running_misses_nothing, SLOW_TIMEOUT)
{
	harvest_no_miss(_metadata, 4096, 5000, false);
}

TEST_F_TIMEOUT(slow, harvest_vcpu_added_after_attach, SLOW_TIMEOUT)
{
	harvest_no_miss(_metadata, 1024, 10000, true);
}

TEST_F_TIMEOUT(slow, harvest_full_rings_misses_nothing, SLOW_TIMEOUT)
{
	/* 256 entries (KVM's smallest: a page): a pass of 504 pages per
	 * vCPU fills it, the vCPU exits DIRTY_RING_FULL and waits. */
	harvest_no_miss(_metadata, 256, 30000, false);
}

/* ---- a whole migration through the module: memory rebuilt exactly ------- */

/* Harvest everything (the guest may run) into out[], deduplicated;
 * returns the count, or -1 on an error. */
static int harvest_set(int km, uint8_t *set, uint64_t *out)
{
	struct kmigrate_harvest h;
	uint32_t i;
	int n = 0, err;

	do {
		memset(&h, 0, sizeof(h));
		h.gfns = (uintptr_t)gfn_buf;
		h.max_gfns = KMIGRATE_BATCH_MAX;
		err = kmt_ioctl(km, KMIGRATE_HARVEST, &h);
		if (err)
			return err;
		for (i = 0; i < h.count; i++)
			if (gfn_buf[i] < DP_MEM_PAGES)
				set[gfn_buf[i]] = 1;
		if (h.flags & KMIGRATE_HARVEST_F_OVERFLOW)
			memset(set, 1, DP_MEM_PAGES);
	} while (h.count == KMIGRATE_BATCH_MAX);
	for (i = 0; i < DP_MEM_PAGES; i++)
		if (set[i]) {
			out[n++] = i;
			set[i] = 0;
		}
	return n;
}

/*
 * Round 0 sends every page while two vCPUs stamp, live rounds send what
 * was harvested, the final round (guest halted) the last dirty set with
 * page digests; the digest is carried from send to send.  The receiver
 * applies the records to zeroed memory: it must equal guest memory, and
 * the digest must be the one computed over the stream as PROTOCOL.md says.
 */
TEST_F_TIMEOUT(slow, migration_rebuilds_memory, SLOW_TIMEOUT)
{
	static uint64_t gfns[DP_MEM_PAGES];
	static uint8_t set[DP_MEM_PAGES];
	struct kmigrate_digest dig;
	struct kmigrate_stats st;
	struct kmigrate_send s;
	struct dp_reader rd;
	struct dp_ctx c;
	XXH64_state_t x, got;
	uint64_t sent = 0, final_off = 0, diff = 0;
	uint8_t *dest;
	size_t off = 0;
	int err, n, r, w;
	uint32_t i;

	err = ctx_open(&c, 4096, 2, true);
	ASSERT_EQ(0, err) {
		TH_LOG("%s", c.err);
	}
	ASSERT_EQ(0, dp_reader_start(&rd, c.rx, 48 << 20));
	/* Some host-written content, so that not every page is a stamp. */
	for (i = 3; i < DP_MEM_PAGES; i += 5)
		fill_page(c.vm.mem, i, 11);
	XXH64_reset(&x, 0);
	digest_from_xxh(&dig, &x);

	ASSERT_EQ(0, do_round(c.km, 0, 0));
	ASSERT_LE(0, harvest_set(c.km, set, gfns));
	ASSERT_EQ(0, dp_vm_start(&c.vm)) {
		TH_LOG("%s", c.vm.err);
	}
	for (i = 0; i < DP_MEM_PAGES; i++)
		gfns[i] = i;
	ASSERT_EQ(0, send_pages(c.km, gfns, DP_MEM_PAGES, 0, &dig, &s));
	dig = s.digest;
	sent += s.bytes;
	for (r = 1; r <= 3; r++) {
		uint64_t it0 = dp_vm_iter(&c.vm, 0), it1 = dp_vm_iter(&c.vm, 1);

		/* Let both vCPUs write every page of theirs again. */
		for (w = 0; w < 5000 && (dp_vm_iter(&c.vm, 0) < it0 + 2 ||
					 dp_vm_iter(&c.vm, 1) < it1 + 2); w++)
			usleep(1000);
		ASSERT_EQ(0, do_round(c.km, r, 0));
		n = harvest_set(c.km, set, gfns);
		ASSERT_LE(0, n);
		if (!n)
			continue;
		ASSERT_EQ(0, send_pages(c.km, gfns, n, 0, &dig, &s));
		dig = s.digest;
		sent += s.bytes;
	}
	/* Stop and copy. */
	dp_vm_request_stop(&c.vm);
	for (w = 0; w < 10000 && !dp_vm_all_done(&c.vm); w++)
		usleep(1000);
	ASSERT_TRUE(dp_vm_all_done(&c.vm));
	ASSERT_EQ(0, dp_vm_join(&c.vm)) {
		TH_LOG("%s", c.vm.err);
	}
	EXPECT_GE(dp_vm_iter(&c.vm, 0), 7);
	EXPECT_GE(dp_vm_iter(&c.vm, 1), 7);
	ASSERT_EQ(0, do_round(c.km, 4, KMIGRATE_ROUND_F_FINAL));
	n = harvest_set(c.km, set, gfns);
	ASSERT_LE(0, n);
	final_off = sent;
	if (n) {
		ASSERT_EQ(0, send_pages(c.km, gfns, n, KMIGRATE_SEND_F_DIGEST_PAGES, &dig, &s));
		dig = s.digest;
		sent += s.bytes;
	}
	ASSERT_EQ(0, dp_reader_wait(&rd, sent, 20000));
	usleep(20000);
	ASSERT_EQ(sent, dp_reader_len(&rd));

	/* The receiver. */
	dest = calloc(1, DP_MEM_SIZE);
	ASSERT_NE(NULL, dest);
	XXH64_reset(&x, 0);
	while (off < sent) {
		const uint8_t *h = rd.buf + off;
		uint32_t len = rd32(h + 8), cnt = rd32(h + 12), k;
		uint16_t type = rd16(h + 4);

		ASSERT_EQ(REC_MAGIC, rd32(h));
		ASSERT_TRUE(type == REC_PAGES || type == REC_ZERO);
		ASSERT_EQ((uint64_t)cnt * (type == REC_PAGES ? 8 + DP_PAGE_SIZE : 8), len);
		ASSERT_LE(off + REC_HDR + len, sent);
		XXH64_update(&x, h, REC_HDR + (size_t)cnt * 8);
		if (type == REC_PAGES && off >= final_off)
			XXH64_update(&x, h + REC_HDR + (size_t)cnt * 8,
				     (size_t)cnt * DP_PAGE_SIZE);
		for (k = 0; k < cnt; k++) {
			uint64_t gfn = rd64(h + REC_HDR + 8 * k);

			ASSERT_LT(gfn, DP_MEM_PAGES);
			if (type == REC_ZERO)
				memset(dest + gfn * DP_PAGE_SIZE, 0, DP_PAGE_SIZE);
			else
				memcpy(dest + gfn * DP_PAGE_SIZE,
				       h + REC_HDR + (size_t)cnt * 8 + (size_t)k * DP_PAGE_SIZE,
				       DP_PAGE_SIZE);
		}
		off += REC_HDR + len;
	}
	for (i = 0; i < DP_MEM_PAGES; i++) {
		if (memcmp(dest + (size_t)i * DP_PAGE_SIZE, c.vm.mem + (size_t)i * DP_PAGE_SIZE,
			   DP_PAGE_SIZE) && diff++ < 5)
			TH_LOG("gfn 0x%x differs at the destination (stamp 0x%llx there, 0x%llx here)",
			       i, (unsigned long long)rd64(dest + (size_t)i * DP_PAGE_SIZE),
			       (unsigned long long)dp_vm_stamp(&c.vm, i));
	}
	EXPECT_EQ(0, diff);
	xxh_from_digest(&got, &dig);
	EXPECT_EQ(XXH64_digest(&x), XXH64_digest(&got));
	EXPECT_EQ(x.total_len, dig.total_len);
	ASSERT_EQ(0, get_stats(c.km, &st));
	EXPECT_EQ(sent, st.bytes_sent);
	EXPECT_EQ(5, st.rounds);
	EXPECT_EQ(4, st.round);
	free(dest);
	dp_reader_stop(&rd);
	ctx_close(&c);
	dp_reader_free(&rd);
}

/* ---- bandwidth --------------------------------------------------------- */

struct bg_send {
	int km;
	uint64_t *gfns;
	uint32_t n;
	int err;
	struct kmigrate_send s;
};

static void *bg_send_thread(void *arg)
{
	struct bg_send *b = arg;

	__atomic_store_n(&b->err, send_pages(b->km, b->gfns, b->n, 0, NULL, &b->s),
			 __ATOMIC_RELEASE);
	return NULL;
}

TEST_F_TIMEOUT(slow, bandwidth_cap, SLOW_TIMEOUT)
{
	static uint64_t gfns[DP_MEM_PAGES];
	struct kmigrate_bandwidth bw;
	struct kmigrate_send s;
	struct kmigrate_stats st;
	struct dp_reader rd;
	struct dp_ctx c;
	uint64_t t0, capped, unlimited;
	uint32_t i;
	int err;

	/* Any time after open: before a VM is attached too. */
	{
		int km = kmt_open(O_RDWR);

		ASSERT_LE(0, km);
		memset(&bw, 0, sizeof(bw));
		bw.bytes_per_sec = 12345678;
		EXPECT_EQ(0, kmt_ioctl(km, KMIGRATE_SET_BANDWIDTH, &bw));
		ASSERT_EQ(0, get_stats(km, &st));
		EXPECT_EQ(12345678, st.bandwidth);
		EXPECT_EQ(KMIGRATE_SESSION_IDLE, st.state);
		close(km);
	}

	err = ctx_open(&c, 0, 1, true);
	ASSERT_EQ(0, err) {
		TH_LOG("%s", c.err);
	}
	ASSERT_EQ(0, dp_reader_start(&rd, c.rx, 0));
	for (i = 0; i < DP_MEM_PAGES; i++) {
		fill_page(c.vm.mem, i, 3);
		gfns[i] = i;
	}
	memset(&bw, 0, sizeof(bw));
	bw.bytes_per_sec = 1 << 20;
	bw.flags = 1;
	EXPECT_EQ(-EOPNOTSUPP, kmt_ioctl(c.km, KMIGRATE_SET_BANDWIDTH, &bw));
	bw.flags = 0;
	bw.reserved = 1;
	EXPECT_EQ(-EINVAL, kmt_ioctl(c.km, KMIGRATE_SET_BANDWIDTH, &bw));
	bw.reserved = 0;
	bw.bytes_per_sec = 2 << 20;
	ASSERT_EQ(0, kmt_ioctl(c.km, KMIGRATE_SET_BANDWIDTH, &bw));
	ASSERT_EQ(0, get_stats(c.km, &st));
	EXPECT_EQ(2 << 20, st.bandwidth);
	ASSERT_EQ(0, do_round(c.km, 0, 0));

	/* 4 MiB at 2 MiB/s: about 2 s (less the first burst). */
	t0 = dp_now_ns();
	ASSERT_EQ(0, send_pages(c.km, gfns, DP_MEM_PAGES, 0, NULL, &s));
	capped = dp_now_ns() - t0;
	EXPECT_EQ(DP_MEM_PAGES, s.pages);
	EXPECT_GE(capped, 1500000000ull) {
		TH_LOG("4 MiB at a 2 MiB/s cap took %.2f s", capped / 1e9);
	}
	EXPECT_LE(capped, 6000000000ull);
	EXPECT_GE(s.send_ns, 1500000000ull);
	EXPECT_GE(s.stalls, 1);

	/* 0: unlimited. */
	bw.bytes_per_sec = 0;
	ASSERT_EQ(0, kmt_ioctl(c.km, KMIGRATE_SET_BANDWIDTH, &bw));
	ASSERT_EQ(0, get_stats(c.km, &st));
	EXPECT_EQ(0, st.bandwidth);
	t0 = dp_now_ns();
	ASSERT_EQ(0, send_pages(c.km, gfns, DP_MEM_PAGES, 0, NULL, &s));
	unlimited = dp_now_ns() - t0;
	TH_LOG("4 MiB: %.2f s at 2 MiB/s, %.2f s unlimited", capped / 1e9, unlimited / 1e9);
	EXPECT_LT(unlimited * 2, capped);

	/* A change applies to a send that is waiting: 1 MiB/s would take
	 * 4 s; lifted after 0.3 s. */
	bw.bytes_per_sec = 1 << 20;
	ASSERT_EQ(0, kmt_ioctl(c.km, KMIGRATE_SET_BANDWIDTH, &bw));
	{
		struct bg_send b = { .km = c.km, .gfns = gfns, .n = DP_MEM_PAGES };
		pthread_t th;

		t0 = dp_now_ns();
		ASSERT_EQ(0, pthread_create(&th, NULL, bg_send_thread, &b));
		usleep(300000);
		bw.bytes_per_sec = 0;
		EXPECT_EQ(0, kmt_ioctl(c.km, KMIGRATE_SET_BANDWIDTH, &bw));
		pthread_join(th, NULL);
		EXPECT_EQ(0, b.err);
		TH_LOG("cap lifted during a send: it took %.2f s", (dp_now_ns() - t0) / 1e9);
		EXPECT_LT(dp_now_ns() - t0, 2500000000ull);
	}
	ASSERT_EQ(0, get_stats(c.km, &st));
	EXPECT_EQ(3ull * DP_MEM_PAGES, st.pages_sent);
	EXPECT_GE(st.send_stalls, 1);
	dp_reader_stop(&rd);
	ctx_close(&c);
	dp_reader_free(&rd);
}

/*
 * A cap so high that the bucket refill, bytes = elapsed ns * cap / 1e9,
 * does not fit 64 bits once a second has passed since the last send
 * (found by modfuzz: x86's mul_u64_u64_div_u64() is mulq/divq, whose
 * quotient overflow is a divide error, an oops in the ioctl).  Every cap
 * a u64 holds is valid; sends after an idle second must just go.
 */
TEST_F_TIMEOUT(slow, huge_cap_after_idle_second, SLOW_TIMEOUT)
{
	/* The first and last overflow after 1.2 s, 2^63 only after 2 s. */
	static const uint64_t caps[] = { UINT64_MAX, 1ull << 63, 16000000000000000000ull };
	static uint64_t gfns[64];
	struct kmigrate_bandwidth bw;
	struct kmigrate_send s;
	struct kmigrate_stats st;
	struct dp_reader rd;
	struct dp_ctx c;
	unsigned int k;
	uint32_t i;
	int err;

	err = ctx_open(&c, 0, 1, true);
	ASSERT_EQ(0, err) {
		TH_LOG("%s", c.err);
	}
	ASSERT_EQ(0, dp_reader_start(&rd, c.rx, 0));
	for (i = 0; i < 64; i++) {
		fill_page(c.vm.mem, 16 + i, 5);
		gfns[i] = 16 + i;
	}
	ASSERT_EQ(0, do_round(c.km, 0, 0));
	for (k = 0; k < ARRAY_SIZE(caps); k++) {
		memset(&bw, 0, sizeof(bw));
		bw.bytes_per_sec = caps[k];
		ASSERT_EQ(0, kmt_ioctl(c.km, KMIGRATE_SET_BANDWIDTH, &bw));
		ASSERT_EQ(0, send_pages(c.km, gfns, 64, 0, NULL, &s));
		/* 1.2 s idle: the refill's product passes 2^64 * 1e9. */
		usleep(1200000);
		ASSERT_EQ(0, send_pages(c.km, gfns, 64, 0, NULL, &s)) {
			TH_LOG("cap %llu", (unsigned long long)caps[k]);
		}
		EXPECT_EQ(64, s.pages);
	}
	ASSERT_EQ(0, get_stats(c.km, &st));
	EXPECT_EQ(KMIGRATE_SESSION_RUNNING, st.state);
	EXPECT_EQ(2ull * 64 * ARRAY_SIZE(caps), st.pages_sent);
	dp_reader_stop(&rd);
	ctx_close(&c);
	dp_reader_free(&rd);
}

/*
 * KMIGRATE_FEATURE_HARVEST_WHILE_SENDING: a harvest from a second thread
 * does not wait for a send held back by the cap (4 MiB at 1 MiB/s, ~4 s):
 * it returns at once, with the pages written meanwhile, while the send
 * still runs.
 */
TEST_F_TIMEOUT(slow, harvest_while_sending, SLOW_TIMEOUT)
{
	static uint64_t gfns[DP_MEM_PAGES];
	struct kmigrate_version ver;
	struct kmigrate_bandwidth bw;
	struct kmigrate_harvest h;
	struct dp_reader rd;
	struct dp_ctx c;
	struct bg_send b;
	uint64_t hg[64], t0, took;
	pthread_t th;
	uint32_t i;
	int err, done;

	err = ctx_open(&c, 4096, 1, true);
	ASSERT_EQ(0, err) {
		TH_LOG("%s", c.err);
	}
	memset(&ver, 0, sizeof(ver));
	ASSERT_EQ(0, kmt_ioctl(c.km, KMIGRATE_GET_VERSION, &ver));
	EXPECT_TRUE(ver.features & KMIGRATE_FEATURE_HARVEST_WHILE_SENDING);
	ASSERT_EQ(0, dp_reader_start(&rd, c.rx, 0));
	for (i = 0; i < DP_MEM_PAGES; i++) {
		fill_page(c.vm.mem, i, 5);
		gfns[i] = i;
	}
	memset(&bw, 0, sizeof(bw));
	bw.bytes_per_sec = 1 << 20;
	ASSERT_EQ(0, kmt_ioctl(c.km, KMIGRATE_SET_BANDWIDTH, &bw));
	ASSERT_EQ(0, do_round(c.km, 0, 0));
	memset(&b, 0, sizeof(b));
	b.km = c.km;
	b.gfns = gfns;
	b.n = DP_MEM_PAGES;
	b.err = 1;
	ASSERT_EQ(0, pthread_create(&th, NULL, bg_send_thread, &b));
	usleep(300000);
	memset(&h, 0, sizeof(h));
	h.gfns = (uintptr_t)hg;
	h.max_gfns = 64;
	t0 = dp_now_ns();
	EXPECT_EQ(0, kmt_ioctl(c.km, KMIGRATE_HARVEST, &h));
	took = dp_now_ns() - t0;
	done = __atomic_load_n(&b.err, __ATOMIC_ACQUIRE) != 1;
	TH_LOG("a harvest during a capped send took %.1f ms (send %s)", took / 1e6,
	       done ? "already over" : "still running");
	EXPECT_FALSE(done);
	EXPECT_LT(took, 500000000ull);
	pthread_join(th, NULL);
	EXPECT_EQ(0, b.err);
	EXPECT_EQ(DP_MEM_PAGES, b.s.pages);
	dp_reader_stop(&rd);
	ctx_close(&c);
	dp_reader_free(&rd);
}

/* ---- lifetimes --------------------------------------------------------- */

TEST(peer_closes_mid_send)
{
	static uint64_t gfns[KMIGRATE_BATCH_MAX];
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct kmigrate_end e = { .error = EPIPE };
	struct kmigrate_harvest h = { 0 };
	struct kmigrate_stats st;
	struct kmigrate_send s;
	struct dp_ctx c;
	uint32_t i;
	int err;

	err = ctx_open(&c, 4096, 1, true);
	ASSERT_EQ(0, err) {
		TH_LOG("%s", c.err);
	}
	for (i = 0; i < KMIGRATE_BATCH_MAX; i++) {
		gfns[i] = i % DP_MEM_PAGES;
		if (i < DP_MEM_PAGES)
			fill_page(c.vm.mem, i, 5);
	}
	ASSERT_EQ(0, do_round(c.km, 0, 0));
	/* The peer resets the connection without reading. */
	ASSERT_EQ(0, setsockopt(c.rx, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
	close(c.rx);
	c.rx = -1;
	err = send_pages(c.km, gfns, KMIGRATE_BATCH_MAX, 0, NULL, &s);
	if (err == 0)	/* the first batch may fit before the RST is seen */
		err = send_pages(c.km, gfns, KMIGRATE_BATCH_MAX, 0, NULL, &s);
	EXPECT_TRUE(err == -EPIPE || err == -ECONNRESET) {
		TH_LOG("SEND_PAGES to a reset peer: %d (%s)", err, strerror(-err));
	}
	ASSERT_EQ(0, get_stats(c.km, &st));
	EXPECT_EQ(KMIGRATE_SESSION_FAILED, st.state);
	EXPECT_TRUE(st.error == EPIPE || st.error == ECONNRESET) {
		TH_LOG("stats.error %u", st.error);
	}
	/* Broken: only END, DETACH and close remain. */
	h.gfns = (uintptr_t)gfns;
	h.max_gfns = 16;
	EXPECT_EQ(-EBADFD, send_pages(c.km, gfns, 1, 0, NULL, &s));
	EXPECT_EQ(-EBADFD, kmt_ioctl(c.km, KMIGRATE_HARVEST, &h));
	EXPECT_EQ(-EBADFD, do_round(c.km, 1, 0));
	EXPECT_EQ(0, kmt_ioctl(c.km, KMIGRATE_END, &e));
	ASSERT_EQ(0, get_stats(c.km, &st));
	EXPECT_EQ(KMIGRATE_SESSION_FAILED, st.state);
	EXPECT_NE(0, st.error);
	EXPECT_EQ(0, kmt_ioctl(c.km, KMIGRATE_DETACH_VM, NULL));
	ctx_close(&c);
}

/* The child: its own VM and session, a peer that never reads, a send far
 * larger than the socket buffers.  Writes a byte on fd just before. */
static int blocked_sender(void *arg)
{
	static uint64_t gfns[KMIGRATE_BATCH_MAX];
	int small = 16384, fd = *(int *)arg;
	struct kmigrate_send s;
	struct dp_ctx c;
	uint32_t i;

	if (ctx_open(&c, 0, 1, true))
		return 1;
	setsockopt(c.tx, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	setsockopt(c.rx, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	for (i = 0; i < KMIGRATE_BATCH_MAX; i++) {
		gfns[i] = i % DP_MEM_PAGES;
		if (i < DP_MEM_PAGES)
			fill_page(c.vm.mem, i, 9);
	}
	if (do_round(c.km, 0, 0))
		return 2;
	if (write(fd, "s", 1) != 1)
		return 3;
	send_pages(c.km, gfns, KMIGRATE_BATCH_MAX, 0, NULL, &s);
	return 4;	/* must not get here: 16 MiB do not fit */
}

static char proc_state(pid_t pid)
{
	char path[64], buf[512], *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (kmt_read_file(path, buf, sizeof(buf)))
		return '?';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

TEST_F_TIMEOUT(slow, sigkill_while_blocked_in_send, SLOW_TIMEOUT)
{
	int p[2], status, w = 0, km;
	char ch, st;
	pid_t pid;

	ASSERT_EQ(0, pipe(p));
	fflush(stdout);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		close(p[0]);
		_exit(blocked_sender(&p[1]));
	}
	close(p[1]);
	ASSERT_EQ(1, read(p[0], &ch, 1)) {
		waitpid(pid, &status, 0);
		TH_LOG("child failed before sending: status 0x%x", status);
	}
	usleep(700000);
	ASSERT_EQ(0, waitpid(pid, &status, WNOHANG)) {
		TH_LOG("SEND_PAGES of 16 MiB to a peer that never reads returned: status 0x%x",
		       status);
	}
	st = proc_state(pid);
	TH_LOG("child in SEND_PAGES: state %c", st);
	/* Sleeping (interruptibly or killably), not spinning. */
	EXPECT_TRUE(st == 'S' || st == 'D');
	ASSERT_EQ(0, kill(pid, SIGKILL));
	while (waitpid(pid, &status, WNOHANG) == 0 && w < 100) {
		usleep(100000);
		w++;
	}
	ASSERT_LT(w, 100) {
		TH_LOG("child still there 10 s after SIGKILL (state %c)", proc_state(pid));
	}
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	close(p[0]);
	/* Its session is gone: a new one opens and works. */
	km = kmt_open(O_RDWR);
	ASSERT_LE(0, km);
	{
		struct kmigrate_stats st;

		EXPECT_EQ(0, get_stats(km, &st));
	}
	close(km);
}

/* Entries "<pid>-<fd>" of /sys/kernel/debug/kvm for this process's VMs;
 * -1 when debugfs cannot be read. */
static int kvm_debugfs_vms(void)
{
	char pre[32];
	struct dirent *de;
	DIR *d;
	int n = 0;

	d = opendir("/sys/kernel/debug/kvm");
	if (!d) {
		mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
		d = opendir("/sys/kernel/debug/kvm");
	}
	if (!d)
		return -1;
	snprintf(pre, sizeof(pre), "%d-", getpid());
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, pre, strlen(pre)))
			n++;
	closedir(d);
	return n;
}

TEST(vm_fd_closed_while_attached)
{
	struct kmigrate_harvest h = { 0 };
	struct kmigrate_send s;
	uint64_t gfns[8] = { 16, 17, 18, 19, 20, 900, 901, 902 };
	struct dp_reader rd;
	struct dp_ctx c;
	int err, n0, n, w;

	err = ctx_open(&c, 4096, 1, true);
	ASSERT_EQ(0, err) {
		TH_LOG("%s", c.err);
	}
	fill_page(c.vm.mem, 17, 2);
	fill_page(c.vm.mem, 901, 2);
	ASSERT_EQ(0, dp_reader_start(&rd, c.rx, 1 << 20));
	ASSERT_EQ(0, do_round(c.km, 0, 0));
	n0 = kvm_debugfs_vms();
	/* The owner closes every fd of the VM (its memory stays mapped). */
	munmap(c.vm.run[0], c.vm.run_size);
	c.vm.run[0] = NULL;
	close(c.vm.vcpu_fd[0]);
	c.vm.vcpu_fd[0] = -1;
	close(c.vm.vm);
	c.vm.vm = -1;
	/* The session goes on, or fails cleanly. */
	err = send_pages(c.km, gfns, 8, 0, NULL, &s);
	TH_LOG("SEND_PAGES after the VM fd was closed: %d", err);
	if (!err) {
		EXPECT_EQ(2, s.pages);
		EXPECT_EQ(6, s.zero_pages);
	}
	h.gfns = (uintptr_t)gfns;
	h.max_gfns = 8;
	err = kmt_ioctl(c.km, KMIGRATE_HARVEST, &h);
	TH_LOG("HARVEST after the VM fd was closed: %d", err);
	EXPECT_TRUE(err == 0 || err == -EBADFD || err == -EIO || err == -ENODEV) {
		TH_LOG("HARVEST: %s", strerror(-err));
	}
	n = kvm_debugfs_vms();
	TH_LOG("VMs of this process in debugfs: %d before, %d after closing its fds", n0, n);
	if (n0 < 0) {
		TH_LOG("no debugfs: not checking that close releases the VM");
	} else {
		EXPECT_EQ(n0, n) {
			TH_LOG("the attached VM is gone while the session holds it");
		}
	}
	/* close releases the VM. */
	close(c.km);
	c.km = -1;
	for (w = 0; n0 > 0 && w < 50 && kvm_debugfs_vms() > n0 - 1; w++)
		usleep(100000);
	if (n0 > 0) {
		EXPECT_EQ(n0 - 1, kvm_debugfs_vms()) {
			TH_LOG("the VM was not released by closing the session");
		}
	}
	dp_reader_stop(&rd);
	ctx_close(&c);
	dp_reader_free(&rd);
}

TEST(detach_then_close)
{
	struct kmigrate_stats st;
	struct dp_ctx c;
	int err, n0;

	err = ctx_open(&c, 4096, 1, true);
	ASSERT_EQ(0, err) {
		TH_LOG("%s", c.err);
	}
	ASSERT_EQ(0, do_round(c.km, 0, 0));
	n0 = kvm_debugfs_vms();
	close(c.vm.vcpu_fd[0]);
	c.vm.vcpu_fd[0] = -1;
	munmap(c.vm.run[0], c.vm.run_size);
	c.vm.run[0] = NULL;
	close(c.vm.vm);
	c.vm.vm = -1;
	EXPECT_EQ(0, kmt_ioctl(c.km, KMIGRATE_DETACH_VM, NULL));
	if (n0 > 0) {
		int w;

		for (w = 0; w < 50 && kvm_debugfs_vms() > n0 - 1; w++)
			usleep(100000);
		EXPECT_EQ(n0 - 1, kvm_debugfs_vms()) {
			TH_LOG("DETACH_VM did not drop the VM");
		}
	}
	ASSERT_EQ(0, get_stats(c.km, &st));
	EXPECT_NE(KMIGRATE_SESSION_RUNNING, st.state);
	EXPECT_EQ(-EBADFD, do_round(c.km, 1, 0));
	ctx_close(&c);
}

TEST_HARNESS_MAIN
