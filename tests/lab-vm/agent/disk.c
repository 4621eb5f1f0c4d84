// SPDX-License-Identifier: GPL-2.0
/*
 * kmagent disk-write / disk-check: records appended with fsync to a raw
 * block device (or a file), and their check.
 *
 * Record N (from 1) lies at OFFSET + (N - 1) * SLOT, SLOT being the
 * header and the payload rounded up to 512 bytes:
 *   u64 magic "KMAGREC1" | u64 N | u32 payload length | u32 CRC-32C of
 *   (N, length, payload) | payload (a pattern of N) | zeros to the slot end
 * all little-endian (the guest is x86-64).  The writer writes a whole
 * record, then fdatasync()s, then prints "KMAGENT disk fsynced=N": any
 * record printed so must be on the disk afterwards, whatever happened to
 * the VM (a migration, a kill of one copy).  The checker reads records 1
 * to --upto back (O_DIRECT where it can, so no stale cache of this host
 * hides the disk's bytes) and verifies each.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

#define REC_MAGIC	0x3143455247414d4bull	/* "KMAGREC1" little-endian */
#define REC_HDR		24u

struct rec_hdr {
	uint64_t magic;
	uint64_t seq;
	uint32_t len;
	uint32_t crc;
};

struct disk_opts {
	const char *path;
	uint64_t payload, offset, slot;
};

static void rec_payload(uint8_t *p, uint64_t seq, uint64_t len)
{
	uint64_t w, v;

	for (w = 0; w * 8 < len; w++) {
		v = ag_mix64(seq * 0x100000001ull + w);
		memcpy(p + w * 8, &v, len - w * 8 < 8 ? len - w * 8 : 8);
	}
}

static uint32_t rec_crc(uint64_t seq, uint32_t len, const uint8_t *payload)
{
	uint32_t crc = ag_crc32c(0, &seq, sizeof(seq));

	crc = ag_crc32c(crc, &len, sizeof(len));
	return ag_crc32c(crc, payload, len);
}

static void rec_build(uint8_t *buf, const struct disk_opts *o, uint64_t seq)
{
	struct rec_hdr h = { .magic = REC_MAGIC, .seq = seq, .len = (uint32_t)o->payload };

	memset(buf, 0, o->slot);
	rec_payload(buf + REC_HDR, seq, o->payload);
	h.crc = rec_crc(seq, h.len, buf + REC_HDR);
	memcpy(buf, &h, sizeof(h));
}

/* NULL when the record in @buf is record @seq, else why not. */
static const char *rec_check(const uint8_t *buf, uint8_t *want, const struct disk_opts *o,
			     uint64_t seq)
{
	struct rec_hdr h;

	memcpy(&h, buf, sizeof(h));
	if (h.magic != REC_MAGIC)
		return "magic";
	if (h.seq != seq)
		return "sequence";
	if (h.len != o->payload)
		return "length";
	if (h.crc != rec_crc(seq, h.len, buf + REC_HDR))
		return "crc";
	rec_payload(want, seq, o->payload);
	if (memcmp(buf + REC_HDR, want, o->payload))
		return "payload";	/* a CRC collision: cannot really happen */
	return NULL;
}

/* The options both commands share; returns 0 or the exit status. */
static int disk_opt(int c, const char *arg, struct disk_opts *o)
{
	switch (c) {
	case 'b':
		return ag_num("--payload", arg, 1, 1 << 20, true, &o->payload) ? 0 : AG_USAGE;
	case 'o':
		if (!ag_num("--offset", arg, 0, 1ull << 50, true, &o->offset))
			return AG_USAGE;
		if (o->offset % 512) {
			fprintf(stderr, "kmagent: --offset: %" PRIu64 " is not a multiple of 512\n",
				o->offset);
			return AG_USAGE;
		}
		return 0;
	default:
		return AG_USAGE;
	}
}

static int disk_path(int argc, char **argv, struct disk_opts *o, const char *cmd)
{
	if (optind != argc - 1) {
		fprintf(stderr, "kmagent %s: give one PATH (a block device or a file)\n", cmd);
		return AG_USAGE;
	}
	o->path = argv[optind];
	o->slot = (REC_HDR + o->payload + 511) / 512 * 512;
	return 0;
}

/* Bytes the device or file can hold; UINT64_MAX for a growing file. */
static uint64_t disk_capacity(int fd)
{
	struct stat st;
	uint64_t bytes;

	if (fstat(fd, &st) == 0 && S_ISBLK(st.st_mode) && ioctl(fd, BLKGETSIZE64, &bytes) == 0)
		return bytes;
	return UINT64_MAX;
}

