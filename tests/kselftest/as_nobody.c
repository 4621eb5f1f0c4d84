// SPDX-License-Identifier: GPL-2.0
/*
 * as_nobody COMMAND [ARG...]: run COMMAND as uid/gid 65534 with no
 * supplementary groups and no capabilities, for the tests' permission
 * checks (busybox has no setuidgid).
 */
#include <grp.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: as_nobody COMMAND [ARG...]\n");
		return 125;
	}
	if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
	    setresuid(65534, 65534, 65534)) {
		perror("as_nobody: dropping privileges");
		return 125;
	}
	execvp(argv[1], argv + 1);
	perror("as_nobody: exec");
	return 127;
}
