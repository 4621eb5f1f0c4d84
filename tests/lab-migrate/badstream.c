// SPDX-License-Identifier: GPL-2.0
/*
 * badstream: feeds a `kmigrate listen` streams it must refuse, for
 * tests/lab-migrate/faults_test.sh.  Built with the tool's flags and
 * tools/migrate/proto*.c (the reference encoder).
 *
 *   badstream case CASE HOST PORT [TIMEOUT_S]
 *	connects (retrying up to TIMEOUT_S, default 120), sends the bad stream
 *	CASE and reads the destination's answer until it closes.  Passes (exit
 *	0) when the destination never says READY and answers with the ERROR
 *	code the protocol asks for (or, for 'truncate', at least closes).
 *	CASE: garbage, truncate, version, feature, type, range, order, length
 *
 *   badstream proxy LADDR LPORT TADDR TPORT MODE [CMD]
 *	accepts one connection on LADDR:LPORT, forwards it to TADDR:TPORT and
 *	back, record by record; MODE changes the source's stream:
 *	  corrupt-final-page  flips one byte of the first page of the FINAL round
 *	  bad-end-totals      END's 'records' total + 1
 *	  on-end              runs CMD (sh -c) when END arrives, before passing it
 *	  pass                nothing
 *	Exit 0 when the change was made and the destination never said READY
 *	(pass: when it did).  Prints what it saw on stderr/stdout as '# ' lines.
 *
 *	Both modes authenticate first, as every kmigrate peer does (tls.h):
 *	the TLS 1.3 handshake with the credentials of $KMIGRATE_TLS_DIR and
 *	the plaintext (--insecure) mode, the proxy on both of its sides (the
 *	listener's toward the source, the source's toward TADDR); the
 *	records then flow in plaintext, as with `kmigrate listen --insecure`.
 *
 *   badstream gate-wait ADDR PORT TIMEOUT_S   waits for one gate-open, prints
 *					       its message
 *   badstream gate-open ADDR PORT TIMEOUT_S [MSG]
 *	a barrier between the two lab hosts over the migration network.
 */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "tls.h"

#define MEM_BYTES	(16ull << 20)

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)v); put32(p + 4, (uint32_t)(v >> 32)); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const uint8_t *p) { return get16(p) | (uint32_t)get16(p + 2) << 16; }
static uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

static void hdr(uint8_t *p, uint32_t type, uint32_t flags, uint32_t length, uint32_t count)
{
	put32(p, KMP_REC_MAGIC);
	put16(p + 4, (uint16_t)type);
	put16(p + 6, (uint16_t)flags);
	put32(p + 8, length);
	put32(p + 12, count);
}

static int resolve(const char *host, const char *port, int passive, struct addrinfo **ai)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV |
					      (passive ? AI_PASSIVE : 0) };
	int r = getaddrinfo(host, port, &hints, ai);

	if (r)
		fprintf(stderr, "badstream: %s port %s: %s\n", host, port, gai_strerror(r));
	return r ? -1 : 0;
}

/* The authenticated plaintext channel (tls.h) on @fd: as the source
 * (expecting @name) or as the destination.  0 or -1 after a '# ' line. */
static int bs_auth(int fd, bool server, const char *name)
{
	static struct km_tls *creds;
	char err[700], subj[256];

	if (!creds && km_tls_load(NULL, &creds, err, sizeof(err))) {
		printf("# badstream: %s\n", err);
		return -1;
	}
	if (km_tls_handshake(creds, fd, server, true, name, KM_TLS_HANDSHAKE_MS, subj,
			     sizeof(subj), err, sizeof(err))) {
		printf("# badstream: %s: %s\n", server ? "as the destination" : "as the source",
		       err);
		return -1;
	}
	printf("# badstream: %s, peer %s\n", KM_TLS_DESC_PLAIN, subj);
	fflush(stdout);
	return 0;
}

/* Connects, retrying for @timeout_s. */
static int connect_retry(const char *host, const char *port, unsigned int timeout_s)
{
	struct addrinfo *ai;
	uint64_t end = now_ms() + timeout_s * 1000ull;
	int fd;

	if (resolve(host, port, 0, &ai))
		return -1;
	for (;;) {
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && !connect(fd, ai->ai_addr, ai->ai_addrlen))
			break;
		if (fd >= 0)
			close(fd);
		fd = -1;
		if (now_ms() > end) {
			fprintf(stderr, "badstream: connecting to %s port %s: %s\n", host, port,
				strerror(errno));
			break;
		}
		usleep(200000);
	}
	freeaddrinfo(ai);
	return fd;
}

