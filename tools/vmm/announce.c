// SPDX-License-Identifier: GPL-2.0
/*
 * libvmm: announce-self (announce.h, vmm.h "announce-self").
 *
 * Why: after a switch-over the guest's MAC is behind another port (the
 * destination's tap, on another host's bridge).  Until a frame from that
 * MAC passes, the bridges and switches on the way keep sending the
 * guest's traffic to the old port, and clients see it lost.  A quiet
 * guest may send nothing for seconds, so the VMM sends in its name: frames
 * written into the tap leave it towards the bridge exactly as the guest's
 * own would.  Learned from QEMU's net/announce.c (RARP, rounds with
 * growing spacing); the frames here are built from the RFCs.
 *
 * What: per round and NIC a RARP (what QEMU sends: every learning bridge
 * takes its source MAC, and no host's ARP cache is touched) and an
 * unsolicited neighbour advertisement for the MAC's EUI-64 link-local
 * address (multicast: also learned by switches that snoop MLD, and it
 * refreshes IPv6 neighbour caches that hold that address).  The guest's
 * own IP addresses are unknown to the VMM: gratuitous ARPs for them need
 * the guest (VIRTIO_NET_F_GUEST_ANNOUNCE, not offered yet).
 *
 * How: one thread per job, sleeping on a condition variable between
 * rounds, so stop ends it at once.  The job has its own duplicates of the
 * tap descriptors (the NIC may close its own meanwhile), non-blocking as
 * the NIC's: a frame a full tap refuses is counted, never waited for.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "announce.h"
#include "internal.h"
#include "virtio_net.h"

struct announce_job {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* CLOCK_MONOTONIC; stop wakes it */
	bool stop;			/* (lock) */
	struct vmm_announce_params p;
	FILE *log;
	unsigned int nr;
	struct announce_nic nic[ANNOUNCE_MAX_NICS];
	bool said[ANNOUNCE_MAX_NICS];	/* a write error was logged */
	struct vmm_announce_stats st;	/* (lock) */
};

/* ------------------------------------------------------------ frames -- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

size_t announce_rarp(uint8_t *buf, const uint8_t mac[6])
{
	memset(buf, 0, 60);
	memset(buf, 0xff, 6);		/* broadcast */
	memcpy(buf + 6, mac, 6);
	put16(buf + 12, 0x8035);	/* RARP */
	put16(buf + 14, 1);		/* hardware: Ethernet */
	put16(buf + 16, 0x0800);	/* protocol: IPv4 */
	buf[18] = 6;
	buf[19] = 4;
	put16(buf + 20, 3);		/* reverse request (RFC 903) */
	memcpy(buf + 22, mac, 6);	/* sender hardware address */
	/* sender protocol address 0.0.0.0 */
	memcpy(buf + 32, mac, 6);	/* target hardware address */
	/* target protocol address 0.0.0.0, then padding to 60 */
	return 60;
}

/* fe80::/64 with the modified EUI-64 of @mac (RFC 4291 appendix A). */
static void link_local(uint8_t a[16], const uint8_t mac[6])
{
	memset(a, 0, 16);
	a[0] = 0xfe;
	a[1] = 0x80;
	a[8] = mac[0] ^ 0x02;
	a[9] = mac[1];
	a[10] = mac[2];
	a[11] = 0xff;
	a[12] = 0xfe;
	a[13] = mac[3];
	a[14] = mac[4];
	a[15] = mac[5];
}

