// SPDX-License-Identifier: GPL-2.0
/*
 * Parsing and validation of kmigrate genl replies, request building and
 * error/done decoding (tools/lib/msg.c), on messages built here with libnl:
 * no socket, no kernel.
 */
#include <errno.h>
#include <string.h>

#include <linux/genetlink.h>
#include <netlink/attr.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include "kselftest_harness.h"
#include "msg.h"
#include "names.h"
#include "unit.h"

#define TEST_FAMILY	0x20

/* A kmigrate genl message with no attributes yet. */
static struct nl_msg *genl_msg(uint8_t cmd)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (msg && !genlmsg_put(msg, 1, 1, TEST_FAMILY, 0, 0, cmd, KMIGRATE_GENL_VERSION)) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

/* What a kmigrate.ko of ABI 1 puts in its GET_INFO reply. */
static int put_info(struct nl_msg *msg, const char *version)
{
	return nla_put_string(msg, KMIGRATE_A_MODULE_VERSION, version) ||
	       nla_put_u32(msg, KMIGRATE_A_ABI_VERSION, 1) ||
	       nla_put_u32(msg, KMIGRATE_A_GENL_VERSION, 1) ||
	       nla_put_u64(msg, KMIGRATE_A_FEATURES, 0) ||
	       nla_put_u32(msg, KMIGRATE_A_SESSION_COUNT, 2) ||
	       nla_put_u32(msg, KMIGRATE_A_MAX_SESSIONS, 16) ||
	       nla_put_u64(msg, KMIGRATE_A_DEFAULT_BANDWIDTH, 125000000);
}

FIXTURE(msg) {
	struct nl_msg *msg;
	struct km_error err;
	struct km_info info;
};

FIXTURE_SETUP(msg)
{
	self->msg = genl_msg(KMIGRATE_CMD_GET_INFO);
	ASSERT_NE(NULL, self->msg);
	km_error_clear(&self->err);
}

FIXTURE_TEARDOWN(msg)
{
	nlmsg_free(self->msg);
}

/* Parses self->msg as a GET_INFO reply needing @required. */
#define PARSE_INFO(required) \
	km_info_parse(nlmsg_hdr(self->msg), (required), &self->info, &self->err)

/* Expects -EBADMSG with a reason containing @why. */
#define EXPECT_BAD(ret, why) do {					\
	EXPECT_EQ(-EBADMSG, (ret));					\
	EXPECT_EQ(EBADMSG, self->err.errnum);				\
	EXPECT_EQ(KM_EXIT_FAIL, self->err.code);			\
	EXPECT_TRUE(km_contains(self->err.detail, (why)))		\
		TH_LOG("reason '%s' lacks '%s'", self->err.detail, (why)); \
} while (0)

TEST_F(msg, info_complete)
{
	ASSERT_EQ(0, put_info(self->msg, "0.1.0+gabc"));
	ASSERT_EQ(0, PARSE_INFO(KM_INFO_ALL)) TH_LOG("%s", self->err.detail);
	EXPECT_EQ(KM_INFO_ALL, self->info.have);
	EXPECT_STREQ("0.1.0+gabc", self->info.module_version);
	EXPECT_EQ(1, self->info.abi_version);
	EXPECT_EQ(1, self->info.genl_version);
	EXPECT_EQ(0, self->info.features);
	EXPECT_EQ(2, self->info.session_count);
	EXPECT_EQ(16, self->info.max_sessions);
	EXPECT_EQ(125000000, self->info.default_bandwidth);
}

TEST_F(msg, info_missing_attribute)
{
	ASSERT_EQ(0, nla_put_string(self->msg, KMIGRATE_A_MODULE_VERSION, "1"));
	ASSERT_EQ(0, nla_put_u32(self->msg, KMIGRATE_A_GENL_VERSION, 1));
	EXPECT_BAD(PARSE_INFO(KM_INFO_VERSIONS),
		   "ABI version (attribute 2) in the module info reply is missing");
}

