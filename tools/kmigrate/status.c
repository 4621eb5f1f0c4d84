// SPDX-License-Identifier: GPL-2.0
/* kmigrate status: the module and its migration sessions. */
#include "cli.h"
#include "cmds.h"
#include "genl.h"
#include "jsonout.h"
#include "ops.h"
#include "show.h"

static const struct km_usage status_usage;

static int status_output(const struct km_info *info,
			 const struct km_sessions *list)
{
	if (km_opts.json)
		return km_json_print(km_json_status(info, list), stdout);
	km_show_status(stdout, info, list);
	return KM_EXIT_OK;
}

int status_main(int argc, char **argv)
{
	struct km_sessions list = { 0 };
	struct km_info info;
	struct km_genl g;
	const char *what;
	int c, ret;

	while ((c = km_getopt(argc, argv, "", NULL, &status_usage)) != KM_OPT_END)
		return km_opt_exit(c);
	ret = km_no_args(argc, argv);
	if (ret)
		return ret;

	if (km_genl_open(&g))
		return km_error_report(&g.err, "connecting to the kernel module");
	what = "reading module info";
	ret = km_get_info(&g, KM_INFO_ALL, &info);
	if (!ret) {
		what = "listing sessions";
		ret = km_get_sessions(&g, &list);
	}
	km_genl_close(&g);
	if (ret) {
		km_sessions_free(&list);
		return km_error_report(&g.err, what);
	}
	ret = status_output(&info, &list);
	km_sessions_free(&list);
	km_check_versions(&info);
	return ret;
}
