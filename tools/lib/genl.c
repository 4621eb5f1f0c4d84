// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#include <linux/kmigrate.h>

#include "genl.h"
#include "msg.h"

/* One request in flight: what the libnl callbacks record. */
struct km_xfer {
	struct km_genl *g;
	km_genl_cb cb;
	void *arg;
	bool done;		/* ack, NLMSG_DONE or error seen */
	int error;		/* negative errno, g->err says why */
};

/* Records a libnl failure while doing @doing; returns a negative errno. */
static int km_nl_fail(struct km_error *err, int nlerr, const char *doing)
{
	if (nlerr == -NLE_DUMP_INTR)
		return km_error_set(err, EAGAIN,
				    "the list changed while it was read, try again");
	km_error_set(err, 0, "%s: %s", doing, nl_geterror(nlerr));
	if (nlerr == -NLE_PERM) {
		err->code = KM_EXIT_PERM;
		return -EPERM;
	}
	return -EIO;
}

int km_genl_open_family(struct km_genl *g, const char *family)
{
	int one = 1, ret;

	memset(g, 0, sizeof(*g));
	g->sk = nl_socket_alloc();
	if (!g->sk)
		return km_error_set(&g->err, ENOMEM, "allocating a netlink socket");
	ret = genl_connect(g->sk);
	if (ret < 0) {
		ret = km_nl_fail(&g->err, ret, "opening a generic netlink socket");
		goto fail;
	}
	/*
	 * Ask for extended acks (the kernel's reason for an error) without the
	 * request echoed back.  Best effort: without them errors lose detail.
	 */
	setsockopt(nl_socket_get_fd(g->sk), SOL_NETLINK, NETLINK_EXT_ACK,
		   &one, sizeof(one));
	setsockopt(nl_socket_get_fd(g->sk), SOL_NETLINK, NETLINK_CAP_ACK,
		   &one, sizeof(one));
	ret = genl_ctrl_resolve(g->sk, family);
	if (ret == -NLE_OBJ_NOTFOUND) {
		ret = km_error_set(&g->err, ENOENT,
				   "generic netlink family '%s' not found", family);
		goto fail;
	}
	if (ret < 0) {
		ret = km_nl_fail(&g->err, ret, "resolving a generic netlink family");
		goto fail;
	}
	g->family = ret;
	return 0;
fail:
	nl_socket_free(g->sk);
	g->sk = NULL;
	return ret;
}

int km_genl_open(struct km_genl *g)
{
	int ret = km_genl_open_family(g, KMIGRATE_GENL_NAME);

	if (ret == -ENOENT)
		km_error_no_module(&g->err);
	return ret;
}

void km_genl_close(struct km_genl *g)
{
	nl_socket_free(g->sk);
	g->sk = NULL;
}

struct nl_msg *km_genl_msg(struct km_genl *g, uint8_t cmd, int flags)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (!msg || !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, g->family, 0,
				 flags, cmd, KMIGRATE_GENL_VERSION)) {
		nlmsg_free(msg);
		km_error_set(&g->err, ENOMEM, "building a netlink request");
		return NULL;
	}
	return msg;
}

static int km_on_valid(struct nl_msg *msg, void *arg)
{
	struct km_xfer *x = arg;

	if (!x->cb)
		return NL_OK;
	x->error = x->cb(nlmsg_hdr(msg), x->arg, &x->g->err);
	if (!x->error)
		return NL_OK;
	x->done = true;
	return NL_STOP;
}

/* NLMSG_DONE ends a dump; its payload is the dump's status. */
static int km_on_finish(struct nl_msg *msg, void *arg)
{
	struct km_xfer *x = arg;

	x->error = km_nlmsg_status(nlmsg_hdr(msg), &x->g->err);
	x->done = true;
	return NL_STOP;
}

static int km_on_ack(struct nl_msg *msg, void *arg)
{
	struct km_xfer *x = arg;

	(void)msg;
	x->done = true;
	return NL_STOP;
}

static int km_on_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	const struct nlmsghdr *nlh =
		(const struct nlmsghdr *)((const char *)e - NLMSG_HDRLEN);
	struct km_xfer *x = arg;

	(void)nla;
	x->error = km_nlmsg_status(nlh, &x->g->err);
	x->done = true;
	return NL_STOP;
}

