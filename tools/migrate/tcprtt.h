/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A connection's round trip from the kernel (TCP_INFO): the smoothed one,
 * which a full send queue inflates (the bulk round's queueing is in it),
 * and the least one seen, which is the link's own.  The switch-over model
 * (switch_cost.h) takes the smoothed one: END -> READY and COMMIT follow
 * the final pages, and meet what they left in the queues.
 */
#ifndef KM_TCPRTT_H
#define KM_TCPRTT_H

#include <stdint.h>

/* 0 with *@srtt_ns and *@min_ns set (either 0 when the kernel does not
 * say); -errno. */
int km_tcp_rtt(int fd, uint64_t *srtt_ns, uint64_t *min_ns);

#endif /* KM_TCPRTT_H */
