// SPDX-License-Identifier: GPL-2.0
/*
 * A running VM served by its control socket: the loop of `kmigrate run`,
 * shared with the destination of a migration (`kmigrate listen`).  See
 * vmhost.h for the requests.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "error.h"
#include "exitcode.h"
#include "guest/wl_abi.h"
#include "netvia.h"
#include "profile_vm.h"
#include "source.h"
#include "tls.h"
#include "vmhost.h"

#define JADD(o, k, v)	json_object_object_add((o), (k), (v))
#define JU64(v)		json_object_new_int64((int64_t)(v))

void km_vmhost_init(struct km_vmhost *h, const char *name, struct vmm_vm *vm)
{
	memset(h, 0, sizeof(*h));
	h->name = name;
	h->vm = vm;
	h->mem = vmm_ram_size(vm);
	h->vcpus = vmm_nr_vcpus(vm);
	h->origin = "started";
	h->pages_verified = -1;
	h->verify_bad = -1;
	h->start_ns = vmm_now_ns();
}

static bool vmhost_migrating(const struct km_vmhost *h)
{
	return h->mig && !km_mig_src_done(h->mig);
}

/* The workload parameters as the guest holds them (a migrated VM). */
static const struct wl_params *vmhost_params(const struct km_vmhost *h)
{
	const struct wl_params *p = vmm_gpa_to_hva(h->vm, WL_PARAMS_GPA, sizeof(*p));

	return p && p->magic == WL_PARAMS_MAGIC ? p : NULL;
}

/* [{"type":"disk","pci_slot":N,"path":P,"read_only":B,"bytes":N,"requests":N,
 *   "interrupts":N} | {"type":"net","pci_slot":N,"tap":T,"bridge":B|null,
 *   "mac":M,"rx_packets":N,"tx_packets":N,"interrupts":N}] */
static struct json_object *vmhost_devices(struct km_vmhost *h)
{
	struct json_object *arr = json_object_new_array();
	struct vmm_dev_info di;
	unsigned int i;
	char mac[18];

	for (i = 0; arr && !vmm_dev_info(h->vm, i, &di); i++) {
		struct json_object *d = json_object_new_object();

		if (!d)
			break;
		JADD(d, "type", json_object_new_string(di.kind == VMM_DEV_DISK ? "disk" : "net"));
		JADD(d, "pci_slot", JU64(di.pci_slot));
		if (di.kind == VMM_DEV_DISK) {
			JADD(d, "path", json_object_new_string(di.path));
			JADD(d, "read_only", json_object_new_boolean(di.ro));
			JADD(d, "bytes", JU64(di.bytes));
			JADD(d, "requests", JU64(di.requests));
		} else {
			snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", di.mac[0],
				 di.mac[1], di.mac[2], di.mac[3], di.mac[4], di.mac[5]);
			JADD(d, "tap", json_object_new_string(di.tap));
			JADD(d, "bridge", di.bridge ? json_object_new_string(di.bridge) : NULL);
			JADD(d, "mac", json_object_new_string(mac));
			JADD(d, "rx_packets", JU64(di.rx_packets));
			JADD(d, "tx_packets", JU64(di.tx_packets));
		}
		JADD(d, "interrupts", JU64(di.interrupts));
		json_object_array_add(arr, d);
	}
	return arr;
}

static struct json_object *vmhost_info(struct km_vmhost *h)
{
	struct json_object *r = json_object_new_object(), *arr = json_object_new_array();
	const struct wl_params *p = vmhost_params(h);
	const char *wl = h->workload;
	uint64_t total = 0, maxgap = 0, rate = h->rate, ws = h->ws_bytes;
	unsigned int i;

