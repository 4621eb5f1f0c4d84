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
#include <poll.h>
#include <signal.h>
#include <stdio.h>
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

/*
 * The listener's children: one per connection (a refused peer, a pre-flight
 * check, or a migration whose process then runs the guest).  Each reports
 * on a pipe (dest.h): the guest's name (KM_DEST_NAME) once HELLO came, then
 * a status byte (0: the guest runs here; KM_TLS_REFUSED, KM_DEST_CHECKED,
 * or a failure it logged itself).  A child that ends otherwise (killed,
 * crashed, an exit it did not report) gets one line here naming the VM,
 * the peer and how it ended; so does a migrated guest's process that is
 * killed later.
 */
struct lchild {
	pid_t pid;
	int fd;			/* the pipe's read end; -1: closed */
	char peer[80];
	char name[KMP_NAME_SIZE];
	int status;		/* the last status byte; -1: none yet */
	bool running;		/* reported 0: the guest runs in it */
	unsigned char msg[2 + KMP_NAME_SIZE];	/* a KM_DEST_NAME being read */
	size_t mlen;
	bool once_told;		/* --once: its outcome was taken */
};

static struct lchild *kids;
static size_t nkids;
static bool listen_once;	/* --once */
static int once_st = -1;	/* --once: the exit status, once known */

static struct lchild *listen_kid_by_fd(int fd)
{
	for (size_t i = 0; i < nkids; i++)
		if (kids[i].fd == fd)
			return &kids[i];
	return NULL;
}

/* --once: a child whose outcome is still unknown */
static bool listen_in_flight(void)
{
	for (size_t i = 0; i < nkids; i++)
		if (!kids[i].once_told && kids[i].status != KM_TLS_REFUSED &&
		    kids[i].status != KM_DEST_CHECKED)
			return true;
	return false;
}

/* Takes what @k wrote (never blocks: the pipe is non-blocking). */
static void listen_kid_read(struct lchild *k)
{
	unsigned char b[256];

	while (k->fd >= 0) {
		ssize_t n = read(k->fd, b, sizeof(b));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {	/* its end: reaped next */
			close(k->fd);
			k->fd = -1;
			return;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (k->mlen || b[i] == KM_DEST_NAME) {
				k->msg[k->mlen++] = b[i];
				if (k->mlen >= 2 && k->mlen == 2u + k->msg[1]) {
					memcpy(k->name, k->msg + 2, k->msg[1]);
					k->name[k->msg[1]] = '\0';
					k->mlen = 0;
				} else if (k->mlen >= sizeof(k->msg)) {
					k->mlen = 0;	/* malformed: dropped */
				}
				continue;
			}
			k->status = b[i];
			if (b[i] == KM_EXIT_OK)
				k->running = true;
		}
	}
}

/* One line for a child that ended without saying why itself. */
static void listen_kid_ended(struct lchild *k, int ws)
{
	char how[96];

	if (WIFSIGNALED(ws))
		snprintf(how, sizeof(how), "was killed by signal %d (%s)%s", WTERMSIG(ws),
			 strsignal(WTERMSIG(ws)), WCOREDUMP(ws) ? ", core dumped" : "");
	else if (WIFEXITED(ws))
		snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(ws));
	else
		snprintf(how, sizeof(how), "ended (wait status %#x)", ws);
	if (k->running) {
		/* the guest's process: a stop exits 0 quietly */
		if (!(WIFEXITED(ws) && WEXITSTATUS(ws) == 0))
			fprintf(stderr, "kmigrate listen: %s: its process (migrated in from %s, "
				"pid %d) %s; the guest is gone\n", *k->name ? k->name : "?",
				k->peer, (int)k->pid, how);
	} else if (k->status >= 0) {
		/* refused, checked or failed: the child said so itself */
	} else if (*k->name) {
		fprintf(stderr, "kmigrate listen: %s: the process receiving it from %s (pid %d) "
			"%s; the VM is discarded (the source keeps its guest)\n", k->name, k->peer,
			(int)k->pid, how);
	} else {
		fprintf(stderr, "kmigrate listen: the process of the connection from %s (pid %d, "
			"before HELLO) %s\n", k->peer, (int)k->pid, how);
	}
}

/* Reaps every ended child, with its last words first. */
static void listen_reap(void)
{
	pid_t pid;
	int ws;

	while ((pid = waitpid(-1, &ws, WNOHANG)) > 0) {
		for (size_t i = 0; i < nkids; i++) {
			struct lchild *k = &kids[i];

			if (k->pid != pid)
				continue;
			listen_kid_read(k);
			if (k->fd >= 0)
				close(k->fd);
			if (listen_once && !k->once_told && k->status < 0) {
				/* --once: it ended without an outcome */
				k->once_told = true;
				km_err("listen: the migration from %s failed", k->peer);
				once_st = KM_EXIT_FAIL;
			}
			listen_kid_ended(k, ws);
			kids[i] = kids[--nkids];
			break;
		}
	}
}

