// SPDX-License-Identifier: GPL-2.0
/*
 * kmigrate.ko selftest: the character device /dev/kmigrate.
 *
 * Runs as root inside a lab host, with kmigrate.ko freshly loaded (default
 * limits, no other user of the device).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <linux/capability.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kmtest.h"

#define MAX_DEFAULT	KMIGRATE_MAX_SESSIONS_DEFAULT

TEST(node_is_char_10_250_root_0600)
{
	char buf[64];
	struct stat st;

	ASSERT_EQ(0, stat(KMT_DEV_PATH, &st)) {
		TH_LOG("stat %s: %s", KMT_DEV_PATH, strerror(errno));
	}
	ASSERT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(KMT_MISC_MAJOR, (int)major(st.st_rdev));
	EXPECT_EQ(KMT_MISC_MINOR, (int)minor(st.st_rdev));
	EXPECT_EQ(0600, (int)(st.st_mode & 07777));
	EXPECT_EQ(0, (int)st.st_uid);
	EXPECT_EQ(0, (int)st.st_gid);

	/* The misc class device agrees with the node. */
	ASSERT_EQ(0, kmt_read_file("/sys/class/misc/" KMIGRATE_DEVICE_NAME "/dev",
				   buf, sizeof(buf)));
	EXPECT_STREQ("10:250", buf);
}

TEST(open_close)
{
	int a, b;

	a = kmt_open(O_RDWR);
	ASSERT_LE(0, a) {
		TH_LOG("open: %s", strerror(-a));
	}
	b = kmt_open(O_RDWR);
	ASSERT_LE(0, b) {
		TH_LOG("second open: %s", strerror(-b));
	}
	EXPECT_EQ(0, close(b));
	EXPECT_EQ(0, close(a));

	/* Reopening after close works. */
	a = kmt_open(O_RDWR);
	ASSERT_LE(0, a);
	EXPECT_EQ(0, close(a));
}

TEST(session_limit_ebusy)
{
	struct kmigrate_version v;
	int fds[MAX_DEFAULT];
	int err, n, fd, i;

	n = kmt_open_many(fds, MAX_DEFAULT, &err);
	ASSERT_EQ(MAX_DEFAULT, n) {
		TH_LOG("open #%d failed: %s", n + 1, strerror(-err));
	}
	/* Every session answers. */
	for (i = 0; i < n; i++) {
		memset(&v, 0, sizeof(v));
		EXPECT_EQ(0, kmt_ioctl(fds[i], KMIGRATE_GET_VERSION, &v));
	}
	/* One more is refused, repeatedly, without leaking a slot. */
	for (i = 0; i < 5; i++) {
		fd = kmt_open(O_RDWR);
		ASSERT_EQ(-EBUSY, fd) {
			TH_LOG("open #%d over the limit returned %d", i + 1, fd);
		}
	}
	/* Closing one frees its slot for exactly one new session. */
	ASSERT_EQ(0, close(fds[0]));
	fds[0] = kmt_open(O_RDWR);
	ASSERT_LE(0, fds[0]) {
		TH_LOG("reopen after close: %s", strerror(-fds[0]));
	}
	ASSERT_EQ(-EBUSY, kmt_open(O_RDWR));

	/* Closing them all frees them all. */
	kmt_close_all(fds, MAX_DEFAULT);
	n = kmt_open_many(fds, MAX_DEFAULT, &err);
	EXPECT_EQ(MAX_DEFAULT, n) {
		TH_LOG("after close-all, open #%d failed: %s", n + 1, strerror(-err));
	}
	EXPECT_EQ(-EBUSY, kmt_open(O_RDWR));
	kmt_close_all(fds, n);
}

static int open_all_and_exit(void *arg)
{
	int fds[MAX_DEFAULT], err;

	(void)arg;
	/* Exit with the sessions still open: the exit must release them. */
	return kmt_open_many(fds, MAX_DEFAULT, &err) == MAX_DEFAULT ? 0 : 1;
}

