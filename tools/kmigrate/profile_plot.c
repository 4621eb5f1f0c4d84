// SPDX-License-Identifier: GPL-2.0
/* kmigrate profile --svg: gnuplot draws the profile (profile_plot.h). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "profile_plot.h"

int km_plot_find(char *path, size_t len, char *err, size_t errlen)
{
	const char *p = getenv("PATH");
	char *dirs, *save = NULL, *d;

	dirs = strdup(p && *p ? p : "/usr/bin:/bin");
	if (!dirs)
		return -ENOMEM;
	for (d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		if ((size_t)snprintf(path, len, "%s/gnuplot", *d ? d : ".") >= len)
			continue;
		if (!access(path, X_OK)) {
			free(dirs);
			return 0;
		}
	}
	free(dirs);
	snprintf(err, errlen, "gnuplot is not installed (Debian: apt-get install gnuplot-nox, "
		 "or 'make deps'); --svg needs it");
	return -ENOENT;
}

int km_plot_check_dest(const char *file, char *err, size_t errlen)
{
	char *copy = strdup(file), *dir;
	struct stat st;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	dir = dirname(copy);
	if (stat(dir, &st) || !S_ISDIR(st.st_mode) || access(dir, W_OK | X_OK)) {
		r = errno ? -errno : -ENOTDIR;
		snprintf(err, errlen, "--svg %s: directory %s: %s", file, dir,
			 errno ? strerror(errno) : "not a directory");
	} else if (!stat(file, &st) && S_ISDIR(st.st_mode)) {
		r = -EISDIR;
		snprintf(err, errlen, "--svg %s: is a directory", file);
	}
	free(copy);
	return r;
}

/* A gnuplot string literal: single quotes, '' for a quote. */
static void plot_quote(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputc('\'', f);
		if (*s != '\n')
			fputc(*s, f);
	}
	fputc('\'', f);
}

/* The data as inline blocks ($rate, $ws) and the program drawing them. */
static void plot_script(FILE *f, const char *out, const void *ctx)
{
	const struct km_plot_data *d = ctx;
	uint32_t i;
	unsigned int v;

	fprintf(f, "$rate << EOD\n");
	for (i = 0; i < d->n; i++) {
		fprintf(f, "%.3f %.1f", d->t_s[i], d->rate[i]);
		for (v = 0; v < d->nr_vcpus; v++)
			fprintf(f, " %.1f", d->vcpu_rate[v][i]);
		fputc('\n', f);
	}
	fprintf(f, "EOD\n$ws << EOD\n");
	for (i = 0; i < d->n; i++)
		fprintf(f, "%.3f %llu\n", d->ws_window_s[i], (unsigned long long)d->ws_pages[i]);
	fprintf(f, "EOD\n");
	fprintf(f, "set terminal svg size 900,800 dynamic enhanced font 'sans,11'\n"
		"set output ");
	plot_quote(f, out);
	fprintf(f, "\nset multiplot layout 2,1 title ");
	plot_quote(f, d->title);
	fprintf(f, " noenhanced\nset grid\nset key outside right top\n"
		"set title 'Dirty rate (distinct pages dirtied per second, each interval)'\n"
		"set xlabel 'time (s)'\nset ylabel 'pages/s'\nset yrange [0:*]\n"
		"plot $rate using 1:2 with lines lw 2 title 'total'");
	for (v = 0; v < d->nr_vcpus; v++)
		fprintf(f, ", $rate using 1:%u with lines title 'vCPU %u'", v + 3, v);
	fprintf(f, "\nset title 'Writable working set (distinct pages dirtied in the last window)'\n"
		"set xlabel 'window (s)'\nset ylabel 'pages'\n"
		"plot $ws using 1:2 with linespoints pt 7 ps 0.4 title 'working set'\n"
		"unset multiplot\nset output\n");
}

