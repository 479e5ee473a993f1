// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * varmor-tracer: loads tracer.bpf.c, speaks JSON lines on stdout and takes
 * commands on stdin. The protocol is described in README.md.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "tracer.h"
#include "tracer.skel.h"

#define PROTOCOL_VERSION 1

static struct tracer_bpf *skel;
static struct ring_buffer *rb;
static bool verbose;
static int out_fd = -1; /* where launched children write (dup of fd 3, or -1 = our stderr) */
static int64_t clock_offset_ns; /* CLOCK_REALTIME - CLOCK_BOOTTIME */
static int ncpus;
static bool quitting;

/* Loader-side view of each target: the live tracked tgids (to tell when a
 * target becomes empty and whom to kill) and a pending kill. */
struct target {
	bool known;
	int npids, cap;
	pid_t *pids;
	bool kill_pending;
	int kill_count;
	int64_t kill_deadline_ms;
};
static struct target targets[MAX_TARGETS];

static void logmsg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("varmor-tracer: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	/* silent by default so a load failure is one clear line on stderr;
	 * --verbose shows libbpf's messages including the verifier log */
	if (!verbose)
		return 0;
	return vfprintf(stderr, fmt, args);
}

static int64_t now_ms(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t to_wall_ms(uint64_t boot_ns)
{
	return ((int64_t)boot_ns + clock_offset_ns) / 1000000;
}

/* ---- JSON output ---------------------------------------------------------- */

static void put_hex(const char *key, const void *data, size_t len)
{
	static const char hexd[] = "0123456789abcdef";
	const unsigned char *p = data;
	printf(",\"%s\":\"", key);
	for (size_t i = 0; i < len; i++) {
		putchar(hexd[p[i] >> 4]);
		putchar(hexd[p[i] & 15]);
	}
	putchar('"');
}

static void put_jstr(const char *key, const char *s)
{
	printf(",\"%s\":\"", key);
	for (; *s; s++) {
		unsigned char c = *s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void fatal_json(const char *msg)
{
	printf("{\"t\":\"error\"");
	put_jstr("msg", msg);
	printf("}\n");
	fflush(stdout);
}

static void command_error(const char *msg, const char *line)
{
	printf("{\"t\":\"command-error\"");
	put_jstr("msg", msg);
	put_hex("line_hex", line, strlen(line));
	printf("}\n");
}

/* ---- target pid sets ------------------------------------------------------ */

static int find_pid(struct target *t, pid_t pid)
{
	for (int i = 0; i < t->npids; i++)
		if (t->pids[i] == pid)
			return i;
	return -1;
}

static void add_pid(int target, pid_t pid)
{
	struct target *t = &targets[target];
	for (int i = 1; i < MAX_TARGETS; i++) { /* a pid belongs to one target */
		int j = i == target ? -1 : find_pid(&targets[i], pid);
		if (j >= 0)
			targets[i].pids[j] = targets[i].pids[--targets[i].npids];
	}
	if (find_pid(t, pid) >= 0)
		return;
	if (t->npids == t->cap) {
		int cap = t->cap ? t->cap * 2 : 16;
		pid_t *np = realloc(t->pids, cap * sizeof(*np));
		if (!np) {
			logmsg("out of memory");
			exit(1);
		}
		t->pids = np;
		t->cap = cap;
	}
	t->pids[t->npids++] = pid;
}

/* returns true if pid was in the set */
static bool remove_pid(int target, pid_t pid)
{
	struct target *t = &targets[target];
	int i = find_pid(t, pid);
	if (i < 0)
		return false;
	t->pids[i] = t->pids[--t->npids];
	return true;
}

/* ---- ring buffer records -------------------------------------------------- */

static void finish_kill(int target);

static int on_record(void *ctx, void *data, size_t size)
{
	const struct rec_hdr *h = data;
	if (size < sizeof(*h) || h->target >= MAX_TARGETS)
		return 0;
	int target = h->target;

	switch (h->type) {
	case REC_SYSCALL: {
		const struct syscall_rec *r = data;
		printf("{\"t\":\"syscall\",\"target\":%d,\"nr\":%u,\"ts\":%lld}\n", target, r->nr,
		       (long long)to_wall_ms(h->ts));
		break;
	}
	case REC_EXEC: {
		const struct exec_rec *r = data;
		size_t plen = r->path_len, flen = r->filename_len;
		if (offsetof(struct exec_rec, data) + plen + flen > size)
			return 0;
		printf("{\"t\":\"exec\",\"target\":%d,\"pid\":%u,\"ts\":%lld", target, r->pid,
		       (long long)to_wall_ms(h->ts));
		put_hex("path_hex", r->data, plen);
		put_hex("filename_hex", r->data + plen, flen);
		put_hex("comm_hex", r->comm, strnlen(r->comm, COMM_LEN));
		if (r->flags & EXEC_PATH_TRUNCATED)
			printf(",\"path_truncated\":true");
		printf("}\n");
		break;
	}
	case REC_FORK: {
		const struct fork_rec *r = data;
		if (targets[target].known)
			add_pid(target, r->pid);
		break;
	}
	case REC_EXIT: {
		const struct exit_rec *r = data;
		int st = r->status;
		printf("{\"t\":\"exit\",\"target\":%d,\"pid\":%u,\"ts\":%lld", target, r->pid,
		       (long long)to_wall_ms(h->ts));
		if (WIFSIGNALED(st))
			printf(",\"code\":%d,\"signal\":%d}\n", 128 + WTERMSIG(st), WTERMSIG(st));
		else
			printf(",\"code\":%d}\n", WEXITSTATUS(st));
		if (remove_pid(target, r->pid) && targets[target].npids == 0) {
			printf("{\"t\":\"target-empty\",\"target\":%d}\n", target);
			if (targets[target].kill_pending)
				finish_kill(target);
		}
		break;
	}
	}
	return 0;
}

static void drain(void)
{
	int err = ring_buffer__consume(rb);
	if (err < 0)
		logmsg("ring buffer consume: %s", strerror(-err));
}

/* ---- map helpers ---------------------------------------------------------- */

static int task_insert(pid_t pid, int target, __u32 flags)
{
	struct task_info ti = {.target = target, .flags = flags};
	__u32 key = pid;
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.tasks), &key, &ti, BPF_ANY))
		return -errno;
	return 0;
}

