// SPDX-License-Identifier: GPL-2.0
/*
 * kmigrate listen: accept incoming live migrations on the migration network.
 * Each connection is handled by a forked child (tools/migrate/dest.c) that
 * becomes the migrated VM's process, served like `kmigrate run NAME`.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "cmds.h"
#include "dest.h"
#include "exitcode.h"
#include "source.h"
#include "vmm.h"

static const struct option listen_longopts[] = {
	{ "address", required_argument, NULL, 'a' },
	{ "port", required_argument, NULL, 'p' },
	{ "once", no_argument, NULL, '1' },
	{ "verify", no_argument, NULL, 'V' },
	{ "dirty-log", required_argument, NULL, 'd' },
	{ NULL, 0, NULL, 0 },
};

static const struct km_usage listen_usage = {
	.args = NULL,
	.options =
	"  -a, --address ADDR   listen on this address only (IPv6 or IPv4; default: all)\n"
	"  -p, --port PORT      TCP port (default 49152)\n"
	"  -1, --once           handle one migration, exit with its status (0: the\n"
	"                       guest runs here)\n"
	"      --verify         check the workload guest's memory before resuming it\n"
	"                       (adds to the downtime; also KMIGRATE_VERIFY=1)\n"
	"  -d, --dirty-log MODE ring, bitmap or auto: dirty tracking of the migrated\n"
	"                       VM, for its next migration (default auto)\n",
	.notes =
	"Each incoming migration is received by a child process that becomes the\n"
	"VM's process once the source commits: 'kmigrate vms' lists it, its control\n"
	"socket is $KMIGRATE_RUN_DIR/NAME.sock and its log NAME.log, as with\n"
	"'kmigrate run NAME --detach'.  A failed migration is discarded; the\n"
	"listener keeps serving.\n",
};

static int listen_socket(const char *addr, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE },
			*ai = NULL, *a;
	int r, fd = -1, one = 1, zero = 0;

	if (!addr) {
		/* all addresses, both families */
		fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0) {
			struct sockaddr_in6 s6 = { .sin6_family = AF_INET6,
						   .sin6_port = htons((uint16_t)atoi(port)),
						   .sin6_addr = IN6ADDR_ANY_INIT };

			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
			if (!bind(fd, (struct sockaddr *)&s6, sizeof(s6)) && !listen(fd, 16))
				return fd;
			close(fd);
		}
		hints.ai_family = AF_INET;
	}
	r = getaddrinfo(addr, port, &hints, &ai);
	if (r) {
		km_err("listen: %s: %s", addr ? addr : "*", gai_strerror(r));
		return -1;
	}
	for (a = ai; a; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (!bind(fd, a->ai_addr, a->ai_addrlen) && !listen(fd, 16))
			break;
		r = errno;
		close(fd);
		fd = -1;
		errno = r;
	}
	if (fd < 0)
		km_err("listen: binding %s port %s: %s", addr ? addr : "*", port, strerror(errno));
	freeaddrinfo(ai);
	return fd;
}

static void listen_peer(const struct sockaddr_storage *ss, socklen_t len, char *buf,
			size_t blen)
{
	char h[INET6_ADDRSTRLEN + 8] = "?", p[16] = "?";

	getnameinfo((const struct sockaddr *)ss, len, h, sizeof(h), p, sizeof(p),
		    NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(buf, blen, ss->ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", h, p);
}

int listen_main(int argc, char **argv)
{
	const char *addr = NULL;
	char port[16] = "", why[128], peer[80];
	const char *env = getenv("KMIGRATE_VERIFY");
	bool once = false, verify = env && *env && strcmp(env, "0");
	int mode = VMM_DIRTY_AUTO;
	uint32_t u;
	int c, lfd;

	snprintf(port, sizeof(port), "%u", KM_MIG_DEFAULT_PORT);
	while ((c = km_getopt(argc, argv, "a:p:1d:", listen_longopts, &listen_usage)) != KM_OPT_END) {
		switch (c) {
		case 'a': {
			char h[256], p[16];

			/* [v6] or [v6]:port are accepted too */
			if (km_mig_split_hostport(optarg, h, sizeof(h), p, sizeof(p), 0))
				return km_usage_error("invalid --address '%s'", optarg);
			addr = strdup(h);
			if (strcmp(p, "0"))
				snprintf(port, sizeof(port), "%s", p);
			break;
		}
		case 'p':
			if (km_parse_u32(optarg, 1, 65535, &u, why, sizeof(why)))
				return km_usage_error("invalid --port: %s", why);
			snprintf(port, sizeof(port), "%u", u);
			break;
		case '1':
			once = true;
			break;
		case 'V':
			verify = true;
			break;
		case 'd':
			if (!strcmp(optarg, "ring"))
				mode = VMM_DIRTY_RING;
			else if (!strcmp(optarg, "bitmap"))
				mode = VMM_DIRTY_BITMAP;
			else if (!strcmp(optarg, "auto"))
				mode = VMM_DIRTY_AUTO;
			else
				return km_usage_error("invalid --dirty-log '%s': expected ring, bitmap or auto",
						      optarg);
			break;
		default:
			return km_opt_exit(c);
		}
	}
	if (km_no_args(argc, argv))
		return KM_EXIT_USAGE;
	lfd = listen_socket(addr, port);
	if (lfd < 0)
		return KM_EXIT_FAIL;
	signal(SIGPIPE, SIG_IGN);
	if (!once)
		signal(SIGCHLD, SIG_IGN);	/* children are VMs: nobody waits */
	fprintf(stderr, "kmigrate listen: listening on %s%s%s port %s%s%s\n",
		addr && strchr(addr, ':') ? "[" : "", addr ? addr : "*",
		addr && strchr(addr, ':') ? "]" : "", port, once ? " (once)" : "",
		verify ? ", verifying" : "");
	fflush(NULL);
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int cfd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC), p[2] = { -1, -1 };
		pid_t pid;

		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			km_err("listen: accept: %s", strerror(errno));
			return KM_EXIT_FAIL;
		}
		listen_peer(&ss, sl, peer, sizeof(peer));
		if (once && pipe2(p, O_CLOEXEC) < 0) {
			km_err("listen: pipe: %s", strerror(errno));
			close(cfd);
			continue;
		}
		fflush(NULL);
		pid = fork();
		if (pid < 0) {
			km_err("listen: fork: %s", strerror(errno));
			close(cfd);
			continue;
		}
		if (pid == 0) {
			struct km_dest_opts o = { .verify = verify, .peer = peer, .status_fd = p[1],
						  .dirty_mode = mode };

			close(lfd);
			if (p[0] >= 0)
				close(p[0]);
			setsid();
			signal(SIGCHLD, SIG_DFL);
			exit(km_mig_dest_run(cfd, &o));
		}
		close(cfd);
		if (once) {
			unsigned char st = KM_EXIT_FAIL;
			ssize_t n;

			close(p[1]);
			do {
				n = read(p[0], &st, 1);
			} while (n < 0 && errno == EINTR);
			close(p[0]);
			close(lfd);
			if (n != 1) {
				int ws;

				waitpid(pid, &ws, 0);
				km_err("listen: the migration from %s failed", peer);
				return KM_EXIT_FAIL;
			}
			if (st)
				km_err("listen: the migration from %s failed", peer);
			else
				fprintf(stderr, "kmigrate listen: migration from %s completed (pid %d "
					"runs the guest)\n", peer, (int)pid);
			return st ? KM_EXIT_FAIL : KM_EXIT_OK;
		}
	}
}
