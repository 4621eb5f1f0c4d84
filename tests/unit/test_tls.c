// SPDX-License-Identifier: GPL-2.0
/*
 * The migration channel's TLS (tools/migrate/tls.c) over loopback TCP, with
 * the lab test's certificates (tests/lab-migrate/tls_certs.sh, openssl):
 * credentials loading, mutual authentication and its refusals, the
 * destination's name, and the mode exchange (kTLS or, --insecure on both
 * ends, authenticated plaintext).  A kernel without the tls module (this
 * build host) stops a good kTLS handshake at the kTLS step, with that
 * reason; where kTLS exists it completes and the records go through the
 * kernel (checked with one exchange).  Plaintext after authentication is
 * checked by one raw byte each way.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <stdint.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json.h>

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
 * peer that writes a kmigrate-like HELLO); @splain, @cplain: their
 * --insecure; @name: what the client expects the server's certificate to
 * name. */
static void run_pair_m(const char *sdir, const char *cdir, bool splain, bool cplain,
		       const char *name, struct pair *pr)
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
			pr->sret = km_tls_handshake(t, fd, true, splain, NULL, 5000, pr->ssubj,
						    sizeof(pr->ssubj), pr->serr, sizeof(pr->serr));
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
		pr->cret = km_tls_handshake(ct, cfd, false, cplain, name, 5000, pr->csubj,
					    sizeof(pr->csubj), pr->cerr, sizeof(pr->cerr));
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