	if (!r || !arr) {
		json_object_put(r);
		json_object_put(arr);
		return NULL;
	}
	if (!wl && p) {
		wl = vmm_wl_pattern_name((enum vmm_wl_pattern)p->pattern);
		rate = p->rate;
		ws = p->ws_pages * VMM_PAGE_SIZE;
	}
	for (i = 0; i < h->vcpus && !h->kernel && p; i++) {
		struct vmm_wl_vcpu_status st;
		struct vmm_vcpu_stats vs;
		struct json_object *v = json_object_new_object();

		memset(&st, 0, sizeof(st));
		vmm_wl_status(h->vm, i, &st);
		vmm_vcpu_stats(vmm_vcpu(h->vm, i), &vs);
		total += st.seq;
		if (st.max_gap_us > maxgap)
			maxgap = st.max_gap_us;
		JADD(v, "vcpu", JU64(i));
		JADD(v, "progress", JU64(st.seq));
		JADD(v, "max_pause_us", JU64(st.max_gap_us));
		JADD(v, "stalls", JU64(st.stalls));
		/* KVM_EXIT_DIRTY_RING_FULL: how often, and the waits for a collection */
		JADD(v, "ring_full_exits", JU64(vs.exits_ring_full));
		JADD(v, "ring_full_wait_ms", JU64(vs.ring_full_wait_ns / 1000000));
		JADD(v, "ring_full_wait_longest_us", JU64(vs.ring_full_wait_max_ns / 1000));
		JADD(v, "guest_state", json_object_new_string(
			st.state == 0 ? "init" : st.state == 1 ? "running" :
			st.state == 2 ? "done" : "panic"));
		json_object_array_add(arr, v);
	}
	JADD(r, "name", json_object_new_string(h->name));
	JADD(r, "pid", JU64(getpid()));
	JADD(r, "state", json_object_new_string(h->migrated ? "migrated" :
			 vmhost_migrating(h) ? "migrating" :
			 vmm_paused(h->vm) ? "paused" : "running"));
	JADD(r, "origin", json_object_new_string(h->origin));
	JADD(r, "memory", JU64(h->mem));
	JADD(r, "vcpus", JU64(h->vcpus));
	JADD(r, "dirty_mode", json_object_new_string(vmm_dirty_mode_name(vmm_dirty_mode(h->vm))));
	JADD(r, "ring_entries", vmm_dirty_mode(h->vm) == VMM_DIRTY_RING ?
	     JU64(vmm_dirty_ring_entries(h->vm)) : NULL);
	if (h->kernel) {
		JADD(r, "workload", json_object_new_string("kernel"));
		JADD(r, "kernel", json_object_new_string(h->kernel));
		if (h->linux_guest) {
			JADD(r, "kernel_type", json_object_new_string("linux"));
			JADD(r, "console_log", json_object_new_string(h->console_log ?
								      h->console_log : ""));
		}
		JADD(r, "cmdline", json_object_new_string(h->cmdline ? h->cmdline : ""));
	} else {
		JADD(r, "workload", json_object_new_string(wl ? wl : "unknown"));
		JADD(r, "rate", JU64(rate));
		JADD(r, "working_set", JU64(ws));
	}
	JADD(r, "uptime_ms", JU64((vmm_now_ns() - h->start_ns) / 1000000));
	JADD(r, "pauses", JU64(h->pauses));
	JADD(r, "progress", JU64(total));
	JADD(r, "max_pause_us", JU64(maxgap));
	JADD(r, "failed_vcpus", JU64(vmm_failed_vcpus(h->vm)));
	JADD(r, "pages_verified", h->pages_verified >= 0 ? JU64(h->pages_verified) : NULL);
	JADD(r, "verify_bad", h->verify_bad >= 0 ? JU64(h->verify_bad) : NULL);
	JADD(r, "verify_ms", h->pages_verified >= 0 ? JU64(h->verify_ms) : NULL);
	JADD(r, "vcpus_status", arr);
	JADD(r, "devices", vmhost_devices(h));
	return r;
}

