// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Each target's live processes, pods and pending kill (see targets.h). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include "loader.h"
#include "maps.h"
#include "pins.h"
#define RECORDS_GEN_TARGETS
#include "records.gen.h"
#include "targets.h"

static struct target {
	bool known;
	int npids, cap;
	pid_t *pids;
	bool kill_pending;
	int kill_count;
	int64_t kill_deadline_ms;
	int pods; /* entries in `podcg` */
} targets[MAX_TARGETS];

static void append_pid(struct target *t, pid_t pid)
{
	t->pids = grow(t->pids, t->npids, &t->cap, 16, sizeof(*t->pids));
	t->pids[t->npids++] = pid;
}

static int find_pid(const struct target *t, pid_t pid)
{
	for (int i = 0; i < t->npids; i++)
		if (t->pids[i] == pid)
			return i;
	return -1;
}

bool target_known(int target)
{
	return targets[target].known;
}

void target_set_known(int target)
{
	targets[target].known = true;
}

int target_npids(int target)
{
	return targets[target].npids;
}

pid_t target_pid(int target, int i)
{
	return targets[target].pids[i];
}

bool target_has_pid(int target, pid_t pid)
{
	return find_pid(&targets[target], pid) >= 0;
}

bool target_has_pods(int target)
{
	return targets[target].pods > 0;
}

void add_pid(int target, pid_t pid)
{
	for (int i = 1; i < MAX_TARGETS; i++) /* a pid belongs to one target */
		if (i != target)
			drop_pid(i, pid);
	if (find_pid(&targets[target], pid) < 0)
		append_pid(&targets[target], pid);
}

void drop_pid(int target, pid_t pid)
{
	struct target *t = &targets[target];
	int i = find_pid(t, pid);
	if (i >= 0)
		t->pids[i] = t->pids[--t->npids];
}

bool target_exited(int target, pid_t pid)
{
	struct target *t = &targets[target];
	int n = t->npids;
	drop_pid(target, pid);
	return t->npids < n && t->npids == 0;
}

void target_pod_moved(int from, int to)
{
	if (from > 0 && from < MAX_TARGETS)
		targets[from].pods--;
	targets[to].pods++;
}

void target_reset(int target)
{
	struct target *t = &targets[target];
	t->npids = 0;
	t->pods = 0;
	t->known = false;
	t->kill_pending = false;
}

void rebuild_targets(void)
{
	int pods[MAX_TARGETS] = {0};
	podcg_count(pods);
	for (int t = 1; t < MAX_TARGETS; t++) {
		targets[t].npids = 0;
		targets[t].pods = pods[t];
		targets[t].known = meta_known(t);
	}
	pid_t *pids;
	int n = tasks_of(-1, &pids);
	for (int i = 0; i < n; i++) {
		struct task_info ti;
		if (task_lookup(pids[i], &ti) || !ti.target || ti.target >= MAX_TARGETS)
			continue;
		struct target *t = &targets[ti.target];
		if (!t->known)
			continue; /* a target the loader never announced (cannot happen) */
		append_pid(t, pids[i]);
	}
	free(pids);
}

void finish_kill(int target)
{
	struct target *t = &targets[target];
	if (!t->kill_pending)
		return;
	pid_t *pids;
	int n = tasks_of(target, &pids);
	for (int i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	free(pids);
	t->kill_pending = false;
	rec_killed(target);
	killed_pids(t->kill_count);
	rec_end();
}

void kill_refused(int target, const char *err)
{
	rec_killed(target);
	killed_pids(0);
	killed_error(err);
	rec_end();
}

/*
 * Stops a target as a container runtime stops a container: SIGTERM to its
 * root process only (the launched command, the tracked pid), whose own
 * shutdown (telling its workers, waiting for them) is then part of the
 * model; SIGKILL to everything left when the grace period ends. Without a
 * live tracked root, every process gets the SIGTERM.
 */
void kill_target(int target, long grace_ms)
{
	struct target *t = &targets[target];
	pid_t *pids;
	int n = tasks_of(target, &pids), sent = 0;
	pid_t root = meta_root(target);
	bool root_tracked = false;
	for (int i = 0; i < n; i++)
		root_tracked |= root > 0 && pids[i] == root;
	for (int i = 0; i < n; i++)
		if ((!root_tracked || pids[i] == root) && kill(pids[i], SIGTERM) == 0)
			sent++;
	free(pids);
	if (t->kill_pending) /* a second kill restarts the grace period */
		t->kill_count += sent;
	else
		t->kill_count = sent;
	t->kill_pending = true;
	t->kill_deadline_ms = now_ms(CLOCK_MONOTONIC) + (grace_ms > 0 ? grace_ms : 0);
	if (grace_ms <= 0 || n == 0)
		finish_kill(target);
}

int kill_timeout(int64_t now)
{
	int64_t timeout = -1;
	for (int t = 1; t < MAX_TARGETS; t++) {
		if (!targets[t].kill_pending)
			continue;
		int64_t left = targets[t].kill_deadline_ms - now;
		if (left < 0)
			left = 0;
		if (timeout < 0 || left < timeout)
			timeout = left;
	}
	return (int)timeout;
}

void kill_due(int64_t now)
{
	for (int t = 1; t < MAX_TARGETS; t++)
		if (targets[t].kill_pending && now >= targets[t].kill_deadline_ms)
			finish_kill(t);
}
