// SPDX-License-Identifier: GPL-2.0
/* kmigrate version: tool, module, ABI and genl versions. */
#include "cli.h"
#include "cmds.h"
#include "genl.h"
#include "jsonout.h"
#include "ops.h"
#include "show.h"

#ifndef KMIGRATE_TOOL_VERSION
#error "build with -DKMIGRATE_TOOL_VERSION=\"...\""
#endif

/* What main.c gives km_main() as the version; "version" prints that. */
const char km_tool_version[] = KMIGRATE_TOOL_VERSION;

static const struct km_usage version_usage;

/* @loaded: 1, 0, -1 (unknown); @info NULL: only what the tool knows. */
static int version_output(int loaded, const struct km_info *info)
{
	const char *tool = km_opts.prog->version;

	if (km_opts.json)
		return km_json_print(km_json_version(tool, loaded, info), stdout);
	km_show_version(stdout, tool, info);
	return KM_EXIT_OK;
}

int version_main(int argc, char **argv)
{
	struct km_genl g;
	struct km_info info;
	int c, ret;

	while ((c = km_getopt(argc, argv, "", NULL, &version_usage)) != KM_OPT_END)
		return km_opt_exit(c);
	ret = km_no_args(argc, argv);
	if (ret)
		return ret;

	if (km_genl_open(&g)) {
		version_output(g.err.code == KM_EXIT_NO_MODULE ? 0 : -1, NULL);
		return km_error_report(&g.err, "connecting to the kernel module");
	}
	ret = km_get_info(&g, KM_INFO_VERSIONS, &info);
	km_genl_close(&g);
	if (ret) {
		version_output(1, NULL);
		return km_error_report(&g.err, "reading module info");
	}
	ret = version_output(1, &info);
	km_check_versions(&info);
	return ret;
}
