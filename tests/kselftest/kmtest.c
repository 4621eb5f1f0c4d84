// SPDX-License-Identifier: GPL-2.0
/*
 * Helpers shared by the kmigrate.ko selftests; see kmtest.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include <netlink/genl/ctrl.h>
#include <netlink/handlers.h>
#include <netlink/socket.h>

#include "kmtest.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

/* ---- character device ---------------------------------------------- */

int kmt_open(int flags)
{
	int fd = open(KMT_DEV_PATH, flags | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int kmt_open_many(int *fds, int n, int *err)
{
	int i;

	*err = 0;
	for (i = 0; i < n; i++) {
		fds[i] = kmt_open(O_RDWR);
		if (fds[i] < 0) {
			*err = fds[i];
			fds[i] = -1;
			break;
		}
	}
	return i;
}

void kmt_close_all(int *fds, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

int kmt_ioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) < 0 ? -errno : 0;
}

int kmt_read_file(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0) {
		n = -errno;
		close(fd);
		return n;
	}
	close(fd);
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return 0;
}

/* ---- privileges ---------------------------------------------------- */

int kmt_become_nobody(void)
{
	if (setgroups(0, NULL))
		return -errno;
	if (setresgid(KMT_NOBODY, KMT_NOBODY, KMT_NOBODY))
		return -errno;
	if (setresuid(KMT_NOBODY, KMT_NOBODY, KMT_NOBODY))
		return -errno;
	if (getuid() != KMT_NOBODY || geteuid() != KMT_NOBODY)
		return -EPERM;
	return 0;
}

int kmt_caps_keep_only(uint64_t mask)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
		.pid = 0,
	};
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

	memset(d, 0, sizeof(d));
	d[0].effective = d[0].permitted = (uint32_t)mask;
	d[1].effective = d[1].permitted = (uint32_t)(mask >> 32);
	if (syscall(SYS_capset, &h, d))
		return -errno;
	return 0;
}

int kmt_caps_drop(int cap)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
		.pid = 0,
	};
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
	int i;

	memset(d, 0, sizeof(d));
	if (syscall(SYS_capget, &h, d))
		return -errno;
	i = CAP_TO_INDEX(cap);
	d[i].effective &= ~CAP_TO_MASK(cap);
	d[i].permitted &= ~CAP_TO_MASK(cap);
	d[i].inheritable &= ~CAP_TO_MASK(cap);
	if (syscall(SYS_capset, &h, d))
		return -errno;
	return 0;
}

int kmt_run_child(int (*fn)(void *arg), void *arg)
{
	int status;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		_exit(fn(arg) & 0xff);
	if (waitpid(pid, &status, 0) != pid)
		return -errno;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return -128 - WTERMSIG(status);
	return -1;
}

/* ---- generic netlink ----------------------------------------------- */

int kmt_nl_connect(struct kmt_nl *nl)
{
	int one = 1;

	nl->family = -1;
	nl->sk = nl_socket_alloc();
	if (!nl->sk)
		return -ENOMEM;
	if (genl_connect(nl->sk)) {
		nl_socket_free(nl->sk);
		nl->sk = NULL;
		return KMT_ETRANSPORT;
	}
	/* Error messages tell why (NLMSGERR_ATTR_MSG / _OFFS). */
	if (setsockopt(nl_socket_get_fd(nl->sk), SOL_NETLINK, NETLINK_EXT_ACK,
		       &one, sizeof(one))) {
		int err = -errno;

		nl_socket_free(nl->sk);
		nl->sk = NULL;
		return err;
	}
	return 0;
}

int kmt_nl_open(struct kmt_nl *nl)
{
	struct kmt_family fam;
	int err;

	err = kmt_nl_connect(nl);
	if (err)
		return err;
	err = kmt_ctrl_getfamily(nl, KMIGRATE_GENL_NAME, &fam, NULL);
	if (!err && !fam.found)
		err = -ENOENT;
	if (err) {
		kmt_nl_close(nl);
		return err;
	}
	return 0;
}