/* Only what is required must be there: `version` asks for less than `status`. */
TEST_F(msg, info_required_subset)
{
	ASSERT_EQ(0, nla_put_string(self->msg, KMIGRATE_A_MODULE_VERSION, "1"));
	ASSERT_EQ(0, nla_put_u32(self->msg, KMIGRATE_A_ABI_VERSION, 2));
	ASSERT_EQ(0, nla_put_u32(self->msg, KMIGRATE_A_GENL_VERSION, 3));
	ASSERT_EQ(0, PARSE_INFO(KM_INFO_VERSIONS));
	EXPECT_EQ(KM_INFO_VERSIONS, self->info.have);
	EXPECT_EQ(2, self->info.abi_version);
	EXPECT_EQ(3, self->info.genl_version);
	EXPECT_BAD(PARSE_INFO(KM_INFO_ALL), "features (attribute 4)");
}

TEST_F(msg, info_wrong_sizes)
{
	ASSERT_EQ(0, nla_put_string(self->msg, KMIGRATE_A_MODULE_VERSION, "1"));
	ASSERT_EQ(0, nla_put_u16(self->msg, KMIGRATE_A_ABI_VERSION, 1));
	EXPECT_BAD(PARSE_INFO(0), "ABI version (attribute 2) in the module info reply is 2 bytes long, not 4");
}

TEST_F(msg, info_u64_as_u32)
{
	ASSERT_EQ(0, nla_put_u32(self->msg, KMIGRATE_A_DEFAULT_BANDWIDTH, 5));
	EXPECT_BAD(PARSE_INFO(0), "default bandwidth (attribute 7) in the module info reply is 4 bytes long, not 8");
}

TEST_F(msg, info_u32_too_long)
{
	ASSERT_EQ(0, nla_put_u64(self->msg, KMIGRATE_A_MAX_SESSIONS, 5));
	EXPECT_BAD(PARSE_INFO(0), "max sessions (attribute 6) in the module info reply is 8 bytes long, not 4");
}

TEST_F(msg, info_string_not_terminated)
{
	ASSERT_EQ(0, nla_put(self->msg, KMIGRATE_A_MODULE_VERSION, 3, "abc"));
	EXPECT_BAD(PARSE_INFO(0), "module version (attribute 1) in the module info reply is not NUL-terminated");
}

TEST_F(msg, info_string_empty_attribute)
{
	ASSERT_EQ(0, nla_put(self->msg, KMIGRATE_A_MODULE_VERSION, 0, NULL));
	EXPECT_BAD(PARSE_INFO(0), "is not NUL-terminated");
}

TEST_F(msg, info_string_too_long)
{
	char v[KM_VERSION_LEN + 1];

	memset(v, 'a', sizeof(v) - 1);
	v[sizeof(v) - 1] = '\0';
	ASSERT_EQ(0, nla_put_string(self->msg, KMIGRATE_A_MODULE_VERSION, v));
	EXPECT_BAD(PARSE_INFO(0), "module version (attribute 1) in the module info reply is longer than 47 bytes");
}

TEST_F(msg, info_string_longest)
{
	char v[KM_VERSION_LEN];

	memset(v, 'a', sizeof(v) - 1);
	v[sizeof(v) - 1] = '\0';
	ASSERT_EQ(0, nla_put_string(self->msg, KMIGRATE_A_MODULE_VERSION, v));
	ASSERT_EQ(0, PARSE_INFO(KM_BIT(KMIGRATE_A_MODULE_VERSION)));
	EXPECT_STREQ(v, self->info.module_version);
}

TEST_F(msg, info_string_unprintable)
{
	ASSERT_EQ(0, nla_put_string(self->msg, KMIGRATE_A_MODULE_VERSION, "1.0\033[2J"));
	EXPECT_BAD(PARSE_INFO(0), "unprintable");
}

TEST_F(msg, info_duplicate_attribute)
{
	ASSERT_EQ(0, put_info(self->msg, "1"));
	ASSERT_EQ(0, nla_put_u32(self->msg, KMIGRATE_A_SESSION_COUNT, 3));
	EXPECT_BAD(PARSE_INFO(KM_INFO_ALL), "session count (attribute 5) in the module info reply appears twice");
}

