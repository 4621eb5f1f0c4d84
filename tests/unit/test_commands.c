// SPDX-License-Identifier: GPL-2.0
/*
 * The commands themselves (tools/kmigrate/{version,status,limits}.c), run
 * in-process through km_main() against the fake module of fake.c: their
 * text and JSON output, error messages and exit statuses.  This program is
 * linked with -Wl,--wrap=km_genl_open, so that opening "the module" gives
 * the socket the test pointed at its fake.
 */
#include <errno.h>
#include <string.h>

#include <json.h>

#include "cli.h"
#include "cmds.h"
#include "fake.h"
#include "kselftest_harness.h"
#include "unit.h"

static const struct km_cmd test_cmds[] = {
	{ "version", version_main, "show tool, module and ABI versions" },
	{ "status", status_main, "show the module and its migration sessions" },
	{ "limits", limits_main, "show or set host-wide migration limits" },
};

static const struct km_prog test_prog = {
	.version = "1.2.3-test",
	.cmds = test_cmds,
	.ncmds = KM_ARRAY_SIZE(test_cmds),
};

/* What the next km_genl_open() of a command gets; sk NULL: no module. */
static struct km_genl next_open;

int __wrap_km_genl_open(struct km_genl *g);
int __wrap_km_genl_open(struct km_genl *g)
{
	*g = next_open;
	next_open.sk = NULL;	/* the command closes it */
	if (!g->sk)
		return km_error_no_module(&g->err);
	return 0;
}

struct main_call {
	int argc;
	char **argv;
};

static int call_main(void *arg)
{
	struct main_call *c = arg;

	return km_main(&test_prog, c->argc, c->argv);
}

FIXTURE(commands) {
	struct fake fake;
	struct km_output o;
	struct json_object *json;
};

FIXTURE_SETUP(commands)
{
	memset(&next_open, 0, sizeof(next_open));
}

FIXTURE_TEARDOWN(commands)
{
	km_genl_close(&next_open);
	fake_stop(&self->fake);
	km_output_free(&self->o);
	json_object_put(self->json);
}

/* Starts the fake module configured by the initialisers given. */
#define FAKE(...) do {							\
	const struct fake_module __m = { __VA_ARGS__ };			\
	int __ret = fake_start(&self->fake, &__m, &next_open);		\
									\
	if (__ret == -EPERM)						\
		SKIP(return, "netlink between user sockets needs CAP_NET_ADMIN"); \
	ASSERT_EQ(0, __ret);						\
} while (0)

/* Runs "kmigrate ARGS..." in-process; returns its exit status. */
#define KMIGRATE(...) ({						\
	char *__argv[] = { "kmigrate", __VA_ARGS__, NULL };		\
	struct main_call __c = { KM_ARRAY_SIZE(__argv) - 1, __argv };	\
	km_output_free(&self->o);					\
	ASSERT_EQ(0, km_capture(call_main, &__c, &self->o));		\
	self->o.status;							\
})

/* Parses stdout as JSON into self->json. */
#define JSON_OUT() do {							\
	self->json = json_tokener_parse(self->o.out);			\
	ASSERT_NE(NULL, self->json) TH_LOG("not JSON: %s", self->o.out); \
} while (0)

static struct json_object *get(struct json_object *obj, const char *key)
{
	struct json_object *v = NULL;

	json_object_object_get_ex(obj, key, &v);
	return v;
}

TEST_F(commands, version)
{
	FAKE();
	EXPECT_EQ(0, KMIGRATE("version"));
	EXPECT_TRUE(km_contains(self->o.out,
				"module version:       0.1.0-fake\n"
				"module ABI version:   1\n"
				"genl family version:  1\n")) TH_LOG("%s", self->o.out);
	EXPECT_STREQ("", self->o.err);
}

TEST_F(commands, version_json)
{
	FAKE();
	EXPECT_EQ(0, KMIGRATE("-j", "version"));
	JSON_OUT();
	EXPECT_TRUE(json_object_get_boolean(get(self->json, "module_loaded")));
	EXPECT_STREQ("0.1.0-fake", json_object_get_string(get(self->json, "module_version")));
	EXPECT_EQ(1, json_object_get_int(get(self->json, "module_abi_version")));
	EXPECT_STREQ("", self->o.err);
}

TEST_F(commands, version_abi_mismatch_warns)
{
	FAKE(.abi_version = 7);
	EXPECT_EQ(0, KMIGRATE("version"));
	EXPECT_TRUE(km_contains(self->o.out, "module ABI version:   7\n"));
	EXPECT_TRUE(km_contains(self->o.err, "kmigrate: warning: ABI mismatch: this tool was"
				" built for ABI 1, the module speaks ABI 7")) TH_LOG("%s", self->o.err);
}

TEST_F(commands, version_malformed_reply)
{
	FAKE(.info_malformed = true);
	EXPECT_EQ(1, KMIGRATE("version"));
	EXPECT_TRUE(km_contains(self->o.out, "tool version:         1.2.3-test\n"));
	EXPECT_FALSE(km_contains(self->o.out, "module version"));
	EXPECT_STREQ("kmigrate: reading module info: Bad message: ABI version (attribute 2)"
		     " in the module info reply is 2 bytes long, not 4\n", self->o.err);
}

TEST_F(commands, status)
{
	FAKE(.nsessions = 3, .max_sessions = 8, .default_bandwidth = 125000000);
	EXPECT_EQ(0, KMIGRATE("status"));
	EXPECT_STREQ("module version:       0.1.0-fake (ABI 1, genl 1)\n"
		     "features:             none\n"
		     "sessions:             3 of 8 allowed\n"
		     "default bandwidth:    125 MB/s\n"
		     "\n"
		     "        ID        PID  STATE      BANDWIDTH\n"
		     "         1       1001  attached   1 MB/s\n"
		     "         2       1002  running    2 MB/s\n"
		     "         3       1003  done       3 MB/s\n", self->o.out);
	EXPECT_STREQ("", self->o.err);
}

