/* SPDX-License-Identifier: GPL-2.0 */
/* The kmigrate commands: one <name>_main() per file, listed in main.c. */
#ifndef KM_CMDS_H
#define KM_CMDS_H

/* The tool's version (VERSION of the build). */
extern const char km_tool_version[];

int version_main(int argc, char **argv);
int status_main(int argc, char **argv);
int limits_main(int argc, char **argv);
int run_main(int argc, char **argv);
int vms_main(int argc, char **argv);
int pause_main(int argc, char **argv);
int resume_main(int argc, char **argv);
int stop_main(int argc, char **argv);
int vmctl_main(int argc, char **argv);
int listen_main(int argc, char **argv);
int start_main(int argc, char **argv);
int cancel_main(int argc, char **argv);

#endif /* KM_CMDS_H */