/* both kTLS, the client expecting b's migration address */
static void run_pair(const char *sdir, const char *cdir, struct pair *pr)
{
	run_pair_m(sdir, cdir, false, false, "fd00:6b6d:2::b", pr);
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

TEST_F(tls, plaintext_authenticated)
{
	struct pair pr;

	/* --insecure on both: the same handshake, then raw bytes */
	run_pair_m(certdir("b"), certdir("a"), true, true, "lab-b", &pr);
	ASSERT_EQ(0, pr.sret);
	ASSERT_EQ(0, pr.cret);
	ASSERT_TRUE(km_contains(pr.csubj, "CN=host b"));
	ASSERT_TRUE(km_contains(pr.ssubj, "CN=host a"));
	ASSERT_EQ('x', pr.echo);	/* one plaintext byte each way, no record */
}

TEST_F(tls, plaintext_needs_credentials)
{
	struct pair pr;

	/* a source with a certificate of another CA, --insecure both ends */
	run_pair_m(certdir("b"), certdir("rogue"), true, true, "lab-b", &pr);
	ASSERT_EQ(-1, pr.sret);
	ASSERT_EQ(-1, pr.cret);
	ASSERT_TRUE(km_contains(pr.serr, "issuer is unknown"));
	ASSERT_TRUE(km_contains(pr.cerr, "the destination refused this host"));
	ASSERT_EQ(0, pr.echo);
	/* a raw HELLO against an --insecure listener */
	run_pair_m(certdir("b"), NULL, true, true, "lab-b", &pr);
	ASSERT_EQ(-1, pr.sret);
	ASSERT_TRUE(km_contains(pr.serr, "TLS handshake: "));
	ASSERT_EQ(0, pr.echo);
}

TEST_F(tls, mode_mismatch_refused)
{
	struct pair pr;

	/* encrypting source, --insecure listener */
	run_pair_m(certdir("b"), certdir("a"), true, false, "lab-b", &pr);
	ASSERT_EQ(-1, pr.sret);
	ASSERT_EQ(-1, pr.cret);
	ASSERT_TRUE(km_contains(pr.serr, "the source asks for an encrypted channel"));
	ASSERT_TRUE(km_contains(pr.cerr, "the destination refused encryption: its listener runs "
				"--insecure"));
	ASSERT_EQ(0, pr.echo);
	/* --insecure source, encrypting listener */
	run_pair_m(certdir("b"), certdir("a"), false, true, "lab-b", &pr);
	ASSERT_EQ(-1, pr.sret);
	ASSERT_EQ(-1, pr.cret);
	ASSERT_TRUE(km_contains(pr.serr, "the source asks for plaintext (--insecure)"));
	ASSERT_TRUE(km_contains(pr.cerr, "the destination refused plaintext"));
	ASSERT_EQ(0, pr.echo);
}

TEST_F(tls, wrong_name_refused)
{
	struct pair pr;

	/* the cluster's CA signed it, but for another host */
	run_pair_m(certdir("wrongname"), certdir("a"), true, true, "fd00:6b6d:2::b", &pr);
	ASSERT_EQ(-1, pr.cret);
	ASSERT_EQ(-1, pr.sret);
	ASSERT_TRUE(km_contains(pr.cerr, "(CN=wrong-name host"));
	ASSERT_TRUE(km_contains(pr.cerr, "does not name fd00:6b6d:2::b"));
	ASSERT_TRUE(km_contains(pr.cerr, "DNS:elsewhere.kmigrate.test"));
	ASSERT_TRUE(km_contains(pr.cerr, "--tls-name"));
	ASSERT_TRUE(km_contains(pr.serr, "the source refused this destination"));
	ASSERT_EQ(0, pr.echo);
	/* b's own certificate, but the client expects a */
	run_pair_m(certdir("b"), certdir("a"), true, true, "lab-a", &pr);
	ASSERT_EQ(-1, pr.cret);
	ASSERT_TRUE(km_contains(pr.cerr, "does not name lab-a"));
	/* the expected name given (--tls-name): accepted */
	run_pair_m(certdir("wrongname"), certdir("a"), true, true, "elsewhere.kmigrate.test", &pr);
	ASSERT_EQ(0, pr.cret);
	ASSERT_EQ(0, pr.sret);
	ASSERT_EQ('x', pr.echo);
}

TEST_F(tls, cert_names)
{
	char cmd[512], why[600], der[4096];
	size_t n;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "openssl x509 -in %s/cert.pem -outform DER -out %s/b.der",
		 certdir("b"), certs);
	ASSERT_EQ(0, system(cmd));
	snprintf(cmd, sizeof(cmd), "%s/b.der", certs);
	f = fopen(cmd, "rb");
	ASSERT_NE(NULL, f);
	n = fread(der, 1, sizeof(der), f);
	fclose(f);
	ASSERT_LT(100, n);
	ASSERT_TRUE(km_tls_cert_names(der, n, "fd00:6b6d:2::b", why, sizeof(why)));
	ASSERT_TRUE(km_tls_cert_names(der, n, "[fd00:6b6d:2::b]", why, sizeof(why)));
	ASSERT_TRUE(km_tls_cert_names(der, n, "fd00:6b6d:2::b%mig0", why, sizeof(why)));
	ASSERT_TRUE(km_tls_cert_names(der, n, "fd00:6b6d:2:0:0:0:0:b", why, sizeof(why)));
	ASSERT_TRUE(km_tls_cert_names(der, n, "198.18.2.2", why, sizeof(why)));
	ASSERT_TRUE(km_tls_cert_names(der, n, "lab-b", why, sizeof(why)));
	ASSERT_TRUE(km_tls_cert_names(der, n, "LAB-B.mig", why, sizeof(why)));
	ASSERT_FALSE(km_tls_cert_names(der, n, "198.18.2.1", why, sizeof(why)));
	ASSERT_TRUE(km_contains(why, "does not name 198.18.2.1"));
	ASSERT_TRUE(km_contains(why, "IP:fd00:6b6d:2::b, IP:198.18.2.2, IP:fd00:6b6d:1::b, "
				"IP:198.18.1.2, DNS:lab-b, DNS:lab-b.mig"));
	ASSERT_TRUE(km_contains(why, "CN=host b"));
	ASSERT_FALSE(km_tls_cert_names(der, n, "fd00:6b6d:2::a", why, sizeof(why)));
	ASSERT_FALSE(km_tls_cert_names(der, n, "host b", why, sizeof(why)));	/* not the CN */
	ASSERT_FALSE(km_tls_cert_names(der, n, "lab-b.mig.evil", why, sizeof(why)));
	ASSERT_FALSE(km_tls_cert_names(der, n, "", why, sizeof(why)));
	ASSERT_FALSE(km_tls_cert_names(der, 10, "lab-b", why, sizeof(why)));
}

/* --tls-dir, else $KMIGRATE_TLS_DIR, else the config's tls_dir; --insecure,
 * else KMIGRATE_INSECURE (0 overrides the config), else insecure = yes */