static int km_recv(struct km_genl *g, struct nl_cb *cb, struct km_xfer *x)
{
	int ret;

	while (!x->done) {
		ret = nl_recvmsgs_report(g->sk, cb);
		if (x->error)
			return x->error;
		if (ret < 0)
			return km_nl_fail(&g->err, ret, "receiving the reply");
		if (!ret && !x->done)
			return km_error_set(&g->err, EPROTO,
					    "the kernel ended the request without an answer");
	}
	return x->error;
}

int km_genl_exchange(struct km_genl *g, struct nl_msg *msg,
		     km_genl_cb cb, void *arg)
{
	struct km_xfer x = { .g = g, .cb = cb, .arg = arg };
	struct nl_cb *nlcb = nl_cb_alloc(NL_CB_DEFAULT);
	int ret;

	km_error_clear(&g->err);
	if (!nlcb) {
		nlmsg_free(msg);
		return km_error_set(&g->err, ENOMEM, "allocating netlink callbacks");
	}
	nl_cb_set(nlcb, NL_CB_VALID, NL_CB_CUSTOM, km_on_valid, &x);
	nl_cb_set(nlcb, NL_CB_FINISH, NL_CB_CUSTOM, km_on_finish, &x);
	nl_cb_set(nlcb, NL_CB_ACK, NL_CB_CUSTOM, km_on_ack, &x);
	nl_cb_err(nlcb, NL_CB_CUSTOM, km_on_error, &x);

	ret = nl_send_auto(g->sk, msg);
	nlmsg_free(msg);
	if (ret < 0)
		ret = km_nl_fail(&g->err, ret, "sending the request");
	else
		ret = km_recv(g, nlcb, &x);
	nl_cb_put(nlcb);
	return ret;
}

/* Size each session attribute must have; 0: not one this tool reads. */
static int km_counter_size(int type)
{
	switch (type) {
	case KMIGRATE_SESSION_A_ID:
	case KMIGRATE_SESSION_A_OWNER_PID:
	case KMIGRATE_SESSION_A_STATE:
	case KMIGRATE_SESSION_A_VM_PID:
	case KMIGRATE_SESSION_A_ROUND:
	case KMIGRATE_SESSION_A_ROUNDS:
	case KMIGRATE_SESSION_A_ERROR:
	case KMIGRATE_SESSION_A_NR_VCPUS:
		return 4;
	case KMIGRATE_SESSION_A_BANDWIDTH:
	case KMIGRATE_SESSION_A_PAGES_HARVESTED:
	case KMIGRATE_SESSION_A_PAGES_SENT:
	case KMIGRATE_SESSION_A_ZERO_PAGES:
	case KMIGRATE_SESSION_A_BYTES_SENT:
	case KMIGRATE_SESSION_A_HARVEST_NS:
	case KMIGRATE_SESSION_A_SEND_NS:
	case KMIGRATE_SESSION_A_SEND_STALLS:
	case KMIGRATE_SESSION_A_MEM_BYTES:
		return 8;
	}
	return 0;
}

int km_counters_parse(const struct nlattr *nest, struct km_counters *c,
		      struct km_error *err)
{
	const struct nlattr *nla;
	uint64_t v;
	int rem, type, size;

