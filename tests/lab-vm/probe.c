// SPDX-License-Identifier: GPL-2.0
/*
 * kmprobe: the client probe of the migration tests and the benchmark
 * (issue 11): what the guest's clients see during a switch-over, measured
 * from outside the guest on the VM network against kmagent's echo service
 * (tests/lab-vm/agent/echo.c).
 *
 *   --udp HOST:PORT   a small datagram with a sequence number and its send
 *                     time every --interval-us (1000) for --seconds;
 *                     counts answers, the lost, duplicates, the round
 *                     trip, and the longest gap between two consecutive
 *                     answers (from the start, and to the end of sending
 *                     when answers stopped), with when it happened
 *   --tcp HOST:PORT   one connection held open for the whole run, a
 *                     64-byte chunk of a known byte stream written every
 *                     --tcp-interval-ms (10); every byte echoed must come
 *                     back in order and the connection must not end:
 *                     "survived"
 *   --ticker HOST:PORT kmagent's ticker (echo --tick-ms, port P+1): its
 *                     ticks, the missing, the longest gap between two,
 *                     and the guest's wall clock against ours (a clock
 *                     that jumped or lags after a switch-over shows)
 *
 * After sending it waits --drain-ms (500; TCP up to 3 s more for
 * retransmissions) for late answers.  Output: one JSON line on stdout
 * (docs in tests/lab/README.md, "The client probe"); with --summary also
 * "kmprobe: probe longest gap N ms (at T s), lost M of S, TCP connection
 * survived" on stderr.  Exit: 0 measured,
 * 1 a TCP connection (echo or ticker) did not survive or no UDP answer
 * came at all,
 * 2 bad usage, 3 cannot start (address, socket, connect).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAGIC		0x4b4d5052u	/* "KMPR" */
#define TCP_CHUNK	64
#define NS_MS		1000000ull

struct req {			/* the datagram's head; the rest is padding */
	uint32_t magic;
	uint32_t pad;
	uint64_t seq;
	uint64_t sent_ns;
};

struct udp_probe {
	int fd;
	uint64_t sent, received, dups, stray;
	uint8_t *seen;			/* one bit per sequence */
	uint64_t last_answer;		/* ns since start; the start at first */
	uint64_t gap, gap_from, gap_to;	/* the longest gap, ns since start */
	uint64_t rtt_min, rtt_max, rtt_sum;
	uint64_t late_max;		/* the most a send was behind its time */
};

struct tcp_probe {
	int fd;
	bool connected, failed;
	char error[96];
	uint64_t sent, echoed;
	uint64_t last_echo, stall;
};

struct tick_probe {
	int fd;
	bool failed;
	char error[96];
	char buf[4096];
	size_t len;
	uint64_t ticks, missing, next_seq;
	uint64_t last_at, gap, gap_from;	/* arrivals, ns since start */
	uint64_t last_mono, mono_gap;		/* the guest's monotonic clock */
	double off_first, off_last, off_min, off_max;	/* guest - our wall clock, ms */
};

static volatile sig_atomic_t stop_now;

static void on_signal(int sig)
{
	(void)sig;
	stop_now = 1;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000ull;
}

/* The byte at offset @i of the TCP stream. */
static uint8_t stream_byte(uint64_t i)
{
	uint64_t x = (i >> 3) * 0x9e3779b97f4a7c15ull;

	return (uint8_t)((x ^ (x >> 29)) >> (8 * (i & 7)));
}

static bool num(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = s && *s >= '0' && *s <= '9' ? strtoull(s, &end, 10) : 0;
	if (!s || *s < '0' || *s > '9' || errno || *end || v < min || v > max) {
		fprintf(stderr, "kmprobe: %s: '%s' is not a number from %" PRIu64 " to %" PRIu64 "\n",
			opt, s ? s : "", min, max);
		return false;
	}
	*out = v;
	return true;
}