/* collects the tgids of `target` in the tasks map (all if target < 0) */
static int tasks_of(int target, pid_t **out)
{
	int fd = bpf_map__fd(skel->maps.tasks);
	int n = 0, cap = 0;
	pid_t *v = NULL;
	__u32 key, next;
	__u32 *prev = NULL;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct task_info ti;
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &ti) || (target >= 0 && (int)ti.target != target))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			v = realloc(v, cap * sizeof(*v));
			if (!v)
				exit(1);
		}
		v[n++] = key;
	}
	*out = v;
	return n;
}

static void read_stats(__u64 out[STAT_MAX])
{
	__u64 vals[ncpus];
	for (__u32 k = 0; k < STAT_MAX; k++) {
		out[k] = 0;
		if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.stats), &k, vals))
			continue;
		for (int c = 0; c < ncpus; c++)
			out[k] += vals[c];
	}
}

/* sums per-CPU counts of one target into out[MAX_SYSCALLS] */
static void read_counts(int target, __u64 *out)
{
	int fd = bpf_map__fd(skel->maps.counts);
	__u64 *vals = calloc((size_t)MAX_SYSCALLS * ncpus, sizeof(__u64));
	__u32 *keys = calloc(MAX_SYSCALLS, sizeof(__u32));
	__u32 in = target * MAX_SYSCALLS - 1, outb; /* batch starts after in_batch */
	__u32 count = MAX_SYSCALLS;
	memset(out, 0, MAX_SYSCALLS * sizeof(__u64));
	DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
	int err = bpf_map_lookup_batch(fd, &in, &outb, keys, vals, &count, &opts);
	if ((err && errno != ENOENT) || count != MAX_SYSCALLS) {
		/* fallback: one lookup per key */
		for (__u32 nr = 0; nr < MAX_SYSCALLS; nr++) {
			__u32 k = target * MAX_SYSCALLS + nr;
			if (bpf_map_lookup_elem(fd, &k, vals))
				continue;
			for (int c = 0; c < ncpus; c++)
				out[nr] += vals[c];
		}
	} else {
		for (__u32 i = 0; i < count; i++) {
			__u32 nr = keys[i] - target * MAX_SYSCALLS;
			if (nr >= MAX_SYSCALLS)
				continue;
			for (int c = 0; c < ncpus; c++)
				out[nr] += vals[(size_t)i * ncpus + c];
		}
	}
	free(vals);
	free(keys);
}