static struct json_object *vmhost_verify(struct km_vmhost *h, struct json_object *req,
					 char *err, size_t errlen)
{
	struct json_object *r, *jr;
	struct vmm_wl_report rep;
	bool was_paused = vmm_paused(h->vm), replay = true;
	uint64_t t0 = vmm_now_ns();
	int ret;

	if (json_object_object_get_ex(req, "replay", &jr))
		replay = json_object_get_boolean(jr);
	if (!was_paused && vmm_pause(h->vm)) {
		snprintf(err, errlen, "could not pause the guest");
		return NULL;
	}
	memset(&rep, 0, sizeof(rep));
	ret = vmm_wl_verify_fd(vmm_ram(h->vm), vmm_ram_size(h->vm), vmm_ram_fd(h->vm),
			       VMM_WL_VERIFY_QUIET | (replay ? VMM_WL_VERIFY_REPLAY : 0),
			    &rep, NULL);
	if (!was_paused)
		vmm_resume(h->vm);
	r = json_object_new_object();
	if (!r)
		return NULL;
	JADD(r, "passed", json_object_new_boolean(ret == 0));
	JADD(r, "replay", json_object_new_boolean(replay));
	JADD(r, "pages", JU64(rep.pages));
	JADD(r, "stamped", JU64(rep.stamped));
	JADD(r, "untouched", JU64(rep.untouched));
	JADD(r, "in_progress", JU64(rep.in_progress));
	JADD(r, "bad", JU64(rep.bad));
	JADD(r, "replayed", JU64(rep.replayed));
	JADD(r, "first_bad", rep.bad ? json_object_new_string(rep.first_bad) : NULL);
	JADD(r, "ms", JU64((vmm_now_ns() - t0) / 1000000));
	return r;
}

static struct json_object *vmhost_state_reply(struct km_vmhost *h)
{
	struct json_object *r = json_object_new_object();

	if (r)
		JADD(r, "state", json_object_new_string(h->stop ? "stopping" :
				 vmm_paused(h->vm) ? "paused" : "running"));
	return r;
}

static int vmhost_get_u64(struct json_object *req, const char *key, uint64_t max,
			  uint64_t *out, char *err, size_t errlen)
{
	struct json_object *j;
	int64_t v;

	if (!json_object_object_get_ex(req, key, &j) || json_object_is_type(j, json_type_null))
		return 0;
	if (!json_object_is_type(j, json_type_int) || (v = json_object_get_int64(j)) < 0 ||
	    (uint64_t)v > max) {
		snprintf(err, errlen, "\"%s\": expected a number 0..%" PRIu64, key, max);
		return -EINVAL;
	}
	*out = (uint64_t)v;
	return 0;
}

/* "via" and "source_address" (the migration network, netvia.h) */
static int vmhost_net_opts(struct json_object *req, struct km_mig_opts *o, char *err,
			   size_t errlen)
{
	struct json_object *j;

	if (json_object_object_get_ex(req, "via", &j) && !json_object_is_type(j, json_type_null)) {
		if (!json_object_is_type(j, json_type_string) ||
		    strlen(json_object_get_string(j)) >= sizeof(o->via)) {
			snprintf(err, errlen, "migrate: \"via\": expected an interface name");
			return -1;
		}
		snprintf(o->via, sizeof(o->via), "%s", json_object_get_string(j));
		if (km_net_check_via(o->via, err, errlen))
			return -1;
	}
	if (json_object_object_get_ex(req, "source_address", &j) &&
	    !json_object_is_type(j, json_type_null)) {
		if (!json_object_is_type(j, json_type_string) ||
		    strlen(json_object_get_string(j)) >= sizeof(o->source_address)) {
			snprintf(err, errlen, "migrate: \"source_address\": expected an address");
			return -1;
		}
		snprintf(o->source_address, sizeof(o->source_address), "%s",
			 json_object_get_string(j));
	}
	return 0;
}

