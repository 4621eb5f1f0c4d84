// SPDX-License-Identifier: GPL-2.0
/*
 * bw_sampler FILE MS: prints "SECONDS BYTES" every MS milliseconds until
 * killed, SECONDS from CLOCK_BOOTTIME (the clock of /proc/uptime, so a
 * shell can timestamp events against the samples) and BYTES read from FILE
 * (a counter such as /sys/class/net/mig0/statistics/tx_bytes).  Each
 * sample is taken at the time it is stamped with, so windows computed from
 * the samples do not drift as a loop of `sleep 1` would.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct timespec next, now;
	long ms;
	int fd;

	if (argc != 3 || (ms = atol(argv[2])) <= 0 || ms > 10000) {
		fprintf(stderr, "usage: bw_sampler FILE MS\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	clock_gettime(CLOCK_BOOTTIME, &next);
	for (;;) {
		char buf[64];
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

		clock_gettime(CLOCK_BOOTTIME, &now);
		if (n <= 0) {
			perror(argv[1]);
			return 1;
		}
		buf[n] = '\0';
		printf("%ld.%06ld %llu\n", (long)now.tv_sec, now.tv_nsec / 1000,
		       strtoull(buf, NULL, 10));
		fflush(stdout);
		next.tv_nsec += ms * 1000000L;
		while (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		while (clock_nanosleep(CLOCK_BOOTTIME, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
	}
}