/* Listens and accepts one connection within @timeout_s. */
static int accept_one(const char *host, const char *port, unsigned int timeout_s)
{
	struct addrinfo *ai;
	struct pollfd p;
	int lfd, fd = -1, one = 1;

	if (resolve(host, port, 1, &ai))
		return -1;
	lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		goto out;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, ai->ai_addr, ai->ai_addrlen) || listen(lfd, 4)) {
		fprintf(stderr, "badstream: listening on %s port %s: %s\n", host, port,
			strerror(errno));
		goto out;
	}
	p = (struct pollfd){ .fd = lfd, .events = POLLIN };
	if (poll(&p, 1, (int)timeout_s * 1000) != 1) {
		fprintf(stderr, "badstream: nobody came to %s port %s in %u s\n", host, port,
			timeout_s);
		goto out;
	}
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
out:
	if (lfd >= 0)
		close(lfd);
	freeaddrinfo(ai);
	return fd;
}

static int send_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads exactly @len bytes; 0, or -1 on EOF/error (errno 0 on EOF). */
static int recv_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = recv(fd, p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (!n)
				errno = 0;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* -------------------------------------------- the destination's answer */

struct answer {
	int accept, ready, error;
	uint32_t code;
	char msg[KMP_MAX_MSG + 1];
	int closed;		/* the destination closed (EOF or reset) */
	int reset;
	int timeout;
	int junk;		/* bytes that are no record of the destination */
};

/* Parses the destination's records in @buf[0..*len), keeps the tail. */
static void answer_parse(struct answer *a, uint8_t *buf, size_t *len, const char *who)
{
	size_t off = 0;

	while (*len - off >= KMP_HDR_SIZE) {
		const uint8_t *h = buf + off;
		uint32_t type = get16(h + 4), length = get32(h + 8);

		if (get32(h) != KMP_REC_MAGIC || length > 4096) {
			a->junk = 1;
			off = *len;
			break;
		}
		if (*len - off < KMP_HDR_SIZE + length)
			break;
		if (type == KMP_T_ACCEPT) {
			a->accept++;
		} else if (type == KMP_T_READY) {
			a->ready++;
		} else if (type == KMP_T_ERROR && length >= KMP_ERROR_FIXED) {
			size_t ml = length - KMP_ERROR_FIXED;

			a->error++;
			a->code = get32(h + KMP_HDR_SIZE);
			if (ml > KMP_MAX_MSG)
				ml = KMP_MAX_MSG;
			memcpy(a->msg, h + KMP_HDR_SIZE + KMP_ERROR_FIXED, ml);
			a->msg[ml] = 0;
		} else {
			a->junk = 1;
		}
		printf("# %s: the destination sent %s (%u bytes)%s%s\n", who,
		       kmp_type_name(type) ? kmp_type_name(type) : "an unknown record", length,
		       type == KMP_T_ERROR ? ": " : "", type == KMP_T_ERROR ? a->msg : "");
		off += KMP_HDR_SIZE + length;
	}
	memmove(buf, buf + off, *len - off);
	*len -= off;
}

/* Reads until the peer closes or @timeout_ms pass; @until_accept: stop after ACCEPT. */
static void answer_read(int fd, struct answer *a, uint8_t *buf, size_t *len, int until_accept,
			unsigned int timeout_ms, const char *who)
{
	uint64_t end = now_ms() + timeout_ms;

	while (!a->closed) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = (int64_t)(end - now_ms());
		ssize_t n;

		if (until_accept && (a->accept || a->error))
			return;
		if (left <= 0 || poll(&p, 1, (int)left) != 1) {
			a->timeout = 1;
			return;
		}
		n = recv(fd, buf + *len, 8192 - *len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			a->closed = 1;
			a->reset = n < 0;
			if (n < 0)
				printf("# %s: connection: %s\n", who, strerror(errno));
			break;
		}
		*len += (size_t)n;
		answer_parse(a, buf, len, who);
	}
}

/* --------------------------------------------------------- bad streams */

static struct kmp_hello make_hello(const char *name)
{
	struct kmp_hello h;

