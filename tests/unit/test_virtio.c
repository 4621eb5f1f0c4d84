// SPDX-License-Identifier: GPL-2.0
/*
 * The virtio devices of libvmm without KVM: the split-virtqueue walker
 * (tools/vmm/virtq.c) on a fake guest memory, hostile chains included;
 * PCI configuration mechanism #1 and BAR sizing (pci.c); the virtio-pci
 * transport (virtio_pci.c) driven the way Linux's virtio_pci drives it;
 * virtio-blk (virtio_blk.c) on a real file opened with O_DIRECT under
 * /var/tmp (tmpfs has no O_DIRECT), aligned and unaligned guest buffers,
 * a read-only disk, the disk lock; virtio-net's names and MACs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/pci_regs.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#include "kselftest_harness.h"
#include "pci.h"
#include "unit.h"
#include "vfake.h"
#include "virtio_blk.h"
#include "virtio_net.h"
#include "virtq.h"

KM_SUITE(virtio);

/* The queue's rings: size 16 */
#define QSZ	16
#define DESC	(GBASE + 0x0000)
#define AVAIL	(GBASE + 0x1000)
#define USED	(GBASE + 0x2000)
#define BUFS	(GBASE + 0x10000)

static void set_desc(struct gmem *g, uint64_t table, unsigned int i, uint64_t addr,
		     uint32_t len, uint16_t flags, uint16_t next)
{
	struct vring_desc d = { .addr = addr, .len = len, .flags = flags, .next = next };

	memcpy(G(g, table) + 16 * i, &d, sizeof(d));
}

/* Offers chain @head in the available ring. */
static void offer(struct gmem *g, uint16_t head)
{
	uint16_t idx;

	memcpy(&idx, G(g, AVAIL) + 2, 2);
	memcpy(G(g, AVAIL) + 4 + 2 * (idx % QSZ), &head, 2);
	idx++;
	memcpy(G(g, AVAIL) + 2, &idx, 2);
}

static uint16_t used_idx(struct gmem *g)
{
	uint16_t v;

	memcpy(&v, G(g, USED) + 2, 2);
	return v;
}

static void start_q(struct __test_metadata *_metadata, struct gmem *g, struct virtq *q,
		    bool indirect)
{
	char err[256];

	vq_reset(q, QSZ);
	q->desc_gpa = DESC;
	q->avail_gpa = AVAIL;
	q->used_gpa = USED;
	ASSERT_EQ(0, vq_start(q, &g->vq, indirect, err, sizeof(err))) TH_LOG("%s", err);
}

/* ------------------------------------------------------------ virtq -- */

