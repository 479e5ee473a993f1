// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Processes, containers and pods from /proc and cgroupfs (see discovery.h). */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "discovery.h"
#include "loader.h"

/* the fields after the command name in /proc/PID/stat (read into buf); NULL if the process is gone */
static const char *stat_fields(pid_t pid, char *buf, size_t sz)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	ssize_t len = read(fd, buf, sz - 1);
	close(fd);
	if (len <= 0)
		return NULL;
	buf[len] = 0;
	char *rp = strrchr(buf, ')');
	return rp ? rp + 1 : NULL;
}

int proc_table(pid_t **pids, pid_t **ppids)
{
	DIR *d = opendir("/proc");
	int n = 0, cap = 0;
	*pids = *ppids = NULL;
	if (!d)
		return 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		char buf[512];
		pid_t pid = atoi(de->d_name);
		const char *f = stat_fields(pid, buf, sizeof(buf));
		int ppid;
		if (!f || sscanf(f, " %*c %d", &ppid) != 1)
			continue;
		int pcap = cap;
		*pids = grow(*pids, n, &pcap, 1024, sizeof(pid_t));
		*ppids = grow(*ppids, n, &cap, 1024, sizeof(pid_t));
		(*pids)[n] = pid;
		(*ppids)[n] = ppid;
		n++;
	}
	closedir(d);
	return n;
}

bool is_hex(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static char *read_small(const char *path, size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	char *buf = malloc(max + 1);
	size_t len = 0;
	ssize_t n;
	while (buf && len < max && (n = read(fd, buf + len, max - len)) > 0)
		len += n;
	close(fd);
	if (buf)
		buf[len] = 0;
	return buf;
}

/*
 * Finds container ids in a /proc/PID/cgroup text: maximal runs of lowercase
 * hex equal to `id`, or of 64 characters starting with `id` (a prefix of at
 * least 12). Calls found(run, len, line) for each; works for containerd, CRI-O
 * (crio-ID.scope), docker (docker-ID.scope, /docker/ID) and runc (/ID).
 */
static void match_ids(const char *text, const char *id, void (*found)(const char *, size_t, const char *, void *),
		      void *arg)
{
	size_t idlen = strlen(id);
	const char *line = text;
	for (const char *p = text; *p; p++) {
		if (p > text && p[-1] == '\n')
			line = p;
		if (!is_hex(*p) || (p > text && is_hex(p[-1])))
			continue;
		size_t n = 0;
		while (is_hex(p[n]))
			n++;
		if ((n == idlen || (n == 64 && idlen >= 12 && idlen < 64)) && !strncmp(p, id, idlen))
			found(p, n, line, arg);
		p += n - 1;
	}
}

static void on_match(const char *run, size_t n, const char *line, void *arg)
{
	struct cmatch *m = arg;
	if (n > 64)
		return;
	char tmp[65];
	memcpy(tmp, run, n);
	tmp[n] = 0;
	if (!m->distinct) {
		strcpy(m->full, tmp);
		m->distinct = 1;
	} else if (strcmp(m->full, tmp)) {
		m->distinct = 2;
	}
	/* cgroup v2 line "0::/path": remember the path for the cgroup id */
	if (!strncmp(line, "0::", 3) && !m->cgpath[0]) {
		const char *e = strchr(line, '\n');
		size_t l = e ? (size_t)(e - line - 3) : strlen(line + 3);
		if (l < sizeof(m->cgpath)) {
			memcpy(m->cgpath, line + 3, l);
			m->cgpath[l] = 0;
		}
	}
}

bool proc_cgroup_match(pid_t pid, const char *id, struct cmatch *m)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	char *cg = read_small(path, 16384);
	if (!cg)
		return false;
	match_ids(cg, id, on_match, m);
	free(cg);
	return true;
}

unsigned long long proc_start(pid_t pid, pid_t *ppid)
{
	char buf[1024];
	const char *f = stat_fields(pid, buf, sizeof(buf));
	unsigned long long st = 0;
	int pp = 0;
	if (f)
		sscanf(f, " %*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu", &pp, &st);
	if (ppid)
		*ppid = pp;
	return st;
}

bool is_ns_init(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	char *st = read_small(path, 8192);
	bool r = false;
	char *l = st ? strstr(st, "\nNSpid:") : NULL;
	if (l) {
		char *e = strchr(l + 1, '\n');
		if (e)
			*e = 0;
		char *last = strrchr(l, '\t');
		r = last && atoi(last + 1) == 1 && strchr(l + 7, '\t') != last; /* nested: more than one pid */
	}
	free(st);
	return r;
}