	memset(&h, 0, sizeof(h));
	h.version = KMP_VERSION;
	h.page_size = KMP_PAGE_SIZE;
	memcpy(h.session, "badstream-sessn!", KMP_SESSION_SIZE);
	h.mem_size = MEM_BYTES;
	h.nr_vcpus = 1;
	h.nr_slots = 1;
	h.cpuid_hash = 0;	/* "not given": no CPUID check */
	snprintf(h.name, sizeof(h.name), "%s", name);
	h.slots[0].gpa = 0;
	h.slots[0].size = MEM_BYTES;
	return h;
}

static int do_case(const char *c, const char *host, const char *port, unsigned int timeout_s)
{
	static uint8_t out[1 << 16];
	uint8_t in[8192];
	size_t inlen = 0, olen = 0;
	struct kmp_enc e;
	struct kmp_hello h;
	struct answer a = { 0 };
	char name[64];
	uint32_t want = 0;		/* the ERROR code the protocol asks for */
	int after_hello = 1, fd, ok;
	ssize_t n;

	snprintf(name, sizeof(name), "bad-%s", c);
	kmp_enc_init(&e, KMP_DIR_SOURCE);
	h = make_hello(name);
	n = kmp_enc_hello(&e, out, sizeof(out), &h);
	if (n < 0) {
		fprintf(stderr, "badstream: HELLO: %s\n", e.err);
		return 2;
	}
	olen = (size_t)n;
	if (!strcmp(c, "garbage")) {
		for (olen = 0; olen < 200; olen++)
			out[olen] = (uint8_t)(olen * 37 + 11);
		after_hello = 0;
		want = KMP_E_MAGIC;
	} else if (!strcmp(c, "version")) {
		put32(out + KMP_HDR_SIZE + 8, KMP_VERSION + 1);
		after_hello = 0;
		want = KMP_E_VERSION;
	} else if (!strcmp(c, "feature")) {
		put64(out + KMP_HDR_SIZE + 16, 1ull << 40);
		after_hello = 0;
		want = KMP_E_FEATURE;
	} else if (!strcmp(c, "length")) {
		/* a HELLO whose length does not match its nr_slots */
		put32(out + 8, get32(out + 8) + 16);
		memset(out + olen, 0, 16);
		olen += 16;
		after_hello = 0;
		want = KMP_E_LENGTH;
	} else if (strcmp(c, "truncate") && strcmp(c, "type") && strcmp(c, "range") &&
		   strcmp(c, "order")) {
		fprintf(stderr, "badstream: unknown case '%s'\n", c);
		return 2;
	}

	fd = connect_retry(host, port, timeout_s);
	if (fd < 0 || bs_auth(fd, false, host))
		return 2;
	if (send_all(fd, out, olen))
		printf("# %s: sending: %s\n", c, strerror(errno));
	if (after_hello) {
		struct kmp_round r = { .round = 0, .flags = 0, .dirty_pages = 4 };
		static uint8_t page[KMP_PAGE_SIZE];

		answer_read(fd, &a, in, &inlen, 1, 30000, c);
		if (!a.accept) {
			printf("# %s: no ACCEPT for a valid HELLO\n", c);
			close(fd);
			return 1;
		}
		olen = 0;
		if (!strcmp(c, "order"))
			r.flags = KMP_ROUND_F_FINAL;
		n = kmp_enc_round(&e, out, sizeof(out), &r);
		if (n < 0) {
			fprintf(stderr, "badstream: ROUND: %s\n", e.err);
			return 2;
		}
		olen = (size_t)n;
		memset(page, 0x5a, sizeof(page));
		if (!strcmp(c, "truncate")) {
			/* PAGES of 4 pages, only 1.5 of them sent, then EOF */
			hdr(out + olen, KMP_T_PAGES, 0, 4 * (KMP_GFN_SIZE + KMP_PAGE_SIZE), 4);
			olen += KMP_HDR_SIZE;
			for (int i = 0; i < 4; i++, olen += 8)
				put64(out + olen, 1024 + (uint64_t)i);
			memcpy(out + olen, page, KMP_PAGE_SIZE);
			olen += KMP_PAGE_SIZE;
			memcpy(out + olen, page, KMP_PAGE_SIZE / 2);
			olen += KMP_PAGE_SIZE / 2;
		} else if (!strcmp(c, "type")) {
			hdr(out + olen, 10, 0, 0, 0);	/* no such record type (9 is PROFILE) */
			olen += KMP_HDR_SIZE;
			want = KMP_E_TYPE;
		} else if (!strcmp(c, "range")) {
			hdr(out + olen, KMP_T_PAGES, 0, 2 * (KMP_GFN_SIZE + KMP_PAGE_SIZE), 2);
			olen += KMP_HDR_SIZE;
			put64(out + olen, 1024);
			put64(out + olen + 8, (MEM_BYTES >> KMP_PAGE_SHIFT) + 7);	/* beyond */
			olen += 16;
			memcpy(out + olen, page, KMP_PAGE_SIZE);
			memcpy(out + olen + KMP_PAGE_SIZE, page, KMP_PAGE_SIZE);
			olen += 2 * KMP_PAGE_SIZE;
			want = KMP_E_RANGE;
		} else if (!strcmp(c, "order")) {
			/* ROUND/FINAL then COMMIT: no state, no END, no READY */
			hdr(out + olen, KMP_T_COMMIT, 0, 0, 0);
			olen += KMP_HDR_SIZE;
			want = KMP_E_ORDER;
		}
		if (send_all(fd, out, olen))
			printf("# %s: sending: %s\n", c, strerror(errno));
	}
	if (!strcmp(c, "truncate"))
		shutdown(fd, SHUT_WR);		/* the stream ends mid-PAGES */
	answer_read(fd, &a, in, &inlen, 0, 20000, c);
	close(fd);

	ok = !a.ready && a.closed && !a.junk;
	if (want)
		ok = ok && a.error == 1 && a.code == want;
	printf("# %s: %s; %d ERROR (code %u %s, want %u %s)%s%s%s%s\n", c,
	       a.closed ? (a.reset ? "the destination reset the connection" :
			   "the destination closed") : "the destination did NOT close in 20 s",
	       a.error, a.code, a.error ? kmp_strerror(a.code) : "-", want,
	       want ? kmp_strerror(want) : "(any or none)", a.ready ? "; READY!" : "",
	       a.junk ? "; junk bytes" : "", a.timeout ? "; timeout" : "",
	       inlen ? "; a partial record" : "");
	return ok ? 0 : 1;
}

