// SPDX-License-Identifier: GPL-2.0
/*
 * The source side of a live migration, in a thread of the VM's process.
 * See source.h, source_int.h (which file does what) and docs/PROTOCOL.md.
 *
 * Downtime (downtime_ms in the result) is measured on the source: from the
 * moment the guest is paused for the stop-and-copy round to the moment
 * READY arrives (the destination has every page and the state loaded).
 * It does not include the COMMIT's trip and the destination's resume, nor
 * the destination's optional verification (which runs after COMMIT); the
 * guest's own view of its pause is in the destination's `info`
 * (max_pause_us, reset just before the pause).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "datapath.h"
#include "populated.h"
#include "source_int.h"
#include "throttle.h"

void km_mig_opts_default(struct km_mig_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->downtime_ms = KM_MIG_DEFAULT_DOWNTIME_MS;
	o->max_rounds = KM_MIG_DEFAULT_MAX_ROUNDS;
	o->connect_timeout_ms = 10000;
	o->ready_timeout_ms = 10000;
	o->verify = true;
	o->workload = true;
	o->zerocopy = true;
	o->datapath = KM_MIG_DP_AUTO;
	o->throttle_floor_pct = KMT_DEFAULT_FLOOR_PCT;
	o->switchover_retries = KM_MIG_DEFAULT_RETRIES;
}

static const char *const src_dp_names[] = {
	[KM_MIG_DP_AUTO] = "auto",
	[KM_MIG_DP_KERNEL] = "kernel",
	[KM_MIG_DP_USER] = "user",
};

int km_mig_datapath_parse(const char *s, enum km_mig_datapath *out)
{
	unsigned int i;

	for (i = 0; s && i < sizeof(src_dp_names) / sizeof(src_dp_names[0]); i++) {
		if (!strcmp(s, src_dp_names[i])) {
			*out = (enum km_mig_datapath)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *km_mig_datapath_name(enum km_mig_datapath d)
{
	return (unsigned int)d < sizeof(src_dp_names) / sizeof(src_dp_names[0]) ?
	       src_dp_names[d] : "?";
}

int km_mig_split_hostport(const char *s, char *host, size_t hlen, char *port,
			  size_t plen, unsigned int def_port)
{
	const char *colon, *p = NULL;
	size_t n;

	if (!s || !*s)
		return -EINVAL;
	if (*s == '[') {
		const char *e = strchr(s, ']');

		if (!e || e == s + 1)
			return -EINVAL;
		n = (size_t)(e - s - 1);
		if (e[1] == ':')
			p = e + 2;
		else if (e[1])
			return -EINVAL;
		s++;
	} else {
		colon = strchr(s, ':');
		if (colon && strchr(colon + 1, ':')) {	/* bare v6 literal */
			n = strlen(s);
		} else if (colon) {
			n = (size_t)(colon - s);
			p = colon + 1;
		} else {
			n = strlen(s);
		}
	}
	if (!n || n >= hlen)
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = 0;
	if (p) {
		char *end;
		unsigned long v = strtoul(p, &end, 10);

		if (!*p || *end || v == 0 || v > 65535)
			return -EINVAL;
		snprintf(port, plen, "%lu", v);
	} else {
		snprintf(port, plen, "%u", def_port);
	}
	return 0;
}

static int src_run(struct km_mig_src *m)
{
	uint64_t dirty = 0;
	uint32_t round = 0;
	int r;

	src_set(m, "connecting");
	if (src_tls_load(m) || src_open(m))
		return -1;
	m->t_hello_ns = vmm_now_ns();
	if (src_hello(m) && src_retry_plain(m))
		return -1;
	m->t_hello_ns = vmm_now_ns() - m->t_hello_ns;
	if (m->o.check_only) {	/* ACCEPT: every pre-flight check passed */
		pthread_mutex_lock(&m->lock);
		m->result = "passed";
		pthread_mutex_unlock(&m->lock);
		return 0;
	}

	r = vmm_dirty_bitmap_init(m->vm, &m->bm);
	if (r)
		return src_fail(m, "dirty bitmap: %s", strerror(-r));
	src_ring_waits(m, m->rf_base_exits, m->rf_base_wait_ns);
	if (src_dp_up(m))
		return -1;
	/* re-arm everything: from here on every write shows in a harvest */
	if (src_harvest(m, &dirty, 0))
		return -1;
	vmm_dirty_bitmap_clear(&m->bm);
	if (src_rounds(m, &round, false))
		return -1;
	for (;;) {
		r = src_switchover(m, round);
		if (r <= 0)
			return r;
		/* aborted: the guest runs here again; live rounds, then again */
		round++;
		if (m->sw_aborts > m->o.switchover_retries)
			return src_fail(m, "the switch-over ran past the %" PRIu64 " ms limit %u "
					"times (aborted each time, the guest kept running here): "
					"the link is slower than the rounds measured; raise "
					"--downtime-limit or --switchover-retries",
					(uint64_t)m->o.downtime_ms, m->sw_aborts);
		if (src_rounds(m, &round, true))
			return -1;
	}
}

