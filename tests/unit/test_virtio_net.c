// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-net of libvmm (tools/vmm/virtio_net.c) without KVM: the tap's
 * name and the default MAC, MAC parsing, and frames both ways between a
 * virtqueue of the fake guest memory and a real tap, in a network
 * namespace of the test's own (root only; skipped otherwise): a frame the
 * "guest" queues on the transmit queue comes out of the tap, one sent
 * into the tap lands in a posted receive buffer with its header, the used
 * ring, an MSI-X message and dirty pages.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <net/ethernet.h>

#include "kselftest_harness.h"
#include "unit.h"
#include "vfake.h"
#include "virtio_net.h"

KM_SUITE(vnet);

TEST_F(vnet, names_and_macs)
{
	uint8_t a[6], b[6], c[6], m[6];
	char tap[IFNAMSIZ];

	vnet_default_mac("web1", 0, a);
	vnet_default_mac("web1", 0, b);
	vnet_default_mac("web1", 1, c);
	EXPECT_EQ(0, memcmp(a, b, 6));
	EXPECT_NE(0, memcmp(a, c, 6));
	EXPECT_EQ(0x02, a[0]);		/* locally administered unicast */
	vnet_default_mac("web2", 0, b);
	EXPECT_NE(0, memcmp(a, b, 6));

	vnet_tap_name("web1", 0, tap);
	EXPECT_STREQ("km-web1-0", tap);
	vnet_tap_name("a-very-long-vm-name-indeed", 3, tap);
	EXPECT_GT(IFNAMSIZ, (int)strlen(tap));
	EXPECT_TRUE(km_contains(tap, "-3")) TH_LOG("%s", tap);

	EXPECT_EQ(0, vnet_parse_mac("52:54:00:12:ab:CD", m));
	EXPECT_EQ(0xcd, m[5]);
	EXPECT_EQ(-EINVAL, vnet_parse_mac("01:54:00:12:ab:cd", m));	/* multicast */
	EXPECT_EQ(-EINVAL, vnet_parse_mac("52:54:00:12:ab", m));
	EXPECT_EQ(-EINVAL, vnet_parse_mac("52:54:00:12:ab:cdx", m));
	EXPECT_EQ(-EINVAL, vnet_parse_mac("52-54-00-12-ab-cd", m));
	EXPECT_EQ(-EINVAL, vnet_parse_mac("52:54:00:12:ab: d", m));
}

/* Two queues of 16: receive rings at RXQ, transmit rings at TXQ. */
#define VQ	16
#define RXQ	(GBASE + 0x00000)
#define TXQ	(GBASE + 0x04000)
#define RXBUF	(GBASE + 0x10000)	/* 4 buffers of 2 KiB */
#define TXBUF	(GBASE + 0x20000)
#define ETH_TYPE_TEST	0x88b5		/* IEEE local experimental */

static void q_desc(struct gmem *g, uint64_t q, unsigned int i, uint64_t addr, uint32_t len,
		   uint16_t flags)
{
	struct vring_desc d = { .addr = addr, .len = len, .flags = flags };

	memcpy(G(g, q) + 16 * i, &d, sizeof(d));
}

static void q_offer(struct gmem *g, uint64_t q, uint16_t head)
{
	uint8_t *avail = G(g, q + 0x1000);
	uint16_t idx;

	memcpy(&idx, avail + 2, 2);
	memcpy(avail + 4 + 2 * (idx % VQ), &head, 2);
	__atomic_store_n((uint16_t *)(avail + 2), (uint16_t)(idx + 1), __ATOMIC_RELEASE);
}

static uint16_t q_used(struct gmem *g, uint64_t q)
{
	return __atomic_load_n((uint16_t *)(G(g, q + 0x2000) + 2), __ATOMIC_ACQUIRE);
}

/* Waits up to 3 s for the used index of @q to reach @n. */
static bool q_wait(struct gmem *g, uint64_t q, uint16_t n)
{
	int i;

	for (i = 0; i < 300 && q_used(g, q) != n; i++)
		usleep(10000);
	return q_used(g, q) == n;
}

static void setup_queue(struct pci_bus *bus, uint64_t bar, unsigned int q, uint64_t base)
{
	vf_bar_w(bus, bar, CC(queue_select), q, 2);
	vf_bar_w(bus, bar, CC(queue_size), VQ, 2);
	vf_bar_w(bus, bar, CC(queue_msix_vector), q + 1, 2);
	vf_bar_w(bus, bar, CC(queue_desc_lo), (uint32_t)base, 4);
	vf_bar_w(bus, bar, CC(queue_desc_hi), 0, 4);
	vf_bar_w(bus, bar, CC(queue_avail_lo), (uint32_t)(base + 0x1000), 4);
	vf_bar_w(bus, bar, CC(queue_avail_hi), 0, 4);
	vf_bar_w(bus, bar, CC(queue_used_lo), (uint32_t)(base + 0x2000), 4);
	vf_bar_w(bus, bar, CC(queue_used_hi), 0, 4);
	vf_bar_w(bus, bar, CC(queue_enable), 1, 2);
}

