// SPDX-License-Identifier: GPL-2.0
/*
 * The host config file (tools/lib/config.c), the migration slots
 * (tools/lib/slots.c) and the migration-network socket binding
 * (tools/migrate/netvia.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "config.h"
#include "netvia.h"
#include "slots.h"
#include "unit.h"

KM_SUITE(config);

TEST_F(config, defaults)
{
	struct km_conf c;

	km_conf_defaults(&c);
	ASSERT_EQ(2, c.max_outgoing);
	ASSERT_EQ(2, c.max_incoming);
	ASSERT_EQ(KM_CONF_REFUSE, c.incoming_policy);
	ASSERT_EQ(0, c.bandwidth);
	ASSERT_STREQ("", c.listen_address);
	ASSERT_STREQ("", c.tls_dir);
	ASSERT_FALSE(c.insecure);
}

TEST_F(config, parse_all_keys)
{
	static const char text[] =
		"# kmigrate host config\n"
		"\n"
		"listen_address = fd00:6b6d:2::2   # migration network\n"
		"listen_port=49160\n"
		"  via = mig0\n"
		"source_address = 198.18.2.1\n"
		"bandwidth = 1GiB/s\n"
		"max_outgoing = 3\n"
		"max_incoming = 1\n"
		"incoming_policy = queue\n"
		"tls_dir = /srv/kmigrate tls  # spaces inside are kept\n"
		"insecure = yes\n"
		"downtime_limit = 150";
	struct km_conf c;
	char err[256] = "";

	km_conf_defaults(&c);
	ASSERT_EQ(0, km_conf_parse(&c, "t.conf", text, err, sizeof(err))) TH_LOG("%s", err);
	ASSERT_STREQ("fd00:6b6d:2::2", c.listen_address);
	ASSERT_EQ(49160, c.listen_port);
	ASSERT_STREQ("mig0", c.via);
	ASSERT_STREQ("198.18.2.1", c.source_address);
	ASSERT_EQ(1073741824ULL, c.bandwidth);
	ASSERT_EQ(3, c.max_outgoing);
	ASSERT_EQ(1, c.max_incoming);
	ASSERT_EQ(KM_CONF_QUEUE, c.incoming_policy);
	ASSERT_EQ(150, c.downtime_limit);
	ASSERT_STREQ("/srv/kmigrate tls", c.tls_dir);
	ASSERT_TRUE(c.insecure);
}

TEST_F(config, insecure_values)
{
	static const char *const yes[] = { "yes", "true", "1" }, *const no[] = { "no", "false", "0" };
	char text[64], err[256] = "";
	struct km_conf c;
	unsigned int i;

	for (i = 0; i < 3; i++) {
		km_conf_defaults(&c);
		snprintf(text, sizeof(text), "insecure = %s\n", yes[i]);
		ASSERT_EQ(0, km_conf_parse(&c, "t.conf", text, err, sizeof(err))) TH_LOG("%s", err);
		ASSERT_TRUE(c.insecure);
		snprintf(text, sizeof(text), "insecure = %s\n", no[i]);
		ASSERT_EQ(0, km_conf_parse(&c, "t.conf", text, err, sizeof(err))) TH_LOG("%s", err);
		ASSERT_FALSE(c.insecure);	/* a later file's no overrides */
	}
}

struct conf_bad {
	const char *text;
	const char *msg;	/* substring of the error */
};

static const struct conf_bad conf_bad_cases[] = {
	{ "max_incoming = 2\nfrobnicate = 1\n", "t.conf:2: unknown key 'frobnicate'" },
	{ "\n\n# c\nlisten_port\n", "t.conf:4: expected 'key = value'" },
	{ "listen_port = 0\n", "t.conf:1: invalid listen_port '0'" },
	{ "listen_port = 70000\n", "t.conf:1: invalid listen_port" },
	{ "max_outgoing = 0\n", "t.conf:1: invalid max_outgoing '0'" },
	{ "max_incoming = 65\n", "t.conf:1: invalid max_incoming" },
	{ "bandwidth = fast\n", "t.conf:1: invalid bandwidth 'fast'" },
	{ "incoming_policy = drop\n", "expected refuse or queue" },
	{ "via = \n", "t.conf:1: 'via' has no value" },
	{ "via = averyveryverylongname0\n", "t.conf:1: invalid via" },
	{ "max_outgoing = 1\nmax_outgoing = 2\n", "t.conf:2: 'max_outgoing' given twice" },
	{ "Max_Outgoing = 1\n", "unknown key 'Max_Outgoing'" },
	{ "tls_dir = etc/kmigrate/tls\n", "t.conf:1: invalid tls_dir 'etc/kmigrate/tls': expected an "
	  "absolute directory" },
	{ "tls_dir =\n", "t.conf:1: 'tls_dir' has no value" },
	{ "\ninsecure = maybe\n", "t.conf:2: invalid insecure 'maybe': expected yes or no" },
	{ "insecure = no\ninsecure = yes\n", "t.conf:2: 'insecure' given twice" },
};

