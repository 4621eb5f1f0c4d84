// SPDX-License-Identifier: GPL-2.0
/*
 * `kmigrate console NAME`: attaches a terminal to a Linux guest's serial
 * console, the socket tools/migrate/vmconsole.c serves in the VM's process.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "cmds.h"
#include "ctl.h"
#include "exitcode.h"

#define CON_DETACH_KEY	0x1d	/* Ctrl-] */

static const struct km_usage console_usage = {
	.args = "NAME",
	.notes =
	"Attaches the terminal to the serial console (ttyS0) of a Linux guest of\n"
	"'kmigrate run --kernel': the guest's output appears, keys go to the guest\n"
	"(the terminal is in raw mode).  Ctrl-] detaches; the guest keeps running.\n"
	"One console at a time: a second attach is refused while one is attached.\n"
	"Without a terminal, standard input is sent and the output is copied until\n"
	"the VM ends.  The last of the output is also in $KMIGRATE_RUN_DIR/NAME.console.\n",
};

static int con_write_all(int fd, const uint8_t *b, size_t n)
{
	while (n) {
		ssize_t k = write(fd, b, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

static int con_relay(int s, bool tty)
{
	uint8_t buf[4096];
	bool in_open = true;

	for (;;) {
		struct pollfd p[2] = {
			{ .fd = s, .events = POLLIN },
			{ .fd = in_open ? STDIN_FILENO : -1, .events = POLLIN },
		};
		ssize_t k;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return KM_EXIT_FAIL;
		}
		if (p[0].revents) {
			k = read(s, buf, sizeof(buf));
			if (k <= 0)
				return KM_EXIT_OK;	/* the VM ended */
			if (con_write_all(STDOUT_FILENO, buf, (size_t)k))
				return KM_EXIT_FAIL;
		}
		if (p[1].revents) {
			uint8_t *cut;

			k = read(STDIN_FILENO, buf, sizeof(buf));
			if (k <= 0) {
				in_open = false;
				shutdown(s, SHUT_WR);
				continue;
			}
			cut = tty ? memchr(buf, CON_DETACH_KEY, (size_t)k) : NULL;
			if (con_write_all(s, buf, cut ? (size_t)(cut - buf) : (size_t)k))
				return KM_EXIT_OK;	/* the VM ended */
			if (cut)
				return KM_EXIT_OK;
		}
	}
}

int console_main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct termios saved, raw;
	const char *name;
	char path[300], st = 0;
	bool tty = isatty(STDIN_FILENO);
	int c, s, ret;

	while ((c = km_getopt(argc, argv, "", NULL, &console_usage)) != KM_OPT_END) {
		if (c < 0)
			return km_opt_exit(c);
		return km_usage_error("unknown option");
	}
	if (optind >= argc)
		return km_usage_error("missing the VM's NAME");
	name = argv[optind++];
	if (!km_ctl_name_valid(name))
		return km_usage_error("invalid NAME '%s': use 1-64 of A-Z a-z 0-9 . _ -", name);
	if (km_no_args(argc, argv))
		return KM_EXIT_USAGE;
	if (km_ctl_path(name, ".tty", path, sizeof(path)) || strlen(path) >= sizeof(sa.sun_path))
		return km_usage_error("NAME '%s': run directory path too long", name);
	strcpy(sa.sun_path, path);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		km_err("console: %s: no console socket %s (%s): is it a Linux guest of "
		       "'kmigrate run --kernel' on this host?", name, path, strerror(errno));
		if (s >= 0)
			close(s);
		return KM_EXIT_FAIL;
	}
	if (read(s, &st, 1) != 1 || st != 'K') {
		km_err("console: %s: %s", name, st == 'B' ?
		       "a console is attached already (a second attach is refused)" :
		       "the VM closed the console");
		close(s);
		return KM_EXIT_FAIL;
	}
	signal(SIGPIPE, SIG_IGN);
	if (tty) {
		fprintf(stderr, "Connected to %s's serial console; Ctrl-] detaches.\r\n", name);
		tcgetattr(STDIN_FILENO, &saved);
		raw = saved;
		cfmakeraw(&raw);
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	}
	ret = con_relay(s, tty);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
		fprintf(stderr, "\nDetached from %s's console.\n", name);
	}
	close(s);
	return ret;
}
