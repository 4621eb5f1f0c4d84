// SPDX-License-Identifier: GPL-2.0
/*
 * The kmigrate genl commands as the tool sends them (tools/lib/ops.c over
 * genl.c), against the fake module of fake.c: request format, replies in
 * several datagrams, interrupted dumps, kernel errors, malformed replies.
 */
#include <errno.h>
#include <string.h>

#include "fake.h"
#include "kselftest_harness.h"
#include "ops.h"
#include "unit.h"

FIXTURE(ops) {
	struct km_genl g;
	struct fake fake;
	struct km_info info;
	struct km_sessions list;
};

FIXTURE_SETUP(ops)
{
}

FIXTURE_TEARDOWN(ops)
{
	km_genl_close(&self->g);
	fake_stop(&self->fake);
	km_sessions_free(&self->list);
}

/* Starts the fake module configured by the initialisers given. */
#define FAKE(...) do {							\
	const struct fake_module __m = { __VA_ARGS__ };			\
	int __ret = fake_start(&self->fake, &__m, &self->g);		\
									\
	if (__ret == -EPERM)						\
		SKIP(return, "netlink between user sockets needs CAP_NET_ADMIN"); \
	ASSERT_EQ(0, __ret);						\
} while (0)

TEST_F(ops, get_info)
{
	FAKE(.max_sessions = 12, .default_bandwidth = 1000000, .nsessions = 2);
	ASSERT_EQ(0, km_get_info(&self->g, KM_INFO_ALL, &self->info))
		TH_LOG("%s", self->g.err.detail);
	EXPECT_STREQ("0.1.0-fake", self->info.module_version);
	EXPECT_EQ(KMIGRATE_ABI_VERSION, self->info.abi_version);
	EXPECT_EQ(12, self->info.max_sessions);
	EXPECT_EQ(2, self->info.session_count);
	EXPECT_EQ(1000000, self->info.default_bandwidth);
	EXPECT_TRUE(km_check_versions(&self->info));
	/* The socket is ready for the next request. */
	ASSERT_EQ(0, km_get_info(&self->g, KM_INFO_ALL, &self->info))
		TH_LOG("%s", self->g.err.detail);
}

TEST_F(ops, get_info_without_reply)
{
	FAKE(.info_no_reply = true);
	EXPECT_EQ(-EBADMSG, km_get_info(&self->g, KM_INFO_ALL, &self->info));
	EXPECT_STREQ("the module sent no info reply", self->g.err.detail);
}

TEST_F(ops, get_info_malformed)
{
	FAKE(.info_malformed = true);
	EXPECT_EQ(-EBADMSG, km_get_info(&self->g, KM_INFO_VERSIONS, &self->info));
	EXPECT_EQ(KM_EXIT_FAIL, self->g.err.code);
	EXPECT_TRUE(km_contains(self->g.err.detail, "ABI version (attribute 2)"))
		TH_LOG("%s", self->g.err.detail);
}

TEST_F(ops, get_info_other_abi)
{
	FAKE(.abi_version = KMIGRATE_ABI_VERSION + 1);
	ASSERT_EQ(0, km_get_info(&self->g, KM_INFO_ALL, &self->info));
	EXPECT_FALSE(km_check_versions(&self->info));
}

TEST_F(ops, get_sessions)
{
	size_t i;

	FAKE(.nsessions = 5);	/* three datagrams */
	ASSERT_EQ(0, km_get_sessions(&self->g, &self->list)) TH_LOG("%s", self->g.err.detail);
	ASSERT_EQ(5, self->list.n);
	for (i = 0; i < 5; i++) {
		EXPECT_EQ(i + 1, self->list.v[i].id);
		EXPECT_EQ(1001 + i, self->list.v[i].owner_pid);
		EXPECT_EQ((i + 1) * 1000000, self->list.v[i].bandwidth);
	}
	/* And again on the same socket. */
	km_sessions_free(&self->list);
	ASSERT_EQ(0, km_get_sessions(&self->g, &self->list)) TH_LOG("%s", self->g.err.detail);
	EXPECT_EQ(5, self->list.n);
}

TEST_F(ops, get_sessions_empty)
{
	FAKE(.nsessions = 0);
	ASSERT_EQ(0, km_get_sessions(&self->g, &self->list));
	EXPECT_EQ(0, self->list.n);
}

