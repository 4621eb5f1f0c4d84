// SPDX-License-Identifier: GPL-2.0
/*
 * kmt_probe: small probes of kmigrate.ko for run.sh.
 *
 *   kmt_probe family   exit 0 when the genl family "kmigrate" is
 *                      registered, 1 when it is not, 2 on error
 *   kmt_probe info     print GET_INFO as "# " comment lines (exit 0/2)
 *
 * Output lines start with "# " so they never look like TAP results.
 */
#include <stdio.h>
#include <string.h>

#include "kmtest.h"

static int probe_family(void)
{
	struct kmt_family fam;
	struct kmt_nl nl;
	int err;

	err = kmt_nl_connect(&nl);
	if (err) {
		printf("# kmt_probe: netlink: %d\n", err);
		return 2;
	}
	err = kmt_ctrl_getfamily(&nl, KMIGRATE_GENL_NAME, &fam, NULL);
	kmt_nl_close(&nl);
	if (err) {
		printf("# kmt_probe: CTRL_CMD_GETFAMILY: %d\n", err);
		return 2;
	}
	return fam.found ? 0 : 1;
}

static int probe_info(void)
{
	struct kmt_info info;
	struct kmt_ack ack;
	struct kmt_nl nl;
	int err;

	err = kmt_nl_open(&nl);
	if (err) {
		printf("# kmt_probe: genl family %s: %d\n", KMIGRATE_GENL_NAME, err);
		return 2;
	}
	err = kmt_get_info(&nl, &info, &ack);
	kmt_nl_close(&nl);
	if (err) {
		printf("# kmt_probe: GET_INFO: %d %s\n", err, ack.msg);
		return 2;
	}
	printf("# kmigrate.ko %s: abi %u, genl %u, features 0x%llx, sessions %u/%u, default bandwidth %llu\n",
	       info.module_version, info.abi_version, info.genl_version,
	       (unsigned long long)info.features, info.session_count,
	       info.max_sessions, (unsigned long long)info.default_bandwidth);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "family"))
		return probe_family();
	if (argc == 2 && !strcmp(argv[1], "info"))
		return probe_info();
	fprintf(stderr, "usage: kmt_probe family|info\n");
	return 2;
}
