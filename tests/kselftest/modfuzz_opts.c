// SPDX-License-Identifier: GPL-2.0
/*
 * modfuzz: the options, from the environment and the command line.
 */

#include "modfuzz.h"

/* ---- options ----------------------------------------------------------- */

uint64_t opt_seed;
long opt_seconds = 20;
long opt_iterations;		/* 0: no limit */
int opt_races = 1;
int opt_loops = 50;
char opt_ko[PATH_MAX];

static long num_opt(const char *name, const char *v, long min, long max)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 0);
	if (errno || *end || n < min || n > max) {
		fprintf(stderr, "modfuzz: %s %s: want %ld..%ld\n", name, v, min, max);
		exit(2);
	}
	return n;
}

/* Sets the options from the environment and argv, and prints them: 0, or
 * the exit status of a usage error. */
int modfuzz_options(int argc, char **argv)
{
	const char *e;
	char exe[PATH_MAX - 64];
	ssize_t n;
	int i;

	opt_seed = (uint64_t)time(NULL) * 1000003u ^ (uint64_t)getpid();
	if ((e = getenv("MODFUZZ_SEED")))
		opt_seed = strtoull(e, NULL, 0);
	if ((e = getenv("MODFUZZ_SECONDS")))
		opt_seconds = num_opt("MODFUZZ_SECONDS", e, 0, 86400);
	if ((e = getenv("MODFUZZ_ITERATIONS")))
		opt_iterations = num_opt("MODFUZZ_ITERATIONS", e, 0, LONG_MAX);
	if ((e = getenv("MODFUZZ_RACES")))
		opt_races = num_opt("MODFUZZ_RACES", e, 1, 100000);
	if ((e = getenv("MODFUZZ_LOOPS")))
		opt_loops = num_opt("MODFUZZ_LOOPS", e, 1, 1000000);
	if ((e = getenv("KMIGRATE_KO")))
		snprintf(opt_ko, sizeof(opt_ko), "%s", e);
	for (i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v) {
			fprintf(stderr, "modfuzz: %s needs a value\n", argv[i]);
			return 2;
		}
		if (!strcmp(argv[i], "--seed"))
			opt_seed = strtoull(v, NULL, 0);
		else if (!strcmp(argv[i], "--seconds"))
			opt_seconds = num_opt(argv[i], v, 0, 86400);
		else if (!strcmp(argv[i], "--iterations"))
			opt_iterations = num_opt(argv[i], v, 0, LONG_MAX);
		else if (!strcmp(argv[i], "--races"))
			opt_races = num_opt(argv[i], v, 1, 100000);
		else if (!strcmp(argv[i], "--loops"))
			opt_loops = num_opt(argv[i], v, 1, 1000000);
		else if (!strcmp(argv[i], "--ko"))
			snprintf(opt_ko, sizeof(opt_ko), "%s", v);
		else {
			fprintf(stderr,
				"usage: modfuzz [--seed N] [--seconds S] [--iterations N] [--races N] [--loops N] [--ko PATH]\n");
			return 2;
		}
		i++;
	}
	if (!opt_ko[0]) {
		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n > 0) {
			exe[n] = '\0';
			*strrchr(exe, '/') = '\0';
			snprintf(opt_ko, sizeof(opt_ko), "%s/../kmigrate.ko", exe);
		}
	}
	printf("# modfuzz: seed %llu (--seed %llu reproduces), %ld s of fuzzing%s, races x%d, %d load loops, module %s\n",
	       (unsigned long long)opt_seed, (unsigned long long)opt_seed, opt_seconds,
	       opt_iterations ? " (or the --iterations given)" : "", opt_races, opt_loops, opt_ko);
	fflush(stdout);
	return 0;
}
