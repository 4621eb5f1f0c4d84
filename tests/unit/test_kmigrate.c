// SPDX-License-Identifier: GPL-2.0
/*
 * The kmigrate binary ($KMIGRATE_BIN, set by `make unit`): help, usage
 * errors and exit statuses, and what it says when kmigrate.ko is absent
 * (checked only where the family really does not resolve).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json.h>
#include <linux/kmigrate.h>

#include "genl.h"
#include "kselftest_harness.h"
#include "unit.h"

FIXTURE(kmigrate) {
	char *bin;
	struct km_output o;
};

FIXTURE_SETUP(kmigrate)
{
	self->bin = getenv("KMIGRATE_BIN");
	if (!self->bin || !*self->bin)
		SKIP(return, "KMIGRATE_BIN not set (make unit sets it)");
	ASSERT_EQ(0, access(self->bin, X_OK)) TH_LOG("%s: %s", self->bin, strerror(errno));
}

FIXTURE_TEARDOWN(kmigrate)
{
	km_output_free(&self->o);
}

/* Runs kmigrate ARGS...; returns its exit status, output in self->o. */
#define KMIGRATE(...) ({						\
	char *__argv[] = { self->bin, ##__VA_ARGS__, NULL };		\
	km_output_free(&self->o);					\
	ASSERT_EQ(0, km_run(__argv, NULL, &self->o));			\
	self->o.status;							\
})

/* Whether kmigrate.ko answers here: 1 yes, 0 no, -1 cannot tell. */
static int module_present(void)
{
	struct km_genl g;
	int ret = km_genl_open(&g);

	km_genl_close(&g);
	if (!ret)
		return 1;
	return g.err.code == KM_EXIT_NO_MODULE ? 0 : -1;
}

#define SKIP_UNLESS_MODULE_ABSENT() do {				\
	int __p = module_present();					\
	if (__p)							\
		SKIP(return, "%s", __p > 0 ? "kmigrate.ko is loaded here" \
				: "no generic netlink here");		\
} while (0)

TEST_F(kmigrate, help)
{
	EXPECT_EQ(0, KMIGRATE("--help"));
	EXPECT_TRUE(km_contains(self->o.out, "Usage: kmigrate [OPTIONS] COMMAND [ARGS]"));
	EXPECT_TRUE(km_contains(self->o.out, "\n  version "));
	EXPECT_TRUE(km_contains(self->o.out, "\n  status "));
	EXPECT_TRUE(km_contains(self->o.out, "\n  limits "));
	EXPECT_TRUE(km_contains(self->o.out, "\n  help "));
	EXPECT_STREQ("", self->o.err);

	EXPECT_EQ(0, KMIGRATE("help"));
	EXPECT_TRUE(km_contains(self->o.out, "Usage: kmigrate [OPTIONS] COMMAND [ARGS]"));
}

TEST_F(kmigrate, every_command_has_help)
{
	static const char *const cmds[] = { "version", "status", "limits" };
	char usage[64];
	size_t i;

	for (i = 0; i < KM_ARRAY_SIZE(cmds); i++) {
		snprintf(usage, sizeof(usage), "Usage: kmigrate %s ", cmds[i]);
		EXPECT_EQ(0, KMIGRATE((char *)cmds[i], "--help")) TH_LOG("%s", cmds[i]);
		EXPECT_TRUE(km_contains(self->o.out, usage)) TH_LOG("%s", self->o.out);
		EXPECT_TRUE(km_contains(self->o.out, "--json"));
		EXPECT_EQ(0, KMIGRATE("help", (char *)cmds[i]));
		EXPECT_TRUE(km_contains(self->o.out, usage));
		EXPECT_EQ(0, KMIGRATE((char *)cmds[i], "-h"));
		EXPECT_TRUE(km_contains(self->o.out, usage));
	}
	EXPECT_EQ(0, KMIGRATE("limits", "--help"));
	EXPECT_TRUE(km_contains(self->o.out, "--max-sessions N"));
	EXPECT_TRUE(km_contains(self->o.out, "--bandwidth RATE"));
	EXPECT_TRUE(km_contains(self->o.out, "--reset"));
}

TEST_F(kmigrate, version_option)
{
	EXPECT_EQ(0, KMIGRATE("-V"));
	EXPECT_EQ(0, strncmp(self->o.out, "kmigrate ", 9)) TH_LOG("%s", self->o.out);
	EXPECT_EQ('\n', self->o.out[strlen(self->o.out) - 1]);
}

