// SPDX-License-Identifier: GPL-2.0
/*
 * kmagent: the guest agent of the Linux-guest migration tests (issue 11),
 * a static binary in the guest's initramfs (tests/lab-vm/agent_initrd.sh).
 * One subcommand per process; each prints one line per event, starting
 * with "KMAGENT ", on stdout (the guest's console):
 *
 *   kmagent mem        a memory writer at a settable rate, stamping pages
 *                      (mem.c)
 *   kmagent disk-write appends checksummed records with fsync (disk.c)
 *   kmagent disk-check verifies them up to a sequence (disk.c)
 *   kmagent echo       UDP echo and TCP echo services on one port (echo.c),
 *                      a ticker on the next (tick.c)
 *
 * Exit status: 0 done, 1 a check failed, 2 bad usage, 3 a system error.
 */
#include <stdio.h>
#include <string.h>

#include "agent.h"

static void usage(FILE *f)
{
	fputs("usage: kmagent mem [--mib N] [--rate PAGES_PER_S] [--seconds S] [--report-ms MS]\n"
	      "       kmagent disk-write PATH [--rate RECORDS_PER_S] [--payload BYTES]\n"
	      "                          [--offset BYTES] [--count N] [--seconds S] [--report-ms MS]\n"
	      "       kmagent disk-check PATH --upto SEQ [--payload BYTES] [--offset BYTES]\n"
	      "       kmagent echo [--port P] [--report-ms MS] [--tick-ms MS]\n"
	      "Lines 'KMAGENT ...' on stdout; exit 0 ok, 1 check failed, 2 usage, 3 system error.\n",
	      f);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) {
		usage(stderr);
		return AG_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "mem"))
		return ag_mem_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "disk-write"))
		return ag_disk_write_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "disk-check"))
		return ag_disk_check_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "echo"))
		return ag_echo_main(argc - 1, argv + 1);
	fprintf(stderr, "kmagent: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return AG_USAGE;
}
