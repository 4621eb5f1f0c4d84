// SPDX-License-Identifier: GPL-2.0
/* `kmigrate profile`: the measuring thread in the VM's process
 * (profile_vm.h). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "populated.h"
#include "profile_model.h"
#include "profile_vm.h"
#include "trial.h"

#define JADD(o, k, v)	json_object_object_add((o), (k), (v))
#define JU64(v)		json_object_new_int64((int64_t)(v))
/* A control reply is at most 64 KiB (ctl.c): the per-interval numbers, one
 * column a vCPU plus the total, the unknown and the working set, at about
 * 8 characters each, must stay under this. */
#define PROF_REPLY_CHARS	48000u

struct km_prof_run {
	struct vmm_vm *vm;
	uint32_t seconds, interval_ms, nr_intervals;
	pthread_t thr;
	atomic_bool cancel, done;
	_Atomic uint64_t alive_ns;	/* the client's last status request */
	_Atomic uint32_t intervals_done;
	struct km_prof prof;		/* the thread's until done */
	struct json_object *result;	/* set once done */
};

static void prof_page(uint64_t gfn, int vcpu, void *opaque)
{
	km_prof_page(opaque, gfn, vcpu);
}

static void prof_sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static struct json_object *prof_u64_array(const uint64_t *v, uint32_t n)
{
	struct json_object *a = json_object_new_array();
	uint32_t i;

	for (i = 0; a && i < n; i++)
		json_object_array_add(a, JU64(v[i]));
	return a;
}

/* The result of a finished profile (state, why it ended, the columns). */
static struct json_object *prof_result(struct km_prof_run *r, const char *state,
				       const char *error, uint64_t overflows,
				       uint64_t harvest_max_ns, const struct kms_costs *k)
{
	struct json_object *o = json_object_new_object(), *iv, *vc, *a;
	const struct km_prof *p = &r->prof;
	uint64_t *ws = calloc(p->intervals ? p->intervals : 1, sizeof(*ws));
	int64_t pop = km_pop_bytes(vmm_ram_fd(r->vm), 0, vmm_ram_size(r->vm));
	unsigned int v;
	uint32_t i;

	if (!o || !ws) {
		json_object_put(o);
		free(ws);
		return NULL;
	}
	km_prof_ws_curve(p, ws);
	JADD(o, "state", json_object_new_string(state));
	JADD(o, "error", error ? json_object_new_string(error) : NULL);
	JADD(o, "dirty_mode", json_object_new_string(vmm_dirty_mode_name(vmm_dirty_mode(r->vm))));
	JADD(o, "per_vcpu", json_object_new_boolean(vmm_dirty_mode(r->vm) == VMM_DIRTY_RING));
	JADD(o, "vcpus", JU64(p->nr_vcpus));
	JADD(o, "page_size", JU64(VMM_PAGE_SIZE));
	JADD(o, "memory", JU64(vmm_ram_size(r->vm)));
	JADD(o, "populated_bytes", pop >= 0 ? JU64(pop) : NULL);
	JADD(o, "seconds", JU64(r->seconds));
	JADD(o, "interval_ms", JU64(r->interval_ms));
	JADD(o, "ring_overflows", JU64(overflows));
	JADD(o, "harvest_longest_us", JU64(harvest_max_ns / 1000));
	if (k) {	/* the trial pause (trial.h): what a switch-over's fixed part costs */
		struct json_object *c = json_object_new_object();

		JADD(c, "pause_us", JU64(k->pause_ns / 1000));
		JADD(c, "save_us", JU64(k->save_ns / 1000));
		JADD(c, "resume_us", JU64(k->resume_ns / 1000));
		JADD(c, "state_bytes", JU64(k->state_bytes));
		JADD(o, "switchover_costs", c);
	} else {
		JADD(o, "switchover_costs", NULL);
	}
	iv = json_object_new_object();
	JADD(o, "intervals", iv);
	if (iv) {
		JADD(iv, "ns", prof_u64_array(p->iv_ns, p->intervals));
		a = json_object_new_array();
		for (i = 0; a && i < p->intervals; i++)
			json_object_array_add(a, JU64(km_prof_iv_pages(p, i, -1)));
		JADD(iv, "pages", a);
		vc = json_object_new_array();
		for (v = 0; vc && v < p->nr_vcpus; v++) {
			a = json_object_new_array();
			for (i = 0; a && i < p->intervals; i++)
				json_object_array_add(a, JU64(km_prof_iv_pages(p, i, (int)v)));
			json_object_array_add(vc, a);
		}
		JADD(iv, "vcpu_pages", vc);
		a = json_object_new_array();
		for (i = 0; a && i < p->intervals; i++)
			json_object_array_add(a, JU64(km_prof_iv_pages(p, i, (int)p->nr_vcpus)));
		JADD(iv, "unknown_pages", a);
	}
	/* working_set[k - 1]: distinct pages of the last k intervals */
	JADD(o, "working_set", prof_u64_array(ws, p->intervals));
	free(ws);
	return o;
}

