/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A Linux guest's serial console on the host side (console.c): the bounded
 * log file next to the VM's control socket.
 *
 *   $KMIGRATE_RUN_DIR/NAME.console    what the guest wrote to ttyS0, last part:
 *   $KMIGRATE_RUN_DIR/NAME.console.1  when NAME.console reaches 1 MiB it is
 *                                     renamed here (replacing the older one)
 *                                     and a new NAME.console is started
 *
 * The files stay after the VM ends, so an operator can read why a guest
 * did not boot; the next `kmigrate run NAME` starts them afresh.
 */
#ifndef KM_CONSOLE_H
#define KM_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#define KM_CONSOLE_ROTATE	(1ULL << 20)

struct run_console {
	int fd;			/* the log; -1: closed */
	uint64_t size;		/* bytes in it */
	char path[300];		/* NAME.console */
	char old[310];		/* NAME.console.1 */
};

/* Creates (truncates) the log next to @sock_path (NAME.sock). */
int run_console_open(struct run_console *c, const char *sock_path, char *err, size_t errlen);
/* The guest's output (vmm_linux_config.console_out); rotates at 1 MiB. */
void run_console_out(void *opaque, const uint8_t *buf, size_t len);
void run_console_close(struct run_console *c);

#endif /* KM_CONSOLE_H */
