// SPDX-License-Identifier: GPL-2.0
/*
 * Command table, global and per-command options, usage errors, exit codes
 * and error messages (tools/lib/cli.c, error.c), with a table of test
 * commands run in-process.
 */
#include <errno.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "kselftest_harness.h"
#include "unit.h"

/* What the test commands saw. */
static struct {
	int calls;
	int argc;
	char argv1[32];
	char name[32];
	int verbose;
} seen;

/* "alpha [ARGS...]": no options of its own; records its arguments. */
static int alpha_main(int argc, char **argv)
{
	seen.calls++;
	seen.argc = argc;
	snprintf(seen.argv1, sizeof(seen.argv1), "%s", argc > 1 ? argv[1] : "");
	return 0;
}

static const struct option beta_longopts[] = {
	{ "name", required_argument, NULL, 'n' },
	{ "verbose", no_argument, NULL, 'v' },
	{ NULL, 0, NULL, 0 },
};

static const struct km_usage beta_usage = {
	.args = "[--name NAME]",
	.options = "  -n, --name NAME        the name\n",
	.notes = "Beta notes.\n",
};

/* "beta [-n NAME] [-v]": options, no arguments; returns 7 on success. */
static int beta_main(int argc, char **argv)
{
	int c;

	while ((c = km_getopt(argc, argv, "n:v", beta_longopts, &beta_usage)) != KM_OPT_END) {
		switch (c) {
		case 'n':
			snprintf(seen.name, sizeof(seen.name), "%s", optarg);
			break;
		case 'v':
			seen.verbose++;
			break;
		default:
			return km_opt_exit(c);
		}
	}
	if (km_no_args(argc, argv))
		return KM_EXIT_USAGE;
	seen.calls++;
	return 7;
}

static const struct km_cmd test_cmds[] = {
	{ "alpha", alpha_main, "first test command" },
	{ "beta", beta_main, "second test command" },
};

static const struct km_prog test_prog = {
	.version = "9.8.7-test",
	.cmds = test_cmds,
	.ncmds = KM_ARRAY_SIZE(test_cmds),
};

struct main_call {
	int argc;
	char **argv;
};

static int call_main(void *arg)
{
	struct main_call *c = arg;

	return km_main(&test_prog, c->argc, c->argv);
}

/* Runs km_main(@argv...) capturing its output into @o. */
#define RUN_MAIN(o, ...) ({						\
	char *__argv[] = { "kmigrate", __VA_ARGS__, NULL };		\
	struct main_call __c = { KM_ARRAY_SIZE(__argv) - 1, __argv };	\
	memset(&seen, 0, sizeof(seen));					\
	ASSERT_EQ(0, km_capture(call_main, &__c, (o)));			\
	(o)->status;							\
})

KM_SUITE(cli);

TEST_F(cli, cmd_find_exact_names_only)
{
	EXPECT_EQ(&test_cmds[0], km_cmd_find(&test_prog, "alpha"));
	EXPECT_EQ(&test_cmds[1], km_cmd_find(&test_prog, "beta"));
	EXPECT_EQ(NULL, km_cmd_find(&test_prog, "alp"));
	EXPECT_EQ(NULL, km_cmd_find(&test_prog, "alphax"));
	EXPECT_EQ(NULL, km_cmd_find(&test_prog, "ALPHA"));
	EXPECT_EQ(NULL, km_cmd_find(&test_prog, ""));
}

TEST_F(cli, no_command_is_usage_error)
{
	struct km_output o;
	char *argv[] = { "kmigrate", NULL };
	struct main_call c = { 1, argv };

	ASSERT_EQ(0, km_capture(call_main, &c, &o));
	EXPECT_EQ(KM_EXIT_USAGE, o.status);
	EXPECT_STREQ("", o.out);
	EXPECT_TRUE(km_contains(o.err, "Usage: kmigrate [OPTIONS] COMMAND"));
	km_output_free(&o);
}

