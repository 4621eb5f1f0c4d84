// SPDX-License-Identifier: GPL-2.0
/*
 * kmigrate.ko selftest: the generic netlink family "kmigrate" (libnl-3).
 *
 * Runs as root inside a lab host with kmigrate.ko loaded and nobody else
 * using it: the session count seen is exactly the sessions a test holds.
 * Every test starts from, and its teardown goes back to, the load-time
 * limits (SET_CONFIG max_sessions=default + KMIGRATE_CONFIG_F_RESET).
 *
 * Errors are checked as the kernel's errno carried in NLMSG_ERROR (see
 * kmt_nl_xfer), not libnl's NLE_* translation.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <linux/capability.h>
#include <linux/genetlink.h>
#include <linux/kvm.h>

#include <netlink/genl/ctrl.h>

#include "kselftest_harness.h"
#include "kmtest.h"

#define LIMIT		KMIGRATE_MAX_SESSIONS_LIMIT
#define MAX_DEFAULT	KMIGRATE_MAX_SESSIONS_DEFAULT

FIXTURE(genl) {
	struct kmt_nl nl;
	int fds[LIMIT + 1];
	int nfds;
	uint64_t default_bw;		/* after a reset: the load-time default */
	struct kmt_session sess[LIMIT + 16];
	struct kmt_dump d;
};

/* ---- helpers usable inside TEST_F bodies ---------------------------- */

#define GET_INFO(info) do { \
	struct kmt_ack __a; \
	int __e = kmt_get_info(&self->nl, (info), &__a); \
	ASSERT_EQ(0, __e) { \
		TH_LOG("GET_INFO failed: %d (%s)", __e, __a.msg); \
	} \
	ASSERT_EQ(KMT_INFO_ALL, (info)->present & KMT_INFO_ALL) { \
		TH_LOG("GET_INFO attributes present 0x%x", (info)->present); \
	} \
	ASSERT_EQ(0, (int)(info)->bad_len) { \
		TH_LOG("GET_INFO attributes of the wrong size 0x%x", (info)->bad_len); \
	} \
} while (0)

#define DUMP() do { \
	struct kmt_ack __a; \
	int __e = kmt_dump_sessions(&self->nl, &self->d, &__a); \
	ASSERT_EQ(0, __e) { \
		TH_LOG("GET_SESSION dump failed: %d (%s)", __e, __a.msg); \
	} \
	ASSERT_EQ(0, self->d.no_nest); \
	ASSERT_GE(self->d.max, self->d.n); \
} while (0)

#define SET_CONFIG_OK(cfg) do { \
	struct kmt_ack __a; \
	int __e = kmt_set_config(&self->nl, (cfg), &__a); \
	ASSERT_EQ(0, __e) { \
		TH_LOG("SET_CONFIG failed: %d (%s)", __e, __a.msg); \
	} \
} while (0)

/* Open sessions until n are held; returns how many are held. */
static int hold(FIXTURE_DATA(genl) *self, int n, int *err)
{
	*err = 0;
	while (self->nfds < n) {
		int fd = kmt_open(O_RDWR);

		if (fd < 0) {
			*err = fd;
			break;
		}
		self->fds[self->nfds++] = fd;
	}
	return self->nfds;
}

/* Close the session held at index i (the last one moves into its place). */
static void drop(FIXTURE_DATA(genl) *self, int i)
{
	close(self->fds[i]);
	self->fds[i] = self->fds[--self->nfds];
	self->fds[self->nfds] = -1;
}

static bool dump_has_id(const struct kmt_dump *d, uint32_t id)
{
	int i;

	for (i = 0; i < d->n && i < d->max; i++)
		if (d->s[i].id == id)
			return true;
	return false;
}

FIXTURE_SETUP(genl)
{
	struct rlimit rl;
	struct kmt_info info;
	int err, i;

	for (i = 0; i < (int)ARRAY_SIZE(self->fds); i++)
		self->fds[i] = -1;
	self->nfds = 0;
	self->d.s = self->sess;
	self->d.max = ARRAY_SIZE(self->sess);

	/* Room for LIMIT sessions plus the odd socket. */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < 2 * LIMIT) {
		rl.rlim_cur = rl.rlim_max < 2 * LIMIT ? rl.rlim_max : 2 * LIMIT;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	err = kmt_nl_open(&self->nl);
	ASSERT_EQ(0, err) {
		TH_LOG("cannot reach the genl family \"%s\": %d", KMIGRATE_GENL_NAME, err);
	}
	err = kmt_reset_config(&self->nl);
	ASSERT_EQ(0, err) {
		TH_LOG("SET_CONFIG reset to defaults failed: %d", err);
	}
	GET_INFO(&info);
	self->default_bw = info.default_bandwidth;
	ASSERT_EQ(MAX_DEFAULT, (int)info.max_sessions);
	/* Precondition: nobody else holds a session. */
	ASSERT_EQ(0, (int)info.session_count);
}

FIXTURE_TEARDOWN(genl)
{
	int err;

	kmt_close_all(self->fds, ARRAY_SIZE(self->fds));
	self->nfds = 0;
	if (self->nl.sk) {
		err = kmt_reset_config(&self->nl);
		EXPECT_EQ(0, err) {
			TH_LOG("teardown: reset to defaults failed: %d", err);
		}
		kmt_nl_close(&self->nl);
	}
}

/* ---- the family ------------------------------------------------------ */

TEST_F(genl, family_resolves_version_1)
{
	struct kmt_family fam;
	bool seen[KMIGRATE_CMD_MAX + 1] = { false };
	int id, i, err;

	id = genl_ctrl_resolve(self->nl.sk, KMIGRATE_GENL_NAME);
	ASSERT_LT(0, id) {
		TH_LOG("genl_ctrl_resolve: %s", nl_geterror(id));
	}
	EXPECT_EQ(self->nl.family, id);

	err = kmt_ctrl_getfamily(&self->nl, KMIGRATE_GENL_NAME, &fam, NULL);
	ASSERT_EQ(0, err);
	ASSERT_TRUE(fam.found);
	EXPECT_EQ(KMIGRATE_GENL_VERSION, (int)fam.version);
	EXPECT_EQ(0, (int)fam.hdrsize);

	/*
	 * Exactly the four request commands, each with a policy; all but
	 * GET_INFO are admin-only, in the initial user namespace
	 * (GENL_ADMIN_PERM).  KMIGRATE_CMD_EVENT is only sent: no operation.
	 */
	EXPECT_EQ(KMIGRATE_CMD_MAX - 1, fam.nops);
	for (i = 0; i < fam.nops; i++) {
		uint32_t opid = fam.ops[i].id, fl = fam.ops[i].flags;

		TH_LOG("op %u flags 0x%x", opid, fl);
		ASSERT_TRUE(opid >= KMIGRATE_CMD_GET_INFO && opid < KMIGRATE_CMD_EVENT) {
			TH_LOG("unexpected command %u", opid);
		}
		seen[opid] = true;
		EXPECT_TRUE(fl & GENL_CMD_CAP_HASPOL) {
			TH_LOG("command %u has no attribute policy", opid);
		}
		switch (opid) {
		case KMIGRATE_CMD_GET_INFO:
			EXPECT_TRUE(fl & GENL_CMD_CAP_DO);
			EXPECT_FALSE(fl & (GENL_ADMIN_PERM | GENL_UNS_ADMIN_PERM));
			break;
		case KMIGRATE_CMD_GET_SESSION:
			EXPECT_TRUE(fl & GENL_CMD_CAP_DUMP);
			EXPECT_TRUE(fl & GENL_ADMIN_PERM);
			EXPECT_FALSE(fl & GENL_UNS_ADMIN_PERM);
			break;
		case KMIGRATE_CMD_SET_CONFIG:
		case KMIGRATE_CMD_SET_SESSION:
			EXPECT_TRUE(fl & GENL_CMD_CAP_DO);
			EXPECT_TRUE(fl & GENL_ADMIN_PERM);
			EXPECT_FALSE(fl & GENL_UNS_ADMIN_PERM);
			break;
		}
	}
	/* The events group exists. */
	EXPECT_LE(0, genl_ctrl_resolve_grp(self->nl.sk, KMIGRATE_GENL_NAME,
					   KMIGRATE_MCGRP_EVENTS));
	for (i = KMIGRATE_CMD_GET_INFO; i < KMIGRATE_CMD_EVENT; i++) {
		EXPECT_TRUE(seen[i]) {
			TH_LOG("command %d missing", i);
		}
	}
}

/* ---- GET_INFO -------------------------------------------------------- */

TEST_F(genl, get_info)
{
	struct kmigrate_version v;
	struct kmt_info info;
	char sysver[128];
	int fd;

	GET_INFO(&info);
	EXPECT_TRUE(info.module_version_nul);
	EXPECT_LT(0, (int)strlen(info.module_version));
	EXPECT_EQ(KMIGRATE_ABI_VERSION, (int)info.abi_version);
	EXPECT_EQ(KMIGRATE_GENL_VERSION, (int)info.genl_version);
	EXPECT_EQ(KMIGRATE_FEATURES_ALL, info.features);
	EXPECT_EQ(0, (int)info.session_count);
	EXPECT_EQ(MAX_DEFAULT, (int)info.max_sessions);
	TH_LOG("module %s, default bandwidth %llu, reply cmd %u", info.module_version,
	       (unsigned long long)info.default_bandwidth, info.reply_cmd);

	/* The same module version as the character device reports. */
	fd = kmt_open(O_RDWR);
	ASSERT_LE(0, fd);
	memset(&v, 0, sizeof(v));
	ASSERT_EQ(0, kmt_ioctl(fd, KMIGRATE_GET_VERSION, &v));
	close(fd);
	v.module_version[sizeof(v.module_version) - 1] = '\0';
	EXPECT_STREQ(v.module_version, info.module_version);
	EXPECT_EQ(v.features, info.features);
	EXPECT_EQ(v.abi_version, info.abi_version);
	if (!kmt_read_file(KMT_SYSFS_MODULE "/version", sysver, sizeof(sysver))) {
		EXPECT_STREQ(sysver, info.module_version);
	}
}