/* The Internet checksum of the IPv6 pseudo-header and @len bytes at @l4. */
static uint16_t icmp6_csum(const uint8_t *src, const uint8_t *dst, const uint8_t *l4, size_t len)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i < 16; i += 2)
		sum += (uint32_t)(src[i] << 8 | src[i + 1]) + (uint32_t)(dst[i] << 8 | dst[i + 1]);
	sum += (uint32_t)len + 58;	/* upper-layer length, next header */
	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(l4[i] << 8 | l4[i + 1]);
	if (len & 1)
		sum += (uint32_t)l4[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

size_t announce_na(uint8_t *buf, const uint8_t mac[6])
{
	static const uint8_t all_nodes[16] = { 0xff, 0x02, [15] = 1 };
	uint8_t *ip = buf + 14, *icmp = buf + 54;

	memset(buf, 0, ANNOUNCE_FRAME_LEN);
	buf[0] = 0x33;			/* 33:33:00:00:00:01 (ff02::1) */
	buf[1] = 0x33;
	buf[5] = 1;
	memcpy(buf + 6, mac, 6);
	put16(buf + 12, 0x86dd);
	ip[0] = 0x60;			/* version 6 */
	put16(ip + 4, 32);		/* payload: the NA and one option */
	ip[6] = 58;			/* ICMPv6 */
	ip[7] = 255;			/* hop limit, as RFC 4861 wants */
	link_local(ip + 8, mac);
	memcpy(ip + 24, all_nodes, 16);
	icmp[0] = 136;			/* neighbour advertisement */
	icmp[4] = 0x20;			/* override; not router, not solicited */
	memcpy(icmp + 8, ip + 8, 16);	/* target: the same address */
	icmp[24] = 2;			/* option: target link-layer address */
	icmp[25] = 1;			/* 8 bytes */
	memcpy(icmp + 26, mac, 6);
	put16(icmp + 2, icmp6_csum(ip + 8, ip + 24, icmp, 32));
	return ANNOUNCE_FRAME_LEN;
}

/* ------------------------------------------------------------- the job -- */

static void announce_send(struct announce_job *j, unsigned int i, const uint8_t *frame,
			  size_t len)
{
	static const uint8_t hdr[16];	/* a zero vnet header: no offload */
	struct iovec iov[2] = {
		{ .iov_base = (void *)hdr, .iov_len = j->nic[i].hdr_len },
		{ .iov_base = (void *)frame, .iov_len = len },
	};
	ssize_t n = writev(j->nic[i].fd, iov + !j->nic[i].hdr_len, j->nic[i].hdr_len ? 2 : 1);
	int e = errno;

	pthread_mutex_lock(&j->lock);
	if (n == (ssize_t)(j->nic[i].hdr_len + len))
		j->st.frames++;
	else
		j->st.errors++;
	pthread_mutex_unlock(&j->lock);
	if (n != (ssize_t)(j->nic[i].hdr_len + len) && !j->said[i]) {
		j->said[i] = true;
		fprintf(j->log, "vmm: announce: tap %s: %s\n", j->nic[i].name,
			n < 0 ? strerror(e) : "short write");
		fflush(j->log);
	}
}

static void *announce_worker(void *arg)
{
	struct announce_job *j = arg;
	uint8_t rarp[ANNOUNCE_FRAME_LEN], na[ANNOUNCE_FRAME_LEN];
	struct timespec due;
	unsigned int k, i;
	uint64_t ns;

	clock_gettime(CLOCK_MONOTONIC, &due);
	for (k = 0; k < j->p.rounds; k++) {
		pthread_mutex_lock(&j->lock);
		if (k) {
			ns = (uint64_t)due.tv_nsec +
			     ((uint64_t)j->p.initial_ms + (uint64_t)(k - 1) * j->p.step_ms) * 1000000ull;
			due.tv_sec += (time_t)(ns / 1000000000ull);
			due.tv_nsec = (long)(ns % 1000000000ull);
			while (!j->stop && pthread_cond_timedwait(&j->cond, &j->lock, &due) != ETIMEDOUT)
				;
		}
		if (j->stop) {
			pthread_mutex_unlock(&j->lock);
			break;
		}
		pthread_mutex_unlock(&j->lock);
		for (i = 0; i < j->nr; i++) {
			announce_send(j, i, rarp, announce_rarp(rarp, j->nic[i].mac));
			announce_send(j, i, na, announce_na(na, j->nic[i].mac));
		}
		pthread_mutex_lock(&j->lock);
		j->st.rounds++;
		pthread_mutex_unlock(&j->lock);
	}
	return NULL;
}

static void announce_free(struct announce_job *j)
{
	unsigned int i;

	for (i = 0; i < j->nr; i++)
		close(j->nic[i].fd);
	pthread_cond_destroy(&j->cond);
	pthread_mutex_destroy(&j->lock);
	free(j);
}

int announce_job_start(struct announce_job **out, const struct announce_nic *nics,
		       unsigned int nr, const struct vmm_announce_params *p, FILE *log)
{
	struct announce_job *j;
	pthread_condattr_t ca;
	unsigned int i;
	int r;

	if (!p->rounds || p->rounds > 100 || p->initial_ms > 60000 || p->step_ms > 60000 ||
	    nr > ANNOUNCE_MAX_NICS)
		return -EINVAL;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->p = *p;
	j->log = log ? log : stderr;
	pthread_mutex_init(&j->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j->cond, &ca);
	pthread_condattr_destroy(&ca);
	for (i = 0; i < nr; i++) {
		if (nics[i].hdr_len > 16)
			r = -EINVAL;
		else if ((j->nic[i].fd = fcntl(nics[i].fd, F_DUPFD_CLOEXEC, 3)) < 0)
			r = -errno;
		else
			r = 0;
		if (r) {
			announce_free(j);
			return r;
		}
		j->nic[i].hdr_len = nics[i].hdr_len;
		memcpy(j->nic[i].mac, nics[i].mac, 6);
		snprintf(j->nic[i].name, sizeof(j->nic[i].name), "%s", nics[i].name);
		j->nr = i + 1;
	}
	r = pthread_create(&j->thread, NULL, announce_worker, j);
	if (r) {
		announce_free(j);
		return -r;
	}
	*out = j;
	return 0;
}

void announce_job_stop(struct announce_job *j, struct vmm_announce_stats *st)
{
	pthread_mutex_lock(&j->lock);
	j->stop = true;
	pthread_cond_signal(&j->cond);
	pthread_mutex_unlock(&j->lock);
	pthread_join(j->thread, NULL);
	if (st)
		*st = j->st;
	announce_free(j);
}

/* ------------------------------------------------------------ the VM -- */

int vmm_announce_start(struct vmm_vm *vm, const struct vmm_announce_params *p)
{
	static const struct vmm_announce_params defaults = VMM_ANNOUNCE_DEFAULTS;
	struct announce_nic nics[ANNOUNCE_MAX_NICS];
	struct vmm_dev_info info;
	struct announce_job *j = NULL;
	unsigned int i, nr = 0;
	int fd, r;

	vmm_announce_stop(vm, NULL);	/* again: the rounds start over */
	for (i = 0; i < vmm_dev_count(vm) && nr < ANNOUNCE_MAX_NICS; i++) {
		fd = vmm_net_tap_fd(vm, i);
		if (fd < 0 || vmm_dev_info(vm, i, &info))
			continue;
		nics[nr].fd = fd;
		nics[nr].hdr_len = VNET_HDR_LEN;
		memcpy(nics[nr].mac, info.mac, 6);
		snprintf(nics[nr].name, sizeof(nics[nr].name), "%s", info.tap ? info.tap : "?");
		nr++;
	}
	if (!nr)
		return 0;
	r = announce_job_start(&j, nics, nr, p ? p : &defaults, vm->log);
	if (r) {
		vmm_logf(vm, "announce: not started: %s", strerror(-r));
		return r;
	}
	pthread_mutex_lock(&vm->lock);
	vm->announce = j;
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

void vmm_announce_stop(struct vmm_vm *vm, struct vmm_announce_stats *st)
{
	struct announce_job *j;

	pthread_mutex_lock(&vm->lock);
	j = vm->announce;
	vm->announce = NULL;
	pthread_mutex_unlock(&vm->lock);
	if (st)
		memset(st, 0, sizeof(*st));
	if (j)
		announce_job_stop(j, st);
}
