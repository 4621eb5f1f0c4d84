// SPDX-License-Identifier: GPL-2.0
/* A connection's round trip (tcprtt.h).  linux/tcp.h, not netinet/tcp.h:
 * glibc's struct tcp_info lacks tcpi_min_rtt. */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/tcp.h>

#include "tcprtt.h"

int km_tcp_rtt(int fd, uint64_t *srtt_ns, uint64_t *min_ns)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return -errno;
	*srtt_ns = (uint64_t)ti.tcpi_rtt * 1000;
	/* an older kernel's shorter struct leaves it 0 */
	*min_ns = len > offsetof(struct tcp_info, tcpi_min_rtt) ?
		  (uint64_t)ti.tcpi_min_rtt * 1000 : 0;
	return 0;
}
