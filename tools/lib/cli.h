/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Command-line plumbing shared by every kmigrate command: the command
 * table, global options, per-command option parsing and usage errors.
 *
 * A command is one table entry plus one function:
 *
 *	{ "status", status_main, "show the module and its migration sessions" }
 *
 *	int status_main(int argc, char **argv)   argv[0] is the command name
 *
 * and parses its options with km_getopt(), which adds -h/--help and
 * -j/--json to every command and prints the usage errors.
 */
#ifndef KM_CLI_H
#define KM_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"

struct km_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

struct km_prog {
	const char *version;		/* tool version, for -V */
	const struct km_cmd *cmds;
	size_t ncmds;
};

/* Global state of one invocation. */
struct km_opts {
	bool json;			/* -j/--json: print JSON */
	const struct km_prog *prog;
	const struct km_cmd *cmd;	/* command being run */
};

extern struct km_opts km_opts;

/* Help of one command: "Usage: kmigrate CMD ARGS", summary, options, notes. */
struct km_usage {
	const char *args;	/* e.g. "[--reset]"; NULL: none */
	const char *options;	/* lines "  -r, --reset    text\n"; NULL: none */
	const char *notes;	/* paragraph after the options; NULL: none */
};

/* Parses global options and runs the command; returns the exit status. */
int km_main(const struct km_prog *prog, int argc, char **argv);
/* The command called @name, or NULL. */
const struct km_cmd *km_cmd_find(const struct km_prog *prog, const char *name);
/* Flushes stdout; on a write error reports it and returns KM_EXIT_FAIL. */
int km_flush_stdout(void);

/* Values km_getopt() returns besides a command's own option characters. */
enum {
	KM_OPT_END		= -1,	/* no more options */
	KM_OPT_EXIT_OK		= -2,	/* --help was printed */
	KM_OPT_EXIT_USAGE	= -3,	/* a usage error was printed */
};

/*
 * getopt_long() for the running command: @shortopts and @longopts are the
 * command's own (NULL-terminated; either may be empty); -h/--help and
 * -j/--json are added.  Returns an option character, or a KM_OPT_* value.
 */
int km_getopt(int argc, char **argv, const char *shortopts,
	      const struct option *longopts, const struct km_usage *usage);
/* Exit status for a KM_OPT_EXIT_* value. */
int km_opt_exit(int opt);
/* Refuses arguments left after the options (usage error). */
int km_no_args(int argc, char **argv);

/*
 * Prints "kmigrate[ CMD]: MESSAGE" and a hint to run --help on stderr;
 * returns KM_EXIT_USAGE.
 */
int km_usage_error(const char *fmt, ...) KM_PRINTF(1, 2);

/*
 * Parses a decimal number in [@min, @max]; returns 0 or -EINVAL / -ERANGE
 * with the reason in @why.
 */
int km_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out,
		 char *why, size_t whylen);

#endif /* KM_CLI_H */
