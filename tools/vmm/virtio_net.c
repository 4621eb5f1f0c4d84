// SPDX-License-Identifier: GPL-2.0
/*
 * libvmm: virtio-net on a tap device (virtio_net.h).  Queue 0 receives,
 * queue 1 transmits.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>

#include "virtio_net.h"

#define VNET_RX		0
#define VNET_TX		1

struct virtio_net {
	struct virtio_pci vp;
	int tap_fd;
	char tap[IFNAMSIZ];
	char bridge[IFNAMSIZ];
	bool created;			/* kmigrate made the tap */
	uint8_t mac[6];
	int efd;			/* queue notifications and stop */
	pthread_t thread;
	bool thread_started;
	bool stop;
	bool rx_starved;		/* no receive buffer: stop polling the tap */
	struct vq_req req;
	uint64_t rx_packets, tx_packets, rx_dropped;
};

/* ----------------------------------------------------- names and MACs -- */

static uint32_t vnet_hash(const char *s, unsigned int index)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	h = (h ^ (index & 0xff)) * 16777619u;
	return h;
}

void vnet_default_mac(const char *vm_name, unsigned int index, uint8_t mac[6])
{
	uint32_t h = vnet_hash(vm_name, index);

	mac[0] = 0x02;	/* locally administered, unicast */
	mac[1] = 0x6b;
	mac[2] = 0x6d;
	mac[3] = (h >> 16) & 0xff;
	mac[4] = (h >> 8) & 0xff;
	mac[5] = h & 0xff;
}

void vnet_tap_name(const char *vm_name, unsigned int index, char name[IFNAMSIZ])
{
	int n = snprintf(name, IFNAMSIZ, "km-%s-%u", vm_name, index);

	if (n < 0 || n >= IFNAMSIZ)
		snprintf(name, IFNAMSIZ, "km-%.4s%04x-%u", vm_name,
			 vnet_hash(vm_name, 0) & 0xffff, index % 100);
}

int vnet_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char tail;
	int i;

	if (strlen(s) != 17 ||
	    sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &tail) != 6)
		return -EINVAL;
	for (i = 0; i < 6; i++) {
		if (s[3 * i] == '+' || s[3 * i] == '-' || s[3 * i] == ' ' ||
		    s[3 * i + 1] == ' ' || (i < 5 && s[3 * i + 2] != ':'))
			return -EINVAL;
		mac[i] = (uint8_t)b[i];
	}
	if (mac[0] & 1)
		return -EINVAL;	/* multicast */
	return 0;
}

/* ------------------------------------------------------------ the tap -- */

/* ip link set @dev up master @master (rtnetlink, as iproute2 does). */
static int vnet_link_set(int ifindex, int master, char *err, size_t errlen, const char *tap)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
		struct rtattr rta;
		uint32_t master;
	} req;
	struct {
		struct nlmsghdr nh;
		struct nlmsgerr e;
	} ack;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int fd, r = 0;

	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = sizeof(req);
	req.nh.nlmsg_type = RTM_NEWLINK;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	req.nh.nlmsg_seq = 1;
	req.ifi.ifi_family = AF_UNSPEC;
	req.ifi.ifi_index = ifindex;
	req.ifi.ifi_flags = IFF_UP;
	req.ifi.ifi_change = IFF_UP;
	req.rta.rta_type = IFLA_MASTER;
	req.rta.rta_len = RTA_LENGTH(sizeof(uint32_t));
	req.master = (uint32_t)master;
	if (!master)
		req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.ifi));
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "tap %s: netlink: %s", tap, strerror(errno));
		return r;
	}
	if (sendto(fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    recv(fd, &ack, sizeof(ack), 0) < (ssize_t)sizeof(ack))
		r = -errno ? -errno : -EIO;
	else if (ack.nh.nlmsg_type == NLMSG_ERROR && ack.e.error)
		r = ack.e.error;
	close(fd);
	if (r)
		snprintf(err, errlen, "tap %s: %s: %s", tap,
			 master ? "attaching it to the bridge" : "setting it up", strerror(-r));
	return r;
}

