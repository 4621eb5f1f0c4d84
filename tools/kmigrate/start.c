// SPDX-License-Identifier: GPL-2.0
/*
 * kmigrate start NAME --to HOST[:PORT]: live-migrate a guest of
 * `kmigrate run` to the `kmigrate listen` of another host.  The VM's own
 * process does the migration (tools/migrate/source.c); this command asks
 * it over the control socket ({"cmd":"migrate",...}) and follows the
 * progress ({"cmd":"migrate-status"}, polled) until the result.
 *
 * kmigrate cancel NAME: stops a running migration; the guest resumes on
 * the source.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cmds.h"
#include "ctl.h"
#include "rate.h"
#include "exitcode.h"
#include "source.h"
#include "throttle.h"
#include "tls.h"
#include "config.h"
#include "netvia.h"
#include "outgoing.h"

#include <linux/kmigrate.h>

#define START_POLL_MS	200
#define START_CALL_MS	5000
#define START_MISSES	6	/* status calls unanswered in a row: lost */

static volatile sig_atomic_t start_interrupted;

static void start_on_signal(int sig)
{
	(void)sig;
	start_interrupted = 1;
}

static const struct option start_longopts[] = {
	{ "to", required_argument, NULL, 't' },
	{ "downtime-limit", required_argument, NULL, 'd' },
	{ "max-rounds", required_argument, NULL, 'r' },
	{ "bandwidth", required_argument, NULL, 'b' },
	{ "connect-timeout", required_argument, NULL, 'c' },
	{ "verify", no_argument, NULL, 'V' },
	{ "no-verify", no_argument, NULL, 'N' },
	{ "no-zerocopy", no_argument, NULL, 'Z' },
	{ "datapath", required_argument, NULL, 'P' },
	KM_TLS_LONGOPTS,
	KM_TLS_NAME_LONGOPT,
	{ "via", required_argument, NULL, 'I' },
	{ "source-address", required_argument, NULL, 'S' },
	{ "no-wait", no_argument, NULL, 'W' },
	{ "converge", required_argument, NULL, 'C' },
	{ "throttle-floor", required_argument, NULL, 'F' },
	{ "switchover-retries", required_argument, NULL, 'R' },
	{ NULL, 0, NULL, 0 },
};

