// SPDX-License-Identifier: GPL-2.0
/*
 * kmigrate status: the module and its migration sessions.
 * kmigrate status NAME: the progress of VM NAME's outgoing migration
 * (`migrate-status` on its control socket), as `kmigrate start` shows it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cmds.h"
#include "ctl.h"
#include "exitcode.h"
#include "genl.h"
#include "jsonout.h"
#include "ops.h"
#include "show.h"

static const struct km_usage status_usage = {
	.args = "[NAME]",
	.notes =
	"Without NAME: the module and its migration sessions, with the counters\n"
	"of each session that has a VM attached.  With NAME: the\n"
	"progress of the VM's running (or last) live migration, the line of\n"
	"'kmigrate start' (-j: its JSON object).\n",
};

#define STATUS_CALL_MS	5000

static const char *status_str(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string) ?
	       json_object_get_string(v) : NULL;
}

/* kmigrate status NAME */
static int status_vm(const char *name)
{
	struct json_object *req = json_object_new_object(), *st = NULL, *ok, *v;
	uint32_t last = UINT32_MAX;
	const char *res;
	char err[512];
	int r;

	if (!req)
		return KM_EXIT_FAIL;
	json_object_object_add(req, "cmd", json_object_new_string("migrate-status"));
	/* a look only: the result stays for `kmigrate start` to read */
	json_object_object_add(req, "peek", json_object_new_boolean(true));
	r = km_ctl_call(name, req, STATUS_CALL_MS, &st, err, sizeof(err));
	json_object_put(req);
	if (r) {
		km_err("status: %s", err);
		return km_ctl_exit_code(r);
	}
	if (json_object_object_get_ex(st, "ok", &ok) && !json_object_get_boolean(ok)) {
		km_err("status: %s: %s", name, status_str(st, "error") ?: "refused");
		json_object_put(st);
		return KM_EXIT_FAIL;
	}
	json_object_object_del(st, "ok");
	res = status_str(st, "result");
	if (km_opts.json) {
		printf("%s\n", json_object_to_json_string_ext(st, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE));
	} else if (!res) {
		km_mig_show_progress(st, false, &last);
	} else {
		printf("%s: migration to %s %s after %" PRId64 " ms", name,
		       status_str(st, "to") ?: "?", res,
		       json_object_object_get_ex(st, "total_ms", &v) ? json_object_get_int64(v) : 0);
		if (json_object_object_get_ex(st, "downtime_ms", &v) && v)
			printf(", downtime %.1f ms", json_object_get_double(v));
		if (json_object_object_get_ex(st, "guest_downtime_ms", &v) && v)
			printf(", guest-observed %.1f ms", json_object_get_double(v));
		if (status_str(st, "error"))
			printf(": %s", status_str(st, "error"));
		printf("\n");
	}
	json_object_put(st);
	return KM_EXIT_OK;
}

/* Adds each session's counters to its object of the "sessions" array. */
static void status_json_counters(struct json_object *st,
				 const struct km_counters_list *counters)
{
	struct json_object *arr, *o, *id;
	const struct km_counters *c;
	size_t i;

	if (!json_object_object_get_ex(st, "sessions", &arr))
		return;
	for (i = 0; i < json_object_array_length(arr); i++) {
		o = json_object_array_get_idx(arr, i);
		if (!json_object_object_get_ex(o, "id", &id))
			continue;
		c = km_counters_find(counters, (uint32_t)json_object_get_int64(id));
		if (c)
			km_json_counters_add(o, c);
	}
}

static int status_output(const struct km_info *info,
			 const struct km_sessions *list,
			 const struct km_counters_list *counters)
{
	struct json_object *st;

	if (km_opts.json) {
		st = km_json_status(info, list);
		if (st)
			status_json_counters(st, counters);
		return km_json_print(st, stdout);
	}
	km_show_status(stdout, info, list);
	km_show_counters(stdout, list, counters);
	return KM_EXIT_OK;
}

int status_main(int argc, char **argv)
{
	struct km_counters_list counters = { 0 };
	struct km_sessions list = { 0 };
	struct km_info info;
	struct km_genl g;
	const char *what;
	int c, ret;

	while ((c = km_getopt(argc, argv, "", NULL, &status_usage)) != KM_OPT_END)
		return km_opt_exit(c);
	if (optind < argc) {
		const char *name = argv[optind++];

		if (!km_ctl_name_valid(name))
			return km_usage_error("invalid NAME '%s'", name);
		ret = km_no_args(argc, argv);
		return ret ? ret : status_vm(name);
	}
	ret = km_no_args(argc, argv);
	if (ret)
		return ret;

	if (km_genl_open(&g))
		return km_error_report(&g.err, "connecting to the kernel module");
	what = "reading module info";
	ret = km_get_info(&g, KM_INFO_ALL, &info);
	if (!ret) {
		what = "listing sessions";
		ret = km_get_sessions_counters(&g, &list, &counters);
	}
	km_genl_close(&g);
	if (ret) {
		km_sessions_free(&list);
		km_counters_free(&counters);
		return km_error_report(&g.err, what);
	}
	ret = status_output(&info, &list, &counters);
	km_sessions_free(&list);
	km_counters_free(&counters);
	km_check_versions(&info);
	return ret;
}
