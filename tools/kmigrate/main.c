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
	{ "monitor",	monitor_main,	"print the module's migration events as they come" },
	{ "set",	set_main,	"change a running migration's bandwidth cap" },
	{ "run",	run_main,	"run a guest on this host, with a control socket" },
	{ "vms",	vms_main,	"list the guests that 'kmigrate run' runs here" },
	{ "pause",	pause_main,	"pause a guest of 'kmigrate run'" },
	{ "resume",	resume_main,	"resume a paused guest" },
	{ "stop",	stop_main,	"shut a guest of 'kmigrate run' down" },
	{ "console",	console_main,	"attach the terminal to a Linux guest's serial console" },
	{ "vmctl",	vmctl_main,	"send a raw request to a guest's control socket" },
	{ "listen",	listen_main,	"accept live migrations from other hosts" },
	{ "start",	start_main,	"live-migrate a guest of 'kmigrate run' to another host" },
	{ "check",	check_main,	"run a migration's pre-flight checks, moving nothing" },
	{ "cancel",	cancel_main,	"cancel a running migration (the guest stays here)" },
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
