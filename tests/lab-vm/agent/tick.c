// SPDX-License-Identifier: GPL-2.0
/*
 * kmagent echo --tick-ms: the ticker service on TCP port P+1 (next to the
 * echo on P).  Every connected client gets a line every TICK-MS:
 *   "TICK SEQ MONO_NS REAL_NS\n"
 * SEQ counts from 1 per connection; MONO_NS and REAL_NS are the guest's
 * CLOCK_MONOTONIC and CLOCK_REALTIME.  The probe (kmprobe --ticker) sees
 * from them whether the guest's timers went on after a switch-over (no
 * missing tick, the longest gap) and whether its wall clock jumped or lags.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

#define MAX_TICK	8

static struct {
	int fd;
	uint64_t seq;
	bool half;	/* the client closed its side: we still send */
} tk[MAX_TICK];
static int tick_lfd = -1;

int ag_tick_open(uint16_t port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(port),
				  .sin6_addr = IN6ADDR_ANY_INIT };
	int zero = 0, one = 1, i;

	for (i = 0; i < MAX_TICK; i++)
		tk[i].fd = -1;
	tick_lfd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (tick_lfd < 0)
		return -1;
	setsockopt(tick_lfd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	setsockopt(tick_lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(tick_lfd, (struct sockaddr *)&a, sizeof(a)) || listen(tick_lfd, 8)) {
		close(tick_lfd);
		tick_lfd = -1;
		return -1;
	}
	return 0;
}

int ag_tick_pollfds(struct pollfd *p)
{
	int i, n = 0;

	if (tick_lfd < 0)
		return 0;
	p[n++] = (struct pollfd){ .fd = tick_lfd, .events = POLLIN };
	for (i = 0; i < MAX_TICK; i++)
		p[n++] = (struct pollfd){ .fd = tk[i].half ? -1 : tk[i].fd,	/* -1: ignored */
					  .events = POLLIN };
	return n;
}

static void tick_close(int i, const char *how)
{
	printf("KMAGENT echo tick-close ticks=%" PRIu64 " how=%s\n", tk[i].seq, how);
	close(tk[i].fd);
	tk[i].fd = -1;
}

void ag_tick_events(const struct pollfd *p, int n)
{
	char buf[256];
	int i, fd;
	ssize_t k;

	if (!n)
		return;
	if (p[0].revents) {
		fd = accept4(tick_lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		for (i = 0; fd >= 0 && i < MAX_TICK && tk[i].fd >= 0; i++)
			;
		if (fd >= 0 && i == MAX_TICK) {
			close(fd);
		} else if (fd >= 0) {
			tk[i].fd = fd;
			tk[i].seq = 0;
			tk[i].half = false;
			printf("KMAGENT echo tick-open\n");
		}
	}
	for (i = 0; i < MAX_TICK && i + 1 < n; i++) {
		if (tk[i].fd < 0 || !p[i + 1].revents)
			continue;
		k = read(tk[i].fd, buf, sizeof(buf));	/* clients send nothing */
		if (k == 0)
			tk[i].half = true;	/* a write fails once it is gone */
		else if (k < 0 && errno != EAGAIN && errno != EINTR)
			tick_close(i, "error");
	}
}

void ag_tick_send(void)
{
	struct timespec m, r;
	char line[96];
	int i, len;
	uint64_t mono, real;

	clock_gettime(CLOCK_MONOTONIC, &m);
	clock_gettime(CLOCK_REALTIME, &r);
	mono = (uint64_t)m.tv_sec * 1000000000u + (uint64_t)m.tv_nsec;
	real = (uint64_t)r.tv_sec * 1000000000u + (uint64_t)r.tv_nsec;
	for (i = 0; i < MAX_TICK; i++) {
		if (tk[i].fd < 0)
			continue;
		len = snprintf(line, sizeof(line), "TICK %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
			       ++tk[i].seq, mono, real);
		/* a line the socket cannot take is a tick the probe sees missing */
		if (write(tk[i].fd, line, (size_t)len) < 0 && errno != EAGAIN)
			tick_close(i, tk[i].half ? "eof" : "error");
	}
}
