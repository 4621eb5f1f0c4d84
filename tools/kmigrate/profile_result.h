/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kmigrate profile --plot-result RESULT.json: a finished migration's
 * round_history (the result of `kmigrate -j start`), as a table and, with
 * --svg, plotted by gnuplot like a profile (profile_plot.h).
 */
#ifndef KM_PROFILE_RESULT_H
#define KM_PROFILE_RESULT_H

/* Reads @file (a result object), prints the rounds (JSON with -j), plots
 * into @svg unless NULL (@gnuplot found).  Returns an exit status:
 * 0, 1 (unreadable, not a result, no round_history, gnuplot failed). */
int km_profile_result(const char *file, const char *svg, const char *gnuplot);

#endif /* KM_PROFILE_RESULT_H */