TEST_F(tls, cli_precedence)
{
	struct km_tls_cli c;
	char want[4096];

	unsetenv("KMIGRATE_INSECURE");
	unsetenv("KMIGRATE_TLS_DIR");
	memset(&c, 0, sizeof(c));
	km_tls_cli_conf(&c, certdir("b"), true);
	ASSERT_EQ(0, km_tls_cli_check(&c, "test"));
	ASSERT_TRUE(c.insecure);
	ASSERT_NE(NULL, realpath(certdir("b"), want));
	ASSERT_STREQ(want, c.dir);
	ASSERT_NE(NULL, c.creds);
	km_tls_free(c.creds);

	setenv("KMIGRATE_TLS_DIR", certdir("a"), 1);
	setenv("KMIGRATE_INSECURE", "0", 1);
	memset(&c, 0, sizeof(c));
	km_tls_cli_conf(&c, certdir("b"), true);
	ASSERT_EQ(0, km_tls_cli_check(&c, "test"));
	ASSERT_FALSE(c.insecure);
	ASSERT_NE(NULL, realpath(certdir("a"), want));
	ASSERT_STREQ(want, c.dir);
	km_tls_free(c.creds);

	memset(&c, 0, sizeof(c));
	km_tls_cli_conf(&c, certdir("b"), false);
	km_tls_cli_opt(&c, KM_TLS_OPT_DIR, certdir("rogue"));
	km_tls_cli_opt(&c, KM_TLS_OPT_INSECURE, NULL);
	km_tls_cli_opt(&c, KM_TLS_OPT_NAME, "lab-b");
	ASSERT_EQ(0, km_tls_cli_check(&c, "test"));	/* --tls-dir with --insecure */
	ASSERT_TRUE(c.insecure);
	ASSERT_NE(NULL, realpath(certdir("rogue"), want));
	ASSERT_STREQ(want, c.dir);
	ASSERT_STREQ("lab-b", c.name);
	km_tls_free(c.creds);

	/* --insecure needs credentials too */
	setenv("KMIGRATE_TLS_DIR", "/nonexistent/kmigrate", 1);
	memset(&c, 0, sizeof(c));
	km_tls_cli_opt(&c, KM_TLS_OPT_INSECURE, NULL);
	ASSERT_EQ(-1, km_tls_cli_check(&c, "test"));
	ASSERT_EQ(NULL, c.creds);
	unsetenv("KMIGRATE_TLS_DIR");
	unsetenv("KMIGRATE_INSECURE");
}

TEST_F(tls, req_parse)
{
	struct json_object *req = json_tokener_parse(
		"{\"insecure\":true,\"tls_dir\":\"/t\",\"tls_name\":\"lab-b\"}");
	char dir[64], name[64], err[200];
	bool insecure = false;

	ASSERT_NE(NULL, req);
	ASSERT_EQ(0, km_tls_req_parse(req, &insecure, dir, sizeof(dir), name, sizeof(name), err,
				      sizeof(err)));
	ASSERT_TRUE(insecure);
	ASSERT_STREQ("/t", dir);
	ASSERT_STREQ("lab-b", name);
	json_object_put(req);
	req = json_tokener_parse("{\"tls_name\":\"\"}");
	ASSERT_EQ(-1, km_tls_req_parse(req, &insecure, dir, sizeof(dir), name, sizeof(name), err,
				       sizeof(err)));
	ASSERT_TRUE(km_contains(err, "tls_name"));
	json_object_put(req);
	req = json_tokener_parse("{}");
	ASSERT_EQ(0, km_tls_req_parse(req, &insecure, dir, sizeof(dir), name, sizeof(name), err,
				      sizeof(err)));
	ASSERT_FALSE(insecure);
	ASSERT_STREQ("", name);
	json_object_put(req);
}