/* "HOST:PORT" or "[V6]:PORT" -> a connected socket of @type; -1 (said why). */
static int open_target(const char *target, int type)
{
	struct addrinfo hints = { .ai_socktype = type }, *ai = NULL;
	char host[256], *port;
	int fd, r, big = 4 << 20;

	if (strlen(target) >= sizeof(host)) {
		fprintf(stderr, "kmprobe: '%s': too long\n", target);
		return -2;
	}
	strcpy(host, target);
	port = strrchr(host, ':');
	if (!port || port == host || !port[1]) {
		fprintf(stderr, "kmprobe: '%s': want HOST:PORT or [IPV6]:PORT\n", target);
		return -2;
	}
	*port++ = 0;
	if (host[0] == '[') {
		size_t n = strlen(host);

		if (n < 3 || host[n - 1] != ']') {
			fprintf(stderr, "kmprobe: '%s': want [IPV6]:PORT\n", target);
			return -2;
		}
		host[n - 1] = 0;
		memmove(host, host + 1, n - 1);
	}
	r = getaddrinfo(host, port, &hints, &ai);
	if (r) {
		fprintf(stderr, "kmprobe: '%s': %s\n", target, gai_strerror(r));
		return -1;
	}
	fd = socket(ai->ai_family, type | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "kmprobe: socket: %s\n", strerror(errno));
		freeaddrinfo(ai);
		return -1;
	}
	if (type == SOCK_DGRAM && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	if (type == SOCK_STREAM) {
		struct timeval tv = { .tv_sec = 3 };
		int one = 1;

		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));	/* bounds connect */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen)) {
		fprintf(stderr, "kmprobe: connecting to %s: %s\n", target, strerror(errno));
		close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)) {
		fprintf(stderr, "kmprobe: O_NONBLOCK: %s\n", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* ------------------------------------------------------------- UDP -- */

static void udp_send(struct udp_probe *u, uint64_t due, size_t size)
{
	uint8_t buf[1500] = { 0 };
	struct req q = { .magic = MAGIC, .seq = u->sent, .sent_ns = mono_ns() };

	if (q.sent_ns > due && q.sent_ns - due > u->late_max)
		u->late_max = q.sent_ns - due;
	memcpy(buf, &q, sizeof(q));
	/* a send the network refuses (no route during the outage) is a loss */
	(void)send(u->fd, buf, size, 0);
	u->sent++;
}

/* An answer arrived at @now (ns since @t0): the gap since the last one. */
static void udp_gap(struct udp_probe *u, uint64_t since, uint64_t until)
{
	if (until > since && until - since > u->gap) {
		u->gap = until - since;
		u->gap_from = since;
		u->gap_to = until;
	}
}

static void udp_recv(struct udp_probe *u, uint64_t t0)
{
	uint8_t buf[1500];
	struct req q;
	ssize_t n;
	uint64_t now, rtt;

	while ((n = recv(u->fd, buf, sizeof(buf), 0)) >= 0) {
		now = mono_ns();
		memcpy(&q, buf, sizeof(q));
		if ((size_t)n < sizeof(q) || q.magic != MAGIC || q.seq >= u->sent) {
			u->stray++;
			continue;
		}
		if (u->seen[q.seq / 8] & (1u << (q.seq % 8))) {
			u->dups++;
			continue;
		}
		u->seen[q.seq / 8] |= (uint8_t)(1u << (q.seq % 8));
		u->received++;
		rtt = now - q.sent_ns;
		if (!u->rtt_min || rtt < u->rtt_min)
			u->rtt_min = rtt;
		if (rtt > u->rtt_max)
			u->rtt_max = rtt;
		u->rtt_sum += rtt;
		udp_gap(u, u->last_answer, now - t0);
		u->last_answer = now - t0;
	}
}

/* ------------------------------------------------------------- TCP -- */

static void tcp_fail(struct tcp_probe *t, const char *fmt, const char *what)
{
	if (t->failed)
		return;
	t->failed = true;
	snprintf(t->error, sizeof(t->error), fmt, what);
}

static void tcp_send(struct tcp_probe *t)
{
	uint8_t buf[TCP_CHUNK];
	unsigned int i;
	ssize_t n;

	if (t->failed)
		return;
	for (i = 0; i < TCP_CHUNK; i++)
		buf[i] = stream_byte(t->sent + i);
	n = send(t->fd, buf, sizeof(buf), MSG_NOSIGNAL);
	if (n > 0)
		t->sent += (uint64_t)n;
	else if (n < 0 && errno != EAGAIN && errno != EINTR)
		tcp_fail(t, "send: %s", strerror(errno));
}

static void tcp_recv(struct tcp_probe *t, uint64_t t0)
{
	uint8_t buf[4096];
	ssize_t n, i;
	uint64_t now;

	while (!t->failed) {
		n = recv(t->fd, buf, sizeof(buf), 0);
		if (n == 0) {
			tcp_fail(t, "%s", "closed by the server");
			return;
		}
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				tcp_fail(t, "recv: %s", strerror(errno));
			return;
		}
		for (i = 0; i < n; i++) {
			if (buf[i] != stream_byte(t->echoed + (uint64_t)i)) {
				char at[32];

				snprintf(at, sizeof(at), "%" PRIu64, t->echoed + (uint64_t)i);
				tcp_fail(t, "echo differs at byte %s", at);
				return;
			}
		}
		if ((uint64_t)n + t->echoed > t->sent) {
			tcp_fail(t, "%s", "more bytes echoed than sent");
			return;
		}
		t->echoed += (uint64_t)n;
		now = mono_ns() - t0;
		if (now - t->last_echo > t->stall)
			t->stall = now - t->last_echo;
		t->last_echo = now;
	}
}

/* ---------------------------------------------------------- ticker -- */

/* One "TICK SEQ MONO_NS REAL_NS" line of kmagent's ticker, arrived at @at. */
static void tick_line(struct tick_probe *k, const char *l, uint64_t at, double local_real_ms)
{
	unsigned long long seq, mono, real;
	double off;

	if (sscanf(l, "TICK %llu %llu %llu", &seq, &mono, &real) != 3 || !seq) {
		if (!k->failed) {
			k->failed = true;
			snprintf(k->error, sizeof(k->error), "not a tick line");
		}
		return;
	}
	if (k->ticks && seq > k->next_seq)
		k->missing += seq - k->next_seq;
	k->next_seq = seq + 1;
	if (k->ticks && at - k->last_at > k->gap) {
		k->gap = at - k->last_at;
		k->gap_from = k->last_at;
	}
	if (k->ticks && mono - k->last_mono > k->mono_gap)
		k->mono_gap = mono - k->last_mono;
	off = (double)real / 1e6 - local_real_ms;
	if (!k->ticks)
		k->off_first = k->off_min = k->off_max = off;
	k->off_min = off < k->off_min ? off : k->off_min;
	k->off_max = off > k->off_max ? off : k->off_max;
	k->off_last = off;
	k->last_mono = mono;
	k->last_at = at;
	k->ticks++;
}

static void tick_recv(struct tick_probe *k, uint64_t t0)
{
	struct timespec rt;
	ssize_t n;
	char *nl;

	while (!k->failed) {
		n = recv(k->fd, k->buf + k->len, sizeof(k->buf) - 1 - k->len, 0);
		if (n <= 0) {
			if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				k->failed = true;
				snprintf(k->error, sizeof(k->error), "%s",
					 n == 0 ? "closed by the server" : strerror(errno));
			}
			return;
		}
		clock_gettime(CLOCK_REALTIME, &rt);
		k->len += (size_t)n;
		k->buf[k->len] = 0;
		while ((nl = strchr(k->buf, '\n'))) {
			*nl = 0;
			tick_line(k, k->buf, mono_ns() - t0,
				  (double)rt.tv_sec * 1e3 + (double)rt.tv_nsec / 1e6);
			k->len -= (size_t)(nl + 1 - k->buf);
			memmove(k->buf, nl + 1, k->len + 1);
		}
		if (k->len == sizeof(k->buf) - 1)
			k->len = 0;	/* no line in 4 KiB: tick_line says so next */
	}
}

