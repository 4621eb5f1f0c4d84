/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The dedicated migration network (source side): a migration socket bound
 * to the migration interface (`start --via IFACE`, SO_BINDTODEVICE) and/or
 * to a source address (config source_address) before it connects, so the
 * migration's traffic leaves on the migration NIC whatever the routing
 * table says for the destination.
 */
#ifndef KM_NETVIA_H
#define KM_NETVIA_H

#include <stdbool.h>
#include <stddef.h>

/* @via names an existing interface: 0, or -ENODEV/-EINVAL with @err
 * ("no network interface 'x0' on this host"). */
int km_net_check_via(const char *via, char *err, size_t errlen);
/*
 * Binds socket @fd of @family to @via ("" or NULL: none) and @src (""/NULL:
 * none).  Returns 0; 1 when @src is of another family (skip this address of
 * the destination); -errno with @err saying why.
 */
int km_net_bind_source(int fd, int family, const char *via, const char *src, char *err,
		       size_t errlen);
/* The message for connect() to HOST PORT failing with @e, naming @via. */
void km_net_connect_msg(char *buf, size_t len, const char *host, const char *port, int e,
			const char *via, const char *src);
/* The failure @e means the destination is not reachable through @via (or
 * from @src): retrying will not help. */
bool km_net_unreachable(int e, const char *via, const char *src);

#endif /* KM_NETVIA_H */
