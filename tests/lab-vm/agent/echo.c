// SPDX-License-Identifier: GPL-2.0
/*
 * kmagent echo: a UDP echo and a TCP echo service on one port, IPv4 and
 * IPv6 (a dual-stack socket each), for the client probe (tests/lab-vm/
 * probe.c).  Every datagram goes back as it came; every TCP connection
 * gets back the bytes it sends.  The UDP socket's receive buffer is made
 * large (SO_RCVBUFFORCE as root), so requests that arrive while the guest
 * is paused wait for it rather than being dropped here.
 *
 * With --tick-ms, the ticker on TCP port P+1 (tick.c).
 *
 * Lines: "KMAGENT echo start port=P ticker=on|off", "KMAGENT echo tcp-open peer=A",
 * "KMAGENT echo tcp-close peer=A bytes=N how=eof|error", and every
 * --report-ms when something came: "KMAGENT echo udp=N tcp_bytes=M".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"

#define MAX_CONN	32
#define BUF		65536

struct conn {
	int fd;
	char peer[INET6_ADDRSTRLEN + 8];
	uint8_t buf[BUF];	/* received, not yet echoed */
	size_t len, off;
	uint64_t bytes;
};

static struct conn conns[MAX_CONN];

static void peer_str(const struct sockaddr_in6 *a, char *s, size_t n)
{
	char ip[INET6_ADDRSTRLEN];

	if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr))
		inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], ip, sizeof(ip));
	else
		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
	snprintf(s, n, a->sin6_family == AF_INET6 && !IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) ?
		 "[%s]:%u" : "%s:%u", ip, ntohs(a->sin6_port));
}

static int echo_socket(int type, uint16_t port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(port),
				  .sin6_addr = IN6ADDR_ANY_INIT };
	int fd = socket(AF_INET6, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), zero = 0, one = 1;
	int big = 4 << 20;

	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (type == SOCK_DGRAM && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    (type == SOCK_STREAM && listen(fd, 16))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Every datagram waiting, back to its sender. */
static uint64_t echo_udp(int fd)
{
	struct sockaddr_in6 from;
	socklen_t fl;
	uint8_t buf[2048];
	uint64_t n = 0;
	ssize_t len;

	for (;;) {
		fl = sizeof(from);
		len = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		if (len < 0)
			break;
		sendto(fd, buf, (size_t)len, 0, (struct sockaddr *)&from, fl);
		n++;
	}
	return n;
}

static void conn_close(struct conn *c, const char *how)
{
	printf("KMAGENT echo tcp-close peer=%s bytes=%" PRIu64 " how=%s\n", c->peer, c->bytes, how);
	close(c->fd);
	c->fd = -1;
}

/* Reads what came when nothing waits to go back, sends what waits. */
static uint64_t conn_serve(struct conn *c, short revents)
{
	uint64_t got = 0;
	ssize_t n;

	if (!c->len && revents & (POLLIN | POLLHUP | POLLERR)) {
		n = read(c->fd, c->buf, sizeof(c->buf));
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			conn_close(c, n == 0 ? "eof" : "error");
			return 0;
		}
		if (n > 0) {
			c->len = (size_t)n;
			c->off = 0;
			c->bytes += (uint64_t)n;
			got = (uint64_t)n;
		}
	}
	while (c->len) {
		n = write(c->fd, c->buf + c->off, c->len);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				conn_close(c, "error");
			break;
		}
		c->off += (size_t)n;
		c->len -= (size_t)n;
	}
	return got;
}

static void echo_accept(int lfd)
{
	struct sockaddr_in6 a;
	socklen_t al = sizeof(a);
	int fd = accept4(lfd, (struct sockaddr *)&a, &al, SOCK_NONBLOCK | SOCK_CLOEXEC), i;

	if (fd < 0)
		return;
	for (i = 0; i < MAX_CONN && conns[i].fd >= 0; i++)
		;
	if (i == MAX_CONN) {
		printf("KMAGENT echo tcp-refused (%d connections open)\n", MAX_CONN);
		close(fd);
		return;
	}
	conns[i].fd = fd;
	conns[i].len = conns[i].bytes = 0;
	peer_str(&a, conns[i].peer, sizeof(conns[i].peer));
	printf("KMAGENT echo tcp-open peer=%s\n", conns[i].peer);
}