void kmt_nl_close(struct kmt_nl *nl)
{
	if (nl->sk)
		nl_socket_free(nl->sk);
	nl->sk = NULL;
	nl->family = -1;
}

struct nl_msg *kmt_msg_new(const struct kmt_nl *nl, uint8_t cmd, int nlm_flags)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (!msg)
		return NULL;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, nl->family, 0,
			 nlm_flags, cmd, KMIGRATE_GENL_VERSION)) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

#define KMT_TB_SIZE 64

struct xfer_ctx {
	struct kmt_ack *ack;
	kmt_reply_fn fn;
	void *arg;
	int maxattr;
	bool done;
	bool bad;		/* malformed reply or fn() complained */
};

static void parse_ext_ack(struct nlmsghdr *nlh, struct kmt_ack *ack)
{
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	struct nlmsgerr *e = nlmsg_data(nlh);
	size_t off, len;

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (nlh->nlmsg_flags & NLM_F_CAPPED)
		off = sizeof(*e);
	else
		off = sizeof(e->error) + NLMSG_ALIGN(e->msg.nlmsg_len);
	len = nlh->nlmsg_len - NLMSG_HDRLEN;
	if (off >= len)
		return;
	if (nla_parse(tb, NLMSGERR_ATTR_MAX, (struct nlattr *)((char *)e + off),
		      len - off, NULL))
		return;
	if (tb[NLMSGERR_ATTR_MSG]) {
		ack->has_msg = true;
		snprintf(ack->msg, sizeof(ack->msg), "%.*s",
			 nla_len(tb[NLMSGERR_ATTR_MSG]),
			 (char *)nla_data(tb[NLMSGERR_ATTR_MSG]));
	}
	if (tb[NLMSGERR_ATTR_OFFS] && nla_len(tb[NLMSGERR_ATTR_OFFS]) == 4) {
		ack->has_offs = true;
		ack->offs = nla_get_u32(tb[NLMSGERR_ATTR_OFFS]);
	}
}

static int xfer_valid(struct nl_msg *msg, void *arg)
{
	struct xfer_ctx *ctx = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct nlattr *tb[KMT_TB_SIZE];

	ctx->ack->nmsgs++;
	if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
		ctx->ack->dump_intr = true;
	memset(tb, 0, sizeof(tb));
	if (nlh->nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN) {
		ctx->bad = true;
		return NL_OK;
	}
	if (nla_parse(tb, ctx->maxattr, genlmsg_attrdata(nlmsg_data(nlh), 0),
		      genlmsg_attrlen(nlmsg_data(nlh), 0), NULL)) {
		ctx->bad = true;
		return NL_OK;
	}
	if (ctx->fn && ctx->fn(nlh, tb, ctx->arg))
		ctx->bad = true;
	return NL_OK;
}

static int xfer_ack(struct nl_msg *msg, void *arg)
{
	struct xfer_ctx *ctx = arg;

	(void)msg;
	ctx->ack->error = 0;
	ctx->done = true;
	return NL_STOP;
}

static int xfer_finish(struct nl_msg *msg, void *arg)
{
	struct xfer_ctx *ctx = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);

	if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
		ctx->ack->dump_intr = true;
	/* NLMSG_DONE carries the dump's final error. */
	if (nlh->nlmsg_len >= NLMSG_HDRLEN + sizeof(int))
		ctx->ack->error = *(int *)nlmsg_data(nlh);
	ctx->done = true;
	return NL_STOP;
}

static int xfer_err(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct xfer_ctx *ctx = arg;
	struct nlmsghdr *nlh = (struct nlmsghdr *)((char *)e - NLMSG_HDRLEN);

	(void)nla;
	ctx->ack->error = e->error;
	parse_ext_ack(nlh, ctx->ack);
	ctx->done = true;
	return NL_STOP;
}

