// SPDX-License-Identifier: GPL-2.0
/* The destination side of a live migration; see dest.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cpumodel.h"
#include "ctl.h"
#include "dest.h"
#include "dest_guest.h"
#include "dest_record.h"
#include "error.h"
#include "exitcode.h"
#include "inlimit.h"
#include "machine.h"
#include "populated.h"
#include "preflight.h"
#include "proto.h"
#include "slots.h"
#include "tls.h"
#include "vmhost.h"
#include "vmm.h"

#include "dest_int.h"

#define DST_IDLE_MS	60000	/* nothing from the source for this long: give up */
#define DST_BUF		(1u << 20)

static void dst_notify(struct dst *d, unsigned char status)
{
	int fd = d->o->status_fd;

	if (fd < 0)
		return;
	if (write(fd, &status, 1) != 1) {
		/* the listener is gone */
	}
}

/* The control socket while the guest comes in: info only. */
static struct json_object *dst_ctl(const char *cmd, struct json_object *req, void *opaque,
				   char *err, size_t errlen)
{
	struct dst *d = opaque;
	struct json_object *r;

	(void)req;
	if (strcmp(cmd, "info")) {
		snprintf(err, errlen, "'%s' is being migrated in: only 'info' until it runs here",
			 d->name);
		return NULL;
	}
	r = json_object_new_object();
	if (!r)
		return NULL;
	json_object_object_add(r, "name", json_object_new_string(d->name));
	json_object_object_add(r, "pid", json_object_new_int64(getpid()));
	json_object_object_add(r, "state", json_object_new_string(d->ready ? "handoff" : "incoming"));
	json_object_object_add(r, "origin", json_object_new_string("migrating"));
	json_object_object_add(r, "from", json_object_new_string(d->o->peer));
	json_object_object_add(r, "memory", json_object_new_int64(d->vm ?
			       (int64_t)vmm_ram_size(d->vm) : 0));
	json_object_object_add(r, "vcpus", json_object_new_int64(d->nr_vcpus));
	json_object_object_add(r, "dirty_mode", json_object_new_string(d->vm ?
			       vmm_dirty_mode_name(vmm_dirty_mode(d->vm)) : "-"));
	json_object_object_add(r, "workload", json_object_new_string("-"));
	json_object_object_add(r, "received_pages", json_object_new_int64((int64_t)d->pages));
	json_object_object_add(r, "received_zero_pages", json_object_new_int64((int64_t)d->zero));
	/* switch-overs the source aborted: the guest runs there, not here */
	json_object_object_add(r, "switchbacks", json_object_new_int64(d->switchbacks));
	json_object_object_add(r, "running", json_object_new_boolean(false));
	return r;
}

