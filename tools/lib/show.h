/* SPDX-License-Identifier: GPL-2.0 */
/* Text output of the commands (the JSON twin is jsonout.h). */
#ifndef KM_SHOW_H
#define KM_SHOW_H

#include <stdio.h>

#include "error.h"
#include "msg.h"

/* "KEY:" padded to a column, then the value, on one line. */
void km_kv(FILE *f, const char *key, const char *fmt, ...) KM_PRINTF(3, 4);

/* Tool version and ABI; the module's versions unless @info is NULL. */
void km_show_version(FILE *f, const char *tool_version,
		     const struct km_info *info);
/* Module info, then a table of the sessions (or "no migration sessions"). */
void km_show_status(FILE *f, const struct km_info *info,
		    const struct km_sessions *list);
struct km_counters;
struct km_counters_list;
/*
 * For each session of @list with an attached VM: one line of its counters
 * (nothing when none has a VM).
 */
void km_show_counters(FILE *f, const struct km_sessions *list,
		      const struct km_counters_list *counters);
/* The counters of one session, "vm pid 12, round 3 (4 rounds), ..." */
void km_show_counters_line(FILE *f, const struct km_counters *c);
/* Adds @c's counters (those present) to the JSON object @o. */
struct json_object;
void km_json_counters_add(struct json_object *o, const struct km_counters *c);
void km_show_limits(FILE *f, const struct km_info *info);

#endif /* KM_SHOW_H */