TEST_F(config, parse_errors)
{
	unsigned int i;

	for (i = 0; i < KM_ARRAY_SIZE(conf_bad_cases); i++) {
		struct km_conf c;
		char err[256] = "";

		km_conf_defaults(&c);
		EXPECT_EQ(-EINVAL, km_conf_parse(&c, "t.conf", conf_bad_cases[i].text, err,
						 sizeof(err)));
		EXPECT_NE(NULL, strstr(err, conf_bad_cases[i].msg))
			TH_LOG("case %u: '%s' lacks '%s'", i, err, conf_bad_cases[i].msg);
	}
}

TEST_F(config, load_env_path)
{
	char path[] = "/tmp/km-conf-XXXXXX", err[512] = "";
	struct km_conf c;
	int fd = mkstemp(path);
	static const char text[] = "max_outgoing = 5\n";

	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)strlen(text), write(fd, text, strlen(text)));
	close(fd);
	setenv("KMIGRATE_CONFIG", path, 1);
	ASSERT_EQ(0, km_conf_load(&c, err, sizeof(err))) TH_LOG("%s", err);
	ASSERT_EQ(5, c.max_outgoing);
	ASSERT_EQ(2, c.max_incoming);
	ASSERT_STREQ(path, c.path);
	unlink(path);
	/* a named file that is missing is an error */
	ASSERT_EQ(-ENOENT, km_conf_load(&c, err, sizeof(err)));
	ASSERT_NE(NULL, strstr(err, path));
	unsetenv("KMIGRATE_CONFIG");
	KM_ASSERT_NO_LEAKS();
}

static void slot_dir_rm(char *dir)
{
	struct dirent *e;
	DIR *d = opendir(dir);
	char path[512];

	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
	rmdir(dir);
	free(dir);
}

static char *slot_dir(void)
{
	char tmpl[] = "/tmp/km-slots-XXXXXX";

	return strdup(mkdtemp(tmpl));
}

TEST_F(config, slots_limit_and_release)
{
	char *dir = slot_dir(), err[256], holders[256];
	struct km_slot a, b, c;

	ASSERT_NE(NULL, dir);
	ASSERT_EQ(0, km_slot_try(dir, "out", 2, "vm1 -> x", &a, err, sizeof(err)));
	ASSERT_EQ(0, km_slot_try(dir, "out", 2, "vm2 -> y", &b, err, sizeof(err)));
	ASSERT_NE(a.idx, b.idx);
	ASSERT_EQ(2, km_slot_count(dir, "out", holders, sizeof(holders)));
	ASSERT_NE(NULL, strstr(holders, "vm1 -> x"));
	ASSERT_NE(NULL, strstr(holders, "vm2 -> y"));
	ASSERT_EQ(-EBUSY, km_slot_try(dir, "out", 2, "vm3", &c, err, sizeof(err)));
	ASSERT_EQ(-1, c.fd);
	/* another kind is counted apart */
	ASSERT_EQ(0, km_slot_try(dir, "in", 1, "vm9", &c, err, sizeof(err)));
	km_slot_release(&c);
	/* a lower limit still counts the slots held above it */
	ASSERT_EQ(-EBUSY, km_slot_try(dir, "out", 1, "vm3", &c, err, sizeof(err)));
	km_slot_release(&a);
	km_slot_release(&a);	/* idempotent */
	ASSERT_EQ(1, km_slot_count(dir, "out", NULL, 0));
	ASSERT_EQ(0, km_slot_try(dir, "out", 2, "vm3", &c, err, sizeof(err)));
	km_slot_release(&b);
	km_slot_release(&c);
	ASSERT_EQ(0, km_slot_count(dir, "out", NULL, 0));
	slot_dir_rm(dir);
	KM_ASSERT_NO_LEAKS();
}

static int notified;
static void slot_note(void *arg, const char *holders)
{
	(void)arg;
	if (strstr(holders, "holder"))
		notified++;
}

/* A slot held by another process is freed when it exits; waiters go in
 * ticket order. */
