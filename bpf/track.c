// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Tracking existing processes, containers and pods (see track.h). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "discovery.h"
#include "json.h"
#include "loader.h"
#include "maps.h"
#include "pins.h"
#define RECORDS_GEN_TRACK
#include "records.gen.h"
#include "targets.h"
#include "track.h"

void track_refused(int target, const char *err)
{
	rec_tracked(target);
	tracked_pids(0);
	tracked_error(err);
	rec_end();
}

void cmd_track(int target, pid_t root)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d", root);
	if (root <= 0 || access(path, F_OK)) {
		track_refused(target, "no such process");
		return;
	}
	target_set_known(target);
	set_root(target, root);
	/* the root first: from then on the kernel adds its new children itself;
	 * then sweep existing descendants until a sweep finds nothing new */
	int tracked = 0;
	if (task_insert(root, target, 0) == 0) {
		add_pid(target, root);
		tracked++;
	}
	for (int round = 0; round < 4; round++) {
		pid_t *pids, *ppids;
		int n = proc_table(&pids, &ppids), added = 0;
		bool grew = true;
		while (grew) {
			grew = false;
			for (int i = 0; i < n; i++) {
				if (target_has_pid(target, pids[i]) || !target_has_pid(target, ppids[i]))
					continue;
				if (task_insert(pids[i], target, 0) == 0) {
					add_pid(target, pids[i]);
					tracked++;
					added++;
					grew = true;
				}
			}
		}
		free(pids);
		free(ppids);
		if (!added)
			break;
	}
	/* drop pids that exited before they were in the map (no exit record) */
	for (int i = 0; i < target_npids(target);) {
		pid_t pid = target_pid(target, i);
		snprintf(path, sizeof(path), "/proc/%d", pid);
		if (access(path, F_OK)) {
			task_delete(pid);
			drop_pid(target, pid);
			tracked--;
		} else {
			i++;
		}
	}
	rec_tracked(target);
	tracked_pids(tracked);
	rec_end();
}

/* what tracking one container found */
struct ctrack {
	pid_t init;
	__u32 inum; /* its mount namespace */
	int tracked, sessions;
};

/*
 * Tracks the processes of one container (`members` lists them by `key`) and
 * registers its mount namespace so that processes entering it later are
 * tracked as exec sessions. The init is the member that is pid 1 of its pid
 * namespace (else the oldest root); members whose parent is outside the
 * container and that are not the init are sessions.
 */
static void track_members(int target, int (*members)(const char *key, struct cproc **out), const char *key,
			  struct ctrack *r)
{
	/* two rounds: before and after the mount namespace is registered, so a
	 * process that joins in between is still found */
	pid_t init = 0;
	for (int round = 0; round < 2; round++) {
		struct cproc *v;
		int m = members(key, &v);
		if (!init) { /* the container's init: pid 1 of its pid namespace, else the oldest root */
			unsigned long long best = ~0ULL;
			for (int i = 0; i < m; i++) {
				bool root = true;
				for (int j = 0; j < m && root; j++)
					root = v[j].pid != v[i].ppid;
				if (!root)
					continue;
				if (is_ns_init(v[i].pid)) {
					init = v[i].pid;
					break;
				}
				unsigned long long st = proc_start(v[i].pid, NULL);
				if (st < best) {
					best = st;
					init = v[i].pid;
				}
			}
		}
		/* already tracked ones keep their kind; propagate down the tree */
		for (int i = 0; i < m; i++) {
			if (target_has_pid(target, v[i].pid))
				v[i].tracked = -1; /* known from an earlier round */
		}
		bool grew = true;
		while (grew) {
			grew = false;
			for (int i = 0; i < m; i++) {
				if (v[i].tracked)
					continue;
				int kind = 0;
				if (v[i].pid == init)
					kind = 1;
				for (int j = 0; j < m && !kind; j++)
					if (v[j].pid == v[i].ppid)
						kind = v[j].tracked > 0 ? v[j].tracked : v[j].tracked < 0 ? -2 : 0;
				if (kind == -2) { /* parent tracked in an earlier round: ask the map */
					struct task_info ti;
					kind = task_lookup(v[i].ppid, &ti) == 0 &&
							       (ti.flags & TASK_SESSION)
						       ? 2
						       : 1;
				}
				bool is_root = true;
				for (int j = 0; j < m && is_root; j++)
					is_root = v[j].pid != v[i].ppid;
				if (!kind && is_root)
					kind = 2; /* entered from outside: an exec session */
				if (!kind)
					continue;
				v[i].tracked = kind;
				grew = true;
				if (task_insert(v[i].pid, target, kind == 2 ? TASK_SESSION : 0) == 0) {
					add_pid(target, v[i].pid);
					r->tracked++;
					r->sessions += kind == 2;
				}
			}
		}
		free(v);
		if (round == 0 && init) {
			char p[64];
			snprintf(p, sizeof(p), "/proc/%d/ns/mnt", init);
			struct stat sb;
			if (stat(p, &sb) == 0) {
				r->inum = sb.st_ino;
				mntns_add(r->inum, target);
			}
		}
	}
	r->init = init;
}

