/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kmigrate: the one place where differences between the supported kernel
 * lines (6.1 and 6.12) are handled.  Code elsewhere in kmod/ must not test
 * LINUX_VERSION_CODE; add a helper here instead.
 *
 * 6.1 is the oldest line built and tested.  The strict generic netlink
 * interface needs genl_family.resv_start_op (Linux 6.0).
 *
 * Sending pages by reference: up to 6.4 a socket has ->sendpage
 * (kernel_sendpage(), MSG_SENDPAGE_NOTLAST between the pages of one
 * message); 6.5 removed it in favour of sendmsg() with MSG_SPLICE_PAGES
 * over a bio_vec iterator.  kmigrate_send_pages() hides the difference.
 */
#ifndef _KMIGRATE_COMPAT_H
#define _KMIGRATE_COMPAT_H

#include <linux/version.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 1, 0)
#error "kmigrate needs Linux 6.1 or later"
#endif

#include <linux/bvec.h>
#include <linux/errno.h>
#include <linux/jiffies.h>
#include <linux/mm_types.h>
#include <linux/net.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/socket.h>
#include <linux/uio.h>
#include <net/genetlink.h>
#include <net/sock.h>

/*
 * The events group is admin-only (netlink.c): genl_multicast_group.flags
 * and GENL_MCAST_CAP_NET_ADMIN are upstream since Linux 6.7 and were
 * backported to the 6.1 stable line that Debian ships.  A kernel without
 * them would let anyone join the group: refuse to build rather than leak
 * the sessions.
 */
#ifndef GENL_MCAST_CAP_NET_ADMIN
#error "kmigrate needs GENL_MCAST_CAP_NET_ADMIN (Linux 6.7, or a 6.1.y stable kernel with it)"
#endif

/**
 * kmigrate_send_again - may an interrupted socket send be tried again?
 * @sock: the socket
 * @err: what the send returned
 * @since: jiffies when the first retry of this send began, 0 = none yet
 *
 * A record cannot be resumed once the ioctl returns, so a signal that is
 * not fatal (SIGCHLD, a timer) must not break the stream: the send waits a
 * tick (killable, so a fatal signal still ends it at once) and is tried
 * again, as long as the socket's send timeout has not passed.
 *
 * Context: process context, may sleep.
 * Return: true to send again.
 */
static inline bool kmigrate_send_again(struct socket *sock, int err,
				       unsigned long *since)
{
	long timeo = READ_ONCE(sock->sk->sk_sndtimeo);

	if ((err != -ERESTARTSYS && err != -EINTR) ||
	    fatal_signal_pending(current))
		return false;
	if (!*since)
		*since = jiffies | 1;
	else if (timeo != MAX_SCHEDULE_TIMEOUT &&
		 time_after(jiffies, *since + timeo))
		return false;
	schedule_timeout_killable(1);
	return true;
}

/**
 * kmigrate_send_pages - send whole pages on a stream socket by reference
 * @sock: a connected TCP socket
 * @pages: @n pages; the network stack takes its own references
 * @n: pages to send, at least one
 * @more: more data follows at once (MSG_MORE on the last page too)
 *
 * Blocks as the socket's send timeout says (SO_SNDTIMEO); a broken
 * connection is reported as an error, never as SIGPIPE to the caller.  A partial send
 * is continued; the call returns when every byte was queued or on the
 * first error.
 *
 * Context: process context, may sleep.
 * Return: 0, or a negative errno from the socket (-EPIPE, -ECONNRESET,
 * -EAGAIN after the send timeout, -ERESTARTSYS/-EINTR on a signal).
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 5, 0)
static inline int kmigrate_send_pages(struct socket *sock,
				      struct page **pages, unsigned int n,
				      bool more)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		bool last = i + 1 == n && !more;
		int flags = MSG_NOSIGNAL |
			    (last ? 0 : MSG_MORE | MSG_SENDPAGE_NOTLAST);
		unsigned long since = 0;
		size_t off = 0;
		int ret;

		while (off < PAGE_SIZE) {
			ret = kernel_sendpage(sock, pages[i], off,
					      PAGE_SIZE - off, flags);
			if (ret < 0 && kmigrate_send_again(sock, ret, &since))
				continue;
			if (ret < 0)
				return ret;
			if (!ret)
				return -EPIPE;
			off += ret;
		}
	}
	return 0;
}
#else
#define KMIGRATE_SEND_CHUNK	16

static inline int kmigrate_send_pages(struct socket *sock,
				      struct page **pages, unsigned int n,
				      bool more)
{
	struct bio_vec bv[KMIGRATE_SEND_CHUNK];
	unsigned int i = 0;

	while (i < n) {
		unsigned int c = min_t(unsigned int, n - i, KMIGRATE_SEND_CHUNK);
		struct msghdr msg = {
			.msg_flags = MSG_SPLICE_PAGES | MSG_NOSIGNAL,
		};
		unsigned long since = 0;
		unsigned int j;

		if (more || i + c < n)
			msg.msg_flags |= MSG_MORE;
		for (j = 0; j < c; j++)
			bvec_set_page(&bv[j], pages[i + j], PAGE_SIZE, 0);
		iov_iter_bvec(&msg.msg_iter, ITER_SOURCE, bv, c,
			      (size_t)c * PAGE_SIZE);
		while (msg_data_left(&msg)) {
			int ret = sock_sendmsg(sock, &msg);

			if (ret < 0 && kmigrate_send_again(sock, ret, &since))
				continue;
			if (ret < 0)
				return ret;
			if (!ret)
				return -EPIPE;
		}
		i += c;
	}
	return 0;
}
#endif

#endif /* _KMIGRATE_COMPAT_H */
