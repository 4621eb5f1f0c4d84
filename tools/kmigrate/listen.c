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
#include "config.h"
#include "cpumodel.h"
#include "inlimit.h"
#include "dest.h"
#include "exitcode.h"
#include "preflight.h"
#include "source.h"
#include "tls.h"
#include "vmm.h"

static const struct option listen_longopts[] = {
	{ "address", required_argument, NULL, 'a' },
	{ "port", required_argument, NULL, 'p' },
	{ "once", no_argument, NULL, '1' },
	{ "verify", no_argument, NULL, 'V' },
	{ "dirty-log", required_argument, NULL, 'd' },
	{ "max-incoming", required_argument, NULL, 'm' },
	{ "incoming-policy", required_argument, NULL, 'Q' },
	{ "cpu-max", required_argument, NULL, 'X' },
	KM_TLS_LONGOPTS,
	{ NULL, 0, NULL, 0 },
};

static const struct km_usage listen_usage = {
	.args = NULL,
	.options =
	"  -a, --address ADDR   listen on this address only (IPv6 or IPv4): the host's\n"
	"                       migration-network address; '*' for all addresses.\n"
	"                       Required unless the config has listen_address\n"
	"  -p, --port PORT      TCP port (default 49152)\n"
	"  -1, --once           handle one migration, exit with its status (0: the\n"
	"                       guest runs here)\n"
	"      --verify         check the workload guest's memory before resuming it\n"
	"                       (adds to the downtime; also KMIGRATE_VERIFY=1)\n"
	"  -d, --dirty-log MODE ring, bitmap or auto: dirty tracking of the migrated\n"
	"                       VM, for its next migration (default auto)\n"
	"  -m, --max-incoming N incoming migrations at once (config max_incoming,\n"
	"                       default 2); one more is refused with an ERROR\n"
	"      --incoming-policy refuse|queue\n"
	"                       beyond the limit: refuse (default) or queue for up\n"
	"                       to " KM_IN_QUEUE_S " s (config incoming_policy)\n"
	"      --cpu-max MODEL  offer guests at most this CPU model's features\n"
	"                       (x86-64-v1 ...; kmigrate run --cpu): the pre-flight\n"
	"                       check refuses a guest that needs more\n"
	"      --tls-dir DIR    TLS 1.3 credentials (ca.pem, cert.pem, key.pem; default\n"
	"                       $KMIGRATE_TLS_DIR, config tls_dir or /etc/kmigrate/tls):\n"
	"                       sources must present a certificate of that CA\n"
	"      --insecure       authenticate sources as always, then receive in\n"
	"                       plaintext, no encryption or integrity (also\n"
	"                       KMIGRATE_INSECURE=1, config insecure = yes); only\n"
	"                       sources with --insecure are accepted\n",
	.notes =
	"Each incoming migration is received by a child process that becomes the\n"
	"VM's process once the source commits: 'kmigrate vms' lists it, its control\n"
	"socket is $KMIGRATE_RUN_DIR/NAME.sock and its log NAME.log, as with\n"
	"'kmigrate run NAME --detach'.  A failed migration is discarded; the\n"
	"listener keeps serving.  Defaults come from /etc/kmigrate/kmigrate.conf\n"
	"($KMIGRATE_CONFIG); options override it.  Logs one line on stderr per\n"
	"migration start, end and failure (the journal, as a systemd service).\n",
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
	struct km_tls_cli tlsc = { 0 };
	uint32_t u;
	int c, lfd;
	bool all = false;
	struct km_conf conf;
	char cerr[512];

	if (km_conf_load(&conf, cerr, sizeof(cerr))) {
		km_err("listen: config: %s", cerr);
		return KM_EXIT_USAGE;
	}
	km_in_limits.max = conf.max_incoming;
	km_in_limits.queue = conf.incoming_policy == KM_CONF_QUEUE;
	snprintf(port, sizeof(port), "%u", conf.listen_port ? conf.listen_port : KM_MIG_DEFAULT_PORT);
	km_tls_cli_conf(&tlsc, conf.tls_dir, conf.insecure);
	while ((c = km_getopt(argc, argv, "a:p:1d:m:", listen_longopts, &listen_usage)) != KM_OPT_END) {
		switch (c) {
		case 'a': {
			char h[256], p[16];

			if (!strcmp(optarg, "*")) {	/* all addresses, deliberately */
				all = true;
				addr = NULL;
				break;
			}
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
		case 'm':
			if (km_parse_u32(optarg, 1, KM_CONF_MAX_LIMIT, &km_in_limits.max, why,
					 sizeof(why)))
				return km_usage_error("invalid --max-incoming: %s", why);
			break;
		case 'Q':
			if (strcmp(optarg, "refuse") && strcmp(optarg, "queue"))
				return km_usage_error("invalid --incoming-policy '%s': expected refuse "
						      "or queue", optarg);
			km_in_limits.queue = !strcmp(optarg, "queue");
			break;
		case 'X':
			if (!vmm_cpumodel_known(optarg) || !strcmp(optarg, VMM_CPU_HOST))
				return km_usage_error("invalid --cpu-max '%s': expected a baseline "
						      "of %s", optarg, vmm_cpumodel_list());
			km_pf_cpu_max = optarg;
			break;
		case KM_TLS_OPT_DIR:
		case KM_TLS_OPT_INSECURE:
			km_tls_cli_opt(&tlsc, c, optarg);
			break;
		default:
			return km_opt_exit(c);
		}
	}
	if (km_no_args(argc, argv))
		return KM_EXIT_USAGE;
	if (!addr && !all && conf.listen_address[0] && strcmp(conf.listen_address, "*"))
		addr = conf.listen_address;
	else if (!addr && !all && !conf.listen_address[0])
		/* the migration network only: never all addresses by accident */
		return km_usage_error("no listening address: give --address ADDR (the host's "
				      "migration-network address, or '*' for all) or set "
				      "listen_address in %s", conf.path[0] ? conf.path :
				      KM_CONF_DEFAULT_PATH);
	if (km_tls_cli_check(&tlsc, "listen"))
		return KM_EXIT_USAGE;
	lfd = listen_socket(addr, port);
	if (lfd < 0)
		return KM_EXIT_FAIL;
	signal(SIGPIPE, SIG_IGN);
	if (!once)
		signal(SIGCHLD, SIG_IGN);	/* children are VMs: nobody waits */
	fprintf(stderr, "kmigrate listen: listening on %s%s%s port %s%s%s; at most %u incoming "
		"migrations (%s beyond)\n",
		addr && strchr(addr, ':') ? "[" : "", addr ? addr : "*",
		addr && strchr(addr, ':') ? "]" : "", port, once ? " (once)" : "",
		verify ? ", verifying" : "", km_in_limits.max,
		km_in_limits.queue ? "queue" : "refuse");
	fprintf(stderr, "kmigrate listen: %s%s, peers must present a certificate of the CA "
		"in %s/ca.pem\n", tlsc.insecure ? KM_TLS_DESC_PLAIN : km_tls_ktls_here() ?
		KM_TLS_DESC : KM_TLS_DESC_RECORDS,
		tlsc.insecure ? " (--insecure: sources with --insecure only)" :
		km_tls_ktls_here() ? "" : " (this kernel has no kernel TLS: GnuTLS encrypts "
		"the records here)", tlsc.dir);
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
			struct km_chan ch;
			struct km_dest_opts o = { .verify = verify, .peer = peer, .status_fd = p[1],
						  .dirty_mode = mode, .chan = &ch };

			close(lfd);
			if (p[0] >= 0)
				close(p[0]);
			setsid();
			signal(SIGCHLD, SIG_DFL);
			km_chan_init(&ch, cfd);
			if (km_tls_cli_accept(&tlsc, cfd, peer, &ch)) {	/* before HELLO */
				unsigned char r = KM_TLS_REFUSED;

				if (p[1] >= 0 && write(p[1], &r, 1) < 0)
					r = 0;
				exit(KM_EXIT_FAIL);
			}
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
			if (n == 1 && (st == KM_TLS_REFUSED || st == KM_DEST_CHECKED)) {
				/* not the migration: a refused peer, a pre-flight check */
				waitpid(pid, NULL, 0);
				continue;
			}
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