/* ----------------------------------------------------------- report -- */

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static void report(const struct udp_probe *u, const struct tcp_probe *t,
		   const struct tick_probe *k, const char *udp_to, const char *tcp_to,
		   const char *tick_to, uint64_t run_ns, uint64_t interval_us, uint64_t t0_unix_ms)
{
	printf("{\"probe\":\"kmprobe\",\"seconds\":%.3f,\"interval_us\":%" PRIu64 ",\"start_unix_ms\":%"
	       PRIu64, (double)run_ns / 1e9, interval_us, t0_unix_ms);
	if (udp_to)
		printf(",\"udp\":{\"target\":\"%s\",\"sent\":%" PRIu64 ",\"received\":%" PRIu64
		       ",\"lost\":%" PRIu64 ",\"duplicates\":%" PRIu64 ",\"stray\":%" PRIu64
		       ",\"longest_gap_ms\":%.3f,\"gap_from_s\":%.3f,\"gap_to_s\":%.3f"
		       ",\"gap_from_unix_ms\":%" PRIu64 ",\"rtt_ms\":{\"min\":%.3f,\"avg\":%.3f,"
		       "\"max\":%.3f},\"send_late_max_ms\":%.3f}",
		       udp_to, u->sent, u->received, u->sent - u->received, u->dups, u->stray,
		       ms(u->gap), (double)u->gap_from / 1e9, (double)u->gap_to / 1e9,
		       (uint64_t)(t0_unix_ms + u->gap_from / NS_MS), ms(u->rtt_min),
		       u->received ? ms(u->rtt_sum / u->received) : 0.0, ms(u->rtt_max),
		       ms(u->late_max));
	if (tcp_to) {
		printf(",\"tcp\":{\"target\":\"%s\",\"connected\":%s,\"survived\":%s,\"bytes_sent\":%"
		       PRIu64 ",\"bytes_echoed\":%" PRIu64 ",\"longest_stall_ms\":%.3f,\"error\":",
		       tcp_to, t->connected ? "true" : "false",
		       t->connected && !t->failed && t->echoed == t->sent ? "true" : "false",
		       t->sent, t->echoed, ms(t->stall));
		if (t->failed)
			printf("\"%s\"}", t->error);	/* our own text: no quotes in it */
		else if (t->echoed != t->sent)
			printf("\"%" PRIu64 " bytes not echoed\"}", t->sent - t->echoed);
		else
			printf("null}");
	}
	if (tick_to)
		printf(",\"ticker\":{\"target\":\"%s\",\"ticks\":%" PRIu64 ",\"missing\":%" PRIu64
		       ",\"longest_gap_ms\":%.3f,\"gap_from_s\":%.3f,\"guest_mono_gap_max_ms\":%.3f"
		       ",\"clock_offset_ms\":{\"first\":%.3f,\"last\":%.3f,\"min\":%.3f,\"max\":%.3f}"
		       ",\"survived\":%s,\"error\":%s%s%s}",
		       tick_to, k->ticks, k->missing, ms(k->gap), (double)k->gap_from / 1e9,
		       ms(k->mono_gap), k->off_first, k->off_last, k->off_min, k->off_max,
		       k->ticks && !k->failed ? "true" : "false", k->failed ? "\"" : "",
		       k->failed ? k->error : "null", k->failed ? "\"" : "");
	printf("}\n");
	fflush(stdout);
}

