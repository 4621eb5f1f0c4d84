// SPDX-License-Identifier: GPL-2.0
/*
 * The "user" data path (datapath.h): dirty pages from libvmm's dirty ring
 * or bitmap, pages sent with writev() straight from guest RAM (zero-copy
 * PAGES, kmp_enc_pages), all-zero pages as ZERO gfns.
 *
 * MSG_ZEROCOPY: with SO_ZEROCOPY on the socket (env.zerocopy; a kernel or
 * socket without it: plain writev), the page payloads of a PAGES record of
 * at least DPU_ZC_MIN bytes go out with sendmsg(MSG_ZEROCOPY): the kernel
 * pins the guest's pages and transmits from them instead of copying them
 * into the socket buffer.  Smaller records are copied: pinning and the
 * completion cost more than copying a few pages.  The record's header and
 * gfn list (u->pbuf, reused for the next record) are always copied, in a
 * send of their own; the bytes on the wire are the same iovecs either way.
 *
 * Each zerocopy sendmsg that sends gets an id; the kernel reports ranges of
 * completed ids on the socket's error queue (SO_EE_ORIGIN_ZEROCOPY,
 * ee_info..ee_data; SO_EE_CODE_ZEROCOPY_COPIED: it copied after all, e.g.
 * over loopback or a device without scatter-gather).  They are reaped
 * without waiting before each zerocopy send and whenever the source's
 * poll() sees POLLERR (ops->reap), and waited for (briefly) in fini.
 *
 * Why sending pages the guest keeps writing is correct: the guest's RAM
 * stays mapped for the VM's lifetime (and a pinned page is referenced by
 * the kernel until its skb is freed), so there is no lifetime hazard; only
 * the contents may change between the sendmsg and the transmission (or a
 * retransmission).  During the live rounds that is the same race writev's
 * copy has: a page written after it was handed to the stack was dirtied
 * after the harvest that selected it, so it shows in the next harvest and
 * is sent again in a later round, and TCP delivers that later copy after
 * this one.  Live rounds' payloads are not in the END digest.  In the
 * stop-and-copy round the guest is paused until COMMIT (or until the
 * stream is abandoned), so the final round's pages, which are digested, are
 * stable until they are acknowledged.  Hence END does not wait for the
 * completions (that would add a round trip to the downtime).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <linux/errqueue.h>	/* after time.h: it uses struct timespec */

#include "datapath.h"

#ifndef SO_ZEROCOPY
#define SO_ZEROCOPY		60
#endif
#ifndef MSG_ZEROCOPY
#define MSG_ZEROCOPY		0x4000000
#endif
#ifndef SO_EE_ORIGIN_ZEROCOPY
#define SO_EE_ORIGIN_ZEROCOPY	5
#endif
#ifndef SO_EE_CODE_ZEROCOPY_COPIED
#define SO_EE_CODE_ZEROCOPY_COPIED 1
#endif

#define DPU_ZBUF	(KMP_HDR_SIZE + KMP_MAX_ZERO_BATCH * KMP_GFN_SIZE)
#define DPU_PBUF	(KMP_HDR_SIZE + KMP_MAX_PAGES_BATCH * KMP_GFN_SIZE)
/* PAGES records with at least this many payload bytes go with MSG_ZEROCOPY */
#define DPU_ZC_MIN	(64u << 10)
/* fini: wait this long for the outstanding completions */
#define DPU_ZC_FINI_MS	1000

struct dpu {
	uint64_t zgfn[KMP_MAX_ZERO_BATCH];
	uint32_t nz;
	uint64_t pgfn[KMP_MAX_PAGES_BATCH];
	const void *ppage[KMP_MAX_PAGES_BATCH];
	uint32_t np;
	uint8_t zbuf[DPU_ZBUF];
	uint8_t pbuf[DPU_PBUF];
	struct iovec iov[KMP_MAX_PAGES_BATCH + 1];
	struct km_datapath *dp;		/* for dpu_tx */
	bool zc;			/* SO_ZEROCOPY is on */
};

static int dpu_enc_err(struct km_datapath *dp, ssize_t r, const char *what)
{
	snprintf(dp->err, sizeof(dp->err), "encoding %s: %s (%s)", what,
		 kmp_strerror((uint32_t)-r), dp->env.enc->err);
	return -1;
}

/* The socket's record layer is kernel TLS (TCP_ULP "tls"). */
static bool dpu_is_ktls(int fd)
{
	char ulp[16] = "";
	socklen_t len = sizeof(ulp) - 1;

	return getsockopt(fd, IPPROTO_TCP, TCP_ULP, ulp, &len) == 0 && !strcmp(ulp, "tls");
}

