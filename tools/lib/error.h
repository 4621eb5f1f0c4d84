/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Error reporting: every message goes to stderr as "kmigrate: WHAT: WHY",
 * and every failure carries the exit status it maps to.
 */
#ifndef KM_ERROR_H
#define KM_ERROR_H

#include <stddef.h>

#include "exitcode.h"

#define KM_PROG			"kmigrate"
#define KM_MODULE_NAME		"kmigrate"	/* for modprobe */
#define KM_ERROR_DETAIL_MAX	256

#define KM_PRINTF(fmt, args)	__attribute__((format(printf, fmt, args)))

/**
 * struct km_error - why an operation failed
 * @code: exit status the failure maps to (%KM_EXIT_OK: no failure).
 * @errnum: errno value from a system call or the kernel; 0 when the
 *	failure has no errno (e.g. a libnl error, which @detail describes).
 * @detail: extra words: the kernel's extended ack message, or what exactly
 *	was wrong; empty when there is nothing to add.
 */
struct km_error {
	enum km_exit code;
	int errnum;
	char detail[KM_ERROR_DETAIL_MAX];
};

void km_error_clear(struct km_error *e);
/* Records a failure; returns -errnum (or -EIO when @errnum is 0). */
int km_error_set(struct km_error *e, int errnum, const char *fmt, ...)
	KM_PRINTF(3, 4);
/* Records that the kmigrate module (its genl family) is not loaded. */
int km_error_no_module(struct km_error *e);
/* Exit status for a failure with errno @errnum. */
enum km_exit km_exit_for_errno(int errnum);
/* Writes "WHAT: WHY" for @e into @buf; returns what snprintf returns. */
int km_error_format(const struct km_error *e, const char *what,
		    char *buf, size_t len);
/* Prints @e on stderr ("kmigrate: WHAT: WHY"); returns its exit status. */
int km_error_report(const struct km_error *e, const char *what);

/* "kmigrate: MESSAGE" and "kmigrate: warning: MESSAGE" on stderr. */
void km_err(const char *fmt, ...) KM_PRINTF(1, 2);
void km_warn(const char *fmt, ...) KM_PRINTF(1, 2);

#endif /* KM_ERROR_H */
