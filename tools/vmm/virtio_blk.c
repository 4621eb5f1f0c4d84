// SPDX-License-Identifier: GPL-2.0
/*
 * libvmm: virtio-blk (virtio_blk.h).  A request is a chain: a 16-byte
 * header {type u32, reserved u32, sector u64} readable, then the data
 * (readable for OUT, writable for IN), then one writable status byte.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/fs.h>
#include <linux/pci_regs.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>

#include "virtio_blk.h"

#define VBLK_HDR	16
#define VBLK_SECTOR	512

/* ------------------------------------------------------------ backend -- */

/* The serial (GET_ID) a disk of @path has: its base name, cut to 20 bytes. */
static void vblk_serial(struct vblk_disk *d, const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	memset(d->serial, 0, sizeof(d->serial));
	memcpy(d->serial, base, strlen(base) < sizeof(d->serial) ? strlen(base) : sizeof(d->serial));
}

int vblk_disk_open(struct vblk_disk *d, const char *path, bool ro, char *err, size_t errlen)
{
	struct stat st;
	uint64_t size;
	int fd, lk;

	memset(d, 0, sizeof(*d));
	d->fd = -1;
	if (strlen(path) >= sizeof(d->path)) {
		snprintf(err, errlen, "disk '%s': path too long", path);
		return -ENAMETOOLONG;
	}
	fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_DIRECT | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		if (e == EINVAL)
			snprintf(err, errlen, "disk '%s': its file system does not support "
				 "O_DIRECT (host caching must be off)", path);
		else
			snprintf(err, errlen, "disk '%s': %s", path, strerror(e));
		return -e;
	}
	if (fstat(fd, &st) < 0 || (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))) {
		snprintf(err, errlen, "disk '%s': not a regular file or a block device", path);
		close(fd);
		return -EINVAL;
	}
	lk = flock(fd, (ro ? LOCK_SH : LOCK_EX) | LOCK_NB);
	if (lk < 0) {
		int e = errno;

		if (e == EWOULDBLOCK)
			snprintf(err, errlen, "disk '%s' is in use: another VM holds it%s", path,
				 ro ? " for writing" : "");
		else
			snprintf(err, errlen, "disk '%s': lock: %s", path, strerror(e));
		close(fd);
		return e == EWOULDBLOCK ? -EBUSY : -e;
	}
	d->bdev = S_ISBLK(st.st_mode);
	d->align = VBLK_SECTOR;
	if (d->bdev) {
		int ssz = 0;

		if (ioctl(fd, BLKGETSIZE64, &size) < 0) {
			snprintf(err, errlen, "disk '%s': size: %s", path, strerror(errno));
			close(fd);
			return -EINVAL;
		}
		if (!ioctl(fd, BLKSSZGET, &ssz) && ssz > VBLK_SECTOR && ssz <= 65536)
			d->align = (uint32_t)ssz;
	} else {
		size = (uint64_t)st.st_size;
	}
	if (size < VBLK_SECTOR) {
		snprintf(err, errlen, "disk '%s': smaller than one 512-byte sector", path);
		close(fd);
		return -EINVAL;
	}
	snprintf(d->path, sizeof(d->path), "%s", path);
	d->fd = fd;
	d->ro = ro;
	d->sectors = size / VBLK_SECTOR;
	vblk_serial(d, path);
	return 0;
}

void vblk_disk_close(struct vblk_disk *d)
{
	if (d->fd >= 0)
		close(d->fd);	/* drops the lock */
	d->fd = -1;
	free(d->bounce);
	d->bounce = NULL;
	d->bounce_size = 0;
}

/* ----------------------------------------------------------- requests -- */

/*
 * The data part of a chain as an iovec: the readable bytes after the
 * header (OUT), or the writable bytes before the status byte (IN).
 */
static int vblk_data_iov(const struct vq_req *r, bool in, uint64_t len,
			 struct iovec *iov, unsigned int *niov)
{
	uint64_t skip = in ? 0 : VBLK_HDR;
	unsigned int i, first = in ? r->nr_out : 0, end = in ? r->nr : r->nr_out, n = 0;

	for (i = first; i < end && len; i++) {
		uint64_t sl = r->seg[i].len, take;

		if (skip >= sl) {
			skip -= sl;
			continue;
		}
		take = sl - skip < len ? sl - skip : len;
		iov[n].iov_base = r->seg[i].hva + skip;
		iov[n].iov_len = take;
		n++;
		len -= take;
		skip = 0;
	}
	*niov = n;
	return len ? -EINVAL : 0;
}

