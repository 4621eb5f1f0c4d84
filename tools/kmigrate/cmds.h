/* SPDX-License-Identifier: GPL-2.0 */
/* The kmigrate commands: one <name>_main() per file, listed in main.c. */
#ifndef KM_CMDS_H
#define KM_CMDS_H

#include <stdbool.h>
#include <stdint.h>

/* The tool's version (VERSION of the build). */
extern const char km_tool_version[];

int version_main(int argc, char **argv);
int status_main(int argc, char **argv);
int limits_main(int argc, char **argv);
int monitor_main(int argc, char **argv);
int set_main(int argc, char **argv);
int run_main(int argc, char **argv);
int vms_main(int argc, char **argv);
int pause_main(int argc, char **argv);
int resume_main(int argc, char **argv);
int stop_main(int argc, char **argv);
int vmctl_main(int argc, char **argv);
int listen_main(int argc, char **argv);
int start_main(int argc, char **argv);
int check_main(int argc, char **argv);
int cancel_main(int argc, char **argv);
int console_main(int argc, char **argv);

/* start.c, shared with `status NAME`: one progress line of a
 * {"event":"progress",...} object (on a terminal: rewritten in place). */
struct json_object;
void km_mig_show_progress(struct json_object *st, bool tty, uint32_t *last_round);

#endif /* KM_CMDS_H */
