// SPDX-License-Identifier: GPL-2.0
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include <linux/kmigrate.h>

#include "names.h"
#include "rate.h"
#include "show.h"

#define KM_KEY_WIDTH	21

void km_kv(FILE *f, const char *key, const char *fmt, ...)
{
	size_t len = strlen(key);
	va_list ap;

	fprintf(f, "%s:%*s", key, len < KM_KEY_WIDTH ? (int)(KM_KEY_WIDTH - len) : 1, "");
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
}

void km_show_version(FILE *f, const char *tool_version,
		     const struct km_info *info)
{
	km_kv(f, "tool version", "%s", tool_version);
	km_kv(f, "tool ABI version", "%d", KMIGRATE_ABI_VERSION);
	if (!info)
		return;
	km_kv(f, "module version", "%s", info->module_version);
	km_kv(f, "module ABI version", "%u", info->abi_version);
	km_kv(f, "genl family version", "%u", info->genl_version);
}

static void km_show_sessions(FILE *f, const struct km_sessions *list)
{
	char rate[KM_RATE_STRLEN];
	size_t i;

	if (!list->n) {
		fprintf(f, "\nno migration sessions\n");
		return;
	}
	fprintf(f, "\n%10s %10s  %-10s %s\n", "ID", "PID", "STATE", "BANDWIDTH");
	for (i = 0; i < list->n; i++) {
		const struct km_session *s = &list->v[i];
		const char *state = km_state_name(s->state);

		fprintf(f, "%10u %10u  %-10s %s\n", s->id, s->owner_pid,
			state ? state : "unknown",
			km_rate_format(s->bandwidth, rate, sizeof(rate)));
	}
}

void km_show_status(FILE *f, const struct km_info *info,
		    const struct km_sessions *list)
{
	char rate[KM_RATE_STRLEN];

	km_kv(f, "module version", "%s (ABI %u, genl %u)", info->module_version,
	      info->abi_version, info->genl_version);
	if (info->features)
		km_kv(f, "features", "0x%" PRIx64, info->features);
	else
		km_kv(f, "features", "none");
	km_kv(f, "sessions", "%u of %u allowed", info->session_count,
	      info->max_sessions);
	km_kv(f, "default bandwidth", "%s",
	      km_rate_format(info->default_bandwidth, rate, sizeof(rate)));
	km_show_sessions(f, list);
}

void km_show_limits(FILE *f, const struct km_info *info)
{
	char rate[KM_RATE_STRLEN];

	km_kv(f, "max sessions", "%u (%u in use)", info->max_sessions,
	      info->session_count);
	km_kv(f, "default bandwidth", "%s",
	      km_rate_format(info->default_bandwidth, rate, sizeof(rate)));
}
