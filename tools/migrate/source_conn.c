// SPDX-License-Identifier: GPL-2.0
/*
 * The source's connection: socket I/O and the bandwidth cap's pacing,
 * connect, TLS, HELLO/ACCEPT, and the data path's bring-up and take-down.
 * See source.h, source_int.h and docs/PROTOCOL.md.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <linux/kmigrate.h>

#include "cpumodel.h"
#include "machine.h"
#include "netvia.h"
#include "populated.h"
#include "preflight.h"
#include "source_int.h"

/* ------------------------------------------------------------ socket -- */

int src_fail(struct km_mig_src *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int src_fail(struct km_mig_src *m, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&m->lock);
	if (!*m->error) {
		va_start(ap, fmt);
		vsnprintf(m->error, sizeof(m->error), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&m->lock);
	return -1;
}

static int src_on_accept(void *opaque, const struct kmp_accept *a)
{
	struct km_mig_src *m = opaque;

	m->accept = *a;
	m->got_accept = true;
	return 0;
}

static int src_on_ready(void *opaque, const struct kmp_ready *r)
{
	struct km_mig_src *m = opaque;

	m->ready = *r;
	m->got_ready = true;
	return 0;
}

static int src_on_error(void *opaque, const struct kmp_error *e)
{
	struct km_mig_src *m = opaque;

	m->peer_err = *e;
	m->got_error = true;
	return 0;
}

static int src_on_resumed(void *opaque, const struct kmp_resumed *r)
{
	struct km_mig_src *m = opaque;

	pthread_mutex_lock(&m->lock);
	m->resumed = *r;
	m->got_resumed = true;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static const struct kmp_dec_ops src_dec_ops = {
	.accept = src_on_accept,
	.ready = src_on_ready,
	.error = src_on_error,
	.resumed = src_on_resumed,
};

/* Reads what the destination sent (no wait); -1 on EOF / error / ERROR. */
int src_pump(struct km_mig_src *m)
{
	uint8_t buf[1024];

	for (;;) {
		ssize_t n = km_chan_recv(&m->ch, buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0)
			return src_fail(m, "connection to %s: %s", m->peer, strerror(errno));
		if (n == 0) {
			if (m->got_error || (m->o.check_only && m->got_accept))
				break;	/* ... after ERROR, or a check's ACCEPT */
			return src_fail(m, "the destination closed the connection");
		}
		if (kmp_dec_feed(m->dec, buf, (size_t)n) != KMP_OK && !m->got_error)
			return src_fail(m, "bad reply from the destination: %s",
					kmp_dec_error(m->dec));
	}
	if (m->got_error)
		return src_fail(m, "the destination refused: %s (%s)",
				m->peer_err.msg[0] ? m->peer_err.msg : "-",
				kmp_strerror(m->peer_err.code));
	return 0;
}

int src_check(struct km_mig_src *m)
{
	if (atomic_load(&m->cancel)) {
		if (!m->result)
			fprintf(stderr, "kmigrate: %s: cancel seen %" PRIu64 " ms after the request\n",
				m->name, (vmm_now_ns() - atomic_load(&m->cancel_ns)) / 1000000);
		pthread_mutex_lock(&m->lock);
		if (!m->result)
			m->result = "cancelled";
		pthread_mutex_unlock(&m->lock);
		return src_fail(m, "cancelled");
	}
	return src_pump(m);
}

/* Waits up to @ms for the socket (@ev), watching cancel and incoming data. */
int src_wait(struct km_mig_src *m, short ev, int ms)
{
	struct pollfd p = { .fd = m->fd, .events = ev | POLLIN };
	/* decrypted bytes GnuTLS holds (src_pump leaves none; to be sure):
	 * poll() cannot see them */
	int r = poll(&p, 1, km_chan_pending(&m->ch) ? 0 : ms);

	if (r < 0 && errno != EINTR)
		return src_fail(m, "poll: %s", strerror(errno));
	/* zerocopy completions on the error queue make poll() say POLLERR */
	if (r > 0 && (p.revents & POLLERR) && m->dp_up && m->dp.ops->reap)
		m->dp.ops->reap(&m->dp, 0);
	return src_check(m);
}

static void src_account(struct km_mig_src *m, size_t n)
{
	pthread_mutex_lock(&m->lock);
	m->bytes_sent += n;
	pthread_mutex_unlock(&m->lock);
	m->r_bytes += n;
}

/* iovecs (guest pages) written at once under a bandwidth cap */
#define SRC_PACE_IOV	16

/*
 * The bandwidth cap: a token bucket of 50 ms of the cap (rate.h); sleep
 * while in debt.  A cap changed by `kmigrate set` during the sleep applies
 * from then on.
 */
static int src_throttle(struct km_mig_src *m, size_t n)
{
	uint64_t bw = __atomic_load_n(&m->o.bandwidth, __ATOMIC_RELAXED);
	uint64_t wait = km_bucket_charge(&m->bucket, bw, vmm_now_ns(), n);

	while (wait) {
		uint64_t ms = wait / 1000000 + 1;

		if (src_wait(m, 0, (int)(ms > 100 ? 100 : ms)))
			return -1;
		bw = __atomic_load_n(&m->o.bandwidth, __ATOMIC_RELAXED);
		wait = km_bucket_charge(&m->bucket, bw, vmm_now_ns(), 0);
	}
	return 0;
}

/* Writes @iov completely, each chunk with @tx (datapath.h) or writev(2). */
static int src_writev_tx(struct km_mig_src *m, struct iovec *iov, int cnt, km_dp_tx_fn tx,
			 void *ctx)
{
	uint64_t last = vmm_now_ns();

	m->partial = true;
	while (cnt > 0) {
		/* under a cap, 64 KiB (16 pages) per step, each paced */
		int step = __atomic_load_n(&m->o.bandwidth, __ATOMIC_RELAXED) ? SRC_PACE_IOV : 1024;
		ssize_t n = tx ? tx(ctx, m->fd, iov, cnt > step ? step : cnt) :
				 km_chan_writev(&m->ch, iov, cnt > step ? step : cnt);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (vmm_now_ns() - last > SRC_STALL_MS * 1000000ULL)
				return src_fail(m, "sending to %s: no progress for %d s", m->peer,
						SRC_STALL_MS / 1000);
			if (src_wait(m, POLLOUT, 200))
				return -1;
			continue;
		}
		if (n < 0) {
			src_pump(m);	/* an ERROR explains it better */
			return src_fail(m, "sending to %s: %s", m->peer, strerror(errno));
		}
		last = vmm_now_ns();
		src_account(m, (size_t)n);
		if (src_throttle(m, (size_t)n))
			return -1;
		while (cnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	m->partial = false;
	return 0;
}

int src_writev(struct km_mig_src *m, struct iovec *iov, int cnt)
{
	return src_writev_tx(m, iov, cnt, NULL, NULL);
}

int src_send(struct km_mig_src *m, const void *buf, size_t len)
{
	struct iovec v = { .iov_base = (void *)buf, .iov_len = len };

	return src_writev(m, &v, 1);
}

/* Waits until the kernel's send queue is short (the link caught up). */
int src_drain(struct km_mig_src *m, uint64_t timeout_ms)
{
	uint64_t t0 = vmm_now_ns();
	int q = 0;

	while (ioctl(m->fd, SIOCOUTQ, &q) == 0 && q > (int)SRC_DRAIN_BYTES) {
		if (vmm_now_ns() - t0 > timeout_ms * 1000000ULL)
			break;
		if (src_wait(m, 0, 5))
			return -1;
	}
	return src_check(m);
}

int src_enc_err(struct km_mig_src *m, ssize_t r, const char *what)
{
	return src_fail(m, "encoding %s: %s (%s)", what, kmp_strerror((uint32_t)-r), m->enc.err);
}

/* ------------------------------------------------------------- pages -- */

/* The data path's callbacks (datapath.h). */
static int src_dp_writev(void *opaque, struct iovec *iov, int cnt)
{
	return src_writev(opaque, iov, cnt);
}

static int src_dp_writev_tx(void *opaque, struct iovec *iov, int cnt, km_dp_tx_fn tx, void *ctx)
{
	return src_writev_tx(opaque, iov, cnt, tx, ctx);
}

static void src_dp_account(void *opaque, uint64_t bytes)
{
	struct km_mig_src *m = opaque;

	/* the data path wrote these itself (paced by the module) */
	src_account(m, (size_t)bytes);
}

int src_dp_sent(void *opaque, uint32_t pages, uint32_t zero)
{
	struct km_mig_src *m = opaque;

	pthread_mutex_lock(&m->lock);
	m->pages_sent += pages;
	m->zero_pages += zero;
	m->remaining -= m->remaining > pages + zero ? pages + zero : m->remaining;
	m->zc = m->dp.zc;	/* final after the data path is down */
	pthread_mutex_unlock(&m->lock);
	m->r_pages += pages + zero;
	m->r_zero += zero;
	return pages ? src_check(m) : 0;
}

int src_dp_fail(struct km_mig_src *m)
{
	return src_fail(m, "%s", *m->dp.err ? m->dp.err : "sending pages failed");
}

/* ----------------------------------------------------------- connect -- */

static int src_connect(struct km_mig_src *m)
{
	char host[256], port[16];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
	uint64_t deadline = vmm_now_ns() + (uint64_t)m->o.connect_timeout_ms * 1000000ULL;
	char last[512] = "", num[INET6_ADDRSTRLEN + 1];
	int r;

	if (km_mig_split_hostport(m->o.to, host, sizeof(host), port, sizeof(port),
				  KM_MIG_DEFAULT_PORT))
		return src_fail(m, "bad destination '%s': expected HOST[:PORT] or [IPV6]:PORT",
				m->o.to);
	for (;;) {
		struct addrinfo *ai = NULL, *a;

		r = getaddrinfo(host, port, &hints, &ai);
		if (r) {
			snprintf(last, sizeof(last), "%s: %s", host, gai_strerror(r));
			ai = NULL;
		}
		for (a = ai; a; a = a->ai_next) {
			int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
					a->ai_protocol);
			struct pollfd p;
			int e = 0;
			socklen_t el = sizeof(e);

			if (fd < 0)
				continue;
			e = km_net_bind_source(fd, a->ai_family, m->o.via, m->o.source_address,
					       last, sizeof(last));
			if (e) {	/* > 0: another family than the source address */
				close(fd);
				if (e > 0)
					continue;
				freeaddrinfo(ai);
				return src_fail(m, "%s", last);
			}
			if (connect(fd, a->ai_addr, a->ai_addrlen) < 0 && errno != EINPROGRESS) {
				e = errno;
			} else {
				p = (struct pollfd){ .fd = fd, .events = POLLOUT };
				if (poll(&p, 1, 3000) != 1)
					e = ETIMEDOUT;
				else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
					e = errno;
			}
			if (!e) {
				int one = 1, sb = SRC_SNDBUF;

				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sb, sizeof(sb));
				if (getnameinfo(a->ai_addr, a->ai_addrlen, num, sizeof(num), NULL, 0,
						NI_NUMERICHOST))
					snprintf(num, sizeof(num), "?");
				pthread_mutex_lock(&m->lock);
				snprintf(m->peer, sizeof(m->peer),
					 a->ai_family == AF_INET6 ? "[%s]:%s" : "%s:%s", num, port);
				pthread_mutex_unlock(&m->lock);
				m->fd = fd;
				freeaddrinfo(ai);
				return 0;
			}
			km_net_connect_msg(last, sizeof(last), host, port, e, m->o.via,
					   m->o.source_address);
			close(fd);
			if (km_net_unreachable(e, m->o.via, m->o.source_address)) {
				freeaddrinfo(ai);
				return src_fail(m, "%s", last);
			}
		}
		if (ai)
			freeaddrinfo(ai);
		if (atomic_load(&m->cancel))
			return src_check(m);
		if (vmm_now_ns() > deadline)
			return src_fail(m, "%s", last);
		usleep(200000);
	}
}

/* The cluster credentials (tls.h), before anything connects; --insecure
 * needs them too. */
int src_tls_load(struct km_mig_src *m)
{
	char err[600];

	if (km_tls_load(m->o.tls_dir, &m->tls, err, sizeof(err)))
		return src_fail(m, "%s", err);
	return 0;
}

/* TLS 1.3 handshake, both certificates verified (the destination's against
 * the --to host or --tls-name), the mode agreed, records to kTLS or, with
 * --insecure, plaintext: before HELLO.  kTLS sockets take no MSG_ZEROCOPY:
 * plain writev for the pages. */
static int src_tls(struct km_mig_src *m)
{
	const char *desc;
	char err[600], subj[256], host[256], port[16];
	/* without kTLS, GnuTLS's records, unless the kernel data path must
	 * send (it writes the pages into the socket itself) */
	bool records = !(m->dp.ops == &km_datapath_kernel &&
			 m->o.datapath == KM_MIG_DP_KERNEL);

	if (!m->tls)
		return src_fail(m, "no TLS credentials");
	src_set(m, "tls");
	if (m->o.tls_name[0])
		snprintf(host, sizeof(host), "%s", m->o.tls_name);
	else if (km_mig_split_hostport(m->o.to, host, sizeof(host), port, sizeof(port),
				       KM_MIG_DEFAULT_PORT))
		return src_fail(m, "bad destination '%s'", m->o.to);
	km_chan_init(&m->ch, m->fd);
	if (km_tls_open(m->tls, m->fd, false, m->o.insecure, records ? KM_TLS_F_RECORDS : 0,
			host, KM_TLS_HANDSHAKE_MS, &m->ch, subj, sizeof(subj), err, sizeof(err))) {
		if (!records && strstr(err, "kernel TLS unavailable"))
			return src_fail(m, "%s: --datapath kernel needs kernel TLS (the module "
					"sends the pages into the socket itself): %s; --datapath "
					"auto or user encrypts with GnuTLS's records instead",
					m->peer, err);
		return src_fail(m, "%s: %s", m->peer, err);
	}
	desc = m->ch.desc;
	if (m->ch.gs && m->dp.ops == &km_datapath_kernel) {
		/* auto: the module cannot send into GnuTLS's records */
		pthread_mutex_lock(&m->dp_lock);
		km_dp_kernel_release(&m->dp);
		m->dp.ops = &km_datapath_user;
		pthread_mutex_unlock(&m->dp_lock);
		pthread_mutex_lock(&m->lock);
		snprintf(m->dp_note, sizeof(m->dp_note), "kernel data path not available (no "
			 "kernel TLS here: the records are GnuTLS's): using the user data path");
		pthread_mutex_unlock(&m->lock);
		fprintf(stderr, "kmigrate: %s: %s\n", m->name, m->dp_note);
	}
	pthread_mutex_lock(&m->lock);
	snprintf(m->tls_desc, sizeof(m->tls_desc), "%s", desc);
	snprintf(m->tls_peer, sizeof(m->tls_peer), "%s", subj);
	pthread_mutex_unlock(&m->lock);
	fprintf(stderr, "kmigrate: %s: %s to %s, authenticated as %s (name %s)\n", m->name, desc,
		m->peer, subj, host);
	return 0;
}

/* ------------------------------------------------------------ thread -- */

static uint64_t src_cpuid_hash(struct vmm_vm *vm)
{
	const struct kvm_cpuid2 *c = vmm_vcpu_cpuid(vmm_vcpu(vm, 0));

	if (!c || !c->nent)
		return 0;
	return XXH64(c->entries, c->nent * sizeof(c->entries[0]), 0);
}

int src_hello(struct km_mig_src *m)
{
	const struct vmm_mem_region *rg;
	unsigned int nr = vmm_mem_regions(m->vm, &rg), i;
	struct kmp_hello h;
	uint8_t buf[KMP_HDR_SIZE + KMP_HELLO_FIXED + KMP_MAX_SLOTS * KMP_SLOT_SIZE];
	uint64_t deadline;
	ssize_t n;
	int r;

	memset(&h, 0, sizeof(h));
	h.version = KMP_VERSION;
	h.page_size = KMP_PAGE_SIZE;
	if (getrandom(h.session, sizeof(h.session), 0) != sizeof(h.session)) {
		uint64_t t = vmm_realtime_ns() ^ (uint64_t)getpid();

		memcpy(h.session, &t, sizeof(t));
	}
	h.mem_size = vmm_ram_size(m->vm);
	h.nr_vcpus = vmm_nr_vcpus(m->vm);
	h.nr_slots = nr;
	h.cpuid_hash = src_cpuid_hash(m->vm);
	/* RESUMED after COMMIT; the check of the workload's memory when asked
	 * (a kernel guest's memory has no known contents) */
	h.features_optional = KMP_FO_RESUMED | KMP_FO_RESUMED_EXT |
			      (m->o.verify && m->o.workload ? KMP_FO_VERIFY : 0);
	/* an aborted switch-over goes back to live rounds (tests: an older
	 * source without it) */
	if (!getenv("KMIGRATE_NO_SWITCHBACK"))
		h.features_optional |= KMP_FO_SWITCHBACK;
	snprintf(h.name, sizeof(h.name), "%s", m->name);
	/* PROFILE (preflight.h) for every guest, host model included: the
	 * destination compares the CPUID features one by one */
	h.features_required = KMP_FR_PROFILE | (m->o.check_only ? KMP_FR_CHECK : 0);
	/* SPARSE: what the guest holds (for the destination's memory check),
	 * never-touched memory as HOLE ranges */
	m->pop_before = km_pop_bytes(vmm_ram_fd(m->vm), 0, vmm_ram_size(m->vm));
	m->rss_before = km_pop_rss_shmem();
	if (m->sparse && m->pop_before >= 0)
		h.features_required |= KMP_FR_SPARSE;
	m->sparse = h.features_required & KMP_FR_SPARSE;
	if (m->o.board)
		h.features_required |= KMP_FR_BOARD;
	for (i = 0; i < nr && i < KMP_MAX_SLOTS; i++) {
		h.slots[i].gpa = rg[i].gpa;
		h.slots[i].size = rg[i].size;
	}
	n = kmp_enc_hello(&m->enc, buf, sizeof(buf), &h);
	if (n < 0)
		return src_enc_err(m, n, "HELLO");
	if (getenv("KMIGRATE_TEST_HELLO_VERSION")) {	/* tests only: a "newer" source */
		uint32_t tv = htole32((uint32_t)atoi(getenv("KMIGRATE_TEST_HELLO_VERSION")));

		memcpy(buf + KMP_HDR_SIZE + 8, &tv, sizeof(tv));
	}
	m->hello_sent = true;
	if (src_send(m, buf, (size_t)n))
		return -1;
	if (h.features_required & KMP_FR_PROFILE) {
		struct kmp_profile pr;
		uint8_t pbuf[KMP_HDR_SIZE + KMP_PROFILE_FIXED + KMP_MAX_CPUID * KMP_CPUID_ENT_SIZE];

		km_pf_profile(m->vm, km_pf_source_module_abi(m->dp.ops == &km_datapath_kernel),
			      &pr);
		if (m->sparse)
			pr.mem_populated = (uint64_t)m->pop_before & ~(uint64_t)(KMP_PAGE_SIZE - 1);
		n = kmp_enc_profile(&m->enc, pbuf, sizeof(pbuf), &pr);
		if (n < 0)
			return src_enc_err(m, n, "PROFILE");
		if (src_send(m, pbuf, (size_t)n))
			return -1;
	}
	if (h.features_required & KMP_FR_BOARD) {	/* MACHINE (machine.h) */
		struct kmp_machine *mc = calloc(1, sizeof(*mc));
		uint8_t *mbuf = malloc(KMP_HDR_SIZE + KMP_MAX_DEVICES * KMP_DEV_SIZE);
		char why[300];

		if (!mc || !mbuf) {
			free(mc);
			free(mbuf);
			return src_fail(m, "out of memory");
		}
		if (km_machine_describe(m->vm, m->o.linux_board, mc, why, sizeof(why))) {
			free(mc);
			free(mbuf);
			return src_fail(m, "describing the guest's devices: %s", why);
		}
		n = kmp_enc_machine(&m->enc, mbuf, KMP_HDR_SIZE + KMP_MAX_DEVICES * KMP_DEV_SIZE, mc);
		free(mc);
		if (n < 0) {
			free(mbuf);
			return src_enc_err(m, n, "MACHINE");
		}
		r = src_send(m, mbuf, (size_t)n);
		free(mbuf);
		if (r)
			return -1;
	}
	kmp_dec_set_required(m->dec, h.features_required);
	deadline = vmm_now_ns() + 30000000000ULL;	/* the destination creates the VM */
	while (!m->got_accept) {
		if (src_wait(m, 0, 100))
			return -1;
		if (vmm_now_ns() > deadline)
			return src_fail(m, "no ACCEPT from %s within 30 s", m->peer);
	}
	if (memcmp(m->accept.session, h.session, sizeof(h.session)))
		return src_fail(m, "ACCEPT from %s echoes another session", m->peer);
	if (m->accept.features & ~h.features_optional)
		return src_fail(m, "ACCEPT from %s uses features 0x%" PRIx64 " not offered",
				m->peer, (uint64_t)(m->accept.features & ~h.features_optional));
	kmp_enc_set_features(&m->enc, m->accept.features);
	m->can_abort = m->accept.features & KMP_FO_SWITCHBACK;
	return 0;
}

void src_dp_down(struct km_mig_src *m)
{
	uint64_t t0 = vmm_now_ns();
	bool was_up = m->dp_up;

	pthread_mutex_lock(&m->dp_lock);
	if (m->dp_up && m->dp.ops->end)
		m->dp.ops->end(&m->dp, m->completed ? 0 :
			       atomic_load(&m->cancel) ? ECANCELED : EIO);
	if (m->dp_up || m->dp.priv)	/* also a kernel session init never took */
		m->dp.ops->fini(&m->dp);
	m->dp_up = false;
	pthread_mutex_unlock(&m->dp_lock);
	pthread_mutex_lock(&m->lock);
	m->zc = m->dp.zc;
	m->ks = m->dp.ks;
	pthread_mutex_unlock(&m->lock);
	if (was_up && vmm_now_ns() - t0 > 200000000ULL)
		fprintf(stderr, "kmigrate: %s: stopping the %s data path took %" PRIu64 " ms\n",
			m->name, m->dp.ops->name, (vmm_now_ns() - t0) / 1000000);
}

/* Brings the data path up; auto: the user one when the kernel's fails. */
int src_dp_up(struct km_mig_src *m)
{
	int r;

	m->dp.env = (struct km_dp_env){ .vm = m->vm, .fd = m->fd, .enc = &m->enc, .opaque = m,
					.writev = src_dp_writev, .sent = src_dp_sent,
					.writev_tx = src_dp_writev_tx,
					.account = src_dp_account,
					.bandwidth = m->o.bandwidth,
					.stall_ms = SRC_STALL_MS,
					.zerocopy = m->o.zerocopy && !m->ch.gs,
					.zc_off = m->ch.gs ? "not offered with GnuTLS records (no "
						  "kTLS: encrypted in user space)" : NULL };
	r = m->dp.ops->init(&m->dp);
	if (r && m->dp.ops == &km_datapath_kernel && m->o.datapath == KM_MIG_DP_AUTO) {
		char why[200];

		snprintf(why, sizeof(why), "%s", *m->dp.err ? m->dp.err : strerror(-r));
		m->dp.ops->fini(&m->dp);
		pthread_mutex_lock(&m->lock);
		snprintf(m->dp_note, sizeof(m->dp_note), "kernel data path failed to start (%s): "
			 "using the user data path", why);
		m->dp.ops = &km_datapath_user;
		pthread_mutex_unlock(&m->lock);
		fprintf(stderr, "kmigrate: %s: %s\n", m->name, m->dp_note);
		m->dp.err[0] = 0;
		r = m->dp.ops->init(&m->dp);
	}
	if (r) {
		src_fail(m, "starting the %s data path: %s", m->dp.ops->name,
			 *m->dp.err ? m->dp.err : strerror(-r));
		pthread_mutex_lock(&m->dp_lock);
		if (m->dp.priv)
			m->dp.ops->fini(&m->dp);
		pthread_mutex_unlock(&m->dp_lock);
		return -1;
	}
	pthread_mutex_lock(&m->dp_lock);
	m->dp_up = true;
	pthread_mutex_unlock(&m->dp_lock);
	fprintf(stderr, "kmigrate: %s: %s data path (%s dirty tracking)\n", m->name,
		m->dp.ops->name, vmm_dirty_mode_name(vmm_dirty_mode(m->vm)));
	return 0;
}

/* Connects to the destination, TLS handshake, a fresh decoder and encoder. */
int src_open(struct km_mig_src *m)
{
	src_set(m, "connecting");
	if (src_connect(m) || src_tls(m))
		return -1;
	m->dec = kmp_dec_new(KMP_DIR_DEST, &src_dec_ops, m);
	if (!m->dec)
		return src_fail(m, "out of memory");
	kmp_enc_init(&m->enc, KMP_DIR_SOURCE);
	src_set(m, "handshake");
	return 0;
}

/*
 * A destination older than the feature SPARSE refuses the HELLO with
 * FEATURE: connect again and send HELLO without it (holes then go as ZERO
 * gfns).  0 when the second HELLO was accepted; -1 otherwise.
 */
int src_retry_plain(struct km_mig_src *m)
{
	/* a destination that knows BOARD knows SPARSE: it is BOARD it lacks */
	if (m->o.board && m->got_error && m->peer_err.code == KMP_E_FEATURE) {
		pthread_mutex_lock(&m->lock);
		m->error[0] = 0;
		pthread_mutex_unlock(&m->lock);
		return src_fail(m, "%s cannot take this guest: its kmigrate does not know the "
				"feature BOARD (a Linux guest and its devices; it said: %s): update "
				"kmigrate there", m->peer, m->peer_err.msg);
	}
	if (!m->sparse || !m->got_error || m->peer_err.code != KMP_E_FEATURE ||
	    atomic_load(&m->cancel))
		return -1;
	fprintf(stderr, "kmigrate: %s: %s does not know the feature SPARSE (%s): connecting "
		"again without it\n", m->name, m->peer, m->peer_err.msg);
	close(m->fd);
	m->fd = -1;
	kmp_dec_free(m->dec);
	m->dec = NULL;
	m->sparse = m->got_error = m->got_accept = m->hello_sent = false;
	pthread_mutex_lock(&m->lock);
	m->error[0] = 0;
	pthread_mutex_unlock(&m->lock);
	return src_open(m) ? -1 : src_hello(m);
}
