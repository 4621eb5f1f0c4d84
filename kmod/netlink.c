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
#include <linux/pid_namespace.h>
#include <linux/sched.h>
#include <linux/stringify.h>
#include <net/genetlink.h>
#include <net/netlink.h>
#include <net/net_namespace.h>

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

/* The KMIGRATE_A_SESSION nest of SET_SESSION: the id and the new cap. */
static const struct nla_policy
kmigrate_set_session_nest_policy[KMIGRATE_SESSION_A_MAX + 1] = {
	[KMIGRATE_SESSION_A_ID]		= { .type = NLA_U32 },
	[KMIGRATE_SESSION_A_BANDWIDTH]	= { .type = NLA_U64 },
};

static const struct nla_policy kmigrate_set_session_policy[KMIGRATE_A_MAX + 1] = {
	[KMIGRATE_A_SESSION] = NLA_POLICY_NESTED(kmigrate_set_session_nest_policy),
};

/* The events group; its index in kmigrate_genl_mcgrps. */
enum {
	KMIGRATE_MCGRP_EVENTS_IDX,
};

/*
 * Events name sessions and the processes behind them, as the session dump
 * does: only CAP_NET_ADMIN may join (see "Who may ask" above the ops).
 */
static const struct genl_multicast_group kmigrate_genl_mcgrps[] = {
	[KMIGRATE_MCGRP_EVENTS_IDX] = {
		.name	= KMIGRATE_MCGRP_EVENTS,
		.flags	= GENL_MCAST_CAP_NET_ADMIN,
	},
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

/* Room for one KMIGRATE_A_SESSION nest, every attribute included. */
static size_t kmigrate_nl_session_size(void)
{
	/*
	 * The nest; ID, OWNER_PID, STATE, VM_PID, ROUND, ROUNDS, ERROR,
	 * NR_VCPUS; BANDWIDTH, the seven u64 counters and MEM_BYTES.
	 */
	return nla_total_size(0) +
	       8 * nla_total_size(sizeof(u32)) +
	       9 * nla_total_size_64bit(sizeof(u64));
}

/*
 * Put the KMIGRATE_A_SESSION nest of @session into @skb: id, owner, state
 * and cap always; once a VM is attached, the VM's process, its size at
 * attach time and every counter of struct kmigrate_stats.  Pids are given
 * as seen from @ns (0 when not visible there).
 *
 * Context: process; the caller keeps @session alive (kmigrate_lock held,
 * or one of the file's own operations); takes session->lock, so it must
 * not be held.
 * Return: 0, or -EMSGSIZE when @skb is full.
 */
static int kmigrate_nl_put_session(struct sk_buff *skb,
				   struct kmigrate_session *session,
				   struct pid_namespace *ns)
{
	struct kmigrate_stats st;
	struct nlattr *nest;
	bool attached;
	u64 mem_bytes;
	u32 nr_vcpus;
	pid_t vm_pid;

	kmigrate_session_stats(session, &st);

	mutex_lock(&session->lock);
	attached = session->vm_pid;
	vm_pid = attached ? pid_nr_ns(session->vm_pid, ns) : 0;
	nr_vcpus = session->nr_vcpus;
	mem_bytes = session->mem_bytes;
	mutex_unlock(&session->lock);

	nest = nla_nest_start(skb, KMIGRATE_A_SESSION);
	if (!nest)
		return -EMSGSIZE;
	if (nla_put_u32(skb, KMIGRATE_SESSION_A_ID, session->id) ||
	    nla_put_u32(skb, KMIGRATE_SESSION_A_OWNER_PID,
			pid_nr_ns(session->owner, ns)) ||
	    nla_put_u32(skb, KMIGRATE_SESSION_A_STATE, st.state) ||
	    nla_put_u64_64bit(skb, KMIGRATE_SESSION_A_BANDWIDTH, st.bandwidth,
			      KMIGRATE_SESSION_A_PAD))
		goto err_cancel;
	if (attached &&
	    (nla_put_u32(skb, KMIGRATE_SESSION_A_VM_PID, vm_pid) ||
	     nla_put_u32(skb, KMIGRATE_SESSION_A_ROUND, st.round) ||
	     nla_put_u32(skb, KMIGRATE_SESSION_A_ROUNDS, st.rounds) ||
	     nla_put_u64_64bit(skb, KMIGRATE_SESSION_A_PAGES_HARVESTED,
			       st.pages_harvested, KMIGRATE_SESSION_A_PAD) ||
	     nla_put_u64_64bit(skb, KMIGRATE_SESSION_A_PAGES_SENT,
			       st.pages_sent, KMIGRATE_SESSION_A_PAD) ||
	     nla_put_u64_64bit(skb, KMIGRATE_SESSION_A_ZERO_PAGES,
			       st.zero_pages, KMIGRATE_SESSION_A_PAD) ||
	     nla_put_u64_64bit(skb, KMIGRATE_SESSION_A_BYTES_SENT,
			       st.bytes_sent, KMIGRATE_SESSION_A_PAD) ||
	     nla_put_u64_64bit(skb, KMIGRATE_SESSION_A_HARVEST_NS,
			       st.harvest_ns, KMIGRATE_SESSION_A_PAD) ||
	     nla_put_u64_64bit(skb, KMIGRATE_SESSION_A_SEND_NS,
			       st.send_ns, KMIGRATE_SESSION_A_PAD) ||
	     nla_put_u64_64bit(skb, KMIGRATE_SESSION_A_SEND_STALLS,
			       st.send_stalls, KMIGRATE_SESSION_A_PAD) ||
	     nla_put_u32(skb, KMIGRATE_SESSION_A_ERROR, st.error) ||
	     nla_put_u32(skb, KMIGRATE_SESSION_A_NR_VCPUS, nr_vcpus) ||
	     nla_put_u64_64bit(skb, KMIGRATE_SESSION_A_MEM_BYTES, mem_bytes,
			       KMIGRATE_SESSION_A_PAD)))
		goto err_cancel;
	nla_nest_end(skb, nest);
	return 0;

err_cancel:
	nla_nest_cancel(skb, nest);
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
	void *hdr;

	hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
			  &kmigrate_genl_family, NLM_F_MULTI,
			  KMIGRATE_CMD_GET_SESSION);
	if (!hdr)
		return -EMSGSIZE;
	genl_dump_check_consistent(cb, hdr);

	if (kmigrate_nl_put_session(skb, session,
				    task_active_pid_ns(current))) {
		genlmsg_cancel(skb, hdr);
		return -EMSGSIZE;
	}
	genlmsg_end(skb, hdr);
	return 0;
}