/* A newer module may add attributes; padding is skipped. */
TEST_F(msg, info_ignores_unknown_and_pad)
{
	ASSERT_EQ(0, nla_put(self->msg, KMIGRATE_A_PAD, 0, NULL));
	ASSERT_EQ(0, put_info(self->msg, "1"));
	ASSERT_EQ(0, nla_put(self->msg, KMIGRATE_A_MAX + 1, 3, "xyz"));
	ASSERT_EQ(0, nla_put(self->msg, 1000, 1, "x"));
	ASSERT_EQ(0, PARSE_INFO(KM_INFO_ALL)) TH_LOG("%s", self->err.detail);
	EXPECT_EQ(KM_INFO_ALL, self->info.have);
}

TEST_F(msg, info_truncated_attribute)
{
	ASSERT_EQ(0, put_info(self->msg, "1"));
	nlmsg_hdr(self->msg)->nlmsg_len -= 6;	/* 6 of the last 12 bytes stay */
	EXPECT_BAD(PARSE_INFO(0), "ends with 6 bytes of a truncated attribute");
}

TEST_F(msg, info_too_short_for_genl_header)
{
	nlmsg_hdr(self->msg)->nlmsg_len = NLMSG_HDRLEN + 2;
	EXPECT_BAD(PARSE_INFO(0), "too short for a genl header");
}

TEST_F(msg, info_no_attributes)
{
	ASSERT_EQ(0, PARSE_INFO(0));
	EXPECT_EQ(0, self->info.have);
	EXPECT_STREQ("", self->info.module_version);
	EXPECT_BAD(PARSE_INFO(KM_INFO_VERSIONS), "module version (attribute 1)");
}

/* A GET_SESSION dump message with one nest of @nattrs session attributes. */
static int put_session(struct nl_msg *msg, int nattrs, uint32_t state)
{
	struct nlattr *nest;

	if (!nattrs)	/* libnl drops an empty nest: put it by hand */
		return nla_put(msg, KMIGRATE_A_SESSION | NLA_F_NESTED, 0, NULL);
	nest = nla_nest_start(msg, KMIGRATE_A_SESSION);
	if (!nest)
		return -1;
	if ((nattrs > 0 && nla_put_u32(msg, KMIGRATE_SESSION_A_ID, 7)) ||
	    (nattrs > 1 && nla_put_u32(msg, KMIGRATE_SESSION_A_OWNER_PID, 4242)) ||
	    (nattrs > 2 && nla_put_u32(msg, KMIGRATE_SESSION_A_STATE, state)) ||
	    (nattrs > 3 && nla_put_u64(msg, KMIGRATE_SESSION_A_BANDWIDTH, 1ULL << 30)))
		return -1;
	return nla_nest_end(msg, nest) < 0;
}

#define PARSE_SESSION(s) km_session_parse(nlmsg_hdr(self->msg), (s), &self->err)

TEST_F(msg, session_complete)
{
	struct km_session s;

	ASSERT_EQ(0, put_session(self->msg, 4, KMIGRATE_SESSION_RUNNING));
	ASSERT_EQ(0, PARSE_SESSION(&s)) TH_LOG("%s", self->err.detail);
	EXPECT_EQ(7, s.id);
	EXPECT_EQ(4242, s.owner_pid);
	EXPECT_EQ(KMIGRATE_SESSION_RUNNING, s.state);
	EXPECT_EQ(1ULL << 30, s.bandwidth);
}

TEST_F(msg, session_unknown_state_is_kept)
{
	struct km_session s;

	ASSERT_EQ(0, put_session(self->msg, 4, 77));
	ASSERT_EQ(0, PARSE_SESSION(&s));
	EXPECT_EQ(77, s.state);
	EXPECT_EQ(NULL, km_state_name(s.state));
}

TEST_F(msg, session_missing_nest)
{
	struct km_session s;

	ASSERT_EQ(0, nla_put_u32(self->msg, KMIGRATE_A_SESSION_COUNT, 1));
	EXPECT_BAD(PARSE_SESSION(&s), "session (attribute 9) in the session list reply is missing");
}

