/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Each target's set of live tracked processes (struct target, loader.h). */
#ifndef VARMOR_TARGETS_H
#define VARMOR_TARGETS_H

#include <stdbool.h>
#include <sys/types.h>
#include "loader.h"

/* index of pid in t's set, or -1 */
int find_pid(struct target *t, pid_t pid);
/* pid belongs to target (and to no other target) */
void add_pid(int target, pid_t pid);
/* returns true if pid was in the set */
bool remove_pid(int target, pid_t pid);
/* after adoption: every known target's live pids from the tasks map */
void rebuild_targets(void);

#endif