static void *src_thread(void *arg)
{
	struct km_mig_src *m = arg;
	int r = src_run(m);

	if (r && !m->completed) {
		/* give the guest back */
		if (m->fd >= 0 && m->hello_sent && !m->partial && !m->dp.broken) {
			uint8_t buf[KMP_HDR_SIZE + KMP_ERROR_FIXED + KMP_MAX_MSG];
			ssize_t n = kmp_enc_abort(&m->enc, buf, sizeof(buf),
						  atomic_load(&m->cancel) ? KMP_E_ABORTED :
						  KMP_E_REFUSED, m->error);

			if (n > 0 && km_chan_send(&m->ch, buf, (size_t)n,
						  MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
				/* the connection is gone: the destination discards */
			}
		}
		vmm_throttle_clear(m->vm);	/* full speed before it runs on */
		if (m->paused)
			vmm_resume(m->vm);
		m->paused = false;
	}
	src_dp_down(m);
	if (m->fd >= 0) {
		km_chan_free(&m->ch);
		if (m->completed)
			shutdown(m->fd, SHUT_WR);
		close(m->fd);
		m->fd = -1;
	}
	pthread_mutex_lock(&m->lock);
	m->t_end = vmm_now_ns();
	if (!m->result)
		m->result = m->completed ? "completed" : "failed";
	if (m->completed)
		m->error[0] = 0;
	pthread_mutex_unlock(&m->lock);
	fprintf(stderr, "kmigrate: %s: migration to %s %s%s%s\n", m->name, m->o.to, m->result,
		*m->error ? ": " : "", m->error);
	atomic_store(&m->done, true);
	return NULL;
}

int km_mig_src_start(struct vmm_vm *vm, const char *name, const struct km_mig_opts *o,
		     struct km_mig_src **out, char *err, size_t errlen)
{
	struct km_mig_src *m = calloc(1, sizeof(*m));
	int r;

	if (!m) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	m->vm = vm;
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->o = *o;
	m->fd = -1;
	km_chan_init(&m->ch, -1);
	m->phase = "starting";
	m->dp.ops = &km_datapath_user;
	if (o->datapath != KM_MIG_DP_USER) {
		char why[200];
		int fd = km_dp_kernel_open(vm, why, sizeof(why));

		if (fd < 0 && o->datapath == KM_MIG_DP_KERNEL) {
			snprintf(err, errlen, "--datapath kernel: the kernel data path is not "
				 "available: %s", why);
			free(m);
			return fd;
		}
		if (fd < 0) {
			snprintf(m->dp_note, sizeof(m->dp_note), "kernel data path not available "
				 "(%s): using the user data path", why);
			fprintf(stderr, "kmigrate: %s: %s\n", name, m->dp_note);
		} else if (km_dp_kernel_adopt(&m->dp, fd)) {
			km_dp_kernel_close(fd);
			snprintf(err, errlen, "out of memory");
			free(m);
			return -ENOMEM;
		} else {
			m->dp.ops = &km_datapath_kernel;
		}
	}
	m->guest_pages = vmm_ram_size(vm) / KMP_PAGE_SIZE;
	m->pop_before = m->pop_after = -1;
	m->sparse = !getenv("KMIGRATE_NO_SPARSE");	/* tests: an older source */
	m->t_start = vmm_now_ns();
	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->dp_lock, NULL);
	r = pthread_create(&m->thr, NULL, src_thread, m);
	if (r) {
		snprintf(err, errlen, "starting the migration thread: %s", strerror(r));
		if (m->dp.priv)
			m->dp.ops->fini(&m->dp);
		pthread_mutex_destroy(&m->lock);
		pthread_mutex_destroy(&m->dp_lock);
		free(m);
		return -r;
	}
	*out = m;
	return 0;
}

bool km_mig_src_done(struct km_mig_src *m)
{
	return atomic_load(&m->done);
}

bool km_mig_src_committed(struct km_mig_src *m)
{
	return atomic_load(&m->committed);
}

bool km_mig_src_completed(struct km_mig_src *m)
{
	return atomic_load(&m->done) && m->completed;
}

int km_mig_src_set_bandwidth(struct km_mig_src *m, uint64_t bytes_per_sec, char *err,
			     size_t errlen)
{
	int r = 0;

	if (atomic_load(&m->done) || atomic_load(&m->committed)) {
		snprintf(err, errlen, "no migration running");
		return -ESRCH;
	}
	pthread_mutex_lock(&m->dp_lock);
	if (m->dp_up && m->dp.ops->set_bandwidth) {
		r = m->dp.ops->set_bandwidth(&m->dp, bytes_per_sec);
		if (r)
			snprintf(err, errlen, "KMIGRATE_SET_BANDWIDTH: %s", strerror(-r));
	}
	if (!r) {
		/* the source's pacing (its own records; all of them on the user
		 * path) and, from the next round, the model */
		__atomic_store_n(&m->o.bandwidth, bytes_per_sec, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&m->dp_lock);
	return r;
}

int km_mig_src_set_downtime(struct km_mig_src *m, uint64_t ms, char *err, size_t errlen)
{
	if (!ms || ms > KM_MIG_MAX_DOWNTIME_MS) {
		snprintf(err, errlen, "downtime limit %" PRIu64 " ms: expected 1..%u", ms,
			 KM_MIG_MAX_DOWNTIME_MS);
		return -EINVAL;
	}
	if (atomic_load(&m->done) || atomic_load(&m->committed)) {
		snprintf(err, errlen, "no migration running");
		return -ESRCH;
	}
	/* the rounds read it before each decision (source_rounds.c) */
	__atomic_store_n(&m->o.downtime_ms, ms, __ATOMIC_RELAXED);
	return 0;
}

void km_mig_src_cancel(struct km_mig_src *m)
{
	atomic_store(&m->cancel_ns, vmm_now_ns());
	atomic_store(&m->cancel, true);
}

void km_mig_src_free(struct km_mig_src *m)
{
	if (!m)
		return;
	pthread_join(m->thr, NULL);
	kmp_dec_free(m->dec);
	km_tls_free(m->tls);
	vmm_dirty_bitmap_free(&m->bm);
	pthread_mutex_destroy(&m->lock);
	pthread_mutex_destroy(&m->dp_lock);
	free(m);
}