TEST_F(cli, help_lists_commands)
{
	struct km_output o;

	EXPECT_EQ(KM_EXIT_OK, RUN_MAIN(&o, "--help"));
	EXPECT_TRUE(km_contains(o.out, "  alpha      first test command\n")) TH_LOG("%s", o.out);
	EXPECT_TRUE(km_contains(o.out, "  beta       second test command\n"));
	EXPECT_TRUE(km_contains(o.out, "  help       "));
	EXPECT_TRUE(km_contains(o.out, "--json"));
	EXPECT_STREQ("", o.err);
	km_output_free(&o);

	EXPECT_EQ(KM_EXIT_OK, RUN_MAIN(&o, "help"));
	EXPECT_TRUE(km_contains(o.out, "  alpha      first test command\n"));
	km_output_free(&o);
	EXPECT_EQ(KM_EXIT_OK, RUN_MAIN(&o, "-h"));
	EXPECT_TRUE(km_contains(o.out, "Usage: kmigrate"));
	km_output_free(&o);
	EXPECT_EQ(0, seen.calls);
}

TEST_F(cli, version_option)
{
	struct km_output o;

	EXPECT_EQ(KM_EXIT_OK, RUN_MAIN(&o, "-V"));
	EXPECT_STREQ("kmigrate 9.8.7-test\n", o.out);
	km_output_free(&o);
	EXPECT_EQ(KM_EXIT_OK, RUN_MAIN(&o, "--version", "alpha"));
	EXPECT_STREQ("kmigrate 9.8.7-test\n", o.out);
	EXPECT_EQ(0, seen.calls);
	km_output_free(&o);
}

TEST_F(cli, unknown_command)
{
	struct km_output o;

	EXPECT_EQ(KM_EXIT_USAGE, RUN_MAIN(&o, "gamma", "x"));
	EXPECT_STREQ("", o.out);
	EXPECT_STREQ("kmigrate: unknown command 'gamma'\n"
		     "Try 'kmigrate help' for more information.\n", o.err);
	km_output_free(&o);

	EXPECT_EQ(KM_EXIT_USAGE, RUN_MAIN(&o, "help", "gamma"));
	EXPECT_TRUE(km_contains(o.err, "unknown command 'gamma'"));
	km_output_free(&o);
	EXPECT_EQ(KM_EXIT_USAGE, RUN_MAIN(&o, "help", "alpha", "beta"));
	EXPECT_TRUE(km_contains(o.err, "at most one command"));
	km_output_free(&o);
}

TEST_F(cli, unknown_global_option)
{
	struct km_output o;

	EXPECT_EQ(KM_EXIT_USAGE, RUN_MAIN(&o, "--bogus", "alpha"));
	EXPECT_STREQ("kmigrate: unknown or ambiguous option '--bogus'\n"
		     "Try 'kmigrate help' for more information.\n", o.err);
	km_output_free(&o);
	EXPECT_EQ(KM_EXIT_USAGE, RUN_MAIN(&o, "-q", "alpha"));
	EXPECT_TRUE(km_contains(o.err, "unknown option '-q'"));
	km_output_free(&o);
	EXPECT_EQ(0, seen.calls);
}

TEST_F(cli, dispatch_passes_arguments)
{
	struct km_output o;

	EXPECT_EQ(0, RUN_MAIN(&o, "alpha", "x", "y"));
	EXPECT_EQ(1, seen.calls);
	EXPECT_EQ(3, seen.argc);
	EXPECT_STREQ("x", seen.argv1);
	EXPECT_FALSE(km_opts.json);
	EXPECT_STREQ("alpha", km_opts.cmd->name);
	km_output_free(&o);

	/* Global options stop at the command: its "-j" is its own. */
	EXPECT_EQ(0, RUN_MAIN(&o, "-j", "alpha", "-j"));
	EXPECT_TRUE(km_opts.json);
	EXPECT_EQ(2, seen.argc);
	EXPECT_STREQ("-j", seen.argv1);
	km_output_free(&o);
}

TEST_F(cli, command_options)
{
	struct km_output o;

	EXPECT_EQ(7, RUN_MAIN(&o, "beta", "--name", "n1", "-v", "-v"));
	EXPECT_STREQ("n1", seen.name);
	EXPECT_EQ(2, seen.verbose);
	EXPECT_FALSE(km_opts.json);
	km_output_free(&o);

	EXPECT_EQ(7, RUN_MAIN(&o, "beta", "--name=n2", "-j"));
	EXPECT_STREQ("n2", seen.name);
	EXPECT_TRUE(km_opts.json);
	km_output_free(&o);

	EXPECT_EQ(7, RUN_MAIN(&o, "beta", "--json", "-nn3", "--verb"));
	EXPECT_STREQ("n3", seen.name);
	EXPECT_EQ(1, seen.verbose);
	EXPECT_TRUE(km_opts.json);
	km_output_free(&o);
}

