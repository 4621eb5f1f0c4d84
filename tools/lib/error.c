// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <linux/kmigrate.h>

#include "error.h"

void km_error_clear(struct km_error *e)
{
	e->code = KM_EXIT_OK;
	e->errnum = 0;
	e->detail[0] = '\0';
}

enum km_exit km_exit_for_errno(int errnum)
{
	switch (errnum) {
	case 0:
		return KM_EXIT_OK;
	case EPERM:
	case EACCES:
		return KM_EXIT_PERM;
	default:
		return KM_EXIT_FAIL;
	}
}

int km_error_set(struct km_error *e, int errnum, const char *fmt, ...)
{
	va_list ap;

	e->errnum = errnum;
	e->code = errnum ? km_exit_for_errno(errnum) : KM_EXIT_FAIL;
	e->detail[0] = '\0';
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
		va_end(ap);
	}
	return errnum ? -errnum : -EIO;
}

int km_error_no_module(struct km_error *e)
{
	km_error_set(e, ENOENT, "generic netlink family '%s' not found",
		     KMIGRATE_GENL_NAME);
	e->code = KM_EXIT_NO_MODULE;
	return -ENOENT;
}

int km_error_format(const struct km_error *e, const char *what,
		    char *buf, size_t len)
{
	const char *why = e->errnum ? strerror(e->errnum) : "";
	const char *sep = e->errnum && e->detail[0] ? ": " : "";

	if (e->code == KM_EXIT_NO_MODULE)	/* says it all, whatever failed */
		return snprintf(buf, len,
				"kernel module not loaded (%s); load it with 'modprobe %s'",
				e->detail, KM_MODULE_NAME);
	if (!e->errnum && !e->detail[0])
		why = "unknown error";
	return snprintf(buf, len, "%s: %s%s%s", what, why, sep, e->detail);
}

int km_error_report(const struct km_error *e, const char *what)
{
	char buf[512];

	km_error_format(e, what, buf, sizeof(buf));
	km_err("%s", buf);
	return e->code;
}

static void km_vprint(const char *prefix, const char *fmt, va_list ap)
{
	fflush(stdout);
	fprintf(stderr, "%s: %s", KM_PROG, prefix);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void km_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	km_vprint("", fmt, ap);
	va_end(ap);
}

void km_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	km_vprint("warning: ", fmt, ap);
	va_end(ap);
}