static void *prof_thread(void *arg)
{
	struct km_prof_run *r = arg;
	const char *state = "done", *error = NULL;
	uint64_t t_prev, t_end, now, overflows = vmm_dirty_ring_overflows(r->vm), hmax = 0;
	struct kms_costs costs = { 0 };
	char why[160] = "";
	int64_t n;
	int ret;

	ret = vmm_dirty_start(r->vm);
	if (ret) {
		snprintf(why, sizeof(why), "could not turn dirty logging on: %s", strerror(-ret));
		state = "failed";
		error = why;
		goto out;
	}
	/* what was logged before this starts is not the guest's doing now */
	vmm_dirty_harvest(r->vm, NULL, NULL, NULL, NULL);
	t_prev = vmm_now_ns();
	while (r->prof.intervals < r->nr_intervals) {
		struct vmm_harvest_stats st;

		t_end = t_prev + r->interval_ms * 1000000ull;
		while ((now = vmm_now_ns()) < t_end && !atomic_load(&r->cancel)) {
			uint64_t left = (t_end - now) / 1000000;

			prof_sleep_ms(left > 20 ? 20 : left ? (unsigned int)left : 1);
		}
		if (atomic_load(&r->cancel)) {
			state = "cancelled";
			break;
		}
		if (now - atomic_load(&r->alive_ns) > KM_PROF_CLIENT_GONE_MS * 1000000ull) {
			state = "cancelled";
			error = "the client went away";
			break;
		}
		n = vmm_dirty_harvest_vcpu(r->vm, NULL, NULL, prof_page, &r->prof, &st);
		now = vmm_now_ns();
		if (n < 0) {
			snprintf(why, sizeof(why), "harvest failed: %s", strerror((int)-n));
			state = "failed";
			error = why;
			break;
		}
		if (st.ns > hmax)
			hmax = st.ns;
		km_prof_end_interval(&r->prof, now - t_prev);
		atomic_store(&r->intervals_done, r->prof.intervals);
		t_prev = now;
	}
	ret = vmm_dirty_stop(r->vm);
	if (ret && !error) {
		snprintf(why, sizeof(why), "could not turn dirty logging off: %s", strerror(-ret));
		state = "failed";
		error = why;
	}
	if (!error) {	/* what the switch-over's fixed part costs this guest */
		ret = km_trial_pause(r->vm, &costs);
		if (ret)
			fprintf(stderr, "kmigrate: profile: the trial pause failed: %s\n",
				strerror(-ret));
	}
out:
	if (error)
		fprintf(stderr, "kmigrate: profile: %s\n", error);
	r->result = prof_result(r, state, error, vmm_dirty_ring_overflows(r->vm) - overflows, hmax,
				costs.measured ? &costs : NULL);
	atomic_store(&r->done, true);
	return NULL;
}

int km_prof_run_start(struct vmm_vm *vm, uint32_t seconds, uint32_t interval_ms,
		      struct km_prof_run **out, char *err, size_t errlen)
{
	struct km_prof_run *r;
	uint32_t most, least;
	int ret;

	*out = NULL;
	if (!seconds || seconds > KM_PROF_MAX_SECONDS) {
		snprintf(err, errlen, "profile: \"seconds\": expected 1..%d", KM_PROF_MAX_SECONDS);
		return -EINVAL;
	}
	if (interval_ms < KM_PROF_MIN_INTERVAL_MS || interval_ms > KM_PROF_MAX_INTERVAL_MS) {
		snprintf(err, errlen, "profile: \"interval_ms\": expected %d..%d",
			 KM_PROF_MIN_INTERVAL_MS, KM_PROF_MAX_INTERVAL_MS);
		return -EINVAL;
	}
	if (vmm_dirty_active(vm)) {
		snprintf(err, errlen, "dirty logging is on already (a migration runs)");
		return -EBUSY;
	}
	/* as many intervals as the reply carries: a longer interval if needed */
	most = PROF_REPLY_CHARS / 8 / (vmm_nr_vcpus(vm) + 3);
	least = (seconds * 1000 + most - 1) / most;
	if (interval_ms < least)
		interval_ms = least;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->vm = vm;
	r->seconds = seconds;
	r->interval_ms = interval_ms;
	r->nr_intervals = (seconds * 1000 + interval_ms - 1) / interval_ms;
	atomic_store(&r->alive_ns, vmm_now_ns());
	ret = km_prof_init(&r->prof, vmm_nr_vcpus(vm), vmm_gfn_end(vm), r->nr_intervals);
	if (ret) {
		free(r);
		snprintf(err, errlen, "profile: %s", strerror(-ret));
		return ret;
	}
	ret = pthread_create(&r->thr, NULL, prof_thread, r);
	if (ret) {
		km_prof_free(&r->prof);
		free(r);
		snprintf(err, errlen, "profile: thread: %s", strerror(ret));
		return -ret;
	}
	*out = r;
	return 0;
}