TEST(exit_releases_sessions)
{
	int fds[MAX_DEFAULT], err, n, i;

	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, kmt_run_child(open_all_and_exit, NULL));
	}
	n = kmt_open_many(fds, MAX_DEFAULT, &err);
	EXPECT_EQ(MAX_DEFAULT, n) {
		TH_LOG("open #%d failed: %s", n + 1, strerror(-err));
	}
	kmt_close_all(fds, n);
}

#define CHURN_PROCS	8
#define CHURN_ITERS	200

/*
 * CHURN_PROCS processes each hold at most MAX_DEFAULT / CHURN_PROCS
 * sessions, so the limit is never reached and every open must succeed;
 * a racy session count shows up as a spurious EBUSY (or a leak after).
 */
TEST(concurrent_open_close)
{
	pid_t pids[CHURN_PROCS];
	int fds[MAX_DEFAULT];
	int i, n, err, status;

	for (i = 0; i < CHURN_PROCS; i++) {
		pids[i] = fork();
		ASSERT_LE(0, pids[i]);
		if (pids[i] == 0) {
			int it, k, f[MAX_DEFAULT / CHURN_PROCS];

			for (it = 0; it < CHURN_ITERS; it++) {
				for (k = 0; k < (int)ARRAY_SIZE(f); k++) {
					f[k] = kmt_open(O_RDWR);
					if (f[k] < 0)
						_exit(100 + k);
				}
				for (k = 0; k < (int)ARRAY_SIZE(f); k++) {
					struct kmigrate_features ft = { 0 };

					if (kmt_ioctl(f[k], KMIGRATE_GET_FEATURES, &ft))
						_exit(120);
					close(f[k]);
				}
			}
			_exit(0);
		}
	}
	for (i = 0; i < CHURN_PROCS; i++) {
		ASSERT_EQ(pids[i], waitpid(pids[i], &status, 0));
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			TH_LOG("churn child %d: status 0x%x (100+k: open failed)",
			       i, status);
		}
	}
	/* Nothing leaked: the full quota is available again. */
	n = kmt_open_many(fds, MAX_DEFAULT, &err);
	EXPECT_EQ(MAX_DEFAULT, n) {
		TH_LOG("open #%d failed: %s", n + 1, strerror(-err));
	}
	EXPECT_EQ(-EBUSY, kmt_open(O_RDWR));
	kmt_close_all(fds, n);
}

#define RACE_PROCS	8
#define RACE_EACH	4	/* RACE_PROCS * RACE_EACH > MAX_DEFAULT */
#define RACE_ROUNDS	20

/*
 * RACE_PROCS processes start at once and each try to open RACE_EACH
 * sessions, holding what they get: exactly MAX_DEFAULT opens in total may
 * succeed (more means the limit check races; fewer, a slot leaked).
 */
TEST(concurrent_open_respects_limit)
{
	int start[2], res[2], release[2];
	pid_t pids[RACE_PROCS];
	int round, i, total, status;
	unsigned char got;

	for (round = 0; round < RACE_ROUNDS; round++) {
		ASSERT_EQ(0, pipe(start));
		ASSERT_EQ(0, pipe(res));
		ASSERT_EQ(0, pipe(release));
		for (i = 0; i < RACE_PROCS; i++) {
			pids[i] = fork();
			ASSERT_LE(0, pids[i]);
			if (pids[i] == 0) {
				int f[RACE_EACH], k, fd;
				char c;

				close(start[1]);
				close(release[1]);
				close(res[0]);
				if (read(start[0], &c, 1) != 0)
					_exit(1);
				got = 0;
				for (k = 0; k < RACE_EACH; k++) {
					fd = kmt_open(O_RDWR);
					if (fd >= 0)
						f[got++] = fd;
					else if (fd != -EBUSY)
						got = 0xff;
					if (got == 0xff)
						break;
				}
				if (write(res[1], &got, 1) != 1)
					_exit(2);
				/* Hold them until the parent has counted. */
				if (read(release[0], &c, 1) != 0)
					_exit(3);
				for (k = 0; k < got; k++)
					close(f[k]);
				_exit(0);
			}
		}
		close(start[0]);
		close(res[1]);
		close(release[0]);
		close(start[1]);		/* go */
		total = 0;
		for (i = 0; i < RACE_PROCS; i++) {
			ASSERT_EQ(1, read(res[0], &got, 1));
			ASSERT_NE(0xff, got) {
				TH_LOG("round %d: an open failed with an error other than EBUSY", round);
			}
			total += got;
		}
		close(release[1]);		/* let them close and exit */
		for (i = 0; i < RACE_PROCS; i++) {
			ASSERT_EQ(pids[i], waitpid(pids[i], &status, 0));
			EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		}
		close(res[0]);
		ASSERT_EQ(MAX_DEFAULT, total) {
			TH_LOG("round %d: %d of %d racing opens succeeded, limit %d",
			       round, total, RACE_PROCS * RACE_EACH, MAX_DEFAULT);
		}
	}
}

