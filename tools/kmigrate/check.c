// SPDX-License-Identifier: GPL-2.0
/*
 * kmigrate check NAME --to HOST[:PORT]: the pre-flight checks of a
 * migration, without migrating.  The VM's process connects to the
 * destination exactly as `kmigrate start` would (same TLS, network and
 * data path choice) and sends HELLO + PROFILE with the CHECK feature
 * (docs/PROTOCOL.md); the destination runs every admission check and
 * answers ACCEPT or ERROR with one line per failed check; nothing else
 * moves.  One line per failure here, and an exit status per kind:
 *
 *   10 cpu      the destination lacks CPUID features the guest needs
 *   11 memory   not enough available memory there
 *   12 version  protocol version or module ABI incompatible
 *   13 listener the destination's listener does not answer
 *   14 limit    the destination is at its incoming-migration limit
 *   15 vcpus    more vCPUs than the destination runs
 *    1          any other refusal or failure
 *
 * Several failures: the status of the first line.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cmds.h"
#include "config.h"
#include "ctl.h"
#include "exitcode.h"
#include "proto.h"
#include "source.h"
#include "tls.h"

#define CHECK_POLL_MS	100
#define CHECK_CALL_MS	5000

enum {	/* exitcode.h */
	CHECK_EXIT_CPU = KM_EXIT_PF_CPU,
	CHECK_EXIT_MEMORY = KM_EXIT_PF_MEMORY,
	CHECK_EXIT_VERSION = KM_EXIT_PF_VERSION,
	CHECK_EXIT_LISTENER = KM_EXIT_PF_LISTENER,
	CHECK_EXIT_LIMIT = KM_EXIT_PF_LIMIT,
	CHECK_EXIT_VCPUS = KM_EXIT_PF_VCPUS,
};

static const struct option check_longopts[] = {
	{ "to", required_argument, NULL, 't' },
	{ "connect-timeout", required_argument, NULL, 'c' },
	{ "datapath", required_argument, NULL, 'P' },
	KM_TLS_LONGOPTS,
	KM_TLS_NAME_LONGOPT,
	{ NULL, 0, NULL, 0 },
};

static const struct km_usage check_usage = {
	.args = "NAME --to HOST[:PORT]",
	.options =
	"  -t, --to HOST[:PORT]        destination's 'kmigrate listen' (port 49152)\n"
	"  -c, --connect-timeout S     retry connecting this long (default 3)\n"
	"      --datapath auto|kernel|user\n"
	"                              the data path 'start' would use (the module ABI\n"
	"                              is checked when it is kernel; default auto)\n"
	KM_TLS_USAGE
	KM_TLS_NAME_USAGE,
	.notes =
	"Runs the destination's admission checks for guest NAME without moving any\n"
	"of its memory: CPU features, memory, vCPUs, protocol and module ABI\n"
	"versions, the incoming limit, the listener itself.  One line per failed\n"
	"check.  Exit status: 0 all pass, 10 cpu, 11 memory, 12 version, 13\n"
	"listener unreachable, 14 limit reached, 15 vcpus, 1 other.\n",
};

/* 0, or km_ctl_call_ok's -errno after one line on stderr */
static int check_call(const char *name, struct json_object *req, struct json_object **reply)
{
	char err[512];
	int r = km_ctl_call_ok(name, req, CHECK_CALL_MS, reply, err, sizeof(err));

	if (r)
		km_err("check: %s", err);
	return r;
}

static const struct {
	const char *check;
	int code;
} check_kinds[] = {
	{ "cpu", CHECK_EXIT_CPU },
	{ "memory", CHECK_EXIT_MEMORY },
	{ "version", CHECK_EXIT_VERSION },
	{ "abi", CHECK_EXIT_VERSION },
	{ "listener", CHECK_EXIT_LISTENER },
	{ "limit", CHECK_EXIT_LIMIT },
	{ "vcpus", CHECK_EXIT_VCPUS },
};

/* "cpu: ..." -> 10; 0 for a line of no known kind. */
static int check_kind(const char *line, size_t len)
{
	for (size_t i = 0; i < sizeof(check_kinds) / sizeof(check_kinds[0]); i++) {
		size_t n = strlen(check_kinds[i].check);

		if (len > n && !strncmp(line, check_kinds[i].check, n) && line[n] == ':')
			return check_kinds[i].code;
	}
	return 0;
}

static void check_add(struct json_object *fails, const char *kind, const char *msg, size_t len)
{
	struct json_object *f = json_object_new_object();

	json_object_object_add(f, "check", json_object_new_string(kind));
	json_object_object_add(f, "message", json_object_new_string_len(msg, (int)len));
	json_object_array_add(fails, f);
}

static const char *check_kind_name(int code)
{
	for (size_t i = 0; i < sizeof(check_kinds) / sizeof(check_kinds[0]); i++)
		if (check_kinds[i].code == code)
			return check_kinds[i].check;
	return "other";
}

