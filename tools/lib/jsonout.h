/* SPDX-License-Identifier: GPL-2.0 */
/*
 * JSON output (-j): one object per command, built with json-c.  Numbers
 * are exact (bandwidth in bytes/s, 0 = unlimited); absent values are null.
 */
#ifndef KM_JSONOUT_H
#define KM_JSONOUT_H

#include <stdbool.h>
#include <stdio.h>

#include <json.h>

#include "msg.h"

/*
 * {"tool_version", "abi_version", "module_loaded", "module_version",
 *  "module_abi_version", "genl_version"}.  @loaded: 1, 0, or -1 when it
 * could not be told (null); the module fields are null when @info is NULL.
 */
struct json_object *km_json_version(const char *tool_version, int loaded,
				    const struct km_info *info);
/* Module info fields ("module_version" ... "default_bandwidth") and "sessions". */
struct json_object *km_json_status(const struct km_info *info,
				   const struct km_sessions *sessions);
/* {"max_sessions", "session_count", "default_bandwidth"} */
struct json_object *km_json_limits(const struct km_info *info);

/*
 * Prints @obj (one line) on @f and drops the reference.  Returns KM_EXIT_OK,
 * or KM_EXIT_FAIL after reporting that @obj is NULL (out of memory).
 */
int km_json_print(struct json_object *obj, FILE *f);

#endif /* KM_JSONOUT_H */