static int dpu_init(struct km_datapath *dp)
{
	int r;

	struct dpu *u;
	int one = 1;

	dp->priv = u = calloc(1, sizeof(struct dpu));
	if (!u)
		return -ENOMEM;
	u->dp = dp;
	r = vmm_dirty_start(dp->env.vm);
	if (!r)
		r = vmm_dirty_reaper_start(dp->env.vm, 0);	/* ring mode only */
	if (r) {
		vmm_dirty_stop(dp->env.vm);
		free(dp->priv);
		dp->priv = NULL;
		return r;
	}
	memset(&dp->zc, 0, sizeof(dp->zc));
	if (!dp->env.zerocopy) {
		snprintf(dp->zc.note, sizeof(dp->zc.note), "%s",
			 dp->env.zc_off ? dp->env.zc_off : "turned off (--no-zerocopy)");
	} else if (dpu_is_ktls(dp->env.fd)) {
		/* kTLS encrypts from the pages into its own records: it refuses
		 * MSG_ZEROCOPY (and needs no pinning for it) */
		snprintf(dp->zc.note, sizeof(dp->zc.note),
			 "not offered on a kernel TLS socket (kTLS encrypts from the pages)");
	} else if (!dp->env.writev_tx) {
		snprintf(dp->zc.note, sizeof(dp->zc.note), "the source cannot send with flags");
	} else if (setsockopt(dp->env.fd, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof(one)) < 0) {
		/* EOPNOTSUPP / ENOPROTOOPT: an older kernel or another socket
		 * type; anything else alike: plain writev, as before */
		snprintf(dp->zc.note, sizeof(dp->zc.note), "SO_ZEROCOPY: %s", strerror(errno));
	} else {
		u->zc = dp->zc.enabled = true;
	}
	return 0;
}

static uint64_t dpu_zc_outstanding(const struct km_datapath *dp)
{
	return dp->zc.sends - dp->zc.completions;
}

/*
 * Takes every notification on the error queue, without waiting: ranges of
 * completed zerocopy ids.  Anything else there (nothing else is asked for
 * on this socket) is dropped.
 */
static void dpu_reap_now(struct km_datapath *dp)
{
	for (int i = 0; i < 1024; i++) {
		char ctl[CMSG_SPACE(sizeof(struct sock_extended_err) + sizeof(struct sockaddr_in6))];
		struct msghdr msg = { .msg_control = ctl, .msg_controllen = sizeof(ctl) };
		struct cmsghdr *c;
		ssize_t n = recvmsg(dp->env.fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return;		/* EAGAIN: empty */
		for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
			struct sock_extended_err ee;
			uint32_t cnt;

			if (!((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
			      (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR)) ||
			    c->cmsg_len < CMSG_LEN(sizeof(ee)))
				continue;
			memcpy(&ee, CMSG_DATA(c), sizeof(ee));
			if (ee.ee_origin != SO_EE_ORIGIN_ZEROCOPY || ee.ee_errno)
				continue;
			cnt = ee.ee_data - ee.ee_info + 1;	/* ids wrap at 2^32 */
			if (cnt > dpu_zc_outstanding(dp))	/* never more than sent */
				cnt = (uint32_t)dpu_zc_outstanding(dp);
			dp->zc.completions += cnt;
			if (ee.ee_code & SO_EE_CODE_ZEROCOPY_COPIED)
				dp->zc.copied += cnt;
		}
	}
}

static void dpu_reap(struct km_datapath *dp, int wait_ms)
{
	struct timespec t0, t;

	if (!dp->zc.enabled)
		return;
	dpu_reap_now(dp);
	if (wait_ms <= 0 || !dpu_zc_outstanding(dp))
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = { .fd = dp->env.fd };
		long ms;

		clock_gettime(CLOCK_MONOTONIC, &t);
		ms = wait_ms - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (ms <= 0)
			return;
		/* POLLERR: the error queue has something (or the socket an error) */
		if (poll(&p, 1, ms > 10 ? 10 : (int)ms) > 0 && !(p.revents & POLLERR)) {
			struct timespec ts = { 0, 1000000 };	/* POLLHUP alone: no spin */

			nanosleep(&ts, NULL);
		}
		dpu_reap_now(dp);
		if (!dpu_zc_outstanding(dp))
			return;
	}
}

static bool dpu_in_pbuf(const struct dpu *u, const void *p)
{
	return (const uint8_t *)p >= u->pbuf && (const uint8_t *)p < u->pbuf + sizeof(u->pbuf);
}

/*
 * km_dp_tx_fn for a zerocopy PAGES record: the leading header part (in
 * u->pbuf, which the next record overwrites while this one may still wait
 * in the socket) copied, the guest pages with MSG_ZEROCOPY.
 */
static ssize_t dpu_tx(void *ctx, int fd, const struct iovec *iov, int cnt)
{
	struct dpu *u = ctx;
	struct km_datapath *dp = u->dp;
	struct msghdr msg = { .msg_iov = (struct iovec *)iov };
	int h = 0;
	ssize_t n;

	while (h < cnt && dpu_in_pbuf(u, iov[h].iov_base))
		h++;
	if (h) {
		msg.msg_iovlen = (size_t)h;
		return sendmsg(fd, &msg, 0);
	}
	msg.msg_iovlen = (size_t)cnt;
	dpu_reap_now(dp);	/* keeps the error queue (and POLLERR) short */
	n = sendmsg(fd, &msg, MSG_ZEROCOPY);
	if (n < 0 && errno == ENOBUFS) {
		/* optmem (net.core.optmem_max) taken by sends in flight: take
		 * what completed and try once more, else copy this chunk */
		dpu_reap_now(dp);
		n = sendmsg(fd, &msg, MSG_ZEROCOPY);
		if (n < 0 && errno == ENOBUFS) {
			dp->zc.enobufs++;
			return sendmsg(fd, &msg, 0);
		}
	}
	if (n > 0) {		/* an id was used: one completion to come */
		dp->zc.sends++;
		dp->zc.bytes += (uint64_t)n;
	}
	return n;
}