static struct json_object *vmhost_migrate(struct km_vmhost *h, struct json_object *req,
					  char *err, size_t errlen)
{
	struct km_mig_opts o;
	struct json_object *j, *r;
	uint64_t v;
	int ret;

	if (h->migrated) {
		snprintf(err, errlen, "the guest was migrated away already");
		return NULL;
	}
	if (vmhost_migrating(h)) {
		snprintf(err, errlen, "a migration of '%s' is already running", h->name);
		return NULL;
	}
	if (vmm_paused(h->vm)) {
		snprintf(err, errlen, "the guest is paused: resume it before migrating");
		return NULL;
	}
	if (h->prof && !km_prof_run_done(h->prof)) {
		snprintf(err, errlen, "'%s' is being profiled (kmigrate profile): wait for it",
			 h->name);
		return NULL;
	}
	{
		struct vmm_dev_info di;
		unsigned int i, nics = 0;

		for (i = 0; !vmm_dev_info(h->vm, i, &di); i++)
			nics += di.kind == VMM_DEV_NET;
		if (nics) {
			snprintf(err, errlen, "the VM has %u virtio NIC(s): migrating a virtio-net "
				 "device is not supported yet (disks are)", nics);
			return NULL;
		}
	}
	km_mig_opts_default(&o);
	if (!json_object_object_get_ex(req, "to", &j) || !json_object_is_type(j, json_type_string) ||
	    !*json_object_get_string(j) || strlen(json_object_get_string(j)) >= sizeof(o.to)) {
		snprintf(err, errlen, "migrate: \"to\": expected \"HOST[:PORT]\"");
		return NULL;
	}
	snprintf(o.to, sizeof(o.to), "%s", json_object_get_string(j));
	if (vmhost_get_u64(req, "downtime_ms", 3600000, &o.downtime_ms, err, errlen) ||
	    vmhost_get_u64(req, "bandwidth", UINT64_MAX >> 1, &o.bandwidth, err, errlen))
		return NULL;
	v = o.max_rounds;
	if (vmhost_get_u64(req, "max_rounds", 100000, &v, err, errlen))
		return NULL;
	o.max_rounds = (uint32_t)v;
	v = o.connect_timeout_ms;
	if (vmhost_get_u64(req, "connect_timeout_ms", 600000, &v, err, errlen))
		return NULL;
	o.connect_timeout_ms = (uint32_t)v;
	if (!o.downtime_ms) {
		snprintf(err, errlen, "migrate: \"downtime_ms\" must be > 0");
		return NULL;
	}
	if (json_object_object_get_ex(req, "verify", &j) && !json_object_is_type(j, json_type_null)) {
		if (!json_object_is_type(j, json_type_boolean)) {
			snprintf(err, errlen, "migrate: \"verify\": expected true or false");
			return NULL;
		}
		o.verify = json_object_get_boolean(j);
	}
	if (json_object_object_get_ex(req, "zerocopy", &j) && !json_object_is_type(j, json_type_null)) {
		if (!json_object_is_type(j, json_type_boolean)) {
			snprintf(err, errlen, "migrate: \"zerocopy\": expected true or false");
			return NULL;
		}
		o.zerocopy = json_object_get_boolean(j);
	}
	if (json_object_object_get_ex(req, "converge", &j) && !json_object_is_type(j, json_type_null)) {
		const char *s = json_object_is_type(j, json_type_string) ?
				json_object_get_string(j) : "";

		if (strcmp(s, "throttle") && strcmp(s, "fail")) {
			snprintf(err, errlen, "migrate: \"converge\": expected \"throttle\" or "
				 "\"fail\"");
			return NULL;
		}
		o.converge_fail = !strcmp(s, "fail");
	}
	v = o.throttle_floor_pct;
	if (vmhost_get_u64(req, "throttle_floor", 100, &v, err, errlen))
		return NULL;
	if (!v) {
		snprintf(err, errlen, "migrate: \"throttle_floor\" must be 1..100");
		return NULL;
	}
	o.throttle_floor_pct = (uint32_t)v;
	v = o.switchover_retries;
	if (vmhost_get_u64(req, "switchover_retries", KM_MIG_MAX_RETRIES, &v, err, errlen))
		return NULL;
	o.switchover_retries = (uint32_t)v;
	if (json_object_object_get_ex(req, "datapath", &j) && !json_object_is_type(j, json_type_null)) {
		enum km_mig_datapath d;

		if (!json_object_is_type(j, json_type_string) ||
		    km_mig_datapath_parse(json_object_get_string(j), &d)) {
			snprintf(err, errlen, "migrate: \"datapath\": expected \"auto\", "
				 "\"kernel\" or \"user\"");
			return NULL;
		}
		o.datapath = d;
	}
	if (json_object_object_get_ex(req, "check", &j) && !json_object_is_type(j, json_type_null)) {
		if (!json_object_is_type(j, json_type_boolean)) {
			snprintf(err, errlen, "migrate: \"check\": expected true or false");
			return NULL;
		}
		o.check_only = json_object_get_boolean(j);	/* kmigrate check */
	}
	if (vmhost_net_opts(req, &o, err, errlen))
		return NULL;
	if (km_tls_req_parse(req, &o.insecure, o.tls_dir, sizeof(o.tls_dir), o.tls_name,
			     sizeof(o.tls_name), err, errlen))
		return NULL;
	o.workload = !h->kernel && vmhost_params(h);
	/* its board's and devices' description and state go too */
	o.board = h->linux_guest || vmm_dev_count(h->vm);
	o.linux_board = h->linux_guest;
	if (h->mig) {
		km_mig_src_free(h->mig);
		h->mig = NULL;
	}
	/* A new migration: nobody has read its result yet. */
	h->result_read = false;
	ret = km_mig_src_start(h->vm, h->name, &o, &h->mig, err, errlen);
	if (ret)
		return NULL;
	fprintf(stderr, "kmigrate: %s: migration to %s started (downtime limit %" PRIu64
		" ms, max %u rounds, converge %s%s%.0u%s)\n", h->name, o.to, o.downtime_ms,
		o.max_rounds, o.converge_fail ? "fail" : "throttle",
		o.converge_fail ? "" : ", floor ", o.converge_fail ? 0 : o.throttle_floor_pct,
		o.converge_fail ? "" : "%");
	r = json_object_new_object();
	if (r)
		JADD(r, "state", json_object_new_string("started"));
	return r;
}