static int vnet_tap_open(struct virtio_net *n, const struct vmm_net_cfg *cfg, char *err,
			 size_t errlen)
{
	struct ifreq ifr;
	int hdr = VNET_HDR_LEN, master = 0, r;
	char path[64];

	if (cfg->bridge) {
		if (strlen(cfg->bridge) >= IFNAMSIZ || !(master = (int)if_nametoindex(cfg->bridge))) {
			snprintf(err, errlen, "bridge '%s' does not exist", cfg->bridge);
			return -ENODEV;
		}
		snprintf(path, sizeof(path), "/sys/class/net/%s/bridge", cfg->bridge);
		if (access(path, F_OK)) {
			snprintf(err, errlen, "'%s' is not a bridge", cfg->bridge);
			return -EINVAL;
		}
		snprintf(n->bridge, sizeof(n->bridge), "%s", cfg->bridge);
		vnet_tap_name(cfg->vm_name, cfg->index, n->tap);
		if (if_nametoindex(n->tap)) {
			snprintf(err, errlen, "tap %s exists already (another VM of that name?)",
				 n->tap);
			return -EEXIST;
		}
		n->created = true;
	} else {
		if (strlen(cfg->tap) >= IFNAMSIZ || !if_nametoindex(cfg->tap)) {
			snprintf(err, errlen, "tap '%s' does not exist", cfg->tap);
			return -ENODEV;
		}
		snprintf(n->tap, sizeof(n->tap), "%s", cfg->tap);
	}
	n->tap_fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (n->tap_fd < 0) {
		r = -errno;
		snprintf(err, errlen, "/dev/net/tun: %s", strerror(errno));
		return r;
	}
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, n->tap, sizeof(n->tap));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(n->tap_fd, TUNSETIFF, &ifr) < 0) {
		r = -errno;
		snprintf(err, errlen, "tap %s: %s%s", n->tap, strerror(errno),
			 errno == EPERM ? " (needs CAP_NET_ADMIN)" :
			 errno == EBUSY ? " (in use, or not a tap with a vnet header)" : "");
		return r;
	}
	if (ioctl(n->tap_fd, TUNSETVNETHDRSZ, &hdr) < 0 || ioctl(n->tap_fd, TUNSETOFFLOAD, 0) < 0) {
		r = -errno;
		snprintf(err, errlen, "tap %s: vnet header: %s", n->tap, strerror(errno));
		return r;
	}
	return vnet_link_set((int)if_nametoindex(n->tap), master, err, errlen, n->tap);
}

/* ---------------------------------------------------------- the queues -- */

static struct virtio_net *vnet_of(struct virtio_pci *vp)
{
	return vp->dev;
}

/* Frames the guest sent: onto the tap, header and all (vp->lock held). */
static void vnet_tx(struct virtio_net *n)
{
	struct virtio_pci *vp = &n->vp;
	struct iovec iov[VQ_MAX_SEGS];
	bool irq = false;
	char err[256];
	unsigned int i;
	int r;

	while (virtio_queue_live(vp, VNET_TX)) {
		r = vq_pop(&vp->vq[VNET_TX], &n->req, err, sizeof(err));
		if (r < 0)
			virtio_pci_fail(vp, "tx: %s", err);
		if (r <= 0)
			break;
		if (n->req.in_len || n->req.out_len <= VNET_HDR_LEN) {
			virtio_pci_fail(vp, "tx: chain %u is not a header and a frame", n->req.head);
			break;
		}
		for (i = 0; i < n->req.nr; i++) {
			iov[i].iov_base = n->req.seg[i].hva;
			iov[i].iov_len = n->req.seg[i].len;
		}
		if (writev(n->tap_fd, iov, (int)n->req.nr) > 0)
			n->tx_packets++;
		irq |= vq_push(&vp->vq[VNET_TX], n->req.head, 0);
	}
	if (irq)
		virtio_pci_queue_irq(vp, VNET_TX);
}

/* Frames from the tap into the guest's receive buffers (vp->lock held). */
static void vnet_rx(struct virtio_net *n)
{
	struct virtio_pci *vp = &n->vp;
	struct virtq *q = &vp->vq[VNET_RX];
	struct iovec iov[VQ_MAX_SEGS];
	static const uint16_t one = 1;
	bool irq = false;
	char err[256];
	unsigned int i;
	ssize_t len;
	int r;

	n->rx_starved = false;
	while (virtio_queue_live(vp, VNET_RX)) {
		r = vq_pop(q, &n->req, err, sizeof(err));
		if (r < 0)
			virtio_pci_fail(vp, "rx: %s", err);
		if (r < 0)
			break;
		if (!r) {
			n->rx_starved = true;
			break;
		}
		if (n->req.out_len || n->req.in_len < VNET_HDR_LEN) {
			virtio_pci_fail(vp, "rx: chain %u is not a writable buffer", n->req.head);
			break;
		}
		for (i = 0; i < n->req.nr; i++) {
			iov[i].iov_base = n->req.seg[i].hva;
			iov[i].iov_len = n->req.seg[i].len;
		}
		len = readv(n->tap_fd, iov, (int)n->req.nr);
		if (len < VNET_HDR_LEN) {
			q->last_avail--;	/* nothing to read: give the buffer back */
			break;
		}
		/* num_buffers: one (no mergeable buffers); the tap leaves it alone */
		vq_req_write(&n->req, vp->mem, 10, &one, sizeof(one));
		vq_req_dirty(&n->req, vp->mem, (uint64_t)len);
		n->rx_packets++;
		irq |= vq_push(q, n->req.head, (uint32_t)len);
	}
	if (irq)
		virtio_pci_queue_irq(vp, VNET_RX);
}

