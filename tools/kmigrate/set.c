// SPDX-License-Identifier: GPL-2.0
/*
 * kmigrate set: change a running migration.
 *
 *   kmigrate set --session ID --bandwidth RATE   a kernel session's cap
 *                                                (genl SET_SESSION)
 *   kmigrate set NAME [--bandwidth RATE] [--downtime-limit MS]
 *                                                VM NAME's running outgoing
 *                                                migration, through its
 *                                                control socket
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <json.h>
#include <linux/kmigrate.h>

#include "cli.h"
#include "cmds.h"
#include "ctl.h"
#include "exitcode.h"
#include "genl.h"
#include "rate.h"
#include "source.h"

#define SET_CALL_MS	5000

static const struct option set_longopts[] = {
	{ "session", required_argument, NULL, 's' },
	{ "bandwidth", required_argument, NULL, 'b' },
	{ "downtime-limit", required_argument, NULL, 'd' },
	{ NULL, 0, NULL, 0 },
};

static const struct km_usage set_usage = {
	.args = "{NAME [--bandwidth RATE] [--downtime-limit MS] | --session ID --bandwidth RATE}",
	.options =
	"  -s, --session ID       the kernel migration session ID ('kmigrate status')\n"
	"  -b, --bandwidth RATE   the new cap, in bytes/s: e.g. 50M, 1G/s, 10gbit;\n"
	"                         0 or 'unlimited': none\n"
	"  -d, --downtime-limit MS\n"
	"                         the new downtime limit, 1..3600000 ms (NAME only)\n",
	.notes =
	"With NAME: the running outgoing migration of VM NAME ('kmigrate run')\n"
	"gets the new cap at once, on whichever data path it uses, and the new\n"
	"downtime limit from its next round's decision.  With --session: the\n"
	"kernel session's cap changes (needs CAP_NET_ADMIN).\n",
};

static void set_print(const char *what, uint64_t bps)
{
	char rate[KM_RATE_STRLEN];

	printf("%s: bandwidth %s\n", what, km_rate_format(bps, rate, sizeof(rate)));
}

static int set_session(uint32_t id, uint64_t bps)
{
	struct km_genl g;
	char what[64];
	int ret;

	if (km_genl_open(&g))
		return km_error_report(&g.err, "connecting to the kernel module");
	ret = km_set_session_bandwidth(&g, id, bps);
	km_genl_close(&g);
	snprintf(what, sizeof(what), "setting the bandwidth of session %u", id);
	if (ret)
		return km_error_report(&g.err, what);
	if (km_opts.json) {
		printf("{\"session\":%u,\"bandwidth\":%llu}\n", id, (unsigned long long)bps);
	} else {
		snprintf(what, sizeof(what), "session %u", id);
		set_print(what, bps);
	}
	return KM_EXIT_OK;
}

static int set_vm(const char *name, bool have_bw, uint64_t bps, uint32_t downtime)
{
	struct json_object *req = json_object_new_object(), *rep = NULL, *v;
	char err[512];
	int r;

	if (!req)
		return KM_EXIT_FAIL;
	json_object_object_add(req, "cmd", json_object_new_string("set"));
	if (have_bw)
		json_object_object_add(req, "bandwidth", json_object_new_uint64(bps));
	if (downtime)
		json_object_object_add(req, "downtime_ms", json_object_new_uint64(downtime));
	r = km_ctl_call(name, req, SET_CALL_MS, &rep, err, sizeof(err));
	json_object_put(req);
	if (r == -ENOENT) {
		km_err("set: no VM '%s' runs here ('kmigrate vms' lists them)", name);
		return KM_EXIT_FAIL;
	}
	if (r) {
		km_err("set: %s", err);
		return km_ctl_exit_code(r);
	}
	if (!json_object_object_get_ex(rep, "ok", &v) || !json_object_get_boolean(v)) {
		km_err("set: %s: %s", name,
		       json_object_object_get_ex(rep, "error", &v) ?
		       json_object_get_string(v) : "refused");
		json_object_put(rep);
		return KM_EXIT_FAIL;
	}
	if (km_opts.json) {
		json_object_object_del(rep, "ok");
		json_object_object_add(rep, "vm", json_object_new_string(name));
		if (have_bw && !json_object_object_get_ex(rep, "bandwidth", NULL))
			json_object_object_add(rep, "bandwidth", json_object_new_uint64(bps));
		if (downtime && !json_object_object_get_ex(rep, "downtime_ms", NULL))
			json_object_object_add(rep, "downtime_ms", json_object_new_uint64(downtime));
		printf("%s\n", json_object_to_json_string_ext(rep, JSON_C_TO_STRING_PLAIN |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
	} else {
		if (have_bw)
			set_print(name, bps);
		if (downtime)
			printf("%s: downtime limit %u ms\n", name, downtime);
	}
	json_object_put(rep);
	return KM_EXIT_OK;
}

int set_main(int argc, char **argv)
{
	bool have_id = false, have_bw = false;
	const char *name = NULL;
	uint32_t id = 0;
	uint64_t bps = 0;
	uint32_t downtime = 0;
	char why[256];
	int c;

	while ((c = km_getopt(argc, argv, "s:b:d:", set_longopts, &set_usage)) != KM_OPT_END) {
		switch (c) {
		case 's':
			if (km_parse_u32(optarg, 0, UINT32_MAX, &id, why, sizeof(why)))
				return km_usage_error("invalid --session: %s", why);
			have_id = true;
			break;
		case 'b':
			if (km_rate_parse(optarg, &bps, why, sizeof(why)))
				return km_usage_error("invalid --bandwidth: %s", why);
			have_bw = true;
			break;
		case 'd':
			if (km_parse_u32(optarg, 1, KM_MIG_MAX_DOWNTIME_MS, &downtime, why,
					 sizeof(why)))
				return km_usage_error("invalid --downtime-limit: %s", why);
			break;
		default:
			return km_opt_exit(c);
		}
	}
	if (optind < argc)
		name = argv[optind++];
	if (km_no_args(argc, argv))
		return KM_EXIT_USAGE;
	if (!name == !have_id)
		return km_usage_error("give either a VM NAME or --session ID");
	if (have_id && downtime)
		return km_usage_error("--downtime-limit needs a VM NAME, not --session");
	if (!have_bw && !downtime)
		return km_usage_error(name ? "--bandwidth RATE or --downtime-limit MS is required" :
				      "--bandwidth RATE is required");
	if (name && !km_ctl_name_valid(name))
		return km_usage_error("invalid NAME '%s'", name);
	return name ? set_vm(name, have_bw, bps, downtime) : set_session(id, bps);
}