static void clear_target_maps(int target)
{
	struct syscall_bits zero_bits = {0};
	__u32 t = target;
	bpf_map_update_elem(bpf_map__fd(skel->maps.seen), &t, &zero_bits, BPF_ANY);
	__u64 *zeros = calloc(ncpus, sizeof(__u64));
	for (__u32 nr = 0; nr < MAX_SYSCALLS; nr++) {
		__u32 k = target * MAX_SYSCALLS + nr;
		bpf_map_update_elem(bpf_map__fd(skel->maps.counts), &k, zeros, BPF_ANY);
	}
	free(zeros);
}

/* ---- commands ------------------------------------------------------------- */

static int parse_target(const char *s)
{
	char *end;
	long v = strtol(s ? s : "", &end, 10);
	if (!s || !*s || *end || v < 1 || v >= MAX_TARGETS)
		return -1;
	return v;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* decodes hex in place; returns false on bad input */
static bool unhex(char *s)
{
	size_t n = strlen(s);
	if (n % 2)
		return false;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			return false;
		s[i] = hi << 4 | lo;
	}
	s[n / 2] = 0;
	return true;
}

static void launch_failed(int target, const char *err)
{
	printf("{\"t\":\"launch-failed\",\"target\":%d", target);
	put_jstr("error", err);
	printf("}\n");
}

static void cmd_launch(int target, char **argv)
{
	int gate[2], errp[2];
	char msg[256];
	if (pipe2(gate, O_CLOEXEC) || pipe2(errp, O_CLOEXEC)) {
		snprintf(msg, sizeof(msg), "pipe: %s", strerror(errno));
		launch_failed(target, msg);
		return;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(msg, sizeof(msg), "fork: %s", strerror(errno));
		launch_failed(target, msg);
		close(gate[0]), close(gate[1]), close(errp[0]), close(errp[1]);
		return;
	}
	if (pid == 0) {
		sigset_t all;
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		signal(SIGPIPE, SIG_DFL);
		setpgid(0, 0);
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, 0);
		int out = out_fd >= 0 ? out_fd : 2;
		dup2(out, 1);
		if (out != 2)
			dup2(out, 2);
		char c;
		ssize_t n;
		do
			n = read(gate[0], &c, 1);
		while (n < 0 && errno == EINTR);
		if (n != 1)
			_exit(127);
		execvp(argv[0], argv);
		int e = errno;
		if (write(errp[1], &e, sizeof(e)) < 0) {
		}
		_exit(127);
	}
	close(gate[0]);
	close(errp[1]);
	setpgid(pid, pid); /* also from here, so the group exists before we return */
	targets[target].known = true;
	int err = task_insert(pid, target, TASK_ARMED);
	if (err) {
		snprintf(msg, sizeof(msg), "tasks map update: %s", strerror(-err));
		kill(pid, SIGKILL);
		close(gate[1]);
		close(errp[0]);
		launch_failed(target, msg);
		return;
	}
	add_pid(target, pid);
	if (write(gate[1], "g", 1) != 1)
		logmsg("launch: gate write: %s", strerror(errno));
	close(gate[1]);
	int e = 0;
	ssize_t n;
	do
		n = read(errp[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(errp[0]);
	if (n == sizeof(e)) {
		snprintf(msg, sizeof(msg), "execvp: %s", strerror(e));
		launch_failed(target, msg);
	} else {
		printf("{\"t\":\"launched\",\"target\":%d,\"pid\":%d}\n", target, pid);
	}
}

/* ppid of every process, from /proc/PID/stat */
static int proc_table(pid_t **pids, pid_t **ppids)
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
		char path[300], buf[512];
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = 0;
		char *rp = strrchr(buf, ')');
		int ppid;
		if (!rp || sscanf(rp + 1, " %*c %d", &ppid) != 1)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			*pids = realloc(*pids, cap * sizeof(pid_t));
			*ppids = realloc(*ppids, cap * sizeof(pid_t));
			if (!*pids || !*ppids)
				exit(1);
		}
		(*pids)[n] = atoi(de->d_name);
		(*ppids)[n] = ppid;
		n++;
	}
	closedir(d);
	return n;
}