static const struct km_usage start_usage = {
	.args = "NAME --to HOST[:PORT]",
	.options =
	"  -t, --to HOST[:PORT]        destination's 'kmigrate listen' (port 49152 by\n"
	"                              default; IPv6 as [ADDR]:PORT)\n"
	"  -d, --downtime-limit MS     longest acceptable pause (default 300)\n"
	"  -r, --max-rounds N          live rounds before giving up (default 30)\n"
	"      --converge throttle|fail\n"
	"                              a guest that dirties memory faster than the\n"
	"                              link carries: slow its busiest vCPUs until it\n"
	"                              converges (throttle, default), or fail (fail)\n"
	"      --throttle-floor PCT    the least speed a throttled vCPU keeps, % of\n"
	"                              full speed, 1..100 (default 10)\n"
	"      --switchover-retries N  a switch-over heading past the downtime limit\n"
	"                              (the link slowed down) is aborted, the guest\n"
	"                              resumed here, and tried again after more live\n"
	"                              rounds, at most N times (0..8, default 3)\n"
	"  -b, --bandwidth RATE        cap the migration traffic, e.g. 500MiB or\n"
	"                              2gbit (see kmigrate(8), RATES; default: none)\n"
	"  -c, --connect-timeout S     retry connecting this long (default 10)\n"
	"      --verify, --no-verify   have the destination check the workload guest's\n"
	"                              memory before resuming it (default: verify;\n"
	"                              not possible for a --kernel guest)\n"
	"      --no-zerocopy           send guest pages with plain writev, never\n"
	"                              MSG_ZEROCOPY (default: MSG_ZEROCOPY for large\n"
	"                              page batches where the socket supports it)\n"
	"      --datapath auto|kernel|user\n"
	"                              who harvests and sends the pages: kernel =\n"
	"                              kmigrate.ko (/dev/kmigrate), user = this tool;\n"
	"                              auto (default): kernel when the module is\n"
	"                              loaded and takes the VM, else user (the result's\n"
	"                              datapath_note says why); kernel without the\n"
	"                              module fails with exit status 3\n"
	KM_TLS_USAGE
	KM_TLS_NAME_USAGE
	"      --via IFACE             send from this interface only (the migration\n"
	"                              network; SO_BINDTODEVICE; config: via)\n"
	"      --source-address ADDR   send from this address (config: source_address)\n"
	"      --no-wait               at the host's limit of outgoing migrations\n"
	"                              (config max_outgoing, default 2): fail instead\n"
	"                              of waiting in order for a slot\n",
	.notes =
	"Defaults come from /etc/kmigrate/kmigrate.conf ($KMIGRATE_CONFIG); options\n"
	"override it.  The host's bandwidth (config: bandwidth) is shared among its\n"
	"running outgoing migrations.\n"
	"Shows the progress on a terminal; with -j/--json prints one JSON object\n"
	"with the result (result, total_ms, downtime_ms, rounds, bytes_sent,\n"
	"pages_sent, zero_pages, guest_mem_bytes, datapath, pages_verified,\n"
	"guest_downtime_ms, round_history, ...).  downtime_ms is the guest's\n"
	"pause, its last instruction here to its first on the destination (the\n"
	"source's part, half COMMIT's round trip and the destination's resume;\n"
	"no clocks compared across hosts); pause_to_ready_ms the part up to\n"
	"READY; guest_downtime_ms the longest pause the workload guest itself\n"
	"saw (null, with guest_downtime_note, when not known).  A limit this link\n"
	"and guest cannot meet is refused before the pause, with the limit they\n"
	"can reach (can_reach_ms).\n"
	"'kmigrate status NAME' shows the progress from another terminal.\n"
	"Exit status 0 when the guest runs on the destination; on failure the\n"
	"guest keeps running here.  Ctrl-C cancels the migration.\n",
};

static int64_t start_int(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : 0;
}

/* 0, or km_ctl_call_ok's -errno after one line on stderr */
static int start_call(const char *name, struct json_object *req, struct json_object **reply)
{
	char err[512];
	int r = km_ctl_call_ok(name, req, START_CALL_MS, reply, err, sizeof(err));

	if (r)
		km_err("start: %s", err);
	return r;
}

/*
 * A VM with a virtio NIC is refused before anything is sent: a NIC's move
 * (its tap's packets in flight, the announce of its MAC from the
 * destination) is not there yet (issue 11).  Disks migrate (shared
 * storage, docs/DEVICES.md).  The VM's process refuses the request too;
 * asking first gives the exit status KM_EXIT_UNSUPPORTED and leaves the
 * outgoing slots alone.
 */
static int start_check_devices(const char *name)
{
	struct json_object *reply, *devs;
	char err[512];
	size_t n, i, nics = 0;

	if (km_ctl_cmd(name, "info", START_CALL_MS, &reply, err, sizeof(err))) {
		km_err("start: %s", err);
		return KM_EXIT_FAIL;
	}
	n = json_object_object_get_ex(reply, "devices", &devs) &&
	    json_object_is_type(devs, json_type_array) ? json_object_array_length(devs) : 0;
	for (i = 0; i < n; i++) {
		struct json_object *t, *d = json_object_array_get_idx(devs, i);

		if (json_object_object_get_ex(d, "type", &t) &&
		    !strcmp(json_object_get_string(t), "net"))
			nics++;
	}
	json_object_put(reply);
	if (!nics)
		return 0;
	km_err("start: %s: the VM has %zu virtio NIC(s): migrating a virtio-net device is "
	       "not supported yet (disks are)", name, nics);
	return KM_EXIT_UNSUPPORTED;
}