static struct json_object *vmhost_handle(const char *cmd, struct json_object *req,
					 void *opaque, char *err, size_t errlen)
{
	struct km_vmhost *h = opaque;

	if (!strcmp(cmd, "info"))
		return vmhost_info(h);
	if (!strcmp(cmd, "migrate"))
		return vmhost_migrate(h, req, err, errlen);
	if (!strncmp(cmd, "profile", 7))
		return km_prof_serve(&h->prof, h->vm, cmd, req,
				     h->migrated ? "the guest was migrated away" :
				     vmhost_migrating(h) ? "a migration runs: profile it after "
				     "(or kmigrate cancel it first)" : NULL, err, errlen);
	if (!strcmp(cmd, "migrate-status")) {
		struct json_object *r, *jp;

		if (!h->mig) {
			snprintf(err, errlen, "no migration of '%s' has run", h->name);
			return NULL;
		}
		r = km_mig_src_status(h->mig);
		/* "peek":true (kmigrate status NAME) leaves the result for start */
		if (r && km_mig_src_done(h->mig) &&
		    !(json_object_object_get_ex(req, "peek", &jp) && json_object_get_boolean(jp)))
			h->result_read = true;
		return r;
	}
	if (!strcmp(cmd, "set")) {
		/* {"cmd":"set","bandwidth":N,"downtime_ms":N}: the running
		 * migration's cap and downtime limit, either or both */
		struct json_object *r, *jb, *jd;
		uint64_t bw = 0, dt = 0;
		bool has_bw, has_dt;

		has_bw = json_object_object_get_ex(req, "bandwidth", &jb) &&
			 !json_object_is_type(jb, json_type_null);
		has_dt = json_object_object_get_ex(req, "downtime_ms", &jd) &&
			 !json_object_is_type(jd, json_type_null);
		if (!has_bw && !has_dt) {
			snprintf(err, errlen, "set: \"bandwidth\" or \"downtime_ms\" is required");
			return NULL;
		}
		if ((has_bw && vmhost_get_u64(req, "bandwidth", UINT64_MAX >> 1, &bw, err, errlen)) ||
		    (has_dt && vmhost_get_u64(req, "downtime_ms", KM_MIG_MAX_DOWNTIME_MS, &dt, err,
					      errlen)))
			return NULL;
		if (has_dt && !dt) {
			snprintf(err, errlen, "set: \"downtime_ms\" must be 1..%u",
				 KM_MIG_MAX_DOWNTIME_MS);
			return NULL;
		}
		if (!vmhost_migrating(h) || h->migrated) {
			snprintf(err, errlen, "no migration running");
			return NULL;
		}
		if (has_dt && km_mig_src_set_downtime(h->mig, dt, err, errlen))
			return NULL;
		if (has_bw && km_mig_src_set_bandwidth(h->mig, bw, err, errlen))
			return NULL;
		if (has_dt)
			fprintf(stderr, "kmigrate: %s: downtime limit now %" PRIu64 " ms\n", h->name, dt);
		if (has_bw)
			fprintf(stderr, "kmigrate: %s: bandwidth cap now %" PRIu64 " bytes/s\n",
				h->name, bw);
		r = json_object_new_object();
		if (r && has_bw)
			JADD(r, "bandwidth", JU64(bw));
		if (r && has_dt)
			JADD(r, "downtime_ms", JU64(dt));
		return r;
	}
	if (!strcmp(cmd, "migrate-cancel")) {
		struct json_object *r;

		if (!vmhost_migrating(h)) {
			snprintf(err, errlen, "no migration of '%s' is running", h->name);
			return NULL;
		}
		if (h->migrated) {
			snprintf(err, errlen, "the migration of '%s' is past COMMIT: the guest "
				 "runs on the destination", h->name);
			return NULL;
		}
		km_mig_src_cancel(h->mig);
		r = json_object_new_object();
		if (r)
			JADD(r, "state", json_object_new_string("cancelling"));
		return r;
	}
	if (h->migrated || vmhost_migrating(h)) {
		if (!strcmp(cmd, "pause") || !strcmp(cmd, "resume") || !strcmp(cmd, "verify") ||
		    !strcmp(cmd, "stop")) {
			snprintf(err, errlen, h->migrated ?
				 "'%s' was migrated away: the guest runs on the destination" :
				 "'%s' is being migrated (kmigrate cancel %s first)", h->name, h->name);
			return NULL;
		}
	}
	if (!strcmp(cmd, "verify")) {
		if (h->kernel || !vmhost_params(h)) {
			snprintf(err, errlen, "verify checks the built-in workload; this VM runs a kernel");
			return NULL;
		}
		return vmhost_verify(h, req, err, errlen);
	}
	if (!strcmp(cmd, "burst")) {	/* a test's deliberate dirty-ring overrun */
		struct json_object *r;

		if (h->kernel || !vmhost_params(h) || vmm_wl_burst(h->vm)) {
			snprintf(err, errlen, "burst drives the built-in workload; this VM runs a "
				 "kernel");
			return NULL;
		}
		r = json_object_new_object();
		if (r)
			JADD(r, "burst", json_object_new_boolean(1));
		return r;
	}
	if (!strcmp(cmd, "pause")) {
		if (!vmm_paused(h->vm)) {
			if (vmm_pause(h->vm)) {
				snprintf(err, errlen, "could not pause the guest");
				return NULL;
			}
			h->pauses++;
		}
		return vmhost_state_reply(h);
	}
	if (!strcmp(cmd, "resume")) {
		if (vmm_paused(h->vm) && vmm_resume(h->vm)) {
			snprintf(err, errlen, "could not resume the guest");
			return NULL;
		}
		return vmhost_state_reply(h);
	}
	if (!strcmp(cmd, "stop")) {
		struct json_object *r;

		h->stop = true;
		r = vmhost_state_reply(h);
		if (r)
			JADD(r, "pid", JU64(getpid()));
		return r;
	}
	snprintf(err, errlen, "unknown command '%.64s' (info, pause, resume, stop, verify, "
		 "burst, migrate, migrate-status, migrate-cancel, set, profile, "
		 "profile-status, profile-cancel)", cmd);
	return NULL;
}

