// SPDX-License-Identifier: GPL-2.0
/*
 * The destination's pre-flight of a MACHINE record and a disk's identity
 * (machine.h): nothing of libvmm, so the unit tests run them on files.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>
#include <xxhash.h>

#include "machine.h"

#define ID_ALIGN	4096u
#define ID_TAIL		(64u << 10)

static int id_read(int fd, void *buf, size_t len, uint64_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t k = pread(fd, (uint8_t *)buf + got, len - got, (off_t)(off + got));

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
		got += (size_t)k;
	}
	return 0;
}

int km_disk_identity(const char *path, uint64_t *bytes, uint64_t *ident, char *err,
		     size_t errlen)
{
	XXH64_state_t xs;
	struct stat st;
	uint64_t size, off, tail;
	void *buf = NULL;
	int fd, r;

	fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "disk '%s': %s", path, strerror(errno));
		return r;
	}
	if (fstat(fd, &st) < 0 || (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))) {
		snprintf(err, errlen, "disk '%s': not a regular file or a block device", path);
		close(fd);
		return -EINVAL;
	}
	if (S_ISBLK(st.st_mode) ? ioctl(fd, BLKGETSIZE64, &size) < 0 : 0) {
		r = -errno;
		snprintf(err, errlen, "disk '%s': size: %s", path, strerror(errno));
		close(fd);
		return r;
	}
	if (S_ISREG(st.st_mode))
		size = (uint64_t)st.st_size;
	if (posix_memalign(&buf, ID_ALIGN, ID_TAIL)) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	XXH64_reset(&xs, 0);
	/* whole aligned blocks only (O_DIRECT): the first one's first sector,
	 * then up to 64 KiB that end at the last whole block */
	tail = size / ID_ALIGN * ID_ALIGN;
	r = 0;
	if (tail) {
		r = id_read(fd, buf, ID_ALIGN, 0);
		if (!r)
			XXH64_update(&xs, buf, 512);
		off = tail > ID_TAIL ? tail - ID_TAIL : 0;
		if (!r)
			r = id_read(fd, buf, (size_t)(tail - off), off);
		if (!r)
			XXH64_update(&xs, buf, (size_t)(tail - off));
	}
	free(buf);
	close(fd);
	if (r) {
		snprintf(err, errlen, "disk '%s': reading it: %s", path, strerror(-r));
		return r;
	}
	XXH64_update(&xs, &size, sizeof(size));
	*bytes = size;
	*ident = XXH64_digest(&xs);
	return 0;
}

static void add_line(char *msg, size_t len, size_t *used, const char *line)
{
	int n = snprintf(msg + *used, len - *used, "%s%s", *used ? "; " : "", line);

	if (n > 0)
		*used = *used + (size_t)n < len ? *used + (size_t)n : len - 1;
}

static bool is_bridge(const char *name)
{
	char p[64];

	snprintf(p, sizeof(p), "/sys/class/net/%s/bridge", name);
	return !access(p, F_OK);
}

int km_machine_check_here(const struct kmp_machine *m, char *msg, size_t len)
{
	size_t used = 0;
	char line[400], why[300];
	uint32_t i;

	if (len)
		msg[0] = 0;
	for (i = 0; i < m->nr; i++) {
		const struct kmp_dev *d = &m->dev[i];
		uint64_t bytes, ident;

		line[0] = 0;
		if (d->kind == KMP_DEV_DISK) {
			if (km_disk_identity(d->path, &bytes, &ident, why, sizeof(why)))
				snprintf(line, sizeof(line), "disk: %s here", why);
			else if (bytes != d->bytes)
				snprintf(line, sizeof(line), "disk '%s' is %" PRIu64 " bytes here, the "
					 "guest's is %" PRIu64 ": not the same disk", d->path, bytes,
					 d->bytes);
			else if (ident != d->ident)
				snprintf(line, sizeof(line), "disk '%s' here holds other data than "
					 "the guest's (identity %#" PRIx64 ", the guest's %#" PRIx64
					 "): not the same shared disk", d->path, ident, d->ident);
		} else if (d->bridge[0] && !is_bridge(d->bridge)) {
			snprintf(line, sizeof(line), "NIC %u: no bridge '%s' here", i, d->bridge);
		} else if (d->tap[0] && !if_nametoindex(d->tap)) {
			snprintf(line, sizeof(line), "NIC %u: no tap '%s' here", i, d->tap);
		}
		if (line[0])
			add_line(msg, len, &used, line);
	}
	return used ? -1 : 0;
}