TEST_F(genl, session_count_tracks_fds)
{
	struct kmt_info info;
	int k, err, dupfd;

	for (k = 1; k <= 5; k++) {
		ASSERT_EQ(k, hold(self, k, &err));
		GET_INFO(&info);
		EXPECT_EQ(k, (int)info.session_count);
	}
	/* dup() shares the open file: still one session per open(). */
	dupfd = dup(self->fds[0]);
	ASSERT_LE(0, dupfd);
	GET_INFO(&info);
	EXPECT_EQ(5, (int)info.session_count);
	close(dupfd);
	GET_INFO(&info);
	EXPECT_EQ(5, (int)info.session_count);

	for (k = 4; k >= 0; k--) {
		drop(self, 0);
		GET_INFO(&info);
		EXPECT_EQ(k, (int)info.session_count);
	}
}

TEST_F(genl, ebusy_open_takes_no_session)
{
	struct kmt_info info;
	int err, i;

	ASSERT_EQ(MAX_DEFAULT, hold(self, MAX_DEFAULT, &err));
	for (i = 0; i < 20; i++) {
		ASSERT_EQ(-EBUSY, kmt_open(O_RDWR));
	}
	GET_INFO(&info);
	EXPECT_EQ(MAX_DEFAULT, (int)info.session_count);
	DUMP();
	EXPECT_EQ(MAX_DEFAULT, self->d.n);
	kmt_close_all(self->fds, self->nfds);
	self->nfds = 0;
	GET_INFO(&info);
	EXPECT_EQ(0, (int)info.session_count);
}

/* ---- GET_SESSION ----------------------------------------------------- */

TEST_F(genl, dump_empty)
{
	DUMP();
	EXPECT_EQ(0, self->d.n);
}

TEST_F(genl, dump_lists_our_sessions)
{
	uint32_t before[3], gone = 0, newid;
	int i, j, err, found;

	ASSERT_EQ(3, hold(self, 3, &err));
	DUMP();
	ASSERT_EQ(3, self->d.n);
	EXPECT_TRUE(kmt_dump_ids_unique(&self->d));
	for (i = 0; i < 3; i++) {
		struct kmt_session *s = &self->d.s[i];

		EXPECT_EQ(KMT_SESSION_ALL, s->present & KMT_SESSION_ALL) {
			TH_LOG("session %d: attributes 0x%x", i, s->present);
		}
		EXPECT_EQ(0, (int)s->bad_len);
		EXPECT_EQ(getpid(), (pid_t)s->owner_pid);
		EXPECT_EQ(KMIGRATE_SESSION_IDLE, (int)s->state);
		EXPECT_EQ(self->default_bw, s->bandwidth);
		before[i] = s->id;
	}

	/* Close one: the other two stay, with their ids. */
	drop(self, 1);
	DUMP();
	ASSERT_EQ(2, self->d.n);
	found = 0;
	for (i = 0; i < 3; i++) {
		if (dump_has_id(&self->d, before[i]))
			found++;
		else
			gone = before[i];
	}
	EXPECT_EQ(2, found);

	/* A new one gets an id no live session has. */
	ASSERT_EQ(3, hold(self, 3, &err));
	DUMP();
	ASSERT_EQ(3, self->d.n);
	EXPECT_TRUE(kmt_dump_ids_unique(&self->d));
	newid = 0;
	for (j = 0; j < 3; j++) {
		bool old = false;

		for (i = 0; i < 3; i++)
			if (self->d.s[j].id == before[i] && before[i] != gone)
				old = true;
		if (!old)
			newid = self->d.s[j].id;
	}
	if (newid == gone)
		TH_LOG("note: id %u of a closed session was reused", gone);

	kmt_close_all(self->fds, self->nfds);
	self->nfds = 0;
	DUMP();
	EXPECT_EQ(0, self->d.n);
}

static void *thread_open(void *arg)
{
	int *fd = arg;

	*fd = kmt_open(O_RDWR);
	return NULL;
}

