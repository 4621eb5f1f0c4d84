// SPDX-License-Identifier: GPL-2.0
/*
 * A Linux guest's serial console on the host side (see vmconsole.h): the
 * bounded log file and the console socket's thread inside the VM's process
 * (`kmigrate run`, and the destination of a migration once the guest runs
 * there).  The `kmigrate console NAME` command is tools/kmigrate/console.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vmconsole.h"
#include "ctl.h"
#include "exitcode.h"
#include "vmm.h"


void run_console_init(struct run_console *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = c->listen_fd = c->client = -1;
	c->wake[0] = c->wake[1] = -1;
	pthread_mutex_init(&c->lock, NULL);
}

static int con_path(char *dst, size_t len, const char *sock_path, const char *suffix)
{
	size_t n = strlen(sock_path);

	if (n < 5 || strcmp(sock_path + n - 5, ".sock"))
		return -EINVAL;
	return snprintf(dst, len, "%.*s%s", (int)(n - 5), sock_path, suffix) >= (int)len ?
	       -ENAMETOOLONG : 0;
}

int run_console_open(struct run_console *c, const char *sock_path, char *err, size_t errlen)
{
	c->size = 0;
	if (con_path(c->path, sizeof(c->path), sock_path, ".console") ||
	    con_path(c->tty_path, sizeof(c->tty_path), sock_path, ".tty")) {
		snprintf(err, errlen, "console log: unexpected socket path '%s'", sock_path);
		return -EINVAL;
	}
	snprintf(c->old, sizeof(c->old), "%s.1", c->path);
	unlink(c->old);
	c->fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (c->fd < 0) {
		int e = errno;

		snprintf(err, errlen, "console log %s: %s", c->path, strerror(e));
		return -e;
	}
	return 0;
}

static void run_console_rotate(struct run_console *c)
{
	int fd;

	if (rename(c->path, c->old) < 0)
		return;		/* keep appending to the one we have */
	fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	close(c->fd);
	c->fd = fd;
	c->size = 0;
}

void run_console_out(void *opaque, const uint8_t *buf, size_t len)
{
	struct run_console *c = opaque;
	const uint8_t *p = buf;
	size_t left = len;
	ssize_t k;

	pthread_mutex_lock(&c->lock);
	if (c->client >= 0 && send(c->client, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 &&
	    errno != EAGAIN && errno != EWOULDBLOCK) {
		/* the client is gone: the thread notices and closes it */
	}
	pthread_mutex_unlock(&c->lock);
	if (c->fd < 0)
		return;
	if (c->size + len > KM_CONSOLE_ROTATE)
		run_console_rotate(c);
	while (left) {
		k = write(c->fd, p, left);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return;		/* a full disk loses console output, not the guest */
		p += k;
		left -= (size_t)k;
		c->size += (uint64_t)k;
	}
}

static void con_detach(struct run_console *c)
{
	pthread_mutex_lock(&c->lock);
	if (c->client >= 0)
		close(c->client);
	c->client = -1;
	pthread_mutex_unlock(&c->lock);
}

/* The console socket's thread: accepts, refuses a second client, feeds input. */
static void *con_thread(void *arg)
{
	struct run_console *c = arg;
	uint8_t in[256];
	size_t in_len = 0, in_off = 0;
	bool in_eof = false;

	for (;;) {
		struct pollfd p[3] = {
			{ .fd = c->wake[0], .events = POLLIN },
			{ .fd = c->listen_fd, .events = POLLIN },
			{ .fd = -1, .events = POLLIN },
		};
		int client, tmo = -1;

		pthread_mutex_lock(&c->lock);
		client = c->client;
		pthread_mutex_unlock(&c->lock);
		if (client >= 0 && !in_eof && in_off == in_len)
			p[2].fd = client;
		else if (client >= 0 && in_eof)
			p[2] = (struct pollfd){ .fd = client, .events = 0 };	/* HUP only */
		if (in_off < in_len)
			tmo = 2;	/* the FIFO was full: try again shortly */
		if (poll(p, 3, tmo) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		if (p[1].revents & POLLIN) {
			int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);

			if (fd >= 0) {
				char st = client >= 0 ? 'B' : 'K';

				if (send(fd, &st, 1, MSG_NOSIGNAL) != 1 || st == 'B') {
					close(fd);
				} else {
					pthread_mutex_lock(&c->lock);
					c->client = client = fd;
					pthread_mutex_unlock(&c->lock);
					in_len = in_off = 0;
					in_eof = false;
				}
			}
		}
		if (client >= 0 && p[2].fd >= 0 && (p[2].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t k = in_eof ? 0 : recv(client, in, sizeof(in), MSG_DONTWAIT);

			if (in_eof || (p[2].revents & POLLERR)) {
				if (p[2].revents & (POLLHUP | POLLERR))
					con_detach(c);
			} else if (k > 0) {
				in_len = (size_t)k;
				in_off = 0;
			} else if (k == 0) {
				in_eof = true;		/* half-closed: output still flows */
			} else if (errno != EAGAIN && errno != EINTR) {
				con_detach(c);
			}
		}
		if (in_off < in_len)
			in_off += vmm_linux_console_input(c->lx, in + in_off, in_len - in_off);
	}
	con_detach(c);
	return NULL;
}

int run_console_serve(struct run_console *c, struct vmm_linux *lx, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int r;

	c->lx = lx;
	if (strlen(c->tty_path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "console socket path too long: %s", c->tty_path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, c->tty_path);
	unlink(c->tty_path);	/* ours: the VM's lock is held */
	c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->listen_fd < 0 || bind(c->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(c->tty_path, 0600) < 0 || listen(c->listen_fd, 4) < 0 ||
	    pipe2(c->wake, O_CLOEXEC) < 0) {
		r = -errno;
		snprintf(err, errlen, "console socket %s: %s", c->tty_path, strerror(errno));
		return r;
	}
	r = pthread_create(&c->thread, NULL, con_thread, c);
	if (r) {
		snprintf(err, errlen, "console thread: %s", strerror(r));
		return -r;
	}
	c->thread_started = true;
	return 0;
}

void run_console_close(struct run_console *c)
{
	if (c->thread_started) {
		if (write(c->wake[1], "x", 1) != 1) {
			/* the pipe is ours and empty: cannot fail */
		}
		pthread_join(c->thread, NULL);
		c->thread_started = false;
	}
	if (c->listen_fd >= 0) {
		close(c->listen_fd);
		unlink(c->tty_path);
	}
	c->listen_fd = -1;
	if (c->wake[0] >= 0)
		close(c->wake[0]);
	if (c->wake[1] >= 0)
		close(c->wake[1]);
	c->wake[0] = c->wake[1] = -1;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	pthread_mutex_destroy(&c->lock);
}