static int64_t dpu_harvest(struct km_datapath *dp, struct vmm_dirty_bitmap *set, uint64_t *ns)
{
	struct vmm_harvest_stats hs;
	int64_t r = vmm_dirty_harvest(dp->env.vm, set, NULL, NULL, &hs);

	if (r < 0)
		return r;
	km_dp_note_harvest(dp, &hs);
	*ns = hs.ns;
	return (int64_t)vmm_dirty_bitmap_count(set);
}

static int dpu_flush_zero(struct km_datapath *dp, struct dpu *u)
{
	ssize_t n;
	uint32_t nz = u->nz;

	if (!nz)
		return 0;
	n = kmp_enc_zero(dp->env.enc, u->zbuf, sizeof(u->zbuf), u->zgfn, nz);
	if (n < 0)
		return dpu_enc_err(dp, n, "ZERO");
	u->nz = 0;
	struct iovec v = { .iov_base = u->zbuf, .iov_len = (size_t)n };

	if (dp->env.writev(dp->env.opaque, &v, 1))
		return -1;
	return dp->env.sent(dp->env.opaque, 0, nz);
}

static int dpu_flush_pages(struct km_datapath *dp, struct dpu *u)
{
	uint32_t np = u->np;
	int n;

	if (!np)
		return 0;
	n = kmp_enc_pages(dp->env.enc, u->pbuf, sizeof(u->pbuf), u->pgfn, u->ppage, np,
			  u->iov, KMP_MAX_PAGES_BATCH + 1);
	if (n < 0)
		return dpu_enc_err(dp, n, "PAGES");
	u->np = 0;
	if (u->zc && (size_t)np * KMP_PAGE_SIZE >= DPU_ZC_MIN) {
		if (dp->env.writev_tx(dp->env.opaque, u->iov, n, dpu_tx, u))
			return -1;
	} else if (dp->env.writev(dp->env.opaque, u->iov, n)) {
		return -1;
	}
	return dp->env.sent(dp->env.opaque, np, 0);
}

static bool dpu_page_zero(const void *p)
{
	const uint64_t *q = p;
	unsigned int i;

	for (i = 0; i < KMP_PAGE_SIZE / 8; i += 8)
		if (q[i] | q[i + 1] | q[i + 2] | q[i + 3] | q[i + 4] | q[i + 5] | q[i + 6] | q[i + 7])
			return false;
	return true;
}

static int dpu_send_pages(struct km_datapath *dp, const uint64_t *gfns, uint32_t n)
{
	struct dpu *u = dp->priv;

	for (uint32_t i = 0; i < n; i++) {
		const void *hva = vmm_gpa_to_hva(dp->env.vm, gfns[i] << KMP_PAGE_SHIFT,
						 KMP_PAGE_SIZE);

		if (!hva)
			continue;	/* not RAM (never dirty-logged) */
		if (dpu_page_zero(hva)) {
			u->zgfn[u->nz++] = gfns[i];
			if (u->nz == KMP_MAX_ZERO_BATCH && dpu_flush_zero(dp, u))
				return -1;
			continue;
		}
		u->pgfn[u->np] = gfns[i];
		u->ppage[u->np++] = hva;
		if (u->np == KMP_MAX_PAGES_BATCH && dpu_flush_pages(dp, u))
			return -1;
	}
	return dpu_flush_zero(dp, u) || dpu_flush_pages(dp, u) ? -1 : 0;
}

static void dpu_fini(struct km_datapath *dp)
{
	if (dp->priv && dp->zc.enabled && dp->env.fd >= 0) {
		/* after READY every byte arrived: the completions follow the ACKs */
		dpu_reap(dp, DPU_ZC_FINI_MS);
		if (dpu_zc_outstanding(dp))
			fprintf(stderr, "kmigrate: zerocopy: %llu sends not completed after %d ms "
				"(the kernel keeps their pages until it frees the data)\n",
				(unsigned long long)dpu_zc_outstanding(dp), DPU_ZC_FINI_MS);
	}
	if (dp->env.vm && vmm_dirty_active(dp->env.vm))
		vmm_dirty_stop(dp->env.vm);
	free(dp->priv);
	dp->priv = NULL;
}

const struct km_datapath_ops km_datapath_user = {
	.name = "user",
	.init = dpu_init,
	.harvest = dpu_harvest,
	.send_pages = dpu_send_pages,
	.reap = dpu_reap,
	.fini = dpu_fini,
};