TEST_F(genl, dump_owner_is_creating_process)
{
	int go[2], done[2], fd = -1, status;
	pthread_t th;
	pid_t pid;
	char c;

	/* Opened by another thread: the owner is the thread group. */
	ASSERT_EQ(0, pthread_create(&th, NULL, thread_open, &fd));
	ASSERT_EQ(0, pthread_join(th, NULL));
	ASSERT_LE(0, fd);
	self->fds[self->nfds++] = fd;
	DUMP();
	ASSERT_EQ(1, self->d.n);
	EXPECT_EQ(getpid(), (pid_t)self->d.s[0].owner_pid);
	drop(self, 0);

	/* Opened by a child process: the child is the owner. */
	ASSERT_EQ(0, pipe(go));
	ASSERT_EQ(0, pipe(done));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int cfd = kmt_open(O_RDWR);

		c = cfd >= 0 ? 'y' : 'n';
		if (write(go[1], &c, 1) != 1)
			_exit(2);
		if (read(done[0], &c, 1) != 1)
			_exit(3);
		_exit(cfd >= 0 ? 0 : 1);
	}
	ASSERT_EQ(1, read(go[0], &c, 1));
	EXPECT_EQ('y', c);
	DUMP();
	EXPECT_EQ(1, self->d.n);
	if (self->d.n == 1) {
		EXPECT_EQ(pid, (pid_t)self->d.s[0].owner_pid);
	}
	ASSERT_EQ(1, write(done[1], "x", 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* Its exit ended the session. */
	DUMP();
	EXPECT_EQ(0, self->d.n);
}

TEST_F(genl, session_outlives_creator_fd_in_child)
{
	int go[2], status, err;
	struct kmt_info info;
	pid_t pid;
	char c;

	ASSERT_EQ(1, hold(self, 1, &err));
	ASSERT_EQ(0, pipe(go));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* The child holds the inherited file until the parent says. */
		close(go[1]);
		_exit(read(go[0], &c, 1) == 1 ? 0 : 1);
	}
	close(go[0]);
	/* The parent's close is not the last reference. */
	drop(self, 0);
	GET_INFO(&info);
	EXPECT_EQ(1, (int)info.session_count);
	DUMP();
	ASSERT_EQ(1, self->d.n);
	EXPECT_EQ(getpid(), (pid_t)self->d.s[0].owner_pid);

	ASSERT_EQ(1, write(go[1], "x", 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	GET_INFO(&info);
	EXPECT_EQ(0, (int)info.session_count);
	close(go[1]);
}

TEST_F_TIMEOUT(genl, dump_many_sessions_multipart, 120)
{
	struct kmt_cfg cfg = { .has_max = true, .max_sessions = LIMIT };
	struct kmt_info info;
	struct kmt_ack ack;
	int err, i;

	SET_CONFIG_OK(&cfg);
	ASSERT_EQ(LIMIT, hold(self, LIMIT, &err)) {
		TH_LOG("open #%d failed: %s", self->nfds + 1, strerror(-err));
	}
	EXPECT_EQ(-EBUSY, kmt_open(O_RDWR));
	GET_INFO(&info);
	EXPECT_EQ(LIMIT, (int)info.session_count);
	EXPECT_EQ(LIMIT, (int)info.max_sessions);

	/* ~70 bytes per entry: the dump needs several skbs (resumed dumpit). */
	err = kmt_dump_sessions(&self->nl, &self->d, &ack);
	ASSERT_EQ(0, err);
	ASSERT_EQ(0, self->d.no_nest);
	EXPECT_FALSE(ack.dump_intr);	/* nothing changed meanwhile */
	EXPECT_EQ(LIMIT, self->d.n);
	EXPECT_TRUE(kmt_dump_ids_unique(&self->d));
	EXPECT_EQ(LIMIT, kmt_dump_count_pid(&self->d, getpid()));
	EXPECT_EQ(self->d.n, self->d.multi);
	for (i = 0; i < self->d.n && i < self->d.max; i++) {
		EXPECT_EQ(KMIGRATE_SESSION_IDLE, (int)self->d.s[i].state);
		EXPECT_EQ(KMT_SESSION_ALL, self->d.s[i].present & KMT_SESSION_ALL);
	}

	/* Close every other one: exactly half remain, still unique. */
	for (i = LIMIT / 2 - 1; i >= 0; i--)
		drop(self, 2 * i);
	ASSERT_EQ(LIMIT / 2, self->nfds);
	DUMP();
	EXPECT_EQ(LIMIT / 2, self->d.n);
	EXPECT_TRUE(kmt_dump_ids_unique(&self->d));
	GET_INFO(&info);
	EXPECT_EQ(LIMIT / 2, (int)info.session_count);
}

#define CHURN_PROCS	4

/*
 * Dumps and GET_INFO while other processes open and close sessions: every
 * answer is well formed and consistent with at most max_sessions live
 * sessions owned by the churning processes.
 */
TEST_F_TIMEOUT(genl, dump_while_sessions_churn, 90)
{
	pid_t pids[CHURN_PROCS];
	struct kmt_info info;
	struct kmt_ack ack;
	int i, j, k, round, status, err, intr = 0, nmax = 0;

	for (i = 0; i < CHURN_PROCS; i++) {
		pids[i] = fork();
		ASSERT_LE(0, pids[i]);
		if (pids[i] == 0) {
			int f[MAX_DEFAULT / CHURN_PROCS];

			for (;;) {
				for (k = 0; k < (int)ARRAY_SIZE(f); k++) {
					f[k] = kmt_open(O_RDWR);
					if (f[k] < 0)
						_exit(10);
				}
				for (k = 0; k < (int)ARRAY_SIZE(f); k++)
					close(f[k]);
			}
		}
	}
	for (round = 0; round < 300; round++) {
		/* EXPECT and break, not ASSERT: the children must be reaped. */
		err = kmt_dump_sessions(&self->nl, &self->d, &ack);
		EXPECT_EQ(0, err) {
			TH_LOG("round %d: dump failed: %d (%s)", round, err, ack.msg);
		}
		EXPECT_EQ(0, self->d.no_nest);
		EXPECT_GE(self->d.max, self->d.n);
		if (!_metadata->passed)
			break;
		/*
		 * A dump in several parts may see sessions come and go between
		 * parts, but then it must say so (NLM_F_DUMP_INTR); a dump not
		 * flagged is a consistent picture.
		 */
		if (ack.dump_intr) {
			intr++;
		} else {
			EXPECT_GE(MAX_DEFAULT, self->d.n) {
				TH_LOG("round %d: %d sessions listed, dump not flagged NLM_F_DUMP_INTR",
				       round, self->d.n);
			}
			EXPECT_TRUE(kmt_dump_ids_unique(&self->d));
		}
		if (self->d.n > nmax)
			nmax = self->d.n;
		for (j = 0; j < self->d.n; j++) {
			const struct kmt_session *s = &self->d.s[j];
			bool ours = false;

			for (i = 0; i < CHURN_PROCS; i++)
				if ((pid_t)s->owner_pid == pids[i])
					ours = true;
			EXPECT_TRUE(ours) {
				TH_LOG("round %d: session %u owned by %u", round, s->id, s->owner_pid);
			}
			EXPECT_EQ(KMT_SESSION_ALL, s->present & KMT_SESSION_ALL);
			EXPECT_EQ(KMIGRATE_SESSION_IDLE, (int)s->state);
		}
		GET_INFO(&info);
		EXPECT_GE(MAX_DEFAULT, (int)info.session_count);
		if (!_metadata->passed)
			break;
	}
	TH_LOG("%d dumps, %d flagged NLM_F_DUMP_INTR, at most %d sessions listed",
	       round, intr, nmax);
	for (i = 0; i < CHURN_PROCS; i++) {
		kill(pids[i], SIGKILL);
		ASSERT_EQ(pids[i], waitpid(pids[i], &status, 0));
		/* Killed while looping: none hit EBUSY or an error. */
		EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
			TH_LOG("churn child %d: status 0x%x", i, status);
		}
	}
	GET_INFO(&info);
	EXPECT_EQ(0, (int)info.session_count);
	DUMP();
	EXPECT_EQ(0, self->d.n);
}

/* ---- SET_CONFIG ------------------------------------------------------ */

TEST_F(genl, set_max_sessions_enforced)
{
	struct kmt_cfg cfg = { .has_max = true };
	struct kmigrate_features f;
	struct kmt_info info;
	int err, i;

	cfg.max_sessions = 3;
	SET_CONFIG_OK(&cfg);
	GET_INFO(&info);
	EXPECT_EQ(3, (int)info.max_sessions);
	ASSERT_EQ(3, hold(self, 3, &err));
	EXPECT_EQ(-EBUSY, kmt_open(O_RDWR));

	/* Raising it admits more. */
	cfg.max_sessions = 5;
	SET_CONFIG_OK(&cfg);
	EXPECT_EQ(5, hold(self, 5, &err));
	EXPECT_EQ(-EBUSY, kmt_open(O_RDWR));

	/* Lowering it below the count refuses new sessions only. */
	cfg.max_sessions = 2;
	SET_CONFIG_OK(&cfg);
	GET_INFO(&info);
	EXPECT_EQ(2, (int)info.max_sessions);
	EXPECT_EQ(5, (int)info.session_count);
	for (i = 0; i < self->nfds; i++) {
		memset(&f, 0xff, sizeof(f));
		EXPECT_EQ(0, kmt_ioctl(self->fds[i], KMIGRATE_GET_FEATURES, &f));
	}
	EXPECT_EQ(-EBUSY, kmt_open(O_RDWR));
	drop(self, 0);
	drop(self, 0);
	drop(self, 0);
	EXPECT_EQ(-EBUSY, kmt_open(O_RDWR));	/* 2 held, max 2 */
	drop(self, 0);
	EXPECT_EQ(2, hold(self, 2, &err));	/* 1 held: one more fits */
	EXPECT_EQ(-EBUSY, kmt_open(O_RDWR));

	/* Both ends of the range are accepted. */
	cfg.max_sessions = 1;
	SET_CONFIG_OK(&cfg);
	GET_INFO(&info);
	EXPECT_EQ(1, (int)info.max_sessions);
	cfg.max_sessions = LIMIT;
	SET_CONFIG_OK(&cfg);
	GET_INFO(&info);
	EXPECT_EQ(LIMIT, (int)info.max_sessions);
}

TEST_F(genl, set_default_bandwidth_new_sessions)
{
	struct kmt_cfg cfg = { .has_bw = true };
	uint64_t bw[] = { 1000000, UINT64_MAX, 0, 125000000 };
	uint32_t old_id;
	struct kmt_info info;
	int err, i, j;

	/* Session 0 predates every change. */
	ASSERT_EQ(1, hold(self, 1, &err));
	DUMP();
	ASSERT_EQ(1, self->d.n);
	old_id = self->d.s[0].id;
	EXPECT_EQ(self->default_bw, self->d.s[0].bandwidth);

	for (i = 0; i < (int)ARRAY_SIZE(bw); i++) {
		cfg.default_bandwidth = bw[i];
		SET_CONFIG_OK(&cfg);
		GET_INFO(&info);
		EXPECT_EQ(bw[i], info.default_bandwidth);
		EXPECT_EQ(MAX_DEFAULT, (int)info.max_sessions);
		ASSERT_EQ(i + 2, hold(self, i + 2, &err));
		DUMP();
		ASSERT_EQ(i + 2, self->d.n);
		for (j = 0; j < self->d.n; j++) {
			/* Sessions keep the cap they were given. */
			if (self->d.s[j].id == old_id) {
				EXPECT_EQ(self->default_bw, self->d.s[j].bandwidth);
			}
		}
	}
	/* Every cap handed out is there, each once. */
	for (i = 0; i < (int)ARRAY_SIZE(bw); i++) {
		int n = 0;

		for (j = 0; j < self->d.n; j++)
			if (self->d.s[j].id != old_id && self->d.s[j].bandwidth == bw[i])
				n++;
		EXPECT_EQ(1, n) {
			TH_LOG("sessions with bandwidth %llu: %d",
			       (unsigned long long)bw[i], n);
		}
	}
}

TEST_F(genl, reset_flag_restores_limits_not_given)
{
	struct kmt_cfg cfg;
	struct kmt_info info;
	uint64_t other = self->default_bw + 12345;

	cfg = (struct kmt_cfg){ .has_max = true, .max_sessions = 7,
				.has_bw = true, .default_bandwidth = other };
	SET_CONFIG_OK(&cfg);
	GET_INFO(&info);
	ASSERT_EQ(7, (int)info.max_sessions);
	ASSERT_EQ(other, info.default_bandwidth);

	/* Bandwidth given, max_sessions not: max goes back to its default. */
	cfg = (struct kmt_cfg){ .has_bw = true, .default_bandwidth = 555,
				.has_flags = true, .flags = KMIGRATE_CONFIG_F_RESET };
	SET_CONFIG_OK(&cfg);
	GET_INFO(&info);
	EXPECT_EQ(MAX_DEFAULT, (int)info.max_sessions);
	EXPECT_EQ(555, info.default_bandwidth);

	/* max_sessions given, bandwidth not: bandwidth goes back. */
	cfg = (struct kmt_cfg){ .has_max = true, .max_sessions = 9,
				.has_flags = true, .flags = KMIGRATE_CONFIG_F_RESET };
	SET_CONFIG_OK(&cfg);
	GET_INFO(&info);
	EXPECT_EQ(9, (int)info.max_sessions);
	EXPECT_EQ(self->default_bw, info.default_bandwidth);

	/* Both given: RESET changes nothing else. */
	cfg = (struct kmt_cfg){ .has_max = true, .max_sessions = 11,
				.has_bw = true, .default_bandwidth = other,
				.has_flags = true, .flags = KMIGRATE_CONFIG_F_RESET };
	SET_CONFIG_OK(&cfg);
	GET_INFO(&info);
	EXPECT_EQ(11, (int)info.max_sessions);
	EXPECT_EQ(other, info.default_bandwidth);

	/* Without RESET, a limit not given is left alone. */
	cfg = (struct kmt_cfg){ .has_max = true, .max_sessions = 12 };
	SET_CONFIG_OK(&cfg);
	GET_INFO(&info);
	EXPECT_EQ(12, (int)info.max_sessions);
	EXPECT_EQ(other, info.default_bandwidth);
}

/*
 * FLAGS=RESET with no limit: uapi says "at least one limit must be given",
 * while RESET "restores every limit not given".  Either reading is
 * accepted, but it must be one of them, completely.
 */
TEST_F(genl, reset_flag_alone)
{
	struct kmt_cfg cfg = { .has_max = true, .max_sessions = 5,
			       .has_bw = true, .default_bandwidth = 4242 };
	struct kmt_info info;
	struct kmt_ack ack;
	int err;

	SET_CONFIG_OK(&cfg);
	cfg = (struct kmt_cfg){ .has_flags = true, .flags = KMIGRATE_CONFIG_F_RESET };
	err = kmt_set_config(&self->nl, &cfg, &ack);
	GET_INFO(&info);
	if (err == 0) {
		TH_LOG("FLAGS=RESET alone accepted: restores every limit");
		EXPECT_EQ(MAX_DEFAULT, (int)info.max_sessions);
		EXPECT_EQ(self->default_bw, info.default_bandwidth);
	} else {
		TH_LOG("FLAGS=RESET alone refused: %d (%s)", err, ack.msg);
		EXPECT_EQ(-EINVAL, err);
		EXPECT_EQ(5, (int)info.max_sessions);
		EXPECT_EQ(4242, info.default_bandwidth);
	}
}

TEST_F(genl, set_config_nothing_given_einval)
{
	struct kmt_cfg empty = { 0 };
	struct kmt_cfg flags0 = { .has_flags = true, .flags = 0 };
	struct kmt_info info;

	EXPECT_EQ(-EINVAL, kmt_set_config(&self->nl, &empty, NULL));
	EXPECT_EQ(-EINVAL, kmt_set_config(&self->nl, &flags0, NULL));
	GET_INFO(&info);
	EXPECT_EQ(MAX_DEFAULT, (int)info.max_sessions);
	EXPECT_EQ(self->default_bw, info.default_bandwidth);
}

TEST_F(genl, set_config_max_out_of_range_einval)
{
	static const uint32_t bad[] = { 0, LIMIT + 1, 1000, 0x80000000u, 0xffffffffu };
	struct kmt_cfg cfg;
	struct kmt_info info;
	struct kmt_ack ack;
	int i;

	for (i = 0; i < (int)ARRAY_SIZE(bad); i++) {
		cfg = (struct kmt_cfg){ .has_max = true, .max_sessions = bad[i] };
		EXPECT_EQ(-EINVAL, kmt_set_config(&self->nl, &cfg, &ack)) {
			TH_LOG("max_sessions %u (extack \"%s\")", bad[i], ack.msg);
		}
		/* A refused request changes nothing, not even its valid part. */
		cfg.has_bw = true;
		cfg.default_bandwidth = self->default_bw + 777;
		EXPECT_EQ(-EINVAL, kmt_set_config(&self->nl, &cfg, &ack)) {
			TH_LOG("max_sessions %u with bandwidth (extack \"%s\")", bad[i], ack.msg);
		}
		GET_INFO(&info);
		EXPECT_EQ(MAX_DEFAULT, (int)info.max_sessions);
		EXPECT_EQ(self->default_bw, info.default_bandwidth);
	}
}

TEST_F(genl, set_config_unknown_flags_eopnotsupp)
{
	static const uint32_t bad[] = {
		1u << 1, 1u << 2, 1u << 31, ~KMIGRATE_CONFIG_F_ALL, 0xffffffffu,
	};
	struct kmt_cfg cfg;
	struct kmt_info info;
	int i;

	for (i = 0; i < (int)ARRAY_SIZE(bad); i++) {
		cfg = (struct kmt_cfg){ .has_max = true, .max_sessions = 5,
					.has_bw = true,
					.default_bandwidth = self->default_bw + 99,
					.has_flags = true, .flags = bad[i] };
		EXPECT_EQ(-EOPNOTSUPP, kmt_set_config(&self->nl, &cfg, NULL)) {
			TH_LOG("flags 0x%x", bad[i]);
		}
		GET_INFO(&info);
		EXPECT_EQ(MAX_DEFAULT, (int)info.max_sessions);
		EXPECT_EQ(self->default_bw, info.default_bandwidth);
	}
}

/* ---- strict attribute validation ------------------------------------ */

struct raw_attr {
	int type;
	int len;		/* bytes of val (little endian) to put */
	uint64_t val;
	const char *str;	/* string attribute instead (with NUL) */
	bool nest;		/* a nest {KMIGRATE_SESSION_A_ID} instead */
};

struct raw_req {
	const char *name;
	uint8_t cmd;
	bool dump;
	struct raw_attr a[3];
	int na;
	bool trailing;		/* append a truncated attribute header */
};

/* Build and send; returns the kernel's error. */
static int send_raw(struct kmt_nl *nl, const struct raw_req *r, struct kmt_ack *ack)
{
	struct nl_msg *msg = kmt_msg_new(nl, r->cmd, r->dump ? NLM_F_DUMP : 0);
	int i;

	if (!msg)
		return KMT_ETRANSPORT;
	for (i = 0; i < r->na; i++) {
		const struct raw_attr *a = &r->a[i];
		int e;

		if (a->str) {
			e = nla_put_string(msg, a->type, a->str);
		} else if (a->nest) {
			/* Not empty: libnl drops empty nests from the message. */
			struct nlattr *n = nla_nest_start(msg, a->type);

			e = n ? nla_put_u32(msg, KMIGRATE_SESSION_A_ID, 1) : -1;
			if (!e)
				e = nla_nest_end(msg, n);
		} else {
			e = nla_put(msg, a->type, a->len, &a->val);
		}
		if (e < 0) {
			nlmsg_free(msg);
			return KMT_ETRANSPORT;
		}
	}
	if (r->trailing) {
		/* nla_len 2 < NLA_HDRLEN: not an attribute, trailing bytes. */
		static const uint8_t junk[4] = { 2, 0, KMIGRATE_A_MAX_SESSIONS, 0 };

		if (nlmsg_append(msg, (void *)junk, sizeof(junk), NLMSG_ALIGNTO)) {
			nlmsg_free(msg);
			return KMT_ETRANSPORT;
		}
	}
	return kmt_nl_xfer(nl, msg, NULL, NULL, ack);
}

#define U32(t, v)	{ .type = (t), .len = 4, .val = (v) }
#define U64(t, v)	{ .type = (t), .len = 8, .val = (v) }
#define UN(t, n, v)	{ .type = (t), .len = (n), .val = (v) }
#define GOOD_MAX	U32(KMIGRATE_A_MAX_SESSIONS, 5)

static const struct raw_req strict_cases[] = {
	/* Attribute types the family does not know. */
	{ "GET_INFO + type MAX+1", KMIGRATE_CMD_GET_INFO, false,
	  { U32(KMIGRATE_A_MAX + 1, 1) }, 1, false },
	{ "GET_INFO + type 0x3fff", KMIGRATE_CMD_GET_INFO, false,
	  { U32(0x3fff, 1) }, 1, false },
	{ "GET_SESSION dump + type MAX+1", KMIGRATE_CMD_GET_SESSION, true,
	  { U32(KMIGRATE_A_MAX + 1, 1) }, 1, false },
	{ "SET_CONFIG + type MAX+1", KMIGRATE_CMD_SET_CONFIG, false,
	  { GOOD_MAX, U32(KMIGRATE_A_MAX + 1, 1) }, 2, false },
	{ "SET_CONFIG + type 200", KMIGRATE_CMD_SET_CONFIG, false,
	  { GOOD_MAX, U64(200, 1) }, 2, false },
	{ "SET_CONFIG + type 0 (UNSPEC)", KMIGRATE_CMD_SET_CONFIG, false,
	  { GOOD_MAX, U32(KMIGRATE_A_UNSPEC, 1) }, 2, false },
	/* Known attributes outside the command's policy. */
	{ "GET_INFO + MAX_SESSIONS", KMIGRATE_CMD_GET_INFO, false,
	  { U32(KMIGRATE_A_MAX_SESSIONS, 5) }, 1, false },
	{ "GET_INFO + FLAGS", KMIGRATE_CMD_GET_INFO, false,
	  { U32(KMIGRATE_A_FLAGS, 0) }, 1, false },
	{ "GET_INFO + DEFAULT_BANDWIDTH", KMIGRATE_CMD_GET_INFO, false,
	  { U64(KMIGRATE_A_DEFAULT_BANDWIDTH, 1) }, 1, false },
	{ "GET_INFO + MODULE_VERSION", KMIGRATE_CMD_GET_INFO, false,
	  { { .type = KMIGRATE_A_MODULE_VERSION, .str = "x" } }, 1, false },
	{ "GET_SESSION dump + MAX_SESSIONS", KMIGRATE_CMD_GET_SESSION, true,
	  { U32(KMIGRATE_A_MAX_SESSIONS, 5) }, 1, false },
	{ "GET_SESSION dump + SESSION_COUNT", KMIGRATE_CMD_GET_SESSION, true,
	  { U32(KMIGRATE_A_SESSION_COUNT, 0) }, 1, false },
	{ "SET_CONFIG + SESSION_COUNT", KMIGRATE_CMD_SET_CONFIG, false,
	  { GOOD_MAX, U32(KMIGRATE_A_SESSION_COUNT, 1) }, 2, false },
	{ "SET_CONFIG + ABI_VERSION", KMIGRATE_CMD_SET_CONFIG, false,
	  { GOOD_MAX, U32(KMIGRATE_A_ABI_VERSION, KMIGRATE_ABI_VERSION) }, 2, false },
	{ "SET_CONFIG + GENL_VERSION", KMIGRATE_CMD_SET_CONFIG, false,
	  { GOOD_MAX, U32(KMIGRATE_A_GENL_VERSION, KMIGRATE_GENL_VERSION) }, 2, false },
	{ "SET_CONFIG + FEATURES", KMIGRATE_CMD_SET_CONFIG, false,
	  { GOOD_MAX, U64(KMIGRATE_A_FEATURES, 0) }, 2, false },
	{ "SET_CONFIG + MODULE_VERSION", KMIGRATE_CMD_SET_CONFIG, false,
	  { GOOD_MAX, { .type = KMIGRATE_A_MODULE_VERSION, .str = "x" } }, 2, false },
	{ "SET_CONFIG + SESSION nest", KMIGRATE_CMD_SET_CONFIG, false,
	  { GOOD_MAX, { .type = KMIGRATE_A_SESSION, .nest = true } }, 2, false },
	{ "SET_CONFIG + PAD", KMIGRATE_CMD_SET_CONFIG, false,
	  { GOOD_MAX, U32(KMIGRATE_A_PAD, 0) }, 2, false },
	/* Wrong sizes. */
	{ "SET_CONFIG MAX_SESSIONS as u8", KMIGRATE_CMD_SET_CONFIG, false,
	  { UN(KMIGRATE_A_MAX_SESSIONS, 1, 5) }, 1, false },
	{ "SET_CONFIG MAX_SESSIONS as u16", KMIGRATE_CMD_SET_CONFIG, false,
	  { UN(KMIGRATE_A_MAX_SESSIONS, 2, 5) }, 1, false },
	{ "SET_CONFIG MAX_SESSIONS as u64", KMIGRATE_CMD_SET_CONFIG, false,
	  { UN(KMIGRATE_A_MAX_SESSIONS, 8, 5) }, 1, false },
	{ "SET_CONFIG MAX_SESSIONS empty", KMIGRATE_CMD_SET_CONFIG, false,
	  { UN(KMIGRATE_A_MAX_SESSIONS, 0, 0) }, 1, false },
	{ "SET_CONFIG DEFAULT_BANDWIDTH as u32", KMIGRATE_CMD_SET_CONFIG, false,
	  { UN(KMIGRATE_A_DEFAULT_BANDWIDTH, 4, 1000) }, 1, false },
	{ "SET_CONFIG FLAGS as u64", KMIGRATE_CMD_SET_CONFIG, false,
	  { GOOD_MAX, UN(KMIGRATE_A_DEFAULT_BANDWIDTH, 8, 1000), UN(KMIGRATE_A_FLAGS, 8, 0) }, 3, false },
	{ "SET_CONFIG FLAGS as u8", KMIGRATE_CMD_SET_CONFIG, false,
	  { GOOD_MAX, UN(KMIGRATE_A_FLAGS, 1, 0) }, 2, false },
	/* Malformed: bytes that are not an attribute. */
	{ "SET_CONFIG + trailing junk", KMIGRATE_CMD_SET_CONFIG, false,
	  { GOOD_MAX }, 1, true },
	{ "GET_INFO + trailing junk", KMIGRATE_CMD_GET_INFO, false,
	  { { 0 } }, 0, true },
};

TEST_F(genl, strict_validation_einval)
{
	struct kmt_info info;
	struct kmt_ack ack;
	int i, err;

	for (i = 0; i < (int)ARRAY_SIZE(strict_cases); i++) {
		const struct raw_req *r = &strict_cases[i];

		err = send_raw(&self->nl, r, &ack);
		EXPECT_EQ(-EINVAL, err) {
			TH_LOG("%s: got %d, want -EINVAL", r->name, err);
		}
		if (err == -EINVAL) {
			/* ... with an extended ack saying why. */
			EXPECT_TRUE(ack.has_msg || ack.has_offs) {
				TH_LOG("%s: -EINVAL without extended ack", r->name);
			}
			TH_LOG("%s: %s (offs %s%u)", r->name,
			       ack.has_msg ? ack.msg : "-",
			       ack.has_offs ? "" : "none ", ack.offs);
		}
	}
	/* None of the refused SET_CONFIGs was applied. */
	GET_INFO(&info);
	EXPECT_EQ(MAX_DEFAULT, (int)info.max_sessions);
	EXPECT_EQ(self->default_bw, info.default_bandwidth);
	/* The socket still works after all that. */
	DUMP();
	EXPECT_EQ(0, self->d.n);
}

TEST_F(genl, unknown_command_eopnotsupp)
{
	static const uint8_t cmds[] = {
		KMIGRATE_CMD_UNSPEC, KMIGRATE_CMD_MAX + 1, KMIGRATE_CMD_MAX + 2, 0x7f, 0xff,
	};
	struct kmt_ack ack;
	int i, err;

	for (i = 0; i < (int)ARRAY_SIZE(cmds); i++) {
		err = kmt_nl_xfer(&self->nl, kmt_msg_new(&self->nl, cmds[i], 0),
				  NULL, NULL, &ack);
		EXPECT_EQ(-EOPNOTSUPP, err) {
			TH_LOG("command %u: %d", cmds[i], err);
		}
		err = kmt_nl_xfer(&self->nl, kmt_msg_new(&self->nl, cmds[i], NLM_F_DUMP),
				  NULL, NULL, &ack);
		EXPECT_EQ(-EOPNOTSUPP, err) {
			TH_LOG("command %u (dump): %d", cmds[i], err);
		}
	}
}

/* ---- permissions ----------------------------------------------------- */

enum {
	CHILD_OK, CHILD_DROP, CHILD_NLOPEN, CHILD_GETINFO, CHILD_SET_NOT_EPERM,
	CHILD_RESET_NOT_EPERM, CHILD_SET_FAILED, CHILD_DUMP, CHILD_JOIN,
};

/*
 * Join the events group on a fresh socket: 0, -EPERM when the kernel
 * refuses the membership, -EIO for any other failure.
 */
static int join_events(void)
{
	struct nl_sock *sk = nl_socket_alloc();
	int err, grp = 0;

	if (!sk)
		return -EIO;
	err = genl_connect(sk);
	if (!err)
		err = grp = genl_ctrl_resolve_grp(sk, KMIGRATE_GENL_NAME,
						  KMIGRATE_MCGRP_EVENTS);
	if (err >= 0)
		err = nl_socket_add_membership(sk, grp);
	nl_socket_free(sk);
	if (err == -NLE_PERM)
		return -EPERM;
	return err < 0 ? -EIO : 0;
}

/*
 * The session dump and the events group: refused with -EPERM without
 * CAP_NET_ADMIN (they name VMs' processes), given with it.  A session of
 * the parent (the test's own, opened before the fork) is there to list.
 */
static int check_dump_and_events(struct kmt_nl *nl, bool expect_eperm)
{
	struct kmt_session s[8];
	struct kmt_dump d = { .s = s, .max = 8 };
	int err;

	err = kmt_dump_sessions(nl, &d, NULL);
	if (expect_eperm ? (err != -EPERM || d.n) : (err || d.n < 1)) {
		fprintf(stderr, "# child: GET_SESSION dump: %d with %d sessions, want %s\n",
			err, d.n, expect_eperm ? "-EPERM and none" : "0 and at least one");
		return CHILD_DUMP;
	}
	err = join_events();
	if (err != (expect_eperm ? -EPERM : 0)) {
		fprintf(stderr, "# child: joining the events group: %d, want %d\n",
			err, expect_eperm ? -EPERM : 0);
		return CHILD_JOIN;
	}
	return CHILD_OK;
}

static int check_readonly_then_set(bool expect_eperm)
{
	struct kmt_cfg cfg = { .has_max = true, .max_sessions = 6 };
	struct kmt_cfg reset = { .has_max = true, .max_sessions = MAX_DEFAULT,
				 .has_flags = true, .flags = KMIGRATE_CONFIG_F_RESET };
	struct kmt_info info;
	struct kmt_nl nl;
	int err;

	/* The socket is opened with the reduced credentials. */
	err = kmt_nl_open(&nl);
	if (err) {
		fprintf(stderr, "# child: kmt_nl_open: %d\n", err);
		return CHILD_NLOPEN;
	}
	err = kmt_get_info(&nl, &info, NULL);
	if (err || (info.present & KMT_INFO_ALL) != KMT_INFO_ALL) {
		fprintf(stderr, "# child: GET_INFO: %d, attributes 0x%x\n", err, info.present);
		return CHILD_GETINFO;
	}
	err = check_dump_and_events(&nl, expect_eperm);
	if (err)
		return err;
	err = kmt_set_config(&nl, &cfg, NULL);
	if (expect_eperm) {
		if (err != -EPERM) {
			fprintf(stderr, "# child: SET_CONFIG: %d, want -EPERM\n", err);
			return CHILD_SET_NOT_EPERM;
		}
		err = kmt_set_config(&nl, &reset, NULL);
		if (err != -EPERM) {
			fprintf(stderr, "# child: SET_CONFIG reset: %d, want -EPERM\n", err);
			return CHILD_RESET_NOT_EPERM;
		}
	} else if (err) {
		fprintf(stderr, "# child: SET_CONFIG: %d, want 0\n", err);
		return CHILD_SET_FAILED;
	}
	kmt_nl_close(&nl);
	return CHILD_OK;
}

static int child_nobody(void *arg)
{
	(void)arg;
	if (kmt_become_nobody())
		return CHILD_DROP;
	return check_readonly_then_set(true);
}

static int child_root_without_net_admin(void *arg)
{
	(void)arg;
	if (kmt_caps_drop(CAP_NET_ADMIN))
		return CHILD_DROP;
	return check_readonly_then_set(true);
}

static int child_only_net_admin_caps(void *arg)
{
	(void)arg;
	if (kmt_caps_keep_only(1ULL << CAP_NET_ADMIN))
		return CHILD_DROP;
	return check_readonly_then_set(false);
}

/*
 * Each child runs while this process holds a session, so a dump that is
 * given has something to list and one that is refused hides something.
 */
TEST_F(genl, unprivileged_set_config_eperm)
{
	struct kmt_info info;
	int fd = kmt_open(O_RDWR);

	ASSERT_LE(0, fd);
	EXPECT_EQ(CHILD_OK, kmt_run_child(child_nobody, NULL));
	close(fd);
	GET_INFO(&info);
	EXPECT_EQ(MAX_DEFAULT, (int)info.max_sessions);
	EXPECT_EQ(self->default_bw, info.default_bandwidth);
}

TEST_F(genl, root_without_cap_net_admin_eperm)
{
	struct kmt_info info;
	int fd = kmt_open(O_RDWR);

	ASSERT_LE(0, fd);
	EXPECT_EQ(CHILD_OK, kmt_run_child(child_root_without_net_admin, NULL));
	close(fd);
	GET_INFO(&info);
	EXPECT_EQ(MAX_DEFAULT, (int)info.max_sessions);
}

TEST_F(genl, cap_net_admin_suffices)
{
	struct kmt_info info;
	int fd = kmt_open(O_RDWR);

	ASSERT_LE(0, fd);
	EXPECT_EQ(CHILD_OK, kmt_run_child(child_only_net_admin_caps, NULL));
	close(fd);
	GET_INFO(&info);
	EXPECT_EQ(6, (int)info.max_sessions);
}

/* ---- session counters, SET_SESSION and events ------------------------ */

#define SA(x)		(1u << KMIGRATE_SESSION_A_##x)
/* What a session with a VM adds to the dump (KMT_SESSION_ALL). */
#define VM_ATTRS	(SA(VM_PID) | SA(ROUND) | SA(ROUNDS) | SA(PAGES_HARVESTED) | \
			 SA(PAGES_SENT) | SA(ZERO_PAGES) | SA(BYTES_SENT) | \
			 SA(HARVEST_NS) | SA(SEND_NS) | SA(SEND_STALLS) | SA(ERROR) | \
			 SA(NR_VCPUS) | SA(MEM_BYTES))