int ag_echo_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "report-ms", required_argument, NULL, 'r' },
		{ "tick-ms", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t port = 7777, report_ms = 1000, udp = 0, tcp = 0, last_udp = 0, last_tcp = 0;
	uint64_t tick_ms = 0, next_tick = UINT64_MAX;
	struct pollfd p[2 + MAX_CONN + 9];
	int c, i, ufd, tfd, slot[MAX_CONN], nt;
	uint64_t next_report;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'p' && ag_num("--port", optarg, 1, 65535, false, &port))
			continue;
		if (c == 'r' && ag_num("--report-ms", optarg, 10, 3600000, false, &report_ms))
			continue;
		if (c == 't' && ag_num("--tick-ms", optarg, 1, 60000, false, &tick_ms))
			continue;
		return AG_USAGE;
	}
	if (optind != argc) {
		fprintf(stderr, "kmagent echo: unexpected argument '%s'\n", argv[optind]);
		return AG_USAGE;
	}
	for (i = 0; i < MAX_CONN; i++)
		conns[i].fd = -1;
	if (tick_ms && port == 65535) {
		fprintf(stderr, "kmagent echo: --tick-ms needs port + 1 for the ticker\n");
		return AG_USAGE;
	}
	ufd = echo_socket(SOCK_DGRAM, (uint16_t)port);
	tfd = ufd < 0 ? -1 : echo_socket(SOCK_STREAM, (uint16_t)port);
	if (ufd < 0 || tfd < 0 || (tick_ms && ag_tick_open((uint16_t)(port + 1)))) {
		printf("KMAGENT echo error=bind port=%" PRIu64 ": %s\n", port, strerror(errno));
		return AG_SYS;
	}
	ag_catch_stop();
	printf("KMAGENT echo start port=%" PRIu64 " ticker=%s\n", port, tick_ms ? "on" : "off");
	next_report = ag_now_ns() + report_ms * 1000000ull;
	if (tick_ms)
		next_tick = ag_now_ns() + tick_ms * 1000000ull;
	while (!ag_stop) {
		int n = 2, wait_ms;
		uint64_t now = ag_now_ns();

		if (now >= next_report) {
			if (udp != last_udp || tcp != last_tcp)
				printf("KMAGENT echo udp=%" PRIu64 " tcp_bytes=%" PRIu64 "\n", udp, tcp);
			last_udp = udp;
			last_tcp = tcp;
			next_report = now + report_ms * 1000000ull;
		}
		p[0] = (struct pollfd){ .fd = ufd, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = tfd, .events = POLLIN };
		for (i = 0; i < MAX_CONN; i++) {
			if (conns[i].fd < 0)
				continue;
			slot[n - 2] = i;
			p[n++] = (struct pollfd){ .fd = conns[i].fd,
						  .events = conns[i].len ? POLLOUT : POLLIN };
		}
		if (now >= next_tick) {
			ag_tick_send();
			next_tick += tick_ms * 1000000ull;
			if (next_tick <= now)	/* paused: no burst of old ticks */
				next_tick = now + tick_ms * 1000000ull;
		}
		nt = ag_tick_pollfds(p + n);
		wait_ms = (int)(((next_report < next_tick ? next_report : next_tick) - now) /
				1000000ull) + 1;
		if (poll(p, (nfds_t)(n + nt), wait_ms) < 0) {
			if (errno == EINTR)
				continue;
			printf("KMAGENT echo error=poll: %s\n", strerror(errno));
			return AG_SYS;
		}
		if (p[0].revents)
			udp += echo_udp(ufd);
		if (p[1].revents)
			echo_accept(tfd);
		for (i = 2; i < n; i++)
			if (p[i].revents)
				tcp += conn_serve(&conns[slot[i - 2]], p[i].revents);
		ag_tick_events(p + n, nt);
	}
	printf("KMAGENT echo done udp=%" PRIu64 " tcp_bytes=%" PRIu64 "\n", udp, tcp);
	return AG_OK;
}
