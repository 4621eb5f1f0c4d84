// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <linux/kmigrate.h>

#include "jsonout.h"
#include "names.h"

/*
 * An object under construction.  json-c returns NULL when out of memory;
 * the first failure is remembered and km_jb_end() then gives NULL.
 */
struct km_jb {
	struct json_object *obj;
	bool failed;
};

static struct km_jb km_jb_begin(void)
{
	struct json_object *obj = json_object_new_object();

	return (struct km_jb){ obj, !obj };
}

/* Adds @val (ownership passes); NULL means json-c ran out of memory. */
static void km_jb_add(struct km_jb *b, const char *key, struct json_object *val)
{
	if (!val || b->failed || json_object_object_add(b->obj, key, val)) {
		json_object_put(val);
		b->failed = true;
	}
}

static void km_jb_null(struct km_jb *b, const char *key)
{
	if (b->failed || json_object_object_add(b->obj, key, NULL))
		b->failed = true;
}

static void km_jb_u64(struct km_jb *b, const char *key, uint64_t v)
{
	km_jb_add(b, key, json_object_new_uint64(v));
}

static struct json_object *km_jb_end(struct km_jb *b)
{
	if (!b->failed)
		return b->obj;
	json_object_put(b->obj);
	return NULL;
}

struct json_object *km_json_version(const char *tool_version, int loaded,
				    const struct km_info *info)
{
	struct km_jb b = km_jb_begin();

	km_jb_add(&b, "tool_version", json_object_new_string(tool_version));
	km_jb_u64(&b, "abi_version", KMIGRATE_ABI_VERSION);
	if (loaded < 0)
		km_jb_null(&b, "module_loaded");
	else
		km_jb_add(&b, "module_loaded", json_object_new_boolean(loaded));
	if (info) {
		km_jb_add(&b, "module_version",
			  json_object_new_string(info->module_version));
		km_jb_u64(&b, "module_abi_version", info->abi_version);
		km_jb_u64(&b, "genl_version", info->genl_version);
	} else {
		km_jb_null(&b, "module_version");
		km_jb_null(&b, "module_abi_version");
		km_jb_null(&b, "genl_version");
	}
	return km_jb_end(&b);
}

static struct json_object *km_json_session(const struct km_session *s)
{
	struct km_jb b = km_jb_begin();
	const char *state = km_state_name(s->state);

	km_jb_u64(&b, "id", s->id);
	km_jb_u64(&b, "owner_pid", s->owner_pid);
	km_jb_add(&b, "state", json_object_new_string(state ? state : "unknown"));
	km_jb_u64(&b, "state_code", s->state);
	km_jb_u64(&b, "bandwidth", s->bandwidth);
	return km_jb_end(&b);
}

static struct json_object *km_json_sessions(const struct km_sessions *list)
{
	struct json_object *arr = json_object_new_array();
	size_t i;

	for (i = 0; arr && i < list->n; i++) {
		struct json_object *s = km_json_session(&list->v[i]);

		if (!s || json_object_array_add(arr, s)) {
			json_object_put(s);
			json_object_put(arr);
			return NULL;
		}
	}
	return arr;
}

struct json_object *km_json_status(const struct km_info *info,
				   const struct km_sessions *sessions)
{
	struct km_jb b = km_jb_begin();

	km_jb_add(&b, "module_version", json_object_new_string(info->module_version));
	km_jb_u64(&b, "module_abi_version", info->abi_version);
	km_jb_u64(&b, "genl_version", info->genl_version);
	km_jb_u64(&b, "features", info->features);
	km_jb_u64(&b, "session_count", info->session_count);
	km_jb_u64(&b, "max_sessions", info->max_sessions);
	km_jb_u64(&b, "default_bandwidth", info->default_bandwidth);
	km_jb_add(&b, "sessions", km_json_sessions(sessions));
	return km_jb_end(&b);
}

struct json_object *km_json_limits(const struct km_info *info)
{
	struct km_jb b = km_jb_begin();

	km_jb_u64(&b, "max_sessions", info->max_sessions);
	km_jb_u64(&b, "session_count", info->session_count);
	km_jb_u64(&b, "default_bandwidth", info->default_bandwidth);
	return km_jb_end(&b);
}

int km_json_print(struct json_object *obj, FILE *f)
{
	const char *text = obj ? json_object_to_json_string_ext(obj,
			JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) : NULL;

	if (text)
		fprintf(f, "%s\n", text);
	json_object_put(obj);
	if (text)
		return KM_EXIT_OK;
	km_err("building JSON output: %s", strerror(ENOMEM));
	return KM_EXIT_FAIL;
}