static bool vblk_aligned(const struct vblk_disk *d, const struct iovec *iov, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (((uintptr_t)iov[i].iov_base | iov[i].iov_len) & (d->align - 1))
			return false;
	return true;
}

static int vblk_bounce(struct vblk_disk *d, size_t len)
{
	void *p;

	if (d->bounce_size >= len)
		return 0;
	if (posix_memalign(&p, 4096, len))
		return -ENOMEM;
	free(d->bounce);
	d->bounce = p;
	d->bounce_size = len;
	return 0;
}

/* Full transfer of @len bytes at @off, or -errno. */
static int vblk_rw(struct vblk_disk *d, bool write, struct iovec *iov, unsigned int n,
		   uint64_t off, uint64_t len)
{
	ssize_t got;

	if (!vblk_aligned(d, iov, n) || (off | len) & (d->align - 1)) {
		uint64_t lo = off & ~(uint64_t)(d->align - 1);
		uint64_t hi = (off + len + d->align - 1) & ~(uint64_t)(d->align - 1);
		uint8_t *b;
		unsigned int i;

		if (vblk_bounce(d, hi - lo))
			return -ENOMEM;
		b = d->bounce;
		d->bounced++;
		if (!write || lo != off || hi != off + len) {
			/* a read, or a write of part of an aligned block */
			got = pread(d->fd, b, hi - lo, (off_t)lo);
			if (got != (ssize_t)(hi - lo))
				return got < 0 ? -errno : -EIO;
		}
		b += off - lo;
		for (i = 0; i < n; i++) {
			if (write)
				memcpy(b, iov[i].iov_base, iov[i].iov_len);
			else
				memcpy(iov[i].iov_base, b, iov[i].iov_len);
			b += iov[i].iov_len;
		}
		if (!write)
			return 0;
		got = pwrite(d->fd, d->bounce, hi - lo, (off_t)lo);
		return got == (ssize_t)(hi - lo) ? 0 : got < 0 ? -errno : -EIO;
	}
	got = write ? pwritev(d->fd, iov, (int)n, (off_t)off) : preadv(d->fd, iov, (int)n, (off_t)off);
	return got == (ssize_t)len ? 0 : got < 0 ? -errno : -EIO;
}

int vblk_serve(struct vblk_disk *d, const struct vq_req *r, const struct vq_gmem *mem,
	       uint8_t *status, char *err, size_t errlen)
{
	struct iovec iov[VQ_MAX_SEGS];
	struct virtio_blk_outhdr h;
	uint64_t data_len = 0, written = 0;
	unsigned int n;
	uint8_t s = VIRTIO_BLK_S_OK;

	if (r->out_len < VBLK_HDR || !r->in_len) {
		snprintf(err, errlen, "block request %u without a 16-byte header or a status byte",
			 r->head);
		return -EINVAL;
	}
	vq_req_read(r, 0, &h, sizeof(h));
	switch (h.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT: {
		bool in = h.type == VIRTIO_BLK_T_IN;

		data_len = in ? r->in_len - 1 : r->out_len - VBLK_HDR;
		if ((in ? r->out_len != VBLK_HDR : r->in_len != 1) || data_len % VBLK_SECTOR ||
		    data_len > VBLK_REQ_MAX || h.sector > d->sectors ||
		    data_len / VBLK_SECTOR > d->sectors - h.sector) {
			s = VIRTIO_BLK_S_IOERR;
			data_len = 0;
			break;
		}
		if (!in && d->ro) {
			s = VIRTIO_BLK_S_IOERR;
			data_len = 0;
			break;
		}
		if (vblk_data_iov(r, in, data_len, iov, &n) ||
		    vblk_rw(d, !in, iov, n, h.sector * VBLK_SECTOR, data_len)) {
			s = VIRTIO_BLK_S_IOERR;
			data_len = 0;
			break;
		}
		if (in) {
			vq_req_dirty(r, mem, data_len);
			written = data_len;
		}
		break;
	}
	case VIRTIO_BLK_T_FLUSH:
		if (!d->ro && fdatasync(d->fd) < 0)
			s = VIRTIO_BLK_S_IOERR;
		break;
	case VIRTIO_BLK_T_GET_ID: {
		uint64_t len = r->in_len - 1 < VIRTIO_BLK_ID_BYTES ? r->in_len - 1 :
			       VIRTIO_BLK_ID_BYTES;

		vq_req_write(r, mem, 0, d->serial, len);
		written = len;
		break;
	}
	default:
		s = VIRTIO_BLK_S_UNSUPP;
		break;
	}
	vq_req_write(r, mem, r->in_len - 1, &s, 1);
	*status = s;
	return (int)(written + 1);
}

