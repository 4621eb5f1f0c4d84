// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/genetlink.h>
#include <linux/kmigrate.h>
#include <netlink/attr.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>

#include "fake.h"

/* Up to this many messages go in one datagram, as in a kernel skb. */
#define FAKE_BATCH	2

struct fake_state {
	struct nl_sock *sk;
	struct fake_module m;
	const struct nlmsghdr *req;
	struct nl_msg *out[FAKE_BATCH];
	int nout;
};

static void *fake_check(void *p)
{
	if (!p)
		_exit(4);
	return p;
}

/* Sends what is queued, concatenated in one datagram. */
static void fake_flush(struct fake_state *s)
{
	char buf[8192];
	size_t len = 0;
	int i;

	for (i = 0; i < s->nout; i++) {
		struct nlmsghdr *h = nlmsg_hdr(s->out[i]);

		if (len + NLMSG_ALIGN(h->nlmsg_len) > sizeof(buf))
			_exit(5);
		memcpy(buf + len, h, h->nlmsg_len);
		len += NLMSG_ALIGN(h->nlmsg_len);
		nlmsg_free(s->out[i]);
	}
	if (s->nout && nl_sendto(s->sk, buf, len) < 0)
		_exit(6);
	s->nout = 0;
}

static void fake_queue(struct fake_state *s, struct nl_msg *msg)
{
	if (s->nout == FAKE_BATCH)
		fake_flush(s);
	s->out[s->nout++] = msg;
}

static struct nl_msg *fake_reply(struct fake_state *s, int flags)
{
	const struct genlmsghdr *g = nlmsg_data(s->req);
	struct nl_msg *msg = fake_check(nlmsg_alloc());

	fake_check(genlmsg_put(msg, 0, s->req->nlmsg_seq, FAKE_FAMILY, 0, flags,
			       g->cmd, KMIGRATE_GENL_VERSION));
	return msg;
}

/* NLMSG_ERROR (an ack when @error is 0), with @extack when not NULL. */
static int fake_error(struct fake_state *s, int error, const char *extack)
{
	struct nl_msg *msg = fake_check(nlmsg_alloc_simple(NLMSG_ERROR,
				NLM_F_CAPPED | (extack ? NLM_F_ACK_TLVS : 0)));
	struct nlmsgerr e = { .error = error, .msg = *s->req };

	if (nlmsg_append(msg, &e, sizeof(e), NLMSG_ALIGNTO) ||
	    (extack && nla_put_string(msg, NLMSGERR_ATTR_MSG, extack)))
		_exit(7);
	nlmsg_hdr(msg)->nlmsg_seq = s->req->nlmsg_seq;
	fake_queue(s, msg);
	fake_flush(s);
	return 0;
}

static void fake_done(struct fake_state *s, int status)
{
	struct nl_msg *msg = fake_check(nlmsg_alloc_simple(NLMSG_DONE, NLM_F_MULTI));

	if (nlmsg_append(msg, &status, sizeof(status), NLMSG_ALIGNTO))
		_exit(7);
	nlmsg_hdr(msg)->nlmsg_seq = s->req->nlmsg_seq;
	fake_queue(s, msg);
	fake_flush(s);
}

static int fake_get_info(struct fake_state *s)
{
	struct nl_msg *msg = fake_reply(s, 0);
	const struct fake_module *m = &s->m;
	int bad = m->info_malformed;

	if (nla_put_string(msg, KMIGRATE_A_MODULE_VERSION, "0.1.0-fake") ||
	    (bad ? nla_put_u16(msg, KMIGRATE_A_ABI_VERSION, 1)
		 : nla_put_u32(msg, KMIGRATE_A_ABI_VERSION, m->abi_version)) ||
	    nla_put_u32(msg, KMIGRATE_A_GENL_VERSION, KMIGRATE_GENL_VERSION) ||
	    nla_put_u64(msg, KMIGRATE_A_FEATURES, 0) ||
	    nla_put_u32(msg, KMIGRATE_A_SESSION_COUNT, m->nsessions) ||
	    nla_put_u32(msg, KMIGRATE_A_MAX_SESSIONS, m->max_sessions) ||
	    nla_put_u64(msg, KMIGRATE_A_DEFAULT_BANDWIDTH, m->default_bandwidth))
		_exit(7);
	if (m->info_no_reply)
		nlmsg_free(msg);
	else
		fake_queue(s, msg);
	return fake_error(s, 0, NULL);
}

