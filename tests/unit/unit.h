/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers shared by the host unit tests (kselftest harness programs). */
#ifndef KM_UNIT_H
#define KM_UNIT_H

#include <stdio.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
/*
 * The harness ends each test with _exit(), where LeakSanitizer does not
 * look: ask it here, at the end of a test that frees what it allocated.
 */
#define KM_ASSERT_NO_LEAKS()	ASSERT_EQ(0, __lsan_do_recoverable_leak_check())
#else
#define KM_ASSERT_NO_LEAKS()	do { } while (0)
#endif

/*
 * A fixture with nothing in it, so that the tests of one program are named
 * "<suite>.<test>" in the TAP output: KM_SUITE(rate); TEST_F(rate, parse).
 */
#define KM_SUITE(name)						\
	FIXTURE(name) { char unused; };				\
	FIXTURE_SETUP(name) { (void)self; }			\
	FIXTURE_TEARDOWN(name) { (void)self; }

#define KM_ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* What a captured call or program wrote; free with km_output_free(). */
struct km_output {
	int status;		/* return value, or exit status (128+N: signal N) */
	char *out;		/* stdout, NUL-terminated */
	char *err;		/* stderr */
};

/*
 * Calls @fn(@arg) with stdout and stderr redirected to temporary files,
 * and returns what it wrote with its return value in @o->status.
 */
int km_capture(int (*fn)(void *arg), void *arg, struct km_output *o);

/*
 * Runs program @argv[0] (NULL-terminated @argv) with stdin from /dev/null;
 * stdout goes to @stdout_path when it is not NULL (e.g. "/dev/full").
 */
int km_run(char *const argv[], const char *stdout_path, struct km_output *o);

void km_output_free(struct km_output *o);

/* Whether @haystack contains @needle (NULL-safe). */
int km_contains(const char *haystack, const char *needle);

#endif /* KM_UNIT_H */