#define U32_ATTRS	(SA(ID) | SA(OWNER_PID) | SA(STATE) | SA(VM_PID) | SA(ROUND) | \
			 SA(ROUNDS) | SA(ERROR) | SA(NR_VCPUS))

/* One KMIGRATE_A_SESSION nest with every attribute the header defines. */
struct full_sess {
	unsigned int present;	/* SA() bits seen (PAD excluded) */
	unsigned int bad_len;	/* SA() bits with the wrong size */
	uint64_t v[KMIGRATE_SESSION_A_MAX + 1];
};

static void parse_full(struct nlattr *nest, struct full_sess *f)
{
	struct nlattr *stb[KMIGRATE_SESSION_A_MAX + 1];
	int t;

	memset(f, 0, sizeof(*f));
	if (!nest || nla_parse_nested(stb, KMIGRATE_SESSION_A_MAX, nest, NULL)) {
		f->bad_len = ~0u;
		return;
	}
	for (t = 1; t <= KMIGRATE_SESSION_A_MAX; t++) {
		int want = (U32_ATTRS & (1u << t)) ? 4 : 8;

		if (!stb[t] || t == KMIGRATE_SESSION_A_PAD)
			continue;
		f->present |= 1u << t;
		if (nla_len(stb[t]) != want) {
			f->bad_len |= 1u << t;
			continue;
		}
		f->v[t] = want == 4 ? nla_get_u32(stb[t]) : nla_get_u64(stb[t]);
	}
}