/* The line a person reads (make demo, the migration tests' output). */
static void summary(const struct udp_probe *u, const struct tcp_probe *t,
		    const struct tick_probe *k, bool udp, bool tcp, bool tick)
{
	const char *sep = " ";

	fprintf(stderr, "kmprobe:");
	if (udp) {
		fprintf(stderr, " probe longest gap %.1f ms (at %.3f s), lost %" PRIu64 " of %" PRIu64,
			ms(u->gap), (double)u->gap_from / 1e9, u->sent - u->received, u->sent);
		sep = ", ";
	}
	if (tcp) {
		fprintf(stderr, "%sTCP connection %s%s%s", sep,
			t->connected && !t->failed && t->echoed == t->sent ? "survived" : "LOST",
			t->failed ? ": " : "", t->failed ? t->error : "");
		sep = ", ";
	}
	if (tick)
		fprintf(stderr, "%sticker %" PRIu64 " ticks, %" PRIu64 " missing, longest gap %.1f ms, "
			"guest clock moved %+.1f ms against ours%s%s", sep, k->ticks, k->missing,
			ms(k->gap), k->off_last - k->off_first, k->failed ? ", LOST: " : "",
			k->failed ? k->error : "");
	fprintf(stderr, "\n");
}

static void usage(FILE *f)
{
	fputs("usage: kmprobe [--udp HOST:PORT] [--tcp HOST:PORT] [--ticker HOST:PORT] [--seconds S]\n"
	      "               [--interval-us US] [--tcp-interval-ms MS] [--size BYTES] [--drain-ms MS]\n"
	      "               [--summary]\n"
	      "Probes kmagent's echo service; one JSON line on stdout (--summary: and a line\n"
	      "for people on stderr).  Exit 0 measured,\n"
	      "1 a connection did not survive or no UDP answer came, 2 usage, 3 cannot start.\n",
	      f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "udp", required_argument, NULL, 'u' },
		{ "tcp", required_argument, NULL, 't' },
		{ "ticker", required_argument, NULL, 'k' },
		{ "seconds", required_argument, NULL, 's' },
		{ "interval-us", required_argument, NULL, 'i' },
		{ "tcp-interval-ms", required_argument, NULL, 'T' },
		{ "size", required_argument, NULL, 'z' },
		{ "drain-ms", required_argument, NULL, 'd' },
		{ "summary", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t seconds = 10, interval_us = 1000, tcp_ms = 10, size = 32, drain_ms = 500;
	struct udp_probe u = { .fd = -1 };
	struct tcp_probe t = { .fd = -1 };
	const char *udp_to = NULL, *tcp_to = NULL, *tick_to = NULL;
	struct tick_probe k = { .fd = -1 };
	uint64_t t0, t0_unix, end, udp_due, tcp_due, now, max_sent = 0;
	bool ended = false, human = false;
	struct sigaction sa;
	int c, ok = 1;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'u': udp_to = optarg; break;
		case 't': tcp_to = optarg; break;
		case 'k': tick_to = optarg; break;
		case 's': ok = num("--seconds", optarg, 1, 86400, &seconds); break;
		case 'i': ok = num("--interval-us", optarg, 50, 10000000, &interval_us); break;
		case 'T': ok = num("--tcp-interval-ms", optarg, 1, 60000, &tcp_ms); break;
		case 'z': ok = num("--size", optarg, sizeof(struct req), 1400, &size); break;
		case 'd': ok = num("--drain-ms", optarg, 0, 60000, &drain_ms); break;
		case 'S': human = true; break;
		case 'h': usage(stdout); return 0;
		default: ok = 0;
		}
		if (!ok)
			return 2;
	}
	if (optind != argc || (!udp_to && !tcp_to && !tick_to)) {
		if (optind != argc)
			fprintf(stderr, "kmprobe: unexpected argument '%s'\n", argv[optind]);
		else
			fprintf(stderr, "kmprobe: give --udp HOST:PORT, --tcp HOST:PORT, "
				"--ticker HOST:PORT\n");
		usage(stderr);
		return 2;
	}
	if (udp_to) {
		max_sent = seconds * 1000000 / interval_us;
		u.seen = calloc(max_sent / 8 + 1, 1);
		u.fd = open_target(udp_to, SOCK_DGRAM);
		if (!u.seen || u.fd < 0)
			return u.fd == -2 ? 2 : 3;
	}
	if (tcp_to) {
		t.fd = open_target(tcp_to, SOCK_STREAM);
		if (t.fd < 0)
			return t.fd == -2 ? 2 : 3;
		t.connected = true;
	}
	if (tick_to) {
		k.fd = open_target(tick_to, SOCK_STREAM);
		if (k.fd < 0)
			return k.fd == -2 ? 2 : 3;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	t0 = mono_ns();
	t0_unix = unix_ms();
	end = t0 + seconds * 1000000000ull;
	udp_due = tcp_due = t0;
	for (;;) {
		struct pollfd p[3] = { { .fd = u.fd, .events = POLLIN }, { .fd = t.fd, .events = POLLIN },
				       { .fd = k.failed ? -1 : k.fd, .events = POLLIN } };
		uint64_t next = UINT64_MAX, udp_end, tcp_end;
		struct timespec ts;

		now = mono_ns();
		if (stop_now && end > now)
			end = now;
		udp_end = end + drain_ms * NS_MS;
		/* TCP may need retransmissions after an outage: 3 s more */
		tcp_end = udp_end + 3000 * NS_MS;
		if (now < end) {
			/* behind by more than 100 intervals (the probe itself was
			 * stalled): no burst, the lateness is reported */
			if (udp_to && now >= udp_due) {
				udp_send(&u, udp_due, size);
				udp_due += interval_us * 1000;
				if (now > udp_due + 100 * interval_us * 1000)
					udp_due = now + interval_us * 1000;
				if (u.sent >= max_sent)
					udp_due = UINT64_MAX;
			}
			if (tcp_to && now >= tcp_due) {
				tcp_send(&t);
				tcp_due = now + tcp_ms * NS_MS;
			}
			next = end;
			if (udp_to && udp_due < next)
				next = udp_due;
			if (tcp_to && tcp_due < next)
				next = tcp_due;
		} else {
			bool udp_done = !udp_to || u.received == u.sent || now >= udp_end;
			bool tcp_done = !tcp_to || t.failed || t.echoed == t.sent || now >= tcp_end;

			if (!ended) {
				/* answers that stopped count up to the end of sending */
				ended = true;
				if (udp_to)
					udp_gap(&u, u.last_answer, end - t0);
			}
			if (udp_done && tcp_done)
				break;
			next = udp_done ? tcp_end : udp_end;
		}
		now = mono_ns();
		if (next < now)
			next = now;	/* due already: poll without waiting */
		ts.tv_sec = (time_t)((next - now) / 1000000000ull);
		ts.tv_nsec = (long)((next - now) % 1000000000ull);
		if (ppoll(p, 3, &ts, NULL) < 0 && errno != EINTR) {
			fprintf(stderr, "kmprobe: poll: %s\n", strerror(errno));
			return 3;
		}
		if (udp_to && p[0].revents && mono_ns() < udp_end)
			udp_recv(&u, t0);
		if (tcp_to && p[1].revents)
			tcp_recv(&t, t0);
		if (tick_to && p[2].revents && mono_ns() < end)
			tick_recv(&k, t0);
	}
	report(&u, &t, &k, udp_to, tcp_to, tick_to, end - t0, interval_us, t0_unix);
	if (human)
		summary(&u, &t, &k, udp_to, tcp_to, tick_to);
	if (tcp_to && !(t.connected && !t.failed && t.echoed == t.sent))
		return 1;
	if (udp_to && !u.received)
		return 1;
	if (tick_to && (k.failed || !k.ticks))
		return 1;
	return 0;
}
