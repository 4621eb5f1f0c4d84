// SPDX-License-Identifier: GPL-2.0
/*
 * kmigrate: live migration of KVM guests with kmigrate.ko.
 *
 * Adding a command: write <name>.c with <name>_main() (see cli.h), declare
 * it in cmds.h and add its line below.
 */
#include "cli.h"
#include "cmds.h"

static const struct km_cmd km_cmds[] = {
	{ "version",	version_main,	"show tool, module and ABI versions" },
	{ "status",	status_main,	"show the module and its migration sessions" },
	{ "limits",	limits_main,	"show or set host-wide migration limits" },
};

int main(int argc, char **argv)
{
	const struct km_prog prog = {
		.version = km_tool_version,
		.cmds = km_cmds,
		.ncmds = sizeof(km_cmds) / sizeof(km_cmds[0]),
	};
	int ret = km_main(&prog, argc, argv);
	int flushed = km_flush_stdout();

	return ret ? ret : flushed;
}