void km_vmhost_shutdown(struct km_vmhost *h)
{
	km_prof_run_free(h->prof);	/* dirty logging goes off with it */
	h->prof = NULL;
	if (h->mig) {
		km_mig_src_cancel(h->mig);
		km_mig_src_free(h->mig);
		h->mig = NULL;
	}
	if (h->migrated)
		return;		/* stopped when the migration completed */
	if (!h->kernel && !vmm_paused(h->vm) && !vmm_wl_request_stop(h->vm))
		vmm_wait(h->vm, 1000);
	vmm_stop(h->vm);
}

int km_vmhost_serve(struct km_vmhost *h, struct km_ctl_server *srv, int sfd)
{
	struct pollfd pfds[2 + KM_CTL_MAX_CLIENTS];
	bool cancelled_for_signal = false;

	while (!h->stop) {
		unsigned int n = km_ctl_server_pollfds(srv, pfds + 1);
		int r;

		pfds[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		r = poll(pfds, n + 1, vmhost_migrating(h) || h->migrated ? 100 : 500);
		if (r < 0 && errno != EINTR) {
			km_err("run: poll: %s", strerror(errno));
			return KM_EXIT_FAIL;
		}
		if (r > 0 && (pfds[0].revents & POLLIN)) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si))
				fprintf(stderr, "kmigrate run: %s: %s, stopping\n",
					h->name, strsignal(si.ssi_signo));
			if (vmhost_migrating(h)) {
				/* give the guest back first, then stop */
				km_mig_src_cancel(h->mig);
				cancelled_for_signal = true;
			} else {
				h->stop = true;
			}
		}
		if (r > 0)
			km_ctl_server_serve(srv, pfds + 1, n, vmhost_handle, h);
		if (h->mig && !h->migrated && km_mig_src_committed(h->mig)) {
			/* COMMIT sent: the copy here is released (the thread may
			 * still wait for the destination's RESUMED) */
			h->migrated = true;
			fprintf(stderr, "kmigrate run: %s: migrated; the guest runs on the "
				"destination now\n", h->name);
			vmm_stop(h->vm);
		} else if (h->mig && km_mig_src_done(h->mig) && !h->migrated &&
			   cancelled_for_signal) {
			h->stop = true;
		}
		if (h->migrated) {
			if (!km_mig_src_done(h->mig))
				continue;	/* the result is not final yet */
			if (!h->migrated_ns)
				h->migrated_ns = vmm_now_ns();
			if (h->result_read ||
			    vmm_now_ns() - h->migrated_ns > KM_VMHOST_LINGER_MS * 1000000ULL)
				return KM_EXIT_OK;
			continue;
		}
		if (vmm_failed_vcpus(h->vm)) {
			km_err("run: %s: %u vCPU(s) failed; stopping the VM", h->name,
			       vmm_failed_vcpus(h->vm));
			return KM_EXIT_FAIL;
		}
		if (!vmm_wait(h->vm, 0)) {
			if (vmm_guest_ended(h->vm)) {
				fprintf(stderr, "kmigrate run: %s: the guest ended: %s\n", h->name,
					vmm_guest_ended(h->vm));
				return KM_EXIT_OK;
			}
			km_err("run: %s: the guest stopped by itself", h->name);
			return KM_EXIT_FAIL;
		}
	}
	return KM_EXIT_OK;
}