/* ----------------------------------------------------------------- proxy */

struct back {
	int from, to;
	struct answer a;
};

/* destination -> source: copied as it comes, parsed on the side */
static void *back_thread(void *arg)
{
	struct back *b = arg;
	uint8_t buf[8192], pend[8192];
	size_t plen = 0;

	for (;;) {
		ssize_t n = recv(b->from, buf, sizeof(buf), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			b->a.closed = 1;
			b->a.reset = n < 0;
			break;
		}
		if (plen + (size_t)n <= sizeof(pend)) {
			memcpy(pend + plen, buf, (size_t)n);
			plen += (size_t)n;
			answer_parse(&b->a, pend, &plen, "proxy");
		}
		if (send_all(b->to, buf, (size_t)n))
			break;
	}
	shutdown(b->to, SHUT_WR);
	return NULL;
}

static int do_proxy(char **av, int ac)
{
	const char *mode = av[4], *cmd = ac > 5 ? av[5] : NULL;
	struct back b = { 0 };
	pthread_t th;
	uint8_t h[KMP_HDR_SIZE];
	uint8_t *pl = NULL;
	size_t cap = 0;
	int final = 0, done = 0, s, d;
	uint64_t recs = 0;

	if (strcmp(mode, "corrupt-final-page") && strcmp(mode, "bad-end-totals") &&
	    strcmp(mode, "on-end") && strcmp(mode, "pass")) {
		fprintf(stderr, "badstream: unknown proxy mode '%s'\n", mode);
		return 2;
	}
	if (!strcmp(mode, "on-end") && !cmd) {
		fprintf(stderr, "badstream: on-end needs a CMD\n");
		return 2;
	}
	s = accept_one(av[0], av[1], 300);
	if (s < 0 || bs_auth(s, true, NULL))
		return 2;
	d = connect_retry(av[2], av[3], 30);
	if (d < 0 || bs_auth(d, false, av[2]))
		return 2;
	b.from = d;
	b.to = s;
	if (pthread_create(&th, NULL, back_thread, &b))
		return 2;
	for (;;) {
		uint32_t type, flags, length;

		if (recv_all(s, h, sizeof(h)))
			break;
		type = get16(h + 4);
		flags = get16(h + 6);
		length = get32(h + 8);
		if (length > KMP_MAX_RECORD) {
			printf("# proxy: a record of %u bytes from the source?\n", length);
			break;
		}
		if (length > cap) {
			free(pl);
			cap = length;
			pl = malloc(cap);
			if (!pl)
				break;
		}
		if (length && recv_all(s, pl, length))
			break;
		if (type == KMP_T_ROUND)
			final = !!(flags & KMP_ROUND_F_FINAL);
		if (!done && final && type == KMP_T_PAGES && !strcmp(mode, "corrupt-final-page")) {
			uint32_t cnt = get32(h + 12);
			uint8_t *p = pl + (size_t)cnt * KMP_GFN_SIZE + 100;

			*p ^= 0x40;
			done = 1;
			printf("# proxy: flipped a byte of gfn %#" PRIx64 " in record %" PRIu64
			       " (PAGES of the FINAL round)\n", get64(pl), recs);
		}
		if (type == KMP_T_END && !strcmp(mode, "bad-end-totals")) {
			printf("# proxy: END: records %" PRIu64 " -> %" PRIu64 "\n", get64(pl + 8),
			       get64(pl + 8) + 1);
			put64(pl + 8, get64(pl + 8) + 1);
			done = 1;
		}
		if (type == KMP_T_END && !strcmp(mode, "on-end")) {
			int r;

			printf("# proxy: END from the source (record %" PRIu64 "): running '%s'\n",
			       recs, cmd);
			fflush(stdout);
			r = system(cmd);
			printf("# proxy: '%s' exited %d\n", cmd, r);
			done = r == 0;
		}
		if (send_all(d, h, sizeof(h)) || (length && send_all(d, pl, length))) {
			printf("# proxy: forwarding record %" PRIu64 " (%s): %s\n", recs,
			       kmp_type_name(type) ? kmp_type_name(type) : "?", strerror(errno));
			break;
		}
		recs++;
		if (type == KMP_T_COMMIT || type == KMP_T_ABORT) {
			printf("# proxy: %s from the source\n", kmp_type_name(type));
			if (type == KMP_T_ABORT && length > KMP_ERROR_FIXED)
				printf("# proxy: ABORT: %.*s\n", (int)(length - KMP_ERROR_FIXED),
				       (char *)pl + KMP_ERROR_FIXED);
		}
	}
	shutdown(d, SHUT_WR);
	pthread_join(th, NULL);
	close(s);
	close(d);
	free(pl);
	if (!strcmp(mode, "pass"))
		done = 1;
	printf("# proxy: %" PRIu64 " records forwarded; destination: %d ACCEPT, %d READY, %d ERROR"
	       " %u (%s)%s\n", recs, b.a.accept, b.a.ready, b.a.error, b.a.code,
	       b.a.error ? b.a.msg : "-", done ? "" : "; the change was NOT made");
	if (!strcmp(mode, "pass"))
		return b.a.ready ? 0 : 1;
	if (!strcmp(mode, "on-end"))
		return done && !b.a.ready ? 0 : 1;
	return done && !b.a.ready && b.a.error == 1 && b.a.code == KMP_E_DIGEST ? 0 : 1;
}