FIXTURE(dev) {
	int fd;
};

FIXTURE_SETUP(dev)
{
	self->fd = kmt_open(O_RDWR);
	ASSERT_LE(0, self->fd) {
		TH_LOG("open %s: %s", KMT_DEV_PATH, strerror(-self->fd));
	}
}

FIXTURE_TEARDOWN(dev)
{
	if (self->fd >= 0)
		close(self->fd);
}

TEST_F(dev, get_version)
{
	struct kmigrate_version v;
	char sysver[128];
	size_t len;
	char *nul;
	int i;

	/* Output fields are garbage going in: the module must set them all. */
	memset(&v, 0xa5, sizeof(v));
	v.flags = 0;
	ASSERT_EQ(0, kmt_ioctl(self->fd, KMIGRATE_GET_VERSION, &v));
	EXPECT_EQ(KMIGRATE_ABI_VERSION, v.abi_version);
	EXPECT_EQ(0, v.flags);
	EXPECT_EQ(KMIGRATE_FEATURES_ALL, v.features);
	nul = memchr(v.module_version, '\0', sizeof(v.module_version));
	ASSERT_NE(NULL, nul) {
		TH_LOG("module_version is not NUL-terminated");
	}
	len = (size_t)(nul - v.module_version);
	EXPECT_LT(0, (int)len);
	for (i = 0; i < (int)len; i++) {
		EXPECT_TRUE(isprint((unsigned char)v.module_version[i]));
	}
	TH_LOG("module_version \"%s\"", v.module_version);

	/* MODULE_VERSION(), when set, is the same string. */
	if (!kmt_read_file(KMT_SYSFS_MODULE "/version", sysver, sizeof(sysver))) {
		EXPECT_STREQ(sysver, v.module_version);
	}
}

TEST_F(dev, get_version_rejects_flags)
{
	static const __u32 bad[] = { 1, 2, 0x80000000u, 0xffffffffu };
	struct kmigrate_version v;
	int i;

	for (i = 0; i < (int)ARRAY_SIZE(bad); i++) {
		memset(&v, 0, sizeof(v));
		v.flags = bad[i];
		EXPECT_EQ(-EOPNOTSUPP, kmt_ioctl(self->fd, KMIGRATE_GET_VERSION, &v)) {
			TH_LOG("flags 0x%x", bad[i]);
		}
	}
}

TEST_F(dev, get_features_initially_zero)
{
	struct kmigrate_features f;

	memset(&f, 0xff, sizeof(f));
	ASSERT_EQ(0, kmt_ioctl(self->fd, KMIGRATE_GET_FEATURES, &f));
	EXPECT_EQ(0, f.features);
	/* No kernel stack leaks through the padding fields. */
	EXPECT_EQ(0, f.flags);
	EXPECT_EQ(0, f.reserved);
}