struct full_dump {
	struct full_sess s[8];
	int n;
};

static int full_dump_cb(struct nlmsghdr *nlh, struct nlattr **tb, void *arg)
{
	struct full_dump *d = arg;

	(void)nlh;
	if (d->n < (int)ARRAY_SIZE(d->s))
		parse_full(tb[KMIGRATE_A_SESSION], &d->s[d->n]);
	d->n++;
	return 0;
}

static int dump_full(struct kmt_nl *nl, struct full_dump *d)
{
	memset(d, 0, sizeof(*d));
	return kmt_nl_xfer(nl, kmt_msg_new(nl, KMIGRATE_CMD_GET_SESSION, NLM_F_DUMP),
			   full_dump_cb, d, NULL);
}

/* The dump entry of session @id, or NULL. */
static const struct full_sess *find_full(const struct full_dump *d, uint32_t id)
{
	int i;

	for (i = 0; i < d->n && i < (int)ARRAY_SIZE(d->s); i++)
		if ((d->s[i].present & SA(ID)) && d->s[i].v[KMIGRATE_SESSION_A_ID] == id)
			return &d->s[i];
	return NULL;
}

/* The id of the one session there is (the test's own). */
static int only_session_id(struct kmt_nl *nl, uint32_t *id)
{
	struct full_dump d;
	int err = dump_full(nl, &d);

	if (err)
		return err;
	if (d.n != 1 || !(d.s[0].present & SA(ID)))
		return -ENODATA;
	*id = (uint32_t)d.s[0].v[KMIGRATE_SESSION_A_ID];
	return 0;
}