static void fake_session(struct fake_state *s, uint32_t id, int flags)
{
	struct nl_msg *msg = fake_reply(s, NLM_F_MULTI | flags);
	struct nlattr *nest = fake_check(nla_nest_start(msg, KMIGRATE_A_SESSION));

	if (nla_put_u32(msg, KMIGRATE_SESSION_A_ID, id) ||
	    nla_put_u32(msg, KMIGRATE_SESSION_A_OWNER_PID, 1000 + id) ||
	    nla_put_u32(msg, KMIGRATE_SESSION_A_STATE, id % 6) ||
	    nla_put_u64(msg, KMIGRATE_SESSION_A_BANDWIDTH, id * 1000000ULL) ||
	    nla_nest_end(msg, nest) < 0)
		_exit(7);
	fake_queue(s, msg);
}

static int fake_get_session(struct fake_state *s)
{
	int flags = 0;
	uint32_t id;

	if (s->m.session_error)
		return fake_error(s, s->m.session_error, NULL);
	if (s->m.dump_interrupts > 0) {
		s->m.dump_interrupts--;
		flags = NLM_F_DUMP_INTR;
	}
	if (s->m.session_malformed)
		fake_queue(s, fake_reply(s, NLM_F_MULTI));
	for (id = s->m.nsessions; id > 0; id--)
		fake_session(s, id, flags);
	fake_done(s, s->m.dump_error);
	return 0;
}

/* Like kmigrate_nl_set_config() behind its strict policy. */
static int fake_set_config(struct fake_state *s)
{
	struct nlattr *tb[KMIGRATE_A_MAX + 1];
	struct nlattr *max, *bw, *flags;
	uint32_t f = 0;

	if (s->m.set_error)
		return fake_error(s, s->m.set_error, NULL);
	if (genlmsg_parse((struct nlmsghdr *)s->req, 0, tb, KMIGRATE_A_MAX, NULL))
		return fake_error(s, -EINVAL, "fake: unparsable attributes");
	max = tb[KMIGRATE_A_MAX_SESSIONS];
	bw = tb[KMIGRATE_A_DEFAULT_BANDWIDTH];
	flags = tb[KMIGRATE_A_FLAGS];
	if (tb[KMIGRATE_A_PAD] || tb[KMIGRATE_A_SESSION] || tb[KMIGRATE_A_SESSION_COUNT])
		return fake_error(s, -EINVAL, "fake: attribute not in the policy");
	if ((max && nla_len(max) != 4) || (bw && nla_len(bw) != 8) ||
	    (flags && nla_len(flags) != 4))
		return fake_error(s, -EINVAL, "fake: attribute of the wrong size");
	if (max && (nla_get_u32(max) < 1 || nla_get_u32(max) > KMIGRATE_MAX_SESSIONS_LIMIT))
		return fake_error(s, -ERANGE, "fake: max sessions out of range");
	if (flags)
		f = nla_get_u32(flags);
	if (f & ~KMIGRATE_CONFIG_F_ALL)
		return fake_error(s, -EOPNOTSUPP, "unknown flag bits");
	if (!max && !bw && !(f & KMIGRATE_CONFIG_F_RESET))
		return fake_error(s, -EINVAL, "no limit given and no KMIGRATE_CONFIG_F_RESET");
	if (f & KMIGRATE_CONFIG_F_RESET) {
		s->m.max_sessions = KMIGRATE_MAX_SESSIONS_DEFAULT;
		s->m.default_bandwidth = 0;
	}
	if (max)
		s->m.max_sessions = nla_get_u32(max);
	if (bw)
		s->m.default_bandwidth = nla_get_u64(bw);
	return fake_error(s, 0, NULL);
}

