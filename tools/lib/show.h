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
void km_show_limits(FILE *f, const struct km_info *info);

#endif /* KM_SHOW_H */
