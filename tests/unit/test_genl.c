// SPDX-License-Identifier: GPL-2.0
/*
 * The netlink exchange (tools/lib/genl.c) against the running kernel's own
 * generic netlink controller, "nlctrl": a doit answered by a reply and an
 * ack, a dump ended by NLMSG_DONE, kernel errors with their extended ack,
 * and several requests on one socket.  kmigrate.ko is not needed; the
 * tests skip where no generic netlink socket can be opened.
 */
#include <errno.h>
#include <string.h>

#include <linux/genetlink.h>
#include <netlink/attr.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include "genl.h"
#include "kselftest_harness.h"
#include "unit.h"

/* What the reply callback saw. */
struct replies {
	int n;
	int nlctrl_seen;	/* a CTRL_CMD_NEWFAMILY for "nlctrl" */
	int fail_at;		/* fail on this reply (1-based); 0: never */
};

static int count_reply(const struct nlmsghdr *nlh, void *arg, struct km_error *err)
{
	struct nlattr *tb[CTRL_ATTR_MAX + 1];
	struct replies *r = arg;

	if (++r->n == r->fail_at)
		return km_error_set(err, EBADMSG, "refused reply %d", r->n);
	if (!genlmsg_parse((struct nlmsghdr *)nlh, 0, tb, CTRL_ATTR_MAX, NULL) &&
	    tb[CTRL_ATTR_FAMILY_NAME] &&
	    !strcmp(nla_get_string(tb[CTRL_ATTR_FAMILY_NAME]), "nlctrl"))
		r->nlctrl_seen++;
	return 0;
}

FIXTURE(genl) {
	struct km_genl g;
};

FIXTURE_SETUP(genl)
{
	if (km_genl_open_family(&self->g, "nlctrl"))
		SKIP(return, "no generic netlink here: %s", self->g.err.detail);
	ASSERT_EQ(GENL_ID_CTRL, self->g.family);
}

FIXTURE_TEARDOWN(genl)
{
	km_genl_close(&self->g);
}

/* CTRL_CMD_GETFAMILY for @name (all families when NULL, as a dump). */
static struct nl_msg *getfamily(struct km_genl *g, const char *name)
{
	struct nl_msg *msg = km_genl_msg(g, CTRL_CMD_GETFAMILY, name ? 0 : NLM_F_DUMP);

	if (msg && name && nla_put_string(msg, CTRL_ATTR_FAMILY_NAME, name)) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

TEST_F(genl, doit_reply_then_ack)
{
	struct replies r = { 0 };
	struct nl_msg *msg = getfamily(&self->g, "nlctrl");

	ASSERT_NE(NULL, msg);
	ASSERT_EQ(0, km_genl_exchange(&self->g, msg, count_reply, &r))
		TH_LOG("%s", self->g.err.detail);
	EXPECT_EQ(1, r.n);
	EXPECT_EQ(1, r.nlctrl_seen);
	EXPECT_EQ(KM_EXIT_OK, self->g.err.code);
}

TEST_F(genl, dump_until_done)
{
	struct replies r = { 0 };
	struct nl_msg *msg = getfamily(&self->g, NULL);

	ASSERT_NE(NULL, msg);
	ASSERT_EQ(0, km_genl_exchange(&self->g, msg, count_reply, &r))
		TH_LOG("%s", self->g.err.detail);
	EXPECT_LE(1, r.n);
	EXPECT_EQ(1, r.nlctrl_seen);
}

TEST_F(genl, kernel_error_keeps_errno)
{
	struct replies r = { 0 };
	struct nl_msg *msg = getfamily(&self->g, "km-no-such");

	ASSERT_NE(NULL, msg);
	EXPECT_EQ(-ENOENT, km_genl_exchange(&self->g, msg, count_reply, &r));
	EXPECT_EQ(ENOENT, self->g.err.errnum);
	EXPECT_EQ(KM_EXIT_FAIL, self->g.err.code);
	EXPECT_EQ(0, r.n);
}

/*
 * A malformed attribute (a family name longer than GENL_NAMSIZ): the kernel
 * refuses it and says why in its extended ack.
 */
TEST_F(genl, kernel_error_with_extack)
{
	struct nl_msg *msg = getfamily(&self->g, "a-name-longer-than-16-bytes");
	int ret;

	ASSERT_NE(NULL, msg);
	ret = km_genl_exchange(&self->g, msg, NULL, NULL);
	EXPECT_TRUE(ret == -EINVAL || ret == -ERANGE) TH_LOG("%d", ret);
	EXPECT_EQ(-ret, self->g.err.errnum);
	EXPECT_NE(0, self->g.err.detail[0]) TH_LOG("no extended ack message");
}

TEST_F(genl, callback_error_stops)
{
	struct replies r = { .fail_at = 2 };
	struct nl_msg *msg = getfamily(&self->g, NULL);

	ASSERT_NE(NULL, msg);
	EXPECT_EQ(-EBADMSG, km_genl_exchange(&self->g, msg, count_reply, &r));
	EXPECT_EQ(2, r.n);
	EXPECT_STREQ("refused reply 2", self->g.err.detail);
}

/* Requests in a row on one socket, a failed one and a dump among them. */
TEST_F(genl, requests_in_sequence)
{
	static const char *const names[] = { "nlctrl", NULL, "no-such", "nlctrl", NULL, "nlctrl" };
	static const int expected[] = { 0, 0, -ENOENT, 0, 0, 0 };
	size_t i;

	for (i = 0; i < KM_ARRAY_SIZE(names); i++) {
		struct replies r = { 0 };
		struct nl_msg *msg = getfamily(&self->g, names[i]);

		ASSERT_NE(NULL, msg);
		EXPECT_EQ(expected[i], km_genl_exchange(&self->g, msg, count_reply, &r))
			TH_LOG("request %zu: %s", i, self->g.err.detail);
		if (!expected[i])
			EXPECT_EQ(1, r.nlctrl_seen) TH_LOG("request %zu", i);
	}
}

TEST_F(genl, unknown_family)
{
	struct km_genl g;

	EXPECT_EQ(-ENOENT, km_genl_open_family(&g, "km-no-such"));
	EXPECT_EQ(NULL, g.sk);
	EXPECT_TRUE(km_contains(g.err.detail, "'km-no-such' not found"));
	KM_ASSERT_NO_LEAKS();
}

/* Where kmigrate.ko is absent, opening says so with its own exit status. */
TEST_F(genl, kmigrate_family)
{
	struct km_genl g;
	int ret = km_genl_open(&g);

	km_genl_close(&g);
	if (!ret)
		SKIP(return, "kmigrate.ko is loaded here");
	EXPECT_EQ(-ENOENT, ret);
	EXPECT_EQ(KM_EXIT_NO_MODULE, g.err.code);
}

TEST_HARNESS_MAIN