/* ----------------------------------------------------------------- gates */

static int do_gate(int open_it, char **av, int ac)
{
	unsigned int t = (unsigned int)atoi(av[2]);
	char msg[256] = "";
	int fd;

	if (open_it) {
		fd = connect_retry(av[0], av[1], t);
		if (fd < 0)
			return 1;
		if (ac > 3)
			send_all(fd, av[3], strlen(av[3]));
		close(fd);
		return 0;
	}
	fd = accept_one(av[0], av[1], t);
	if (fd < 0)
		return 1;
	{
		size_t len = 0;
		ssize_t n;

		while (len < sizeof(msg) - 1 && (n = recv(fd, msg + len, sizeof(msg) - 1 - len, 0)) > 0)
			len += (size_t)n;
		msg[len] = 0;
	}
	close(fd);
	printf("%s\n", msg);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 5 && !strcmp(argv[1], "case"))
		return do_case(argv[2], argv[3], argv[4],
			       argc > 5 ? (unsigned int)atoi(argv[5]) : 120);
	if (argc >= 7 && !strcmp(argv[1], "proxy"))
		return do_proxy(argv + 2, argc - 2);
	if (argc >= 5 && !strcmp(argv[1], "gate-wait"))
		return do_gate(0, argv + 2, argc - 2);
	if (argc >= 5 && !strcmp(argv[1], "gate-open"))
		return do_gate(1, argv + 2, argc - 2);
	fprintf(stderr, "usage: badstream case CASE HOST PORT [TIMEOUT_S] | proxy LADDR LPORT "
		"TADDR TPORT MODE [CMD] | gate-wait ADDR PORT TIMEOUT_S | gate-open ADDR PORT "
		"TIMEOUT_S [MSG]\n");
	return 2;
}
