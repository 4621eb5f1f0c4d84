/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kmigrate generic netlink messages, without a socket: parsing and
 * validating replies (every attribute is checked for presence, size and
 * form before it is used), building requests, and decoding the kernel's
 * error and done messages with their extended ack.
 */
#ifndef KM_MSG_H
#define KM_MSG_H

#include <stddef.h>
#include <stdint.h>

#include <linux/netlink.h>
#include <linux/kmigrate.h>

#include "error.h"

struct nl_msg;

#define KM_BIT(attr)		(1U << (attr))

/* Room for the module version string, as in struct kmigrate_version. */
#define KM_VERSION_LEN	sizeof(((struct kmigrate_version *)0)->module_version)

/* Attributes of the KMIGRATE_CMD_GET_INFO reply that km_info holds. */
#define KM_INFO_VERSIONS	(KM_BIT(KMIGRATE_A_MODULE_VERSION) | \
				 KM_BIT(KMIGRATE_A_ABI_VERSION) | \
				 KM_BIT(KMIGRATE_A_GENL_VERSION))
#define KM_INFO_ALL		(KM_INFO_VERSIONS | \
				 KM_BIT(KMIGRATE_A_FEATURES) | \
				 KM_BIT(KMIGRATE_A_SESSION_COUNT) | \
				 KM_BIT(KMIGRATE_A_MAX_SESSIONS) | \
				 KM_BIT(KMIGRATE_A_DEFAULT_BANDWIDTH))

/* The KMIGRATE_CMD_GET_INFO reply; @have: KM_BIT() of each attribute seen. */
struct km_info {
	uint32_t have;
	char module_version[KM_VERSION_LEN];
	uint32_t abi_version;
	uint32_t genl_version;
	uint64_t features;
	uint32_t session_count;
	uint32_t max_sessions;
	uint64_t default_bandwidth;
};

/* One KMIGRATE_A_SESSION nest of the KMIGRATE_CMD_GET_SESSION dump. */
struct km_session {
	uint32_t id;
	uint32_t owner_pid;
	uint32_t state;			/* enum kmigrate_session_state */
	uint64_t bandwidth;		/* bytes/s, 0: unlimited */
};

struct km_sessions {
	struct km_session *v;
	size_t n, cap;
};

/* KMIGRATE_CMD_SET_CONFIG request; @have: KM_BIT() of each attribute sent. */
struct km_config {
	uint32_t have;
	uint32_t max_sessions;
	uint64_t default_bandwidth;
	uint32_t flags;			/* KMIGRATE_CONFIG_F_* */
};

/*
 * Parses a KMIGRATE_CMD_GET_INFO reply.  Attributes in @required
 * (KM_BIT() mask) must be present; every present attribute must be well
 * formed; attributes this tool does not know are ignored.  Returns 0, or
 * -EBADMSG with @err saying what is wrong.
 */
int km_info_parse(const struct nlmsghdr *nlh, uint32_t required,
		  struct km_info *info, struct km_error *err);
/* Parses one message of the KMIGRATE_CMD_GET_SESSION dump, likewise. */
int km_session_parse(const struct nlmsghdr *nlh, struct km_session *s,
		     struct km_error *err);

int km_sessions_add(struct km_sessions *list, const struct km_session *s);
void km_sessions_sort(struct km_sessions *list);	/* by id */
void km_sessions_free(struct km_sessions *list);

/* Adds the attributes of @cfg to a KMIGRATE_CMD_SET_CONFIG request. */
int km_config_put(struct nl_msg *msg, const struct km_config *cfg);

/*
 * For an NLMSG_ERROR or NLMSG_DONE message: returns the (negative) errno
 * it carries, or 0; on an error, fills @err with it and the kernel's
 * extended ack message when there is one.
 */
int km_nlmsg_status(const struct nlmsghdr *nlh, struct km_error *err);

#endif /* KM_MSG_H */
