// SPDX-License-Identifier: GPL-2.0
/*
 * kmigrate: the KMIGRATE_GENL_NAME generic netlink family.
 *
 * Every operation has its own policy, parsed strictly: attributes a policy
 * leaves NLA_UNSPEC, above KMIGRATE_A_MAX or malformed are refused by the
 * core with -EINVAL and an extended ack naming the attribute.  The family
 * leaves resv_start_op at zero, as new families should, so the core also
 * refuses a non-zero genlmsghdr.reserved and unknown nlmsg_flags on every
 * command; unknown commands get -EOPNOTSUPP.
 *
 * The handlers serialise on kmigrate_lock themselves (parallel_ops), so
 * they do not take genl_mutex.
 */
#include <linux/errno.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pid.h>
#include <linux/stringify.h>
#include <net/genetlink.h>
#include <net/netlink.h>

#include "kmigrate.h"

static struct genl_family kmigrate_genl_family;

/* GET_INFO and GET_SESSION take no attribute: all entries are NLA_UNSPEC. */
static const struct nla_policy kmigrate_no_attr_policy[KMIGRATE_A_MAX + 1];

/*
 * The range of KMIGRATE_A_MAX_SESSIONS is checked by the handler, not with
 * NLA_POLICY_RANGE: the ABI refuses malformed values with -EINVAL, and the
 * core would answer -ERANGE.
 */
static const struct nla_policy kmigrate_set_config_policy[KMIGRATE_A_MAX + 1] = {
	[KMIGRATE_A_MAX_SESSIONS]	= { .type = NLA_U32 },
	[KMIGRATE_A_DEFAULT_BANDWIDTH]	= { .type = NLA_U64 },
	[KMIGRATE_A_FLAGS]		= { .type = NLA_U32 },
};

static size_t kmigrate_nl_info_size(void)
{
	return nla_total_size(sizeof(KMIGRATE_VERSION)) +	/* MODULE_VERSION */
	       nla_total_size(sizeof(u32)) +			/* ABI_VERSION */
	       nla_total_size(sizeof(u32)) +			/* GENL_VERSION */
	       nla_total_size_64bit(sizeof(u64)) +		/* FEATURES */
	       nla_total_size(sizeof(u32)) +			/* SESSION_COUNT */
	       nla_total_size(sizeof(u32)) +			/* MAX_SESSIONS */
	       nla_total_size_64bit(sizeof(u64));		/* DEFAULT_BANDWIDTH */
}

/*
 * KMIGRATE_CMD_GET_INFO: reply with the module's versions, features and
 * a consistent snapshot of the limits and session count.
 *
 * Context: process context; takes kmigrate_lock.
 */
static int kmigrate_nl_get_info(struct sk_buff *skb, struct genl_info *info)
{
	struct kmigrate_info ki;
	struct sk_buff *msg;
	void *hdr;

	msg = genlmsg_new(kmigrate_nl_info_size(), GFP_KERNEL);
	if (!msg)
		return -ENOMEM;

	hdr = genlmsg_put_reply(msg, info, &kmigrate_genl_family, 0,
				KMIGRATE_CMD_GET_INFO);
	if (!hdr)
		goto err_free_msg;

	kmigrate_info_get(&ki);
	if (nla_put_string(msg, KMIGRATE_A_MODULE_VERSION, KMIGRATE_VERSION) ||
	    nla_put_u32(msg, KMIGRATE_A_ABI_VERSION, KMIGRATE_ABI_VERSION) ||
	    nla_put_u32(msg, KMIGRATE_A_GENL_VERSION, KMIGRATE_GENL_VERSION) ||
	    nla_put_u64_64bit(msg, KMIGRATE_A_FEATURES, KMIGRATE_FEATURES_ALL,
			      KMIGRATE_A_PAD) ||
	    nla_put_u32(msg, KMIGRATE_A_SESSION_COUNT, ki.session_count) ||
	    nla_put_u32(msg, KMIGRATE_A_MAX_SESSIONS, ki.max_sessions) ||
	    nla_put_u64_64bit(msg, KMIGRATE_A_DEFAULT_BANDWIDTH,
			      ki.default_bandwidth, KMIGRATE_A_PAD))
		goto err_free_msg;

	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

err_free_msg:
	nlmsg_free(msg);
	return -EMSGSIZE;
}