/* What the module's genl core checks before a handler runs. */
static const char *fake_bad_request(const struct nlmsghdr *req, uint8_t *cmd)
{
	const struct genlmsghdr *g = nlmsg_data(req);
	int dump = 0;

	if (req->nlmsg_type != FAKE_FAMILY || req->nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN)
		return "fake: not a request of the family";
	if (g->reserved || g->version != KMIGRATE_GENL_VERSION)
		return "fake: bad genl header";
	*cmd = g->cmd;
	if (g->cmd == KMIGRATE_CMD_GET_SESSION)
		dump = NLM_F_DUMP;
	if (req->nlmsg_flags != (NLM_F_REQUEST | NLM_F_ACK | dump))
		return "fake: unexpected nlmsg_flags";
	if (g->cmd != KMIGRATE_CMD_SET_CONFIG &&
	    req->nlmsg_len != NLMSG_HDRLEN + GENL_HDRLEN)
		return "fake: attributes in a request that takes none";
	return NULL;
}

static int fake_serve(struct fake_state *s)
{
	const char *bad;
	uint8_t cmd = 0;

	nl_socket_set_peer_port(s->sk, s->req->nlmsg_pid);
	if (s->req->nlmsg_type == NLMSG_NOOP)
		return 0;	/* fake_start()'s probe */
	bad = fake_bad_request(s->req, &cmd);
	if (bad)
		return fake_error(s, -EINVAL, bad);
	switch (cmd) {
	case KMIGRATE_CMD_GET_INFO:
		return fake_get_info(s);
	case KMIGRATE_CMD_GET_SESSION:
		return fake_get_session(s);
	case KMIGRATE_CMD_SET_CONFIG:
		return fake_set_config(s);
	default:
		return fake_error(s, -EOPNOTSUPP, NULL);
	}
}

/* Serves until killed (or a second without requests). */
static void fake_loop(struct nl_sock *sk, const struct fake_module *m)
{
	struct fake_state s = { .sk = sk, .m = *m };
	struct timeval tv = { .tv_sec = 1 };
	char buf[8192];
	ssize_t len;

	if (!s.m.abi_version)
		s.m.abi_version = KMIGRATE_ABI_VERSION;
	if (!s.m.max_sessions)
		s.m.max_sessions = KMIGRATE_MAX_SESSIONS_DEFAULT;
	setsockopt(nl_socket_get_fd(sk), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while ((len = recv(nl_socket_get_fd(sk), buf, sizeof(buf), 0)) > 0) {
		s.req = (const struct nlmsghdr *)buf;
		if (!NLMSG_OK(s.req, (size_t)len))
			_exit(3);
		fake_serve(&s);
	}
	_exit(0);
}

/* Whether @g may send to another user socket (CAP_NET_ADMIN). */
static int fake_probe(struct km_genl *g)
{
	struct nl_msg *probe = nlmsg_alloc_simple(NLMSG_NOOP, 0);
	int ret;

	if (!probe)
		return -ENOMEM;
	ret = nl_send(g->sk, probe);
	nlmsg_free(probe);
	if (ret == -NLE_PERM)
		return -EPERM;
	return ret < 0 ? -EIO : 0;
}

int fake_start(struct fake *f, const struct fake_module *m, struct km_genl *g)
{
	int ret;

	memset(f, 0, sizeof(*f));
	memset(g, 0, sizeof(*g));
	f->sk = nl_socket_alloc();
	g->sk = nl_socket_alloc();
	if (!f->sk || !g->sk || nl_connect(f->sk, NETLINK_GENERIC) ||
	    genl_connect(g->sk))
		return -EIO;
	nl_socket_set_peer_port(g->sk, nl_socket_get_local_port(f->sk));
	g->family = FAKE_FAMILY;
	ret = fake_probe(g);
	if (ret)
		return ret;
	fflush(NULL);
	f->pid = fork();
	if (f->pid < 0)
		return -errno;
	if (!f->pid)
		fake_loop(f->sk, m);
	return 0;
}

void fake_stop(struct fake *f)
{
	int status;

	if (f->pid > 0) {
		kill(f->pid, SIGKILL);
		waitpid(f->pid, &status, 0);
	}
	nl_socket_free(f->sk);
	f->sk = NULL;
	f->pid = 0;
}
