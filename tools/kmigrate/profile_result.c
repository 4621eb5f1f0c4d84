// SPDX-License-Identifier: GPL-2.0
/* kmigrate profile --plot-result (profile_result.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json.h>

#include "cli.h"
#include "error.h"
#include "exitcode.h"
#include "profile_plot.h"
#include "profile_result.h"

/* @o's number @key; @def when absent or null. */
static double res_num(struct json_object *o, const char *key, double def)
{
	struct json_object *j;

	if (!json_object_object_get_ex(o, key, &j) || !j)
		return def;
	return json_object_get_double(j);
}

static const char *res_str(struct json_object *o, const char *key)
{
	struct json_object *j;

	if (!json_object_object_get_ex(o, key, &j) || !j)
		return NULL;
	return json_object_get_string(j);
}

int km_profile_result(const char *file, const char *svg, const char *gnuplot)
{
	struct json_object *res = json_object_from_file(file), *hist = NULL;
	struct km_plot_round *r = NULL;
	struct km_plot_rounds pr;
	char title[300], err[512];
	uint32_t n, i;
	int ret = KM_EXIT_FAIL;

	if (!res || !json_object_is_type(res, json_type_object)) {
		km_err("profile: --plot-result %s: not a JSON object (%s)", file,
		       json_util_get_last_err() ? json_util_get_last_err() : "unreadable");
		goto out;
	}
	if (!json_object_object_get_ex(res, "round_history", &hist) ||
	    !json_object_is_type(hist, json_type_array) || !json_object_array_length(hist)) {
		km_err("profile: --plot-result %s: no round_history (not the result of "
		       "'kmigrate -j start', or of an older kmigrate)", file);
		goto out;
	}
	n = (uint32_t)json_object_array_length(hist);
	r = calloc(n, sizeof(*r));
	if (!r) {
		km_err("profile: out of memory");
		goto out;
	}
	if (!km_opts.json)
		printf("rounds of %s -> %s (%s): limit %.0f ms, downtime %.1f ms\n"
		       "  round kind     sent pages  dirty   link KiB/s  speed  predicted  "
		       "allowed   actual  decision\n",
		       res_str(res, "name") ? res_str(res, "name") : "?",
		       res_str(res, "to") ? res_str(res, "to") : "?",
		       res_str(res, "result") ? res_str(res, "result") : "?",
		       res_num(res, "downtime_limit_ms", 0), res_num(res, "downtime_ms", -1));
	for (i = 0; i < n; i++) {
		struct json_object *h = json_object_array_get_idx(hist, i);
		const char *kind = res_str(h, "kind");

		r[i].pages_sent = (uint64_t)res_num(h, "pages_sent", 0);
		r[i].dirty_pages = (uint64_t)res_num(h, "dirty_pages", 0);
		r[i].link_rate = (uint64_t)res_num(h, "link_rate", 0);
		r[i].predicted_ms = res_num(h, "predicted_downtime_ms", 0);
		r[i].actual_ms = res_num(h, "downtime_ms", -1);
		r[i].budget_ms = res_num(h, "budget_ms", -1);
		r[i].guest_speed = (unsigned int)res_num(h, "guest_speed_pct", 100);
		r[i].kind = kind && !strcmp(kind, "final") ? 1 : kind && !strcmp(kind, "aborted") ? 2 : 0;
		if (km_opts.json)
			continue;
		printf("  %5.0f %-8s %10" PRIu64 " %6" PRIu64 " %12" PRIu64 " %5u%% %8.1f ms ",
		       res_num(h, "round", 0), kind ? kind : "?", r[i].pages_sent,
		       r[i].dirty_pages, r[i].link_rate >> 10, r[i].guest_speed,
		       r[i].predicted_ms);
		if (r[i].budget_ms >= 0)
			printf("%6.1f ms ", r[i].budget_ms);
		else
			printf("%9s ", "-");
		if (r[i].actual_ms >= 0)
			printf("%6.1f ms ", r[i].actual_ms);
		else
			printf("%9s ", "-");
		printf(" %s\n", res_str(h, "decision") ? res_str(h, "decision") : "-");
	}
	if (km_opts.json)
		printf("%s\n", json_object_to_json_string_ext(hist, JSON_C_TO_STRING_PLAIN |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
	ret = KM_EXIT_OK;
	if (svg) {
		snprintf(title, sizeof(title), "kmigrate: %s -> %s, limit %.0f ms, downtime %.1f ms",
			 res_str(res, "name") ? res_str(res, "name") : "?",
			 res_str(res, "to") ? res_str(res, "to") : "?",
			 res_num(res, "downtime_limit_ms", 0), res_num(res, "downtime_ms", -1));
		pr = (struct km_plot_rounds){ .title = title, .n = n, .r = r };
		if (km_plot_rounds_svg(gnuplot, svg, &pr, err, sizeof(err))) {
			km_err("profile: %s", err);
			ret = KM_EXIT_FAIL;
		} else if (!km_opts.json) {
			printf("\nplot: %s\n", svg);
		}
	}
out:
	free(r);
	json_object_put(res);
	return ret;
}