/* A tap "kmt0" that exists before the device opens it, as tap= wants. */
static int make_tap(void)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR), r;

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "kmt0");
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	r = ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETPERSIST, 1) < 0 ? -errno : 0;
	close(fd);
	return r;
}

TEST_F(vnet, tap_round_trip)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x6b, 0x6d, 0x01 };
	struct vmm_net_cfg cfg = { .vm_name = "t", .tap = "kmt0", .has_mac = true };
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	static struct gmem g;
	struct pci_bus bus;
	struct virtio_net *n = NULL;
	struct virtio_pci *vp;
	uint8_t frame[64], buf[2048];
	uint32_t elem[2];
	uint64_t bar, feat;
	char err[256] = "";
	int ps, i, found = 0;
	uint16_t nb;
	FILE *f;

	if (geteuid() || unshare(CLONE_NEWNET) || access("/dev/net/tun", R_OK | W_OK))
		SKIP(return, "needs root, a network namespace and /dev/net/tun");
	/* no IPv6 chatter (router solicitations) on the tap */
	f = fopen("/proc/sys/net/ipv6/conf/default/disable_ipv6", "w");
	if (f) {
		fputs("1", f);
		fclose(f);
	}
	ASSERT_EQ(0, make_tap());
	memcpy(cfg.mac, mac, 6);
	g_init(&g);
	pci_bus_init(&bus);
	ASSERT_EQ(0, virtio_net_create(&n, &cfg, &g.vq, stderr, err, sizeof(err)))
		TH_LOG("%s", err);
	vp = virtio_net_pci(n);
	vp->signal_msi = g_msi;
	vp->signal_opaque = &g;
	ASSERT_EQ(1, pci_bus_add(&bus, &vp->pci));
	EXPECT_EQ(0x10411af4u, conf_rd(&bus, 1, 0, 4));
	EXPECT_EQ(0x020000u, conf_rd(&bus, 1, PCI_CLASS_REVISION, 4) >> 8);
	bar = conf_rd(&bus, 1, PCI_BASE_ADDRESS_0, 4) & ~0xfu;
	conf_wr(&bus, 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);

	/* the driver: features, MSI-X (vectors 1 rx, 2 tx), queues, DRIVER_OK */
	vf_bar_w(&bus, bar, CC(device_status), VIRTIO_CONFIG_S_ACKNOWLEDGE |
		 VIRTIO_CONFIG_S_DRIVER, 1);
	vf_bar_w(&bus, bar, CC(device_feature_select), 0, 4);
	feat = vf_bar_r(&bus, bar, CC(device_feature), 4);
	vf_bar_w(&bus, bar, CC(device_feature_select), 1, 4);
	feat |= vf_bar_r(&bus, bar, CC(device_feature), 4) << 32;
	EXPECT_TRUE(feat >> VIRTIO_NET_F_MAC & 1);
	EXPECT_TRUE(feat >> VIRTIO_NET_F_STATUS & 1);
	EXPECT_FALSE(feat >> VIRTIO_NET_F_CSUM & 1);
	EXPECT_EQ(2u, vf_bar_r(&bus, bar, CC(num_queues), 2));
	vf_bar_w(&bus, bar, CC(guest_feature_select), 0, 4);
	vf_bar_w(&bus, bar, CC(guest_feature), (uint32_t)feat, 4);
	vf_bar_w(&bus, bar, CC(guest_feature_select), 1, 4);
	vf_bar_w(&bus, bar, CC(guest_feature), feat >> 32, 4);
	vf_bar_w(&bus, bar, CC(device_status), VIRTIO_CONFIG_S_ACKNOWLEDGE |
		 VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK, 1);
	for (i = 0; i < 6; i++)
		EXPECT_EQ(mac[i], vf_bar_r(&bus, bar, VP_DEVCFG_OFF + (uint64_t)i, 1));
	EXPECT_EQ((unsigned)VIRTIO_NET_S_LINK_UP, vf_bar_r(&bus, bar, VP_DEVCFG_OFF + 6, 2));
	for (i = 0x40; i && conf_rd(&bus, 1, (unsigned)i, 1) != PCI_CAP_ID_MSIX;)
		i = (int)conf_rd(&bus, 1, (unsigned)i + 1, 1);
	ASSERT_NE(0, i);
	EXPECT_EQ(2u, conf_rd(&bus, 1, (unsigned)i + 2, 2) & 0x7ff);	/* 3 vectors */
	conf_wr(&bus, 1, (unsigned)i + 2, 2, 0x8000);
	for (i = 1; i <= 2; i++) {
		vf_bar_w(&bus, bar, VP_MSIX_OFF + 16 * (uint64_t)i, 0xfee00000, 4);
		vf_bar_w(&bus, bar, VP_MSIX_OFF + 16 * (uint64_t)i + 8, 0x40 + (uint64_t)i, 4);
		vf_bar_w(&bus, bar, VP_MSIX_OFF + 16 * (uint64_t)i + 12, 0, 4);
	}
	setup_queue(&bus, bar, 0, RXQ);
	setup_queue(&bus, bar, 1, TXQ);
	vf_bar_w(&bus, bar, CC(device_status), VIRTIO_CONFIG_S_ACKNOWLEDGE |
		 VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |
		 VIRTIO_CONFIG_S_DRIVER_OK, 1);
	ASSERT_EQ(0, virtio_net_start(n));

	ps = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	ASSERT_LE(0, ps);
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = (int)if_nametoindex("kmt0");
	ASSERT_EQ(0, bind(ps, (struct sockaddr *)&sll, sizeof(sll)));

	/* transmit: header + frame from the guest comes out of the tap */
	memset(frame, 0, sizeof(frame));
	memset(frame, 0xff, 6);
	memcpy(frame + 6, mac, 6);
	frame[12] = ETH_TYPE_TEST >> 8;
	frame[13] = ETH_TYPE_TEST & 0xff;
	memcpy(frame + 14, "kmigrate-tx", 11);
	memset(G(&g, TXBUF), 0, VNET_HDR_LEN);
	memcpy(G(&g, TXBUF) + VNET_HDR_LEN, frame, sizeof(frame));
	q_desc(&g, TXQ, 0, TXBUF, VNET_HDR_LEN + sizeof(frame), 0);
	q_offer(&g, TXQ, 0);
	vf_bar_w(&bus, bar, VP_NOTIFY_OFF + VP_NOTIFY_MULT, 1, 2);
	EXPECT_TRUE(q_wait(&g, TXQ, 1));
	for (i = 0; i < 20 && !found; i++) {
		struct pollfd p = { .fd = ps, .events = POLLIN };
		ssize_t len;

		if (poll(&p, 1, 100) <= 0)
			continue;
		len = recv(ps, buf, sizeof(buf), 0);
		found = len == (ssize_t)sizeof(frame) && !memcmp(buf, frame, sizeof(frame));
	}
	EXPECT_TRUE(found);

	/* receive: four buffers posted; a frame sent into the tap fills one */
	for (i = 0; i < 4; i++) {
		q_desc(&g, RXQ, (unsigned int)i, RXBUF + 2048 * (uint64_t)i, 2048, VRING_DESC_F_WRITE);
		q_offer(&g, RXQ, (uint16_t)i);
	}
	memset(g.dirty_page, 0, sizeof(g.dirty_page));
	vf_bar_w(&bus, bar, VP_NOTIFY_OFF, 0, 2);
	usleep(50000);
	memcpy(frame, mac, 6);
	memset(frame + 6, 0x02, 6);
	memcpy(frame + 14, "kmigrate-rx", 11);
	sll.sll_halen = 6;
	memcpy(sll.sll_addr, mac, 6);
	ASSERT_EQ((ssize_t)sizeof(frame), sendto(ps, frame, sizeof(frame), 0,
						  (struct sockaddr *)&sll, sizeof(sll)));
	EXPECT_TRUE(q_wait(&g, RXQ, 1));
	memcpy(elem, G(&g, RXQ + 0x2000) + 4, 8);
	EXPECT_EQ(0u, elem[0]);
	EXPECT_EQ(VNET_HDR_LEN + sizeof(frame), elem[1]);
	memcpy(&nb, G(&g, RXBUF) + 10, 2);
	EXPECT_EQ(1, nb);				/* num_buffers */
	EXPECT_EQ(0, memcmp(G(&g, RXBUF) + VNET_HDR_LEN, frame, sizeof(frame)));
	EXPECT_EQ(1, g.dirty_page[(RXBUF - GBASE) / 4096]);
	EXPECT_LE(2u, __atomic_load_n(&g.msis, __ATOMIC_ACQUIRE));	/* tx, rx */
	EXPECT_EQ(0x41u, __atomic_load_n(&g.msi_data, __ATOMIC_ACQUIRE));

	/* a reset: the device forgets its queues */
	vf_bar_w(&bus, bar, CC(device_status), 0, 1);
	EXPECT_EQ(0u, vf_bar_r(&bus, bar, CC(device_status), 1));
	EXPECT_EQ(0u, vf_bar_r(&bus, bar, CC(queue_enable), 2));

	close(ps);
	virtio_net_destroy(n);
	pci_bus_destroy(&bus);
	free(g.ram);
}

TEST_HARNESS_MAIN