/* SET_SESSION; each of @id, @bw is left out when its has_ flag is false. */
static int set_session(struct kmt_nl *nl, bool has_id, uint32_t id, bool has_bw,
		       uint64_t bw, struct kmt_ack *ack)
{
	struct nl_msg *msg = kmt_msg_new(nl, KMIGRATE_CMD_SET_SESSION, 0);
	struct nlattr *n;

	if (!msg)
		return KMT_ETRANSPORT;
	n = nla_nest_start(msg, KMIGRATE_A_SESSION);
	if (!n || (has_id && nla_put_u32(msg, KMIGRATE_SESSION_A_ID, id)) ||
	    (has_bw && nla_put_u64(msg, KMIGRATE_SESSION_A_BANDWIDTH, bw)) ||
	    nla_nest_end(msg, n) < 0) {
		nlmsg_free(msg);
		return KMT_ETRANSPORT;
	}
	return kmt_nl_xfer(nl, msg, NULL, NULL, ack);
}

/* A socket in the events group. */
struct ev_sock {
	struct nl_sock *sk;
	int family;
};

static int ev_open(struct ev_sock *e)
{
	int grp, err;

	e->sk = nl_socket_alloc();
	if (!e->sk)
		return -ENOMEM;
	err = genl_connect(e->sk);
	if (!err)
		err = e->family = genl_ctrl_resolve(e->sk, KMIGRATE_GENL_NAME);
	if (err >= 0)
		err = grp = genl_ctrl_resolve_grp(e->sk, KMIGRATE_GENL_NAME,
						  KMIGRATE_MCGRP_EVENTS);
	if (err >= 0)
		err = nl_socket_add_membership(e->sk, grp);
	if (err < 0) {
		nl_socket_free(e->sk);
		e->sk = NULL;
		return -EIO;
	}
	return 0;
}

static void ev_close(struct ev_sock *e)
{
	nl_socket_free(e->sk);
	e->sk = NULL;
}

struct ev {
	uint8_t cmd;
	uint32_t event;
	struct full_sess s;
};

/*
 * Waits up to @ms for the next kmigrate event whose session is @id (others,
 * from sessions of other tests, are skipped).  0, or -ETIMEDOUT.
 */
static int ev_next(struct ev_sock *e, uint32_t id, int ms, struct ev *out)
{
	static char buf[16384];
	struct pollfd pfd = { .fd = nl_socket_get_fd(e->sk), .events = POLLIN };

	for (;;) {
		struct nlmsghdr *nlh;
		ssize_t len;
		int rem;

		if (poll(&pfd, 1, ms) <= 0)
			return -ETIMEDOUT;
		len = recv(pfd.fd, buf, sizeof(buf), 0);
		if (len < 0)
			return -errno;
		rem = (int)len;
		for (nlh = (struct nlmsghdr *)buf; nlmsg_ok(nlh, rem);
		     nlh = nlmsg_next(nlh, &rem)) {
			struct nlattr *tb[KMIGRATE_A_MAX + 1];
			struct genlmsghdr *gh = nlmsg_data(nlh);

			if (nlh->nlmsg_type != e->family ||
			    nlh->nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN)
				continue;
			if (nla_parse(tb, KMIGRATE_A_MAX, genlmsg_attrdata(gh, 0),
				      genlmsg_attrlen(gh, 0), NULL))
				continue;
			memset(out, 0, sizeof(*out));
			out->cmd = gh->cmd;
			if (tb[KMIGRATE_A_EVENT] && nla_len(tb[KMIGRATE_A_EVENT]) == 4)
				out->event = nla_get_u32(tb[KMIGRATE_A_EVENT]);
			parse_full(tb[KMIGRATE_A_SESSION], &out->s);
			if (out->s.v[KMIGRATE_SESSION_A_ID] == id)
				return 0;
		}
	}
}

TEST_F(genl, dump_idle_session_has_no_vm_counters)
{
	struct full_dump d;
	int err;

	ASSERT_EQ(1, hold(self, 1, &err));
	ASSERT_EQ(0, dump_full(&self->nl, &d));
	ASSERT_EQ(1, d.n);
	/* Exactly id, owner, state and cap: no VM, no counters. */
	EXPECT_EQ(KMT_SESSION_ALL, d.s[0].present) {
		TH_LOG("attributes 0x%x", d.s[0].present);
	}
	EXPECT_EQ(0, (int)d.s[0].bad_len);
	EXPECT_EQ(KMIGRATE_SESSION_IDLE, (int)d.s[0].v[KMIGRATE_SESSION_A_STATE]);
}

/* A KVM VM with one vCPU and one 1 MiB memory slot; -1 without KVM. */
static int make_vm(void **mem)
{
	struct kvm_userspace_memory_region r = { 0 };
	int kvm, vm;

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return -1;
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	close(kvm);
	if (vm < 0)
		return -1;
	*mem = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	r.memory_size = 1 << 20;
	r.userspace_addr = (uintptr_t)*mem;
	if (*mem == MAP_FAILED || ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r) ||
	    ioctl(vm, KVM_CREATE_VCPU, 0) < 0) {
		close(vm);
		return -1;
	}
	return vm;
}