TEST_F(kmigrate, no_command)
{
	EXPECT_EQ(2, KMIGRATE());
	EXPECT_STREQ("", self->o.out);
	EXPECT_TRUE(km_contains(self->o.err, "Usage: kmigrate"));
}

TEST_F(kmigrate, unknown_command)
{
	EXPECT_EQ(2, KMIGRATE("nosuchcmd"));
	EXPECT_STREQ("", self->o.out);
	EXPECT_STREQ("kmigrate: unknown command 'nosuchcmd'\n"
		     "Try 'kmigrate help' for more information.\n", self->o.err);
}

TEST_F(kmigrate, usage_errors)
{
	EXPECT_EQ(2, KMIGRATE("--nosuchoption", "status"));
	EXPECT_TRUE(km_contains(self->o.err, "'--nosuchoption'"));
	/* status NAME: a VM's migration; one NAME at most */
	EXPECT_EQ(2, KMIGRATE("status", "vm1", "extra"));
	EXPECT_TRUE(km_contains(self->o.err, "kmigrate status: unexpected argument 'extra'"));
	EXPECT_TRUE(km_contains(self->o.err, "Try 'kmigrate status --help'"));
	EXPECT_EQ(2, KMIGRATE("status", "bad/name"));
	EXPECT_TRUE(km_contains(self->o.err, "invalid NAME 'bad/name'"));
	EXPECT_EQ(2, KMIGRATE("version", "-x"));
	EXPECT_TRUE(km_contains(self->o.err, "kmigrate version: unknown option '-x'"));
	EXPECT_EQ(2, KMIGRATE("limits", "--bandwidth"));
	EXPECT_TRUE(km_contains(self->o.err, "option '--bandwidth' requires an argument"));
	EXPECT_EQ(2, KMIGRATE("help", "nosuchcmd"));
	EXPECT_STREQ("", self->o.out);
}

/* Bad limits are refused before the module is asked. */
TEST_F(kmigrate, limits_bad_values)
{
	EXPECT_EQ(2, KMIGRATE("limits", "--bandwidth", "12parsecs"));
	EXPECT_TRUE(km_contains(self->o.err, "kmigrate limits: invalid --bandwidth: unknown unit 'parsecs'"))
		TH_LOG("%s", self->o.err);
	EXPECT_EQ(2, KMIGRATE("limits", "--bandwidth=-5M"));
	EXPECT_TRUE(km_contains(self->o.err, "negative rate '-5M'"));
	EXPECT_EQ(2, KMIGRATE("limits", "-b", "99999999999999999999"));
	EXPECT_TRUE(km_contains(self->o.err, "too large"));
	EXPECT_EQ(2, KMIGRATE("limits", "--max-sessions", "0"));
	EXPECT_TRUE(km_contains(self->o.err, "invalid --max-sessions: 0 is out of range (1 to 256)"));
	EXPECT_EQ(2, KMIGRATE("limits", "-m", "257"));
	EXPECT_EQ(2, KMIGRATE("limits", "-m", "many"));
	EXPECT_TRUE(km_contains(self->o.err, "'many' is not a number"));
	EXPECT_STREQ("", self->o.out);
}

/* --converge, --throttle-floor and set --downtime-limit: refused before
 * any VM is asked (the VM names here do not exist). */
