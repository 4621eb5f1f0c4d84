/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A fake kmigrate.ko for the unit tests: a NETLINK_GENERIC socket in a
 * child process that answers GET_INFO, GET_SESSION and SET_CONFIG the way
 * kmod/netlink.c does (strict requests, extended acks), or misbehaves as
 * told.  The tool's socket talks to it by port instead of to the kernel;
 * sending between user sockets needs CAP_NET_ADMIN.
 */
#ifndef KM_FAKE_H
#define KM_FAKE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "genl.h"

#define FAKE_FAMILY	0x7a

struct fake_module {
	uint32_t abi_version;		/* 0: KMIGRATE_ABI_VERSION */
	uint32_t max_sessions;		/* 0: KMIGRATE_MAX_SESSIONS_DEFAULT */
	uint64_t default_bandwidth;
	uint32_t nsessions;		/* sessions with ids n..1 (dumped backwards) */
	int set_error;			/* SET_CONFIG fails: -errno, no extack */
	int dump_interrupts;		/* so many dumps flagged NLM_F_DUMP_INTR */
	int dump_error;			/* GET_SESSION's NLMSG_DONE status */
	int session_error;		/* GET_SESSION refused at once with an
					 * error ack, as the core does for
					 * GENL_ADMIN_PERM (-EPERM) */
	bool info_no_reply;		/* GET_INFO: only the ack */
	bool info_malformed;		/* GET_INFO: ABI version as a u16 */
	bool session_malformed;		/* GET_SESSION: a message without nest */
};

struct fake {
	struct nl_sock *sk;
	pid_t pid;
};

/*
 * Starts the fake module @m and points @g (opened here) at it.  Returns 0,
 * -EPERM when user sockets may not talk (skip), or another -errno.
 */
int fake_start(struct fake *f, const struct fake_module *m, struct km_genl *g);
void fake_stop(struct fake *f);

#endif /* KM_FAKE_H */