TEST_F(genl, dump_and_event_of_attached_vm)
{
	struct kmigrate_attach at = { 0 };
	const struct full_sess *f;
	struct full_dump d;
	struct ev_sock es;
	struct ev ev;
	uint32_t id;
	void *mem;
	int err, t;

	at.vm_fd = make_vm(&mem);
	if (at.vm_fd < 0)
		SKIP(return, "no usable /dev/kvm");
	ASSERT_EQ(1, hold(self, 1, &err));
	ASSERT_EQ(0, only_session_id(&self->nl, &id));
	ASSERT_EQ(0, ev_open(&es));

	ASSERT_EQ(0, kmt_ioctl(self->fds[0], KMIGRATE_ATTACH_VM, &at));
	EXPECT_EQ(1, (int)at.nr_vcpus);
	EXPECT_EQ(1u << 20, at.mem_bytes);

	/* Attaching is announced, with the VM's fields. */
	ASSERT_EQ(0, ev_next(&es, id, 5000, &ev)) {
		TH_LOG("no event for session %u after ATTACH_VM", id);
	}
	EXPECT_EQ(KMIGRATE_CMD_EVENT, ev.cmd);
	EXPECT_EQ(KMIGRATE_EVENT_SESSION_START, (int)ev.event);
	EXPECT_EQ(KMT_SESSION_ALL | VM_ATTRS, ev.s.present);
	EXPECT_EQ(KMIGRATE_SESSION_ATTACHED, (int)ev.s.v[KMIGRATE_SESSION_A_STATE]);
	EXPECT_EQ(1, (int)ev.s.v[KMIGRATE_SESSION_A_NR_VCPUS]);
	ev_close(&es);

	ASSERT_EQ(0, dump_full(&self->nl, &d));
	f = find_full(&d, id);
	ASSERT_NE(NULL, f);
	EXPECT_EQ(KMT_SESSION_ALL | VM_ATTRS, f->present) {
		TH_LOG("attributes 0x%x", f->present);
	}
	EXPECT_EQ(0, (int)f->bad_len);
	EXPECT_EQ(KMIGRATE_SESSION_ATTACHED, (int)f->v[KMIGRATE_SESSION_A_STATE]);
	EXPECT_EQ((uint64_t)getpid(), f->v[KMIGRATE_SESSION_A_VM_PID]);
	EXPECT_EQ(1, (int)f->v[KMIGRATE_SESSION_A_NR_VCPUS]);
	EXPECT_EQ(1u << 20, f->v[KMIGRATE_SESSION_A_MEM_BYTES]);
	/* Nothing harvested or sent yet: every counter is zero. */
	for (t = KMIGRATE_SESSION_A_ROUND; t <= KMIGRATE_SESSION_A_ERROR; t++)
		EXPECT_EQ(0, f->v[t]) {
			TH_LOG("counter attribute %d", t);
		}

	/* Detached: back to the IDLE form, no VM fields. */
	ASSERT_EQ(0, kmt_ioctl(self->fds[0], KMIGRATE_DETACH_VM, NULL));
	ASSERT_EQ(0, dump_full(&self->nl, &d));
	f = find_full(&d, id);
	ASSERT_NE(NULL, f);
	EXPECT_EQ(0, (int)(f->present & SA(VM_PID)));
	close(at.vm_fd);
	munmap(mem, 1 << 20);
}

/* A connected TCP pair on the loopback: *a connects, *b is accepted. */
static int tcp_pair(int *a, int *b)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	*a = *b = -1;
	if (l < 0 || bind(l, (struct sockaddr *)&sin, sizeof(sin)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&sin, &len))
		goto fail;
	*a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*a < 0 || connect(*a, (struct sockaddr *)&sin, sizeof(sin)))
		goto fail;
	*b = accept(l, NULL, NULL);
	if (*b < 0)
		goto fail;
	close(l);
	return 0;
fail:
	if (l >= 0)
		close(l);
	if (*a >= 0)
		close(*a);
	*a = -1;
	return -1;
}

/*
 * A whole (tiny) migration on the kernel data path: the ROUND and
 * SESSION_END events and the dump carry the counters the ioctls report.
 */
TEST_F(genl, counters_and_events_of_a_migration)
{
	struct kmigrate_attach at = { 0 };
	struct kmigrate_round rnd = { .round = 0, .dirty_pages = 2 };
	struct kmigrate_send snd = { 0 };
	struct kmigrate_end end = { 0 };
	struct kmigrate_bind bnd = { 0 };
	struct kmigrate_stats st;
	const struct full_sess *f;
	uint64_t gfns[2] = { 0, 1 };
	struct full_dump d;
	struct ev_sock es;
	int err, a, b;
	struct ev ev;
	uint32_t id;
	void *mem;

	at.vm_fd = make_vm(&mem);
	if (at.vm_fd < 0)
		SKIP(return, "no usable /dev/kvm");
	/* gfn 1 has data: one PAGES record; gfn 0 stays zero: one ZERO record. */
	memset((char *)mem + 4096, 0x5a, 4096);
	ASSERT_EQ(1, hold(self, 1, &err));
	ASSERT_EQ(0, only_session_id(&self->nl, &id));
	ASSERT_EQ(0, tcp_pair(&a, &b));
	ASSERT_EQ(0, kmt_ioctl(self->fds[0], KMIGRATE_ATTACH_VM, &at));
	bnd.sock_fd = a;
	ASSERT_EQ(0, kmt_ioctl(self->fds[0], KMIGRATE_BIND_SOCKET, &bnd));
	ASSERT_EQ(0, ev_open(&es));

	ASSERT_EQ(0, kmt_ioctl(self->fds[0], KMIGRATE_ROUND, &rnd));
	ASSERT_EQ(0, ev_next(&es, id, 5000, &ev)) {
		TH_LOG("no ROUND event");
	}
	EXPECT_EQ(KMIGRATE_EVENT_ROUND, (int)ev.event);
	EXPECT_EQ(KMT_SESSION_ALL | VM_ATTRS, ev.s.present);
	EXPECT_EQ(KMIGRATE_SESSION_RUNNING, (int)ev.s.v[KMIGRATE_SESSION_A_STATE]);
	EXPECT_EQ(0u, ev.s.v[KMIGRATE_SESSION_A_ROUND]);
	EXPECT_EQ(1u, ev.s.v[KMIGRATE_SESSION_A_ROUNDS]);

	snd.gfns = (uintptr_t)gfns;
	snd.nr_gfns = 2;
	ASSERT_EQ(0, kmt_ioctl(self->fds[0], KMIGRATE_SEND_PAGES, &snd));
	EXPECT_EQ(1u, snd.pages);
	EXPECT_EQ(1u, snd.zero_pages);

	ASSERT_EQ(0, dump_full(&self->nl, &d));
	f = find_full(&d, id);
	ASSERT_NE(NULL, f);
	EXPECT_EQ(0, (int)f->bad_len);
	EXPECT_EQ(1u, f->v[KMIGRATE_SESSION_A_PAGES_SENT]);
	EXPECT_EQ(1u, f->v[KMIGRATE_SESSION_A_ZERO_PAGES]);
	EXPECT_EQ(snd.bytes, f->v[KMIGRATE_SESSION_A_BYTES_SENT]);
	EXPECT_LT(4096u, f->v[KMIGRATE_SESSION_A_BYTES_SENT]);
	EXPECT_LT(0u, f->v[KMIGRATE_SESSION_A_SEND_NS]);
	/* The dump and the session's GET_STATS agree. */
	ASSERT_EQ(0, kmt_ioctl(self->fds[0], KMIGRATE_GET_STATS, &st));
	EXPECT_EQ(st.pages_sent, f->v[KMIGRATE_SESSION_A_PAGES_SENT]);
	EXPECT_EQ(st.bytes_sent, f->v[KMIGRATE_SESSION_A_BYTES_SENT]);
	EXPECT_EQ(st.rounds, f->v[KMIGRATE_SESSION_A_ROUNDS]);
	EXPECT_EQ(st.send_ns, f->v[KMIGRATE_SESSION_A_SEND_NS]);

	ASSERT_EQ(0, kmt_ioctl(self->fds[0], KMIGRATE_END, &end));
	ASSERT_EQ(0, ev_next(&es, id, 5000, &ev)) {
		TH_LOG("no SESSION_END event");
	}
	EXPECT_EQ(KMIGRATE_EVENT_SESSION_END, (int)ev.event);
	EXPECT_EQ(KMIGRATE_SESSION_DONE, (int)ev.s.v[KMIGRATE_SESSION_A_STATE]);
	EXPECT_EQ(snd.bytes, ev.s.v[KMIGRATE_SESSION_A_BYTES_SENT]);
	EXPECT_EQ(0u, ev.s.v[KMIGRATE_SESSION_A_ERROR]);
	ev_close(&es);

	close(a);
	close(b);
	close(at.vm_fd);
	munmap(mem, 1 << 20);
}

struct ss_case {
	const char *name;
	struct raw_attr a[3];
	int na;
	bool nest_bad;		/* a[0] is the nest's content instead */
};

/* SET_SESSION with the nest holding @c's attributes (or top-level ones). */
static int send_ss(struct kmt_nl *nl, const struct ss_case *c, uint32_t id,
		   struct kmt_ack *ack)
{
	struct nl_msg *msg = kmt_msg_new(nl, KMIGRATE_CMD_SET_SESSION, 0);
	struct nlattr *n = NULL;
	int i, e = 0;

	if (!msg)
		return KMT_ETRANSPORT;
	if (c->nest_bad)
		n = nla_nest_start(msg, KMIGRATE_A_SESSION);
	for (i = 0; i < c->na && !e; i++) {
		uint64_t v = c->a[i].val == 0xffffffffu ? id : c->a[i].val;

		e = nla_put(msg, c->a[i].type, c->a[i].len, &v);
	}
	if (n && !e)
		e = nla_nest_end(msg, n) < 0;
	if (e) {
		nlmsg_free(msg);
		return KMT_ETRANSPORT;
	}
	return kmt_nl_xfer(nl, msg, NULL, NULL, ack);
}

#define THE_ID		0xffffffffu	/* replaced by the session's id */
#define SID		U32(KMIGRATE_SESSION_A_ID, THE_ID)
#define SBW		U64(KMIGRATE_SESSION_A_BANDWIDTH, 12345)