TEST_F(kmigrate, throttle_usage_errors)
{
	EXPECT_EQ(2, KMIGRATE("start", "vm1", "--to", "127.0.0.1:1", "--converge", "maybe"));
	EXPECT_TRUE(km_contains(self->o.err, "invalid --converge 'maybe': expected throttle or fail"));
	EXPECT_EQ(2, KMIGRATE("start", "vm1", "--to", "127.0.0.1:1", "--throttle-floor", "0"));
	EXPECT_TRUE(km_contains(self->o.err, "invalid --throttle-floor: 0 is out of range (1 to 100)"));
	EXPECT_EQ(2, KMIGRATE("start", "vm1", "--to", "127.0.0.1:1", "--throttle-floor", "101"));
	EXPECT_EQ(2, KMIGRATE("start", "vm1", "--to", "127.0.0.1:1", "--throttle-floor", "half"));
	EXPECT_TRUE(km_contains(self->o.err, "'half' is not a number"));
	EXPECT_EQ(2, KMIGRATE("start", "vm1", "--to", "127.0.0.1:1", "--switchover-retries", "9"));
	EXPECT_TRUE(km_contains(self->o.err, "invalid --switchover-retries: 9 is out of range (0 to 8)"));
	EXPECT_EQ(2, KMIGRATE("start", "vm1", "--to", "127.0.0.1:1", "--switchover-retries", "x"));
	EXPECT_EQ(2, KMIGRATE("profile", "--plot-result", ""));
	EXPECT_TRUE(km_contains(self->o.err, "invalid --plot-result: expected a file name"));
	EXPECT_EQ(1, KMIGRATE("profile", "--plot-result", "/nonexistent/result.json"));
	EXPECT_TRUE(km_contains(self->o.err, "--plot-result /nonexistent/result.json: not a JSON object"));
	EXPECT_EQ(2, KMIGRATE("set", "vm1"));
	EXPECT_TRUE(km_contains(self->o.err, "--bandwidth RATE or --downtime-limit MS is required"));
	EXPECT_EQ(2, KMIGRATE("set", "vm1", "--downtime-limit", "0"));
	EXPECT_TRUE(km_contains(self->o.err, "invalid --downtime-limit: 0 is out of range"));
	EXPECT_EQ(2, KMIGRATE("set", "vm1", "-d", "3600001"));
	EXPECT_EQ(2, KMIGRATE("set", "vm1", "--downtime-limit", "soon"));
	EXPECT_EQ(2, KMIGRATE("set", "--session", "1", "--downtime-limit", "50"));
	EXPECT_TRUE(km_contains(self->o.err, "--downtime-limit needs a VM NAME, not --session"));
	EXPECT_STREQ("", self->o.out);
}

TEST_F(kmigrate, version_without_module)
{
	SKIP_UNLESS_MODULE_ABSENT();
	EXPECT_EQ(3, KMIGRATE("version"));
	EXPECT_TRUE(km_contains(self->o.out, "tool version:"));
	EXPECT_TRUE(km_contains(self->o.out, "tool ABI version:     1\n"));
	EXPECT_FALSE(km_contains(self->o.out, "module version:"));
	EXPECT_STREQ("kmigrate: kernel module not loaded (generic netlink family 'kmigrate'"
		     " not found); load it with 'modprobe kmigrate'\n", self->o.err);
}

TEST_F(kmigrate, version_json_without_module)
{
	struct json_object *obj, *v;
	char version[128];

	SKIP_UNLESS_MODULE_ABSENT();
	ASSERT_EQ(0, KMIGRATE("-V"));
	snprintf(version, sizeof(version), "%s", self->o.out + strlen("kmigrate "));
	version[strcspn(version, "\n")] = '\0';

	EXPECT_EQ(3, KMIGRATE("-j", "version"));
	EXPECT_TRUE(km_contains(self->o.err, "kernel module not loaded"));
	obj = json_tokener_parse(self->o.out);
	ASSERT_NE(NULL, obj) TH_LOG("not JSON: %s", self->o.out);
	EXPECT_TRUE(json_object_object_get_ex(obj, "tool_version", &v));
	EXPECT_STREQ(version, json_object_get_string(v));
	EXPECT_TRUE(json_object_object_get_ex(obj, "abi_version", &v));
	EXPECT_EQ(KMIGRATE_ABI_VERSION, json_object_get_int(v));
	EXPECT_TRUE(json_object_object_get_ex(obj, "module_loaded", &v));
	EXPECT_TRUE(json_object_is_type(v, json_type_boolean));
	EXPECT_FALSE(json_object_get_boolean(v));
	EXPECT_TRUE(json_object_object_get_ex(obj, "module_version", &v));
	EXPECT_EQ(NULL, v);
	json_object_put(obj);
}

TEST_F(kmigrate, commands_without_module)
{
	SKIP_UNLESS_MODULE_ABSENT();
	EXPECT_EQ(3, KMIGRATE("status"));
	EXPECT_STREQ("", self->o.out);
	EXPECT_TRUE(km_contains(self->o.err, "modprobe kmigrate"));
	EXPECT_EQ(3, KMIGRATE("-j", "status"));
	EXPECT_STREQ("", self->o.out);
	EXPECT_EQ(3, KMIGRATE("limits"));
	EXPECT_EQ(3, KMIGRATE("limits", "--reset", "-b", "10gbit"));
	EXPECT_TRUE(km_contains(self->o.err, "kernel module not loaded"));
}

TEST_F(kmigrate, write_error_fails)
{
	char *argv[] = { self->bin, "--help", NULL };

	ASSERT_EQ(0, km_run(argv, "/dev/full", &self->o));
	EXPECT_EQ(1, self->o.status);
	EXPECT_STREQ("kmigrate: writing output: No space left on device\n", self->o.err);
}

TEST_HARNESS_MAIN