TEST_F(ops, get_sessions_redone_when_interrupted)
{
	FAKE(.nsessions = 3, .dump_interrupts = 2);
	ASSERT_EQ(0, km_get_sessions(&self->g, &self->list)) TH_LOG("%s", self->g.err.detail);
	EXPECT_EQ(3, self->list.n);	/* the last dump only */
}

TEST_F(ops, get_sessions_gives_up)
{
	FAKE(.nsessions = 3, .dump_interrupts = 3);
	EXPECT_EQ(-EAGAIN, km_get_sessions(&self->g, &self->list));
	EXPECT_TRUE(km_contains(self->g.err.detail, "changed while it was read"));
}

TEST_F(ops, get_sessions_dump_error)
{
	FAKE(.nsessions = 1, .dump_error = -ENOMEM);
	EXPECT_EQ(-ENOMEM, km_get_sessions(&self->g, &self->list));
	EXPECT_EQ(ENOMEM, self->g.err.errnum);
}

TEST_F(ops, get_sessions_not_permitted)
{
	FAKE(.nsessions = 2, .session_error = -EPERM);
	EXPECT_EQ(-EPERM, km_get_sessions(&self->g, &self->list));
	EXPECT_EQ(KM_EXIT_PERM, self->g.err.code);
	EXPECT_EQ(0, (int)self->list.n);
	EXPECT_STREQ("the session list needs CAP_NET_ADMIN", self->g.err.detail);
}

TEST_F(ops, get_sessions_malformed)
{
	FAKE(.nsessions = 1, .session_malformed = true);
	EXPECT_EQ(-EBADMSG, km_get_sessions(&self->g, &self->list));
	EXPECT_TRUE(km_contains(self->g.err.detail, "session (attribute 9)"));
}

TEST_F(ops, set_config)
{
	struct km_config cfg = {
		.have = KM_BIT(KMIGRATE_A_MAX_SESSIONS) | KM_BIT(KMIGRATE_A_DEFAULT_BANDWIDTH),
		.max_sessions = 4,
		.default_bandwidth = 1250000000,
	};

	FAKE(.max_sessions = 10);
	ASSERT_EQ(0, km_set_config(&self->g, &cfg)) TH_LOG("%s", self->g.err.detail);
	ASSERT_EQ(0, km_get_info(&self->g, KM_INFO_ALL, &self->info));
	EXPECT_EQ(4, self->info.max_sessions);
	EXPECT_EQ(1250000000, self->info.default_bandwidth);

	/* Reset alone restores both. */
	cfg = (struct km_config){ .have = KM_BIT(KMIGRATE_A_FLAGS),
				  .flags = KMIGRATE_CONFIG_F_RESET };
	ASSERT_EQ(0, km_set_config(&self->g, &cfg)) TH_LOG("%s", self->g.err.detail);
	ASSERT_EQ(0, km_get_info(&self->g, KM_INFO_ALL, &self->info));
	EXPECT_EQ(KMIGRATE_MAX_SESSIONS_DEFAULT, self->info.max_sessions);
	EXPECT_EQ(0, self->info.default_bandwidth);
}

TEST_F(ops, set_config_refused_with_reason)
{
	const struct km_config none = { 0 };
	const struct km_config flags = { .have = KM_BIT(KMIGRATE_A_FLAGS), .flags = 0x80 };

	FAKE();
	EXPECT_EQ(-EINVAL, km_set_config(&self->g, &none));
	EXPECT_STREQ("no limit given and no KMIGRATE_CONFIG_F_RESET", self->g.err.detail);
	EXPECT_EQ(KM_EXIT_FAIL, self->g.err.code);
	EXPECT_EQ(-EOPNOTSUPP, km_set_config(&self->g, &flags));
	EXPECT_STREQ("unknown flag bits", self->g.err.detail);
}

TEST_F(ops, set_config_not_permitted)
{
	const struct km_config cfg = {
		.have = KM_BIT(KMIGRATE_A_FLAGS), .flags = KMIGRATE_CONFIG_F_RESET,
	};

	FAKE(.set_error = -EPERM);
	EXPECT_EQ(-EPERM, km_set_config(&self->g, &cfg));
	EXPECT_EQ(KM_EXIT_PERM, self->g.err.code);
	EXPECT_STREQ("changing limits needs CAP_NET_ADMIN", self->g.err.detail);
}

TEST_HARNESS_MAIN