static const struct ss_case ss_cases[] = {
	{ "no attribute", { { 0 } }, 0, false },
	{ "bandwidth at top level", { U64(KMIGRATE_A_DEFAULT_BANDWIDTH, 1) }, 1, false },
	{ "nest without id", { SBW }, 1, true },
	{ "nest without bandwidth", { SID }, 1, true },
	{ "nest + STATE", { SID, SBW, U32(KMIGRATE_SESSION_A_STATE, 0) }, 3, true },
	{ "nest + type MAX+1", { SID, SBW, U32(KMIGRATE_SESSION_A_MAX + 1, 0) }, 3, true },
	{ "nest + type 0", { SID, SBW, U32(KMIGRATE_SESSION_A_UNSPEC, 0) }, 3, true },
	{ "id as u64", { UN(KMIGRATE_SESSION_A_ID, 8, THE_ID), SBW }, 2, true },
	{ "id as u16", { UN(KMIGRATE_SESSION_A_ID, 2, 1), SBW }, 2, true },
	{ "bandwidth as u32", { SID, UN(KMIGRATE_SESSION_A_BANDWIDTH, 4, 1) }, 2, true },
	{ "session as u32", { U32(KMIGRATE_A_SESSION, 1) }, 1, false },
};

TEST_F(genl, set_session_strict_einval)
{
	struct full_dump d;
	struct kmt_ack ack;
	uint32_t id;
	int i, err;

	ASSERT_EQ(1, hold(self, 1, &err));
	ASSERT_EQ(0, only_session_id(&self->nl, &id));
	for (i = 0; i < (int)ARRAY_SIZE(ss_cases); i++) {
		err = send_ss(&self->nl, &ss_cases[i], id, &ack);
		EXPECT_EQ(-EINVAL, err) {
			TH_LOG("%s: got %d, want -EINVAL", ss_cases[i].name, err);
		}
		if (err == -EINVAL)
			EXPECT_TRUE(ack.has_msg || ack.has_offs) {
				TH_LOG("%s: no extended ack", ss_cases[i].name);
			}
		TH_LOG("%s: %s", ss_cases[i].name, ack.has_msg ? ack.msg : "-");
	}
	/* The session kept its cap. */
	ASSERT_EQ(0, dump_full(&self->nl, &d));
	ASSERT_EQ(1, d.n);
	EXPECT_EQ(self->default_bw, d.s[0].v[KMIGRATE_SESSION_A_BANDWIDTH]);
}

TEST_F(genl, set_session_unknown_id_enoent)
{
	struct kmt_ack ack;
	uint32_t id;
	int err;

	ASSERT_EQ(1, hold(self, 1, &err));
	ASSERT_EQ(0, only_session_id(&self->nl, &id));
	EXPECT_EQ(-ENOENT, set_session(&self->nl, true, id + 1000, true, 1, &ack));
	EXPECT_EQ(-ENOENT, set_session(&self->nl, true, 0xfffffff0u, true, 1, &ack));
	/* Closed: gone. */
	drop(self, 0);
	EXPECT_EQ(-ENOENT, set_session(&self->nl, true, id, true, 1, &ack));
}

static int child_set_session_nobody(void *arg)
{
	struct kmt_nl nl;
	int err;

	if (kmt_become_nobody())
		return CHILD_DROP;
	if (kmt_nl_open(&nl))
		return CHILD_NLOPEN;
	err = set_session(&nl, true, *(uint32_t *)arg, true, 4242, NULL);
	kmt_nl_close(&nl);
	if (err != -EPERM) {
		fprintf(stderr, "# child: SET_SESSION: %d, want -EPERM\n", err);
		return CHILD_SET_NOT_EPERM;
	}
	return CHILD_OK;
}

TEST_F(genl, set_session_unprivileged_eperm)
{
	struct full_dump d;
	uint32_t id;
	int err;

	ASSERT_EQ(1, hold(self, 1, &err));
	ASSERT_EQ(0, only_session_id(&self->nl, &id));
	EXPECT_EQ(CHILD_OK, kmt_run_child(child_set_session_nobody, &id));
	ASSERT_EQ(0, dump_full(&self->nl, &d));
	ASSERT_EQ(1, d.n);
	EXPECT_EQ(self->default_bw, d.s[0].v[KMIGRATE_SESSION_A_BANDWIDTH]);
}

TEST_F(genl, set_session_changes_cap_and_sends_event)
{
	const struct full_sess *f;
	struct kmigrate_stats st;
	struct full_dump d;
	struct kmt_ack ack;
	struct ev_sock es;
	uint32_t id[2];
	int err, i, seen;
	struct ev ev;

	ASSERT_EQ(2, hold(self, 2, &err));
	ASSERT_EQ(0, dump_full(&self->nl, &d));
	ASSERT_EQ(2, d.n);
	for (i = 0; i < 2; i++)
		id[i] = (uint32_t)d.s[i].v[KMIGRATE_SESSION_A_ID];
	ASSERT_EQ(0, ev_open(&es));

	err = set_session(&self->nl, true, id[0], true, 50000000, &ack);
	ASSERT_EQ(0, err) {
		TH_LOG("SET_SESSION: %d (%s)", err, ack.msg);
	}
	ASSERT_EQ(0, ev_next(&es, id[0], 5000, &ev)) {
		TH_LOG("no event for session %u", id[0]);
	}
	EXPECT_EQ(KMIGRATE_CMD_EVENT, ev.cmd);
	EXPECT_EQ(KMIGRATE_EVENT_BANDWIDTH, (int)ev.event);
	EXPECT_EQ(KMT_SESSION_ALL, ev.s.present & KMT_SESSION_ALL);
	EXPECT_EQ(50000000u, ev.s.v[KMIGRATE_SESSION_A_BANDWIDTH]);
	EXPECT_EQ(KMIGRATE_SESSION_IDLE, (int)ev.s.v[KMIGRATE_SESSION_A_STATE]);
	EXPECT_EQ((uint64_t)getpid(), ev.s.v[KMIGRATE_SESSION_A_OWNER_PID]);

	/* Back to unlimited: a second event, 0. */
	ASSERT_EQ(0, set_session(&self->nl, true, id[1], true, 0, &ack));
	ASSERT_EQ(0, ev_next(&es, id[1], 5000, &ev));
	EXPECT_EQ(KMIGRATE_EVENT_BANDWIDTH, (int)ev.event);
	EXPECT_EQ(0u, ev.s.v[KMIGRATE_SESSION_A_BANDWIDTH]);
	ev_close(&es);

	/* The dump and the session's own GET_STATS agree. */
	ASSERT_EQ(0, dump_full(&self->nl, &d));
	f = find_full(&d, id[0]);
	ASSERT_NE(NULL, f);
	EXPECT_EQ(50000000u, f->v[KMIGRATE_SESSION_A_BANDWIDTH]);
	f = find_full(&d, id[1]);
	ASSERT_NE(NULL, f);
	EXPECT_EQ(0u, f->v[KMIGRATE_SESSION_A_BANDWIDTH]);
	/* Each fd's own counters: one has the 50 MB/s cap, the other none. */
	seen = 0;
	for (i = 0; i < 2; i++) {
		memset(&st, 0xff, sizeof(st));
		ASSERT_EQ(0, kmt_ioctl(self->fds[i], KMIGRATE_GET_STATS, &st));
		EXPECT_EQ(KMIGRATE_SESSION_IDLE, (int)st.state);
		if (st.bandwidth == 50000000u)
			seen |= 1;
		else if (st.bandwidth == 0)
			seen |= 2;
		else
			TH_LOG("fd %d: GET_STATS bandwidth %llu", i,
			       (unsigned long long)st.bandwidth);
	}
	EXPECT_EQ(3, seen);
}

TEST_F(genl, set_session_without_listener_still_works)
{
	struct full_dump d;
	uint32_t id;
	int err;

	ASSERT_EQ(1, hold(self, 1, &err));
	ASSERT_EQ(0, only_session_id(&self->nl, &id));
	ASSERT_EQ(0, set_session(&self->nl, true, id, true, 1, NULL));
	ASSERT_EQ(0, dump_full(&self->nl, &d));
	EXPECT_EQ(1u, d.s[0].v[KMIGRATE_SESSION_A_BANDWIDTH]);
}

TEST_F(genl, event_command_refused)
{
	struct nl_msg *msg;
	struct kmt_ack ack;
	struct nlattr *n;
	int err;

	EXPECT_EQ(-EOPNOTSUPP, kmt_nl_xfer(&self->nl,
					   kmt_msg_new(&self->nl, KMIGRATE_CMD_EVENT, 0),
					   NULL, NULL, &ack));
	EXPECT_EQ(-EOPNOTSUPP, kmt_nl_xfer(&self->nl,
					   kmt_msg_new(&self->nl, KMIGRATE_CMD_EVENT, NLM_F_DUMP),
					   NULL, NULL, &ack));
	/* A well-formed event, as the module would send it. */
	msg = kmt_msg_new(&self->nl, KMIGRATE_CMD_EVENT, 0);
	ASSERT_NE(NULL, msg);
	ASSERT_EQ(0, nla_put_u32(msg, KMIGRATE_A_EVENT, KMIGRATE_EVENT_BANDWIDTH));
	n = nla_nest_start(msg, KMIGRATE_A_SESSION);
	ASSERT_NE(NULL, n);
	ASSERT_EQ(0, nla_put_u32(msg, KMIGRATE_SESSION_A_ID, 1));
	nla_nest_end(msg, n);
	err = kmt_nl_xfer(&self->nl, msg, NULL, NULL, &ack);
	EXPECT_EQ(-EOPNOTSUPP, err);
}

TEST_HARNESS_MAIN
