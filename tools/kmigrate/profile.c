// SPDX-License-Identifier: GPL-2.0
/*
 * kmigrate profile NAME: measure a running guest's dirty rate (per vCPU
 * where its dirty rings tell) and writable working set, without migrating,
 * and predict what a migration of it would do at given bandwidths and
 * downtime limits (docs/PROFILE.md).  The VM's process measures
 * (tools/migrate/profile_vm.c); this side polls it, which also tells it
 * that the client is still there, predicts (profile_model.c) and prints.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json.h>

#include "cli.h"
#include "cmds.h"
#include "ctl.h"
#include "error.h"
#include "exitcode.h"
#include "profile_model.h"
#include "profile_plot.h"
#include "profile_result.h"
#include "profile_vm.h"
#include "rate.h"

#define PROF_MAX_LIST		8
#define PROF_POLL_MS		250
#define PROF_CALL_MS		5000
#define PROF_DEFAULT_BW		"100MiB,1GiB,10GiB"
#define PROF_DEFAULT_LIMITS	"300,50,10"

static const struct option profile_longopts[] = {
	{ "seconds", required_argument, NULL, 's' },
	{ "interval", required_argument, NULL, 'i' },
	{ "bandwidth", required_argument, NULL, 'b' },
	{ "downtime-limit", required_argument, NULL, 'd' },
	{ "svg", required_argument, NULL, 'S' },
	{ "plot-result", required_argument, NULL, 'R' },
	{ NULL, 0, NULL, 0 },
};

static const struct km_usage profile_usage = {
	.args = "NAME [--seconds N] [--bandwidth B[,B...]] [--downtime-limit MS[,MS...]] "
		"[--svg FILE] | --plot-result RESULT.json [--svg FILE]",
	.options =
	"  -s, --seconds N          measure for N seconds (1-60, default 10)\n"
	"  -i, --interval MS        harvest every MS ms (50-1000, default 100)\n"
	"  -b, --bandwidth B[,B...] links to predict for, bytes/s (e.g. 50M, 1GiB,\n"
	"                           10gbit; default " PROF_DEFAULT_BW ")\n"
	"  -d, --downtime-limit MS[,MS...]\n"
	"                           limits to predict for (default " PROF_DEFAULT_LIMITS ")\n"
	"      --svg FILE           also plot the profile with gnuplot into FILE\n"
	"      --plot-result RESULT.json\n"
	"                           no profile: the rounds of a finished migration\n"
	"                           (its 'kmigrate -j start' result: round_history),\n"
	"                           as a table, and with --svg plotted\n",
	.notes =
	"Turns dirty logging on in VM NAME ('kmigrate run') for N seconds, without\n"
	"migrating, and reports the distinct pages dirtied per second (in total and\n"
	"per vCPU where the VM uses dirty rings), the writable working set over\n"
	"windows of 1, 2, 5 and N seconds, and for each bandwidth and limit the\n"
	"rounds, total time, final round and downtime a migration would have, or\n"
	"why it would not converge.  Dirty logging is off again afterwards, also\n"
	"when this command is interrupted or killed.  Refused while the VM migrates.\n",
};

static volatile sig_atomic_t prof_stop;

static void prof_on_signal(int sig)
{
	prof_stop = sig;
}

/* "A,B,C" into @v (at most PROF_MAX_LIST); @what names the option. */
static int prof_parse_list(const char *s, bool rate, uint64_t *v, unsigned int *n,
			   const char *what)
{
	char *copy = strdup(s), *rest = copy, *tok, why[256];
	uint32_t ms;
	int r = 0;

	if (!copy)
		return KM_EXIT_FAIL;
	*n = 0;
	while ((tok = strsep(&rest, ","))) {
		if (!*tok) {
			r = km_usage_error("invalid %s '%s': an empty value", what, s);
			break;
		}
		if (*n >= PROF_MAX_LIST) {
			r = km_usage_error("invalid %s: at most %d values", what, PROF_MAX_LIST);
			break;
		}
		if (rate ? km_rate_parse(tok, &v[*n], why, sizeof(why)) :
		    km_parse_u32(tok, 1, 3600000, &ms, why, sizeof(why))) {
			r = km_usage_error("invalid %s '%s': %s", what, tok, why);
			break;
		}
		if (rate && !v[*n]) {
			r = km_usage_error("invalid %s '%s': a link has a rate", what, tok);
			break;
		}
		if (!rate)
			v[*n] = ms;
		(*n)++;
	}
	if (!r && !*n)
		r = km_usage_error("invalid %s '%s': expected a list", what, s);
	free(copy);
	return r;
}