/*
 * KMIGRATE_CMD_GET_SESSION: one message per session, in id order.  Each
 * part of the dump is filled under kmigrate_lock and remembers in
 * cb->args[0] the id to resume from.  The registry generation goes into
 * cb->seq; when it changed since the previous part the dump ends at once,
 * flagged NLM_F_DUMP_INTR, so a dump under churn is bounded.  The owner pid is given as seen from
 * the pid namespace of the process reading the dump (0 when not visible).
 *
 * Context: process context, CAP_NET_ADMIN checked by the core
 * (GENL_ADMIN_PERM); takes kmigrate_lock.
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

/*
 * KMIGRATE_CMD_SET_SESSION: change the cap of one session.  The nest must
 * carry both the id and the cap (-EINVAL, the missing attribute named in
 * the extended ack); -ENOENT when no session has that id.  On success
 * kmigrate_session_set_bandwidth() has sent KMIGRATE_EVENT_BANDWIDTH to the
 * events group, and the request is acknowledged with no reply.
 *
 * Context: process context, CAP_NET_ADMIN checked by the core
 * (GENL_ADMIN_PERM); takes kmigrate_lock and the session's lock.
 */
static int kmigrate_nl_set_session(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *tb[KMIGRATE_SESSION_A_MAX + 1];
	struct nlattr *nest;
	u64 bandwidth;
	int err;
	u32 id;

	if (GENL_REQ_ATTR_CHECK(info, KMIGRATE_A_SESSION)) {
		GENL_SET_ERR_MSG(info, "missing the session nest");
		return -EINVAL;
	}
	nest = info->attrs[KMIGRATE_A_SESSION];
	err = nla_parse_nested(tb, KMIGRATE_SESSION_A_MAX, nest,
			       kmigrate_set_session_nest_policy, info->extack);
	if (err)
		return err;
	if (NL_REQ_ATTR_CHECK(info->extack, nest, tb, KMIGRATE_SESSION_A_ID)) {
		GENL_SET_ERR_MSG(info, "missing the session id");
		return -EINVAL;
	}
	if (NL_REQ_ATTR_CHECK(info->extack, nest, tb,
			      KMIGRATE_SESSION_A_BANDWIDTH)) {
		GENL_SET_ERR_MSG(info, "missing the session bandwidth");
		return -EINVAL;
	}
	id = nla_get_u32(tb[KMIGRATE_SESSION_A_ID]);
	bandwidth = nla_get_u64(tb[KMIGRATE_SESSION_A_BANDWIDTH]);

	err = kmigrate_session_set_bandwidth(id, bandwidth);
	if (err) {
		if (err == -ENOENT)
			NL_SET_ERR_MSG_ATTR(info->extack,
					    tb[KMIGRATE_SESSION_A_ID],
					    "no session with this id");
		return err;
	}
	return 0;
}