	memset(c, 0, sizeof(*c));
	nla_for_each_nested(nla, (struct nlattr *)nest, rem) {
		type = nla_type(nla);
		size = km_counter_size(type);
		if (!size)
			continue;
		if (nla_len(nla) != size)
			return km_error_set(err, EBADMSG,
					    "session attribute %d is %d bytes long, not %d",
					    type, nla_len(nla), size);
		v = size == 4 ? nla_get_u32((struct nlattr *)nla) :
				nla_get_u64((struct nlattr *)nla);
		c->have |= 1U << type;
		switch (type) {
		case KMIGRATE_SESSION_A_ID: c->id = (uint32_t)v; break;
		case KMIGRATE_SESSION_A_VM_PID: c->vm_pid = (uint32_t)v; break;
		case KMIGRATE_SESSION_A_ROUND: c->round = (uint32_t)v; break;
		case KMIGRATE_SESSION_A_ROUNDS: c->rounds = (uint32_t)v; break;
		case KMIGRATE_SESSION_A_ERROR: c->error = (uint32_t)v; break;
		case KMIGRATE_SESSION_A_NR_VCPUS: c->nr_vcpus = (uint32_t)v; break;
		case KMIGRATE_SESSION_A_PAGES_HARVESTED: c->pages_harvested = v; break;
		case KMIGRATE_SESSION_A_PAGES_SENT: c->pages_sent = v; break;
		case KMIGRATE_SESSION_A_ZERO_PAGES: c->zero_pages = v; break;
		case KMIGRATE_SESSION_A_BYTES_SENT: c->bytes_sent = v; break;
		case KMIGRATE_SESSION_A_HARVEST_NS: c->harvest_ns = v; break;
		case KMIGRATE_SESSION_A_SEND_NS: c->send_ns = v; break;
		case KMIGRATE_SESSION_A_SEND_STALLS: c->send_stalls = v; break;
		case KMIGRATE_SESSION_A_MEM_BYTES: c->mem_bytes = v; break;
		}
	}
	/* Only the attach-time and counter attributes count as "have". */
	c->have &= ~((1U << KMIGRATE_SESSION_A_ID) | (1U << KMIGRATE_SESSION_A_OWNER_PID) |
		     (1U << KMIGRATE_SESSION_A_STATE) | (1U << KMIGRATE_SESSION_A_BANDWIDTH));
	return 0;
}

const struct km_counters *km_counters_find(const struct km_counters_list *l,
					   uint32_t id)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (l->v[i].id == id)
			return &l->v[i];
	return NULL;
}