TEST(tls_mode)
{
	static const unsigned char v[] = { KM_TLS_MODE_KTLS, KM_TLS_MODE_PLAIN, KM_TLS_ACK_KTLS,
					   KM_TLS_ACK_PLAIN, KM_TLS_NAK_MODE };
	unsigned char a;
	char why[300];
	unsigned int i, j;

	for (i = 0; i < sizeof(v); i++)	/* five distinct bytes */
		for (j = i + 1; j < sizeof(v); j++)
			ASSERT_NE(v[i], v[j]);
	ASSERT_EQ(0, km_tls_mode_answer(false, KM_TLS_MODE_KTLS, &a, why, sizeof(why)));
	ASSERT_EQ(KM_TLS_ACK_KTLS, a);
	ASSERT_EQ(0, km_tls_mode_answer(true, KM_TLS_MODE_PLAIN, &a, why, sizeof(why)));
	ASSERT_EQ(KM_TLS_ACK_PLAIN, a);
	ASSERT_EQ(-1, km_tls_mode_answer(true, KM_TLS_MODE_KTLS, &a, why, sizeof(why)));
	ASSERT_EQ(KM_TLS_NAK_MODE, a);
	ASSERT_EQ(-1, km_tls_mode_answer(false, KM_TLS_MODE_PLAIN, &a, why, sizeof(why)));
	ASSERT_EQ(KM_TLS_NAK_MODE, a);
	/* an answer byte is no request; neither is an old client's HELLO */
	ASSERT_EQ(-1, km_tls_mode_answer(false, KM_TLS_ACK_KTLS, &a, why, sizeof(why)));
	ASSERT_EQ(KM_TLS_NAK_MODE, a);
	ASSERT_TRUE(km_contains(why, "not a mode request"));
	ASSERT_EQ(-1, km_tls_mode_answer(true, 'K', &a, why, sizeof(why)));
	ASSERT_EQ(0, km_tls_mode_check(false, KM_TLS_ACK_KTLS, why, sizeof(why)));
	ASSERT_EQ(0, km_tls_mode_check(true, KM_TLS_ACK_PLAIN, why, sizeof(why)));
	ASSERT_EQ(-1, km_tls_mode_check(true, KM_TLS_ACK_KTLS, why, sizeof(why)));
	ASSERT_EQ(-1, km_tls_mode_check(false, KM_TLS_ACK_PLAIN, why, sizeof(why)));
	ASSERT_EQ(-1, km_tls_mode_check(false, KM_TLS_NAK_MODE, why, sizeof(why)));
	ASSERT_TRUE(km_contains(why, "runs --insecure"));
	ASSERT_EQ(-1, km_tls_mode_check(true, KM_TLS_NAK_MODE, why, sizeof(why)));
	ASSERT_TRUE(km_contains(why, "requires encryption"));
	/* the source's own request echoed back is no answer */
	ASSERT_EQ(-1, km_tls_mode_check(false, KM_TLS_MODE_KTLS, why, sizeof(why)));
	ASSERT_EQ(-1, km_tls_mode_check(true, KM_TLS_MODE_PLAIN, why, sizeof(why)));
}

/*
 * The stream through struct km_chan with KM_TLS_F_RECORDS: where the kernel
 * has no kTLS (this build host) GnuTLS's own records carry it.  The source
 * writes 6 MiB of a counting pattern in iovecs of odd sizes on a
 * non-blocking socket with a small send buffer (EAGAIN mid-record: the
 * record GnuTLS holds is finished first, counted once), the destination
 * reads it on a blocking socket with a small buffer (decrypted bytes left
 * pending for the next read) and answers its count; both sides agree.
 */
#define CHAN_TOTAL	(6u << 20)

static unsigned char chan_byte(size_t i)
{
	return (unsigned char)(i * 7 + (i >> 12));
}