/* A migration's rounds ($r) and the program drawing them. */
static void plot_rounds_script(FILE *f, const char *out, const void *ctx)
{
	const struct km_plot_rounds *d = ctx;
	uint32_t i;

	fprintf(f, "$r << EOD\n");
	for (i = 0; i < d->n; i++) {
		const struct km_plot_round *r = &d->r[i];

		/* x, pages sent, dirty, link MiB/s, predicted, actual (or NaN),
		 * budget (or NaN), guest speed, kind (0 live, 1 final, 2 aborted) */
		fprintf(f, "%u %llu %llu %.3f %.3f ", i, (unsigned long long)r->pages_sent,
			(unsigned long long)r->dirty_pages, r->link_rate / 1048576.0,
			r->predicted_ms);
		if (r->actual_ms >= 0)
			fprintf(f, "%.3f ", r->actual_ms);
		else
			fprintf(f, "NaN ");
		if (r->budget_ms >= 0)
			fprintf(f, "%.3f ", r->budget_ms);
		else
			fprintf(f, "NaN ");
		fprintf(f, "%u %u\n", r->guest_speed, r->kind);
	}
	fprintf(f, "EOD\n");
	fprintf(f, "set terminal svg size 900,800 dynamic enhanced font 'sans,11'\n"
		"set output ");
	plot_quote(f, out);
	fprintf(f, "\nset multiplot layout 2,1 title ");
	plot_quote(f, d->title);
	fprintf(f, " noenhanced\nset grid\nset key outside right top\n"
		"set title 'Pages per round (sent; dirty at its end) and the link'\n"
		"set xlabel 'round (in order; aborted switch-overs included)'\n"
		"set ylabel 'pages'\nset yrange [0:*]\nset y2label 'MiB/s'\n"
		"set y2range [0:*]\nset y2tics\n"
		"plot $r using 1:2 with linespoints pt 7 ps 0.5 title 'sent', "
		"$r using 1:3 with linespoints pt 5 ps 0.5 title 'dirty', "
		"$r using 1:4 axes x1y2 with lines dt 2 title 'link MiB/s'\n"
		"set title 'The guest pause: predicted at each round, and actual'\n"
		"set ylabel 'ms'\nset y2label 'guest speed %%'\nset y2range [0:105]\n"
		"plot $r using 1:5 with linespoints pt 7 ps 0.5 title 'predicted', "
		"$r using 1:7 with lines dt 3 title 'allowed (limit less margin)', "
		"$r using 1:6 with points pt 9 ps 1.5 title 'actual (final / aborted)', "
		"$r using 1:8 axes x1y2 with steps dt 2 title 'guest speed %%'\n"
		"unset multiplot\nset output\n");
}

static int plot_run(const char *gnuplot, const char *file,
		    void (*script_fn)(FILE *f, const char *out, const void *ctx), const void *ctx,
		    char *err, size_t errlen)
{
	char tmp[4096], script[] = "/tmp/kmigrate-plot-XXXXXX";
	int sfd = -1, ofd = -1, status, r = 0;
	FILE *f = NULL;
	pid_t pid;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", file) >= sizeof(tmp)) {
		snprintf(err, errlen, "--svg %s: name too long", file);
		return -ENAMETOOLONG;
	}
	ofd = mkstemp(tmp);
	if (ofd < 0) {
		r = -errno;
		snprintf(err, errlen, "--svg %s: %s", file, strerror(errno));
		return r;
	}
	sfd = mkstemp(script);
	if (sfd < 0 || !(f = fdopen(sfd, "w"))) {
		r = -errno;
		snprintf(err, errlen, "gnuplot script: %s", strerror(errno));
		goto out;
	}
	sfd = -1;
	script_fn(f, tmp, ctx);
	if (fclose(f)) {
		f = NULL;
		r = -errno;
		snprintf(err, errlen, "gnuplot script: %s", strerror(errno));
		goto out;
	}
	f = NULL;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		r = -errno;
		snprintf(err, errlen, "fork: %s", strerror(errno));
		goto out;
	}
	if (!pid) {
		int null = open("/dev/null", O_RDWR);

		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
		}
		execl(gnuplot, "gnuplot", script, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		r = -EIO;
		snprintf(err, errlen, "gnuplot failed (%s %d)", WIFEXITED(status) ?
			 "exit status" : "signal", WIFEXITED(status) ? WEXITSTATUS(status) :
			 WTERMSIG(status));
		goto out;
	}
	if (fsync(ofd) || fchmod(ofd, 0644) || rename(tmp, file)) {
		r = -errno;
		snprintf(err, errlen, "--svg %s: %s", file, strerror(errno));
	}
out:
	if (f)
		fclose(f);
	if (sfd >= 0)
		close(sfd);
	unlink(script);
	close(ofd);
	if (r)
		unlink(tmp);
	return r;
}

int km_plot_svg(const char *gnuplot, const char *file, const struct km_plot_data *d,
		char *err, size_t errlen)
{
	return plot_run(gnuplot, file, plot_script, d, err, errlen);
}

int km_plot_rounds_svg(const char *gnuplot, const char *file, const struct km_plot_rounds *d,
		       char *err, size_t errlen)
{
	return plot_run(gnuplot, file, plot_rounds_script, d, err, errlen);
}