void km_counters_free(struct km_counters_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* The KMIGRATE_A_SESSION nest of a genl message, or NULL. */
static const struct nlattr *km_session_nest(const struct nlmsghdr *nlh)
{
	const size_t hdrlen = NLMSG_HDRLEN + GENL_HDRLEN;
	const struct nlattr *nla;
	int rem;

	if (nlh->nlmsg_len < hdrlen)
		return NULL;
	nla_for_each_attr(nla, (struct nlattr *)((const char *)nlh + hdrlen),
			  (int)(nlh->nlmsg_len - hdrlen), rem)
		if (nla_type(nla) == KMIGRATE_A_SESSION)
			return nla;
	return NULL;
}

struct km_both {
	struct km_sessions *list;
	struct km_counters_list *counters;
};

static int km_both_cb(const struct nlmsghdr *nlh, void *arg, struct km_error *err)
{
	struct km_both *b = arg;
	struct km_counters c, *v;
	struct km_session s;
	int ret;

	ret = km_session_parse(nlh, &s, err);
	if (!ret)
		ret = km_counters_parse(km_session_nest(nlh), &c, err);
	if (ret)
		return ret;
	v = reallocarray(b->counters->v, b->counters->n + 1, sizeof(*v));
	if (!v || km_sessions_add(b->list, &s)) {
		if (v)
			b->counters->v = v;
		return km_error_set(err, ENOMEM, "reading the session list");
	}
	b->counters->v = v;
	v[b->counters->n++] = c;
	return 0;
}

#define KM_DUMP_TRIES	5

int km_get_sessions_counters(struct km_genl *g, struct km_sessions *list,
			     struct km_counters_list *counters)
{
	struct km_both b = { list, counters };
	size_t first = list->n;
	struct nl_msg *msg;
	int ret = -EAGAIN, tries;

	for (tries = 0; ret == -EAGAIN && tries < KM_DUMP_TRIES; tries++) {
		list->n = first;
		counters->n = 0;
		msg = km_genl_msg(g, KMIGRATE_CMD_GET_SESSION, NLM_F_DUMP);
		if (!msg)
			return -ENOMEM;
		ret = km_genl_exchange(g, msg, km_both_cb, &b);
	}
	if (ret == -EPERM && !g->err.detail[0])
		snprintf(g->err.detail, sizeof(g->err.detail),
			 "the session list needs CAP_NET_ADMIN");
	if (!ret)
		km_sessions_sort(list);
	return ret;
}

int km_set_session_bandwidth(struct km_genl *g, uint32_t id, uint64_t bps)
{
	struct nl_msg *msg = km_genl_msg(g, KMIGRATE_CMD_SET_SESSION, 0);
	struct nlattr *nest;
	int ret;

	if (!msg)
		return -ENOMEM;
	nest = nla_nest_start(msg, KMIGRATE_A_SESSION);
	if (!nest || nla_put_u32(msg, KMIGRATE_SESSION_A_ID, id) ||
	    nla_put_u64(msg, KMIGRATE_SESSION_A_BANDWIDTH, bps) ||
	    nla_nest_end(msg, nest) < 0) {
		nlmsg_free(msg);
		return km_error_set(&g->err, EMSGSIZE, "building the request");
	}
	ret = km_genl_exchange(g, msg, NULL, NULL);
	if (ret == -EPERM && !g->err.detail[0])
		snprintf(g->err.detail, sizeof(g->err.detail),
			 "changing a session's bandwidth needs CAP_NET_ADMIN");
	if (ret == -ENOENT)
		snprintf(g->err.detail, sizeof(g->err.detail),
			 "no kernel migration session %u", id);
	return ret;
}

int km_genl_subscribe_events(struct km_genl *g)
{
	int grp, ret;

	grp = genl_ctrl_resolve_grp(g->sk, KMIGRATE_GENL_NAME, KMIGRATE_MCGRP_EVENTS);
	if (grp < 0)
		return km_nl_fail(&g->err, grp, "finding the events group");
	ret = nl_socket_add_membership(g->sk, grp);
	if (ret == -NLE_PERM)
		return km_error_set(&g->err, EPERM,
				    "the events group needs CAP_NET_ADMIN");
	if (ret < 0)
		return km_nl_fail(&g->err, ret, "joining the events group");
	/* The controller's notifications say when the module goes away. */
	grp = genl_ctrl_resolve_grp(g->sk, "nlctrl", "notify");
	if (grp >= 0)
		nl_socket_add_membership(g->sk, grp);
	nl_socket_disable_seq_check(g->sk);
	return 0;
}

bool km_genl_family_removed(const struct km_genl *g, const struct nlmsghdr *nlh)
{
	const size_t hdrlen = NLMSG_HDRLEN + GENL_HDRLEN;
	const struct genlmsghdr *gh = NLMSG_DATA(nlh);
	const struct nlattr *nla;
	int rem;

	if (nlh->nlmsg_type != GENL_ID_CTRL || nlh->nlmsg_len < hdrlen ||
	    gh->cmd != CTRL_CMD_DELFAMILY)
		return false;
	nla_for_each_attr(nla, (struct nlattr *)((const char *)nlh + hdrlen),
			  (int)(nlh->nlmsg_len - hdrlen), rem)
		if (nla_type(nla) == CTRL_ATTR_FAMILY_ID && nla_len(nla) == 2)
			return nla_get_u16((struct nlattr *)nla) == g->family;
	return false;
}

int km_event_parse(const struct km_genl *g, const struct nlmsghdr *nlh,
		   struct km_event *ev, struct km_error *err)
{
	const size_t hdrlen = NLMSG_HDRLEN + GENL_HDRLEN;
	const struct genlmsghdr *gh = NLMSG_DATA(nlh);
	const struct nlattr *nla;
	struct km_session s;
	bool have_event = false;
	int rem, ret;

	if ((int)nlh->nlmsg_type != g->family || nlh->nlmsg_len < hdrlen ||
	    gh->cmd != KMIGRATE_CMD_EVENT)
		return 0;
	memset(ev, 0, sizeof(*ev));
	nla_for_each_attr(nla, (struct nlattr *)((const char *)nlh + hdrlen),
			  (int)(nlh->nlmsg_len - hdrlen), rem) {
		if (nla_type(nla) != KMIGRATE_A_EVENT)
			continue;
		if (nla_len(nla) != 4)
			return km_error_set(err, EBADMSG, "malformed event attribute");
		ev->event = nla_get_u32((struct nlattr *)nla);
		have_event = true;
	}
	if (!have_event)
		return km_error_set(err, EBADMSG, "an event without its kind");
	ret = km_session_parse(nlh, &s, err);
	if (!ret)
		ret = km_counters_parse(km_session_nest(nlh), &ev->c, err);
	if (ret)
		return ret;
	ev->s.id = s.id;
	ev->s.owner_pid = s.owner_pid;
	ev->s.state = s.state;
	ev->s.bandwidth = s.bandwidth;
	return 1;
}
