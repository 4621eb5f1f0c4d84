// SPDX-License-Identifier: GPL-2.0
/*
 * The migration channel's TLS (tools/migrate/tls.c) over loopback TCP, with
 * the lab test's certificates (tests/lab-migrate/tls_certs.sh, openssl):
 * credentials loading, mutual authentication and its refusals.  A kernel
 * without the tls module (this build host) stops a good handshake at the
 * kTLS step, with that reason; where kTLS exists it completes and the
 * records go through the kernel (checked with one exchange).
 */
#include <errno.h>
#include <libgen.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "tls.h"
#include "unit.h"

static char certs[64];	/* this test's certificates (each test is a process) */

FIXTURE(tls) { char unused; };

FIXTURE_SETUP(tls)
{
	char src[] = __FILE__, cmd[512];

	(void)self;
	snprintf(certs, sizeof(certs), "/tmp/km_tls_unit.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(certs));
	snprintf(cmd, sizeof(cmd), "sh %s/../lab-migrate/tls_certs.sh %s", dirname(src), certs);
	ASSERT_EQ(0, system(cmd));
}

FIXTURE_TEARDOWN(tls)
{
	char cmd[128];

	(void)self;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", certs);
	if (system(cmd) != 0)
		fprintf(stderr, "# %s: not removed\n", certs);
}

static const char *certdir(const char *who)
{
	static char p[4][128];
	static int i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof(p[i]), "%s/%s", certs, who);
	return p[i];
}

struct pair {
	int sret, cret;
	char serr[700], cerr[700];
	char ssubj[256], csubj[256];
	char echo;	/* the byte that went through kTLS, both ways */
};

/* Server with @sdir in a child, client with @cdir here (NULL: a plaintext
 * peer that writes a kmigrate-like HELLO). */
static void run_pair(const char *sdir, const char *cdir, struct pair *pr)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), p[2], cfd, st;
	struct km_tls *ct = NULL;
	pid_t pid;

	memset(pr, 0, sizeof(*pr));
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 1) ||
	    getsockname(lfd, (struct sockaddr *)&a, &al) || pipe(p))
		abort();
	pid = fork();
	if (pid == 0) {
		struct km_tls *t = NULL;
		int fd = accept(lfd, NULL, NULL);
		char b = 0;

		close(p[0]);
		if (km_tls_load(sdir, &t, pr->serr, sizeof(pr->serr)))
			pr->sret = -2;
		else
			pr->sret = km_tls_handshake(t, fd, true, 5000, pr->ssubj, sizeof(pr->ssubj),
						    pr->serr, sizeof(pr->serr));
		if (!pr->sret && read(fd, &b, 1) == 1 && write(fd, &b, 1) == 1)
			pr->echo = b;
		if (write(p[1], pr, sizeof(*pr)) != sizeof(*pr))
			_exit(1);
		km_tls_free(t);
		_exit(0);
	}
	close(p[1]);
	cfd = socket(AF_INET, SOCK_STREAM, 0);
	if (cfd < 0 || connect(cfd, (struct sockaddr *)&a, sizeof(a)))
		abort();
	if (!cdir) {
		static const char hello[] = "KMIG\x01\x00\x00\x00 a plaintext HELLO .........";

		pr->cret = write(cfd, hello, sizeof(hello)) == sizeof(hello) ? 0 : -1;
	} else if (km_tls_load(cdir, &ct, pr->cerr, sizeof(pr->cerr))) {
		pr->cret = -2;
	} else {
		pr->cret = km_tls_handshake(ct, cfd, false, 5000, pr->csubj, sizeof(pr->csubj),
					    pr->cerr, sizeof(pr->cerr));
		if (!pr->cret) {
			char b = 'x', r = 0;

			if (write(cfd, &b, 1) != 1 || read(cfd, &r, 1) != 1 || r != b)
				pr->cret = -3;
		}
	}
	{
		struct pair sp;

		if (read(p[0], &sp, sizeof(sp)) == sizeof(sp)) {
			pr->sret = sp.sret;
			pr->echo = sp.echo;
			memcpy(pr->serr, sp.serr, sizeof(pr->serr));
			memcpy(pr->ssubj, sp.ssubj, sizeof(pr->ssubj));
		} else {
			pr->sret = -9;
		}
	}
	close(cfd);
	close(p[0]);
	close(lfd);
	waitpid(pid, &st, 0);
	km_tls_free(ct);
	fprintf(stderr, "# server %d '%s' [%s]; client %d '%s' [%s]\n", pr->sret, pr->serr,
		pr->ssubj, pr->cret, pr->cerr, pr->csubj);
}

