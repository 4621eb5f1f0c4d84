/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Talking to kmigrate.ko over generic netlink, with libnl-genl-3.
 *
 *	struct km_genl g;
 *	struct nl_msg *msg;
 *
 *	if (km_genl_open(&g))                   family resolved, or g.err set
 *		return km_error_report(&g.err, "...");
 *	msg = km_genl_msg(&g, KMIGRATE_CMD_GET_INFO, 0);       or NLM_F_DUMP
 *	... nla_put() request attributes ...
 *	ret = km_genl_exchange(&g, msg, my_cb, my_arg);
 *	km_genl_close(&g);
 *
 * km_genl_exchange() sends the request and reads until the request is
 * finished: the ack of a doit, NLMSG_DONE of a dump, or an error.  Each
 * reply message goes to the callback.  Kernel errors keep their errno and
 * the extended ack message (the socket asks for NETLINK_EXT_ACK).
 */
#ifndef KM_GENL_H
#define KM_GENL_H

#include <stdint.h>

#include <linux/netlink.h>

#include "error.h"

struct nl_sock;
struct nl_msg;

struct km_genl {
	struct nl_sock *sk;
	int family;			/* genl family id of "kmigrate" */
	struct km_error err;		/* why the last call failed */
};

/*
 * Called for each reply message; returns 0, or a negative errno with @err
 * filled (km_error_set()) to stop and fail the exchange.
 */
typedef int (*km_genl_cb)(const struct nlmsghdr *nlh, void *arg,
			  struct km_error *err);

/*
 * Opens the socket and resolves the family.  Returns 0, or a negative
 * errno with g->err set: code KM_EXIT_NO_MODULE when the family is absent.
 */
int km_genl_open(struct km_genl *g);
/* Same for any genl family (-ENOENT when absent); the tests use "nlctrl". */
int km_genl_open_family(struct km_genl *g, const char *family);
void km_genl_close(struct km_genl *g);

/* A request for @cmd with the genl header filled; NULL (g->err set) on ENOMEM. */
struct nl_msg *km_genl_msg(struct km_genl *g, uint8_t cmd, int flags);

/*
 * Sends @msg (always freed) and reads its replies, calling @cb (may be
 * NULL) for each.  Returns 0, or a negative errno with g->err set; a dump
 * the kernel flags as interrupted (NLM_F_DUMP_INTR: what it lists changed
 * meanwhile) returns -EAGAIN once it is read to its end.
 */
int km_genl_exchange(struct km_genl *g, struct nl_msg *msg,
		     km_genl_cb cb, void *arg);

#endif /* KM_GENL_H */