static int xfer(struct kmt_nl *nl, struct nl_msg *msg, int maxattr,
		kmt_reply_fn fn, void *arg, struct kmt_ack *ack)
{
	struct kmt_ack dummy;
	struct xfer_ctx ctx;
	struct nl_cb *cb;
	int err;

	if (!ack)
		ack = &dummy;
	memset(ack, 0, sizeof(*ack));
	memset(&ctx, 0, sizeof(ctx));
	ctx.ack = ack;
	ctx.fn = fn;
	ctx.arg = arg;
	ctx.maxattr = maxattr;

	if (!msg)
		return KMT_ETRANSPORT;
	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!cb) {
		nlmsg_free(msg);
		return KMT_ETRANSPORT;
	}
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, xfer_valid, &ctx);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, xfer_ack, &ctx);
	nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, xfer_finish, &ctx);
	nl_cb_err(cb, NL_CB_CUSTOM, xfer_err, &ctx);

	err = nl_send_auto(nl->sk, msg);
	nlmsg_free(msg);
	if (err < 0) {
		fprintf(stderr, "# kmtest: nl_send_auto: %s\n", nl_geterror(err));
		nl_cb_put(cb);
		return KMT_ETRANSPORT;
	}
	while (!ctx.done) {
		err = nl_recvmsgs(nl->sk, cb);
		if (err < 0 && !ctx.done) {
			fprintf(stderr, "# kmtest: nl_recvmsgs: %s\n", nl_geterror(err));
			nl_cb_put(cb);
			return KMT_ETRANSPORT;
		}
	}
	nl_cb_put(cb);
	if (ctx.bad && !ack->error) {
		fprintf(stderr, "# kmtest: malformed reply\n");
		return KMT_ETRANSPORT;
	}
	return ack->error;
}

int kmt_nl_xfer(struct kmt_nl *nl, struct nl_msg *msg, kmt_reply_fn fn,
		void *arg, struct kmt_ack *ack)
{
	return xfer(nl, msg, KMIGRATE_A_MAX, fn, arg, ack);
}

/* ---- GET_INFO ------------------------------------------------------ */

static void info_u32(struct nlattr **tb, int type, uint32_t *v, struct kmt_info *info)
{
	if (!tb[type])
		return;
	info->present |= 1u << type;
	if (nla_len(tb[type]) != sizeof(uint32_t)) {
		info->bad_len |= 1u << type;
		return;
	}
	*v = nla_get_u32(tb[type]);
}

static void info_u64(struct nlattr **tb, int type, uint64_t *v, struct kmt_info *info)
{
	if (!tb[type])
		return;
	info->present |= 1u << type;
	if (nla_len(tb[type]) != sizeof(uint64_t)) {
		info->bad_len |= 1u << type;
		return;
	}
	*v = nla_get_u64(tb[type]);
}

static int info_reply(struct nlmsghdr *nlh, struct nlattr **tb, void *arg)
{
	struct kmt_info *info = arg;
	struct nlattr *a = tb[KMIGRATE_A_MODULE_VERSION];

	info->reply_cmd = genlmsg_hdr(nlh)->cmd;
	if (a) {
		int len = nla_len(a);
		const char *s = nla_data(a);

		info->present |= KMT_INFO_MODULE_VERSION;
		info->module_version_nul = len > 0 && s[len - 1] == '\0';
		snprintf(info->module_version, sizeof(info->module_version),
			 "%.*s", len, s);
	}
	info_u32(tb, KMIGRATE_A_ABI_VERSION, &info->abi_version, info);
	info_u32(tb, KMIGRATE_A_GENL_VERSION, &info->genl_version, info);
	info_u64(tb, KMIGRATE_A_FEATURES, &info->features, info);
	info_u32(tb, KMIGRATE_A_SESSION_COUNT, &info->session_count, info);
	info_u32(tb, KMIGRATE_A_MAX_SESSIONS, &info->max_sessions, info);
	info_u64(tb, KMIGRATE_A_DEFAULT_BANDWIDTH, &info->default_bandwidth, info);
	return 0;
}