TEST_F(cli, command_help)
{
	static const char expected[] =
		"Usage: kmigrate beta [OPTIONS] [--name NAME]\n\n"
		"Second test command.\n\n"
		"Options:\n"
		"  -n, --name NAME        the name\n"
		"  -j, --json             print JSON\n"
		"  -h, --help             show this help\n"
		"\nBeta notes.\n";
	struct km_output o;

	EXPECT_EQ(KM_EXIT_OK, RUN_MAIN(&o, "beta", "--help"));
	EXPECT_STREQ(expected, o.out);
	EXPECT_STREQ("", o.err);
	EXPECT_EQ(0, seen.calls);
	km_output_free(&o);

	EXPECT_EQ(KM_EXIT_OK, RUN_MAIN(&o, "help", "beta"));
	EXPECT_STREQ(expected, o.out);
	km_output_free(&o);

	/* --help wins over what follows it, even a bad option. */
	EXPECT_EQ(KM_EXIT_OK, RUN_MAIN(&o, "beta", "-h", "--bogus"));
	EXPECT_STREQ(expected, o.out);
	km_output_free(&o);
}

TEST_F(cli, command_usage_errors)
{
	static const char hint[] = "\nTry 'kmigrate beta --help' for more information.\n";
	struct km_output o;

	EXPECT_EQ(KM_EXIT_USAGE, RUN_MAIN(&o, "beta", "--name"));
	EXPECT_TRUE(km_contains(o.err, "kmigrate beta: option '--name' requires an argument"));
	EXPECT_TRUE(km_contains(o.err, hint));
	km_output_free(&o);

	EXPECT_EQ(KM_EXIT_USAGE, RUN_MAIN(&o, "beta", "-n"));
	EXPECT_TRUE(km_contains(o.err, "option '-n' requires an argument"));
	km_output_free(&o);

	EXPECT_EQ(KM_EXIT_USAGE, RUN_MAIN(&o, "beta", "-z"));
	EXPECT_TRUE(km_contains(o.err, "kmigrate beta: unknown option '-z'"));
	km_output_free(&o);

	EXPECT_EQ(KM_EXIT_USAGE, RUN_MAIN(&o, "beta", "--nope"));
	EXPECT_TRUE(km_contains(o.err, "unknown or ambiguous option '--nope'"));
	km_output_free(&o);

	EXPECT_EQ(KM_EXIT_USAGE, RUN_MAIN(&o, "beta", "--verbose=3"));
	EXPECT_TRUE(km_contains(o.err, "option '--verbose=3' does not take an argument"));
	km_output_free(&o);

	EXPECT_EQ(KM_EXIT_USAGE, RUN_MAIN(&o, "beta", "-n", "x", "extra"));
	EXPECT_STREQ("kmigrate beta: unexpected argument 'extra'\n"
		     "Try 'kmigrate beta --help' for more information.\n", o.err);
	km_output_free(&o);
	EXPECT_EQ(0, seen.calls);
}

TEST_F(cli, parse_u32)
{
	char why[128];
	uint32_t v = 99;

	EXPECT_EQ(0, km_parse_u32("1", 1, 256, &v, why, sizeof(why)));
	EXPECT_EQ(1, v);
	EXPECT_EQ(0, km_parse_u32("256", 1, 256, &v, why, sizeof(why)));
	EXPECT_EQ(256, v);
	EXPECT_EQ(0, km_parse_u32("007", 0, 10, &v, why, sizeof(why)));
	EXPECT_EQ(7, v);
	v = 99;
	EXPECT_EQ(-ERANGE, km_parse_u32("0", 1, 256, &v, why, sizeof(why)));
	EXPECT_STREQ("0 is out of range (1 to 256)", why);
	EXPECT_EQ(-ERANGE, km_parse_u32("257", 1, 256, &v, why, sizeof(why)));
	EXPECT_EQ(-ERANGE, km_parse_u32("99999999999999999999999", 0, 4294967295U,
					&v, why, sizeof(why)));
	EXPECT_EQ(-ERANGE, km_parse_u32("4294967296", 0, 4294967295U, &v, why, sizeof(why)));
	EXPECT_EQ(-EINVAL, km_parse_u32("", 1, 256, &v, why, sizeof(why)));
	EXPECT_EQ(-EINVAL, km_parse_u32("-1", 1, 256, &v, why, sizeof(why)));
	EXPECT_EQ(-EINVAL, km_parse_u32("+1", 1, 256, &v, why, sizeof(why)));
	EXPECT_EQ(-EINVAL, km_parse_u32(" 1", 1, 256, &v, why, sizeof(why)));
	EXPECT_EQ(-EINVAL, km_parse_u32("1 ", 1, 256, &v, why, sizeof(why)));
	EXPECT_EQ(-EINVAL, km_parse_u32("0x10", 1, 256, &v, why, sizeof(why)));
	EXPECT_EQ(-EINVAL, km_parse_u32("ten", 1, 256, &v, why, sizeof(why)));
	EXPECT_STREQ("'ten' is not a number", why);
	EXPECT_EQ(99, v);
}