static void cmd_track(int target, pid_t root)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d", root);
	if (root <= 0 || access(path, F_OK)) {
		printf("{\"t\":\"tracked\",\"target\":%d,\"pids\":0,\"error\":\"no such process\"}\n", target);
		return;
	}
	targets[target].known = true;
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
				if (find_pid(&targets[target], pids[i]) >= 0 ||
				    find_pid(&targets[target], ppids[i]) < 0)
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
	struct target *t = &targets[target];
	for (int i = 0; i < t->npids;) {
		snprintf(path, sizeof(path), "/proc/%d", t->pids[i]);
		if (access(path, F_OK)) {
			__u32 k = t->pids[i];
			bpf_map_delete_elem(bpf_map__fd(skel->maps.tasks), &k);
			t->pids[i] = t->pids[--t->npids];
			tracked--;
		} else {
			i++;
		}
	}
	printf("{\"t\":\"tracked\",\"target\":%d,\"pids\":%d}\n", target, tracked);
}

static void finish_kill(int target)
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
	printf("{\"t\":\"killed\",\"target\":%d,\"pids\":%d}\n", target, t->kill_count);
}

static void cmd_kill(int target, long grace_ms)
{
	struct target *t = &targets[target];
	pid_t *pids;
	int n = tasks_of(target, &pids), sent = 0;
	for (int i = 0; i < n; i++)
		if (kill(pids[i], SIGTERM) == 0)
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

static void cmd_untrack(int target)
{
	pid_t *pids;
	int n = tasks_of(target, &pids);
	int fd = bpf_map__fd(skel->maps.tasks);
	for (int i = 0; i < n; i++) {
		__u32 k = pids[i];
		bpf_map_delete_elem(fd, &k);
	}
	free(pids);
	drain(); /* print what the kernel produced for it so far, then forget it */
	struct target *t = &targets[target];
	t->npids = 0;
	t->known = false;
	t->kill_pending = false;
	clear_target_maps(target);
	printf("{\"t\":\"untracked\",\"target\":%d,\"pids\":%d}\n", target, n);
}

static void cmd_flush(const char *token)
{
	drain();
	__u64 *cnt = calloc(MAX_SYSCALLS, sizeof(__u64));
	for (int target = 1; target < MAX_TARGETS; target++) {
		read_counts(target, cnt);
		bool any = false;
		for (int nr = 0; nr < MAX_SYSCALLS && !any; nr++)
			any = cnt[nr] != 0;
		if (!any && !targets[target].known)
			continue;
		printf("{\"t\":\"counts\",\"target\":%d,\"syscalls\":{", target);
		bool first = true;
		for (int nr = 0; nr < MAX_SYSCALLS; nr++) {
			if (!cnt[nr])
				continue;
			printf("%s\"%d\":%llu", first ? "" : ",", nr, (unsigned long long)cnt[nr]);
			first = false;
		}
		printf("}}\n");
	}
	free(cnt);
	__u64 st[STAT_MAX];
	read_stats(st);
	printf("{\"t\":\"stats\",\"ringbuf_dropped\":%llu,\"tasks_full\":%llu,"
	       "\"path_truncated\":%llu,\"records\":%llu}\n",
	       (unsigned long long)st[STAT_RINGBUF_DROPPED], (unsigned long long)st[STAT_TASKS_FULL],
	       (unsigned long long)st[STAT_PATH_TRUNCATED], (unsigned long long)st[STAT_RECORDS]);
	printf("{\"t\":\"flushed\"");
	put_jstr("token", token);
	printf("}\n");
}

static void handle_line(char *line)
{
	char *orig = strdup(line);
	char *argv[1024];
	int argc = 0;
	for (char *tok = strtok(line, " "); tok && argc < 1023; tok = strtok(NULL, " "))
		argv[argc++] = tok;
	argv[argc] = NULL;
	if (argc == 0)
		goto out;
	const char *cmd = argv[0];
	if (!strcmp(cmd, "quit")) {
		quitting = true;
	} else if (!strcmp(cmd, "flush")) {
		cmd_flush(argc > 1 ? argv[1] : "");
	} else if (!strcmp(cmd, "launch")) {
		int t = parse_target(argv[1]);
		bool ok = t > 0 && argc >= 3;
		for (int i = 2; ok && i < argc; i++)
			ok = unhex(argv[i]);
		if (!ok)
			command_error("usage: launch TARGET(1..63) HEXARG0 [HEXARG...]", orig);
		else
			cmd_launch(t, argv + 2);
	} else if (!strcmp(cmd, "track")) {
		int t = parse_target(argv[1]);
		if (t < 0 || argc != 4 || strcmp(argv[2], "pid"))
			command_error("usage: track TARGET(1..63) pid PID", orig);
		else
			cmd_track(t, atoi(argv[3]));
	} else if (!strcmp(cmd, "kill")) {
		int t = parse_target(argv[1]);
		if (t < 0 || argc != 3)
			command_error("usage: kill TARGET(1..63) GRACE_MS", orig);
		else
			cmd_kill(t, atol(argv[2]));
	} else if (!strcmp(cmd, "untrack")) {
		int t = parse_target(argv[1]);
		if (t < 0 || argc != 2)
			command_error("usage: untrack TARGET(1..63)", orig);
		else
			cmd_untrack(t);
	} else {
		command_error("unknown command", orig);
	}
out:
	free(orig);
}

/* ---- main ----------------------------------------------------------------- */

static void die_load(const char *msg)
{
	logmsg("%s", msg);
	fatal_json(msg);
	exit(1);
}

static void reap(void)
{
	int st;
	while (waitpid(-1, &st, WNOHANG) > 0) {
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: varmor-tracer [--ringbuf-kb N] [--verbose]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	/* fd 3, if the caller passed it, is where launched workloads write */
	if (fcntl(3, F_GETFD) >= 0) {
		out_fd = fcntl(3, F_DUPFD_CLOEXEC, 10);
		close(3);
	}
	long ringbuf_kb = 4096;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--ringbuf-kb") && i + 1 < argc) {
			char *end;
			ringbuf_kb = strtol(argv[++i], &end, 10);
			if (*end || ringbuf_kb < 4 || ringbuf_kb > (1 << 20))
				usage();
		} else if (!strcmp(argv[i], "--verbose") || !strcmp(argv[i], "-v")) {
			verbose = true;
		} else {
			usage();
		}
	}
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	signal(SIGPIPE, SIG_IGN);
	libbpf_set_print(libbpf_print);

	if (access("/sys/kernel/btf/vmlinux", R_OK))
		die_load("kernel has no BTF (/sys/kernel/btf/vmlinux missing)");

	struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
	setrlimit(RLIMIT_MEMLOCK, &rl); /* for kernels that still charge memlock */

	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0)
		die_load("cannot determine the number of possible CPUs");

	skel = tracer_bpf__open();
	if (!skel)
		die_load("cannot open BPF object (libbpf)");
	/* ring buffer size must be a power of two number of pages */
	unsigned long rbsz = 4096;
	while (rbsz < (unsigned long)ringbuf_kb * 1024)
		rbsz <<= 1;
	bpf_map__set_max_entries(skel->maps.events, rbsz);

	int err = tracer_bpf__load(skel);
	if (err) {
		char msg[512];
		int e = -err;
		if (e == EPERM || e == EACCES)
			snprintf(msg, sizeof(msg),
				 "cannot load BPF programs: permission denied (needs root or "
				 "CAP_BPF+CAP_PERFMON+CAP_SYS_RESOURCE)");
		else
			snprintf(msg, sizeof(msg),
				 "cannot load BPF programs: %s (needs kernel >= 5.17 with BTF, BPF ring buffer, "
				 "tp_btf and bpf_loop; run with --verbose for libbpf details)",
				 strerror(e));
		die_load(msg);
	}
	err = tracer_bpf__attach(skel);
	if (err) {
		char msg[512];
		int e = -err;
		snprintf(msg, sizeof(msg),
			 (e == EPERM || e == EACCES)
				 ? "cannot attach BPF programs: permission denied (needs root or CAP_BPF+CAP_PERFMON)"
				 : "cannot attach BPF programs: %s (tp_btf tracepoints unavailable?)",
			 strerror(e));
		die_load(msg);
	}
	rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_record, NULL, NULL);
	if (!rb)
		die_load("cannot create ring buffer reader");

	struct timespec rt, bt;
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_BOOTTIME, &bt);
	clock_offset_ns = ((int64_t)rt.tv_sec - bt.tv_sec) * 1000000000LL + (rt.tv_nsec - bt.tv_nsec);

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		die_load("signalfd failed");

	printf("{\"t\":\"ready\",\"version\":%d}\n", PROTOCOL_VERSION);
	fflush(stdout);

	char inbuf[1 << 16];
	size_t inlen = 0;
	bool stdin_open = true;
	while (!quitting) {
		int timeout = -1;
		int64_t now = now_ms(CLOCK_MONOTONIC);
		for (int t = 1; t < MAX_TARGETS; t++) {
			if (!targets[t].kill_pending)
				continue;
			int64_t left = targets[t].kill_deadline_ms - now;
			if (left < 0)
				left = 0;
			if (timeout < 0 || left < timeout)
				timeout = left;
		}
		struct pollfd pfd[3] = {
			{.fd = ring_buffer__epoll_fd(rb), .events = POLLIN},
			{.fd = sfd, .events = POLLIN},
			{.fd = stdin_open ? 0 : -1, .events = POLLIN},
		};
		if (poll(pfd, 3, timeout) < 0 && errno != EINTR) {
			logmsg("poll: %s", strerror(errno));
			break;
		}
		drain();
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGCHLD)
					reap();
				else
					quitting = true;
			}
		}
		if (pfd[2].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(0, inbuf + inlen, sizeof(inbuf) - 1 - inlen);
			if (n <= 0 && !(n < 0 && errno == EINTR)) {
				stdin_open = false;
				quitting = true; /* EOF = quit */
			} else if (n > 0) {
				inlen += n;
				char *start = inbuf, *nl;
				while (!quitting && (nl = memchr(start, '\n', inbuf + inlen - start))) {
					*nl = 0;
					if (nl > start && nl[-1] == '\r')
						nl[-1] = 0;
					handle_line(start);
					start = nl + 1;
				}
				inlen -= start - inbuf;
				memmove(inbuf, start, inlen);
				if (inlen == sizeof(inbuf) - 1) {
					command_error("line too long", "");
					inlen = 0;
				}
			}
		}
		now = now_ms(CLOCK_MONOTONIC);
		for (int t = 1; t < MAX_TARGETS; t++)
			if (targets[t].kill_pending && now >= targets[t].kill_deadline_ms)
				finish_kill(t);
		fflush(stdout);
	}
	drain();
	fflush(stdout);
	ring_buffer__free(rb);
	tracer_bpf__destroy(skel);
	return 0;
}