TEST_F(tls, records_stream)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), cfd, st, sb = 16384, again = 0;
	char err[700], subj[256];
	struct km_tls *ct = NULL;
	struct km_chan ch;
	unsigned char *data, reply[8];
	size_t off = 0, got = 0;
	pid_t pid;

	ASSERT_LE(0, lfd);
	ASSERT_EQ(0, bind(lfd, (struct sockaddr *)&a, sizeof(a)));
	ASSERT_EQ(0, listen(lfd, 1));
	ASSERT_EQ(0, getsockname(lfd, (struct sockaddr *)&a, &al));
	pid = fork();
	if (pid == 0) {
		struct km_tls *t = NULL;
		struct km_chan sc;
		int fd = accept(lfd, NULL, NULL);
		unsigned char buf[1000];
		uint64_t n = 0, bad = 0;

		km_chan_init(&sc, fd);
		if (km_tls_load(certdir("b"), &t, err, sizeof(err)) ||
		    km_tls_open(t, fd, true, false, KM_TLS_F_RECORDS, NULL, 5000, &sc, subj,
				sizeof(subj), err, sizeof(err))) {
			fprintf(stderr, "# server: %s\n", err);
			_exit(2);
		}
		usleep(200000);	/* the source's socket fills up meanwhile */
		while (n < CHAN_TOTAL) {
			ssize_t r = km_chan_recv(&sc, buf, sizeof(buf), 0);

			if (r <= 0) {
				fprintf(stderr, "# server: recv %zd: %s %s\n", r, strerror(errno),
					sc.err);
				_exit(3);
			}
			for (ssize_t i = 0; i < r; i++)
				bad += buf[i] != chan_byte(n + (size_t)i);
			n += (uint64_t)r;
		}
		memcpy(buf, &n, 8);
		if (bad || km_chan_send(&sc, buf, 8, MSG_NOSIGNAL) != 8)
			_exit(4);
		km_chan_free(&sc);
		km_tls_free(t);
		close(fd);
		_exit(0);
	}
	close(lfd);
	data = malloc(CHAN_TOTAL);
	ASSERT_NE(NULL, data);
	for (size_t i = 0; i < CHAN_TOTAL; i++)
		data[i] = chan_byte(i);
	cfd = socket(AF_INET, SOCK_STREAM, 0);
	ASSERT_LE(0, cfd);
	ASSERT_EQ(0, setsockopt(cfd, SOL_SOCKET, SO_SNDBUF, &sb, sizeof(sb)));
	ASSERT_EQ(0, connect(cfd, (struct sockaddr *)&a, sizeof(a)));
	ASSERT_EQ(0, km_tls_load(certdir("a"), &ct, err, sizeof(err)));
	km_chan_init(&ch, cfd);
	ASSERT_EQ(0, km_tls_open(ct, cfd, false, false, KM_TLS_F_RECORDS, "lab-b", 5000, &ch,
				 subj, sizeof(subj), err, sizeof(err)));
	ASSERT_STREQ(ktls_here() ? KM_TLS_DESC : KM_TLS_DESC_RECORDS, ch.desc);
	ASSERT_EQ(0, fcntl(cfd, F_SETFL, fcntl(cfd, F_GETFL) | O_NONBLOCK));
	while (off < CHAN_TOTAL) {
		/* a 24-byte "header", then up to 37 "pages" of 4093 bytes */
		struct iovec v[38];
		int cnt = 0;
		size_t o = off, left = CHAN_TOTAL - off;
		ssize_t r;

		while (cnt < 38 && left) {
			size_t l = cnt ? 4093 : 24;

			l = l < left ? l : left;
			v[cnt].iov_base = data + o;
			v[cnt++].iov_len = l;
			o += l;
			left -= l;
		}
		r = km_chan_writev(&ch, v, cnt);
		if (r < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = cfd, .events = POLLOUT };

			again++;
			ASSERT_LE(0, poll(&p, 1, 5000));
			continue;
		}
		ASSERT_LT(0, r);
		off += (size_t)r;
	}
	while (got < sizeof(reply)) {
		struct pollfd p = { .fd = cfd, .events = POLLIN };
		ssize_t r;

		if (!km_chan_pending(&ch))
			ASSERT_EQ(1, poll(&p, 1, 5000));
		r = km_chan_recv(&ch, reply + got, sizeof(reply) - got, MSG_DONTWAIT);
		if (r < 0 && errno == EAGAIN)
			continue;
		ASSERT_LT(0, r);
		got += (size_t)r;
	}
	fprintf(stderr, "# %s: %u bytes, %d EAGAIN\n", ch.desc, CHAN_TOTAL, again);
	EXPECT_LT(0, again);	/* the interesting path was taken */
	EXPECT_EQ(0, memcmp(reply, &(uint64_t){ CHAN_TOTAL }, 8));
	waitpid(pid, &st, 0);
	EXPECT_TRUE(WIFEXITED(st));
	EXPECT_EQ(0, WEXITSTATUS(st));
	km_chan_free(&ch);
	close(cfd);
	km_tls_free(ct);
	free(data);
}

TEST_HARNESS_MAIN
