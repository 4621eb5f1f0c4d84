// SPDX-License-Identifier: GPL-2.0
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define KM_MAX_LONGOPTS	32

struct km_opts km_opts;

static const char km_common_options[] =
	"  -j, --json             print JSON\n"
	"  -h, --help             show this help\n";

static const struct option km_global_longopts[] = {
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void km_help(const struct km_prog *prog, FILE *f)
{
	size_t i;

	fprintf(f, "Usage: %s [OPTIONS] COMMAND [ARGS]\n\n"
		"Live migration of KVM guests with the kmigrate kernel module.\n\n"
		"Commands:\n", KM_PROG);
	for (i = 0; i < prog->ncmds; i++)
		fprintf(f, "  %-10s %s\n", prog->cmds[i].name, prog->cmds[i].summary);
	fprintf(f, "  %-10s %s\n\n", "help", "show this help, or a command's help");
	fprintf(f, "Options:\n%s"
		"  -V, --version          print the tool version and exit\n\n"
		"Run '%s COMMAND --help' for the options of a command; see kmigrate(8).\n",
		km_common_options, KM_PROG);
}

static void km_cmd_help(const struct km_usage *usage, FILE *f)
{
	const struct km_cmd *cmd = km_opts.cmd;

	fprintf(f, "Usage: %s %s [OPTIONS]%s%s\n\n%c%s.\n\nOptions:\n%s%s",
		KM_PROG, cmd->name, usage->args ? " " : "",
		usage->args ? usage->args : "",
		toupper((unsigned char)cmd->summary[0]), cmd->summary + 1,
		usage->options ? usage->options : "", km_common_options);
	if (usage->notes)
		fprintf(f, "\n%s", usage->notes);
}

int km_usage_error(const char *fmt, ...)
{
	const char *cmd = km_opts.cmd ? km_opts.cmd->name : NULL;
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s%s%s: ", KM_PROG, cmd ? " " : "", cmd ? cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (cmd)
		fprintf(stderr, "\nTry '%s %s --help' for more information.\n",
			KM_PROG, cmd);
	else
		fprintf(stderr, "\nTry '%s help' for more information.\n",
			KM_PROG);
	return KM_EXIT_USAGE;
}

/* Reports what getopt_long() refused ('?' or ':'); returns KM_EXIT_USAGE. */
static int km_opt_error(char **argv, int c)
{
	const char *arg = argv[optind - 1];
	bool is_long = arg[0] == '-' && arg[1] == '-';

	if (c == ':' && is_long)
		return km_usage_error("option '%s' requires an argument", arg);
	if (c == ':')
		return km_usage_error("option '-%c' requires an argument", optopt);
	if (optopt && is_long && strchr(arg, '='))
		return km_usage_error("option '%s' does not take an argument", arg);
	if (optopt)
		return km_usage_error("unknown option '-%c'", optopt);
	return km_usage_error("unknown or ambiguous option '%s'", arg);
}

const struct km_cmd *km_cmd_find(const struct km_prog *prog, const char *name)
{
	size_t i;

	for (i = 0; i < prog->ncmds; i++)
		if (!strcmp(prog->cmds[i].name, name))
			return &prog->cmds[i];
	return NULL;
}

static int km_run(const struct km_cmd *cmd, int argc, char **argv)
{
	km_opts.cmd = cmd;
	optind = 0;		/* glibc: restart scanning at argv[1] */
	return cmd->fn(argc, argv);
}

/* "kmigrate help [COMMAND]" */
static int km_help_main(const struct km_prog *prog, int argc, char **argv)
{
	const struct km_cmd *cmd;
	char help_opt[] = "--help";
	char *args[3] = { NULL, help_opt, NULL };

	if (argc == 1) {
		km_help(prog, stdout);
		return KM_EXIT_OK;
	}
	if (argc > 2)
		return km_usage_error("help takes at most one command name");
	cmd = km_cmd_find(prog, argv[1]);
	if (!cmd)
		return km_usage_error("unknown command '%s'", argv[1]);
	args[0] = argv[1];
	return km_run(cmd, 2, args);
}

int km_main(const struct km_prog *prog, int argc, char **argv)
{
	const struct km_cmd *cmd;
	int c;

	km_opts = (struct km_opts){ .prog = prog };
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:hjV", km_global_longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			km_help(prog, stdout);
			return KM_EXIT_OK;
		case 'j':
			km_opts.json = true;
			break;
		case 'V':
			printf("%s %s\n", KM_PROG, prog->version);
			return KM_EXIT_OK;
		default:
			return km_opt_error(argv, c);
		}
	}
	if (optind >= argc) {
		km_help(prog, stderr);
		return KM_EXIT_USAGE;
	}
	argc -= optind;
	argv += optind;
	if (!strcmp(argv[0], "help"))
		return km_help_main(prog, argc, argv);
	cmd = km_cmd_find(prog, argv[0]);
	if (!cmd)
		return km_usage_error("unknown command '%s'", argv[0]);
	return km_run(cmd, argc, argv);
}

int km_flush_stdout(void)
{
	if (fflush(stdout) == EOF) {
		km_err("writing output: %s", strerror(errno));
		return KM_EXIT_FAIL;
	}
	if (ferror(stdout)) {
		km_err("writing output failed");
		return KM_EXIT_FAIL;
	}
	return KM_EXIT_OK;
}

/*
 * Appends the common -h/-j options to a command's long options (at most
 * KM_MAX_LONGOPTS - 3 of them).
 */
static void km_merge_longopts(struct option *out, const struct option *in)
{
	size_t n = 0;

	for (; in && in->name && n < KM_MAX_LONGOPTS - 3; in++)
		out[n++] = *in;
	out[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	out[n++] = (struct option){ "json", no_argument, NULL, 'j' };
	out[n] = (struct option){ NULL, 0, NULL, 0 };
}

int km_getopt(int argc, char **argv, const char *shortopts,
	      const struct option *longopts, const struct km_usage *usage)
{
	struct option all[KM_MAX_LONGOPTS];
	char opts[64];
	int c;

	snprintf(opts, sizeof(opts), ":hj%s", shortopts ? shortopts : "");
	km_merge_longopts(all, longopts);
	opterr = 0;
	for (;;) {
		c = getopt_long(argc, argv, opts, all, NULL);
		switch (c) {
		case 'h':
			km_cmd_help(usage, stdout);
			return KM_OPT_EXIT_OK;
		case 'j':
			km_opts.json = true;
			continue;
		case '?':
		case ':':
			km_opt_error(argv, c);
			return KM_OPT_EXIT_USAGE;
		default:
			return c;
		}
	}
}

int km_opt_exit(int opt)
{
	return opt == KM_OPT_EXIT_OK ? KM_EXIT_OK : KM_EXIT_USAGE;
}

int km_no_args(int argc, char **argv)
{
	if (optind < argc)
		return km_usage_error("unexpected argument '%s'", argv[optind]);
	return KM_EXIT_OK;
}

int km_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out,
		 char *why, size_t whylen)
{
	unsigned long long v = 0;
	char *end = (char *)s;

	errno = 0;
	if (isdigit((unsigned char)*s))		/* no sign, no blanks */
		v = strtoull(s, &end, 10);
	if (end == s || *end) {
		snprintf(why, whylen, "'%s' is not a number", s);
		return -EINVAL;
	}
	if (errno == ERANGE || v < min || v > max) {
		snprintf(why, whylen, "%s is out of range (%u to %u)", s, min, max);
		return -ERANGE;
	}
	*out = (uint32_t)v;
	return 0;
}
