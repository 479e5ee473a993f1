/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The loader's side of the kernel maps: tracked processes (`tasks` and its
 * `tracked` byte mirror), syscall counts, stats, and forgetting a target.
 */
#ifndef VARMOR_MAPS_H
#define VARMOR_MAPS_H

#include <sys/types.h>
#include <linux/types.h>
#include "tracer.h"

/* after load or adoption: checks that `tracked` can be mapped, reads the `counts` layout */
void maps_setup(void);

/* tracks pid for target (flags TASK_*); 0 or -errno */
int task_insert(pid_t pid, int target, __u32 flags);
void task_delete(pid_t pid);
/* collects the tgids of `target` in the tasks map (all if target < 0) */
int tasks_of(int target, pid_t **out);

/* one target's stats, summed over CPUs */
void read_stats(int target, __u64 out[STAT_MAX]);
/* sums per-CPU counts of one slot into out[MAX_SYSCALLS] */
void read_counts(int slot, __u64 *out);

/* resets a target's syscall sets, counts, stats, de-dup entries, tallies,
 * mount namespaces and pod cgroups (so the id can be reused) */
void clear_target_maps(int target);

#endif
