/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What every part of the loader uses: logging, the start failure, time,
 * growing arrays, paths, and the one process-wide state (whether the main
 * loop is to end, and how). Each part's own state and interface is in its
 * header (targets.h, pins.h, maps.h, ring.h, records.h, spool.h, ...).
 */
#ifndef VARMOR_LOADER_H
#define VARMOR_LOADER_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>
#include <linux/types.h>
#include "tracer.h"

/* "varmor-tracer: ..." on stderr */
void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* {"t":"error","msg":...} on stdout, flushed: the loader cannot start */
void fatal_json(const char *msg);
/* a failure to start: the message on stderr and as an error record, exit 1 */
void die_load(const char *msg) __attribute__((noreturn));
int64_t now_ms(clockid_t clk);
/* v (an array of *cap elements, n of them used) with room for one more:
 * doubled, from `first` elements; exits when out of memory */
void *grow(void *v, int n, int *cap, int first, size_t size);
/* mkdir -p; 0 or -1 (errno) */
int mkdir_p(const char *dir, mode_t mode);

static inline void path_join(char *out, size_t sz, const char *dir, const char *name)
{
	snprintf(out, sz, "%s/%s", dir, name);
}

/* The main loop ends (quit, EOF, stdout gone, a signal); `release` also ends
 * the generation (unpins). A later quit does not undo a release. */
void loader_quit(bool release);
bool loader_quitting(void);
bool loader_releasing(void);

#endif
