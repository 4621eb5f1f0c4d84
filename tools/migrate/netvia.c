// SPDX-License-Identifier: GPL-2.0
/* The migration network on the source side (netvia.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "netvia.h"

int km_net_check_via(const char *via, char *err, size_t errlen)
{
	if (!via || !*via)
		return 0;
	if (strlen(via) >= IF_NAMESIZE || strchr(via, '/')) {
		snprintf(err, errlen, "'%s' is not a network interface name", via);
		return -EINVAL;
	}
	if (!if_nametoindex(via)) {
		snprintf(err, errlen, "no network interface '%s' on this host", via);
		return -ENODEV;
	}
	return 0;
}

int km_net_bind_source(int fd, int family, const char *via, const char *src, char *err,
		       size_t errlen)
{
	int r;

	if (via && *via) {
		r = km_net_check_via(via, err, errlen);
		if (r)
			return r;
		if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, via, (socklen_t)strlen(via)) < 0) {
			r = -errno;
			snprintf(err, errlen, "sending via %s: SO_BINDTODEVICE: %s%s", via,
				 strerror(-r), r == -EPERM ? " (needs CAP_NET_RAW)" : "");
			return r;
		}
	}
	if (src && *src) {
		struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
		struct sockaddr_in s4 = { .sin_family = AF_INET };
		char a[64];
		size_t n = strlen(src);
		const void *sa;
		socklen_t sl;
		int fam;

		/* [v6] as well as v6 */
		if (src[0] == '[' && n > 2 && n < sizeof(a) + 1 && src[n - 1] == ']')
			snprintf(a, sizeof(a), "%.*s", (int)(n - 2), src + 1);
		else
			snprintf(a, sizeof(a), "%s", src);
		if (inet_pton(AF_INET6, a, &s6.sin6_addr) == 1) {
			fam = AF_INET6;
			sa = &s6;
			sl = sizeof(s6);
		} else if (inet_pton(AF_INET, a, &s4.sin_addr) == 1) {
			fam = AF_INET;
			sa = &s4;
			sl = sizeof(s4);
		} else {
			snprintf(err, errlen, "source address '%s' is not an IPv4 or IPv6 address",
				 src);
			return -EINVAL;
		}
		if (fam != family) {
			snprintf(err, errlen, "source address %s is not of the destination's "
				 "address family", src);
			return 1;
		}
		if (bind(fd, (const struct sockaddr *)sa, sl) < 0) {
			r = -errno;
			snprintf(err, errlen, "binding to source address %s: %s%s", src,
				 strerror(-r), r == -EADDRNOTAVAIL ?
				 " (not an address of this host)" : "");
			return r;
		}
	}
	return 0;
}

bool km_net_unreachable(int e, const char *via, const char *src)
{
	return ((via && *via) || (src && *src)) && (e == ENETUNREACH || e == EHOSTUNREACH);
}

void km_net_connect_msg(char *buf, size_t len, const char *host, const char *port, int e,
			const char *via, const char *src)
{
	bool v = via && *via, s = src && *src;

	if (km_net_unreachable(e, via, src))
		snprintf(buf, len, "connecting to %s port %s: %s: the destination is not "
			 "reachable %s%s%s%s%s", host, port, strerror(e), v ? "through " : "",
			 v ? via : "", v && s ? " " : "", s ? "from " : "", s ? src : "");
	else
		snprintf(buf, len, "connecting to %s port %s%s%s%s%s: %s", host, port,
			 v ? " via " : "", v ? via : "", s ? " from " : "", s ? src : "",
			 strerror(e));
}
