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

#include <stdbool.h>
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

/*
 * The counters of one session (the KMIGRATE_A_SESSION attributes that only
 * a session with an attached VM carries); @have: 1 << KMIGRATE_SESSION_A_*
 * of each one present (none for a session without a VM).
 */
struct km_counters {
	uint32_t id;
	uint32_t have;
	uint32_t vm_pid, round, rounds, error, nr_vcpus;
	uint64_t pages_harvested, pages_sent, zero_pages, bytes_sent;
	uint64_t harvest_ns, send_ns, send_stalls, mem_bytes;
};

struct km_counters_list {
	struct km_counters *v;
	size_t n;
};

struct km_sessions;

/*
 * Parses a KMIGRATE_A_SESSION nest's counters (each checked for its size;
 * unknown attributes ignored).  0, or -EBADMSG with @err set.
 */
int km_counters_parse(const struct nlattr *nest, struct km_counters *c,
		      struct km_error *err);
/* The counters of session @id in @l, or NULL. */
const struct km_counters *km_counters_find(const struct km_counters_list *l,
					   uint32_t id);
void km_counters_free(struct km_counters_list *l);

/*
 * The KMIGRATE_CMD_GET_SESSION dump with the counters: @list as
 * km_get_sessions() fills it (sorted by id), @counters for each session.
 */
int km_get_sessions_counters(struct km_genl *g, struct km_sessions *list,
			     struct km_counters_list *counters);

/* KMIGRATE_CMD_SET_SESSION: session @id's cap (needs CAP_NET_ADMIN). */
int km_set_session_bandwidth(struct km_genl *g, uint32_t id, uint64_t bps);

/*
 * Joins the multicast group KMIGRATE_MCGRP_EVENTS on @g's socket (which
 * then takes no requests: use a socket for events only).  0 or -errno.
 */
int km_genl_subscribe_events(struct km_genl *g);

/*
 * true when @nlh is the controller's notification that @g's family was
 * removed (the module was unloaded); km_genl_subscribe_events() joins
 * the controller's "notify" group for it.
 */
bool km_genl_family_removed(const struct km_genl *g, const struct nlmsghdr *nlh);

/* One KMIGRATE_CMD_EVENT. */
struct km_event {
	uint32_t event;			/* enum kmigrate_event */
	struct km_session_info {
		uint32_t id, owner_pid, state;
		uint64_t bandwidth;
	} s;
	struct km_counters c;
};

/*
 * Parses an event message: 1 with @ev filled, 0 for a message that is not
 * a kmigrate event (skip it), -EBADMSG with @err set when it is malformed.
 */
int km_event_parse(const struct km_genl *g, const struct nlmsghdr *nlh,
		   struct km_event *ev, struct km_error *err);

#endif /* KM_GENL_H */