struct prof_opts {
	const char *name, *svg, *result;
	uint32_t seconds, interval_ms;
	uint64_t bw[PROF_MAX_LIST], limit_ms[PROF_MAX_LIST];
	unsigned int nbw, nlimit;
	char gnuplot[4096];
};

/* The result's numbers, taken apart. */
struct prof_data {
	struct json_object *res;
	uint32_t n;			/* intervals */
	unsigned int vcpus;
	bool per_vcpu;
	uint64_t iv_ms, page, pop_pages;
	uint64_t *ns, *pages, *unknown, *ws;
	uint64_t **vcpu;		/* [vcpus][n] */
	double *t_s, *rate, *ws_s, **vcpu_rate;
};

static uint64_t jget_u64(struct json_object *o, const char *key)
{
	struct json_object *j;

	return json_object_object_get_ex(o, key, &j) ? (uint64_t)json_object_get_int64(j) : 0;
}

/* The numbers of array @a into @v (n of them). */
static void jarray(struct json_object *a, uint64_t *v, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		v[i] = a && i < json_object_array_length(a) ?
		       (uint64_t)json_object_get_int64(json_object_array_get_idx(a, i)) : 0;
}

static void prof_data_free(struct prof_data *d)
{
	unsigned int v;

	for (v = 0; d->vcpu && v < d->vcpus; v++) {
		free(d->vcpu[v]);
		free(d->vcpu_rate[v]);
	}
	free(d->vcpu);
	free(d->vcpu_rate);
	free(d->ns);
	free(d->pages);
	free(d->unknown);
	free(d->ws);
	free(d->t_s);
	free(d->rate);
	free(d->ws_s);
	json_object_put(d->res);
}

static int prof_data_load(struct prof_data *d, struct json_object *res)
{
	struct json_object *iv = NULL, *a = NULL, *vc = NULL;
	double t = 0;
	unsigned int v;
	uint32_t i;

	memset(d, 0, sizeof(*d));
	d->res = res;
	json_object_object_get_ex(res, "intervals", &iv);
	if (!iv || !json_object_object_get_ex(iv, "ns", &a) || !json_object_is_type(a, json_type_array))
		return -EPROTO;
	d->n = (uint32_t)json_object_array_length(a);
	d->vcpus = (unsigned int)jget_u64(res, "vcpus");
	d->per_vcpu = json_object_object_get_ex(res, "per_vcpu", &vc) && json_object_get_boolean(vc);
	d->iv_ms = jget_u64(res, "interval_ms");
	d->page = jget_u64(res, "page_size");
	if (!d->n || !d->page || d->vcpus > 1024)
		return -EPROTO;
	d->pop_pages = jget_u64(res, "populated_bytes") / d->page;
	d->ns = calloc(d->n, sizeof(uint64_t));
	d->pages = calloc(d->n, sizeof(uint64_t));
	d->unknown = calloc(d->n, sizeof(uint64_t));
	d->ws = calloc(d->n, sizeof(uint64_t));
	d->t_s = calloc(d->n, sizeof(double));
	d->rate = calloc(d->n, sizeof(double));
	d->ws_s = calloc(d->n, sizeof(double));
	d->vcpu = calloc(d->vcpus + 1, sizeof(*d->vcpu));
	d->vcpu_rate = calloc(d->vcpus + 1, sizeof(*d->vcpu_rate));
	if (!d->ns || !d->pages || !d->unknown || !d->ws || !d->t_s || !d->rate || !d->ws_s ||
	    !d->vcpu || !d->vcpu_rate)
		return -ENOMEM;
	jarray(a, d->ns, d->n);
	json_object_object_get_ex(iv, "pages", &a);
	jarray(a, d->pages, d->n);
	json_object_object_get_ex(iv, "unknown_pages", &a);
	jarray(a, d->unknown, d->n);
	a = NULL;
	json_object_object_get_ex(res, "working_set", &a);
	jarray(a, d->ws, d->n);
	json_object_object_get_ex(iv, "vcpu_pages", &vc);
	for (v = 0; v < d->vcpus; v++) {
		d->vcpu[v] = calloc(d->n, sizeof(uint64_t));
		d->vcpu_rate[v] = calloc(d->n, sizeof(double));
		if (!d->vcpu[v] || !d->vcpu_rate[v])
			return -ENOMEM;
		jarray(vc ? json_object_array_get_idx(vc, v) : NULL, d->vcpu[v], d->n);
	}
	for (i = 0; i < d->n; i++) {
		double s = d->ns[i] ? d->ns[i] / 1e9 : 1e-9;

		t += d->ns[i] / 1e9;
		d->t_s[i] = t;
		d->rate[i] = d->pages[i] / s;
		d->ws_s[i] = (i + 1) * (d->iv_ms / 1e3);
		for (v = 0; v < d->vcpus; v++)
			d->vcpu_rate[v][i] = d->vcpu[v][i] / s;
	}
	return 0;
}