TEST_F(dev, set_features)
{
	struct kmigrate_features f;
	struct {
		__u64 features;
		__u32 flags, reserved;
		int err;
	} cases[] = {
		{ 1ULL << 1, 0, 0, -EOPNOTSUPP },	/* the first unknown bit */
		{ 1ULL << 63, 0, 0, -EOPNOTSUPP },
		{ KMIGRATE_FEATURES_ALL | 1ULL << 1, 0, 0, -EOPNOTSUPP },
		{ ~KMIGRATE_FEATURES_ALL, 0, 0, -EOPNOTSUPP },
		{ 0, 1, 0, -EOPNOTSUPP },
		{ 0, 0x80000000u, 0, -EOPNOTSUPP },
		{ 0, 0, 1, -EINVAL },
		{ 0, 0, 0x80000000u, -EINVAL },
		{ 0, 0, 0xffffffffu, -EINVAL },
	};
	int i;

	/* Enabling nothing is fine. */
	memset(&f, 0, sizeof(f));
	ASSERT_EQ(0, kmt_ioctl(self->fd, KMIGRATE_SET_FEATURES, &f));

	for (i = 0; i < (int)ARRAY_SIZE(cases); i++) {
		memset(&f, 0, sizeof(f));
		f.features = cases[i].features;
		f.flags = cases[i].flags;
		f.reserved = cases[i].reserved;
		EXPECT_EQ(cases[i].err, kmt_ioctl(self->fd, KMIGRATE_SET_FEATURES, &f)) {
			TH_LOG("features 0x%llx flags 0x%x reserved 0x%x",
			       (unsigned long long)cases[i].features,
			       cases[i].flags, cases[i].reserved);
		}
	}

	/* The refused requests changed nothing. */
	memset(&f, 0xff, sizeof(f));
	ASSERT_EQ(0, kmt_ioctl(self->fd, KMIGRATE_GET_FEATURES, &f));
	EXPECT_EQ(0, f.features);
	EXPECT_EQ(0, f.flags);
	EXPECT_EQ(0, f.reserved);

	/* Every known bit can be enabled, and reads back. */
	memset(&f, 0, sizeof(f));
	f.features = KMIGRATE_FEATURE_HARVEST_WHILE_SENDING;
	ASSERT_EQ(0, kmt_ioctl(self->fd, KMIGRATE_SET_FEATURES, &f));
	memset(&f, 0xff, sizeof(f));
	ASSERT_EQ(0, kmt_ioctl(self->fd, KMIGRATE_GET_FEATURES, &f));
	EXPECT_EQ(KMIGRATE_FEATURE_HARVEST_WHILE_SENDING, f.features);
}

TEST_F(dev, unknown_ioctls_enotty)
{
	const struct {
		unsigned long req;
		const char *name;
	} cases[] = {
		{ _IO(KMIGRATE_IOC_MAGIC, 0x7f), "_IO(magic, 0x7f)" },
		{ _IO(KMIGRATE_IOC_MAGIC, 0x03), "_IO(magic, 0x03)" },
		{ _IOWR(KMIGRATE_IOC_MAGIC, 0x0f, struct kmigrate_version), "_IOWR(magic, 0x0f)" },
		{ _IOW(KMIGRATE_IOC_MAGIC, 0x10, __u64), "_IOW(magic, 0x10) (attach range)" },
		{ _IOWR(KMIGRATE_IOC_MAGIC, 0x20, __u64), "_IOWR(magic, 0x20) (socket range)" },
		{ _IOWR(KMIGRATE_IOC_MAGIC, 0x30, __u64), "_IOWR(magic, 0x30) (send range)" },
		{ _IOWR(KMIGRATE_IOC_MAGIC, 0xff, __u64), "_IOWR(magic, 0xff)" },
		/* Right number, wrong size or direction: a different ioctl. */
		{ _IOWR(KMIGRATE_IOC_MAGIC, 0x00, __u32), "GET_VERSION nr, wrong size" },
		{ _IOR(KMIGRATE_IOC_MAGIC, 0x00, struct kmigrate_version), "GET_VERSION nr, _IOR" },
		{ _IO(KMIGRATE_IOC_MAGIC, 0x00), "GET_VERSION nr, _IO" },
		{ _IOR(KMIGRATE_IOC_MAGIC, 0x01, __u64), "GET_FEATURES nr, wrong size" },
		{ _IOR(KMIGRATE_IOC_MAGIC, 0x02, struct kmigrate_features), "SET_FEATURES nr, _IOR" },
		/* Another magic. */
		{ _IOWR(KMIGRATE_IOC_MAGIC + 1, 0x00, struct kmigrate_version), "GET_VERSION, magic+1" },
		{ _IOR('k', 0x01, struct kmigrate_features), "GET_FEATURES, magic 'k'" },
		{ TCGETS, "TCGETS" },
		{ 0, "0" },
	};
	char buf[256];
	int i;

	for (i = 0; i < (int)ARRAY_SIZE(cases); i++) {
		memset(buf, 0, sizeof(buf));
		EXPECT_EQ(-ENOTTY, kmt_ioctl(self->fd, cases[i].req, buf)) {
			TH_LOG("ioctl %s (0x%lx)", cases[i].name, cases[i].req);
		}
	}
}