void km_mig_show_progress(struct json_object *st, bool tty, uint32_t *last_round)
{
	uint32_t round = (uint32_t)start_int(st, "round");
	double sent = start_int(st, "bytes_sent") / 1048576.0;
	double rate = start_int(st, "rate") / 1048576.0;
	const char *phase = km_ctl_str(st, "phase");
	char line[512];

	const char *dp = km_ctl_str(st, "datapath");

	snprintf(line, sizeof(line), "%s round %u: sent %.1f MiB, remaining %" PRId64
		 " pages, rate %.1f MiB/s, dirty %" PRId64 " pages/s, predicted downtime %"
		 PRId64 " ms, guest speed %" PRId64 "%%, datapath %s", phase ? phase : "?", round,
		 sent, start_int(st, "remaining_pages"), rate, start_int(st, "dirty_rate"),
		 start_int(st, "predicted_downtime_ms"),
		 json_object_object_get_ex(st, "guest_speed_pct", NULL) ?
		 start_int(st, "guest_speed_pct") : 100, dp ? dp : "?");
	if (start_int(st, "switchover_aborts") > 0) {
		size_t len = strlen(line);

		snprintf(line + len, sizeof(line) - len, ", switch-overs aborted %" PRId64
			 " of %" PRId64, start_int(st, "switchover_aborts"),
			 start_int(st, "switchover_attempts"));
	}
	if (start_int(st, "full_resends") > 0 && start_int(st, "full_resend_round") == round) {
		const char *why = km_ctl_str(st, "full_resend_reason");
		size_t len = strlen(line);

		snprintf(line + len, sizeof(line) - len, "; resending every page (%s)",
			 why ? why : "?");
	}
	if (tty) {
		printf("\r\033[K%s", line);
		fflush(stdout);
	} else if (round != *last_round) {
		printf("%s\n", line);
		fflush(stdout);
	}
	*last_round = round;
}