TEST_F(commands, status_json)
{
	struct json_object *sessions;

	FAKE(.nsessions = 6);
	EXPECT_EQ(0, KMIGRATE("status", "--json"));
	JSON_OUT();
	EXPECT_EQ(6, json_object_get_int(get(self->json, "session_count")));
	sessions = get(self->json, "sessions");
	ASSERT_TRUE(json_object_is_type(sessions, json_type_array));
	ASSERT_EQ(6, json_object_array_length(sessions));
	EXPECT_EQ(1, json_object_get_int(get(json_object_array_get_idx(sessions, 0), "id")));
	/* id 6: state 0 (idle); id 5: state 5, unknown to this tool */
	EXPECT_STREQ("idle", json_object_get_string(
			get(json_object_array_get_idx(sessions, 5), "state")));
	EXPECT_STREQ("unknown", json_object_get_string(
			get(json_object_array_get_idx(sessions, 4), "state")));
	EXPECT_EQ(5, json_object_get_int(
			get(json_object_array_get_idx(sessions, 4), "state_code")));
}

TEST_F(commands, status_dump_error)
{
	FAKE(.nsessions = 2, .dump_error = -ENOMEM);
	EXPECT_EQ(1, KMIGRATE("status"));
	EXPECT_STREQ("", self->o.out);
	EXPECT_STREQ("kmigrate: listing sessions: Cannot allocate memory\n", self->o.err);
}

/* The module lists sessions to CAP_NET_ADMIN only (GENL_ADMIN_PERM). */
TEST_F(commands, status_not_permitted)
{
	FAKE(.nsessions = 2, .session_error = -EPERM);
	EXPECT_EQ(4, KMIGRATE("status"));
	EXPECT_STREQ("", self->o.out);
	EXPECT_STREQ("kmigrate: listing sessions: Operation not permitted:"
		     " the session list needs CAP_NET_ADMIN\n", self->o.err);
}

TEST_F(commands, status_json_not_permitted)
{
	FAKE(.nsessions = 2, .session_error = -EPERM);
	EXPECT_EQ(4, KMIGRATE("-j", "status"));
	EXPECT_STREQ("", self->o.out);
	EXPECT_TRUE(km_contains(self->o.err, "needs CAP_NET_ADMIN")) TH_LOG("%s", self->o.err);
}

TEST_F(commands, status_without_module)
{
	EXPECT_EQ(3, KMIGRATE("status"));
	EXPECT_STREQ("", self->o.out);
	EXPECT_TRUE(km_contains(self->o.err, "kernel module not loaded"));
}

TEST_F(commands, limits_show)
{
	FAKE(.nsessions = 1, .max_sessions = 4, .default_bandwidth = 0);
	EXPECT_EQ(0, KMIGRATE("limits"));
	EXPECT_STREQ("max sessions:         4 (1 in use)\n"
		     "default bandwidth:    unlimited\n", self->o.out);
	EXPECT_STREQ("", self->o.err);
}

TEST_F(commands, limits_set_then_shown)
{
	FAKE();
	EXPECT_EQ(0, KMIGRATE("limits", "--max-sessions", "4", "--bandwidth", "10gbit"));
	EXPECT_STREQ("max sessions:         4 (0 in use)\n"
		     "default bandwidth:    1.25 GB/s\n", self->o.out);
	EXPECT_STREQ("", self->o.err) TH_LOG("%s", self->o.err);
}

TEST_F(commands, limits_reset_json)
{
	FAKE(.max_sessions = 3, .default_bandwidth = 5);
	EXPECT_EQ(0, KMIGRATE("-j", "limits", "--reset"));
	EXPECT_STREQ("{\"max_sessions\":16,\"session_count\":0,\"default_bandwidth\":0}\n",
		     self->o.out);
}

TEST_F(commands, limits_reset_keeps_given)
{
	FAKE(.max_sessions = 3, .default_bandwidth = 5);
	EXPECT_EQ(0, KMIGRATE("limits", "-r", "-b", "2MiB/s"));
	EXPECT_STREQ("max sessions:         16 (0 in use)\n"
		     "default bandwidth:    2 MiB/s\n", self->o.out);
}

TEST_F(commands, limits_not_permitted)
{
	FAKE(.set_error = -EPERM);
	EXPECT_EQ(4, KMIGRATE("limits", "-m", "4"));
	EXPECT_STREQ("", self->o.out);
	EXPECT_STREQ("kmigrate: setting limits: Operation not permitted:"
		     " changing limits needs CAP_NET_ADMIN\n", self->o.err);
}

TEST_F(commands, limits_refused_for_other_abi)
{
	FAKE(.abi_version = 2);
	EXPECT_EQ(1, KMIGRATE("limits", "-m", "4"));
	EXPECT_STREQ("", self->o.out);
	EXPECT_TRUE(km_contains(self->o.err, "warning: ABI mismatch"));
	EXPECT_TRUE(km_contains(self->o.err,
				"kmigrate: setting limits: refused, the module's ABI differs"));
}

TEST_F(commands, limits_bad_option_asks_nothing)
{
	/* No fake: a usage error must not even open the socket. */
	EXPECT_EQ(2, KMIGRATE("limits", "-b", "fast"));
	EXPECT_TRUE(km_contains(self->o.err, "invalid --bandwidth: 'fast' is not a number"));
}

TEST_HARNESS_MAIN