static void *vnet_worker(void *arg)
{
	struct virtio_net *n = arg;
	struct pollfd p[2];
	uint64_t v;

	for (;;) {
		p[0] = (struct pollfd){ .fd = n->efd, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = n->tap_fd, .events = POLLIN };
		if (poll(p, __atomic_load_n(&n->rx_starved, __ATOMIC_ACQUIRE) ? 1 : 2, -1) < 0 &&
		    errno != EINTR)
			break;
		if (__atomic_load_n(&n->stop, __ATOMIC_ACQUIRE))
			break;
		if (p[0].revents & POLLIN && read(n->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			break;
		pthread_mutex_lock(&n->vp.lock);
		vnet_tx(n);
		vnet_rx(n);
		/* a driver not (yet) live: wait for its notification, not the tap */
		if (!virtio_queue_live(&n->vp, VNET_RX))
			n->rx_starved = true;
		pthread_mutex_unlock(&n->vp.lock);
	}
	return NULL;
}

static void vnet_cfg_read(struct virtio_pci *vp, unsigned int off, void *data, unsigned int len)
{
	struct virtio_net *n = vnet_of(vp);
	struct virtio_net_config c;

	memset(&c, 0, sizeof(c));
	memcpy(c.mac, n->mac, sizeof(c.mac));
	c.status = VIRTIO_NET_S_LINK_UP;
	c.max_virtqueue_pairs = 1;
	if (off + len <= sizeof(c))
		memcpy(data, (uint8_t *)&c + off, len);
}

static void vnet_notify(struct virtio_pci *vp, unsigned int q)
{
	struct virtio_net *n = vnet_of(vp);
	uint64_t one = 1;

	(void)q;
	if (write(n->efd, &one, sizeof(one)) < 0) {
		/* the counter is full: the worker is awake anyway */
	}
}

static void vnet_reset(struct virtio_pci *vp)
{
	(void)vp;	/* the worker serves the queues under vp->lock */
}

static const struct virtio_dev_ops vnet_ops = {
	.cfg_read = vnet_cfg_read,
	.notify = vnet_notify,
	.reset = vnet_reset,
	.driver_ok = NULL,
};

int virtio_net_create(struct virtio_net **out, const struct vmm_net_cfg *cfg,
		      const struct vq_gmem *mem, FILE *log, char *err, size_t errlen)
{
	struct virtio_net *n = calloc(1, sizeof(*n));
	int r;

	if (!n)
		return -ENOMEM;
	n->tap_fd = n->efd = -1;
	if (!cfg->bridge == !cfg->tap) {
		snprintf(err, errlen, "net: give a bridge or a tap");
		free(n);
		return -EINVAL;
	}
	if (cfg->has_mac)
		memcpy(n->mac, cfg->mac, 6);
	else
		vnet_default_mac(cfg->vm_name, cfg->index, n->mac);
	r = vnet_tap_open(n, cfg, err, errlen);
	if (!r) {
		n->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (n->efd < 0) {
			r = -errno;
			snprintf(err, errlen, "net: eventfd: %s", strerror(errno));
		}
	}
	if (!r) {
		r = virtio_pci_init(&n->vp, "virtio-net", VIRTIO_ID_NET, 0x020000, 2,
				    VNET_QUEUE_SIZE, sizeof(struct virtio_net_config),
				    1ull << VIRTIO_NET_F_MAC | 1ull << VIRTIO_NET_F_STATUS,
				    &vnet_ops, n, mem, log);
		if (r)
			snprintf(err, errlen, "net: transport: %s", strerror(-r));
	}
	if (r) {
		virtio_net_destroy(n);
		return r;
	}
	n->rx_starved = true;
	n->vp.notify_fd = n->efd;
	*out = n;
	return 0;
}

int virtio_net_start(struct virtio_net *n)
{
	int r = pthread_create(&n->thread, NULL, vnet_worker, n);

	if (r)
		return -r;
	n->thread_started = true;
	return 0;
}

void virtio_net_destroy(struct virtio_net *n)
{
	uint64_t one = 1;

	if (!n)
		return;
	if (n->thread_started) {
		__atomic_store_n(&n->stop, true, __ATOMIC_RELEASE);
		if (write(n->efd, &one, sizeof(one)) < 0) {
			/* cannot happen with a fresh counter */
		}
		pthread_join(n->thread, NULL);
	}
	if (n->efd >= 0)
		close(n->efd);
	if (n->tap_fd >= 0)
		close(n->tap_fd);	/* a tap we created goes away with it */
	if (n->vp.ops)
		virtio_pci_destroy(&n->vp);
	free(n);
}

struct virtio_pci *virtio_net_pci(struct virtio_net *n)
{
	return &n->vp;
}

int virtio_net_tap_fd(const struct virtio_net *n)
{
	return n->tap_fd;
}

void virtio_net_info(struct virtio_net *n, struct vmm_dev_info *info)
{
	info->tap = n->tap;
	info->bridge = n->created ? n->bridge : NULL;
	memcpy(info->mac, n->mac, 6);
	info->rx_packets = n->rx_packets;
	info->tx_packets = n->tx_packets;
}