int start_main(int argc, char **argv)
{
	const char *name, *to = NULL, *res;
	uint32_t downtime = KM_MIG_DEFAULT_DOWNTIME_MS, rounds = KM_MIG_DEFAULT_MAX_ROUNDS;
	uint32_t ctimeout = 10, last_round = UINT32_MAX, floor = KMT_DEFAULT_FLOOR_PCT;
	uint32_t retries = KM_MIG_DEFAULT_RETRIES;
	const char *converge = "throttle";
	uint64_t bw = 0;
	struct json_object *req, *reply = NULL, *st = NULL;
	bool tty = isatty(1) && !km_opts.json, cancelled = false, verify = true;
	bool zerocopy = true;
	struct km_tls_cli tlsc = { 0 };
	enum km_mig_datapath dpath = KM_MIG_DP_AUTO;
	char why[512];
	int c, ret;
	struct km_conf conf;
	struct km_out out;
	const char *via = NULL, *srcaddr = NULL;
	bool nowait = false;
	unsigned int misses = 0;

	if (km_conf_load(&conf, why, sizeof(why))) {
		km_err("start: config: %s", why);
		return KM_EXIT_USAGE;
	}
	if (conf.downtime_limit)
		downtime = conf.downtime_limit;
	km_tls_cli_conf(&tlsc, conf.tls_dir, conf.insecure);
	while ((c = km_getopt(argc, argv, "t:d:r:b:c:", start_longopts, &start_usage)) != KM_OPT_END) {
		switch (c) {
		case 't':
			to = optarg;
			break;
		case 'd':
			if (km_parse_u32(optarg, 1, 3600000, &downtime, why, sizeof(why)))
				return km_usage_error("invalid --downtime-limit: %s", why);
			break;
		case 'r':
			if (km_parse_u32(optarg, 1, 100000, &rounds, why, sizeof(why)))
				return km_usage_error("invalid --max-rounds: %s", why);
			break;
		case 'b':
			if (km_rate_parse(optarg, &bw, why, sizeof(why)))
				return km_usage_error("invalid --bandwidth: %s", why);
			break;
		case 'c':
			if (km_parse_u32(optarg, 0, 3600, &ctimeout, why, sizeof(why)))
				return km_usage_error("invalid --connect-timeout: %s", why);
			break;
		case 'V':
		case 'N':
			verify = c == 'V';
			break;
		case 'Z':
			zerocopy = false;
			break;
		case 'P':
			if (km_mig_datapath_parse(optarg, &dpath))
				return km_usage_error("invalid --datapath '%s': expected auto, kernel "
						      "or user", optarg);
			break;
		case KM_TLS_OPT_DIR:
		case KM_TLS_OPT_INSECURE:
		case KM_TLS_OPT_NAME:
			km_tls_cli_opt(&tlsc, c, optarg);
			break;
		case 'I':
			via = optarg;
			break;
		case 'S':
			srcaddr = optarg;
			break;
		case 'W':
			nowait = true;
			break;
		case 'C':
			if (strcmp(optarg, "throttle") && strcmp(optarg, "fail"))
				return km_usage_error("invalid --converge '%s': expected throttle or "
						      "fail", optarg);
			converge = optarg;
			break;
		case 'F':
			if (km_parse_u32(optarg, 1, 100, &floor, why, sizeof(why)))
				return km_usage_error("invalid --throttle-floor: %s", why);
			break;
		case 'R':
			if (km_parse_u32(optarg, 0, KM_MIG_MAX_RETRIES, &retries, why, sizeof(why)))
				return km_usage_error("invalid --switchover-retries: %s", why);
			break;
		default:
			return km_opt_exit(c);
		}
	}
	if (optind >= argc)
		return km_usage_error("missing the VM's NAME");
	name = argv[optind++];
	if (!km_ctl_name_valid(name))
		return km_usage_error("invalid NAME '%s'", name);
	if (km_no_args(argc, argv))
		return KM_EXIT_USAGE;
	if (!via && conf.via[0])
		via = conf.via;
	if (!srcaddr && conf.source_address[0])
		srcaddr = conf.source_address;
	if (via && km_net_check_via(via, why, sizeof(why)))
		return km_usage_error("invalid --via: %s", why);
	if (!to)
		return km_usage_error("missing --to HOST[:PORT]");
	if (km_ctl_access(name, why, sizeof(why))) {	/* before credentials, slots */
		km_err("start: %s", why);
		return KM_EXIT_PERM;
	}
	if (km_tls_cli_check(&tlsc, "start"))
		return KM_EXIT_USAGE;
	km_tls_free(tlsc.creds);	/* checked here; the VM's process loads them */
	{
		char h[256], p[16];

		if (km_mig_split_hostport(to, h, sizeof(h), p, sizeof(p), KM_MIG_DEFAULT_PORT))
			return km_usage_error("invalid --to '%s': expected HOST[:PORT] or [IPV6]:PORT", to);
	}

	if (dpath == KM_MIG_DP_KERNEL && access("/dev/" KMIGRATE_DEVICE_NAME, F_OK)) {
		/* the VM's process would refuse it too; say it the module's way */
		km_err("start: %s: --datapath kernel: /dev/%s: %s: kernel module not loaded; "
		       "load it with 'modprobe kmigrate' (or use --datapath auto|user)", name,
		       KMIGRATE_DEVICE_NAME, strerror(errno));
		return KM_EXIT_NO_MODULE;
	}
	if (dpath == KM_MIG_DP_KERNEL && !tlsc.insecure && !km_tls_ktls_here()) {
		/* the VM's process would fail after the handshake: say it first */
		km_err("start: %s: --datapath kernel needs kernel TLS (the module sends the "
		       "pages into the socket itself), and this kernel has none (no tls module: "
		       "modprobe tls); --datapath auto or user encrypts with GnuTLS's records "
		       "instead", name);
		return KM_EXIT_FAIL;
	}
	ret = start_check_devices(name);
	if (ret)
		return ret;
	signal(SIGINT, start_on_signal);
	signal(SIGTERM, start_on_signal);
	ret = km_out_begin(&out, &conf, name, to, bw, nowait, &start_interrupted);
	if (ret)
		return ret;
	bw = km_out_share(&out);
	req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string("migrate"));
	if (via)
		json_object_object_add(req, "via", json_object_new_string(via));
	if (srcaddr)
		json_object_object_add(req, "source_address", json_object_new_string(srcaddr));
	json_object_object_add(req, "to", json_object_new_string(to));
	json_object_object_add(req, "downtime_ms", json_object_new_int64(downtime));
	json_object_object_add(req, "max_rounds", json_object_new_int64(rounds));
	json_object_object_add(req, "converge", json_object_new_string(converge));
	json_object_object_add(req, "throttle_floor", json_object_new_int64(floor));
	json_object_object_add(req, "switchover_retries", json_object_new_int64(retries));
	json_object_object_add(req, "bandwidth", json_object_new_int64(bw > INT64_MAX ? INT64_MAX : (int64_t)bw));
	json_object_object_add(req, "connect_timeout_ms", json_object_new_int64((int64_t)ctimeout * 1000));
	json_object_object_add(req, "verify", json_object_new_boolean(verify));
	if (!zerocopy)	/* only then: the default request stays as before */
		json_object_object_add(req, "zerocopy", json_object_new_boolean(false));
	json_object_object_add(req, "datapath", json_object_new_string(km_mig_datapath_name(dpath)));
	km_tls_cli_req(&tlsc, req);
	ret = start_call(name, req, &reply);
	json_object_put(req);
	if (ret) {
		km_out_end(&out);
		return km_ctl_exit_code(ret);
	}
	json_object_put(reply);

	signal(SIGINT, start_on_signal);
	signal(SIGTERM, start_on_signal);
	for (;;) {
		struct timespec ts = { 0, START_POLL_MS * 1000000L };

		if (start_interrupted && !cancelled) {
			struct json_object *r = NULL;

			cancelled = true;
			req = json_object_new_object();
			json_object_object_add(req, "cmd", json_object_new_string("migrate-cancel"));
			if (!start_call(name, req, &r))
				json_object_put(r);
			json_object_put(req);
		}
		if (km_out_rebalance(&out, &bw)) {	/* another outgoing one started or ended */
			struct json_object *r = NULL;

			req = json_object_new_object();
			json_object_object_add(req, "cmd", json_object_new_string("set"));
			json_object_object_add(req, "bandwidth", json_object_new_int64((int64_t)bw));
			/* quietly: the migration may just have ended */
			if (!km_ctl_call(name, req, START_CALL_MS, &r, why, sizeof(why)))
				json_object_put(r);
			json_object_put(req);
		}
		req = json_object_new_object();
		json_object_object_add(req, "cmd", json_object_new_string("migrate-status"));
		ret = start_call(name, req, &reply);
		json_object_put(req);
		/* a busy host: a few missed replies are not yet a lost VM */
		if (ret && ++misses < START_MISSES && !start_interrupted) {
			char sock[512];

			snprintf(sock, sizeof(sock), "%s/%s.sock", km_ctl_run_dir(), name);
			if (!access(sock, F_OK))
				continue;
		}
		if (!ret)
			misses = 0;
		if (ret) {
			if (tty)
				printf("\n");
			km_err("start: %s: lost contact with the VM's process; its log is %s/%s.log",
			       name, km_ctl_run_dir(), name);
			km_out_end(&out);
			json_object_put(st);
			return KM_EXIT_FAIL;
		}
		json_object_put(st);
		st = reply;
		res = km_ctl_str(st, "result");
		if (res)
			break;
		if (!km_opts.json)
			km_mig_show_progress(st, tty, &last_round);
		nanosleep(&ts, NULL);
	}
	km_out_end(&out);
	if (tty)
		printf("\r\033[K");
	json_object_object_del(st, "ok");
	json_object_object_del(st, "event");
	/* an older VM process: the destination's numbers are unknown */
	if (!json_object_object_get_ex(st, "pages_verified", NULL))
		json_object_object_add(st, "pages_verified", NULL);
	if (!json_object_object_get_ex(st, "guest_downtime_ms", NULL))
		json_object_object_add(st, "guest_downtime_ms", NULL);
	ret = strcmp(res, "completed") ? KM_EXIT_FAIL : KM_EXIT_OK;
	if (km_opts.json) {
		printf("%s\n", json_object_to_json_string_ext(st, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE));
	} else if (!ret) {
		struct json_object *dt = NULL, *gdt = NULL, *pv = NULL;
		char gbuf[64] = "unknown", vbuf[96] = "not verified";

		json_object_object_get_ex(st, "downtime_ms", &dt);
		if (json_object_object_get_ex(st, "guest_downtime_ms", &gdt) && gdt)
			snprintf(gbuf, sizeof(gbuf), "%.1f ms", json_object_get_double(gdt));
		if (json_object_object_get_ex(st, "pages_verified", &pv) && pv)
			snprintf(vbuf, sizeof(vbuf), "%" PRId64 " pages verified (%" PRId64 " bad)",
				 json_object_get_int64(pv), start_int(st, "verify_bad"));
		printf("%s: migrated to %s in %" PRId64 " ms: %" PRId64 " rounds, %.1f MiB sent "
		       "(%" PRId64 " pages, %" PRId64 " zero pages), downtime %.1f ms, guest-observed "
		       "%s, %s\n",
		       name, km_ctl_str(st, "peer"), start_int(st, "total_ms"),
		       start_int(st, "rounds"), start_int(st, "bytes_sent") / 1048576.0,
		       start_int(st, "pages_sent"), start_int(st, "zero_pages"),
		       dt ? json_object_get_double(dt) : 0.0, gbuf, vbuf);
		if (start_int(st, "switchover_aborts") > 0)
			printf("%s: %" PRId64 " switch-over(s) aborted past the limit (the guest "
			       "resumed here each time), then completed\n", name,
			       start_int(st, "switchover_aborts"));
		if (start_int(st, "throttle_steps") > 0)
			printf("%s: throttled in %" PRId64 " steps to a guest speed of %" PRId64
			       "%% (floor %" PRId64 "%%) before the switch-over\n", name,
			       start_int(st, "throttle_steps"), start_int(st, "guest_speed_pct"),
			       start_int(st, "throttle_floor_pct"));
	}
	if (ret)
		km_err("start: %s: migration %s: %s; the guest keeps running here", name, res,
		       km_ctl_str(st, "error") ? km_ctl_str(st, "error") : "unknown error");
	json_object_put(st);
	return ret;
}

static const struct km_usage cancel_usage = {
	.args = "NAME",
	.notes = "Stops the running migration of NAME; the guest resumes on this host.\n",
};

int cancel_main(int argc, char **argv)
{
	struct json_object *req, *reply = NULL;
	const char *name;
	char why[512];
	int c, r;

	while ((c = km_getopt(argc, argv, "", NULL, &cancel_usage)) != KM_OPT_END)
		return km_opt_exit(c);
	if (optind >= argc)
		return km_usage_error("missing the VM's NAME");
	name = argv[optind++];
	if (!km_ctl_name_valid(name))
		return km_usage_error("invalid NAME '%s'", name);
	if (km_no_args(argc, argv))
		return KM_EXIT_USAGE;
	req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string("migrate-cancel"));
	r = km_ctl_call_ok(name, req, START_CALL_MS, &reply, why, sizeof(why));
	json_object_put(req);
	if (r) {
		km_err("cancel: %s", why);
		return km_ctl_exit_code(r);
	}
	if (km_opts.json)
		printf("%s\n", json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN));
	else
		printf("%s: cancelling the migration\n", name);
	json_object_put(reply);
	return KM_EXIT_OK;
}