TEST_F(virtio, vq_good_chain)
{
	struct gmem g;
	struct virtq q;
	static struct vq_req r;
	char err[256] = "";
	uint32_t elem[2];

	g_init(&g);
	start_q(_metadata, &g, &q, false);
	set_desc(&g, DESC, 3, BUFS, 16, VRING_DESC_F_NEXT, 7);
	set_desc(&g, DESC, 7, BUFS + 0x100, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	set_desc(&g, DESC, 1, BUFS + 0x400, 1, VRING_DESC_F_WRITE, 0);
	ASSERT_EQ(0, vq_pop(&q, &r, err, sizeof(err)));		/* nothing offered */
	offer(&g, 3);
	ASSERT_EQ(1, vq_pop(&q, &r, err, sizeof(err))) TH_LOG("%s", err);
	EXPECT_EQ(3, r.head);
	EXPECT_EQ(3u, r.nr);
	EXPECT_EQ(1u, r.nr_out);
	EXPECT_EQ(16u, r.out_len);
	EXPECT_EQ(513u, r.in_len);
	EXPECT_EQ(G(&g, BUFS + 0x100), r.seg[1].hva);
	EXPECT_TRUE(r.seg[1].write);
	ASSERT_EQ(0, vq_pop(&q, &r, err, sizeof(err)));
	/* completion: the used entry, the index, and dirty tracking told */
	EXPECT_TRUE(vq_push(&q, 3, 513));
	EXPECT_EQ(1, used_idx(&g));
	memcpy(elem, G(&g, USED) + 4, 8);
	EXPECT_EQ(3u, elem[0]);
	EXPECT_EQ(513u, elem[1]);
	EXPECT_EQ(1, g.dirty_page[(USED - GBASE) / 4096]);
	/* the driver asked for no interrupt */
	*(uint16_t *)G(&g, AVAIL) = VRING_AVAIL_F_NO_INTERRUPT;
	offer(&g, 3);
	ASSERT_EQ(1, vq_pop(&q, &r, err, sizeof(err)));
	EXPECT_FALSE(vq_push(&q, 3, 0));
	free(g.ram);
}

/* Chain @head offered on a fresh queue: vq_pop must refuse it, saying @why. */
static void expect_bad(struct __test_metadata *_metadata, struct gmem *g, struct virtq *q,
		       uint16_t head, bool indirect, const char *why)
{
	static struct vq_req r;
	char err[256] = "";

	memset(G(g, AVAIL), 0, USED - AVAIL + 0x1000);
	start_q(_metadata, g, q, indirect);
	offer(g, head);
	EXPECT_EQ(-EINVAL, vq_pop(q, &r, err, sizeof(err)));
	EXPECT_TRUE(km_contains(err, why)) TH_LOG("'%s' does not say '%s'", err, why);
}

TEST_F(virtio, vq_hostile_chains)
{
	struct gmem g;
	struct virtq q;
	static struct vq_req r;
	char err[256];

	g_init(&g);
	/* a loop: 0 -> 1 -> 0 */
	start_q(_metadata, &g, &q, false);
	set_desc(&g, DESC, 0, BUFS, 16, VRING_DESC_F_NEXT, 1);
	set_desc(&g, DESC, 1, BUFS, 16, VRING_DESC_F_NEXT, 0);
	expect_bad(_metadata, &g, &q, 0, false, "loops");

	/* a buffer outside RAM, below it, straddling its end, wrapping */
	memset(g.ram, 0, 0x3000);
	start_q(_metadata, &g, &q, false);
	set_desc(&g, DESC, 0, 0x1000, 16, 0, 0);
	expect_bad(_metadata, &g, &q, 0, false, "outside guest RAM");
	set_desc(&g, DESC, 1, GBASE + GSIZE - 8, 16, 0, 0);
	expect_bad(_metadata, &g, &q, 1, false, "outside guest RAM");
	set_desc(&g, DESC, 2, ~0ull - 4, 16, 0, 0);
	expect_bad(_metadata, &g, &q, 2, false, "outside guest RAM");

	/* zero length; readable after writable; next beyond the queue */
	memset(g.ram, 0, 0x3000);
	start_q(_metadata, &g, &q, false);
	set_desc(&g, DESC, 0, BUFS, 0, 0, 0);
	expect_bad(_metadata, &g, &q, 0, false, "zero-length");
	set_desc(&g, DESC, 1, BUFS, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
	set_desc(&g, DESC, 2, BUFS, 8, 0, 0);
	expect_bad(_metadata, &g, &q, 1, false, "readable buffer after a writable");
	set_desc(&g, DESC, 3, BUFS, 8, VRING_DESC_F_NEXT, QSZ);
	expect_bad(_metadata, &g, &q, 3, false, "beyond the queue size");

	/* a head beyond the queue; an available index too far ahead */
	expect_bad(_metadata, &g, &q, QSZ + 1, false, "head");
	memset(G(&g, AVAIL), 0, 0x2000);
	start_q(_metadata, &g, &q, false);
	*(uint16_t *)(G(&g, AVAIL) + 2) = QSZ + 1;
	EXPECT_EQ(-EINVAL, vq_pop(&q, &r, err, sizeof(err)));
	EXPECT_TRUE(km_contains(err, "ahead")) TH_LOG("%s", err);

	/* rings outside RAM or misaligned, a size that is not a power of 2 */
	vq_reset(&q, QSZ);
	q.desc_gpa = GBASE + GSIZE - 16;
	q.avail_gpa = AVAIL;
	q.used_gpa = USED;
	EXPECT_EQ(-EINVAL, vq_start(&q, &g.vq, false, err, sizeof(err)));
	EXPECT_FALSE(q.enabled);
	q.desc_gpa = DESC + 8;
	EXPECT_EQ(-EINVAL, vq_start(&q, &g.vq, false, err, sizeof(err)));
	q.desc_gpa = DESC;
	q.size = 12;
	EXPECT_EQ(-EINVAL, vq_start(&q, &g.vq, false, err, sizeof(err)));
	free(g.ram);
}

TEST_F(virtio, vq_indirect)
{
	struct gmem g;
	struct virtq q;
	static struct vq_req r;
	const uint64_t tbl = GBASE + 0x8000;
	char err[256] = "";

	g_init(&g);
	start_q(_metadata, &g, &q, true);
	set_desc(&g, tbl, 0, BUFS, 16, VRING_DESC_F_NEXT, 2);
	set_desc(&g, tbl, 2, BUFS + 0x200, 4096, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	set_desc(&g, tbl, 1, BUFS + 0x2000, 1, VRING_DESC_F_WRITE, 0);
	set_desc(&g, DESC, 5, tbl, 3 * 16, VRING_DESC_F_INDIRECT, 0);
	offer(&g, 5);
	ASSERT_EQ(1, vq_pop(&q, &r, err, sizeof(err))) TH_LOG("%s", err);
	EXPECT_EQ(5, r.head);
	EXPECT_EQ(3u, r.nr);
	EXPECT_EQ(4097u, r.in_len);

	/* not negotiated */
	expect_bad(_metadata, &g, &q, 5, false, "without VIRTIO_RING_F_INDIRECT_DESC");
	/* a loop inside the table */
	memset(G(&g, AVAIL), 0, 0x2000);
	start_q(_metadata, &g, &q, true);
	set_desc(&g, tbl, 1, BUFS + 0x2000, 1, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
	expect_bad(_metadata, &g, &q, 5, true, "loops");
	/* nested; a bad table length; a table outside RAM; next beyond it */
	set_desc(&g, tbl, 1, tbl, 16, VRING_DESC_F_INDIRECT, 0);
	expect_bad(_metadata, &g, &q, 5, true, "nested");
	set_desc(&g, DESC, 6, tbl, 20, VRING_DESC_F_INDIRECT, 0);
	expect_bad(_metadata, &g, &q, 6, true, "indirect table of 20 bytes");
	set_desc(&g, DESC, 7, GBASE + GSIZE - 16, 32, VRING_DESC_F_INDIRECT, 0);
	expect_bad(_metadata, &g, &q, 7, true, "outside guest RAM");
	set_desc(&g, tbl, 1, BUFS, 1, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 9);
	expect_bad(_metadata, &g, &q, 5, true, "beyond the table");
	free(g.ram);
}

/* -------------------------------------------------------------- PCI -- */

static int bar_hits;

static void t_bar_rd(struct pci_dev *d, int bar, uint64_t off, void *data, unsigned int len)
{
	(void)d;
	(void)bar;
	bar_hits++;
	memset(data, 0, len);
	memcpy(data, &off, len < 8 ? len : 8);
}

static void t_bar_wr(struct pci_dev *d, int bar, uint64_t off, const void *data,
		     unsigned int len)
{
	(void)d;
	(void)bar;
	(void)off;
	(void)data;
	(void)len;
	bar_hits++;
}

static const struct pci_dev_ops t_ops = { .bar_read = t_bar_rd, .bar_write = t_bar_wr };

TEST_F(virtio, pci_conf1_and_bars)
{
	struct pci_bus bus;
	struct pci_dev d;
	uint32_t v = 0, a;
	uint8_t cap[4] = { 0x09, 0, 4, 0x55 };
	int slot;

	pci_bus_init(&bus);
	/* Linux's probe: 0x80000000 in the latch reads back */
	a = 0x80000000u;
	pci_conf_io(&bus, PCI_CONF_ADDR_PORT, true, &a, 4);
	pci_conf_io(&bus, PCI_CONF_ADDR_PORT, false, &v, 4);
	EXPECT_EQ(0x80000000u, v);
	/* the host bridge at 00:00.0, nothing at 00:05.0 or on bus 1 */
	EXPECT_EQ((uint32_t)PCI_HOST_DEVICE << 16 | PCI_HOST_VENDOR, conf_rd(&bus, 0, 0, 4));
	EXPECT_EQ(0x0600u, conf_rd(&bus, 0, PCI_CLASS_DEVICE, 2));
	EXPECT_EQ(0xffffffffu, conf_rd(&bus, 5, 0, 4));
	a = 0x80010000u;
	pci_conf_io(&bus, PCI_CONF_ADDR_PORT, true, &a, 4);
	pci_conf_io(&bus, PCI_CONF_DATA_PORT, false, &v, 4);
	EXPECT_EQ(0xffffffffu, v);

	pci_dev_init(&d, "test", 0x1af4, 0x1042, 0x018000, 1, 0x1af4, 0x42);
	d.ops = &t_ops;
	ASSERT_EQ(0, pci_dev_add_bar(&d, 0, 0x8000));
	EXPECT_EQ(0x40, pci_dev_add_cap(&d, cap, NULL, sizeof(cap)));
	EXPECT_EQ(0x44, pci_dev_add_cap(&d, cap, NULL, sizeof(cap)));
	slot = pci_bus_add(&bus, &d);
	ASSERT_EQ(1, slot);
	EXPECT_EQ(0x10421af4u, conf_rd(&bus, 1, 0, 4));
	EXPECT_EQ(0x018000u, conf_rd(&bus, 1, PCI_CLASS_REVISION, 4) >> 8);
	/* the capability list: status bit, 0x34 -> 0x40 -> 0x44 -> end */
	EXPECT_TRUE(conf_rd(&bus, 1, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	EXPECT_EQ(0x40u, conf_rd(&bus, 1, PCI_CAPABILITY_LIST, 1));
	EXPECT_EQ(0x44u, conf_rd(&bus, 1, 0x41, 1));
	EXPECT_EQ(0u, conf_rd(&bus, 1, 0x45, 1));
	/* read-only identity */
	conf_wr(&bus, 1, 0, 4, 0x12345678);
	EXPECT_EQ(0x10421af4u, conf_rd(&bus, 1, 0, 4));

	/* the BAR: placed in the window, sized, moved */
	EXPECT_EQ(PCI_MMIO_BASE, conf_rd(&bus, 1, PCI_BASE_ADDRESS_0, 4));
	conf_wr(&bus, 1, PCI_BASE_ADDRESS_0, 4, 0xffffffff);
	EXPECT_EQ(0xffff8000u, conf_rd(&bus, 1, PCI_BASE_ADDRESS_0, 4));
	EXPECT_EQ(0u, conf_rd(&bus, 1, PCI_BASE_ADDRESS_1, 4));	/* no BAR 1 */
	conf_wr(&bus, 1, PCI_BASE_ADDRESS_1, 4, 0xffffffff);
	EXPECT_EQ(0u, conf_rd(&bus, 1, PCI_BASE_ADDRESS_1, 4));
	conf_wr(&bus, 1, PCI_BASE_ADDRESS_0, 4, 0xd0001234);
	EXPECT_EQ(0xd0000000u, conf_rd(&bus, 1, PCI_BASE_ADDRESS_0, 4));
	/* decoding only with memory space enabled */
	v = 0;
	EXPECT_FALSE(pci_mmio(&bus, 0xd0000010, false, &v, 4));
	conf_wr(&bus, 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | 0x40);
	EXPECT_EQ((unsigned)(PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER),
		  conf_rd(&bus, 1, PCI_COMMAND, 2));
	bar_hits = 0;
	EXPECT_TRUE(pci_mmio(&bus, 0xd0000010, false, &v, 4));
	EXPECT_EQ(0x10u, v);
	EXPECT_TRUE(pci_mmio(&bus, 0xd0007ffc, true, &v, 4));
	EXPECT_FALSE(pci_mmio(&bus, 0xd0007ffe, true, &v, 4));	/* crosses the end */
	EXPECT_FALSE(pci_mmio(&bus, 0xd0008000, false, &v, 4));
	EXPECT_FALSE(pci_mmio(&bus, PCI_MMIO_BASE, false, &v, 4));	/* the old place */
	EXPECT_EQ(2, bar_hits);
	/* misaligned config access and a closed latch read all ones */
	EXPECT_EQ(0xffffffffu, conf_rd(&bus, 1, 2, 4));
	a = 0x00000000u;
	pci_conf_io(&bus, PCI_CONF_ADDR_PORT, true, &a, 4);
	pci_conf_io(&bus, PCI_CONF_DATA_PORT, false, &v, 4);
	EXPECT_EQ(0xffffffffu, v);
	pci_bus_destroy(&bus);
}

/* -------------------------------------------------------- virtio-blk -- */

#define DISK_SIZE	(1u << 20)
#define HDR		(GBASE + 0x20000)
#define STATUS		(GBASE + 0x21000)

/* A disk file where O_DIRECT works (not tmpfs): NULL to skip. */
static char *disk_file(void)
{
	char *path = strdup("/var/tmp/km-virtio-XXXXXX");
	uint8_t *buf = malloc(DISK_SIZE);
	unsigned int i;
	int fd, dfd;

	if (!path || !buf)
		abort();
	fd = mkstemp(path);
	if (fd < 0) {
		free(path);
		free(buf);
		return NULL;
	}
	for (i = 0; i < DISK_SIZE; i++)
		buf[i] = (uint8_t)(i * 7 + i / 512);
	if (write(fd, buf, DISK_SIZE) != DISK_SIZE)
		abort();
	close(fd);
	free(buf);
	dfd = open(path, O_RDWR | O_DIRECT);
	if (dfd < 0) {
		unlink(path);
		free(path);
		return NULL;
	}
	close(dfd);
	return path;
}

struct drv {
	struct gmem g;
	struct pci_bus bus;
	struct virtio_blk *b;
	uint64_t bar;
	uint16_t next_head;
	int msix_cap;
};

static void bar_w(struct drv *d, uint64_t off, uint64_t v, unsigned int len)
{
	vf_bar_w(&d->bus, d->bar, off, v, len);
}

static uint64_t bar_r(struct drv *d, uint64_t off, unsigned int len)
{
	return vf_bar_r(&d->bus, d->bar, off, len);
}

/* What Linux's virtio_pci does up to DRIVER_OK, checked on the way. */
static void drv_setup(struct __test_metadata *_metadata, struct drv *d, const char *path,
		      bool ro)
{
	unsigned int off, types = 0;
	uint64_t feat;
	char err[256] = "";

	g_init(&d->g);
	pci_bus_init(&d->bus);
	ASSERT_EQ(0, virtio_blk_create(&d->b, path, ro, &d->g.vq, stderr, err, sizeof(err)))
		TH_LOG("%s", err);
	d->b->vp.signal_msi = g_msi;
	d->b->vp.signal_opaque = &d->g;
	ASSERT_EQ(1, pci_bus_add(&d->bus, &d->b->vp.pci));
	EXPECT_EQ(0x10421af4u, conf_rd(&d->bus, 1, 0, 4));
	EXPECT_LE(0x40u, conf_rd(&d->bus, 1, PCI_SUBSYSTEM_ID, 2));
	/* the capabilities Linux looks for, pointing into BAR 0 */
	for (off = conf_rd(&d->bus, 1, PCI_CAPABILITY_LIST, 1); off;
	     off = conf_rd(&d->bus, 1, off + 1, 1)) {
		if (conf_rd(&d->bus, 1, off, 1) == PCI_CAP_ID_MSIX) {
			d->msix_cap = (int)off;
			continue;
		}
		ASSERT_EQ((unsigned)PCI_CAP_ID_VNDR, conf_rd(&d->bus, 1, off, 1));
		EXPECT_EQ(0u, conf_rd(&d->bus, 1, off + 4, 1));		/* BAR 0 */
		types |= 1u << conf_rd(&d->bus, 1, off + 3, 1);
		if (conf_rd(&d->bus, 1, off + 3, 1) == VIRTIO_PCI_CAP_NOTIFY_CFG) {
			EXPECT_EQ((unsigned)VP_NOTIFY_OFF, conf_rd(&d->bus, 1, off + 8, 4));
			EXPECT_EQ((unsigned)VP_NOTIFY_MULT, conf_rd(&d->bus, 1, off + 16, 4));
		}
	}
	EXPECT_EQ(0x1eu, types);	/* common, notify, ISR, device */
	ASSERT_NE(0, d->msix_cap);
	EXPECT_EQ(1u, conf_rd(&d->bus, 1, (unsigned)d->msix_cap + 2, 2) & 0x7ff);	/* 2 vectors */
	d->bar = conf_rd(&d->bus, 1, PCI_BASE_ADDRESS_0, 4) & ~0xfu;
	conf_wr(&d->bus, 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);

	bar_w(d, CC(device_status), 0, 1);
	EXPECT_EQ(0u, bar_r(d, CC(device_status), 1));
	bar_w(d, CC(device_status), VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER, 1);
	bar_w(d, CC(device_feature_select), 0, 4);
	feat = bar_r(d, CC(device_feature), 4);
	bar_w(d, CC(device_feature_select), 1, 4);
	feat |= bar_r(d, CC(device_feature), 4) << 32;
	EXPECT_TRUE(feat >> VIRTIO_F_VERSION_1 & 1);
	EXPECT_TRUE(feat >> VIRTIO_RING_F_INDIRECT_DESC & 1);
	EXPECT_TRUE(feat >> VIRTIO_BLK_F_FLUSH & 1);
	EXPECT_EQ(ro, feat >> VIRTIO_BLK_F_RO & 1);
	EXPECT_EQ(1u, bar_r(d, CC(num_queues), 2));
	/* a feature the device does not offer: FEATURES_OK does not stick */
	bar_w(d, CC(guest_feature_select), 0, 4);
	bar_w(d, CC(guest_feature), 1u << VIRTIO_BLK_F_GEOMETRY, 4);
	bar_w(d, CC(device_status), VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
	      VIRTIO_CONFIG_S_FEATURES_OK, 1);
	EXPECT_FALSE(bar_r(d, CC(device_status), 1) & VIRTIO_CONFIG_S_FEATURES_OK);
	bar_w(d, CC(guest_feature), (uint32_t)feat, 4);
	bar_w(d, CC(guest_feature_select), 1, 4);
	bar_w(d, CC(guest_feature), feat >> 32, 4);
	bar_w(d, CC(device_status), VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
	      VIRTIO_CONFIG_S_FEATURES_OK, 1);
	EXPECT_TRUE(bar_r(d, CC(device_status), 1) & VIRTIO_CONFIG_S_FEATURES_OK);
	/* MSI-X on, vector 1 for the queue, unmasked */
	conf_wr(&d->bus, 1, (unsigned)d->msix_cap + 2, 2, 0x8000);
	bar_w(d, VP_MSIX_OFF + 16, 0xfee00000, 4);
	bar_w(d, VP_MSIX_OFF + 16 + 4, 0, 4);
	bar_w(d, VP_MSIX_OFF + 16 + 8, 0x4041, 4);
	bar_w(d, VP_MSIX_OFF + 16 + 12, 0, 4);
	bar_w(d, CC(queue_select), 0, 2);
	EXPECT_EQ((unsigned)VBLK_QUEUE_SIZE, bar_r(d, CC(queue_size), 2));
	bar_w(d, CC(queue_size), QSZ, 2);
	bar_w(d, CC(queue_msix_vector), 1, 2);
	EXPECT_EQ(1u, bar_r(d, CC(queue_msix_vector), 2));
	bar_w(d, CC(queue_msix_vector), 7, 2);		/* no such vector */
	EXPECT_EQ((unsigned)VIRTIO_MSI_NO_VECTOR, bar_r(d, CC(queue_msix_vector), 2));
	bar_w(d, CC(queue_msix_vector), 1, 2);
	bar_w(d, CC(queue_desc_lo), (uint32_t)DESC, 4);
	bar_w(d, CC(queue_desc_hi), 0, 4);
	bar_w(d, CC(queue_avail_lo), (uint32_t)AVAIL, 4);
	bar_w(d, CC(queue_avail_hi), 0, 4);
	bar_w(d, CC(queue_used_hi), 0x12345, 4);
	bar_w(d, CC(queue_used_lo), USED, 8);		/* one 64-bit access */
	EXPECT_EQ(0u, bar_r(d, CC(queue_used_hi), 4));
	bar_w(d, CC(queue_enable), 1, 2);
	EXPECT_EQ(1u, bar_r(d, CC(queue_enable), 2));
	bar_w(d, CC(device_status), VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
	      VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK, 1);
	EXPECT_EQ((uint64_t)DISK_SIZE / 512, bar_r(d, VP_DEVCFG_OFF, 8));
	EXPECT_EQ((unsigned)VBLK_SEG_MAX,
		  bar_r(d, VP_DEVCFG_OFF + offsetof(struct virtio_blk_config, seg_max), 4));
}

static void drv_done(struct drv *d)
{
	virtio_blk_destroy(d->b);
	pci_bus_destroy(&d->bus);
	free(d->g.ram);
}

/*
 * One request through the queue: header, data (@len bytes at @data, device
 * writable for IN), status; notified, served.  Returns the status byte;
 * *@used gets the length the device reported.
 */
static int drv_req(struct drv *d, uint32_t type, uint64_t sector, uint64_t data,
		   uint32_t len, bool in, uint32_t *used)
{
	struct virtio_blk_outhdr h = { .type = type, .sector = sector };
	uint16_t head = d->next_head, u0 = used_idx(&d->g);
	uint32_t elem[2];

	d->next_head = (uint16_t)((d->next_head + 3) % 15);
	memcpy(G(&d->g, HDR), &h, sizeof(h));
	*G(&d->g, STATUS) = 0xee;
	set_desc(&d->g, DESC, head, HDR, 16, VRING_DESC_F_NEXT, (uint16_t)(head + 1));
	if (len) {
		set_desc(&d->g, DESC, head + 1, data, len,
			 VRING_DESC_F_NEXT | (in ? VRING_DESC_F_WRITE : 0), (uint16_t)(head + 2));
		set_desc(&d->g, DESC, head + 2, STATUS, 1, VRING_DESC_F_WRITE, 0);
	} else {
		set_desc(&d->g, DESC, head + 1, STATUS, 1, VRING_DESC_F_WRITE, 0);
	}
	offer(&d->g, head);
	bar_w(d, VP_NOTIFY_OFF, 0, 2);
	virtio_blk_process(d->b);
	if (used_idx(&d->g) != (uint16_t)(u0 + 1))
		return -1;
	memcpy(elem, G(&d->g, USED) + 4 + 8 * (u0 % QSZ), 8);
	if (elem[0] != head)
		return -2;
	*used = elem[1];
	return *G(&d->g, STATUS);
}

static int file_cmp(const char *path, uint64_t off, const void *buf, size_t len)
{
	uint8_t *f = malloc(len);
	int fd = open(path, O_RDONLY), r;

	if (!f || fd < 0 || pread(fd, f, len, (off_t)off) != (ssize_t)len)
		r = -1;
	else
		r = memcmp(f, buf, len);
	if (fd >= 0)
		close(fd);
	free(f);
	return r;
}

TEST_F(virtio, blk_requests)
{
	char *path = disk_file();
	static struct drv d;
	uint8_t pat[4096];
	uint32_t used = 0;
	unsigned int i, msis;

	if (!path)
		SKIP(return, "no O_DIRECT file system at /var/tmp");
	memset(&d, 0, sizeof(d));
	drv_setup(_metadata, &d, path, false);

	/* OUT from an unaligned guest buffer: bounced */
	for (i = 0; i < sizeof(pat); i++)
		pat[i] = (uint8_t)(0xa5 ^ i);
	memcpy(G(&d.g, BUFS + 0x4001), pat, 1024);
	EXPECT_EQ(VIRTIO_BLK_S_OK, drv_req(&d, VIRTIO_BLK_T_OUT, 2, BUFS + 0x4001, 1024, false,
					   &used));
	EXPECT_EQ(1u, used);
	EXPECT_EQ(1u, d.b->disk.bounced);
	EXPECT_EQ(0, file_cmp(path, 1024, pat, 1024));
	EXPECT_LT(0u, d.g.msis);
	EXPECT_EQ(0x4041u, d.g.msi_data);
	EXPECT_EQ(0xfee00000u, d.g.msi_addr);
	EXPECT_EQ(1u, bar_r(&d, VP_ISR_OFF, 1));	/* read clears */
	EXPECT_EQ(0u, bar_r(&d, VP_ISR_OFF, 1));

	/* IN to an aligned guest buffer: straight into guest memory, dirty */
	memset(d.g.dirty_page, 0, sizeof(d.g.dirty_page));
	EXPECT_EQ(VIRTIO_BLK_S_OK, drv_req(&d, VIRTIO_BLK_T_IN, 2, BUFS + 0x8000, 4096, true,
					   &used));
	EXPECT_EQ(4097u, used);
	EXPECT_EQ(1u, d.b->disk.bounced);
	EXPECT_EQ(0, memcmp(G(&d.g, BUFS + 0x8000), pat, 1024));
	EXPECT_EQ(0, file_cmp(path, 2048, G(&d.g, BUFS + 0x8000) + 1024, 3072));
	EXPECT_EQ(1, d.g.dirty_page[(BUFS + 0x8000 - GBASE) / 4096]);
	EXPECT_EQ(1, d.g.dirty_page[(STATUS - GBASE) / 4096]);

	/* IN to an unaligned buffer: bounced */
	EXPECT_EQ(VIRTIO_BLK_S_OK, drv_req(&d, VIRTIO_BLK_T_IN, 3, BUFS + 0x6003, 512, true,
					   &used));
	EXPECT_EQ(2u, d.b->disk.bounced);
	EXPECT_EQ(0, memcmp(G(&d.g, BUFS + 0x6003), pat + 512, 512));

	/* FLUSH, GET_ID, out of range, partial sector, unknown type */
	EXPECT_EQ(VIRTIO_BLK_S_OK, drv_req(&d, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, &used));
	memset(G(&d.g, BUFS), 0, 64);
	EXPECT_EQ(VIRTIO_BLK_S_OK, drv_req(&d, VIRTIO_BLK_T_GET_ID, 0, BUFS, 20, true, &used));
	EXPECT_EQ(0, strncmp((char *)G(&d.g, BUFS), strrchr(path, '/') + 1, 20));
	EXPECT_EQ(VIRTIO_BLK_S_IOERR, drv_req(&d, VIRTIO_BLK_T_OUT, DISK_SIZE / 512 - 1,
					      BUFS, 1024, false, &used));
	EXPECT_EQ(VIRTIO_BLK_S_IOERR, drv_req(&d, VIRTIO_BLK_T_IN, ~0ull, BUFS, 512, true,
					      &used));
	EXPECT_EQ(VIRTIO_BLK_S_IOERR, drv_req(&d, VIRTIO_BLK_T_IN, 0, BUFS, 100, true, &used));
	EXPECT_EQ(VIRTIO_BLK_S_UNSUPP, drv_req(&d, 99, 0, 0, 0, false, &used));
	EXPECT_EQ(9u, d.b->requests);

	/* a hostile chain: NEEDS_RESET, nothing served until the reset */
	msis = d.g.msis;
	set_desc(&d.g, DESC, 0, HDR, 16, VRING_DESC_F_NEXT, 0);
	offer(&d.g, 0);
	virtio_blk_process(d.b);
	EXPECT_TRUE(bar_r(&d, CC(device_status), 1) & VIRTIO_CONFIG_S_NEEDS_RESET);
	EXPECT_EQ(-1, drv_req(&d, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, &used));
	EXPECT_EQ(msis, d.g.msis);	/* no config vector was set */
	bar_w(&d, CC(device_status), 0, 1);
	EXPECT_EQ(0u, bar_r(&d, CC(device_status), 1));
	EXPECT_EQ(0u, bar_r(&d, CC(queue_enable), 2));
	drv_done(&d);
	unlink(path);
	free(path);
}

TEST_F(virtio, blk_read_only)
{
	char *path = disk_file();
	static struct drv d;
	uint8_t before[1024];
	uint32_t used;

	if (!path)
		SKIP(return, "no O_DIRECT file system at /var/tmp");
	memset(&d, 0, sizeof(d));
	drv_setup(_metadata, &d, path, true);
	memcpy(before, G(&d.g, BUFS), sizeof(before));
	memset(G(&d.g, BUFS), 0x11, 1024);
	EXPECT_EQ(VIRTIO_BLK_S_IOERR, drv_req(&d, VIRTIO_BLK_T_OUT, 0, BUFS, 1024, false, &used));
	EXPECT_EQ(VIRTIO_BLK_S_OK, drv_req(&d, VIRTIO_BLK_T_IN, 0, BUFS, 1024, true, &used));
	EXPECT_NE(0x11, *G(&d.g, BUFS));
	EXPECT_EQ(0, file_cmp(path, 0, G(&d.g, BUFS), 1024));
	EXPECT_EQ(VIRTIO_BLK_S_OK, drv_req(&d, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, &used));
	(void)before;
	drv_done(&d);
	unlink(path);
	free(path);
}

TEST_F(virtio, blk_lock_and_bad_disks)
{
	char *path = disk_file();
	struct vblk_disk a, b, c;
	char err[256] = "";
	int fd;

	if (!path)
		SKIP(return, "no O_DIRECT file system at /var/tmp");
	ASSERT_EQ(0, vblk_disk_open(&a, path, false, err, sizeof(err))) TH_LOG("%s", err);
	EXPECT_EQ(-EBUSY, vblk_disk_open(&b, path, false, err, sizeof(err)));
	EXPECT_TRUE(km_contains(err, "is in use")) TH_LOG("%s", err);
	EXPECT_EQ(-EBUSY, vblk_disk_open(&b, path, true, err, sizeof(err)));
	vblk_disk_close(&a);
	/* readers share; a writer waits for all of them */
	ASSERT_EQ(0, vblk_disk_open(&a, path, true, err, sizeof(err)));
	ASSERT_EQ(0, vblk_disk_open(&b, path, true, err, sizeof(err)));
	EXPECT_EQ(-EBUSY, vblk_disk_open(&c, path, false, err, sizeof(err)));
	vblk_disk_close(&a);
	vblk_disk_close(&b);
	ASSERT_EQ(0, vblk_disk_open(&c, path, false, err, sizeof(err)));
	EXPECT_EQ((uint64_t)DISK_SIZE / 512, c.sectors);
	vblk_disk_close(&c);

	EXPECT_EQ(-ENOENT, vblk_disk_open(&a, "/var/tmp/km-virtio-no-such", false, err,
					  sizeof(err)));
	EXPECT_TRUE(km_contains(err, "No such file")) TH_LOG("%s", err);
	EXPECT_GT(0, vblk_disk_open(&a, "/var/tmp", true, err, sizeof(err)));
	EXPECT_EQ(-EINVAL, vblk_disk_open(&a, "/dev/null", true, err, sizeof(err)));
	fd = open(path, O_WRONLY | O_TRUNC);
	ASSERT_LE(0, fd);
	close(fd);
	EXPECT_EQ(-EINVAL, vblk_disk_open(&a, path, false, err, sizeof(err)));
	EXPECT_TRUE(km_contains(err, "smaller than one")) TH_LOG("%s", err);
	unlink(path);
	free(path);
}

TEST_HARNESS_MAIN