TEST_F(msg, session_missing_nested_attributes)
{
	static const char *const missing[] = {
		"session id (attribute 1) in the session is missing",
		"session owner pid (attribute 2) in the session is missing",
		"session state (attribute 3) in the session is missing",
		"session bandwidth (attribute 4) in the session is missing",
	};
	struct km_session s;
	int n;

	for (n = 0; n < 4; n++) {
		struct nl_msg *msg = genl_msg(KMIGRATE_CMD_GET_SESSION);

		ASSERT_NE(NULL, msg);
		ASSERT_EQ(0, put_session(msg, n, 0));
		EXPECT_EQ(-EBADMSG, km_session_parse(nlmsg_hdr(msg), &s, &self->err));
		EXPECT_TRUE(km_contains(self->err.detail, missing[n]))
			TH_LOG("%d attributes: '%s'", n, self->err.detail);
		nlmsg_free(msg);
	}
}

TEST_F(msg, session_nested_wrong_size)
{
	struct nlattr *nest = nla_nest_start(self->msg, KMIGRATE_A_SESSION);
	struct km_session s;

	ASSERT_NE(NULL, nest);
	ASSERT_EQ(0, nla_put_u64(self->msg, KMIGRATE_SESSION_A_ID, 7));
	ASSERT_EQ(0, nla_nest_end(self->msg, nest));
	EXPECT_BAD(PARSE_SESSION(&s), "session id (attribute 1) in the session is 8 bytes long, not 4");
}

TEST_F(msg, session_list_sorted_and_freed)
{
	struct km_sessions list = { 0 };
	struct km_session s = { 0 };
	uint32_t id;
	size_t i;

	for (id = 100; id > 0; id--) {
		s.id = id * 3 % 101;	/* a permutation of 0..100, minus one */
		ASSERT_EQ(0, km_sessions_add(&list, &s));
	}
	ASSERT_EQ(100, list.n);
	km_sessions_sort(&list);
	for (i = 1; i < list.n; i++)
		ASSERT_LT(list.v[i - 1].id, list.v[i].id);
	km_sessions_free(&list);
	EXPECT_EQ(0, list.n);
	EXPECT_EQ(NULL, list.v);
	km_sessions_sort(&list);	/* empty: nothing to do */
	KM_ASSERT_NO_LEAKS();
}

TEST_F(msg, state_names)
{
	EXPECT_STREQ("idle", km_state_name(KMIGRATE_SESSION_IDLE));
	EXPECT_STREQ("attached", km_state_name(KMIGRATE_SESSION_ATTACHED));
	EXPECT_STREQ("running", km_state_name(KMIGRATE_SESSION_RUNNING));
	EXPECT_STREQ("done", km_state_name(KMIGRATE_SESSION_DONE));
	EXPECT_STREQ("failed", km_state_name(KMIGRATE_SESSION_FAILED));
	EXPECT_EQ(NULL, km_state_name(KMIGRATE_SESSION_STATE_MAX + 1));
	EXPECT_EQ(NULL, km_state_name(UINT32_MAX));
}

/* The SET_CONFIG request carries exactly the attributes asked for. */
TEST_F(msg, config_request)
{
	const struct km_config cfg = {
		.have = KM_BIT(KMIGRATE_A_MAX_SESSIONS) |
			KM_BIT(KMIGRATE_A_DEFAULT_BANDWIDTH) | KM_BIT(KMIGRATE_A_FLAGS),
		.max_sessions = 4,
		.default_bandwidth = 1250000000,
		.flags = KMIGRATE_CONFIG_F_RESET,
	};
	struct nlattr *tb[KMIGRATE_A_MAX + 1];
	struct nlmsghdr *nlh;
	struct nlattr *nla;
	int rem, n = 0;

	ASSERT_EQ(0, km_config_put(self->msg, &cfg));
	nlh = nlmsg_hdr(self->msg);
	ASSERT_EQ(0, genlmsg_parse(nlh, 0, tb, KMIGRATE_A_MAX, NULL));
	ASSERT_NE(NULL, tb[KMIGRATE_A_MAX_SESSIONS]);
	EXPECT_EQ(4, nla_len(tb[KMIGRATE_A_MAX_SESSIONS]));
	EXPECT_EQ(4, nla_get_u32(tb[KMIGRATE_A_MAX_SESSIONS]));
	ASSERT_NE(NULL, tb[KMIGRATE_A_DEFAULT_BANDWIDTH]);
	EXPECT_EQ(8, nla_len(tb[KMIGRATE_A_DEFAULT_BANDWIDTH]));
	EXPECT_EQ(1250000000, nla_get_u64(tb[KMIGRATE_A_DEFAULT_BANDWIDTH]));
	ASSERT_NE(NULL, tb[KMIGRATE_A_FLAGS]);
	EXPECT_EQ(KMIGRATE_CONFIG_F_RESET, nla_get_u32(tb[KMIGRATE_A_FLAGS]));
	/* Nothing else, not even padding: the kernel's policy is strict. */
	nla_for_each_attr(nla, genlmsg_attrdata(nlmsg_data(nlh), 0),
			  genlmsg_attrlen(nlmsg_data(nlh), 0), rem)
		n++;
	EXPECT_EQ(3, n);
}