/* ------------------------------------------------------------- device -- */

static struct virtio_blk *vblk_of(struct virtio_pci *vp)
{
	return vp->dev;
}

static void vblk_cfg_read(struct virtio_pci *vp, unsigned int off, void *data, unsigned int len)
{
	struct virtio_blk *b = vblk_of(vp);
	struct virtio_blk_config c;

	memset(&c, 0, sizeof(c));
	c.capacity = b->disk.sectors;
	c.size_max = VBLK_SIZE_MAX;
	c.seg_max = VBLK_SEG_MAX;
	c.blk_size = b->disk.align;
	if (off + len <= sizeof(c))
		memcpy(data, (uint8_t *)&c + off, len);
}

static void vblk_notify(struct virtio_pci *vp, unsigned int q)
{
	struct virtio_blk *b = vblk_of(vp);
	uint64_t one = 1;

	(void)q;
	if (write(b->efd, &one, sizeof(one)) < 0) {
		/* the counter is full: the worker is awake anyway */
	}
}

static void vblk_reset(struct virtio_pci *vp)
{
	(void)vp;	/* the worker serves requests under vp->lock: none in flight */
}

static const struct virtio_dev_ops vblk_ops = {
	.cfg_read = vblk_cfg_read,
	.notify = vblk_notify,
	.reset = vblk_reset,
};

void virtio_blk_process(struct virtio_blk *b)
{
	struct virtio_pci *vp = &b->vp;
	char err[256];
	uint8_t status;
	bool irq = false;
	int r;

	pthread_mutex_lock(&vp->lock);
	while (virtio_queue_live(vp, 0)) {
		r = vq_pop(&vp->vq[0], &b->req, err, sizeof(err));
		if (r < 0)
			virtio_pci_fail(vp, "%s", err);
		if (r <= 0)
			break;
		r = vblk_serve(&b->disk, &b->req, vp->mem, &status, err, sizeof(err));
		if (r < 0) {
			virtio_pci_fail(vp, "%s", err);
			break;
		}
		b->requests++;
		b->errors += status != VIRTIO_BLK_S_OK;
		irq |= vq_push(&vp->vq[0], b->req.head, (uint32_t)r);
	}
	if (irq)
		virtio_pci_queue_irq(vp, 0);
	pthread_mutex_unlock(&vp->lock);
}

static void *vblk_worker(void *arg)
{
	struct virtio_blk *b = arg;
	uint64_t v;

	for (;;) {
		if (read(b->efd, &v, sizeof(v)) < 0 && errno != EINTR && errno != EAGAIN)
			break;
		if (__atomic_load_n(&b->stop, __ATOMIC_ACQUIRE))
			break;
		virtio_blk_process(b);
	}
	return NULL;
}

