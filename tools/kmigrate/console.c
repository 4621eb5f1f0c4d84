// SPDX-License-Identifier: GPL-2.0
/* A Linux guest's serial console on the host side: see console.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "console.h"

int run_console_open(struct run_console *c, const char *sock_path, char *err, size_t errlen)
{
	size_t n = strlen(sock_path);

	c->fd = -1;
	c->size = 0;
	if (n < 5 || strcmp(sock_path + n - 5, ".sock") ||
	    snprintf(c->path, sizeof(c->path), "%.*s.console", (int)(n - 5), sock_path) >=
	    (int)sizeof(c->path)) {
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
	ssize_t k;

	if (c->fd < 0)
		return;
	if (c->size + len > KM_CONSOLE_ROTATE)
		run_console_rotate(c);
	while (len) {
		k = write(c->fd, buf, len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return;		/* a full disk loses console output, not the guest */
		buf += k;
		len -= (size_t)k;
		c->size += (uint64_t)k;
	}
}

void run_console_close(struct run_console *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}