/*
 * Put one KMIGRATE_CMD_GET_SESSION message for @session into @skb.
 *
 * Context: kmigrate_lock held; takes session->lock.
 * Return: 0, or -EMSGSIZE when @skb is full (it is left as it was).
 */
static int kmigrate_nl_fill_session(struct sk_buff *skb,
				    struct netlink_callback *cb,
				    struct kmigrate_session *session)
{
	enum kmigrate_session_state state;
	struct nlattr *nest;
	u64 bandwidth;
	void *hdr;

	hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
			  &kmigrate_genl_family, NLM_F_MULTI,
			  KMIGRATE_CMD_GET_SESSION);
	if (!hdr)
		return -EMSGSIZE;
	genl_dump_check_consistent(cb, hdr);

	mutex_lock(&session->lock);
	state = session->state;
	bandwidth = session->bandwidth;
	mutex_unlock(&session->lock);

	nest = nla_nest_start(skb, KMIGRATE_A_SESSION);
	if (!nest)
		goto err_cancel;
	if (nla_put_u32(skb, KMIGRATE_SESSION_A_ID, session->id) ||
	    nla_put_u32(skb, KMIGRATE_SESSION_A_OWNER_PID,
			pid_vnr(session->owner)) ||
	    nla_put_u32(skb, KMIGRATE_SESSION_A_STATE, state) ||
	    nla_put_u64_64bit(skb, KMIGRATE_SESSION_A_BANDWIDTH, bandwidth,
			      KMIGRATE_SESSION_A_PAD))
		goto err_cancel;
	nla_nest_end(skb, nest);

	genlmsg_end(skb, hdr);
	return 0;

err_cancel:
	genlmsg_cancel(skb, hdr);
	return -EMSGSIZE;
}

/*
 * KMIGRATE_CMD_GET_SESSION: one message per session, in id order.  Each
 * part of the dump is filled under kmigrate_lock and remembers in
 * cb->args[0] the id to resume from.  The registry generation goes into
 * cb->seq; when it changed since the previous part the dump ends at once,
 * flagged NLM_F_DUMP_INTR, so a dump under churn is bounded.  The owner pid is given as seen from
 * the pid namespace of the process reading the dump (0 when not visible).
 *
 * Context: process context; takes kmigrate_lock.
 */
static int kmigrate_nl_get_session_dump(struct sk_buff *skb,
					struct netlink_callback *cb)
{
	struct kmigrate_session *session;
	unsigned long id = cb->args[0];
	int err = 0;
	u32 gen;

	mutex_lock(&kmigrate_lock);
	gen = kmigrate_session_generation();
	if (cb->seq && cb->seq != gen) {
		/*
		 * Sessions came or went since the last part.  End the dump
		 * here: NLMSG_DONE carries NLM_F_DUMP_INTR and the reader
		 * starts again.  Going on would let a dump chase sessions
		 * created behind it for ever.
		 */
		cb->seq = gen;
		mutex_unlock(&kmigrate_lock);
		return 0;
	}
	cb->seq = gen;
	while ((session = kmigrate_session_next(&id))) {
		err = kmigrate_nl_fill_session(skb, cb, session);
		if (err)
			break;
		id++;
	}
	mutex_unlock(&kmigrate_lock);

	cb->args[0] = id;
	/* A full skb ends this part; the next one resumes at @id. */
	if (err && !skb->len)
		return err;
	return skb->len;
}

