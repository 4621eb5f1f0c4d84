/* SPDX-License-Identifier: GPL-2.0 */
/*
 * `kmigrate profile`, the running VM's side: a thread that turns dirty
 * logging on, harvests every interval for a bounded time, counts the pages
 * (profile_model.h) and turns dirty logging off again, whatever happens:
 * done, cancelled, or its client gone (no "profile-status" for
 * KM_PROF_CLIENT_GONE_MS).  Served by vmhost.c:
 *
 *   profile {"seconds":N,"interval_ms":N}  starts it; {"state":"started",
 *            "interval_ms":N} (the interval may be made longer so that the
 *            result fits a control reply); refused while a migration runs,
 *            while dirty logging is on, or while another profile runs
 *   profile-status   {"state":"running","intervals_done":N,...} while it
 *            runs, then the result: {"state":"done",...} (docs/PROFILE.md)
 *   profile-cancel   ends it early; dirty logging goes off
 */
#ifndef KM_PROFILE_VM_H
#define KM_PROFILE_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json.h>

#include "vmm.h"

#define KM_PROF_MAX_SECONDS	60
#define KM_PROF_MIN_INTERVAL_MS	50
#define KM_PROF_MAX_INTERVAL_MS	1000
#define KM_PROF_CLIENT_GONE_MS	3000

struct km_prof_run;

/* Starts profiling @vm; -errno with a message in @err. */
int km_prof_run_start(struct vmm_vm *vm, uint32_t seconds, uint32_t interval_ms,
		      struct km_prof_run **out, char *err, size_t errlen);
bool km_prof_run_done(struct km_prof_run *r);
/* Progress while it runs, the result once done; marks the client alive. */
struct json_object *km_prof_run_status(struct km_prof_run *r);
uint32_t km_prof_run_interval_ms(const struct km_prof_run *r);
void km_prof_run_cancel(struct km_prof_run *r);
/*
 * Serves "profile", "profile-status" and "profile-cancel" (@cmd) with the
 * VM's profile in *@run; @busy, when set, says why no profile may start
 * now (a migration runs).  Returns the reply, or NULL with @err.
 */
struct json_object *km_prof_serve(struct km_prof_run **run, struct vmm_vm *vm, const char *cmd,
				  struct json_object *req, const char *busy, char *err,
				  size_t errlen);
/* Cancels, waits for the thread (dirty logging is off then), frees. */
void km_prof_run_free(struct km_prof_run *r);

#endif /* KM_PROFILE_VM_H */