/* The failures of a result into @fails; returns the exit status. */
static int check_result(struct json_object *st, struct json_object *fails)
{
	const char *perr = km_ctl_str(st, "peer_error"), *err = km_ctl_str(st, "error");
	const char *phase = km_ctl_str(st, "phase");
	struct json_object *pc;
	int64_t pcode = json_object_object_get_ex(st, "peer_code", &pc) &&
			json_object_is_type(pc, json_type_int) ? json_object_get_int64(pc) : -1;
	char line[600];
	int ret = 0;

	if (perr && pcode >= 0) {	/* the destination's ERROR: one line per check */
		const char *p = perr;

		while (*p) {
			const char *e = strchr(p, '\n');
			size_t len = e ? (size_t)(e - p) : strlen(p);
			int k = check_kind(p, len);

			if (!k) {	/* an older destination, or a refusal of the HELLO */
				k = pcode == KMP_E_VERSION || pcode == KMP_E_FEATURE ?
				    CHECK_EXIT_VERSION : KM_EXIT_FAIL;
				snprintf(line, sizeof(line), "%s: %.*s (%s)",
					 k == CHECK_EXIT_VERSION ? "version" : "refused",
					 (int)len, p, kmp_strerror((uint32_t)pcode));
				check_add(fails, k == CHECK_EXIT_VERSION ? "version" : "other",
					  line, strlen(line));
			} else {
				check_add(fails, check_kind_name(k), p, len);
			}
			if (!ret)
				ret = k;
			p += len + (e ? 1 : 0);
		}
		if (ret)
			return ret;
	}
	if (phase && !strcmp(phase, "connecting")) {
		snprintf(line, sizeof(line), "listener: %s", err ? err : "unreachable");
		check_add(fails, "listener", line, strlen(line));
		return CHECK_EXIT_LISTENER;
	}
	snprintf(line, sizeof(line), "other: %s", err ? err : "the check failed");
	check_add(fails, "other", line, strlen(line));
	return KM_EXIT_FAIL;
}

int check_main(int argc, char **argv)
{
	const char *name, *to = NULL, *res;
	uint32_t ctimeout = 3;
	struct json_object *req, *reply = NULL, *st = NULL, *fails, *out;
	struct km_tls_cli tlsc = { 0 };
	enum km_mig_datapath dpath = KM_MIG_DP_AUTO;
	struct km_conf conf;
	char why[512];
	int c, ret;

	if (km_conf_load(&conf, why, sizeof(why))) {
		km_err("check: config: %s", why);
		return KM_EXIT_USAGE;
	}
	km_tls_cli_conf(&tlsc, conf.tls_dir, conf.insecure);
	while ((c = km_getopt(argc, argv, "t:c:", check_longopts, &check_usage)) != KM_OPT_END) {
		switch (c) {
		case 't':
			to = optarg;
			break;
		case 'c':
			if (km_parse_u32(optarg, 0, 3600, &ctimeout, why, sizeof(why)))
				return km_usage_error("invalid --connect-timeout: %s", why);
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
	if (!to)
		return km_usage_error("missing --to HOST[:PORT]");
	{
		char h[256], p[16];

		if (km_mig_split_hostport(to, h, sizeof(h), p, sizeof(p), KM_MIG_DEFAULT_PORT))
			return km_usage_error("invalid --to '%s': expected HOST[:PORT] or "
					      "[IPV6]:PORT", to);
	}
	if (km_ctl_access(name, why, sizeof(why))) {	/* before credentials */
		km_err("check: %s", why);
		return KM_EXIT_PERM;
	}
	if (km_tls_cli_check(&tlsc, "check"))
		return KM_EXIT_USAGE;
	km_tls_free(tlsc.creds);	/* the VM's process loads them */

	req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string("migrate"));
	json_object_object_add(req, "check", json_object_new_boolean(true));
	json_object_object_add(req, "to", json_object_new_string(to));
	json_object_object_add(req, "connect_timeout_ms",
			       json_object_new_int64((int64_t)ctimeout * 1000));
	json_object_object_add(req, "datapath",
			       json_object_new_string(km_mig_datapath_name(dpath)));
	if (conf.via[0])
		json_object_object_add(req, "via", json_object_new_string(conf.via));
	if (conf.source_address[0])
		json_object_object_add(req, "source_address",
				       json_object_new_string(conf.source_address));
	km_tls_cli_req(&tlsc, req);
	ret = check_call(name, req, &reply);
	json_object_put(req);
	if (ret)
		return km_ctl_exit_code(ret);
	json_object_put(reply);
	for (;;) {
		struct timespec ts = { 0, CHECK_POLL_MS * 1000000L };

		req = json_object_new_object();
		json_object_object_add(req, "cmd", json_object_new_string("migrate-status"));
		ret = check_call(name, req, &reply);
		json_object_put(req);
		if (ret) {
			json_object_put(st);
			return KM_EXIT_FAIL;
		}
		json_object_put(st);
		st = reply;
		res = km_ctl_str(st, "result");
		if (res)
			break;
		nanosleep(&ts, NULL);
	}
	fails = json_object_new_array();
	ret = strcmp(res, "passed") ? check_result(st, fails) : KM_EXIT_OK;
	if (km_opts.json) {
		out = json_object_new_object();
		json_object_object_add(out, "name", json_object_new_string(name));
		json_object_object_add(out, "to", json_object_new_string(to));
		json_object_object_add(out, "passed", json_object_new_boolean(!ret));
		json_object_object_add(out, "failures", json_object_get(fails));
		json_object_object_add(out, "exit", json_object_new_int(ret));
		printf("%s\n", json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
		json_object_put(out);
	} else if (!ret) {
		printf("%s: every pre-flight check passes on %s\n", name, to);
	} else {
		for (size_t i = 0; i < json_object_array_length(fails); i++) {
			struct json_object *f = json_object_array_get_idx(fails, i);

			printf("%s\n", km_ctl_str(f, "message"));
		}
	}
	json_object_put(fails);
	json_object_put(st);
	return ret;
}
