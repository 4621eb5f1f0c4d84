// SPDX-License-Identifier: GPL-2.0
/* The destination's recording of a stream for tests; see dest_record.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dest_record.h"

/*
 * KMIGRATE_RECORD_STREAM=PREFIX (tests only: tests/fuzz/README.md): the
 * stream's bytes as the decoder gets them, after TLS, into PREFIX.<pid>
 * (created, never overwritten): the fuzzer's seeds are such recordings.
 */
int km_dest_record_open(void)
{
	const char *prefix = getenv("KMIGRATE_RECORD_STREAM");
	char path[4096];
	int fd;

	if (!prefix || !*prefix)
		return -1;
	snprintf(path, sizeof(path), "%s.%d", prefix, (int)getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		fprintf(stderr, "kmigrate listen: KMIGRATE_RECORD_STREAM: %s: %s (not recorded)\n",
			path, strerror(errno));
	return fd;
}

void km_dest_record(int fd, const uint8_t *buf, size_t len)
{
	while (fd >= 0 && len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;	/* a test's recording: the migration goes on */
		buf += n;
		len -= (size_t)n;
	}
}