TEST_F(config, slots_wait_in_order)
{
	char *dir = slot_dir(), err[256];
	struct km_slot s;
	int pfd[2], st;
	pid_t holder, early;
	char c;

	ASSERT_NE(NULL, dir);
	ASSERT_EQ(0, pipe(pfd));
	holder = fork();
	ASSERT_LE(0, holder);
	if (!holder) {
		struct km_slot h;

		if (km_slot_try(dir, "out", 1, "holder", &h, err, sizeof(err)))
			_exit(1);
		if (write(pfd[1], "x", 1) != 1)
			_exit(1);
		usleep(600000);
		_exit(0);	/* the lock goes with the process */
	}
	ASSERT_EQ(1, read(pfd[0], &c, 1));
	ASSERT_EQ(-EBUSY, km_slot_try(dir, "out", 1, "me", &s, err, sizeof(err)));
	/* an earlier waiter (a child) gets the slot before this one */
	early = fork();
	ASSERT_LE(0, early);
	if (!early) {
		struct km_slot e;

		if (km_slot_wait(dir, "out", 1, "early", NULL, NULL, NULL, 5000, &e, err,
				 sizeof(err)))
			_exit(2);
		if (write(pfd[1], "e", 1) != 1)
			_exit(1);
		usleep(300000);
		_exit(0);
	}
	usleep(200000);	/* the child has its ticket */
	notified = 0;
	ASSERT_EQ(0, km_slot_wait(dir, "out", 1, "late", slot_note, NULL, NULL, 10000, &s, err,
				  sizeof(err))) TH_LOG("%s", err);
	ASSERT_EQ(1, notified);
	/* by now the early waiter had it first and said so */
	ASSERT_EQ(1, read(pfd[0], &c, 1));
	ASSERT_EQ('e', c);
	km_slot_release(&s);
	ASSERT_EQ(holder, waitpid(holder, &st, 0));
	ASSERT_EQ(0, WEXITSTATUS(st));
	ASSERT_EQ(early, waitpid(early, &st, 0));
	ASSERT_EQ(0, WEXITSTATUS(st));
	/* a wait that times out says -EBUSY */
	ASSERT_EQ(0, km_slot_try(dir, "out", 1, "again", &s, err, sizeof(err)));
	holder = fork();
	ASSERT_LE(0, holder);
	if (!holder) {
		struct km_slot t;

		_exit(km_slot_wait(dir, "out", 1, "t", NULL, NULL, NULL, 300, &t, err,
				   sizeof(err)) == -EBUSY ? 0 : 1);
	}
	ASSERT_EQ(holder, waitpid(holder, &st, 0));
	ASSERT_EQ(0, WEXITSTATUS(st));
	km_slot_release(&s);
	close(pfd[0]);
	close(pfd[1]);
	slot_dir_rm(dir);
	KM_ASSERT_NO_LEAKS();
}

TEST_F(config, netvia)
{
	char err[256] = "";
	int fd;

	ASSERT_EQ(0, km_net_check_via("", err, sizeof(err)));
	ASSERT_EQ(0, km_net_check_via("lo", err, sizeof(err)));
	ASSERT_EQ(-ENODEV, km_net_check_via("nosuch0", err, sizeof(err)));
	ASSERT_NE(NULL, strstr(err, "no network interface 'nosuch0'"));
	ASSERT_EQ(-EINVAL, km_net_check_via("a/b", err, sizeof(err)));
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ASSERT_LE(0, fd);
	/* a v6 source address for a v4 destination: skip that address */
	ASSERT_EQ(1, km_net_bind_source(fd, AF_INET, NULL, "::1", err, sizeof(err)));
	ASSERT_EQ(-EINVAL, km_net_bind_source(fd, AF_INET, NULL, "nonsense", err, sizeof(err)));
	ASSERT_EQ(-EADDRNOTAVAIL, km_net_bind_source(fd, AF_INET, NULL, "192.0.2.77", err,
						     sizeof(err)));
	ASSERT_NE(NULL, strstr(err, "not an address of this host"));
	ASSERT_EQ(0, km_net_bind_source(fd, AF_INET, NULL, "127.0.0.1", err, sizeof(err)));
	close(fd);
	km_net_connect_msg(err, sizeof(err), "h", "1", ENETUNREACH, "mig0", NULL);
	ASSERT_NE(NULL, strstr(err, "not reachable through mig0"));
	ASSERT_TRUE(km_net_unreachable(EHOSTUNREACH, "mig0", NULL));
	ASSERT_FALSE(km_net_unreachable(ECONNREFUSED, "mig0", NULL));
	ASSERT_FALSE(km_net_unreachable(ENETUNREACH, "", ""));
}

TEST_HARNESS_MAIN
