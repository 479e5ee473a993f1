/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Each target's loader-side state, owned here: whether it is in use
 * (launched or tracked), its live tracked tgids (to tell when it becomes
 * empty and whom to kill), its pod cgroups and a pending `kill`.
 */
#ifndef VARMOR_TARGETS_H
#define VARMOR_TARGETS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* launched or tracked (also after a restart, from meta) */
bool target_known(int target);
void target_set_known(int target);
int target_npids(int target);
/* its i-th live pid (0 <= i < target_npids) */
pid_t target_pid(int target, int i);
bool target_has_pid(int target, pid_t pid);
/* pid belongs to target (and to no other target) */
void add_pid(int target, pid_t pid);
/* a pid that is not there after all (exited before it was in the tasks map) */
void drop_pid(int target, pid_t pid);
/* a tracked process exited; true when it was the target's last one */
bool target_exited(int target, pid_t pid);
/* a pod cgroup entry moved from target `from` (0: none) to `to` */
void target_pod_moved(int from, int to);
/* has pod cgroups: it does not end when it has no process (its pod may start containers again) */
bool target_has_pods(int target);
/* the target is given back: nothing of it is kept */
void target_reset(int target);
/* after adoption: every known target's live pids and pods from the maps */
void rebuild_targets(void);

/* `kill T GRACE_MS`: SIGTERM to the root (see targets.c), SIGKILL after the grace period */
void kill_target(int target, long grace_ms);
/* a pending kill of target ends: SIGKILL to what is left, reply `killed` */
void finish_kill(int target);
/* the reply to a `kill` that is not run: {"t":"killed","target":T,"pids":0,"error":ERR} */
void kill_refused(int target, const char *err);
/* ms until the next pending kill is due, -1 if none is */
int kill_timeout(int64_t now);
/* finishes the pending kills that are due */
void kill_due(int64_t now);

#endif