/*
 * Who may ask.  Like WireGuard's, whose device dump is admin-only, the
 * family tells an unprivileged caller nothing about the migrations on the
 * host: the session dump (which VMs, owned by which processes, how far
 * along, at what cap) and the events group need CAP_NET_ADMIN, as every
 * change does.  Only GET_INFO is open to all: versions, features, the
 * host-wide limits and a bare count of sessions, what `kmigrate version`
 * shows and what any user needs to know whether the module is usable.
 *
 * The capability is checked in the initial user namespace
 * (GENL_ADMIN_PERM, not GENL_UNS_ADMIN_PERM): sessions and limits are
 * host-wide, not per network namespace, so root of a container's user
 * namespace must not see or change them.  The events group's
 * GENL_MCAST_CAP_NET_ADMIN checks the capability in the user namespace
 * that owns the socket's network namespace; events are only sent to the
 * initial network namespace, owned by the initial user namespace.  The core checks all of this before a handler
 * or a dump runs and answers -EPERM.  /dev/kmigrate is root's alone
 * (chardev.c).
 */
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
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= KMIGRATE_CMD_SET_CONFIG,
		.doit		= kmigrate_nl_set_config,
		.policy		= kmigrate_set_config_policy,
		.maxattr	= KMIGRATE_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= KMIGRATE_CMD_SET_SESSION,
		.doit		= kmigrate_nl_set_session,
		.policy		= kmigrate_set_session_policy,
		.maxattr	= KMIGRATE_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
	/*
	 * KMIGRATE_CMD_EVENT has no operation: the family only sends it, and
	 * the core answers a request for it with -EOPNOTSUPP.
	 */
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
	.mcgrps		= kmigrate_genl_mcgrps,
	.n_mcgrps	= ARRAY_SIZE(kmigrate_genl_mcgrps),
};

/*
 * Multicast @event with @session's counters to the events group of the
 * initial network namespace, when anyone listens there.  Pids in the
 * event are given as seen from the initial pid namespace: listeners may
 * live in any pid namespace, the message is the same for all.  A failure
 * (no memory, a full listener) only loses the event.
 *
 * Context: process; the caller keeps @session alive; must not hold
 * session->lock.
 */
void kmigrate_genl_event(struct kmigrate_session *session,
			 enum kmigrate_event event)
{
	struct sk_buff *msg;
	void *hdr;

	if (!genl_has_listeners(&kmigrate_genl_family, &init_net,
				KMIGRATE_MCGRP_EVENTS_IDX))
		return;

	msg = genlmsg_new(nla_total_size(sizeof(u32)) +
			  kmigrate_nl_session_size(), GFP_KERNEL);
	if (!msg)
		return;
	hdr = genlmsg_put(msg, 0, 0, &kmigrate_genl_family, 0,
			  KMIGRATE_CMD_EVENT);
	if (!hdr)
		goto err_free_msg;
	if (nla_put_u32(msg, KMIGRATE_A_EVENT, event) ||
	    kmigrate_nl_put_session(msg, session, &init_pid_ns))
		goto err_free_msg;
	genlmsg_end(msg, hdr);
	genlmsg_multicast(&kmigrate_genl_family, msg, 0,
			  KMIGRATE_MCGRP_EVENTS_IDX, GFP_KERNEL);
	return;

err_free_msg:
	nlmsg_free(msg);
}

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
