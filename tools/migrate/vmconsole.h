/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A Linux guest's serial console on the host side (vmconsole.c): the bounded
 * log file next to the VM's control socket.
 *
 *   $KMIGRATE_RUN_DIR/NAME.console    what the guest wrote to ttyS0, last part:
 *   $KMIGRATE_RUN_DIR/NAME.console.1  when NAME.console reaches 1 MiB it is
 *                                     renamed here (replacing the older one)
 *                                     and a new NAME.console is started
 *
 * The files stay after the VM ends, so an operator can read why a guest
 * did not boot; the next `kmigrate run NAME` starts them afresh.
 *
 *   $KMIGRATE_RUN_DIR/NAME.tty        the console socket (unix stream, 0600)
 *                                     `kmigrate console NAME` attaches to
 *
 * On the socket the server first sends one byte: 'K' (attached) or 'B' (a
 * console is attached already: a second attach is refused, the first one
 * keeps it).  Then bytes flow both ways: the guest's serial output to the
 * client (dropped for the client, never for the log, if the client does not
 * read), the client's bytes to the UART's receive FIFO.  A client that
 * half-closes keeps receiving output; one that closes detaches.
 */
#ifndef KM_VMCONSOLE_H
#define KM_VMCONSOLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KM_CONSOLE_ROTATE	(1ULL << 20)

struct vmm_linux;

struct run_console {
	int fd;			/* the log; -1: closed */
	uint64_t size;		/* bytes in it */
	char path[300];		/* NAME.console */
	char old[310];		/* NAME.console.1 */
	/* the console socket and its thread */
	char tty_path[300];	/* NAME.tty */
	int listen_fd;		/* -1: none */
	int wake[2];		/* ends the thread */
	int client;		/* attached client, -1: none (lock) */
	pthread_mutex_t lock;
	pthread_t thread;
	bool thread_started;
	struct vmm_linux *lx;
};

/* Set fd, listen_fd, wake[] and client to -1 before any other call. */
void run_console_init(struct run_console *c);

/* Creates (truncates) the log next to @sock_path (NAME.sock). */
int run_console_open(struct run_console *c, const char *sock_path, char *err, size_t errlen);
/* The guest's output (vmm_linux_config.console_out); rotates at 1 MiB. */
void run_console_out(void *opaque, const uint8_t *buf, size_t len);
/* Listens on NAME.tty and serves it from a thread feeding @lx's UART. */
int run_console_serve(struct run_console *c, struct vmm_linux *lx, char *err, size_t errlen);
/* Ends the thread, removes the socket, closes the log. */
void run_console_close(struct run_console *c);

#endif /* KM_VMCONSOLE_H */
