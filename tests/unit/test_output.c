// SPDX-License-Identifier: GPL-2.0
/*
 * JSON and text output of version, status and limits (tools/lib/jsonout.c,
 * show.c), from parsed structures made up here.
 */
#include <stdlib.h>
#include <string.h>

#include "jsonout.h"
#include "kselftest_harness.h"
#include "show.h"
#include "unit.h"

static const struct km_info test_info = {
	.have = KM_INFO_ALL,
	.module_version = "0.1.0+g0123456789ab",
	.abi_version = 1,
	.genl_version = 1,
	.features = 0,
	.session_count = 2,
	.max_sessions = 16,
	.default_bandwidth = 1250000000,
};

static struct km_session test_sessions[] = {
	{ .id = 3, .owner_pid = 1200, .state = KMIGRATE_SESSION_RUNNING, .bandwidth = 125000000 },
	{ .id = 12, .owner_pid = 0, .state = 42, .bandwidth = 0 },
};

FIXTURE(output) {
	char *text;
	size_t len;
	FILE *f;
};

FIXTURE_SETUP(output)
{
	self->f = open_memstream(&self->text, &self->len);
	ASSERT_NE(NULL, self->f);
}

FIXTURE_TEARDOWN(output)
{
	if (self->f)
		fclose(self->f);
	free(self->text);
}

/* What was written to self->f so far. */
static const char *written(FIXTURE_DATA(output) *self)
{
	fflush(self->f);
	return self->text;
}

TEST_F(output, json_status)
{
	const struct km_sessions list = { test_sessions, 2, 2 };

	ASSERT_EQ(KM_EXIT_OK, km_json_print(km_json_status(&test_info, &list), self->f));
	EXPECT_STREQ("{\"module_version\":\"0.1.0+g0123456789ab\",\"module_abi_version\":1,"
		     "\"genl_version\":1,\"features\":0,\"session_count\":2,"
		     "\"max_sessions\":16,\"default_bandwidth\":1250000000,"
		     "\"sessions\":["
		     "{\"id\":3,\"owner_pid\":1200,\"state\":\"running\",\"state_code\":2,\"bandwidth\":125000000},"
		     "{\"id\":12,\"owner_pid\":0,\"state\":\"unknown\",\"state_code\":42,\"bandwidth\":0}"
		     "]}\n", written(self));
	KM_ASSERT_NO_LEAKS();
}

TEST_F(output, json_status_no_sessions)
{
	const struct km_sessions list = { 0 };

	ASSERT_EQ(KM_EXIT_OK, km_json_print(km_json_status(&test_info, &list), self->f));
	EXPECT_TRUE(km_contains(written(self), ",\"sessions\":[]}\n")) TH_LOG("%s", self->text);
	KM_ASSERT_NO_LEAKS();
}

/* The whole u64 range, and strings escaped (the kernel's are printable). */
TEST_F(output, json_exact_numbers_and_escaping)
{
	struct km_info info = test_info;
	const struct km_sessions list = { 0 };

	info.default_bandwidth = UINT64_MAX;
	info.features = 1ULL << 63;
	strcpy(info.module_version, "1.0/\"x\"\\");
	ASSERT_EQ(KM_EXIT_OK, km_json_print(km_json_status(&info, &list), self->f));
	EXPECT_TRUE(km_contains(written(self), "\"default_bandwidth\":18446744073709551615"))
		TH_LOG("%s", self->text);
	EXPECT_TRUE(km_contains(self->text, "\"features\":9223372036854775808"));
	EXPECT_TRUE(km_contains(self->text, "\"module_version\":\"1.0/\\\"x\\\"\\\\\""));
	KM_ASSERT_NO_LEAKS();
}