int container_members(const char *full, struct cproc **out)
{
	pid_t *pids, *ppids;
	int n = proc_table(&pids, &ppids), m = 0;
	struct cproc *v = calloc(n ? n : 1, sizeof(*v));
	for (int i = 0; i < n; i++) {
		struct cmatch cm = {0};
		if (!proc_cgroup_match(pids[i], full, &cm))
			continue;
		if (cm.distinct && !strcmp(cm.full, full))
			v[m++] = (struct cproc){.pid = pids[i], .ppid = ppids[i]};
	}
	free(pids);
	free(ppids);
	*out = v;
	return m;
}

/* "auto": PODCG_NONE, let the loader choose; the v1 ones are the controller names (the kubelet makes a
 * pod's cgroup in each hierarchy) */
const char *const CG_NAMES[] = {"auto", "v2", "pids", "memory", "cpu"};

/* whether the comma-separated list has the word w */
static bool has_word(const char *list, const char *w)
{
	size_t n = strlen(w);
	for (const char *p = list; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (!strncmp(p, w, n) && (p[n] == ',' || p[n] == 0 || p[n] == ':'))
			return true;
	return false;
}

/* pid's mount namespace is another than ours and its root can be entered */
static bool other_view(pid_t pid)
{
	char ns[64], rt[64];
	struct stat a, b;
	snprintf(ns, sizeof(ns), "/proc/%d/ns/mnt", pid);
	snprintf(rt, sizeof(rt), "/proc/%d/root/", pid);
	return !stat(ns, &a) && !stat("/proc/self/ns/mnt", &b) && a.st_ino != b.st_ino && !access(rt, X_OK);
}

/*
 * Whose mounts show the host's cgroup hierarchies: ours, unless we run in a mount namespace of our
 * own (a pod, whose cgroup mounts show only its own subtree): then pid 1's, or, where pid 1 cannot
 * be read (a VM's init that is not the node's), the kubelet's, which made the pod cgroups. 0: ours.
 */
static pid_t host_view(void)
{
	struct stat a, b;
	if (!stat("/proc/1/ns/mnt", &a) && !stat("/proc/self/ns/mnt", &b) && a.st_ino == b.st_ino)
		return 0;
	if (other_view(1))
		return 1;
	DIR *d = opendir("/proc");
	struct dirent *de;
	pid_t found = 0;
	while (d && !found && (de = readdir(d))) {
		char p[64], comm[32] = "";
		pid_t pid = atoi(de->d_name);
		if (pid <= 1)
			continue;
		snprintf(p, sizeof(p), "/proc/%d/comm", pid);
		FILE *f = fopen(p, "re");
		if (f && fgets(comm, sizeof(comm), f) && !strcmp(comm, "kubelet\n") && other_view(pid))
			found = pid;
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return found;
}

/* the hierarchy pod targets use (enum pod_cgroup_mode) and where it is mounted */
static int cg_mode;
static char cg_root[PATH_MAX];

static int cgroup_hierarchy(int mode, char *root, size_t sz)
{
	static const int order[] = {PODCG_V1_PIDS, PODCG_V1_MEMORY, PODCG_V1_CPU, PODCG_V2};
	char found[PODCG_V1_CPU + 1][512] = {{0}};
	char mnt[512], type[32], opts[1024], host[64] = "", mounts[64] = "/proc/self/mounts";
	pid_t view = host_view();
	if (view) {
		snprintf(host, sizeof(host), "/proc/%d/root", view);
		snprintf(mounts, sizeof(mounts), "/proc/%d/mounts", view);
	}
	FILE *f = fopen(mounts, "re");
	while (f && fscanf(f, "%*s %511s %31s %1023s %*d %*d", mnt, type, opts) == 3) {
		if (!strcmp(type, "cgroup2") && !found[PODCG_V2][0])
			strcpy(found[PODCG_V2], mnt);
		for (int i = 0; i < 3 && !strcmp(type, "cgroup"); i++)
			if (has_word(opts, CG_NAMES[PODCG_V1_PIDS + i]) && !found[PODCG_V1_PIDS + i][0])
				strcpy(found[PODCG_V1_PIDS + i], mnt);
	}
	if (f)
		fclose(f);
	for (int i = 0; i < 4 && mode == PODCG_NONE; i++)
		if (found[order[i]][0])
			mode = order[i];
	if (mode <= PODCG_NONE || mode > PODCG_V1_CPU || !found[mode][0])
		return PODCG_NONE;
	snprintf(root, sz, "%s%s", host, found[mode]);
	return mode;
}

int pod_cgroup_select(int mode)
{
	return cg_mode = cgroup_hierarchy(mode, cg_root, sizeof(cg_root));
}

int pod_cgroup_mode(void)
{
	return cg_mode;
}

const char *pod_cgroup_root(void)
{
	return cg_root;
}

/* A pod's cgroup directory as the kubelet names it: pod<uid> (cgroupfs
 * driver) or ...-pod<uid, '-' as '_'>.slice (systemd driver). uid NULL: any pod. */
static bool is_pod_dir(const char *name, const char *uid)
{
	const char *u = !strncmp(name, "pod", 3) ? name + 3 : strstr(name, "-pod");
	if (!u)
		return false;
	if (u != name + 3)
		u += 4;
	size_t n = strcspn(u, ".");
	if (u[n] && strcmp(u + n, ".slice"))
		return false;
	if (!uid) {
		bool ok = n >= 8;
		for (size_t i = 0; ok && i < n; i++)
			ok = is_hex(u[i]) || u[i] == '-' || u[i] == '_';
		return ok;
	}
	if (n != strlen(uid))
		return false;
	for (size_t i = 0; i < n; i++)
		if (u[i] != uid[i] && !(uid[i] == '-' && u[i] == '_'))
			return false;
	return true;
}

bool find_pod_dir(const char *dir, const char *uid, int depth, char *out, size_t sz)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool found = false;
	while (d && !found && (de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		char sub[PATH_MAX];
		snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
		if (is_pod_dir(de->d_name, uid)) {
			snprintf(out, sz, "%s", sub);
			found = true;
		} else if (depth < 6 && !is_pod_dir(de->d_name, NULL)) {
			found = find_pod_dir(sub, uid, depth + 1, out, sz);
		}
	}
	if (d)
		closedir(d);
	return found;
}

void container_id(const char *name, size_t len, char *out, size_t sz)
{
	for (size_t i = 0; i < len;) {
		size_t n = 0;
		while (i + n < len && is_hex(name[i + n]))
			n++;
		if (n == 64) {
			name += i;
			len = 64;
			break;
		}
		i += n ? n : 1;
	}
	snprintf(out, sz, "%.*s", (int)len, name);
}

bool container_of_pid(pid_t pid, char *out, size_t sz)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	char *cg = read_small(path, 16384);
	bool found = false;
	for (char *line = cg, *next; line && *line && !found; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		/* "ID:CONTROLLERS:PATH"; v2: "0::PATH" */
		char *ctrls = strchr(line, ':');
		char *p = ctrls ? strchr(ctrls + 1, ':') : NULL;
		if (!p || (cg_mode == PODCG_V2 ? p != ctrls + 1 : !has_word(ctrls + 1, CG_NAMES[cg_mode])))
			continue;
		bool in_pod = false;
		for (char *c = strtok(p + 1, "/"); c && !found; c = strtok(NULL, "/")) {
			if (in_pod) {
				container_id(c, strlen(c), out, sz);
				found = true;
			}
			in_pod = is_pod_dir(c, NULL);
		}
	}
	free(cg);
	return found;
}

/* processes in the cgroup `dir` and below it, appended to v */
static void collect_procs(const char *dir, int depth, struct cproc **v, int *n, int *cap)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/cgroup.procs", dir);
	char *procs = read_small(p, 1 << 20);
	for (char *s = procs, *e; s && *s; s = e) {
		pid_t pid = strtol(s, &e, 10), ppid;
		if (e == s)
			break;
		if (!proc_start(pid, &ppid))
			continue; /* gone */
		*v = grow(*v, *n, cap, 16, sizeof(**v));
		(*v)[(*n)++] = (struct cproc){.pid = pid, .ppid = ppid};
	}
	free(procs);
	DIR *d = depth < 8 ? opendir(dir) : NULL;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		collect_procs(p, depth + 1, v, n, cap);
	}
	if (d)
		closedir(d);
}

int cgroup_members(const char *dir, struct cproc **out)
{
	int n = 0, cap = 0;
	*out = NULL;
	collect_procs(dir, 0, out, &n, &cap);
	return n;
}

bool is_pause(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	char *cmd = read_small(path, 64);
	bool r = cmd && !strcmp(cmd, "/pause");
	free(cmd);
	return r;
}