/* Receives the stream until COMMIT or failure; 0 on COMMIT. */
static int dst_receive(struct dst *d, int sfd)
{
	uint8_t *buf = malloc(DST_BUF);
	int ret = -1, rec = km_dest_record_open();

	if (!buf) {
		snprintf(d->err, sizeof(d->err), "out of memory");
		return -1;
	}
	while (!d->commit && !d->aborted && !d->checked) {
		struct pollfd p[3 + KM_CTL_MAX_CLIENTS] = {
			{ .fd = d->fd, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
		};
		unsigned int nc = d->srv_open ? km_ctl_server_pollfds(&d->srv, p + 2) : 0;
		/* decrypted bytes GnuTLS holds: poll() cannot see them */
		bool pending = km_chan_pending(d->ch) > 0;
		int r = poll(p, 2 + nc, pending ? 0 : DST_IDLE_MS);
		ssize_t n;

		if (r < 0 && errno == EINTR)
			continue;
		if (pending && r >= 0)
			p[0].revents |= POLLIN;
		else if (r == 0) {
			dst_error(d, KMP_E_TRUNCATED, "nothing from the source for %d s",
				  DST_IDLE_MS / 1000);
			break;
		}
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si))
				dst_error(d, KMP_E_ABORTED, "interrupted by %s",
					  strsignal(si.ssi_signo));
			break;
		}
		if (nc && r > 0)
			km_ctl_server_serve(&d->srv, p + 2, nc, dst_ctl, d);
		if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = km_chan_recv(d->ch, buf, DST_BUF, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(d->err, sizeof(d->err), "connection lost before COMMIT: %s",
				 strerror(errno));
			break;
		}
		if (n == 0) {
			snprintf(d->err, sizeof(d->err), "connection lost before COMMIT%s",
				 d->ready ? " (after READY: the guest runs nowhere; the "
				 "operator decides)" : "");
			break;
		}
		km_dest_record(rec, buf, (size_t)n);
		if (kmp_dec_feed(d->dec, buf, (size_t)n) != KMP_OK) {
			if (!d->err_code)
				d->err_code = (uint32_t)kmp_dec_code(d->dec);
			if (!d->pf_failed)	/* keep the pre-flight lines as they are */
				snprintf(d->err, sizeof(d->err), "%s", kmp_dec_error(d->dec));
			break;
		}
	}
	if (d->commit)
		ret = 0;
	else if (d->aborted)
		snprintf(d->err, sizeof(d->err), "the source aborted: %s (%s)",
			 d->abort.msg[0] ? d->abort.msg : "-", kmp_strerror(d->abort.code));
	if (rec >= 0)
		close(rec);
	free(buf);
	return ret;
}

