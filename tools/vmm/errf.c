// SPDX-License-Identifier: GPL-2.0
/*
 * libvmm: an error explained into a caller's buffer (the loaders: bzImage,
 * Linux boot, multiboot), so that the command can print one clear line.
 */
#include <stdarg.h>
#include <stdio.h>
#include "vmm.h"

int vmm_errf(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}
