// SPDX-License-Identifier: GPL-2.0
/*
 * kmigrate monitor: print the module's migration events (the "events"
 * multicast group of the genl family), one line each, as they come.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <json.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <linux/kmigrate.h>

#include "cli.h"
#include "cmds.h"
#include "exitcode.h"
#include "genl.h"
#include "msg.h"
#include "names.h"
#include "rate.h"
#include "show.h"

static const struct option monitor_longopts[] = {
	{ "count", required_argument, NULL, 'c' },
	{ "timeout", required_argument, NULL, 't' },
	{ NULL, 0, NULL, 0 },
};

static const struct km_usage monitor_usage = {
	.options =
	"  -c, --count N          exit after N events (1-4294967295)\n"
	"  -t, --timeout S        exit after S seconds (1-4294967295)\n",
	.notes =
	"Prints one line per event of the kernel module (a session starts, a\n"
	"round starts, a session ends or fails, a cap changes), with the\n"
	"session's counters; -j: one JSON object per line.  'listening' on\n"
	"stderr once subscribed.  Exit status: 0 after --count events, or at\n"
	"--timeout when at least one event came; 1 at --timeout with none;\n"
	"3 when the module is not loaded, or is unloaded while it waits.\n",
};

/* "2026-11-22T21:40:00.123Z" */
static void monitor_time(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char s[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03ldZ", s, ts.tv_nsec / 1000000);
}

static void monitor_print(const struct km_event *ev)
{
	const char *name = km_event_name(ev->event);
	const char *state = km_state_name(ev->s.state);
	char when[48], rate[KM_RATE_STRLEN], ev_buf[16];
	struct json_object *o;

	monitor_time(when, sizeof(when));
	if (!name) {
		snprintf(ev_buf, sizeof(ev_buf), "event-%u", ev->event);
		name = ev_buf;
	}
	if (km_opts.json) {
		o = json_object_new_object();
		if (!o)
			return;
		json_object_object_add(o, "time", json_object_new_string(when));
		json_object_object_add(o, "event", json_object_new_string(name));
		json_object_object_add(o, "id", json_object_new_uint64(ev->s.id));
		json_object_object_add(o, "owner_pid", json_object_new_uint64(ev->s.owner_pid));
		json_object_object_add(o, "state", json_object_new_string(state ? state : "unknown"));
		json_object_object_add(o, "bandwidth", json_object_new_uint64(ev->s.bandwidth));
		km_json_counters_add(o, &ev->c);
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
		return;
	}
	printf("%s %s session %u %s bandwidth %s", when, name, ev->s.id,
	       state ? state : "unknown",
	       km_rate_format(ev->s.bandwidth, rate, sizeof(rate)));
	if (ev->c.have & (1U << KMIGRATE_SESSION_A_VM_PID)) {
		printf(": ");
		km_show_counters_line(stdout, &ev->c);
	}
	printf("\n");
}

static int64_t monitor_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads what the socket has; counts and prints the events.  0 or -errno. */
static int monitor_read(struct km_genl *g, uint32_t *seen, uint32_t count)
{
	static char buf[65536];
	struct nlmsghdr *nlh;
	struct km_error perr = { 0 };
	struct km_event ev;
	ssize_t len;
	int rem, r;

	len = recv(nl_socket_get_fd(g->sk), buf, sizeof(buf), MSG_DONTWAIT);
	if (len < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		if (errno == ENOBUFS) {
			km_warn("monitor: events were lost (the reader fell behind)");
			return 0;
		}
		return km_error_set(&g->err, errno, "reading events");
	}
	rem = (int)len;
	for (nlh = (struct nlmsghdr *)buf; NLMSG_OK(nlh, (unsigned int)rem) &&
	     (!count || *seen < count); nlh = NLMSG_NEXT(nlh, rem)) {
		if (km_genl_family_removed(g, nlh)) {
			km_error_no_module(&g->err);
			snprintf(g->err.detail, sizeof(g->err.detail),
				 "it was unloaded while monitor waited");
			return -ENOENT;
		}
		r = km_event_parse(g, nlh, &ev, &perr);
		if (r < 0) {
			km_warn("monitor: skipping a malformed event: %s", perr.detail);
			continue;
		}
		if (!r)
			continue;
		monitor_print(&ev);
		(*seen)++;
	}
	return 0;
}

int monitor_main(int argc, char **argv)
{
	uint32_t count = 0, timeout = 0, seen = 0;
	int64_t deadline = 0;
	struct km_genl g;
	char why[256];
	int c, ret;

	while ((c = km_getopt(argc, argv, "c:t:", monitor_longopts,
			      &monitor_usage)) != KM_OPT_END) {
		switch (c) {
		case 'c':
			if (km_parse_u32(optarg, 1, UINT32_MAX, &count, why, sizeof(why)))
				return km_usage_error("invalid --count: %s", why);
			break;
		case 't':
			if (km_parse_u32(optarg, 1, UINT32_MAX, &timeout, why, sizeof(why)))
				return km_usage_error("invalid --timeout: %s", why);
			break;
		default:
			return km_opt_exit(c);
		}
	}
	ret = km_no_args(argc, argv);
	if (ret)
		return ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (km_genl_open(&g))
		return km_error_report(&g.err, "connecting to the kernel module");
	if (km_genl_subscribe_events(&g)) {
		km_genl_close(&g);
		return km_error_report(&g.err, "subscribing to events");
	}
	fprintf(stderr, "kmigrate monitor: listening\n");
	if (timeout)
		deadline = monitor_now_ms() + (int64_t)timeout * 1000;

	while (!count || seen < count) {
		struct pollfd pfd = { .fd = nl_socket_get_fd(g.sk), .events = POLLIN };
		int wait = -1;

		if (timeout) {
			int64_t left = deadline - monitor_now_ms();

			if (left <= 0)
				break;
			wait = left > INT32_MAX ? INT32_MAX : (int)left;
		}
		ret = poll(&pfd, 1, wait);
		if (ret < 0 && errno != EINTR) {
			km_error_set(&g.err, errno, "waiting for events");
			break;
		}
		if (ret > 0 && monitor_read(&g, &seen, count))
			break;
		ret = 0;
	}
	km_genl_close(&g);
	if (g.err.code != KM_EXIT_OK)
		return km_error_report(&g.err, "monitor");
	if (count && seen >= count)
		return KM_EXIT_OK;
	return seen ? KM_EXIT_OK : KM_EXIT_FAIL;
}