TEST_F(dev, bad_pointers_efault)
{
	long pg = sysconf(_SC_PAGESIZE);
	struct kmigrate_version *v;
	struct kmigrate_features *f;
	char *map, *ro;

	/* Page 0 read-write, page 1 inaccessible, page 2 read-only. */
	map = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, map);
	memset(map, 0, 3 * pg);
	ASSERT_EQ(0, mprotect(map + pg, pg, PROT_NONE));
	ro = map + 2 * pg;
	ASSERT_EQ(0, mprotect(ro, pg, PROT_READ));

	EXPECT_EQ(-EFAULT, kmt_ioctl(self->fd, KMIGRATE_GET_VERSION, NULL));
	EXPECT_EQ(-EFAULT, kmt_ioctl(self->fd, KMIGRATE_GET_VERSION, (void *)1));
	EXPECT_EQ(-EFAULT, kmt_ioctl(self->fd, KMIGRATE_GET_VERSION, map + pg));
	EXPECT_EQ(-EFAULT, kmt_ioctl(self->fd, KMIGRATE_GET_VERSION,
				     (void *)0xffff888000000000ULL));
	/* Straddling the end of the accessible page. */
	v = (struct kmigrate_version *)(map + pg - 8);
	EXPECT_EQ(-EFAULT, kmt_ioctl(self->fd, KMIGRATE_GET_VERSION, v));
	/* Readable (flags 0) but not writable: the answer cannot be stored. */
	EXPECT_EQ(-EFAULT, kmt_ioctl(self->fd, KMIGRATE_GET_VERSION, ro));

	EXPECT_EQ(-EFAULT, kmt_ioctl(self->fd, KMIGRATE_GET_FEATURES, NULL));
	EXPECT_EQ(-EFAULT, kmt_ioctl(self->fd, KMIGRATE_GET_FEATURES, ro));
	f = (struct kmigrate_features *)(map + pg - 8);
	EXPECT_EQ(-EFAULT, kmt_ioctl(self->fd, KMIGRATE_GET_FEATURES, f));

	EXPECT_EQ(-EFAULT, kmt_ioctl(self->fd, KMIGRATE_SET_FEATURES, NULL));
	EXPECT_EQ(-EFAULT, kmt_ioctl(self->fd, KMIGRATE_SET_FEATURES, map + pg));
	EXPECT_EQ(-EFAULT, kmt_ioctl(self->fd, KMIGRATE_SET_FEATURES, f));
	/* A read-only argument is fine for SET_FEATURES (it only reads). */
	EXPECT_EQ(0, kmt_ioctl(self->fd, KMIGRATE_SET_FEATURES, ro));

	/* The file still works after all that. */
	v = (struct kmigrate_version *)map;
	memset(v, 0, sizeof(*v));
	EXPECT_EQ(0, kmt_ioctl(self->fd, KMIGRATE_GET_VERSION, v));
	EXPECT_EQ(KMIGRATE_ABI_VERSION, v->abi_version);
	munmap(map, 3 * pg);
}