int kmt_get_info(struct kmt_nl *nl, struct kmt_info *info, struct kmt_ack *ack)
{
	memset(info, 0, sizeof(*info));
	return kmt_nl_xfer(nl, kmt_msg_new(nl, KMIGRATE_CMD_GET_INFO, 0),
			   info_reply, info, ack);
}

/* ---- GET_SESSION dump ---------------------------------------------- */

static int dump_reply(struct nlmsghdr *nlh, struct nlattr **tb, void *arg)
{
	struct nlattr *st[KMIGRATE_SESSION_A_MAX + 1];
	struct kmt_dump *d = arg;
	struct kmt_session s;
	int t;

	if (nlh->nlmsg_flags & NLM_F_MULTI)
		d->multi++;
	if (!tb[KMIGRATE_A_SESSION]) {
		d->no_nest++;
		return 0;
	}
	memset(&s, 0, sizeof(s));
	if (nla_parse_nested(st, KMIGRATE_SESSION_A_MAX, tb[KMIGRATE_A_SESSION], NULL)) {
		d->no_nest++;
		return 0;
	}
	for (t = KMIGRATE_SESSION_A_ID; t <= KMIGRATE_SESSION_A_BANDWIDTH; t++) {
		int want = t == KMIGRATE_SESSION_A_BANDWIDTH ? 8 : 4;

		if (!st[t])
			continue;
		s.present |= 1u << t;
		if (nla_len(st[t]) != want) {
			s.bad_len |= 1u << t;
			continue;
		}
		switch (t) {
		case KMIGRATE_SESSION_A_ID:
			s.id = nla_get_u32(st[t]);
			break;
		case KMIGRATE_SESSION_A_OWNER_PID:
			s.owner_pid = nla_get_u32(st[t]);
			break;
		case KMIGRATE_SESSION_A_STATE:
			s.state = nla_get_u32(st[t]);
			break;
		case KMIGRATE_SESSION_A_BANDWIDTH:
			s.bandwidth = nla_get_u64(st[t]);
			break;
		}
	}
	if (d->n < d->max)
		d->s[d->n] = s;
	d->n++;
	return 0;
}

int kmt_dump_sessions(struct kmt_nl *nl, struct kmt_dump *d, struct kmt_ack *ack)
{
	d->n = 0;
	d->no_nest = 0;
	d->multi = 0;
	return kmt_nl_xfer(nl, kmt_msg_new(nl, KMIGRATE_CMD_GET_SESSION, NLM_F_DUMP),
			   dump_reply, d, ack);
}

int kmt_dump_count_pid(const struct kmt_dump *d, uint32_t pid)
{
	int i, n = 0;

	for (i = 0; i < d->n && i < d->max; i++)
		if (d->s[i].owner_pid == pid)
			n++;
	return n;
}

bool kmt_dump_ids_unique(const struct kmt_dump *d)
{
	int i, j, n = d->n < d->max ? d->n : d->max;

	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (d->s[i].id == d->s[j].id)
				return false;
	return true;
}

/* ---- SET_CONFIG ---------------------------------------------------- */

int kmt_set_config(struct kmt_nl *nl, const struct kmt_cfg *cfg, struct kmt_ack *ack)
{
	struct nl_msg *msg = kmt_msg_new(nl, KMIGRATE_CMD_SET_CONFIG, 0);

	if (!msg)
		return KMT_ETRANSPORT;
	if ((cfg->has_max && nla_put_u32(msg, KMIGRATE_A_MAX_SESSIONS, cfg->max_sessions)) ||
	    (cfg->has_bw && nla_put_u64(msg, KMIGRATE_A_DEFAULT_BANDWIDTH,
					cfg->default_bandwidth)) ||
	    (cfg->has_flags && nla_put_u32(msg, KMIGRATE_A_FLAGS, cfg->flags))) {
		nlmsg_free(msg);
		return KMT_ETRANSPORT;
	}
	return kmt_nl_xfer(nl, msg, NULL, NULL, ack);
}