TEST_F(output, json_version_loaded)
{
	ASSERT_EQ(KM_EXIT_OK, km_json_print(km_json_version("9.9", 1, &test_info), self->f));
	EXPECT_STREQ("{\"tool_version\":\"9.9\",\"abi_version\":1,\"module_loaded\":true,"
		     "\"module_version\":\"0.1.0+g0123456789ab\",\"module_abi_version\":1,"
		     "\"genl_version\":1}\n", written(self));
	KM_ASSERT_NO_LEAKS();
}

TEST_F(output, json_version_not_loaded)
{
	ASSERT_EQ(KM_EXIT_OK, km_json_print(km_json_version("9.9", 0, NULL), self->f));
	EXPECT_STREQ("{\"tool_version\":\"9.9\",\"abi_version\":1,\"module_loaded\":false,"
		     "\"module_version\":null,\"module_abi_version\":null,"
		     "\"genl_version\":null}\n", written(self));
	KM_ASSERT_NO_LEAKS();
}

TEST_F(output, json_version_unknown)
{
	ASSERT_EQ(KM_EXIT_OK, km_json_print(km_json_version("9.9", -1, NULL), self->f));
	EXPECT_TRUE(km_contains(written(self), "\"module_loaded\":null,"));
	KM_ASSERT_NO_LEAKS();
}

TEST_F(output, json_limits)
{
	ASSERT_EQ(KM_EXIT_OK, km_json_print(km_json_limits(&test_info), self->f));
	EXPECT_STREQ("{\"max_sessions\":16,\"session_count\":2,"
		     "\"default_bandwidth\":1250000000}\n", written(self));
	KM_ASSERT_NO_LEAKS();
}

static int print_null(void *arg)
{
	return km_json_print(NULL, arg);
}

TEST_F(output, json_out_of_memory_reported)
{
	struct km_output o;

	ASSERT_EQ(0, km_capture(print_null, self->f, &o));
	EXPECT_EQ(KM_EXIT_FAIL, o.status);
	EXPECT_STREQ("kmigrate: building JSON output: Cannot allocate memory\n", o.err);
	EXPECT_STREQ("", written(self));
	km_output_free(&o);
}

TEST_F(output, text_status)
{
	const struct km_sessions list = { test_sessions, 2, 2 };

	km_show_status(self->f, &test_info, &list);
	EXPECT_STREQ("module version:       0.1.0+g0123456789ab (ABI 1, genl 1)\n"
		     "features:             none\n"
		     "sessions:             2 of 16 allowed\n"
		     "default bandwidth:    1.25 GB/s\n"
		     "\n"
		     "        ID        PID  STATE      BANDWIDTH\n"
		     "         3       1200  running    125 MB/s\n"
		     "        12          0  unknown    unlimited\n", written(self));
}

TEST_F(output, text_status_no_sessions)
{
	const struct km_sessions list = { 0 };
	struct km_info info = test_info;

	info.features = 0x5;
	info.default_bandwidth = 0;
	km_show_status(self->f, &info, &list);
	EXPECT_TRUE(km_contains(written(self), "features:             0x5\n"));
	EXPECT_TRUE(km_contains(self->text, "default bandwidth:    unlimited\n"));
	EXPECT_TRUE(km_contains(self->text, "\nno migration sessions\n"));
}

TEST_F(output, text_version)
{
	km_show_version(self->f, "9.9", NULL);
	EXPECT_STREQ("tool version:         9.9\n"
		     "tool ABI version:     1\n", written(self));
	km_show_version(self->f, "9.9", &test_info);
	EXPECT_TRUE(km_contains(written(self),
				"module version:       0.1.0+g0123456789ab\n"
				"module ABI version:   1\n"
				"genl family version:  1\n"));
}

TEST_F(output, text_limits)
{
	km_show_limits(self->f, &test_info);
	EXPECT_STREQ("max sessions:         16 (2 in use)\n"
		     "default bandwidth:    1.25 GB/s\n", written(self));
}

TEST_F(output, text_long_key)
{
	km_kv(self->f, "a key longer than the column", "%d", 5);
	EXPECT_STREQ("a key longer than the column: 5\n", written(self));
}

TEST_HARNESS_MAIN
