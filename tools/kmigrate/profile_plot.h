/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kmigrate profile --svg: the plot of a profile, drawn by gnuplot (the
 * Debian package gnuplot-nox, `make deps`): the dirty rate over time, in
 * total and per vCPU, and the working set against the window length.
 * The SVG is written to a temporary file beside FILE and renamed over it,
 * so FILE is either the whole plot or untouched.
 */
#ifndef KM_PROFILE_PLOT_H
#define KM_PROFILE_PLOT_H

#include <stddef.h>
#include <stdint.h>

struct km_plot_data {
	const char *title;
	uint32_t n;			/* intervals */
	const double *t_s;		/* end of each interval, seconds */
	const double *rate;		/* total pages/s of each interval */
	unsigned int nr_vcpus;		/* 0: no per-vCPU series */
	const double *const *vcpu_rate;	/* [nr_vcpus][n] */
	const double *ws_window_s;	/* [n] window length */
	const uint64_t *ws_pages;	/* [n] */
};

/* One round of a migration's round_history (kmigrate -j start). */
struct km_plot_round {
	uint64_t pages_sent, dirty_pages, link_rate;
	double predicted_ms;
	double actual_ms;		/* < 0: none (a live round) */
	double budget_ms;		/* < 0: none */
	unsigned int guest_speed;	/* % */
	unsigned int kind;		/* 0 live, 1 final, 2 aborted */
};

struct km_plot_rounds {
	const char *title;
	uint32_t n;
	const struct km_plot_round *r;
};

/* The gnuplot program in $PATH, or NULL with a message in @err. */
int km_plot_find(char *path, size_t len, char *err, size_t errlen);
/* Whether FILE's directory takes a new file (before a long measurement). */
int km_plot_check_dest(const char *file, char *err, size_t errlen);
/* Writes the SVG; 0, or -errno with a message in @err. */
int km_plot_svg(const char *gnuplot, const char *file, const struct km_plot_data *d,
		char *err, size_t errlen);

/* The same for a migration's rounds: pages sent and dirty, the link, the
 * predicted pause against the allowed one and the actual pause. */
int km_plot_rounds_svg(const char *gnuplot, const char *file, const struct km_plot_rounds *d,
		       char *err, size_t errlen);

#endif /* KM_PROFILE_PLOT_H */