/* Exit codes of the unprivileged child. */
enum { UNPRIV_OK, UNPRIV_SETUID, UNPRIV_RDWR, UNPRIV_RDONLY, UNPRIV_WRONLY };

static int unpriv_open(void *arg)
{
	int fd;

	(void)arg;
	if (kmt_become_nobody())
		return UNPRIV_SETUID;
	fd = kmt_open(O_RDWR);
	if (fd != -EACCES) {
		fprintf(stderr, "# uid %d: open(O_RDWR) = %d, want -EACCES\n",
			(int)getuid(), fd);
		return UNPRIV_RDWR;
	}
	fd = kmt_open(O_RDONLY);
	if (fd != -EACCES) {
		fprintf(stderr, "# uid %d: open(O_RDONLY) = %d, want -EACCES\n",
			(int)getuid(), fd);
		return UNPRIV_RDONLY;
	}
	fd = kmt_open(O_WRONLY);
	if (fd != -EACCES) {
		fprintf(stderr, "# uid %d: open(O_WRONLY) = %d, want -EACCES\n",
			(int)getuid(), fd);
		return UNPRIV_WRONLY;
	}
	return UNPRIV_OK;
}

TEST(unprivileged_open_eacces)
{
	int fds[MAX_DEFAULT], err, n;

	ASSERT_EQ(UNPRIV_OK, kmt_run_child(unpriv_open, NULL));
	/* The refused opens took no session slot. */
	n = kmt_open_many(fds, MAX_DEFAULT, &err);
	EXPECT_EQ(MAX_DEFAULT, n);
	kmt_close_all(fds, n);
}

/*
 * Opening also needs CAP_NET_ADMIN, the privilege the genl family asks to
 * list sessions: the mode alone does not decide.
 */
enum { CAP_CHILD_OK, CAP_CHILD_DROP, CAP_CHILD_OPEN };

/* want: the open's result, 0 for success. */
static int open_expect(int want)
{
	int fd = kmt_open(O_RDWR);

	if (want ? fd != want : fd < 0) {
		fprintf(stderr, "# uid %d: open(O_RDWR) = %d, want %d\n",
			(int)getuid(), fd, want);
		return CAP_CHILD_OPEN;
	}
	if (fd >= 0)
		close(fd);
	return CAP_CHILD_OK;
}

static int root_without_net_admin_open(void *arg)
{
	(void)arg;
	if (kmt_caps_drop(CAP_NET_ADMIN))
		return CAP_CHILD_DROP;
	return open_expect(-EPERM);
}

static int only_net_admin_open(void *arg)
{
	(void)arg;
	if (kmt_caps_keep_only(1ULL << CAP_NET_ADMIN))
		return CAP_CHILD_DROP;
	return open_expect(0);
}

static int nobody_open_eperm(void *arg)
{
	(void)arg;
	if (kmt_become_nobody())
		return CAP_CHILD_DROP;
	return open_expect(-EPERM);
}

TEST(root_without_cap_net_admin_open_eperm)
{
	EXPECT_EQ(CAP_CHILD_OK, kmt_run_child(root_without_net_admin_open, NULL));
}

TEST(cap_net_admin_suffices_to_open)
{
	EXPECT_EQ(CAP_CHILD_OK, kmt_run_child(only_net_admin_open, NULL));
}

/* An administrator who opens the mode to all still lets nobody in. */
TEST(unprivileged_open_eperm_whatever_the_mode)
{
	int fds[MAX_DEFAULT], err, n, child;
	struct stat st;

	ASSERT_EQ(0, stat(KMT_DEV_PATH, &st));
	ASSERT_EQ(0, chmod(KMT_DEV_PATH, 0666));
	child = kmt_run_child(nobody_open_eperm, NULL);
	ASSERT_EQ(0, chmod(KMT_DEV_PATH, st.st_mode & 07777));
	EXPECT_EQ(CAP_CHILD_OK, child);
	n = kmt_open_many(fds, MAX_DEFAULT, &err);
	EXPECT_EQ(MAX_DEFAULT, n);
	kmt_close_all(fds, n);
}

TEST_HARNESS_MAIN