bool km_prof_run_done(struct km_prof_run *r)
{
	return atomic_load(&r->done);
}

uint32_t km_prof_run_interval_ms(const struct km_prof_run *r)
{
	return r->interval_ms;
}

struct json_object *km_prof_run_status(struct km_prof_run *r)
{
	struct json_object *o;

	atomic_store(&r->alive_ns, vmm_now_ns());
	if (atomic_load(&r->done)) {
		o = NULL;
		if (r->result && json_object_deep_copy(r->result, &o, NULL))
			o = NULL;
		return o;
	}
	o = json_object_new_object();
	if (o) {
		JADD(o, "state", json_object_new_string("running"));
		JADD(o, "intervals_done", JU64(atomic_load(&r->intervals_done)));
		JADD(o, "intervals", JU64(r->nr_intervals));
		JADD(o, "interval_ms", JU64(r->interval_ms));
	}
	return o;
}

void km_prof_run_cancel(struct km_prof_run *r)
{
	atomic_store(&r->cancel, true);
}

void km_prof_run_free(struct km_prof_run *r)
{
	if (!r)
		return;
	km_prof_run_cancel(r);
	pthread_join(r->thr, NULL);
	json_object_put(r->result);
	km_prof_free(&r->prof);
	free(r);
}

static int prof_get_u32(struct json_object *req, const char *key, uint32_t *v, char *err,
			size_t errlen)
{
	struct json_object *j;
	int64_t x;

	if (!json_object_object_get_ex(req, key, &j) || json_object_is_type(j, json_type_null))
		return 0;
	if (!json_object_is_type(j, json_type_int) || (x = json_object_get_int64(j)) < 0 ||
	    x > UINT32_MAX) {
		snprintf(err, errlen, "profile: \"%s\": expected a number", key);
		return -EINVAL;
	}
	*v = (uint32_t)x;
	return 0;
}

struct json_object *km_prof_serve(struct km_prof_run **run, struct vmm_vm *vm, const char *cmd,
				  struct json_object *req, const char *busy, char *err,
				  size_t errlen)
{
	uint32_t seconds = 10, interval_ms = 100;
	struct json_object *o;

	if (!strcmp(cmd, "profile-status")) {
		if (!*run) {
			snprintf(err, errlen, "no profile has run");
			return NULL;
		}
		o = km_prof_run_status(*run);
		if (!o)
			snprintf(err, errlen, "profile: out of memory");
		return o;
	}
	if (!strcmp(cmd, "profile-cancel")) {
		if (!*run || km_prof_run_done(*run)) {
			snprintf(err, errlen, "no profile is running");
			return NULL;
		}
		km_prof_run_cancel(*run);
		o = json_object_new_object();
		if (o)
			JADD(o, "state", json_object_new_string("cancelling"));
		return o;
	}
	if (strcmp(cmd, "profile")) {
		snprintf(err, errlen, "unknown command '%.64s'", cmd);
		return NULL;
	}
	if (*run && !km_prof_run_done(*run)) {
		snprintf(err, errlen, "a profile is running already");
		return NULL;
	}
	if (busy) {
		snprintf(err, errlen, "%s", busy);
		return NULL;
	}
	if (prof_get_u32(req, "seconds", &seconds, err, errlen) ||
	    prof_get_u32(req, "interval_ms", &interval_ms, err, errlen))
		return NULL;
	km_prof_run_free(*run);
	*run = NULL;
	if (km_prof_run_start(vm, seconds, interval_ms, run, err, errlen))
		return NULL;
	o = json_object_new_object();
	if (o) {
		JADD(o, "state", json_object_new_string("started"));
		JADD(o, "seconds", JU64(seconds));
		JADD(o, "interval_ms", JU64(km_prof_run_interval_ms(*run)));
	}
	return o;
}
