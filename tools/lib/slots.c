// SPDX-License-Identifier: GPL-2.0
/* Per-host migration slots (slots.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "slots.h"

#define SLOT_SCAN	KM_CONF_MAX_LIMIT
#define SLOT_POLL_MS	100

static int slot_mkdir(const char *dir)
{
	char tmp[512], *p;

	snprintf(tmp, sizeof(tmp), "%s", dir);
	for (p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int slot_open(const char *dir, const char *kind, const char *what, unsigned long n,
		     bool create)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s-%s.%lu", dir, kind, what, n);
	return open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0644);
}

/*
 * Open file description locks (F_OFD_*): held per open file, released on
 * close and when the process dies, like flock(), but testable with
 * F_OFD_GETLK without taking them, so counting never disturbs a taker.
 */
static int slot_lock(int fd, bool wait)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	return fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl);
}

/* Is the file's lock held by someone (another open file)? */
static bool slot_locked(int fd)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return false;
	return fl.l_type != F_UNLCK;
}

unsigned int km_slot_count(const char *dir, const char *kind, char *holders, size_t hlen)
{
	unsigned int i, n = 0;
	size_t used = 0;

	if (holders && hlen)
		holders[0] = '\0';
	for (i = 0; i < SLOT_SCAN; i++) {
		int fd = slot_open(dir, kind, "slot", i, false);
		char who[128];
		ssize_t r;

		if (fd < 0)
			continue;
		if (slot_locked(fd)) {
			n++;
			r = pread(fd, who, sizeof(who) - 1, 0);
			who[r > 0 ? r : 0] = '\0';
			who[strcspn(who, "\n")] = '\0';
			if (holders && used + 1 < hlen)
				used += (size_t)snprintf(holders + used, hlen - used, "%s%s",
							 used ? ", " : "", *who ? who : "?");
			if (holders && used >= hlen)
				used = hlen - 1;
		}
		close(fd);
	}
	return n;
}

/* A live waiter with a ticket below @mine (ULONG_MAX: any)? */
static bool slot_earlier_waiter(const char *dir, const char *kind, unsigned long mine)
{
	char pre[64];
	struct dirent *e;
	bool found = false;
	size_t pl;
	DIR *d = opendir(dir);

	if (!d)
		return false;
	pl = (size_t)snprintf(pre, sizeof(pre), "%s-wait.", kind);
	while (!found && (e = readdir(d))) {
		unsigned long t;
		char *end;
		int fd;

		if (strncmp(e->d_name, pre, pl))
			continue;
		t = strtoul(e->d_name + pl, &end, 10);
		if (*end || t >= mine)
			continue;
		fd = slot_open(dir, kind, "wait", t, false);
		if (fd < 0)
			continue;
		if (slot_locked(fd)) {
			found = true;
		} else {
			char path[512];

			/* its waiter died: clear the stale file */
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			unlink(path);
		}
		close(fd);
	}
	closedir(d);
	return found;
}

static int slot_take(const char *dir, const char *kind, unsigned int max, const char *who,
		     struct km_slot *s, char *err, size_t errlen)
{
	unsigned int i;

	if (km_slot_count(dir, kind, NULL, 0) >= max)
		return -EBUSY;
	for (i = 0; i < max; i++) {
		int fd = slot_open(dir, kind, "slot", i, true);

		if (fd < 0) {
			int e = errno;

			snprintf(err, errlen, "%s/%s-slot.%u: %s", dir, kind, i, strerror(e));
			return -e;
		}
		if (!slot_lock(fd, false)) {
			char line[160];
			int n = snprintf(line, sizeof(line), "%s\n", who);

			ssize_t w = ftruncate(fd, 0) ? -1 : pwrite(fd, line, (size_t)n, 0);

			(void)w;	/* who holds it is only for messages */
			s->fd = fd;
			s->idx = i;
			return 0;
		}
		close(fd);
	}
	return -EBUSY;
}

int km_slot_try(const char *dir, const char *kind, unsigned int max, const char *who,
		struct km_slot *s, char *err, size_t errlen)
{
	int r;

	s->fd = -1;
	r = slot_mkdir(dir);
	if (r) {
		snprintf(err, errlen, "%s: %s", dir, strerror(-r));
		return r;
	}
	if (slot_earlier_waiter(dir, kind, (unsigned long)-1))
		return -EBUSY;
	return slot_take(dir, kind, max, who, s, err, errlen);
}

static int slot_ticket(const char *dir, const char *kind, unsigned long *t, char *err,
		       size_t errlen)
{
	char path[512], buf[32] = "";
	ssize_t n;
	int fd, e;

	snprintf(path, sizeof(path), "%s/%s-ticket", dir, kind);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || slot_lock(fd, true) < 0) {
		e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	*t = strtoul(buf, NULL, 10);
	n = snprintf(buf, sizeof(buf), "%lu\n", *t + 1);
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
		e = errno ? errno : EIO;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		close(fd);
		return -e;
	}
	close(fd);	/* drops the lock */
	return 0;
}

int km_slot_wait(const char *dir, const char *kind, unsigned int max, const char *who,
		 void (*notify)(void *arg, const char *holders), void *arg,
		 volatile sig_atomic_t *stop, unsigned int timeout_ms, struct km_slot *s,
		 char *err, size_t errlen)
{
	unsigned long waited_ms = 0;
	char path[512];
	unsigned long t = 0;
	bool told = false;
	int wfd, r;

	s->fd = -1;
	r = slot_mkdir(dir);
	if (r) {
		snprintf(err, errlen, "%s: %s", dir, strerror(-r));
		return r;
	}
	r = slot_ticket(dir, kind, &t, err, errlen);
	if (r)
		return r;
	snprintf(path, sizeof(path), "%s/%s-wait.%lu", dir, kind, t);
	wfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (wfd < 0 || slot_lock(wfd, true) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
		if (wfd >= 0)
			close(wfd);
		return r;
	}
	for (;;) {
		struct timespec ts = { 0, SLOT_POLL_MS * 1000000L };

		if (!slot_earlier_waiter(dir, kind, t)) {
			r = slot_take(dir, kind, max, who, s, err, errlen);
			if (r != -EBUSY)
				break;
		}
		if (stop && *stop) {
			r = -EINTR;
			snprintf(err, errlen, "interrupted while waiting for a slot");
			break;
		}
		if (timeout_ms && waited_ms >= timeout_ms) {
			r = -EBUSY;
			snprintf(err, errlen, "no slot within %u ms", timeout_ms);
			break;
		}
		waited_ms += SLOT_POLL_MS;
		if (!told && notify) {
			char holders[512];

			/* said only when the slots are taken, not while an
			 * earlier waiter is just taking a free one */
			if (km_slot_count(dir, kind, holders, sizeof(holders)) >= max) {
				notify(arg, holders);
				told = true;
			}
		}
		nanosleep(&ts, NULL);
	}
	unlink(path);
	close(wfd);
	return r;
}

void km_slot_release(struct km_slot *s)
{
	if (s->fd >= 0) {
		int w = ftruncate(s->fd, 0);

		(void)w;	/* only the message would be stale */
		close(s->fd);
	}
	s->fd = -1;
}