TEST_F(msg, config_request_reset_only)
{
	const struct km_config cfg = {
		.have = KM_BIT(KMIGRATE_A_FLAGS), .flags = KMIGRATE_CONFIG_F_RESET,
	};
	struct nlmsghdr *nlh;

	ASSERT_EQ(0, km_config_put(self->msg, &cfg));
	nlh = nlmsg_hdr(self->msg);
	EXPECT_EQ(NLMSG_HDRLEN + GENL_HDRLEN + NLA_HDRLEN + 4, nlh->nlmsg_len);
}

TEST_F(msg, config_request_nothing)
{
	const struct km_config cfg = { 0 };

	ASSERT_EQ(0, km_config_put(self->msg, &cfg));
	EXPECT_EQ(NLMSG_HDRLEN + GENL_HDRLEN, nlmsg_hdr(self->msg)->nlmsg_len);
}

/*
 * An NLMSG_ERROR for request @req: the error, then (unless @capped) the
 * request, then the extended ack attributes added by the caller.
 */
static struct nl_msg *error_msg(int error, struct nl_msg *req, bool capped, bool tlvs)
{
	int flags = (capped ? NLM_F_CAPPED : 0) | (tlvs ? NLM_F_ACK_TLVS : 0);
	struct nl_msg *msg = nlmsg_alloc_simple(NLMSG_ERROR, flags);
	struct nlmsgerr e = { .error = error, .msg = *nlmsg_hdr(req) };

	if (!msg || nlmsg_append(msg, &e, sizeof(e), NLMSG_ALIGNTO))
		goto fail;
	if (!capped && nlmsg_append(msg, nlmsg_data(nlmsg_hdr(req)),
				    nlmsg_datalen(nlmsg_hdr(req)), NLMSG_ALIGNTO))
		goto fail;
	return msg;
fail:
	nlmsg_free(msg);
	return NULL;
}

TEST_F(msg, error_with_extack_capped)
{
	struct nl_msg *e = error_msg(-EINVAL, self->msg, true, true);

	ASSERT_NE(NULL, e);
	ASSERT_EQ(0, nla_put_string(e, NLMSGERR_ATTR_MSG, "no limit given"));
	ASSERT_EQ(0, nla_put_u32(e, NLMSGERR_ATTR_OFFS, 20));
	EXPECT_EQ(-EINVAL, km_nlmsg_status(nlmsg_hdr(e), &self->err));
	EXPECT_EQ(EINVAL, self->err.errnum);
	EXPECT_EQ(KM_EXIT_FAIL, self->err.code);
	EXPECT_STREQ("no limit given", self->err.detail);
	nlmsg_free(e);
}

TEST_F(msg, error_with_extack_after_request)
{
	struct nl_msg *e;

	ASSERT_EQ(0, put_info(self->msg, "echoed request"));
	e = error_msg(-EPERM, self->msg, false, true);
	ASSERT_NE(NULL, e);
	ASSERT_EQ(0, nla_put_string(e, NLMSGERR_ATTR_MSG, "admin only"));
	EXPECT_EQ(-EPERM, km_nlmsg_status(nlmsg_hdr(e), &self->err));
	EXPECT_EQ(KM_EXIT_PERM, self->err.code);
	EXPECT_STREQ("admin only", self->err.detail);
	nlmsg_free(e);
}

