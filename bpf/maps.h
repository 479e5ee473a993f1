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

/* The maps the loader uses: from the skeleton, or opened from the state dir's pins. */
struct map_fds {
	int tasks, seen, counts, stats, objs, mntns, events, tracked, podcg;
};

/* after load or adoption: takes the maps (this module owns them from then on),
 * checks that `tracked` can be mapped, reads the `counts` layout */
void maps_setup(const struct map_fds *fds);

/* tracks pid for target (flags TASK_*); 0 or -errno */
int task_insert(pid_t pid, int target, __u32 flags);
void task_delete(pid_t pid);
/* the tasks entry of pid; 0 or -1 */
int task_lookup(pid_t pid, struct task_info *ti);
/* collects the tgids of `target` in the tasks map (all if target < 0) */
int tasks_of(int target, pid_t **out);

/* one target's stats, summed over CPUs */
void read_stats(int target, __u64 out[STAT_MAX]);
/* sums per-CPU counts of one slot into out[MAX_SYSCALLS] */
void read_counts(int slot, __u64 *out);

/* a container's mount namespace: its exec sessions are the target's */
void mntns_add(__u32 inum, int target);
/* a pod cgroup (kernfs id) is the target's; 0, or -1 if the map is full;
 * *old: its earlier target, 0 if none */
int podcg_set(__u64 cgid, int target, __u32 *old);
/* pods[T] += pod cgroups of target T */
void podcg_count(int pods[MAX_TARGETS]);
/* a batch of the object de-dup map (bpf_map_lookup_batch; in NULL: from the start) */
int objs_batch(struct obj_key *in, struct obj_key *out, struct obj_key *keys, struct obj_val *vals, __u32 *count);

/* resets a target's syscall sets, counts, stats, de-dup entries,
 * mount namespaces and pod cgroups (so the id can be reused) */
void clear_target_maps(int target);

#endif
