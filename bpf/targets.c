// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Target pid sets (see targets.h). */
#include <stdlib.h>
#include <bpf/bpf.h>
#include "maps.h"
#include "pins.h"
#include "targets.h"

static void append_pid(struct target *t, pid_t pid)
{
	t->pids = grow(t->pids, t->npids, &t->cap, 16, sizeof(*t->pids));
	t->pids[t->npids++] = pid;
}

int find_pid(struct target *t, pid_t pid)
{
	for (int i = 0; i < t->npids; i++)
		if (t->pids[i] == pid)
			return i;
	return -1;
}

void add_pid(int target, pid_t pid)
{
	struct target *t = &targets[target];
	for (int i = 1; i < MAX_TARGETS; i++) { /* a pid belongs to one target */
		int j = i == target ? -1 : find_pid(&targets[i], pid);
		if (j >= 0)
			targets[i].pids[j] = targets[i].pids[--targets[i].npids];
	}
	if (find_pid(t, pid) < 0)
		append_pid(t, pid);
}

bool remove_pid(int target, pid_t pid)
{
	struct target *t = &targets[target];
	int i = find_pid(t, pid);
	if (i < 0)
		return false;
	t->pids[i] = t->pids[--t->npids];
	return true;
}

void rebuild_targets(void)
{
	for (int t = 1; t < MAX_TARGETS; t++) {
		targets[t].npids = 0;
		targets[t].pods = 0;
		targets[t].known = meta_known(t);
	}
	__u64 key, *prev = NULL;
	__u32 pt;
	while (bpf_map_get_next_key(mfd.podcg, prev, &key) == 0) {
		prev = &key;
		if (bpf_map_lookup_elem(mfd.podcg, &key, &pt) == 0 && pt < MAX_TARGETS)
			targets[pt].pods++;
	}
	pid_t *pids;
	int n = tasks_of(-1, &pids);
	for (int i = 0; i < n; i++) {
		struct task_info ti;
		__u32 k = pids[i];
		if (bpf_map_lookup_elem(mfd.tasks, &k, &ti) || !ti.target || ti.target >= MAX_TARGETS)
			continue;
		struct target *t = &targets[ti.target];
		if (!t->known)
			continue; /* a target the loader never announced (cannot happen) */
		append_pid(t, pids[i]);
	}
	free(pids);
}
