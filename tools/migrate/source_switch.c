// SPDX-License-Identifier: GPL-2.0
/*
 * The source's switch-over: pause, the final round, the VM and vCPU
 * state, END, READY, COMMIT, and the destination's RESUMED report.
 * See source.h, source_int.h and docs/PROTOCOL.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "populated.h"
#include "source_int.h"

static int src_send_state(struct km_mig_src *m)
{
	unsigned int i, nv = vmm_nr_vcpus(m->vm);
	int r;

	/* the VM, each vCPU and, with BOARD, the devices last */
	for (i = 0; i <= nv + (m->o.board ? 1 : 0); i++) {
		struct vmm_state st = { 0 };
		uint8_t *buf;
		ssize_t n;

		r = i == 0 ? vmm_vm_state_save(m->vm, &st) :
		    i <= nv ? vmm_vcpu_state_save(vmm_vcpu(m->vm, i - 1), &st) :
			      vmm_dev_state_save(m->vm, &st);
		if (r) {
			vmm_state_free(&st);
			return src_fail(m, "saving the %s state: %s", !i ? "VM" : i <= nv ?
					"vCPU" : "devices'", strerror(-r));
		}
		buf = malloc(KMP_HDR_SIZE + st.size);
		if (!buf) {
			vmm_state_free(&st);
			return src_fail(m, "out of memory");
		}
		n = kmp_enc_vcpu_state(&m->enc, buf, KMP_HDR_SIZE + st.size, st.buf,
				       (uint32_t)st.size);
		m->state_bytes += st.size;
		vmm_state_free(&st);
		r = n < 0 ? src_enc_err(m, n, "VCPU_STATE") : src_send(m, buf, (size_t)n);
		free(buf);
		if (r)
			return -1;
	}
	return 0;
}

/*
 * After COMMIT (the guest is the destination's): wait a short while for
 * RESUMED, what the destination saw when it resumed the guest.  Nothing
 * here can fail the migration; a missing RESUMED leaves the numbers unknown.
 */
static void src_wait_resumed(struct km_mig_src *m, bool commit_sent)
{
	uint64_t deadline = vmm_now_ns() + SRC_RESUMED_MS * 1000000ULL;
	char why[160] = "";
	uint8_t buf[512];

	if (!commit_sent)
		snprintf(why, sizeof(why), "COMMIT could not be sent: %.120s", m->error);
	else if (!(m->accept.features & KMP_FO_RESUMED))
		snprintf(why, sizeof(why), "the destination does not send RESUMED (an older "
			 "kmigrate listen)");
	while (!*why && !m->got_resumed) {
		struct pollfd p = { .fd = m->fd, .events = POLLIN, .revents = POLLIN };
		uint64_t now = vmm_now_ns();
		ssize_t n;
		int r;

		if (now >= deadline) {
			snprintf(why, sizeof(why), "no RESUMED from the destination within %d s",
				 SRC_RESUMED_MS / 1000);
			break;
		}
		if (atomic_load(&m->cancel)) {
			snprintf(why, sizeof(why), "stopped waiting for RESUMED");
			break;
		}
		/* decrypted bytes GnuTLS holds: poll() cannot see them */
		r = km_chan_pending(&m->ch) ? 1 :
		    poll(&p, 1, (deadline - now) / 1000000 > 100 ? 100 :
			 (int)((deadline - now) / 1000000) + 1);
		if (r <= 0)
			continue;
		n = km_chan_recv(&m->ch, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n <= 0) {
			snprintf(why, sizeof(why), "the destination closed the connection without "
				 "RESUMED%s%s", n ? ": " : "", n ? strerror(errno) : "");
			break;
		}
		if (kmp_dec_feed(m->dec, buf, (size_t)n) != KMP_OK)
			snprintf(why, sizeof(why), "bad RESUMED: %s", kmp_dec_error(m->dec));
		else if (m->got_error)
			snprintf(why, sizeof(why), "the destination reported after COMMIT: %.80s (%s)",
				 m->peer_err.msg[0] ? m->peer_err.msg : "-",
				 kmp_strerror(m->peer_err.code));
	}
	if (*why) {
		pthread_mutex_lock(&m->lock);
		snprintf(m->resumed_note, sizeof(m->resumed_note), "%s", why);
		pthread_mutex_unlock(&m->lock);
		fprintf(stderr, "kmigrate: %s: warning: %s; pages_verified and guest_downtime_ms "
			"are unknown\n", m->name, why);
		return;
	}
	fprintf(stderr, "kmigrate: %s: RESUMED: verified %s%" PRIu64 " pages (%" PRIu64
		" bad), guest-observed pause %s%.1f ms\n", m->name,
		m->resumed.valid & KMP_RSM_VERIFIED ? "" : "(n/a) ", m->resumed.pages_verified,
		m->resumed.pages_bad, m->resumed.valid & KMP_RSM_PAUSE ? "" : "(n/a) ",
		m->resumed.guest_pause_us / 1e3);
}