void cmd_track_container(int target, const char *id)
{
	size_t idlen = strlen(id);
	bool ok = idlen >= 12 && idlen <= 64;
	for (size_t i = 0; ok && i < idlen; i++)
		ok = is_hex(id[i]);
	if (!ok) {
		track_refused(target, "container id must be 12..64 lowercase hex digits");
		return;
	}
	/* resolve the id (full, or a unique prefix) over every process's cgroup */
	pid_t *pids, *ppids;
	int n = proc_table(&pids, &ppids);
	struct cmatch cm = {0};
	char found[65] = "";
	int distinct = 0;
	for (int i = 0; i < n && distinct < 2; i++) {
		struct cmatch one = {0};
		if (!proc_cgroup_match(pids[i], id, &one) || !one.distinct)
			continue;
		if (one.distinct > 1 || (distinct && strcmp(found, one.full))) {
			distinct = 2;
			break;
		}
		if (!distinct) {
			strcpy(found, one.full);
			cm = one;
		}
		distinct = 1;
	}
	free(pids);
	free(ppids);
	if (distinct != 1) {
		track_refused(target, distinct ? "ambiguous container id" : "no such container");
		return;
	}
	target_set_known(target);
	unsigned long long cgid = 0;
	struct stat sb;
	if (cm.cgpath[0]) {
		char p[600];
		snprintf(p, sizeof(p), "/sys/fs/cgroup%s", cm.cgpath);
		if (stat(p, &sb) == 0)
			cgid = sb.st_ino;
	}
	struct ctrack r = {0};
	track_members(target, container_members, found, &r);
	set_root(target, r.init);
	rec_tracked(target);
	tracked_pids(r.tracked);
	tracked_container(found);
	tracked_init(r.init);
	tracked_sessions(r.sessions);
	tracked_mntns(r.inum);
	tracked_cgroup_id(cgid);
	rec_end();
}

/*
 * `track T pod UID`: the pod's cgroup goes into `podcg` first, so the kernel
 * adds every container that starts from then on; then the running containers
 * (the cgroups below the pod's) are tracked as `track T container` does,
 * except the sandbox.
 */
void cmd_track_pod(int target, const char *uid)
{
	size_t n = strlen(uid);
	bool ok = n >= 8 && n <= 64;
	for (size_t i = 0; ok && i < n; i++)
		ok = is_hex(uid[i]) || uid[i] == '-';
	const char *err = !ok			  ? "pod uid must be 8..64 lowercase hex digits and dashes"
			  : pod_cgroup_mode() == PODCG_NONE ? "no cgroup hierarchy for pods (v1 pids, memory or cpu, or v2) is mounted"
						  : NULL;
	char dir[PATH_MAX];
	struct stat sb;
	if (!err && (!find_pod_dir(pod_cgroup_root(), uid, 0, dir, sizeof(dir)) || stat(dir, &sb)))
		err = "no such pod";
	__u64 key = err ? 0 : sb.st_ino; /* the inode number of a cgroup directory is its kernfs id */
	__u32 old = 0;
	if (!err && podcg_set(key, target, &old))
		err = "too many pods (podcg map full)";
	if (err) {
		track_refused(target, err);
		return;
	}
	if (old != (__u32)target) /* the latest track wins, as for pids */
		target_pod_moved(old, target);
	target_set_known(target);

	int tracked = 0, sessions = 0, nids = 0;
	pid_t root = 0;
	char sandbox[256] = "", (*ids)[256] = NULL;
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		char sub[PATH_MAX], id[256];
		if (snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name) >= (int)sizeof(sub))
			continue;
		container_id(de->d_name, strlen(de->d_name), id, sizeof(id));
		struct cproc *v;
		int m = cgroup_members(sub, &v);
		bool pause = false;
		for (int i = 0; i < m && !pause; i++)
			pause = is_pause(v[i].pid);
		free(v);
		if (pause)
			strcpy(sandbox, id);
		if (pause || !m)
			continue; /* the sandbox, or a cgroup left by an exited container */
		struct ctrack r = {0};
		track_members(target, cgroup_members, sub, &r);
		tracked += r.tracked;
		sessions += r.sessions;
		if (!root)
			root = r.init;
		ids = realloc(ids, (nids + 1) * sizeof(*ids));
		if (!ids)
			exit(1);
		strcpy(ids[nids++], id);
	}
	if (d)
		closedir(d);
	set_root(target, root);
	rec_tracked(target);
	tracked_pids(tracked);
	tracked_sessions(sessions);
	tracked_pod(uid);
	tracked_cgroup(dir);
	tracked_cgroup_id(key);
	tracked_containers_begin();
	for (int i = 0; i < nids; i++)
		tracked_containers_item(i == 0, ids[i]);
	tracked_containers_end();
	if (sandbox[0])
		tracked_sandbox(sandbox);
	rec_end();
	free(ids);
}