/* --once: the exit status when the migration's outcome is known, else -1 */
static int listen_once_outcome(void)
{
	for (size_t i = 0; i < nkids && once_st < 0; i++) {
		struct lchild *k = &kids[i];

		if (k->once_told || k->status < 0 || k->status == KM_TLS_REFUSED ||
		    k->status == KM_DEST_CHECKED)
			continue;	/* not the migration: go on listening */
		k->once_told = true;
		if (k->status) {
			km_err("listen: the migration from %s failed", k->peer);
			once_st = KM_EXIT_FAIL;
		} else {
			fprintf(stderr, "kmigrate listen: migration from %s completed (pid %d "
				"runs the guest)\n", k->peer, (int)k->pid);
			once_st = KM_EXIT_OK;
		}
	}
	return once_st;
}

/* Accepts one connection and forks its child; 0, or an exit status. */
static int listen_accept(int lfd, struct km_tls_cli *tlsc, bool verify, int mode)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int cfd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC), p[2] = { -1, -1 };
	struct lchild *nk;
	char peer[80];
	pid_t pid;

	if (cfd < 0) {
		if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN)
			return 0;
		km_err("listen: accept: %s", strerror(errno));
		return KM_EXIT_FAIL;
	}
	listen_peer(&ss, sl, peer, sizeof(peer));
	nk = realloc(kids, (nkids + 1) * sizeof(*kids));
	if (!nk || pipe2(p, O_CLOEXEC) < 0) {
		km_err("listen: %s: %s", peer, nk ? strerror(errno) : "out of memory");
		if (nk)
			kids = nk;
		close(cfd);
		return 0;
	}
	kids = nk;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		km_err("listen: fork: %s", strerror(errno));
		close(cfd);
		close(p[0]);
		close(p[1]);
		return 0;
	}
	if (pid == 0) {
		struct km_chan ch;
		struct km_dest_opts o = { .verify = verify, .peer = peer, .status_fd = p[1],
					  .dirty_mode = mode, .chan = &ch };

		close(lfd);
		close(p[0]);
		for (size_t i = 0; i < nkids; i++)	/* the other children's */
			if (kids[i].fd >= 0)
				close(kids[i].fd);
		setsid();
		km_chan_init(&ch, cfd);
		if (km_tls_cli_accept(tlsc, cfd, peer, &ch)) {	/* before HELLO */
			unsigned char r = KM_TLS_REFUSED;

			if (write(p[1], &r, 1) < 0)
				r = 0;
			exit(KM_EXIT_FAIL);
		}
		exit(km_mig_dest_run(cfd, &o));
	}
	close(cfd);
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	memset(&kids[nkids], 0, sizeof(kids[nkids]));
	kids[nkids].pid = pid;
	kids[nkids].fd = p[0];
	kids[nkids].status = -1;
	snprintf(kids[nkids].peer, sizeof(kids[nkids].peer), "%s", peer);
	nkids++;
	return 0;
}

int listen_main(int argc, char **argv)
{
	const char *addr = NULL;
	char port[16] = "", why[128];
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
	listen_once = once;
	signal(SIGPIPE, SIG_IGN);
	fprintf(stderr, "kmigrate listen: listening on %s%s%s port %s%s%s; at most %u incoming "
		"migrations (%s beyond)\n",
		addr && strchr(addr, ':') ? "[" : "", addr ? addr : "*",
		addr && strchr(addr, ':') ? "]" : "", port, once ? " (once)" : "",
		verify ? ", verifying" : "", km_in_limits.max,
		km_in_limits.queue ? "queue" : "refuse");
	fprintf(stderr, "kmigrate listen: %s%s, peers must present a certificate of the CA "
		"in %s/ca.pem\n", tlsc.insecure ? KM_TLS_DESC_PLAIN : km_tls_ktls_here() ?
		KM_TLS_DESC : KM_TLS_DESC_RECORDS,
		tlsc.insecure ? " (--insecure: sources with --insecure only)" : "", tlsc.dir);
	fflush(NULL);
	for (;;) {
		struct pollfd *pf;
		size_t i, np = 0;
		/* --once: one connection at a time, until its outcome is known */
		bool accepting = !once || !listen_in_flight();
		int r;

		pf = calloc(nkids + 1, sizeof(*pf));
		if (!pf) {
			km_err("listen: out of memory");
			return KM_EXIT_FAIL;
		}
		if (accepting)
			pf[np++] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		for (i = 0; i < nkids; i++)
			if (kids[i].fd >= 0)
				pf[np++] = (struct pollfd){ .fd = kids[i].fd, .events = POLLIN };
		/* a child's pipe closes when it ends: the timeout only reaps
		 * one whose end came before its pipe's */
		r = poll(pf, np, 500);
		if (r < 0 && errno != EINTR) {
			km_err("listen: poll: %s", strerror(errno));
			free(pf);
			return KM_EXIT_FAIL;
		}
		for (i = accepting ? 1 : 0; r > 0 && i < np; i++) {
			struct lchild *k = listen_kid_by_fd(pf[i].fd);

			if (k && (pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				listen_kid_read(k);
		}
		r = r > 0 && accepting && (pf[0].revents & POLLIN) ? 1 : 0;
		free(pf);
		listen_reap();
		if (once) {
			int st = listen_once_outcome();

			if (st >= 0) {
				close(lfd);
				return st;
			}
		}
		if (!r)
			continue;
		r = listen_accept(lfd, &tlsc, verify, mode);
		if (r)
			return r;
	}
}