int src_switchover(struct km_mig_src *m, uint32_t round)
{
	uint64_t dirty = 0, t_pause, t_ready;
	uint8_t buf[128];
	ssize_t n;
	int r;

	/* stop and copy */
	src_set(m, "stop-copy");
	/*
	 * A throttle stays on until the guest is paused: released earlier, a
	 * heavy writer at full speed for the last 20 ms dirties far more than
	 * the decision counted on (the lab's 6.12 faults suite: 321 ms of
	 * downtime against a 300 ms limit).  So a throttle sleep of the last
	 * 20 ms may show in the workload guest's own pause record; the pause
	 * itself parks a sleeping vCPU within a millisecond.
	 */
	vmm_wl_reset_gaps(m->vm);	/* the guest's max pause from here: the move's */
	usleep(20000);
	if (src_check(m))
		return -1;
	{
		uint64_t e[VMM_MAX_VCPUS], w[VMM_MAX_VCPUS];
		unsigned int i;

		src_ring_waits(m, e, w);
		pthread_mutex_lock(&m->lock);
		for (i = 0; i < vmm_nr_vcpus(m->vm) && i < VMM_MAX_VCPUS; i++) {
			m->rf_exits[i] = e[i] - m->rf_exits[i];
			m->rf_wait_ns[i] = w[i] - m->rf_wait_ns[i];
		}
		m->rf_n = i;
		pthread_mutex_unlock(&m->lock);
	}
	t_pause = vmm_now_ns();
	r = vmm_pause(m->vm);
	if (r)
		return src_fail(m, "pausing the guest: %s", strerror(-r));
	m->paused = true;
	m->d_paused = vmm_now_ns() - t_pause;
	/* paused: unthrottled wherever the guest runs on (here after a failure) */
	vmm_throttle_clear(m->vm);
	/* the devices finish what is in flight: their last writes to guest
	 * memory are in the final round, their state saved below is final */
	if (m->o.board && (r = vmm_dev_state_quiesce(m->vm)))
		return src_fail(m, "quiescing the devices: %s", strerror(-r));
	if (src_harvest(m, &dirty, round + 1))
		return -1;
	m->d_harvest = vmm_now_ns() - t_pause;
	m->final_pages = dirty;
	round++;
	if (src_round(m, round, true, dirty) || src_send_dirty(m))
		return -1;
	m->d_pages = vmm_now_ns() - t_pause;
	if (src_send_state(m))
		return -1;
	m->d_state = vmm_now_ns() - t_pause;
	n = kmp_enc_end(&m->enc, buf, sizeof(buf));
	if (n < 0)
		return src_enc_err(m, n, "END");
	if (src_send(m, buf, (size_t)n))
		return -1;
	m->d_end = vmm_now_ns() - t_pause;
	pthread_mutex_lock(&m->lock);
	m->pause_to_final_ns = vmm_now_ns() - t_pause;
	m->remaining = 0;
	m->phase = "handoff";
	pthread_mutex_unlock(&m->lock);
	while (!m->got_ready) {
		if (src_wait(m, 0, 20))
			return -1;
		if (vmm_now_ns() - t_pause > (uint64_t)m->o.ready_timeout_ms * 1000000ULL)
			return src_fail(m, "no READY from %s within %u ms", m->peer,
					m->o.ready_timeout_ms);
	}
	t_ready = vmm_now_ns();
	m->d_ready = t_ready - t_pause;
	pthread_mutex_lock(&m->lock);
	m->pop_after = km_pop_bytes(vmm_ram_fd(m->vm), 0, vmm_ram_size(m->vm));
	m->rss_after = km_pop_rss_shmem();
	pthread_mutex_unlock(&m->lock);
	fprintf(stderr, "kmigrate: %s: stop-and-copy: paused in %.1f ms, harvest %.1f ms, %" PRIu64
		" final pages %.1f ms, state %.1f ms, END %.1f ms, READY after %.1f ms: downtime "
		"%.1f ms\n", m->name, m->d_paused / 1e6, (m->d_harvest - m->d_paused) / 1e6,
		m->final_pages, (m->d_pages - m->d_harvest) / 1e6, (m->d_state - m->d_pages) / 1e6,
		(m->d_end - m->d_state) / 1e6, (m->d_ready - m->d_end) / 1e6, m->d_ready / 1e6);
	if (m->ready.digest != m->enc.sum.digest)
		return src_fail(m, "READY from %s confirms another digest (%#" PRIx64
				" != %#" PRIx64 ")", m->peer, m->ready.digest, m->enc.sum.digest);
	if (atomic_load(&m->cancel))
		return src_check(m);
	n = kmp_enc_commit(&m->enc, buf, sizeof(buf));
	if (n < 0)
		return src_enc_err(m, n, "COMMIT");
	/* past this point the guest never runs here again: its disks are
	 * closed (their locks dropped) first, so the destination, which opens
	 * them on COMMIT, is their only writer from then on */
	if (m->o.board)
		vmm_disks_close(m->vm);
	m->completed = true;
	r = src_send(m, buf, (size_t)n);
	if (r)
		fprintf(stderr, "kmigrate: %s: sending COMMIT: %s; the destination decides "
			"(the guest does not run here again)\n", m->name, m->error);
	m->d_commit = vmm_now_ns() - t_pause;
	{	/* COMMIT's trip, for the guest's pause end to end (half of it) */
		struct tcp_info ti;
		socklen_t len = sizeof(ti);

		if (!r && getsockopt(m->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0)
			m->commit_rtt_us = ti.tcpi_rtt;
	}
	/* release our copy: no more dirty tracking; the owner stops the VM */
	src_dp_down(m);
	pthread_mutex_lock(&m->lock);
	m->downtime_ns = t_ready - t_pause;
	m->dest_pages = m->ready.pages;
	m->phase = "resumed-report";
	pthread_mutex_unlock(&m->lock);
	atomic_store(&m->committed, true);
	src_wait_resumed(m, r == 0);
	src_set(m, "done");
	return 0;
}