int ag_disk_write_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rate", required_argument, NULL, 'r' },
		{ "payload", required_argument, NULL, 'b' },
		{ "offset", required_argument, NULL, 'o' },
		{ "count", required_argument, NULL, 'n' },
		{ "seconds", required_argument, NULL, 's' },
		{ "report-ms", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	struct disk_opts o = { .payload = 488, .offset = 1 << 20 };
	uint64_t rate = 20, count = 0, seconds = 0, report_ms = 0;
	uint64_t seq = 0, cap, start, end, next_report;
	uint8_t *buf;
	int c, r, fd;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'r')
			r = ag_num("--rate", optarg, 0, 1000000, false, &rate) ? 0 : AG_USAGE;
		else if (c == 'n')
			r = ag_num("--count", optarg, 1, 1ull << 40, false, &count) ? 0 : AG_USAGE;
		else if (c == 's')
			r = ag_num("--seconds", optarg, 0, 86400 * 365, false, &seconds) ? 0 : AG_USAGE;
		else if (c == 'p')
			r = ag_num("--report-ms", optarg, 0, 3600000, false, &report_ms) ? 0 : AG_USAGE;
		else
			r = disk_opt(c, optarg, &o);
		if (r)
			return r;
	}
	r = disk_path(argc, argv, &o, "disk-write");
	if (r)
		return r;
	/* a device that is not there must not become a file in devtmpfs */
	fd = open(o.path, O_RDWR | O_CLOEXEC | (strncmp(o.path, "/dev/", 5) ? O_CREAT : 0), 0644);
	if (fd < 0) {
		printf("KMAGENT disk error=open path=%s: %s\n", o.path, strerror(errno));
		return AG_SYS;
	}
	cap = disk_capacity(fd);
	buf = malloc(o.slot);
	if (!buf) {
		close(fd);
		return AG_SYS;
	}
	ag_catch_stop();
	printf("KMAGENT disk start path=%s offset=%" PRIu64 " slot=%" PRIu64 " payload=%" PRIu64
	       " rate=%" PRIu64 "\n", o.path, o.offset, o.slot, o.payload, rate);
	start = ag_now_ns();
	end = seconds ? start + seconds * 1000000000ull : UINT64_MAX;
	next_report = start + report_ms * 1000000ull;
	r = AG_OK;
	while (!ag_stop && (!count || seq < count) && ag_now_ns() < end) {
		uint64_t off = o.offset + seq * o.slot;

		if (off + o.slot > cap) {
			printf("KMAGENT disk full at seq=%" PRIu64 "\n", seq + 1);
			break;
		}
		rec_build(buf, &o, seq + 1);
		if (pwrite(fd, buf, o.slot, (off_t)off) != (ssize_t)o.slot) {
			printf("KMAGENT disk error=write seq=%" PRIu64 ": %s\n", seq + 1,
			       errno ? strerror(errno) : "short write");
			r = AG_SYS;
			break;
		}
		if (fdatasync(fd)) {
			printf("KMAGENT disk error=fsync seq=%" PRIu64 ": %s\n", seq + 1,
			       strerror(errno));
			r = AG_SYS;
			break;
		}
		seq++;
		if (!report_ms || ag_now_ns() >= next_report) {
			printf("KMAGENT disk fsynced=%" PRIu64 "\n", seq);
			next_report = ag_now_ns() + report_ms * 1000000ull;
		}
		if (rate)
			ag_sleep_until(start + (uint64_t)((double)seq * 1e9 / (double)rate));
	}
	printf("KMAGENT disk done last_fsynced=%" PRIu64 "\n", seq);
	free(buf);
	close(fd);
	return r;
}

int ag_disk_check_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "upto", required_argument, NULL, 'u' },
		{ "payload", required_argument, NULL, 'b' },
		{ "offset", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	struct disk_opts o = { .payload = 488, .offset = 1 << 20 };
	uint64_t upto = 0, seq, bad = 0, beyond = 0, cap;
	bool have_upto = false, direct = true;
	uint8_t *buf, *want;
	int c, r, fd;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'u') {
			if (!ag_num("--upto", optarg, 0, 1ull << 40, false, &upto))
				return AG_USAGE;
			have_upto = true;
			continue;
		}
		r = disk_opt(c, optarg, &o);
		if (r)
			return r;
	}
	if (!have_upto) {
		fprintf(stderr, "kmagent disk-check: --upto SEQ (the last fsynced record) is needed\n");
		return AG_USAGE;
	}
	r = disk_path(argc, argv, &o, "disk-check");
	if (r)
		return r;
	fd = open(o.path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0 && errno == EINVAL) {
		direct = false;	/* a file system without O_DIRECT */
		fd = open(o.path, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0) {
		printf("KMAGENT disk-check error=open path=%s: %s\n", o.path, strerror(errno));
		return AG_SYS;
	}
	cap = disk_capacity(fd);
	buf = aligned_alloc(4096, (o.slot + 4095) / 4096 * 4096);
	want = malloc(o.payload);
	if (!buf || !want) {
		close(fd);
		return AG_SYS;
	}
	/* 1..upto must all be there; past it, count what happens to be */
	for (seq = 1; seq <= upto || seq - upto <= 1000000; seq++) {
		uint64_t off = o.offset + (seq - 1) * o.slot;
		ssize_t n = off + o.slot > cap ? 0 : pread(fd, buf, o.slot, (off_t)off);
		const char *why = n == (ssize_t)o.slot ? rec_check(buf, want, &o, seq) :
				  n < 0 ? strerror(errno) : "short read";

		if (seq > upto) {
			if (why)
				break;
			beyond++;
			continue;
		}
		if (why && bad++ < 8)
			printf("KMAGENT disk-check bad seq=%" PRIu64 " reason=%s\n", seq, why);
	}
	if (bad)
		printf("KMAGENT disk-check failed bad=%" PRIu64 " of=%" PRIu64 "\n", bad, upto);
	else
		printf("KMAGENT disk-check ok records=%" PRIu64 " beyond=%" PRIu64 " direct=%d\n",
		       upto, beyond, direct);
	free(buf);
	free(want);
	close(fd);
	return bad ? AG_FAIL : AG_OK;
}
