/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kmigrate: the one place where differences between the supported kernel
 * lines (6.1 and 6.12) are handled.  Code elsewhere in kmod/ must not test
 * LINUX_VERSION_CODE; add a helper here instead.
 *
 * 6.1 is the oldest line built and tested.  The strict generic netlink
 * interface needs genl_family.resv_start_op (Linux 6.0).  Every other
 * interface used today has the same shape in 6.1 and 6.12, so no helper
 * is needed yet.
 */
#ifndef _KMIGRATE_COMPAT_H
#define _KMIGRATE_COMPAT_H

#include <linux/version.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 1, 0)
#error "kmigrate needs Linux 6.1 or later"
#endif

#endif /* _KMIGRATE_COMPAT_H */
