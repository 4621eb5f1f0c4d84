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
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/genetlink.h>

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

	/* Exactly the three commands, each with a policy; SET_CONFIG is admin-only. */
	EXPECT_EQ(KMIGRATE_CMD_MAX, fam.nops);
	for (i = 0; i < fam.nops; i++) {
		uint32_t opid = fam.ops[i].id, fl = fam.ops[i].flags;

		TH_LOG("op %u flags 0x%x", opid, fl);
		ASSERT_TRUE(opid >= KMIGRATE_CMD_GET_INFO && opid <= KMIGRATE_CMD_MAX) {
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
			break;
		case KMIGRATE_CMD_SET_CONFIG:
			EXPECT_TRUE(fl & GENL_CMD_CAP_DO);
			EXPECT_TRUE(fl & (GENL_ADMIN_PERM | GENL_UNS_ADMIN_PERM));
			break;
		}
	}
	for (i = KMIGRATE_CMD_GET_INFO; i <= KMIGRATE_CMD_MAX; i++) {
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
	CHILD_RESET_NOT_EPERM, CHILD_SET_FAILED,
};

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

TEST_F(genl, unprivileged_set_config_eperm)
{
	struct kmt_info info;

	EXPECT_EQ(CHILD_OK, kmt_run_child(child_nobody, NULL));
	GET_INFO(&info);
	EXPECT_EQ(MAX_DEFAULT, (int)info.max_sessions);
	EXPECT_EQ(self->default_bw, info.default_bandwidth);
}

TEST_F(genl, root_without_cap_net_admin_eperm)
{
	struct kmt_info info;

	EXPECT_EQ(CHILD_OK, kmt_run_child(child_root_without_net_admin, NULL));
	GET_INFO(&info);
	EXPECT_EQ(MAX_DEFAULT, (int)info.max_sessions);
}

TEST_F(genl, cap_net_admin_suffices)
{
	struct kmt_info info;

	EXPECT_EQ(CHILD_OK, kmt_run_child(child_only_net_admin_caps, NULL));
	GET_INFO(&info);
	EXPECT_EQ(6, (int)info.max_sessions);
}

TEST_HARNESS_MAIN