int km_mig_dest_run(int fd, const struct km_dest_opts *o)
{
	struct dst d;
	struct km_vmhost h;
	sigset_t sigs;
	unsigned int i;
	int sfd, ret = KM_EXIT_FAIL, r;

	memset(&d, 0, sizeof(d));
	d.o = o;
	d.fd = fd;
	km_chan_init(&d.plain, fd);
	d.ch = o->chan ? o->chan : &d.plain;
	d.srv.lock_fd = d.srv.listen_fd = -1;
	km_dest_board_init(&d.brd);
	kmp_enc_init(&d.enc, KMP_DIR_DEST);
	d.dec = kmp_dec_new(KMP_DIR_SOURCE, &dst_ops, &d);

	/* before any vCPU thread exists, so that they inherit the mask */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (!d.dec || sfd < 0) {
		km_err("listen: %s: out of resources", o->peer);
		dst_notify(&d, KM_EXIT_FAIL);
		return KM_EXIT_FAIL;
	}
	kmp_dec_set_max_state(d.dec, KM_DEST_MAX_STATE);

	r = dst_receive(&d, sfd);
	if (d.checked) {	/* a pre-flight check: nothing more comes */
		fprintf(stderr, "kmigrate listen: %s: pre-flight check from %s: every check "
			"passes\n", d.name, o->peer);
		ret = KM_EXIT_OK;
		goto out;
	}
	if (r && d.check_only) {
		uint8_t buf[KMP_HDR_SIZE + KMP_ERROR_FIXED + KMP_MAX_MSG];
		ssize_t n = d.err_code ? kmp_enc_error(&d.enc, buf, sizeof(buf), d.err_code,
						       d.err) : 0;

		if (n > 0)
			dst_send(&d, buf, (size_t)n);
		fprintf(stderr, "kmigrate listen: %s: pre-flight check from %s failed: %s\n",
			d.name, o->peer, *d.err ? d.err : "unknown error");
		goto out;
	}
	if (r) {
		if (d.err_code && !d.ready) {
			uint8_t buf[KMP_HDR_SIZE + KMP_ERROR_FIXED + KMP_MAX_MSG];
			ssize_t n = kmp_enc_error(&d.enc, buf, sizeof(buf), d.err_code, d.err);

			if (n > 0)
				dst_send(&d, buf, (size_t)n);
		}
		fprintf(stderr, "kmigrate listen: %s%s%s from %s failed: %s; the VM is discarded\n",
			*d.name ? "incoming " : "migration", d.name, *d.name ? "" : "",
			o->peer, *d.err ? d.err : "unknown error");
		goto out;
	}

	/* COMMIT: the guest is ours */
	km_in_slot_release();
	struct kmp_resumed rs = { .verify_note = KMP_RSM_N_NOT_ASKED };
	uint64_t t_go;
	bool workload = km_dest_workload(d.vm);

	h.pages_verified = -1;
	km_vmhost_init(&h, d.name, d.vm);
	h.origin = "migrated";
	if (!workload)
		rs.verify_note = rs.pause_note = KMP_RSM_N_NOT_WORKLOAD;
	if (workload && (o->verify || (d.features & KMP_FO_VERIFY))) {
		struct vmm_wl_report rep;
		uint64_t t0 = vmm_now_ns();

		memset(&rep, 0, sizeof(rep));
		r = vmm_wl_verify_fd(vmm_ram(d.vm), vmm_ram_size(d.vm), vmm_ram_fd(d.vm),
				     VMM_WL_VERIFY_QUIET | VMM_WL_VERIFY_REPLAY, &rep, NULL);
		h.pages_verified = (int64_t)rep.pages;
		h.verify_bad = (int64_t)rep.bad;
		h.verify_ms = (vmm_now_ns() - t0) / 1000000;
		rs.valid |= KMP_RSM_VERIFIED;
		rs.verify_note = KMP_RSM_N_NONE;
		rs.pages_verified = rep.pages;
		rs.pages_bad = rep.bad > rep.pages ? rep.pages : rep.bad;
		rs.verify_us = (vmm_now_ns() - t0) / 1000;
		fprintf(stderr, "kmigrate listen: %s: verified %" PRIu64 " pages (%" PRIu64
			" stamped, %" PRIu64 " untouched, %" PRIu64 " in progress, %" PRIu64
			" replayed): %" PRIu64 " bad%s%s, %" PRIu64 " ms\n", d.name, rep.pages,
			rep.stamped, rep.untouched, rep.in_progress, rep.replayed, rep.bad,
			rep.bad ? ": " : "", rep.bad ? rep.first_bad : "", h.verify_ms);
	}
	/* the vCPUs are released now: the guest's first instruction here
	 * follows (a clock read after vmm_start() would also count the time
	 * the new vCPU threads keep this one off a busy host's CPUs) */
	/* the guest is ours: the source closed its disks before COMMIT */
	if (d.board && vmm_disks_open(d.vm, d.err, sizeof(d.err)))
		fprintf(stderr, "kmigrate listen: %s: ERROR: %s: the guest runs, its requests to "
			"that disk fail\n", d.name, d.err);
	km_dest_board_start(&d.brd, d.name, d.srv.sock_path, &h);
	t_go = vmm_now_ns();
	r = vmm_start(d.vm);
	if (r) {
		km_err("listen: %s: starting the migrated guest: %s", d.name, strerror(-r));
		goto out;
	}
	h.start_ns = vmm_now_ns();
	/* the NICs' MACs are behind this host's taps now: tell the bridges
	 * (a thread of its own; nothing to do for a VM without NICs) */
	if (vmm_announce_start(d.vm, NULL))
		fprintf(stderr, "kmigrate listen: %s: announce-self not started (the VM's log "
			"says why); switches learn the MACs when the guest sends\n", d.name);
	fprintf(stderr, "kmigrate listen: %s: migrated in from %s: %" PRIu64 " pages, %" PRIu64
		" zero pages, %" PRIu64 " hole pages, %" PRIu64 " state records; HELLO -> READY %"
		PRIu64 " ms; running (pid %d)\n", d.name, o->peer, d.pages, d.zero, d.hole_pages,
		d.states, (d.t_end - d.t_hello) / 1000000, (int)getpid());
	{	/* the guest's RAM held here (populated.h) */
		int64_t pop = km_pop_bytes(vmm_ram_fd(d.vm), 0, vmm_ram_size(d.vm));
		uint64_t rss = km_pop_rss_shmem();
		char said[64] = "the source did not say (no SPARSE)";

		if (d.sparse)
			snprintf(said, sizeof(said), "the source held %.1f MiB at HELLO",
				 d.populated / 1048576.0);
		fprintf(stderr, "kmigrate listen: %s: memory: guest RAM %" PRIu64 " MiB; populated "
			"(memfd SEEK_DATA) %.1f MiB when created, %.1f MiB after COMMIT; RssShmem "
			"%.1f -> %.1f MiB; %s; zeroed pages: %" PRIu64 " punched, %" PRIu64
			" written\n", d.name, vmm_ram_size(d.vm) >> 20, d.pop_created / 1048576.0,
			pop / 1048576.0, d.rss_created / 1048576.0, rss / 1048576.0,
			said, d.punched, d.zero_written);
		/* for the source's result (KMP_FO_RESUMED_EXT) */
		if ((d.features & KMP_FO_RESUMED_EXT) && d.pop_created >= 0 && pop >= 0) {
			rs.valid |= KMP_RSM_MEMORY;
			rs.mem_populated_created = (uint64_t)d.pop_created;
			rs.mem_populated = (uint64_t)pop;
			rs.mem_rss_created = d.rss_created;
			rs.mem_rss = rss;
		}
	}
	if (d.features & KMP_FO_RESUMED) {
		uint8_t buf[KMP_HDR_SIZE + KMP_RESUMED_EXT_SIZE];
		ssize_t n;

		if (d.features & KMP_FO_RESUMED_EXT) {
			rs.valid |= KMP_RSM_RESUME;
			rs.resume_us = (t_go - d.t_commit) / 1000;
		}
		if (workload)
			km_dest_guest_pause(d.vm, &rs);
		n = kmp_enc_resumed(&d.enc, buf, sizeof(buf), &rs);
		if (n < 0 || dst_send(&d, buf, (size_t)n))
			fprintf(stderr, "kmigrate listen: %s: sending RESUMED failed%s%s\n",
				d.name, n < 0 ? ": " : "", n < 0 ? d.enc.err : "");
		else
			fprintf(stderr, "kmigrate listen: %s: RESUMED sent: guest-observed pause "
				"%s%.1f ms\n", d.name, rs.valid & KMP_RSM_PAUSE ? "" : "(n/a) ",
				rs.guest_pause_us / 1e3);
	}
	km_chan_free(d.ch);
	close(d.fd);
	d.fd = -1;
	km_ctl_redirect_log(d.name, true);
	fprintf(stderr, "kmigrate run: %s: up (migrated in from %s): pid %d, %" PRIu64
		" MiB, %u vCPU(s), dirty %s\n", d.name, o->peer, (int)getpid(),
		vmm_ram_size(d.vm) >> 20, d.nr_vcpus, vmm_dirty_mode_name(vmm_dirty_mode(d.vm)));
	dst_notify(&d, KM_EXIT_OK);
	ret = km_vmhost_serve(&h, &d.srv, sfd);
	km_vmhost_shutdown(&h);
	fprintf(stderr, "kmigrate run: %s: stopped\n", d.name);
out:
	if (d.check_only)	/* `listen --once` waits for a migration */
		dst_notify(&d, KM_DEST_CHECKED);
	else if (ret)
		dst_notify(&d, (unsigned char)ret);
	if (d.vm)
		vmm_vm_destroy(d.vm);
	km_dest_board_free(&d.brd);	/* after the VM: its ports use the board */
	free(d.profile);
	vmm_state_free(&d.devst);
	if (d.srv_open)
		km_ctl_server_close(&d.srv);
	vmm_state_free(&d.vmst);
	for (i = 0; d.vst && i < d.nr_vcpus; i++)
		vmm_state_free(&d.vst[i]);
	free(d.vst);
	kmp_dec_free(d.dec);
	if (d.fd >= 0) {
		km_chan_free(d.ch);
		close(d.fd);
	}
	close(sfd);
	return ret;
}
