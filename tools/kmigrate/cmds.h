/* SPDX-License-Identifier: GPL-2.0 */
/* The kmigrate commands: one <name>_main() per file, listed in main.c. */
#ifndef KM_CMDS_H
#define KM_CMDS_H

/* The tool's version (VERSION of the build). */
extern const char km_tool_version[];

int version_main(int argc, char **argv);
int status_main(int argc, char **argv);
int limits_main(int argc, char **argv);

#endif /* KM_CMDS_H */