/*
 * KMIGRATE_CMD_SET_CONFIG: change the host-wide limits, all at once.  A
 * max_sessions outside 1..KMIGRATE_MAX_SESSIONS_LIMIT is refused with
 * -EINVAL, flag bits outside KMIGRATE_CONFIG_F_ALL with -EOPNOTSUPP, and a
 * request with no limit and no KMIGRATE_CONFIG_F_RESET with -EINVAL; nothing
 * changes then.  Success is acknowledged with no reply message;
 * KMIGRATE_CMD_GET_INFO reads the limits.
 *
 * Context: process context, CAP_NET_ADMIN checked by the core
 * (GENL_ADMIN_PERM); takes kmigrate_lock.
 */
static int kmigrate_nl_set_config(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *max_sessions_attr = info->attrs[KMIGRATE_A_MAX_SESSIONS];
	struct nlattr *bandwidth_attr = info->attrs[KMIGRATE_A_DEFAULT_BANDWIDTH];
	struct nlattr *flags_attr = info->attrs[KMIGRATE_A_FLAGS];
	u32 max_sessions = 0, flags = 0;
	u64 bandwidth = 0;

	if (max_sessions_attr) {
		max_sessions = nla_get_u32(max_sessions_attr);
		if (max_sessions < 1 ||
		    max_sessions > KMIGRATE_MAX_SESSIONS_LIMIT) {
			NL_SET_ERR_MSG_ATTR(info->extack, max_sessions_attr,
					    "max_sessions must be 1.." __stringify(KMIGRATE_MAX_SESSIONS_LIMIT));
			return -EINVAL;
		}
	}
	if (flags_attr) {
		flags = nla_get_u32(flags_attr);
		if (flags & ~KMIGRATE_CONFIG_F_ALL) {
			NL_SET_ERR_MSG_ATTR(info->extack, flags_attr,
					    "unknown flag bits");
			return -EOPNOTSUPP;
		}
	}
	if (!max_sessions_attr && !bandwidth_attr &&
	    !(flags & KMIGRATE_CONFIG_F_RESET)) {
		NL_SET_ERR_MSG(info->extack,
			       "no limit given and no KMIGRATE_CONFIG_F_RESET");
		return -EINVAL;
	}

	if (bandwidth_attr)
		bandwidth = nla_get_u64(bandwidth_attr);

	kmigrate_config_update(max_sessions_attr ? &max_sessions : NULL,
			       bandwidth_attr ? &bandwidth : NULL,
			       flags & KMIGRATE_CONFIG_F_RESET);
	return 0;
}

static const struct genl_ops kmigrate_genl_ops[] = {
	{
		.cmd		= KMIGRATE_CMD_GET_INFO,
		.doit		= kmigrate_nl_get_info,
		.policy		= kmigrate_no_attr_policy,
		.maxattr	= KMIGRATE_A_MAX,
	},
	{
		.cmd		= KMIGRATE_CMD_GET_SESSION,
		.dumpit		= kmigrate_nl_get_session_dump,
		.policy		= kmigrate_no_attr_policy,
		.maxattr	= KMIGRATE_A_MAX,
	},
	{
		.cmd		= KMIGRATE_CMD_SET_CONFIG,
		.doit		= kmigrate_nl_set_config,
		.policy		= kmigrate_set_config_policy,
		.maxattr	= KMIGRATE_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
};

static struct genl_family kmigrate_genl_family __ro_after_init = {
	.name		= KMIGRATE_GENL_NAME,
	.version	= KMIGRATE_GENL_VERSION,
	.maxattr	= KMIGRATE_A_MAX,
	.netnsok	= true,
	.parallel_ops	= true,
	.module		= THIS_MODULE,
	.ops		= kmigrate_genl_ops,
	.n_ops		= ARRAY_SIZE(kmigrate_genl_ops),
};

/* Context: module init. */
int kmigrate_genl_init(void)
{
	return genl_register_family(&kmigrate_genl_family);
}

/*
 * Context: module exit.  Waits for running doit handlers; a dump in
 * progress holds a module reference, so none is left.
 */
void kmigrate_genl_exit(void)
{
	genl_unregister_family(&kmigrate_genl_family);
}

MODULE_ALIAS_GENL_FAMILY(KMIGRATE_GENL_NAME);
