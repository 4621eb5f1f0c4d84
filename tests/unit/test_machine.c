// SPDX-License-Identifier: GPL-2.0
/*
 * The MACHINE record's checks (tools/migrate/machine_check.c, proto.c): a
 * disk's identity across opens and changes, the destination's pre-flight of
 * disks (missing, another size, other data, the same disk) and NICs (no
 * such bridge), and kmp_machine_check's refusals.  The disks are files in
 * /var/tmp (O_DIRECT; tmpfs may lack it).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "machine.h"
#include "unit.h"

KM_SUITE(machine);

#define DISK_SIZE	(1u << 20)

static void put_at(const char *path, off_t off, const char *s)
{
	int fd = open(path, O_WRONLY);

	if (fd >= 0) {
		if (pwrite(fd, s, strlen(s), off) != (ssize_t)strlen(s))
			perror("pwrite");
		close(fd);
	}
}

static int make_disk(char *path, size_t len, unsigned int seed)
{
	char *buf = malloc(DISK_SIZE);
	int fd, r = -1;

	snprintf(path, len, "/var/tmp/km-machine-test.%d.%u", (int)getpid(), seed);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0 && buf) {
		for (unsigned int i = 0; i < DISK_SIZE; i++)
			buf[i] = (char)(i * 31 + seed);
		r = write(fd, buf, DISK_SIZE) == DISK_SIZE ? 0 : -1;
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	return r;
}

static void disk_dev(struct kmp_machine *m, const char *path, uint64_t bytes, uint64_t ident)
{
	memset(m, 0, sizeof(*m));
	m->nr = 1;
	m->dev[0].kind = KMP_DEV_DISK;
	m->dev[0].bytes = bytes;
	m->dev[0].ident = ident;
	snprintf(m->dev[0].path, sizeof(m->dev[0].path), "%s", path);
}

TEST_F(machine, disk_identity)
{
	char a[128], b[128], err[300];
	uint64_t sa, ia, sb, ib, s2, i2;

	ASSERT_EQ(0, make_disk(a, sizeof(a), 1));
	ASSERT_EQ(0, make_disk(b, sizeof(b), 1));
	ASSERT_EQ(0, km_disk_identity(a, &sa, &ia, err, sizeof(err))) TH_LOG("%s", err);
	ASSERT_EQ(0, km_disk_identity(b, &sb, &ib, err, sizeof(err)));
	EXPECT_EQ(DISK_SIZE, sa);
	EXPECT_EQ(ia, ib);	/* the same bytes: the same identity */
	/* the middle is the file system's to rewrite: not in the identity */
	put_at(b, DISK_SIZE / 2, "rewritten");
	ASSERT_EQ(0, km_disk_identity(b, &s2, &i2, err, sizeof(err)));
	EXPECT_EQ(ia, i2);
	/* the first sector and the tail are */
	put_at(b, 10, "x");
	ASSERT_EQ(0, km_disk_identity(b, &s2, &i2, err, sizeof(err)));
	EXPECT_NE(ia, i2);
	put_at(a, DISK_SIZE - 100, "y");
	ASSERT_EQ(0, km_disk_identity(a, &s2, &i2, err, sizeof(err)));
	EXPECT_NE(ia, i2);
	EXPECT_EQ(-ENOENT, km_disk_identity("/var/tmp/km-machine-test-none", &s2, &i2, err,
					    sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "No such file"));
	unlink(a);
	unlink(b);
}

TEST_F(machine, preflight_disks_and_nics)
{
	char a[128], b[128], msg[600], err[300];
	struct kmp_machine m;
	uint64_t s, id;

	ASSERT_EQ(0, make_disk(a, sizeof(a), 2));
	ASSERT_EQ(0, make_disk(b, sizeof(b), 3));
	ASSERT_EQ(0, km_disk_identity(a, &s, &id, err, sizeof(err)));
	disk_dev(&m, a, s, id);
	EXPECT_EQ(0, km_machine_check_here(&m, msg, sizeof(msg))) TH_LOG("%s", msg);
	disk_dev(&m, b, s, id);		/* same size, other data */
	EXPECT_EQ(-1, km_machine_check_here(&m, msg, sizeof(msg)));
	EXPECT_NE(NULL, strstr(msg, "holds other data")) TH_LOG("%s", msg);
	disk_dev(&m, a, s * 2, id);
	EXPECT_EQ(-1, km_machine_check_here(&m, msg, sizeof(msg)));
	EXPECT_NE(NULL, strstr(msg, "not the same disk")) TH_LOG("%s", msg);
	disk_dev(&m, "/var/tmp/km-machine-test-none", s, id);
	m.nr = 2;
	m.dev[1].kind = KMP_DEV_NET;
	snprintf(m.dev[1].bridge, sizeof(m.dev[1].bridge), "kmnobr%d", (int)getpid() % 1000);
	EXPECT_EQ(-1, km_machine_check_here(&m, msg, sizeof(msg)));
	/* both failed checks, one line each */
	EXPECT_NE(NULL, strstr(msg, "No such file")) TH_LOG("%s", msg);
	EXPECT_NE(NULL, strstr(msg, "no bridge 'kmnobr")) TH_LOG("%s", msg);
	unlink(a);
	unlink(b);
}

TEST_F(machine, record_checks)
{
	struct kmp_machine m;
	char why[200];

	disk_dev(&m, "/dev/vda", 1 << 20, 7);
	EXPECT_EQ(0, kmp_machine_check(&m, why, sizeof(why)));
	m.dev[0].kind = 9;
	EXPECT_EQ(KMP_E_LAYOUT, kmp_machine_check(&m, why, sizeof(why)));
	EXPECT_NE(NULL, strstr(why, "unknown kind 9"));
	disk_dev(&m, "", 1 << 20, 7);	/* a disk needs a path */
	EXPECT_EQ(KMP_E_LAYOUT, kmp_machine_check(&m, why, sizeof(why)));
	disk_dev(&m, "/dev/vda", 1 << 20, 7);
	m.dev[0].flags = 0x80;
	EXPECT_EQ(KMP_E_RESERVED, kmp_machine_check(&m, why, sizeof(why)));
	memset(&m, 0, sizeof(m));
	m.nr = 1;
	m.dev[0].kind = KMP_DEV_NET;	/* a NIC needs a bridge or a tap, not both */
	EXPECT_EQ(KMP_E_LAYOUT, kmp_machine_check(&m, why, sizeof(why)));
	strcpy(m.dev[0].bridge, "br0");
	EXPECT_EQ(0, kmp_machine_check(&m, why, sizeof(why)));
	strcpy(m.dev[0].tap, "tap0");
	EXPECT_EQ(KMP_E_LAYOUT, kmp_machine_check(&m, why, sizeof(why)));
	m.dev[0].tap[0] = 0;
	m.dev[0].tap[5] = 'x';	/* not zero-padded */
	EXPECT_EQ(KMP_E_LAYOUT, kmp_machine_check(&m, why, sizeof(why)));
	m.dev[0].tap[5] = 0;
	m.nr = KMP_MAX_DEVICES + 1;
	EXPECT_EQ(KMP_E_LIMIT, kmp_machine_check(&m, why, sizeof(why)));
	m.nr = 1;
	m.flags = 0x100;
	EXPECT_EQ(KMP_E_RESERVED, kmp_machine_check(&m, why, sizeof(why)));
}

TEST_HARNESS_MAIN
