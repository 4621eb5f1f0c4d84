// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"

/* Reads all of @f (from its start) into a new string; closes @f. */
static char *km_slurp(FILE *f)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	char chunk[4096];
	size_t n;

	if (!mem) {
		fclose(f);
		return NULL;
	}
	rewind(f);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, n, mem);
	fclose(f);
	fclose(mem);
	return buf;
}

int km_capture(int (*fn)(void *arg), void *arg, struct km_output *o)
{
	FILE *out = tmpfile(), *err = tmpfile();
	int saved_out = dup(STDOUT_FILENO), saved_err = dup(STDERR_FILENO);

	memset(o, 0, sizeof(*o));
	if (!out || !err || saved_out < 0 || saved_err < 0)
		return -errno;
	fflush(stdout);
	fflush(stderr);
	dup2(fileno(out), STDOUT_FILENO);
	dup2(fileno(err), STDERR_FILENO);
	clearerr(stdout);

	o->status = fn(arg);

	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, STDOUT_FILENO);
	dup2(saved_err, STDERR_FILENO);
	close(saved_out);
	close(saved_err);
	o->out = km_slurp(out);
	o->err = km_slurp(err);
	return o->out && o->err ? 0 : -ENOMEM;
}

static void km_child(char *const argv[], const char *stdout_path, int out, int err)
{
	int in = open("/dev/null", O_RDONLY);

	if (stdout_path) {
		close(out);
		out = open(stdout_path, O_WRONLY);
	}
	if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
	    dup2(err, 2) < 0)
		_exit(126);
	execv(argv[0], argv);
	_exit(127);
}

int km_run(char *const argv[], const char *stdout_path, struct km_output *o)
{
	FILE *out = tmpfile(), *err = tmpfile();
	int status;
	pid_t pid;

	memset(o, 0, sizeof(*o));
	if (!out || !err)
		return -errno;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid)
		km_child(argv, stdout_path, fileno(out), fileno(err));
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	o->status = WIFEXITED(status) ? WEXITSTATUS(status)
				      : 128 + WTERMSIG(status);
	o->out = km_slurp(out);
	o->err = km_slurp(err);
	return o->out && o->err ? 0 : -ENOMEM;
}

void km_output_free(struct km_output *o)
{
	free(o->out);
	free(o->err);
	o->out = o->err = NULL;
}

int km_contains(const char *haystack, const char *needle)
{
	return haystack && needle && strstr(haystack, needle) != NULL;
}
