/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The loader's shared state, all of it defined in tracer.c, and the few
 * helpers every part of the loader uses. Each part's own interface is in its
 * header (json.h, resolver.h, records.h, maps.h, tallies.h, spool.h, pins.h,
 * targets.h, discovery.h, track.h, commands.h).
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

/* The maps the loader uses: from the skeleton, or opened from the state dir's pins. */
struct map_fds {
	int tasks, seen, counts, stats, objs, mntns, events, tracked, podcg;
};
extern struct map_fds mfd;

/* Loader-side view of each target: the live tracked tgids (to tell when a
 * target becomes empty and whom to kill) and a pending kill. */
struct target {
	bool known;
	int npids, cap;
	pid_t *pids;
	bool kill_pending;
	int kill_count;
	int64_t kill_deadline_ms;
	int pods; /* entries in `podcg`: a pod target does not end when it has no process */
};
extern struct target targets[MAX_TARGETS];

/* value of the pinned `meta` array map (created by the loader, not used by the programs) */
struct state_meta {
	char magic[8];
	__u32 layout;
	__u32 nlinks;
	__u8 generation[16];
	__u64 known[MAX_TARGETS / 64]; /* bit T: target T has been launched or tracked */
	__u32 root[MAX_TARGETS];       /* launched pid, tracked root pid or container init of each target */
	char key[MAX_TARGETS][ATTACH_KEY_MAX + 8]; /* the run that attached it (NUL-terminated), or "" */
	__u64 created_ms;
	__u32 pod_cgroup;         /* enum pod_cgroup_mode the programs were loaded with */
	__u32 pad;
};
extern struct state_meta meta; /* kept without a state dir too (roots for `kill`) */

extern const char *state_dir, *spool_dir; /* NULL without --state-dir */
extern bool adopted;                      /* the programs came from the state dir's pins */
extern char generation_hex[33];
extern bool quitting, releasing; /* leave the main loop; and end the generation (release) */
extern int ncpus;                /* possible CPUs: values per per-CPU map key */
extern int out_fd;               /* where launched children write (dup of fd 3, or -1 = our stderr) */
/* the cgroup hierarchy pod targets use (enum pod_cgroup_mode) and where it is mounted */
extern int cg_mode;
extern char cg_root[PATH_MAX];

/* "varmor-tracer: ..." on stderr */
void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* a failure to start: the message on stderr and as an error record, exit 1 */
void die_load(const char *msg) __attribute__((noreturn));
int64_t now_ms(clockid_t clk);
/* v (an array of *cap elements, n of them used) with room for one more:
 * doubled, from `first` elements; exits when out of memory */
void *grow(void *v, int n, int *cap, int first, size_t size);

static inline void path_join(char *out, size_t sz, const char *dir, const char *name)
{
	snprintf(out, sz, "%s/%s", dir, name);
}

#endif
