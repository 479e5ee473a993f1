/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The command protocol on stdin (one command a line, see README.md). */
#ifndef VARMOR_COMMANDS_H
#define VARMOR_COMMANDS_H

/* runs one command line (modified in place) */
void handle_line(char *line);

/* a pending `kill` of target ends: SIGKILL to what is left, reply `killed` */
void finish_kill(int target);

#endif