static int vblk_create(struct virtio_blk **out, const char *path, bool ro, uint64_t bytes,
		       const struct vq_gmem *mem, FILE *log, char *err, size_t errlen)
{
	struct virtio_blk *b = calloc(1, sizeof(*b));
	uint64_t feat = 1ull << VIRTIO_BLK_F_SIZE_MAX | 1ull << VIRTIO_BLK_F_SEG_MAX |
			1ull << VIRTIO_BLK_F_BLK_SIZE | 1ull << VIRTIO_BLK_F_FLUSH;
	int r;

	if (!b)
		return -ENOMEM;
	b->efd = -1;
	if (bytes) {	/* detached: the source's disk, opened later */
		if (strlen(path) >= sizeof(b->disk.path) || bytes < VBLK_SECTOR) {
			snprintf(err, errlen, "disk '%s': path too long or no sector", path);
			free(b);
			return -EINVAL;
		}
		b->disk.fd = -1;
		snprintf(b->disk.path, sizeof(b->disk.path), "%s", path);
		b->disk.ro = ro;
		b->disk.sectors = bytes / VBLK_SECTOR;
		b->disk.align = VBLK_SECTOR;
		vblk_serial(&b->disk, path);
	} else {
		r = vblk_disk_open(&b->disk, path, ro, err, errlen);
		if (r) {
			free(b);
			return r;
		}
	}
	if (ro)
		feat |= 1ull << VIRTIO_BLK_F_RO;
	b->efd = eventfd(0, EFD_CLOEXEC);
	if (b->efd < 0) {
		r = -errno;
		snprintf(err, errlen, "disk '%s': eventfd: %s", path, strerror(errno));
		virtio_blk_destroy(b);
		return r;
	}
	r = virtio_pci_init(&b->vp, "virtio-blk", VIRTIO_ID_BLOCK, 0x018000, 1, VBLK_QUEUE_SIZE,
			    sizeof(struct virtio_blk_config), feat, &vblk_ops, b, mem, log);
	if (r) {
		snprintf(err, errlen, "disk '%s': transport: %s", path, strerror(-r));
		virtio_blk_destroy(b);
		return r;
	}
	b->vp.notify_fd = b->efd;
	*out = b;
	return 0;
}

int virtio_blk_create(struct virtio_blk **out, const char *path, bool ro,
		      const struct vq_gmem *mem, FILE *log, char *err, size_t errlen)
{
	return vblk_create(out, path, ro, 0, mem, log, err, errlen);
}

int virtio_blk_create_detached(struct virtio_blk **out, const char *path, bool ro,
			       uint64_t bytes, const struct vq_gmem *mem, FILE *log, char *err,
			       size_t errlen)
{
	if (!bytes) {
		snprintf(err, errlen, "disk '%s': no size", path);
		return -EINVAL;
	}
	return vblk_create(out, path, ro, bytes, mem, log, err, errlen);
}

int virtio_blk_open_disk(struct virtio_blk *b, char *err, size_t errlen)
{
	struct vblk_disk d;
	int r;

	if (b->disk.fd >= 0)
		return 0;
	r = vblk_disk_open(&d, b->disk.path, b->disk.ro, err, errlen);
	if (r)
		return r;
	if (d.sectors != b->disk.sectors) {
		snprintf(err, errlen, "disk '%s' is %llu bytes here, the guest's was %llu",
			 d.path, (unsigned long long)d.sectors * VBLK_SECTOR,
			 (unsigned long long)b->disk.sectors * VBLK_SECTOR);
		vblk_disk_close(&d);
		return -EINVAL;
	}
	pthread_mutex_lock(&b->vp.lock);
	b->disk.fd = d.fd;
	b->disk.bdev = d.bdev;
	pthread_mutex_unlock(&b->vp.lock);
	return 0;
}

void virtio_blk_close_disk(struct virtio_blk *b)
{
	pthread_mutex_lock(&b->vp.lock);
	if (b->disk.fd >= 0)
		close(b->disk.fd);	/* drops the lock */
	b->disk.fd = -1;
	pthread_mutex_unlock(&b->vp.lock);
}

int virtio_blk_quiesce(struct virtio_blk *b)
{
	int r = 0;

	virtio_blk_process(b);		/* what the guest queued before the pause */
	pthread_mutex_lock(&b->vp.lock);
	if (b->disk.fd >= 0 && !b->disk.ro && fdatasync(b->disk.fd) < 0)
		r = -errno;
	pthread_mutex_unlock(&b->vp.lock);
	return r;
}

int virtio_blk_start(struct virtio_blk *b)
{
	int r = pthread_create(&b->thread, NULL, vblk_worker, b);

	if (r)
		return -r;
	b->thread_started = true;
	return 0;
}

void virtio_blk_destroy(struct virtio_blk *b)
{
	uint64_t one = 1;

	if (!b)
		return;
	if (b->thread_started) {
		__atomic_store_n(&b->stop, true, __ATOMIC_RELEASE);
		if (write(b->efd, &one, sizeof(one)) < 0) {
			/* cannot happen with a fresh counter */
		}
		pthread_join(b->thread, NULL);
	}
	if (b->efd >= 0)
		close(b->efd);
	if (b->vp.ops)
		virtio_pci_destroy(&b->vp);
	vblk_disk_close(&b->disk);
	free(b);
}
