/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Finding processes, containers and pods: /proc (process table, cgroup
 * membership, start times, pid namespaces) and the cgroup hierarchy pod
 * targets use.
 */
#ifndef VARMOR_DISCOVERY_H
#define VARMOR_DISCOVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* ppid of every process, from /proc/PID/stat */
int proc_table(pid_t **pids, pid_t **ppids);
/* start time of a process (and its ppid if `ppid`), from /proc/PID/stat; 0 if it is gone */
unsigned long long proc_start(pid_t pid, pid_t *ppid);
/* true if the process is pid 1 of its innermost pid namespace (a container's init) */
bool is_ns_init(pid_t pid);
/* lowercase hex digit */
bool is_hex(int c);

/* container ids in a process's cgroups that match an id (or prefix) */
struct cmatch {
	char full[65];
	int distinct; /* 0 none, 1 one id, 2 more than one */
	char cgpath[512]; /* its cgroup v2 path, if any */
};
/* The container ids in /proc/PID/cgroup matching `id`; false if the process is gone. */
bool proc_cgroup_match(pid_t pid, const char *id, struct cmatch *m);

/* a member of a container */
struct cproc {
	pid_t pid, ppid;
	unsigned long long start;
	int tracked; /* 0 no, 1 workload, 2 session */
};
/* members of the container `full`: pids whose cgroup names it */
int container_members(const char *full, struct cproc **out);
/* processes in the cgroup directory `dir` and below it */
int cgroup_members(const char *dir, struct cproc **out);

/* `--pod-cgroup` values by enum pod_cgroup_mode */
extern const char *const CG_NAMES[];
/*
 * Selects the hierarchy pod targets use (kept here from then on): `mode`, or
 * for PODCG_NONE the first mounted of a v1 pids, memory or cpu hierarchy,
 * else the v2 tree (a hybrid host's controllers are in v1). Returns the mode,
 * PODCG_NONE if it is not mounted. The host's mounts are read through pid 1
 * when it is in another mount namespace (the node agent has the host's pids
 * but its own mounts, and its cgroup mount shows only its own cgroup); our
 * own if pid 1's are not readable.
 */
int pod_cgroup_select(int mode);
int pod_cgroup_mode(void);
/* its mount point */
const char *pod_cgroup_root(void);
/* the directory of pod `uid` below `dir` (depth-first, bounded; other pods are not entered) */
bool find_pod_dir(const char *dir, const char *uid, int depth, char *out, size_t sz);
/* a container id from a container cgroup's name: its 64-hex run
 * (cri-containerd-ID.scope, crio-ID.scope, docker-ID.scope, ID), else the name */
void container_id(const char *name, size_t len, char *out, size_t sz);
/* the container (below a pod's cgroup) that pid is in, from /proc/PID/cgroup */
bool container_of_pid(pid_t pid, char *out, size_t sz);
/* the pod sandbox's process: the pause image's /pause (containerd, CRI-O, docker) */
bool is_pause(pid_t pid);

#endif
