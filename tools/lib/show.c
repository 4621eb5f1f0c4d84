// SPDX-License-Identifier: GPL-2.0
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdarg.h>
#include <string.h>

#include <json.h>
#include <linux/kmigrate.h>

#include "genl.h"
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

void km_show_counters_line(FILE *f, const struct km_counters *c)
{
	char rate[KM_RATE_STRLEN];
	double secs = (double)c->send_ns / 1e9;

	fprintf(f, "vm pid %u, %u vcpus, %" PRIu64 " MiB, round %u (%u started), "
		"harvested %" PRIu64 ", sent %" PRIu64 " pages + %" PRIu64 " zero, "
		"%" PRIu64 " bytes",
		c->vm_pid, c->nr_vcpus, c->mem_bytes >> 20, c->round, c->rounds,
		c->pages_harvested, c->pages_sent, c->zero_pages, c->bytes_sent);
	if (secs > 0)
		fprintf(f, " (%s while sending)",
			km_rate_format((uint64_t)((double)c->bytes_sent / secs),
				       rate, sizeof(rate)));
	fprintf(f, ", harvest %.3f ms, send %.3f ms, %" PRIu64 " stalls",
		(double)c->harvest_ns / 1e6, (double)c->send_ns / 1e6, c->send_stalls);
	if (c->error)
		fprintf(f, ", error %u (%s)", c->error, strerror((int)c->error));
}

void km_show_counters(FILE *f, const struct km_sessions *list,
		      const struct km_counters_list *counters)
{
	bool header = false;
	size_t i;

	for (i = 0; i < list->n; i++) {
		const struct km_counters *c = km_counters_find(counters, list->v[i].id);

		if (!c || !(c->have & (1U << KMIGRATE_SESSION_A_VM_PID)))
			continue;
		if (!header)
			fprintf(f, "\n");
		header = true;
		fprintf(f, "session %u: ", list->v[i].id);
		km_show_counters_line(f, c);
		fprintf(f, "\n");
	}
}

void km_json_counters_add(struct json_object *o, const struct km_counters *c)
{
	static const struct {
		int type;
		const char *key;
		size_t off;
		bool u64;
	} f[] = {
#define KM_CF(t, k, m, w) { KMIGRATE_SESSION_A_##t, k, offsetof(struct km_counters, m), w }
		KM_CF(VM_PID, "vm_pid", vm_pid, false),
		KM_CF(NR_VCPUS, "nr_vcpus", nr_vcpus, false),
		KM_CF(MEM_BYTES, "mem_bytes", mem_bytes, true),
		KM_CF(ROUND, "round", round, false),
		KM_CF(ROUNDS, "rounds", rounds, false),
		KM_CF(PAGES_HARVESTED, "pages_harvested", pages_harvested, true),
		KM_CF(PAGES_SENT, "pages_sent", pages_sent, true),
		KM_CF(ZERO_PAGES, "zero_pages", zero_pages, true),
		KM_CF(BYTES_SENT, "bytes_sent", bytes_sent, true),
		KM_CF(HARVEST_NS, "harvest_ns", harvest_ns, true),
		KM_CF(SEND_NS, "send_ns", send_ns, true),
		KM_CF(SEND_STALLS, "send_stalls", send_stalls, true),
		KM_CF(ERROR, "error", error, false),
#undef KM_CF
	};
	size_t i;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		const char *p = (const char *)c + f[i].off;
		uint64_t v;

		if (!(c->have & (1U << f[i].type)))
			continue;
		if (f[i].u64) {
			memcpy(&v, p, sizeof(v));
		} else {
			uint32_t v32;

			memcpy(&v32, p, sizeof(v32));
			v = v32;
		}
		json_object_object_add(o, f[i].key, json_object_new_uint64(v));
	}
}