/* Mean pages/s of series @v over the whole profile, and its peak interval. */
static double prof_mean(const struct prof_data *d, const uint64_t *v, double *peak)
{
	uint64_t sum = 0, ns = 0;
	uint32_t i;

	*peak = 0;
	for (i = 0; i < d->n; i++) {
		sum += v[i];
		ns += d->ns[i];
		if (d->ns[i] && v[i] * 1e9 / d->ns[i] > *peak)
			*peak = v[i] * 1e9 / d->ns[i];
	}
	return ns ? sum * 1e9 / ns : 0;
}

/* The windows reported: 1, 2, 5 s and the whole profile, in intervals. */
static unsigned int prof_windows(const struct prof_data *d, uint32_t *k)
{
	static const uint32_t ms[] = { 1000, 2000, 5000 };
	unsigned int i, n = 0;

	for (i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
		uint32_t w = (uint32_t)((ms[i] + d->iv_ms / 2) / d->iv_ms);

		if (w && w < d->n)
			k[n++] = w;
	}
	k[n++] = d->n;
	return n;
}

static struct json_object *jd(double v)
{
	char s[64];

	/* one decimal, written as such (not 291.69999999999999) */
	snprintf(s, sizeof(s), "%.1f", v);
	return json_object_new_double_s(strtod(s, NULL), s);
}

static const char *prof_reason(const struct km_pred *p)
{
	if (p->converges)
		return NULL;
	return kmc_reason_name(p->reason);
}