TEST_F(msg, error_without_extack)
{
	struct nl_msg *e = error_msg(-EOPNOTSUPP, self->msg, false, false);

	ASSERT_NE(NULL, e);
	EXPECT_EQ(-EOPNOTSUPP, km_nlmsg_status(nlmsg_hdr(e), &self->err));
	EXPECT_EQ(EOPNOTSUPP, self->err.errnum);
	EXPECT_STREQ("", self->err.detail);
	nlmsg_free(e);
}

TEST_F(msg, error_missing_attribute_type)
{
	struct nl_msg *e = error_msg(-EINVAL, self->msg, true, true);

	ASSERT_NE(NULL, e);
	ASSERT_EQ(0, nla_put_u32(e, NLMSGERR_ATTR_MISS_TYPE, KMIGRATE_A_MAX_SESSIONS));
	EXPECT_EQ(-EINVAL, km_nlmsg_status(nlmsg_hdr(e), &self->err));
	EXPECT_STREQ("attribute 6 is missing", self->err.detail);
	nlmsg_free(e);
}

TEST_F(msg, error_extack_unprintable)
{
	struct nl_msg *e = error_msg(-EINVAL, self->msg, true, true);

	ASSERT_NE(NULL, e);
	ASSERT_EQ(0, nla_put_string(e, NLMSGERR_ATTR_MSG, "bad\n\033value"));
	EXPECT_EQ(-EINVAL, km_nlmsg_status(nlmsg_hdr(e), &self->err));
	EXPECT_STREQ("bad??value", self->err.detail);
	nlmsg_free(e);
}

TEST_F(msg, ack_is_success)
{
	struct nl_msg *e = error_msg(0, self->msg, true, false);

	ASSERT_NE(NULL, e);
	EXPECT_EQ(0, km_nlmsg_status(nlmsg_hdr(e), &self->err));
	EXPECT_EQ(KM_EXIT_OK, self->err.code);
	nlmsg_free(e);
}

TEST_F(msg, error_truncated)
{
	struct nl_msg *e = nlmsg_alloc_simple(NLMSG_ERROR, 0);
	int error = -EINVAL;

	ASSERT_NE(NULL, e);
	ASSERT_EQ(0, nlmsg_append(e, &error, sizeof(error), NLMSG_ALIGNTO));
	EXPECT_EQ(-EBADMSG, km_nlmsg_status(nlmsg_hdr(e), &self->err));
	EXPECT_TRUE(km_contains(self->err.detail, "truncated"));
	nlmsg_free(e);
}

/* NLMSG_DONE of a dump: its payload is the dump's status. */
static struct nl_msg *done_msg(int status, int flags)
{
	struct nl_msg *msg = nlmsg_alloc_simple(NLMSG_DONE, NLM_F_MULTI | flags);

	if (msg && nlmsg_append(msg, &status, sizeof(status), NLMSG_ALIGNTO)) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

TEST_F(msg, done_success)
{
	struct nl_msg *d = done_msg(0, 0);

	ASSERT_NE(NULL, d);
	EXPECT_EQ(0, km_nlmsg_status(nlmsg_hdr(d), &self->err));
	nlmsg_free(d);
}

TEST_F(msg, done_with_error_and_extack)
{
	struct nl_msg *d = done_msg(-ENOBUFS, NLM_F_ACK_TLVS);

	ASSERT_NE(NULL, d);
	ASSERT_EQ(0, nla_put_string(d, NLMSGERR_ATTR_MSG, "dump failed"));
	EXPECT_EQ(-ENOBUFS, km_nlmsg_status(nlmsg_hdr(d), &self->err));
	EXPECT_EQ(ENOBUFS, self->err.errnum);
	EXPECT_STREQ("dump failed", self->err.detail);
	nlmsg_free(d);
}

TEST_F(msg, done_without_payload)
{
	struct nl_msg *d = nlmsg_alloc_simple(NLMSG_DONE, NLM_F_MULTI);

	ASSERT_NE(NULL, d);
	EXPECT_EQ(0, km_nlmsg_status(nlmsg_hdr(d), &self->err));
	nlmsg_free(d);
}

TEST_F(msg, other_message_is_no_status)
{
	ASSERT_EQ(0, put_info(self->msg, "1"));
	EXPECT_EQ(0, km_nlmsg_status(nlmsg_hdr(self->msg), &self->err));
}

TEST_HARNESS_MAIN