static int ktls_here(void)
{
	return access("/proc/net/tls_stat", F_OK) == 0;
}

TEST_F(tls, load)
{
	struct km_tls *t = NULL;
	char err[700], dir[200];

	ASSERT_EQ(-ENOENT, km_tls_load("/nonexistent/kmigrate", &t, err, sizeof(err)));
	ASSERT_TRUE(km_contains(err, "/nonexistent/kmigrate/ca.pem: No such file"));
	ASSERT_TRUE(km_contains(err, "--insecure"));
	ASSERT_EQ(NULL, t);
	ASSERT_EQ(0, km_tls_load(certdir("a"), &t, err, sizeof(err)));
	ASSERT_NE(NULL, t);
	km_tls_free(t);
	/* a's certificate with b's key */
	snprintf(dir, sizeof(dir), "%s/mix", certs);
	snprintf(err, sizeof(err), "mkdir -p %s && cp %s/ca.pem %s/cert.pem %s/ && cp %s/key.pem %s/",
		 dir, certdir("a"), certdir("a"), dir, certdir("b"), dir);
	ASSERT_EQ(0, system(err));
	t = NULL;
	ASSERT_EQ(-EINVAL, km_tls_load(dir, &t, err, sizeof(err)));
	ASSERT_TRUE(km_contains(err, "cert.pem"));
	ASSERT_EQ(NULL, t);
	/* the default directory from the environment */
	setenv("KMIGRATE_TLS_DIR", "/x/y", 1);
	ASSERT_STREQ("/x/y", km_tls_dir(NULL));
	ASSERT_STREQ("/d", km_tls_dir("/d"));
	unsetenv("KMIGRATE_TLS_DIR");
	ASSERT_STREQ(KM_TLS_DEFAULT_DIR, km_tls_dir(""));
	KM_ASSERT_NO_LEAKS();
}

TEST_F(tls, mutual_ok)
{
	struct pair pr;

	run_pair(certdir("b"), certdir("a"), &pr);
	ASSERT_TRUE(km_contains(pr.csubj, "CN=host b"));
	ASSERT_TRUE(km_contains(pr.ssubj, "CN=host a"));
	if (ktls_here()) {
		ASSERT_EQ(0, pr.sret);
		ASSERT_EQ(0, pr.cret);
		ASSERT_EQ('x', pr.echo);
	} else {
		/* authenticated both ways, then no kTLS: said so, no fallback */
		ASSERT_EQ(-1, pr.sret);
		ASSERT_EQ(-1, pr.cret);
		ASSERT_TRUE(km_contains(pr.serr, "kernel TLS unavailable"));
		ASSERT_TRUE(km_contains(pr.cerr, "kernel TLS unavailable"));
	}
}

TEST_F(tls, rogue_client_refused)
{
	struct pair pr;

	run_pair(certdir("b"), certdir("rogue"), &pr);
	ASSERT_EQ(-1, pr.sret);
	ASSERT_EQ(-1, pr.cret);
	ASSERT_TRUE(km_contains(pr.serr, "the source's certificate (CN=rogue host"));
	ASSERT_TRUE(km_contains(pr.serr, "issuer is unknown"));
	ASSERT_TRUE(km_contains(pr.cerr, "the destination refused this host"));
}

TEST_F(tls, other_cluster_refused)
{
	struct pair pr;

	run_pair(certdir("b"), certdir("other"), &pr);
	ASSERT_EQ(-1, pr.sret);
	ASSERT_EQ(-1, pr.cret);
	ASSERT_TRUE(km_contains(pr.cerr, "the destination's certificate (CN=host b"));
	ASSERT_TRUE(km_contains(pr.cerr, "not trusted"));
}

TEST_F(tls, plaintext_refused)
{
	struct pair pr;

	run_pair(certdir("b"), NULL, &pr);
	ASSERT_EQ(-1, pr.sret);
	ASSERT_TRUE(km_contains(pr.serr, "TLS handshake: "));
	ASSERT_EQ(0, pr.echo);
}

TEST_HARNESS_MAIN
