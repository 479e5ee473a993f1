/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The command protocol on stdin (one command a line, see README.md). */
#ifndef VARMOR_COMMANDS_H
#define VARMOR_COMMANDS_H

/* runs one command line (modified in place); an empty line is ignored */
void handle_line(char *line);
/* answers a line that is not run (too long, a NUL byte) with `msg`: the reply its verb and target
 * call for, with the error, else a command-error (see README.md) */
void refuse_line(char *line, const char *msg);
/* launched children write their stdout and stderr to fd (default: our stderr) */
void commands_set_output(int fd);

#endif