static int prof_output(const struct prof_opts *o, struct prof_data *d)
{
	struct json_object *out = json_object_new_object(), *a, *e, *dr;
	struct km_pred_input in = { .pop_pages = d->pop_pages, .ws = d->ws, .nws = d->n,
				    .interval_ns = d->iv_ms * 1000000ull };
	double mean, peak, vmean, vpeak;
	char r1[KM_RATE_STRLEN];
	uint32_t wk[4];
	unsigned int nw = prof_windows(d, wk), v, b, l;
	uint64_t ns = 0;
	uint32_t i;
	struct kms_costs costs;
	struct json_object *jc = NULL;

	if (!out)
		return KM_EXIT_FAIL;
	/* the switch-over's costs: the profile's trial pause (an older VM
	 * process: estimated) and its longest harvest */
	kms_costs_estimate(&costs, d->vcpus);
	if (json_object_object_get_ex(d->res, "switchover_costs", &jc) && jc) {
		costs.pause_ns = jget_u64(jc, "pause_us") * 1000;
		costs.save_ns = costs.load_ns = jget_u64(jc, "save_us") * 1000;
		costs.resume_ns = jget_u64(jc, "resume_us") * 1000;
		costs.state_bytes = jget_u64(jc, "state_bytes");
		costs.measured = true;
	}
	if (jget_u64(d->res, "harvest_longest_us"))
		costs.harvest_ns = jget_u64(d->res, "harvest_longest_us") * 1000;
	for (i = 0; i < d->n; i++)
		ns += d->ns[i];
	if (ns)
		in.interval_ns = ns / d->n;
	mean = prof_mean(d, d->pages, &peak);
	json_object_object_add(out, "vm", json_object_new_string(o->name));
	json_object_object_add(out, "seconds", jd(ns / 1e9));
	json_object_object_add(out, "interval_ms", json_object_new_int64((int64_t)d->iv_ms));
	json_object_object_add(out, "intervals", json_object_new_int64(d->n));
	json_object_object_add(out, "dirty_mode", json_object_get(json_object_object_get(d->res, "dirty_mode")));
	json_object_object_add(out, "per_vcpu", json_object_new_boolean(d->per_vcpu));
	json_object_object_add(out, "vcpus", json_object_new_int64(d->vcpus));
	json_object_object_add(out, "page_size", json_object_new_int64((int64_t)d->page));
	json_object_object_add(out, "memory", json_object_new_int64((int64_t)jget_u64(d->res, "memory")));
	json_object_object_add(out, "populated_bytes", json_object_new_int64((int64_t)(d->pop_pages * d->page)));
	json_object_object_add(out, "ring_overflows", json_object_new_int64((int64_t)jget_u64(d->res, "ring_overflows")));
	dr = json_object_new_object();
	json_object_object_add(out, "dirty_rate", dr);
	json_object_object_add(dr, "pages_per_s", jd(mean));
	json_object_object_add(dr, "bytes_per_s", jd(mean * d->page));
	json_object_object_add(dr, "peak_pages_per_s", jd(peak));
	a = json_object_new_array();
	json_object_object_add(dr, "vcpus", d->per_vcpu ? a : NULL);
	for (v = 0; d->per_vcpu && v < d->vcpus; v++) {
		vmean = prof_mean(d, d->vcpu[v], &vpeak);
		e = json_object_new_object();
		json_object_object_add(e, "vcpu", json_object_new_int64(v));
		json_object_object_add(e, "pages_per_s", jd(vmean));
		json_object_object_add(e, "peak_pages_per_s", jd(vpeak));
		json_object_array_add(a, e);
	}
	if (!d->per_vcpu)
		json_object_put(a);
	json_object_object_add(dr, "unknown_vcpu_pages_per_s", jd(prof_mean(d, d->unknown, &vpeak)));
	a = json_object_new_array();
	json_object_object_add(out, "working_set", a);
	for (i = 0; i < nw; i++) {
		e = json_object_new_object();
		json_object_object_add(e, "window_ms", json_object_new_int64((int64_t)(wk[i] * d->iv_ms)));
		json_object_object_add(e, "pages", json_object_new_int64((int64_t)d->ws[wk[i] - 1]));
		json_object_object_add(e, "bytes", json_object_new_int64((int64_t)(d->ws[wk[i] - 1] * d->page)));
		json_object_array_add(a, e);
	}
	a = json_object_new_array();
	json_object_object_add(out, "series", a);
	for (i = 0; i < d->n; i++) {
		struct json_object *vp = json_object_new_array();

		e = json_object_new_object();
		json_object_object_add(e, "t_ms", json_object_new_int64((int64_t)(d->t_s[i] * 1000)));
		json_object_object_add(e, "pages", json_object_new_int64((int64_t)d->pages[i]));
		for (v = 0; d->per_vcpu && v < d->vcpus; v++)
			json_object_array_add(vp, json_object_new_int64((int64_t)d->vcpu[v][i]));
		json_object_object_add(e, "vcpu_pages", vp);
		json_object_object_add(e, "working_set", json_object_new_int64((int64_t)d->ws[i]));
		json_object_array_add(a, e);
	}
	a = json_object_new_array();
	json_object_object_add(out, "predictions", a);
	json_object_object_add(out, "model", json_object_new_string(
		"converge.c's decision (kmc_update) replayed round by round with the "
		"migration's switch-over costs (switch_cost.h): this guest's pause, state save "
		"(its load taken as long) and resume from the profile's trial pause, its "
		"longest harvest, a 1 ms round trip (no link here), 20 ms harvest-to-pause, "
		"margin 10 % (>= 1 ms), rounds >= 100 ms, 30 rounds; round 0 = populated memory"));
	{
		struct json_object *c = json_object_new_object();

		json_object_object_add(c, "measured", json_object_new_boolean(costs.measured));
		json_object_object_add(c, "pause_ms", jd(costs.pause_ns / 1e6));
		json_object_object_add(c, "harvest_ms", jd(costs.harvest_ns / 1e6));
		json_object_object_add(c, "state_save_ms", jd(costs.save_ns / 1e6));
		json_object_object_add(c, "state_load_ms", jd(costs.load_ns / 1e6));
		json_object_object_add(c, "resume_ms", jd(costs.resume_ns / 1e6));
		json_object_object_add(c, "rtt_ms", jd(costs.rtt_ns / 1e6));
		json_object_object_add(c, "state_bytes", json_object_new_int64((int64_t)costs.state_bytes));
		json_object_object_add(out, "switchover_costs", c);
	}
	if (!km_opts.json) {
		printf("profile of %s: %.1f s in %u intervals of %" PRIu64 " ms, dirty %s%s\n",
		       o->name, ns / 1e9, d->n, d->iv_ms,
		       json_object_get_string(json_object_object_get(d->res, "dirty_mode")),
		       d->per_vcpu ? " (per vCPU)" : " (per vCPU unknown: the bitmap does not tell)");
		printf("populated %.1f MiB of %.1f MiB (round 0)\n\n",
		       d->pop_pages * d->page / 1048576.0, jget_u64(d->res, "memory") / 1048576.0);
		printf("dirty rate (distinct pages/s)   mean    MiB/s   peak\n");
		printf("  total                     %9.1f %8.2f %9.1f\n", mean,
		       mean * d->page / 1048576.0, peak);
		for (v = 0; d->per_vcpu && v < d->vcpus; v++) {
			vmean = prof_mean(d, d->vcpu[v], &vpeak);
			printf("  vCPU %-4u                 %9.1f %8.2f %9.1f\n", v, vmean,
			       vmean * d->page / 1048576.0, vpeak);
		}
		printf("\nworking set (distinct pages dirtied in the last window)\n");
		for (i = 0; i < nw; i++)
			printf("  %6.1f s  %9" PRIu64 " pages  %8.2f MiB\n", wk[i] * d->iv_ms / 1e3,
			       d->ws[wk[i] - 1], d->ws[wk[i] - 1] * d->page / 1048576.0);
		printf("\nswitch-over costs (%s): pause %.2f ms, harvest %.2f ms, state %.1f KiB saved "
		       "in %.2f ms (load taken as long), resume %.2f ms, round trip %.1f ms\n",
		       costs.measured ? "the trial pause" : "estimated: no trial pause",
		       costs.pause_ns / 1e6, costs.harvest_ns / 1e6, costs.state_bytes / 1024.0,
		       costs.save_ns / 1e6, costs.resume_ns / 1e6, costs.rtt_ns / 1e6);
		printf("\nprediction (the migration's model, converge.c, with these costs)\n");
		printf("  %-12s %8s  %-10s %6s %9s %11s %10s\n", "bandwidth", "limit", "result",
		       "rounds", "total", "final pages", "downtime");
	}
	for (b = 0; b < o->nbw; b++) {
		for (l = 0; l < o->nlimit; l++) {
			struct km_pred_cfg c;
			struct km_pred p;

			km_pred_cfg_default(&c, o->limit_ms[l] * 1000000ull, o->bw[b], &costs);
			if (km_predict(&in, &c, &p))
				continue;
			e = json_object_new_object();
			json_object_object_add(e, "bandwidth", json_object_new_int64((int64_t)o->bw[b]));
			json_object_object_add(e, "downtime_limit_ms", json_object_new_int64((int64_t)o->limit_ms[l]));
			json_object_object_add(e, "converges", json_object_new_boolean(p.converges));
			json_object_object_add(e, "rounds", json_object_new_int64(p.rounds));
			json_object_object_add(e, "total_ms", p.converges ? jd(p.total_ns / 1e6) : NULL);
			json_object_object_add(e, "final_pages", p.converges ? json_object_new_int64((int64_t)p.final_pages) : NULL);
			json_object_object_add(e, "downtime_ms", p.converges ? jd(p.downtime_ns / 1e6) : NULL);
			json_object_object_add(e, "budget_ms", jd(p.budget_ns / 1e6));
			json_object_object_add(e, "reason", prof_reason(&p) ?
					       json_object_new_string(prof_reason(&p)) : NULL);
			json_object_array_add(a, e);
			if (km_opts.json)
				continue;
			km_rate_format(o->bw[b], r1, sizeof(r1));
			if (p.converges)
				printf("  %-12s %5" PRIu64 " ms  %-10s %6u %7.2f s %11" PRIu64 " %7.1f ms\n",
				       r1, o->limit_ms[l], "converges", p.rounds, p.total_ns / 1e9,
				       p.final_pages, p.downtime_ns / 1e6);
			else
				printf("  %-12s %5" PRIu64 " ms  does not converge after %u round%s: %s\n",
				       r1, o->limit_ms[l], p.rounds, p.rounds == 1 ? "" : "s",
				       prof_reason(&p));
		}
	}
	if (km_opts.json)
		printf("%s\n", json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(out);
	return KM_EXIT_OK;
}

static void prof_sleep(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Interrupted: cancels the profile and waits for its end (dirty logging off). */
static int prof_cancel(const struct prof_opts *o)
{
	struct json_object *rep = NULL;
	const char *state = NULL;
	char err[512];
	int i;

	km_ctl_cmd(o->name, "profile-cancel", PROF_CALL_MS, &rep, err, sizeof(err));
	json_object_put(rep);
	for (i = 0; i < 40; i++) {
		rep = NULL;
		if (km_ctl_cmd(o->name, "profile-status", PROF_CALL_MS, &rep, err, sizeof(err)))
			break;
		state = km_ctl_str(rep, "state");
		if (state && strcmp(state, "running")) {
			json_object_put(rep);
			km_err("profile: interrupted (%s); dirty logging is off again",
			       strsignal(prof_stop));
			return KM_EXIT_FAIL;
		}
		json_object_put(rep);
		prof_sleep(50);
	}
	km_err("profile: interrupted (%s); the VM ends the profile by itself within %d s",
	       strsignal(prof_stop), KM_PROF_CLIENT_GONE_MS / 1000);
	return KM_EXIT_FAIL;
}

/* Starts the profile and polls it to its end; the result in *@res. */
static int prof_measure(const struct prof_opts *o, struct json_object **res)
{
	struct json_object *req = json_object_new_object(), *rep = NULL;
	const char *state;
	char err[512];
	int r;

	*res = NULL;
	if (!req)
		return KM_EXIT_FAIL;
	json_object_object_add(req, "cmd", json_object_new_string("profile"));
	json_object_object_add(req, "seconds", json_object_new_int64(o->seconds));
	json_object_object_add(req, "interval_ms", json_object_new_int64(o->interval_ms));
	r = km_ctl_call_ok(o->name, req, PROF_CALL_MS, &rep, err, sizeof(err));
	json_object_put(req);
	if (r == -ENOENT) {
		km_err("profile: no VM '%s' runs here ('kmigrate vms' lists them)", o->name);
		return KM_EXIT_FAIL;
	}
	if (r) {
		km_err("profile: %s", err);
		return km_ctl_exit_code(r);
	}
	json_object_put(rep);
	for (;;) {
		prof_sleep(PROF_POLL_MS);
		if (prof_stop)
			return prof_cancel(o);
		r = km_ctl_cmd(o->name, "profile-status", PROF_CALL_MS, &rep, err, sizeof(err));
		if (r) {
			km_err("profile: %s", err);
			return km_ctl_exit_code(r);
		}
		state = km_ctl_str(rep, "state");
		if (!state) {
			km_err("profile: %s: %s", o->name, km_ctl_str(rep, "error") ?
			       km_ctl_str(rep, "error") : "malformed reply");
			json_object_put(rep);
			return KM_EXIT_FAIL;
		}
		if (strcmp(state, "running"))
			break;
		json_object_put(rep);
	}
	if (strcmp(state, "done")) {
		km_err("profile: %s: %s%s%s", o->name, state,
		       km_ctl_str(rep, "error") ? ": " : "",
		       km_ctl_str(rep, "error") ? km_ctl_str(rep, "error") : "");
		json_object_put(rep);
		return KM_EXIT_FAIL;
	}
	*res = rep;
	return KM_EXIT_OK;
}

static int prof_plot(const struct prof_opts *o, const struct prof_data *d)
{
	struct km_plot_data pd = {
		.n = d->n, .t_s = d->t_s, .rate = d->rate,
		.nr_vcpus = d->per_vcpu ? d->vcpus : 0,
		.vcpu_rate = (const double *const *)d->vcpu_rate,
		.ws_window_s = d->ws_s, .ws_pages = d->ws,
	};
	char title[256], err[512];

	snprintf(title, sizeof(title), "kmigrate profile %s (dirty %s)", o->name,
		 json_object_get_string(json_object_object_get(d->res, "dirty_mode")));
	pd.title = title;
	if (km_plot_svg(o->gnuplot, o->svg, &pd, err, sizeof(err))) {
		km_err("profile: %s", err);
		return KM_EXIT_FAIL;
	}
	if (!km_opts.json)
		printf("\nplot: %s\n", o->svg);
	return KM_EXIT_OK;
}

int profile_main(int argc, char **argv)
{
	struct prof_opts o = { .seconds = 10, .interval_ms = 100 };
	struct sigaction sa = { .sa_handler = prof_on_signal };
	struct json_object *res = NULL;
	struct prof_data d;
	char why[256], err[512];
	int c, r;

	prof_parse_list(PROF_DEFAULT_BW, true, o.bw, &o.nbw, "--bandwidth");
	prof_parse_list(PROF_DEFAULT_LIMITS, false, o.limit_ms, &o.nlimit, "--downtime-limit");
	while ((c = km_getopt(argc, argv, "s:i:b:d:", profile_longopts, &profile_usage)) !=
	       KM_OPT_END) {
		switch (c) {
		case 's':
			if (km_parse_u32(optarg, 1, KM_PROF_MAX_SECONDS, &o.seconds, why, sizeof(why)))
				return km_usage_error("invalid --seconds '%s': %s", optarg, why);
			break;
		case 'i':
			if (km_parse_u32(optarg, KM_PROF_MIN_INTERVAL_MS, KM_PROF_MAX_INTERVAL_MS,
					 &o.interval_ms, why, sizeof(why)))
				return km_usage_error("invalid --interval '%s': %s", optarg, why);
			break;
		case 'b':
			if ((r = prof_parse_list(optarg, true, o.bw, &o.nbw, "--bandwidth")))
				return r;
			break;
		case 'd':
			if ((r = prof_parse_list(optarg, false, o.limit_ms, &o.nlimit,
						 "--downtime-limit")))
				return r;
			break;
		case 'S':
			if (!*optarg)
				return km_usage_error("invalid --svg: expected a file name");
			o.svg = optarg;
			break;
		case 'R':
			if (!*optarg)
				return km_usage_error("invalid --plot-result: expected a file name");
			o.result = optarg;
			break;
		default:
			return km_opt_exit(c);
		}
	}
	if (optind < argc && !o.result)
		o.name = argv[optind++];
	if (km_no_args(argc, argv))
		return KM_EXIT_USAGE;
	if (o.result) {	/* a finished migration's rounds: nothing measured */
		if (o.svg && (km_plot_find(o.gnuplot, sizeof(o.gnuplot), err, sizeof(err)) ||
			      km_plot_check_dest(o.svg, err, sizeof(err)))) {
			km_err("profile: %s", err);
			return KM_EXIT_FAIL;
		}
		return km_profile_result(o.result, o.svg, o.gnuplot);
	}
	if (!o.name)
		return km_usage_error("a VM NAME is required");
	if (!km_ctl_name_valid(o.name))
		return km_usage_error("invalid NAME '%s'", o.name);
	if (o.seconds * 1000 < o.interval_ms)
		return km_usage_error("--interval %u ms is longer than --seconds %u",
				      o.interval_ms, o.seconds);
	/* what would fail after the measurement fails before it */
	if (o.svg && (km_plot_find(o.gnuplot, sizeof(o.gnuplot), err, sizeof(err)) ||
		      km_plot_check_dest(o.svg, err, sizeof(err)))) {
		km_err("profile: %s", err);
		return KM_EXIT_FAIL;
	}
	if (km_ctl_access(o.name, err, sizeof(err))) {
		km_err("profile: %s", err);
		return KM_EXIT_PERM;
	}
	prof_stop = 0;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	r = prof_measure(&o, &res);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	if (r)
		return r;
	if (prof_data_load(&d, res)) {
		km_err("profile: %s: malformed result", o.name);
		prof_data_free(&d);
		return KM_EXIT_FAIL;
	}
	r = prof_output(&o, &d);
	if (!r && o.svg)
		r = prof_plot(&o, &d);
	prof_data_free(&d);
	return r;
}