int kmt_reset_config(struct kmt_nl *nl)
{
	struct kmt_cfg cfg = {
		.has_max = true,
		.max_sessions = KMIGRATE_MAX_SESSIONS_DEFAULT,
		.has_flags = true,
		.flags = KMIGRATE_CONFIG_F_RESET,
	};

	return kmt_set_config(nl, &cfg, NULL);
}

/* ---- controller ---------------------------------------------------- */

static int family_reply(struct nlmsghdr *nlh, struct nlattr **tb, void *arg)
{
	struct kmt_family *fam = arg;
	struct nlattr *op;
	int rem;

	(void)nlh;
	fam->found = true;
	if (tb[CTRL_ATTR_VERSION])
		fam->version = nla_get_u32(tb[CTRL_ATTR_VERSION]);
	if (tb[CTRL_ATTR_HDRSIZE])
		fam->hdrsize = nla_get_u32(tb[CTRL_ATTR_HDRSIZE]);
	if (tb[CTRL_ATTR_MAXATTR])
		fam->maxattr = nla_get_u32(tb[CTRL_ATTR_MAXATTR]);
	if (!tb[CTRL_ATTR_OPS])
		return 0;
	nla_for_each_nested(op, tb[CTRL_ATTR_OPS], rem) {
		struct nlattr *ot[CTRL_ATTR_OP_MAX + 1];

		if (nla_parse_nested(ot, CTRL_ATTR_OP_MAX, op, NULL))
			return -1;
		if (fam->nops >= (int)ARRAY_SIZE(fam->ops))
			return -1;
		fam->ops[fam->nops].id = ot[CTRL_ATTR_OP_ID] ?
					 nla_get_u32(ot[CTRL_ATTR_OP_ID]) : 0;
		fam->ops[fam->nops].flags = ot[CTRL_ATTR_OP_FLAGS] ?
					    nla_get_u32(ot[CTRL_ATTR_OP_FLAGS]) : 0;
		fam->nops++;
	}
	return 0;
}

/* Family id of the reply goes into nl->family when name is ours. */
struct family_id_ctx {
	struct kmt_family *fam;
	int id;
};

static int family_id_reply(struct nlmsghdr *nlh, struct nlattr **tb, void *arg)
{
	struct family_id_ctx *c = arg;

	if (tb[CTRL_ATTR_FAMILY_ID])
		c->id = nla_get_u16(tb[CTRL_ATTR_FAMILY_ID]);
	return family_reply(nlh, tb, c->fam);
}

int kmt_ctrl_getfamily(struct kmt_nl *nl, const char *name, struct kmt_family *fam,
		       struct kmt_ack *ack)
{
	struct family_id_ctx c = { .fam = fam, .id = -1 };
	struct nl_msg *msg;
	int err;

	memset(fam, 0, sizeof(*fam));
	msg = nlmsg_alloc();
	if (!msg)
		return KMT_ETRANSPORT;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, GENL_ID_CTRL, 0, 0,
			 CTRL_CMD_GETFAMILY, 1) ||
	    nla_put_string(msg, CTRL_ATTR_FAMILY_NAME, name)) {
		nlmsg_free(msg);
		return KMT_ETRANSPORT;
	}
	err = xfer(nl, msg, CTRL_ATTR_MAX, family_id_reply, &c, ack);
	if (err == -ENOENT) {
		fam->found = false;
		return 0;
	}
	if (!err && c.id > 0 && !strcmp(name, KMIGRATE_GENL_NAME))
		nl->family = c.id;
	return err;
}
