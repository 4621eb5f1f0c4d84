// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdbool.h>
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