TEST_F(cli, exit_codes)
{
	EXPECT_EQ(0, KM_EXIT_OK);
	EXPECT_EQ(1, KM_EXIT_FAIL);
	EXPECT_EQ(2, KM_EXIT_USAGE);
	EXPECT_EQ(3, KM_EXIT_NO_MODULE);
	EXPECT_EQ(4, KM_EXIT_PERM);
	EXPECT_EQ(KM_EXIT_OK, km_exit_for_errno(0));
	EXPECT_EQ(KM_EXIT_PERM, km_exit_for_errno(EPERM));
	EXPECT_EQ(KM_EXIT_PERM, km_exit_for_errno(EACCES));
	EXPECT_EQ(KM_EXIT_FAIL, km_exit_for_errno(EINVAL));
	EXPECT_EQ(KM_EXIT_FAIL, km_exit_for_errno(ENOENT));
}

TEST_F(cli, error_messages)
{
	struct km_error e;
	char buf[512];

	km_error_clear(&e);
	EXPECT_EQ(KM_EXIT_OK, e.code);

	EXPECT_EQ(-EINVAL, km_error_set(&e, EINVAL, "max sessions %s", "out of range"));
	EXPECT_EQ(KM_EXIT_FAIL, e.code);
	km_error_format(&e, "setting limits", buf, sizeof(buf));
	EXPECT_STREQ("setting limits: Invalid argument: max sessions out of range", buf);

	EXPECT_EQ(-EPERM, km_error_set(&e, EPERM, NULL));
	EXPECT_EQ(KM_EXIT_PERM, e.code);
	km_error_format(&e, "setting limits", buf, sizeof(buf));
	EXPECT_STREQ("setting limits: Operation not permitted", buf);

	EXPECT_EQ(-EIO, km_error_set(&e, 0, "sending: %s", "Broken pipe"));
	EXPECT_EQ(KM_EXIT_FAIL, e.code);
	km_error_format(&e, "reading module info", buf, sizeof(buf));
	EXPECT_STREQ("reading module info: sending: Broken pipe", buf);

	km_error_set(&e, 0, NULL);
	km_error_format(&e, "x", buf, sizeof(buf));
	EXPECT_STREQ("x: unknown error", buf);

	EXPECT_EQ(-ENOENT, km_error_no_module(&e));
	EXPECT_EQ(KM_EXIT_NO_MODULE, e.code);
	km_error_format(&e, "connecting", buf, sizeof(buf));
	EXPECT_STREQ("kernel module not loaded (generic netlink family 'kmigrate' not found);"
		     " load it with 'modprobe kmigrate'", buf);
}

static int report_perm(void *arg)
{
	struct km_error e;

	(void)arg;
	km_error_set(&e, EPERM, "need %s", "CAP_NET_ADMIN");
	return km_error_report(&e, "setting limits");
}

TEST_F(cli, error_report_prints_and_maps)
{
	struct km_output o;

	ASSERT_EQ(0, km_capture(report_perm, NULL, &o));
	EXPECT_EQ(KM_EXIT_PERM, o.status);
	EXPECT_STREQ("", o.out);
	EXPECT_STREQ("kmigrate: setting limits: Operation not permitted: need CAP_NET_ADMIN\n",
		     o.err);
	km_output_free(&o);
}

static int write_to_full(void *arg)
{
	(void)arg;
	if (!freopen("/dev/full", "w", stdout))
		return -1;
	printf("lost\n");
	return km_flush_stdout();
}

TEST_F(cli, output_write_error_fails)
{
	struct km_output o;

	ASSERT_EQ(0, km_capture(write_to_full, NULL, &o));
	EXPECT_EQ(KM_EXIT_FAIL, o.status);
	EXPECT_STREQ("kmigrate: writing output: No space left on device\n", o.err);
	km_output_free(&o);
}

TEST_HARNESS_MAIN
