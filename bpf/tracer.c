// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * varmor-tracer: loads tracer.bpf.c, speaks JSON lines on stdout and takes
 * commands on stdin. The protocol is described in README.md.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <limits.h>
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
#include <arpa/inet.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/openat2.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "ksyms.h"
#include "tracer.h"
#include "tracer.skel.h"

#define PROTOCOL_VERSION 1

static struct tracer_bpf *skel; /* NULL when the programs were adopted from pins */

/* The maps the loader uses: from the skeleton, or opened from the state dir's pins. */
static struct {
	int tasks, seen, counts, stats, objs, mntns, events, tracked, podcg;
} mfd = {-1, -1, -1, -1, -1, -1, -1, -1, -1};

/* the `tracked` map (one byte per tgid: 0, or slot | TRACKED_ARMED). Each
 * tgid owns its byte, so the loader writes it with a plain byte store, as the
 * programs do, through a one-page mmap of the map (a map update would rewrite
 * the whole u64 and could undo a concurrent kernel write of a neighbouring
 * tgid). One page at a time: mapping all 4 MiB would populate them all and
 * count them in the loader's RSS. Writes happen only on track/launch/untrack. */
static long tracked_page;
/* values per `counts` key: ncpus (per-CPU map) or 1 (shared, > COUNTS_PERCPU_MAX_CPUS) */
static int counts_vals = 1;

/* Ring buffer reader (the kernel's mmap layout: consumer page, producer page,
 * data twice). Own reader instead of libbpf's so that the consumer position
 * is advanced only after the records' output reached the spool. */
static struct {
	unsigned long *consumer_pos;
	const unsigned long *producer_pos;
	const char *data;
	unsigned long mask;
	size_t page, data_sz;
} ring;
static bool verbose;
/* the cgroup hierarchy pod targets use (enum pod_cgroup_mode) and where it is mounted */
static int cg_mode;
static char cg_root[PATH_MAX];
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
	int pods; /* entries in `podcg`: a pod target does not end when it has no process */
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

/* a JSON string */
static void put_str(const char *s)
{
	putchar('"');
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

static void put_jstr(const char *key, const char *s)
{
	printf(",\"%s\":", key);
	put_str(s);
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

static const char *const PERM_NAMES[] = {"read",  "write", "append", "create", "exec",  "rename",
					  "link",  "lock",  "mmap",   "chmod",  "chown", "delete"};

/* AppArmor's signal names (apparmor.d(5)), by number (x86/arm generic numbering) */
static const char *const SIG_NAMES[] = {
	NULL,    "hup",  "int",  "quit", "ill",  "trap",   "abrt", "bus",   "fpe",    "kill", "usr1",
	"segv",  "usr2", "pipe", "alrm", "term", "stkflt", "chld", "cont",  "stop",   "stp",  "ttin",
	"ttou",  "urg",  "xcpu", "xfsz", "vtalrm", "prof", "winch", "io",   "pwr",    "sys"};

static const char *const CAP_NAMES[] = {
	"chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid", "setpcap",
	"linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw", "ipc_lock",
	"ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin",
	"sys_boot", "sys_nice", "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease",
	"audit_write", "audit_control", "setfcap", "mac_override", "mac_admin", "syslog", "wake_alarm",
	"block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore"};

struct flag_name {
	unsigned long long bit;
	const char *name;
};
/* mount(2) flags as AppArmor's mount rules spell them */
static const struct flag_name MOUNT_FLAGS[] = {
	{1, "ro"},          {2, "nosuid"},      {4, "nodev"},       {8, "noexec"},
	{16, "sync"},       {32, "remount"},    {64, "mand"},       {128, "dirsync"},
	{1024, "noatime"},  {2048, "nodiratime"}, {4096, "bind"},   {8192, "move"},
	{16384, "rec"},     {32768, "silent"},  {1 << 17, "unbindable"}, {1 << 18, "private"},
	{1 << 19, "slave"}, {1 << 20, "shared"}, {1 << 21, "relatime"}, {1 << 24, "strictatime"},
	{1 << 25, "lazytime"}, {0, NULL}};
static const struct flag_name UMOUNT_FLAGS[] = {
	{1, "force"}, {2, "detach"}, {4, "expire"}, {8, "nofollow"}, {0, NULL}};
static const struct flag_name NS_FLAGS[] = {
	{0x00020000, "mnt"},  {0x02000000, "cgroup"}, {0x04000000, "uts"}, {0x08000000, "ipc"},
	{0x10000000, "user"}, {0x20000000, "pid"},    {0x40000000, "net"}, {0x00000080, "time"},
	{0, NULL}};

static void put_flags(const char *key, unsigned long long v, const struct flag_name *names)
{
	printf(",\"%s\":[", key);
	bool first = true;
	for (const struct flag_name *f = names; f->name; f++) {
		if (!(v & f->bit))
			continue;
		printf("%s\"%s\"", first ? "" : ",", f->name);
		first = false;
		v &= ~f->bit;
	}
	if (v) /* bits without a name, as a number */
		printf("%s\"0x%llx\"", first ? "" : ",", v);
	printf("]");
}

/* Lexically normalises an absolute path in place ("//", ".", ".."); returns the new length. */
static size_t normalise(char *p, size_t len)
{
	size_t out = 0, i = 0;
	while (i < len) {
		while (i < len && p[i] == '/')
			i++;
		size_t start = i;
		while (i < len && p[i] != '/')
			i++;
		size_t n = i - start;
		if (n == 0 || (n == 1 && p[start] == '.'))
			continue;
		if (n == 2 && p[start] == '.' && p[start + 1] == '.') {
			while (out > 0 && p[out - 1] != '/')
				out--;
			if (out > 0)
				out--; /* drop the "/" too; never above the root */
			continue;
		}
		p[out++] = '/';
		memmove(p + out, p + start, n);
		out += n;
	}
	if (out == 0)
		p[out++] = '/';
	return out;
}

/*
 * Symlinked directories inside names (unlink("/data/link/x") with link ->
 * real): the kernel side joins the name as passed; AppArmor mediates
 * /data/real/x. A helper process resolves the directory part inside the
 * process's root: openat2(/proc/PID/root, dir, RESOLVE_IN_ROOT), then
 * chroot to that root and getcwd() in the directory, which is the kernel's
 * own d_path as the process sees it (bind mounts inside a container come
 * out as their mount point). A process of its own, so that the chroot does
 * not touch the loader and a lookup stuck on a dead network file system
 * only costs RESOLVE_TIMEOUT_MS once: the helper is then abandoned and a new
 * one started for the next name. Failures keep the joined, lexically
 * normalised path and mark the record `unresolved`.
 */
#define RESOLVE_TIMEOUT_MS 200
struct resolve_req {
	__u32 pid;
	__u32 target; /* the root of its last live process is kept for when pid is gone */
	__u32 forget; /* 1: drop the target's kept root (target empty), no reply */
	__u32 len;
	char dir[PATH_BUF];
};
struct resolve_rep {
	__s32 err; /* 0 or errno */
	__u32 len;
	char path[PATH_BUF];
};
static int resolver_fd = -1;
static pid_t resolver_pid;
static unsigned long long names_unresolved;

static void resolver_main(int sock)
{
	int proc = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	int hostroot = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	static struct resolve_req q;
	static struct resolve_rep a;
	int roots[MAX_TARGETS];
	for (int i = 0; i < MAX_TARGETS; i++)
		roots[i] = -1;
	for (;;) {
		ssize_t n = recv(sock, &q, sizeof(q), 0);
		if (n <= 0)
			_exit(0);
		q.target &= MAX_TARGETS - 1;
		if (q.forget) {
			if (roots[q.target] >= 0)
				close(roots[q.target]);
			roots[q.target] = -1;
			continue;
		}
		a.err = 0;
		a.len = 0;
		char name[32];
		snprintf(name, sizeof(name), "%u/root", q.pid);
		int root = openat(proc, name, O_PATH | O_DIRECTORY | O_CLOEXEC), d = -1;
		if (root >= 0) {
			if (roots[q.target] >= 0)
				close(roots[q.target]);
			roots[q.target] = dup(root);
		} else if (roots[q.target] >= 0) {
			root = dup(roots[q.target]);
		}
		if (root < 0 || q.len >= PATH_BUF) {
			a.err = root < 0 ? ESRCH : ENAMETOOLONG;
		} else {
			q.dir[q.len] = 0;
			struct open_how how = {.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
					       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
			d = syscall(SYS_openat2, root, q.len ? q.dir : "/", &how, sizeof(how));
			if (d < 0 || fchdir(root) || chroot(".") || fchdir(d) || !getcwd(a.path, sizeof(a.path)))
				a.err = errno ? errno : EIO;
			else
				a.len = strlen(a.path);
			/* hold nothing of the process's file system between requests */
			if (fchdir(hostroot) || chroot("."))
				_exit(1);
		}
		if (d >= 0)
			close(d);
		if (root >= 0)
			close(root);
		if (a.err == 0 && a.path[0] != '/') /* "(unreachable)/...": not below the root */
			a.err = EXDEV;
		if (send(sock, &a, offsetof(struct resolve_rep, path) + a.len, 0) < 0)
			_exit(0);
		errno = 0;
	}
}

static void resolver_start(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return;
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		int devnull = open("/dev/null", O_RDWR);
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(sv[1], 3);
		close_range(4, ~0U, 0); /* no map, link, lock or spool fd of the loader */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		resolver_main(3);
	}
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return;
	}
	resolver_fd = sv[0];
	resolver_pid = pid;
}

static void resolver_stop(void)
{
	if (resolver_fd < 0)
		return;
	kill(resolver_pid, SIGKILL); /* reaped by reap() */
	close(resolver_fd);
	resolver_fd = -1;
}

/* the target is empty: the resolver drops the root it kept for it */
static void resolver_forget(int target)
{
	struct resolve_req q = {.target = target, .forget = 1};
	if (resolver_fd >= 0 && send(resolver_fd, &q, offsetof(struct resolve_req, dir), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		resolver_stop();
}

/* the path of directory `dir` (dlen bytes) as process pid of `target` sees
 * it, into out; its length, -ESRCH if neither pid nor an earlier process of
 * the target could be asked, or -1 */
static int resolve_dir(__u32 pid, int target, const char *dir, size_t dlen, char *out)
{
	static struct resolve_req q;
	static struct resolve_rep a;
	if (resolver_fd < 0)
		resolver_start();
	if (resolver_fd < 0 || dlen >= PATH_BUF)
		return -1;
	q.pid = pid;
	q.target = target;
	q.forget = 0;
	q.len = dlen;
	memcpy(q.dir, dir, dlen);
	if (send(resolver_fd, &q, offsetof(struct resolve_req, dir) + dlen, MSG_NOSIGNAL) < 0) {
		resolver_stop();
		return -1;
	}
	struct pollfd pfd = {.fd = resolver_fd, .events = POLLIN};
	ssize_t n = -1;
	if (poll(&pfd, 1, RESOLVE_TIMEOUT_MS) == 1)
		n = recv(resolver_fd, &a, sizeof(a), 0);
	if (n < (ssize_t)offsetof(struct resolve_rep, path)) {
		logmsg("name resolver %s; starting a new one", n < 0 ? "timed out" : "died");
		resolver_stop();
		return -1;
	}
	if (a.err || a.len >= PATH_BUF || n != (ssize_t)(offsetof(struct resolve_rep, path) + a.len))
		return a.err == ESRCH ? -ESRCH : -1;
	memcpy(out, a.path, a.len);
	return a.len;
}

/*
 * A path made from a name (OBJ_PATH_JOINED): resolve the directories inside
 * the name as passed (the part after name_off up to the last component; with
 * `follow_last` the last component too), then normalise. `data` holds len
 * bytes and has room for PATH_BUF. Returns the new length; *unresolved is
 * set when the directory could not be resolved (process gone, directory
 * removed, not below the root, resolver timeout): the joined path is kept.
 */
static size_t resolve_named(const struct obj_rec *r, char *data, size_t len, bool follow_last, bool *unresolved)
{
	size_t end = len;
	while (end > 1 && data[end - 1] == '/')
		end--;
	size_t cut = end; /* the directory to resolve is data[0, cut) */
	if (!follow_last) {
		while (cut > r->name_off && data[cut - 1] != '/')
			cut--;
		/* no "/" inside the name but a leading one: its directory came
		 * resolved from the kernel, or is the root */
		if (cut <= r->name_off + 1u || (r->flags & (OBJ_PATH_TRUNCATED | OBJ_DISCONNECTED)))
			return normalise(data, len);
		cut--; /* drop the "/" before the last component */
	} else if (end == 1 || (r->flags & (OBJ_PATH_TRUNCATED | OBJ_DISCONNECTED))) {
		return normalise(data, len); /* "/" */
	}
	static char out[2 * PATH_BUF];
	/* short-lived processes (rm, mv, mkdir) are often gone by now: ask a
	 * live process of the same target (which shares its root), else the
	 * root the resolver kept from the target's last resolution */
	const struct target *t = &targets[r->h.target];
	int n = resolve_dir(r->pid, r->h.target, data, cut, out);
	for (int i = 0; n == -ESRCH && i < t->npids && i < 16; i++)
		n = resolve_dir(t->pids[i], r->h.target, data, cut, out);
	if (n < 0 || n + (len - cut) >= PATH_BUF) {
		names_unresolved++;
		*unresolved = true;
		return normalise(data, len);
	}
	memcpy(out + n, data + cut, len - cut); /* "/" + last component (and trailing "/") */
	n += len - cut;
	memcpy(data, out, n);
	return normalise(data, n);
}

static const char *family_name(unsigned fam)
{
	return fam == 1 ? "unix" : fam == 2 ? "inet" : fam == 10 ? "inet6" : "other";
}

/* address part of connect/bind records */
static void put_addr(const struct obj_rec *r, unsigned fam, unsigned port, size_t dlen, char *data)
{
	printf(",\"family\":\"%s\"", family_name(fam));
	if (fam == 2 || fam == 10) {
		char buf[INET6_ADDRSTRLEN] = "";
		if (dlen >= (fam == 2 ? 4u : 16u))
			inet_ntop(fam == 2 ? AF_INET : AF_INET6, data, buf, sizeof(buf));
		printf(",\"address\":\"%s\",\"port\":%u", buf, port);
	} else {
		if (r->flags & OBJ_PATH_JOINED)
			dlen = normalise(data, dlen);
		put_hex("path_hex", data, dlen);
		if (r->flags & OBJ_ABSTRACT)
			printf(",\"abstract\":true");
		if (r->flags & OBJ_UNNAMED)
			printf(",\"unnamed\":true");
	}
}

static void print_obj(int target, const struct obj_rec *r, size_t size)
{
	static const char *const kinds[] = {[REC_FILE] = "file",       [REC_CAP] = "capability", [REC_CAP_NOAUDIT] = "capability",
					    [REC_SOCKET] = "socket",   [REC_CONNECT] = "connect",
					    [REC_BIND] = "bind",       [REC_SIGNAL] = "signal",
					    [REC_PTRACE] = "ptrace",   [REC_MOUNT] = "mount",
					    [REC_NS] = "namespace"};
	size_t dlen = size - offsetof(struct obj_rec, data);
	bool unresolved = false;
	static char data[OBJ_DATA]; /* the ring buffer is mapped read-only: normalise a copy */
	memcpy(data, r->data, dlen);
	printf("{\"t\":\"%s\",\"target\":%d,\"pid\":%u,\"ts\":%lld,\"id\":\"%u:%016llx\"", kinds[r->h.type],
	       target, r->pid, (long long)to_wall_ms(r->h.ts), r->h.type, (unsigned long long)r->id);
	if (r->h.flags & RECF_SESSION)
		printf(",\"session\":\"exec\"");
	switch (r->h.type) {
	case REC_FILE: {
		if (r->flags & OBJ_PATH_JOINED)
			dlen = resolve_named(r, data, dlen, false, &unresolved);
		put_hex("path_hex", data, dlen);
		printf(",\"perms\":[");
		bool first = true;
		for (unsigned i = 0; i < sizeof(PERM_NAMES) / sizeof(*PERM_NAMES); i++)
			if (r->bits & (1u << i)) {
				printf("%s\"%s\"", first ? "" : ",", PERM_NAMES[i]);
				first = false;
			}
		printf("]");
		break;
	}
	case REC_CAP:
	case REC_CAP_NOAUDIT: {
		printf(",\"cap\":%u", r->a);
		if (r->a < sizeof(CAP_NAMES) / sizeof(*CAP_NAMES))
			printf(",\"name\":\"%s\"", CAP_NAMES[r->a]);
		printf(",\"granted\":%s", r->b ? "true" : "false");
		if (r->h.type == REC_CAP_NOAUDIT)
			printf(",\"noaudit\":true");
		__u64 asker = 0;
		memcpy(&asker, data, dlen < sizeof(asker) ? dlen : sizeof(asker));
		char caller[64];
		if (asker && ksyms_name(asker, caller, sizeof(caller)))
			put_jstr("caller", caller);
		break;
	}
	case REC_SOCKET:
		printf(",\"domain\":%u,\"type\":%u,\"protocol\":%u", r->a, r->b, r->c);
		break;
	case REC_CONNECT:
		put_addr(r, r->a, r->b, dlen, data);
		break;
	case REC_BIND:
		printf(",\"op\":\"%s\"", r->a == OP_LISTEN ? "listen" : "bind");
		put_addr(r, r->c, r->b, dlen, data);
		break;
	case REC_SIGNAL:
		printf(",\"sig\":%u", r->a);
		if (r->a < sizeof(SIG_NAMES) / sizeof(*SIG_NAMES) && SIG_NAMES[r->a])
			printf(",\"name\":\"%s\"", SIG_NAMES[r->a]);
		else if (r->a >= 32 && r->a <= 64)
			printf(",\"name\":\"rtmin+%u\"", r->a - 32);
		printf(",\"peer\":\"%s\",\"to\":%u", r->b ? "external" : "self", r->c);
		break;
	case REC_PTRACE: {
		static const char *const ops[] = {[OP_PTRACE] = "ptrace", [OP_VM_READ] = "process_vm_readv",
						  [OP_VM_WRITE] = "process_vm_writev"};
		printf(",\"op\":\"%s\"", ops[r->d <= OP_VM_WRITE ? r->d : OP_PTRACE]);
		if (r->d == OP_PTRACE)
			printf(",\"request\":%u", r->a);
		printf(",\"mode\":\"%s\",\"peer\":\"%s\",\"to\":%u,\"ret\":%d", r->bits & 2 ? "trace" : "read",
		       r->b ? "external" : "self", r->c, r->ret);
		break;
	}
	case REC_MOUNT: {
		static const char *const ops[] = {[OP_MOUNT] = "mount", [OP_UMOUNT] = "umount",
						  [OP_MOVE] = "move_mount", [OP_CLONE] = "open_tree"};
		size_t l1 = r->len1 <= dlen ? r->len1 : dlen;
		size_t l2 = r->len2 <= dlen - l1 ? r->len2 : dlen - l1;
		size_t l3 = r->c <= dlen - l1 - l2 ? r->c : dlen - l1 - l2;
		char fstype[64], source[128];
		memcpy(fstype, data + l1, l2);
		memcpy(source, data + l1 + l2, l3);
		if (r->flags & OBJ_PATH_JOINED) /* mount follows the target's last symlink too */
			l1 = resolve_named(r, data, l1, !(r->a == OP_UMOUNT && (r->d & 8 /* UMOUNT_NOFOLLOW */)),
					   &unresolved);
		printf(",\"op\":\"%s\"", ops[r->a >= OP_MOUNT && r->a <= OP_CLONE ? r->a : OP_MOUNT]);
		put_hex("path_hex", data, l1);
		put_hex("fstype_hex", fstype, l2);
		if (l3)
			put_hex("source_hex", source, l3);
		put_flags("flags", r->d, r->a == OP_UMOUNT ? UMOUNT_FLAGS : MOUNT_FLAGS);
		printf(",\"ret\":%d", r->ret);
		break;
	}
	case REC_NS:
		printf(",\"op\":\"%s\"", r->a == OP_SETNS ? "setns" : "unshare");
		put_flags("types", r->d, NS_FLAGS);
		printf(",\"ret\":%d", r->ret);
		break;
	}
	if (r->flags & OBJ_PATH_TRUNCATED)
		printf(",\"path_truncated\":true");
	if (r->flags & OBJ_DISCONNECTED)
		printf(",\"disconnected\":true");
	if (unresolved)
		printf(",\"unresolved\":true");
	printf("}\n");
}

static bool container_of_pid(pid_t pid, char *out, size_t sz);

static int on_record(void *ctx, void *data, size_t size)
{
	const struct rec_hdr *h = data;
	if (size < sizeof(*h) || h->target >= MAX_TARGETS)
		return 0;
	int target = h->target;

	const char *sess = (h->flags & RECF_SESSION) ? ",\"session\":\"exec\"" : "";

	switch (h->type) {
	case REC_SYSCALL: {
		const struct syscall_rec *r = data;
		printf("{\"t\":\"syscall\",\"target\":%d,\"nr\":%u,\"ts\":%lld%s}\n", target, r->nr,
		       (long long)to_wall_ms(h->ts), sess);
		break;
	}
	case REC_FILE:
	case REC_CAP:
	case REC_CAP_NOAUDIT:
	case REC_SOCKET:
	case REC_CONNECT:
	case REC_BIND:
	case REC_SIGNAL:
	case REC_PTRACE:
	case REC_MOUNT:
	case REC_NS:
		if (size < offsetof(struct obj_rec, data) || size > sizeof(struct obj_rec))
			return 0;
		print_obj(target, data, size);
		break;
	case REC_JOIN: {
		const struct fork_rec *r = data;
		if (targets[target].known)
			add_pid(target, r->pid);
		printf("{\"t\":\"joined\",\"target\":%d,\"pid\":%u,\"ppid\":%u,\"ts\":%lld%s}\n", target, r->pid,
		       r->ppid, (long long)to_wall_ms(h->ts), sess);
		break;
	}
	case REC_CONTAINER: {
		const struct fork_rec *r = data;
		if (targets[target].known)
			add_pid(target, r->pid);
		char id[256];
		printf("{\"t\":\"container-joined\",\"target\":%d,\"pid\":%u,\"ppid\":%u,\"ts\":%lld", target, r->pid,
		       r->ppid, (long long)to_wall_ms(h->ts));
		if (container_of_pid(r->pid, id, sizeof(id)))
			put_jstr("container", id);
		printf("}\n");
		break;
	}
	case REC_EXEC: {
		const struct exec_rec *r = data;
		size_t plen = r->path_len, flen = r->filename_len;
		if (offsetof(struct exec_rec, data) + plen + flen > size)
			return 0;
		printf("{\"t\":\"exec\",\"target\":%d,\"pid\":%u,\"ts\":%lld%s", target, r->pid,
		       (long long)to_wall_ms(h->ts), sess);
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
		printf("{\"t\":\"exit\",\"target\":%d,\"pid\":%u,\"ts\":%lld%s", target, r->pid,
		       (long long)to_wall_ms(h->ts), sess);
		if (WIFSIGNALED(st))
			printf(",\"code\":%d,\"signal\":%d}\n", 128 + WTERMSIG(st), WTERMSIG(st));
		else
			printf(",\"code\":%d}\n", WEXITSTATUS(st));
		if (remove_pid(target, r->pid) && targets[target].npids == 0) {
			if (!targets[target].pods) /* a pod may start containers again */
				printf("{\"t\":\"target-empty\",\"target\":%d}\n", target);
			resolver_forget(target);
			if (targets[target].kill_pending)
				finish_kill(target);
		}
		break;
	}
	}
	return 0;
}

static void spool_commit(void);

/* Consumes every committed record. Without a spool the consumer position
 * advances after each record (as libbpf does); with one, after each batch of
 * `commit_every` ring bytes once that batch's output has been written to the
 * spool, so a record is always in the ring or in the spool. */
static unsigned long commit_every;
static void drain(void)
{
	unsigned long cons = __atomic_load_n(ring.consumer_pos, __ATOMIC_ACQUIRE), done = cons;
	bool more = true;
	while (more) {
		more = false;
		unsigned long prod = __atomic_load_n(ring.producer_pos, __ATOMIC_ACQUIRE);
		while (cons < prod) {
			const __u32 *lenp = (const __u32 *)(ring.data + (cons & ring.mask));
			__u32 len = __atomic_load_n(lenp, __ATOMIC_ACQUIRE);
			if (len & BPF_RINGBUF_BUSY_BIT)
				goto out;
			more = true;
			__u32 n = len & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
			cons += (n + BPF_RINGBUF_HDR_SZ + 7) & ~7UL;
			if (!(len & BPF_RINGBUF_DISCARD_BIT))
				on_record(NULL, (void *)(lenp + 2), n);
			if (cons - done >= commit_every) {
				spool_commit();
				__atomic_store_n(ring.consumer_pos, cons, __ATOMIC_RELEASE);
				done = cons;
			}
		}
	}
out:
	if (cons != done) {
		spool_commit();
		__atomic_store_n(ring.consumer_pos, cons, __ATOMIC_RELEASE);
	}
}

static int ring_open(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	ring.page = sysconf(_SC_PAGESIZE);
	ring.data_sz = info.max_entries;
	ring.mask = info.max_entries - 1;
	void *c = mmap(NULL, ring.page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (c == MAP_FAILED)
		return -errno;
	void *p = mmap(NULL, ring.page + 2 * ring.data_sz, PROT_READ, MAP_SHARED, fd, ring.page);
	if (p == MAP_FAILED)
		return -errno;
	ring.consumer_pos = c;
	ring.producer_pos = p;
	ring.data = (const char *)p + ring.page;
	return 0;
}

/* ---- map helpers ---------------------------------------------------------- */

static void die_load(const char *msg);

static void map_tracked(void)
{
	tracked_page = sysconf(_SC_PAGESIZE);
	void *p = mmap(NULL, tracked_page, PROT_READ | PROT_WRITE, MAP_SHARED, mfd.tracked, 0);
	if (p == MAP_FAILED)
		die_load("cannot mmap the tracked map");
	munmap(p, tracked_page);
}

static int tracked_set(pid_t pid, __u8 v)
{
	if ((__u32)pid >= TRACKED_WORDS * 8)
		return -ERANGE;
	off_t off = (off_t)pid / tracked_page * tracked_page;
	volatile __u8 *p = mmap(NULL, tracked_page, PROT_READ | PROT_WRITE, MAP_SHARED, mfd.tracked, off);
	if (p == MAP_FAILED) {
		int e = errno;
		logmsg("tracked map mmap: %s", strerror(e));
		return -e;
	}
	__atomic_store_n(&p[pid - off], v, __ATOMIC_SEQ_CST);
	munmap((void *)p, tracked_page);
	return 0;
}

/* the byte is written after the entry is in `tasks`, zeroed before the delete */
static int task_insert(pid_t pid, int target, __u32 flags)
{
	struct task_info ti = {.target = target, .flags = flags};
	__u32 key = pid;
	if (bpf_map_update_elem(mfd.tasks, &key, &ti, BPF_ANY))
		return -errno;
	int err = tracked_set(pid, (target & (MAX_TARGETS - 1)) | ((flags & TASK_SESSION) ? SLOT_SESSION : 0) |
					   ((flags & TASK_ARMED) ? TRACKED_ARMED : 0));
	if (err)
		bpf_map_delete_elem(mfd.tasks, &key); /* half-tracked would be silently blind */
	return err;
}

static void task_delete(pid_t pid)
{
	__u32 key = pid;
	tracked_set(pid, 0);
	bpf_map_delete_elem(mfd.tasks, &key);
}

/* collects the tgids of `target` in the tasks map (all if target < 0) */
static int tasks_of(int target, pid_t **out)
{
	int fd = mfd.tasks;
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
		if (bpf_map_lookup_elem(mfd.stats, &k, vals))
			continue;
		for (int c = 0; c < ncpus; c++)
			out[k] += vals[c];
	}
}

/* sums per-CPU counts of one slot into out[MAX_SYSCALLS] */
static void read_counts(int target, __u64 *out)
{
	int fd = mfd.counts;
	int nv = counts_vals;
	__u64 *vals = calloc((size_t)MAX_SYSCALLS * nv, sizeof(__u64));
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
			for (int c = 0; c < nv; c++)
				out[nr] += vals[c];
		}
	} else {
		for (__u32 i = 0; i < count; i++) {
			__u32 nr = keys[i] - target * MAX_SYSCALLS;
			if (nr >= MAX_SYSCALLS)
				continue;
			for (int c = 0; c < nv; c++)
				out[nr] += vals[(size_t)i * nv + c];
		}
	}
	free(vals);
	free(keys);
}

/* ---- object tallies (counts of de-duplicated objects) ---------------------- */

/* last count printed per objs key; open addressing, grows by doubling */
struct tally {
	struct obj_key k;
	__u64 n;
	bool used;
};
static struct tally *tally_tab;
static size_t tally_cap, tally_len;

static size_t tally_slot(const struct obj_key *k, size_t cap)
{
	__u64 h = k->hash ^ ((__u64)k->slot << 32 | k->kind);
	h *= 0x9E3779B97F4A7C15ULL;
	return (h >> 17) & (cap - 1);
}

static struct tally *tally_get(const struct obj_key *k)
{
	if (tally_len * 2 >= tally_cap) {
		size_t cap = tally_cap ? tally_cap * 2 : 4096;
		struct tally *nt = calloc(cap, sizeof(*nt));
		if (!nt)
			exit(1);
		for (size_t i = 0; i < tally_cap; i++) {
			if (!tally_tab[i].used)
				continue;
			size_t j = tally_slot(&tally_tab[i].k, cap);
			while (nt[j].used)
				j = (j + 1) & (cap - 1);
			nt[j] = tally_tab[i];
		}
		free(tally_tab);
		tally_tab = nt;
		tally_cap = cap;
	}
	size_t j = tally_slot(k, tally_cap);
	while (tally_tab[j].used && memcmp(&tally_tab[j].k, k, sizeof(*k)))
		j = (j + 1) & (tally_cap - 1);
	if (!tally_tab[j].used) {
		tally_tab[j].used = true;
		tally_tab[j].k = *k;
		tally_tab[j].n = 0;
		tally_len++;
	}
	return &tally_tab[j];
}

/* forgets the tallies of the slots of `target` (rebuilds the table) */
static void tally_forget(int target)
{
	struct tally *old = tally_tab;
	size_t cap = tally_cap;
	tally_tab = NULL;
	tally_cap = tally_len = 0;
	for (size_t i = 0; i < cap; i++)
		if (old[i].used && (int)(old[i].k.slot & (MAX_TARGETS - 1)) != target)
			tally_get(&old[i].k)->n = old[i].n;
	free(old);
}

/*
 * Prints, per slot, the objects whose kernel count grew since the last flush:
 * {"t":"tallies","target":T,"counts":{"KIND:HASH":N,...}}. N is cumulative.
 * An object evicted from the LRU map restarts at 1 in the kernel; its tally
 * then stays at the highest value printed until it passes it again.
 */
static void print_tallies(void)
{
	int fd = mfd.objs;
	struct obj_key key, next, *prev = NULL;
	bool open_slot[MAX_SLOTS] = {0};
	/* one line per slot: collect per slot by scanning once per slot that has entries */
	char *bufs[MAX_SLOTS] = {0};
	size_t lens[MAX_SLOTS] = {0}, caps[MAX_SLOTS] = {0};
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		struct obj_val v;
		if (bpf_map_lookup_elem(fd, &key, &v) || key.slot >= MAX_SLOTS)
			continue;
		struct tally *t = tally_get(&key);
		if (v.count <= t->n)
			continue;
		t->n = v.count;
		char item[64];
		int n = snprintf(item, sizeof(item), "%s\"%u:%016llx\":%llu", open_slot[key.slot] ? "," : "", key.kind,
				 (unsigned long long)key.hash, (unsigned long long)v.count);
		open_slot[key.slot] = true;
		if (lens[key.slot] + n + 1 > caps[key.slot]) {
			caps[key.slot] = (caps[key.slot] + n + 1) * 2;
			bufs[key.slot] = realloc(bufs[key.slot], caps[key.slot]);
			if (!bufs[key.slot])
				exit(1);
		}
		memcpy(bufs[key.slot] + lens[key.slot], item, n + 1);
		lens[key.slot] += n;
	}
	for (int sl = 0; sl < MAX_SLOTS; sl++) {
		if (!bufs[sl])
			continue;
		printf("{\"t\":\"tallies\",\"target\":%d%s,\"counts\":{%s}}\n", sl & (MAX_TARGETS - 1),
		       sl & SLOT_SESSION ? ",\"session\":\"exec\"" : "", bufs[sl]);
		free(bufs[sl]);
	}
}

/* deletes the entries whose value is `target` from a hash map with keys of up to 8 bytes */
static void delete_entries_of(int fd, int target)
{
	__u64 nk = 0, ck = 0;
	void *np = NULL;
	__u32 t;
	while (bpf_map_get_next_key(fd, np, &nk) == 0) {
		ck = nk;
		if (bpf_map_lookup_elem(fd, &ck, &t) == 0 && (int)t == target) {
			bpf_map_delete_elem(fd, &ck);
			np = NULL; /* restart: the deleted key cannot be a cursor */
		} else {
			np = &ck;
		}
	}
}

static void clear_target_maps(int target)
{
	struct syscall_bits zero_bits = {0};
	__u64 *zeros = calloc(counts_vals, sizeof(__u64));
	for (int sess = 0; sess < 2; sess++) {
		__u32 t = target + (sess ? SLOT_SESSION : 0);
		bpf_map_update_elem(mfd.seen, &t, &zero_bits, BPF_ANY);
		for (__u32 nr = 0; nr < MAX_SYSCALLS; nr++) {
			__u32 k = t * MAX_SYSCALLS + nr;
			bpf_map_update_elem(mfd.counts, &k, zeros, BPF_ANY);
		}
	}
	free(zeros);
	/* de-dup entries of both slots, and mount namespaces of the target */
	int fd = mfd.objs;
	struct obj_key key, next, *prev = NULL;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		if ((int)(key.slot & (MAX_TARGETS - 1)) == target) {
			bpf_map_delete_elem(fd, &key);
			prev = NULL; /* restart: the deleted key cannot be a cursor */
		} else {
			prev = &key;
		}
	}
	tally_forget(target);
	delete_entries_of(mfd.mntns, target);
	delete_entries_of(mfd.podcg, target);
}

/* ---- state dir (pins) and spool -------------------------------------------- */

/*
 * With --state-dir the maps and links live on in a bpffs directory after the
 * loader exits, so a new loader re-adopts them (tracking never stops); every
 * line written to stdout is also appended to a spool file so that output the
 * Node side had not checkpointed yet can be replayed. See README.md.
 */
#define BPF_FS_MAGIC 0xcafe4a11
#define STATE_LAYOUT 3 /* bump when a map or record layout changes (2: one syscall hook, `tracked` bytes, 8-byte task_info; 3: pod cgroups, 9 stats, obj_rec.name_off) */
#define STATE_MAGIC "varmorst"
#define SPOOL_SYNC_MS 100

/* value of the pinned `meta` array map (created by the loader, not used by the programs) */
struct state_meta {
	char magic[8];
	__u32 layout;
	__u32 nlinks;
	__u8 generation[16];
	__u64 known;              /* bit T: target T is in use */
	__u32 root[MAX_TARGETS];  /* launched pid, tracked root pid or container init of each target */
	__u64 created_ms;
	__u32 pod_cgroup;         /* enum pod_cgroup_mode the programs were loaded with */
	__u32 pad;
};

static const char *state_dir, *spool_dir;
static struct state_meta meta;
static int meta_fd = -1;
static bool adopted, releasing;
static char generation_hex[33];
static int spool_fd = -1;
static unsigned long long spool_seq;
static bool spool_dirty, stdout_dead, spool_failed;
static int64_t spool_synced_ms;

static int write_all(int fd, const char *buf, size_t n)
{
	while (n) {
		ssize_t w = write(fd, buf, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += w;
		n -= w;
	}
	return 0;
}

static void spool_sync(bool force)
{
	if (spool_fd < 0 || !spool_dirty)
		return;
	int64_t now = now_ms(CLOCK_MONOTONIC);
	if (!force && now - spool_synced_ms < SPOOL_SYNC_MS)
		return;
	fdatasync(spool_fd);
	spool_dirty = false;
	spool_synced_ms = now;
}

/* stdout in state-dir mode: every write goes to the spool first, then to fd 1 */
static ssize_t out_write(void *cookie, const char *buf, size_t n)
{
	(void)cookie;
	if (spool_fd >= 0) {
		if (write_all(spool_fd, buf, n) < 0 && !spool_failed) {
			spool_failed = true;
			logmsg("spool write failed: %s (records are no longer spooled)", strerror(errno));
		}
		spool_dirty = true;
		spool_sync(false);
	}
	if (!stdout_dead && write_all(1, buf, n) < 0) {
		stdout_dead = true; /* reader gone: hand off like EOF on stdin */
		quitting = true;
	}
	return n;
}

/* called by drain() before it advances the consumer position */
static void spool_commit(void)
{
	if (spool_fd >= 0)
		fflush(stdout);
}

/* a line that must not be spooled (ready, replay markers, released) */
static void emit_direct(const char *line)
{
	fflush(stdout);
	if (!stdout_dead && write_all(1, line, strlen(line)) < 0)
		stdout_dead = true;
}

static void path_join(char *out, size_t sz, const char *dir, const char *name)
{
	snprintf(out, sz, "%s/%s", dir, name);
}

static int mkdir_p(const char *dir, mode_t mode)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s", dir);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, mode) && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, mode) && errno != EEXIST)
		return -1;
	return 0;
}

static bool on_bpffs(const char *path)
{
	struct statfs sf;
	return statfs(path, &sf) == 0 && (unsigned long)sf.f_type == BPF_FS_MAGIC;
}

/* nearest existing ancestor of dir (or dir itself) into out */
static void existing_ancestor(const char *dir, char *out, size_t sz)
{
	snprintf(out, sz, "%s", dir);
	struct stat sb;
	while (stat(out, &sb)) {
		char *sl = strrchr(out, '/');
		if (!sl || sl == out) {
			snprintf(out, sz, "/");
			return;
		}
		*sl = 0;
	}
}

/* Makes sure the state dir's filesystem is bpffs: mounts /sys/fs/bpf if the
 * dir is below it and it is not mounted yet. Returns an error message or NULL. */
static const char *ensure_bpffs(const char *dir)
{
	static char msg[PATH_MAX + 200];
	char anc[PATH_MAX];
	existing_ancestor(dir, anc, sizeof(anc));
	if (on_bpffs(anc))
		return NULL;
	if (!strncmp(dir, "/sys/fs/bpf/", 12) && !on_bpffs("/sys/fs/bpf")) {
		if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700")) {
			snprintf(msg, sizeof(msg), "cannot mount bpffs at /sys/fs/bpf: %s (mount -t bpf bpf /sys/fs/bpf)",
				 strerror(errno));
			return msg;
		}
		logmsg("mounted bpffs at /sys/fs/bpf");
		existing_ancestor(dir, anc, sizeof(anc));
		if (on_bpffs(anc))
			return NULL;
	}
	snprintf(msg, sizeof(msg), "--state-dir %s is not on a bpf filesystem (mount -t bpf bpf /sys/fs/bpf)", dir);
	return msg;
}

/* Default spool dir: the state dir with /sys/fs/bpf/ replaced by /run/. */
static char *default_spool_dir(const char *dir)
{
	if (strncmp(dir, "/sys/fs/bpf/", 12) || !dir[12])
		return NULL;
	char *s = malloc(strlen(dir) + 8);
	sprintf(s, "/run/%s", dir + 12);
	return s;
}

/* Locks the state dir (one loader per state dir). Returns the fd, -1 if it
 * does not exist, -2 if another process holds it. */
static int lock_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		close(fd);
		return -2;
	}
	return fd; /* kept open until exit */
}

/* Removes every entry of a bpffs state dir (meta first, so that an
 * interrupted removal is recognised as incomplete) and the dir. Unpinning a
 * link nobody else holds detaches its program. Returns entries removed. */
static int remove_pins(const char *dir, bool keep_dir)
{
	char p[PATH_MAX];
	int n = 0;
	path_join(p, sizeof(p), dir, "meta");
	if (unlink(p) == 0)
		n++;
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			path_join(p, sizeof(p), dir, de->d_name);
			if (unlink(p) == 0)
				n++;
		}
		closedir(d);
	}
	if (!keep_dir)
		rmdir(dir);
	return n;
}

struct spool_file {
	unsigned long long seq;
	char path[PATH_MAX];
};

static int cmp_spool(const void *a, const void *b)
{
	const struct spool_file *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* spool files (spool.SEQ) in ascending order */
static int spool_list(struct spool_file **out)
{
	int n = 0, cap = 0;
	struct spool_file *v = NULL;
	DIR *d = spool_dir ? opendir(spool_dir) : NULL;
	if (d) {
		struct dirent *de;
		while ((de = readdir(d))) {
			char *end;
			if (strncmp(de->d_name, "spool.", 6))
				continue;
			unsigned long long seq = strtoull(de->d_name + 6, &end, 10);
			if (*end || end == de->d_name + 6)
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				v = realloc(v, cap * sizeof(*v));
				if (!v)
					exit(1);
			}
			v[n].seq = seq;
			path_join(v[n].path, sizeof(v[n].path), spool_dir, de->d_name);
			n++;
		}
		closedir(d);
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_spool);
	*out = v;
	return n;
}

static int remove_spool(const char *dir)
{
	const char *saved = spool_dir;
	spool_dir = dir;
	struct spool_file *v;
	int n = spool_list(&v), removed = 0;
	for (int i = 0; i < n; i++)
		removed += unlink(v[i].path) == 0;
	free(v);
	char p[PATH_MAX];
	path_join(p, sizeof(p), dir, "generation");
	removed += unlink(p) == 0;
	rmdir(dir);
	spool_dir = saved;
	return removed;
}

static void spool_open_next(void)
{
	char p[PATH_MAX], name[40];
	if (spool_fd >= 0) {
		fflush(stdout);
		spool_sync(true);
		close(spool_fd);
	}
	snprintf(name, sizeof(name), "spool.%016llu", ++spool_seq);
	path_join(p, sizeof(p), spool_dir, name);
	spool_fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (spool_fd < 0 && !spool_failed) {
		spool_failed = true;
		logmsg("cannot open spool file %s: %s (records are not spooled)", p, strerror(errno));
	}
}

/* calls fn(line, len, arg) for each complete line of the file; returns lines */
static long for_each_line(const char *path, void (*fn)(const char *, size_t, void *), void *arg)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	long lines = 0;
	for (;;) {
		if (len == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf)
				exit(1);
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* a torn last line (no newline) is ignored */
		len += n;
		char *start = buf, *nl;
		while ((nl = memchr(start, '\n', buf + len - start))) {
			if (fn)
				fn(start, nl + 1 - start, arg);
			lines++;
			start = nl + 1;
		}
		len -= start - buf;
		memmove(buf, start, len);
	}
	free(buf);
	close(fd);
	return lines;
}

static bool is_control_line(const char *l, size_t n)
{
	return (n > 14 && !memcmp(l, "{\"t\":\"flushed\"", 14)) || (n > 19 && !memcmp(l, "{\"t\":\"checkpointed\"", 19));
}

struct replay_ctx {
	char *buf;
	size_t len, cap;
	long records;
};

static void replay_line(const char *l, size_t n, void *arg)
{
	struct replay_ctx *c = arg;
	if (is_control_line(l, n))
		return;
	if (c->len + n > c->cap) {
		if (!stdout_dead && write_all(1, c->buf, c->len) < 0)
			stdout_dead = true;
		c->len = 0;
		if (n > c->cap) {
			if (!stdout_dead && write_all(1, l, n) < 0)
				stdout_dead = true;
			c->records++;
			return;
		}
	}
	memcpy(c->buf + c->len, l, n);
	c->len += n;
	c->records++;
}

/* re-emits the spooled records of earlier loaders (not the current file) */
static void replay_spool(void)
{
	emit_direct("{\"t\":\"replay-begin\"}\n");
	struct spool_file *v;
	int n = spool_list(&v);
	struct replay_ctx c = {.cap = 1 << 16};
	c.buf = malloc(c.cap);
	for (int i = 0; i < n; i++)
		if (v[i].seq < spool_seq)
			for_each_line(v[i].path, replay_line, &c);
	if (c.len && !stdout_dead && write_all(1, c.buf, c.len) < 0)
		stdout_dead = true;
	free(c.buf);
	free(v);
	char end[80];
	snprintf(end, sizeof(end), "{\"t\":\"replay-end\",\"records\":%ld}\n", c.records);
	emit_direct(end);
}

/* last complete line of a file into out (NUL-terminated); false if none */
static bool last_line(const char *path, char *out, size_t sz)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	struct stat sb;
	bool ok = false;
	if (fstat(fd, &sb) == 0 && sb.st_size > 1) {
		off_t want = sz - 1, from = sb.st_size > want ? sb.st_size - want : 0;
		ssize_t n = pread(fd, out, sz - 1, from);
		if (n > 1 && out[n - 1] == '\n') {
			out[n - 1] = 0;
			char *nl = strrchr(out, '\n');
			if (nl)
				memmove(out, nl + 1, strlen(nl + 1) + 1);
			ok = nl || from == 0;
		}
	}
	close(fd);
	return ok;
}

static void jstr(char *out, size_t sz, const char *s)
{
	size_t o = 0;
	for (; *s && o + 8 < sz; s++) {
		unsigned char c = *s;
		if (c == '"' || c == '\\')
			o += snprintf(out + o, sz - o, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			o += snprintf(out + o, sz - o, "\\u%04x", c);
		else
			out[o++] = c;
	}
	out[o] = 0;
}

/* `checkpointed TOKEN`: drops the spool files up to the newest one that ends
 * with the `flushed` marker of TOKEN */
static void cmd_checkpointed(const char *token)
{
	char want[1200], esc[1024], line[1400];
	jstr(esc, sizeof(esc), token);
	snprintf(want, sizeof(want), "{\"t\":\"flushed\",\"token\":\"%s\"}", esc);
	long dropped = 0;
	int files = 0;
	bool found = false;
	if (spool_dir) {
		struct spool_file *v;
		int n = spool_list(&v);
		for (int i = n - 1; i >= 0 && !found; i--) {
			if (v[i].seq >= spool_seq || !last_line(v[i].path, line, sizeof(line)) || strcmp(line, want))
				continue;
			found = true;
			for (int j = 0; j <= i; j++) {
				dropped += for_each_line(v[j].path, NULL, NULL);
				files += unlink(v[j].path) == 0;
			}
		}
		free(v);
	}
	printf("{\"t\":\"checkpointed\"");
	put_jstr("token", token);
	printf(",\"dropped\":%ld,\"files\":%d", dropped, files);
	if (!found && spool_dir)
		printf(",\"error\":\"no flush with this token in the spool\"");
	printf("}\n");
}

static void meta_save(void)
{
	if (meta_fd < 0)
		return;
	__u32 zero = 0;
	if (bpf_map_update_elem(meta_fd, &zero, &meta, BPF_ANY))
		logmsg("meta map update: %s", strerror(errno));
}

static void set_root(int target, pid_t pid)
{
	meta.known |= 1ULL << target;
	meta.root[target] = pid;
	meta_save();
}

static int open_pin(const char *name, enum bpf_map_type type, __u32 ksz, __u32 vsz, const char **err)
{
	static char msg[PATH_MAX + 100];
	char p[PATH_MAX];
	path_join(p, sizeof(p), state_dir, name);
	int fd = bpf_obj_get(p);
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	if (fd < 0) {
		snprintf(msg, sizeof(msg), "pinned map %s: %s", p, strerror(errno));
		*err = msg;
		return -1;
	}
	if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.type != type || info.key_size != ksz ||
	    info.value_size != vsz) {
		snprintf(msg, sizeof(msg), "pinned map %s does not have the expected layout", p);
		*err = msg;
		close(fd);
		return -1;
	}
	return fd;
}

/* Opens the pinned maps of an earlier loader. Returns an error message or NULL. */
static const char *adopt_pins(void)
{
	static char msg[PATH_MAX + 200];
	const char *err = NULL;
	meta_fd = open_pin("meta", BPF_MAP_TYPE_ARRAY, 4, sizeof(struct state_meta), &err);
	if (meta_fd < 0)
		return err;
	__u32 zero = 0;
	if (bpf_map_lookup_elem(meta_fd, &zero, &meta) || memcmp(meta.magic, STATE_MAGIC, 8) ||
	    meta.layout != STATE_LAYOUT) {
		snprintf(msg, sizeof(msg),
			 "state dir %s was made by an incompatible varmor-tracer (release it with --release)", state_dir);
		return msg;
	}
	if ((mfd.tasks = open_pin("map_tasks", BPF_MAP_TYPE_HASH, 4, sizeof(struct task_info), &err)) < 0 ||
	    (mfd.seen = open_pin("map_seen", BPF_MAP_TYPE_ARRAY, 4, sizeof(struct syscall_bits), &err)) < 0 ||
	    (mfd.tracked = open_pin("map_tracked", BPF_MAP_TYPE_ARRAY, 4, 8, &err)) < 0 ||
	    ((mfd.counts = open_pin("map_counts", BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, &err)) < 0 &&
	     (mfd.counts = open_pin("map_counts", BPF_MAP_TYPE_ARRAY, 4, 8, &err)) < 0) ||
	    (mfd.stats = open_pin("map_stats", BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, &err)) < 0 ||
	    (mfd.objs = open_pin("map_objs", BPF_MAP_TYPE_LRU_HASH, sizeof(struct obj_key), sizeof(struct obj_val),
				 &err)) < 0 ||
	    (mfd.mntns = open_pin("map_mntns", BPF_MAP_TYPE_HASH, 4, 4, &err)) < 0 ||
	    (mfd.podcg = open_pin("map_podcg", BPF_MAP_TYPE_HASH, 8, 4, &err)) < 0 ||
	    (mfd.events = open_pin("map_events", BPF_MAP_TYPE_RINGBUF, 0, 0, &err)) < 0)
		return err;
	/* the programs stay attached through their pinned links */
	__u32 links = 0;
	DIR *d = opendir(state_dir);
	struct dirent *de;
	while (d && (de = readdir(d)))
		links += !strncmp(de->d_name, "link_", 5);
	if (d)
		closedir(d);
	if (links != meta.nlinks) {
		snprintf(msg, sizeof(msg), "state dir %s has %u of %u program links (release it with --release)",
			 state_dir, links, meta.nlinks);
		return msg;
	}
	return NULL;
}

/* Pins every map and link of a fresh load, then the meta map (last: its
 * presence marks a complete state dir). Returns an error message or NULL. */
static const char *pin_all(void)
{
	static char msg[PATH_MAX + 200];
	char p[PATH_MAX], name[128];
	struct bpf_map *m;
	bpf_object__for_each_map(m, skel->obj)
	{
		if (strchr(bpf_map__name(m), '.'))
			continue; /* .rodata/.bss: held by the programs */
		snprintf(name, sizeof(name), "map_%s", bpf_map__name(m));
		path_join(p, sizeof(p), state_dir, name);
		if (bpf_map__pin(m, p))
			goto fail;
	}
	const struct bpf_object_skeleton *os = skel->skeleton;
	meta.nlinks = 0;
	for (int i = 0; i < os->prog_cnt; i++) {
		const struct bpf_prog_skeleton *ps = (const void *)((const char *)os->progs + (size_t)i * os->prog_skel_sz);
		if (!*ps->link)
			continue;
		snprintf(name, sizeof(name), "link_%s", ps->name);
		path_join(p, sizeof(p), state_dir, name);
		if (bpf_link__pin(*ps->link, p))
			goto fail;
		meta.nlinks++;
	}
	memcpy(meta.magic, STATE_MAGIC, 8);
	meta.layout = STATE_LAYOUT;
	if (getrandom(meta.generation, sizeof(meta.generation), 0) != sizeof(meta.generation))
		goto fail;
	meta.created_ms = now_ms(CLOCK_REALTIME);
	meta_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "varmor_meta", 4, sizeof(struct state_meta), 1, NULL);
	if (meta_fd < 0)
		goto fail;
	meta_save();
	path_join(p, sizeof(p), state_dir, "meta");
	if (bpf_obj_pin(meta_fd, p))
		goto fail;
	return NULL;
fail:
	snprintf(msg, sizeof(msg), "cannot pin into %s (%s): %s", state_dir, p, strerror(errno));
	remove_pins(state_dir, true);
	return msg;
}

/* Spool dir for this generation: kept (and replayed) on adoption, emptied on a fresh start. */
static void spool_setup(void)
{
	char p[PATH_MAX], buf[64] = "";
	if (mkdir_p(spool_dir, 0700)) {
		logmsg("cannot create spool dir %s: %s (records are not spooled)", spool_dir, strerror(errno));
		spool_failed = true;
		return;
	}
	path_join(p, sizeof(p), spool_dir, "generation");
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = 0;
		close(fd);
	}
	bool same = adopted && !strncmp(buf, generation_hex, 32);
	struct spool_file *v;
	int n = spool_list(&v);
	if (!same && n) {
		if (adopted)
			logmsg("spool in %s belongs to another generation: discarded", spool_dir);
		for (int i = 0; i < n; i++)
			unlink(v[i].path);
		n = 0;
	}
	spool_seq = n ? v[n - 1].seq : 0;
	free(v);
	if (!same) {
		fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0) {
			dprintf(fd, "%s\n", generation_hex);
			fsync(fd);
			close(fd);
		}
	}
	spool_open_next();
}

/* `varmor-tracer --release DIR`: removes a stale state dir and its spool */
static int release_standalone(void)
{
	int fd = lock_dir(state_dir);
	if (fd == -2) {
		logmsg("state dir %s is in use by a running varmor-tracer", state_dir);
		fatal_json("state dir is in use by a running varmor-tracer");
		return 1;
	}
	int pins = fd >= 0 ? remove_pins(state_dir, false) : 0;
	int spooled = spool_dir ? remove_spool(spool_dir) : 0;
	printf("{\"t\":\"released\",\"found\":%s,\"pins\":%d}\n", fd >= 0 || spooled ? "true" : "false", pins);
	return 0;
}

/* after adoption: every known target's live pids from the tasks map */
static void rebuild_targets(void)
{
	for (int t = 1; t < MAX_TARGETS; t++) {
		targets[t].npids = 0;
		targets[t].pods = 0;
		targets[t].known = (meta.known >> t) & 1;
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
		if (t->npids == t->cap) {
			t->cap = t->cap ? t->cap * 2 : 16;
			t->pids = realloc(t->pids, t->cap * sizeof(pid_t));
			if (!t->pids)
				exit(1);
		}
		t->pids[t->npids++] = pids[i];
	}
	free(pids);
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
	set_root(target, pid);
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
			task_delete(t->pids[i]);
			t->pids[i] = t->pids[--t->npids];
			tracked--;
		} else {
			i++;
		}
	}
	printf("{\"t\":\"tracked\",\"target\":%d,\"pids\":%d}\n", target, tracked);
}

/* ---- container targets ------------------------------------------------------ */

static bool is_hex(int c)
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

struct cmatch {
	char full[65];
	int distinct;
	char cgpath[512];
};

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

/* The container ids in /proc/PID/cgroup matching `id` (on_match); false if the process is gone. */
static bool proc_cgroup_match(pid_t pid, const char *id, struct cmatch *m)
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

struct cproc {
	pid_t pid, ppid;
	unsigned long long start;
	int tracked; /* 0 no, 1 workload, 2 session */
};

/* start time of a process (and its ppid if `ppid`), from /proc/PID/stat; 0 if it is gone */
static unsigned long long proc_start(pid_t pid, pid_t *ppid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return 0;
	buf[len] = 0;
	char *rp = strrchr(buf, ')');
	unsigned long long st = 0;
	int pp = 0;
	if (rp)
		sscanf(rp + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu", &pp, &st);
	if (ppid)
		*ppid = pp;
	return st;
}

/* true if the process is pid 1 of its innermost pid namespace (a container's init) */
static bool is_ns_init(pid_t pid)
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

/* members of the container `full`: pids whose cgroup names it */
static int container_members(const char *full, struct cproc **out)
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
			int j = find_pid(&targets[target], v[i].pid);
			if (j >= 0)
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
					__u32 k = v[i].ppid;
					kind = bpf_map_lookup_elem(mfd.tasks, &k, &ti) == 0 &&
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
				__u32 t = target;
				bpf_map_update_elem(mfd.mntns, &r->inum, &t, BPF_ANY);
			}
		}
	}
	r->init = init;
}

static void cmd_track_container(int target, const char *id)
{
	size_t idlen = strlen(id);
	bool ok = idlen >= 12 && idlen <= 64;
	for (size_t i = 0; ok && i < idlen; i++)
		ok = is_hex(id[i]);
	if (!ok) {
		printf("{\"t\":\"tracked\",\"target\":%d,\"pids\":0,\"error\":\"container id must be 12..64 lowercase hex digits\"}\n",
		       target);
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
		printf("{\"t\":\"tracked\",\"target\":%d,\"pids\":0,\"error\":\"%s\"}\n", target,
		       distinct ? "ambiguous container id" : "no such container");
		return;
	}
	targets[target].known = true;
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
	printf("{\"t\":\"tracked\",\"target\":%d,\"pids\":%d,\"container\":\"%s\",\"init\":%d,\"sessions\":%d,"
	       "\"mntns\":%u,\"cgroup_id\":%llu}\n",
	       target, r.tracked, found, r.init, r.sessions, r.inum, cgid);
}

/* ---- pod targets ------------------------------------------------------------ */

/* `--pod-cgroup` values by enum pod_cgroup_mode ("auto": PODCG_NONE, let the
 * loader choose); the v1 ones are the controller names (the kubelet makes a
 * pod's cgroup in each hierarchy) */
static const char *const CG_NAMES[] = {"auto", "v2", "pids", "memory", "cpu"};

/* whether the comma-separated list has the word w */
static bool has_word(const char *list, const char *w)
{
	size_t n = strlen(w);
	for (const char *p = list; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (!strncmp(p, w, n) && (p[n] == ',' || p[n] == 0 || p[n] == ':'))
			return true;
	return false;
}

/*
 * The hierarchy pod targets use, and its mount point into `root`: `mode`, or
 * for PODCG_NONE the first mounted of a v1 pids, memory or cpu hierarchy, else
 * the v2 tree (a hybrid host's controllers are in v1). Returns the mode,
 * PODCG_NONE if it is not mounted. The host's mounts are read through pid 1
 * when it is in another mount namespace (the node agent has the host's pids
 * but its own mounts, and its cgroup mount shows only its own cgroup); our
 * own if pid 1's are not readable.
 */
static int cgroup_hierarchy(int mode, char *root, size_t sz)
{
	static const int order[] = {PODCG_V1_PIDS, PODCG_V1_MEMORY, PODCG_V1_CPU, PODCG_V2};
	char found[PODCG_V1_CPU + 1][512] = {{0}};
	char mnt[512], type[32], opts[1024];
	struct stat a, b;
	const char *host = stat("/proc/1/ns/mnt", &a) || stat("/proc/self/ns/mnt", &b) || a.st_ino == b.st_ino ||
					   access("/proc/1/root/", X_OK)
				   ? ""
				   : "/proc/1/root";
	FILE *f = fopen(*host ? "/proc/1/mounts" : "/proc/self/mounts", "re");
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

/* the directory of pod `uid` below `dir` (depth-first, bounded; other pods are not entered) */
static bool find_pod_dir(const char *dir, const char *uid, int depth, char *out, size_t sz)
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

/* a container id from a container cgroup's name: its 64-hex run
 * (cri-containerd-ID.scope, crio-ID.scope, docker-ID.scope, ID), else the name */
static void container_id(const char *name, size_t len, char *out, size_t sz)
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

/* the container (below a pod's cgroup) that pid is in, from /proc/PID/cgroup */
static bool container_of_pid(pid_t pid, char *out, size_t sz)
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
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 16;
			*v = realloc(*v, *cap * sizeof(**v));
			if (!*v)
				exit(1);
		}
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

static int cgroup_members(const char *dir, struct cproc **out)
{
	int n = 0, cap = 0;
	*out = NULL;
	collect_procs(dir, 0, out, &n, &cap);
	return n;
}

/* the pod sandbox's process: the pause image's /pause (containerd, CRI-O, docker) */
static bool is_pause(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	char *cmd = read_small(path, 64);
	bool r = cmd && !strcmp(cmd, "/pause");
	free(cmd);
	return r;
}

/*
 * `track T pod UID`: the pod's cgroup goes into `podcg` first, so the kernel
 * adds every container that starts from then on; then the running containers
 * (the cgroups below the pod's) are tracked as `track T container` does,
 * except the sandbox.
 */
static void cmd_track_pod(int target, const char *uid)
{
	size_t n = strlen(uid);
	bool ok = n >= 8 && n <= 64;
	for (size_t i = 0; ok && i < n; i++)
		ok = is_hex(uid[i]) || uid[i] == '-';
	const char *err = !ok			  ? "pod uid must be 8..64 lowercase hex digits and dashes"
			  : cg_mode == PODCG_NONE ? "no cgroup hierarchy for pods (v1 pids, memory or cpu, or v2) is mounted"
						  : NULL;
	char dir[PATH_MAX];
	struct stat sb;
	if (!err && (!find_pod_dir(cg_root, uid, 0, dir, sizeof(dir)) || stat(dir, &sb)))
		err = "no such pod";
	__u64 key = err ? 0 : sb.st_ino; /* the inode number of a cgroup directory is its kernfs id */
	__u32 t = target, old = 0;
	bool had = !err && bpf_map_lookup_elem(mfd.podcg, &key, &old) == 0;
	if (!err && bpf_map_update_elem(mfd.podcg, &key, &t, BPF_ANY))
		err = "too many pods (podcg map full)";
	if (err) {
		printf("{\"t\":\"tracked\",\"target\":%d,\"pids\":0", target);
		put_jstr("error", err);
		printf("}\n");
		return;
	}
	if (!had || old != t) { /* the latest track wins, as for pids */
		if (had && old < MAX_TARGETS)
			targets[old].pods--;
		targets[target].pods++;
	}
	targets[target].known = true;

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
	printf("{\"t\":\"tracked\",\"target\":%d,\"pids\":%d,\"sessions\":%d", target, tracked, sessions);
	put_jstr("pod", uid);
	put_jstr("cgroup", dir);
	printf(",\"cgroup_id\":%llu,\"containers\":[", (unsigned long long)key);
	for (int i = 0; i < nids; i++) {
		printf(i ? "," : "");
		put_str(ids[i]);
	}
	printf("]");
	if (sandbox[0])
		put_jstr("sandbox", sandbox);
	printf("}\n");
	free(ids);
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

/*
 * Stops a target as a container runtime stops a container: SIGTERM to its
 * root process only (the launched command, the tracked pid), whose own
 * shutdown (telling its workers, waiting for them) is then part of the
 * model; SIGKILL to everything left when the grace period ends. Without a
 * live tracked root, every process gets the SIGTERM.
 */
static void cmd_kill(int target, long grace_ms)
{
	struct target *t = &targets[target];
	pid_t *pids;
	int n = tasks_of(target, &pids), sent = 0;
	pid_t root = (pid_t)meta.root[target];
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

static void cmd_untrack(int target)
{
	pid_t *pids;
	int n = tasks_of(target, &pids);
	for (int i = 0; i < n; i++)
		task_delete(pids[i]);
	free(pids);
	drain(); /* print what the kernel produced for it so far, then forget it */
	struct target *t = &targets[target];
	t->npids = 0;
	t->pods = 0;
	t->known = false;
	t->kill_pending = false;
	clear_target_maps(target);
	resolver_forget(target);
	meta.known &= ~(1ULL << target);
	meta.root[target] = 0;
	meta_save();
	printf("{\"t\":\"untracked\",\"target\":%d,\"pids\":%d}\n", target, n);
}

static void cmd_flush(const char *token)
{
	drain();
	__u64 *cnt = calloc(MAX_SYSCALLS, sizeof(__u64));
	for (int slot = 1; slot < MAX_SLOTS; slot++) {
		int target = slot & (MAX_TARGETS - 1);
		if (!target)
			continue;
		read_counts(slot, cnt);
		bool any = false;
		for (int nr = 0; nr < MAX_SYSCALLS && !any; nr++)
			any = cnt[nr] != 0;
		if (!any && (slot >= SLOT_SESSION || !targets[target].known))
			continue;
		printf("{\"t\":\"counts\",\"target\":%d%s,\"syscalls\":{", target,
		       slot >= SLOT_SESSION ? ",\"session\":\"exec\"" : "");
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
	print_tallies();
	__u64 st[STAT_MAX];
	read_stats(st);
	printf("{\"t\":\"stats\",\"ringbuf_dropped\":%llu,\"tasks_full\":%llu,"
	       "\"path_truncated\":%llu,\"records\":%llu,\"path_failed\":%llu,\"dedup_full\":%llu,"
	       "\"events\":%llu,\"uring_fixed\":%llu,\"mntns_full\":%llu,\"names_unresolved\":%llu,"
	       "\"cap_noaudit\":%llu,\"cap_slot_miss\":%llu}\n",
	       (unsigned long long)st[STAT_RINGBUF_DROPPED], (unsigned long long)st[STAT_TASKS_FULL],
	       (unsigned long long)st[STAT_PATH_TRUNCATED], (unsigned long long)st[STAT_RECORDS],
	       (unsigned long long)st[STAT_PATH_FAILED], (unsigned long long)st[STAT_DEDUP_FULL],
	       (unsigned long long)st[STAT_EVENTS], (unsigned long long)st[STAT_URING_FIXED],
	       (unsigned long long)st[STAT_MNTNS_FULL], names_unresolved, (unsigned long long)st[STAT_CAP_NOAUDIT],
	       (unsigned long long)st[STAT_CAP_SLOT_MISS]);
	printf("{\"t\":\"flushed\"");
	put_jstr("token", token);
	printf("}\n");
	if (spool_dir)
		spool_open_next(); /* a flush ends a spool file: `checkpointed` drops whole files */
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
		releasing = argc > 1 && !strcmp(argv[1], "release");
	} else if (!strcmp(cmd, "release")) {
		quitting = releasing = true;
	} else if (!strcmp(cmd, "checkpointed")) {
		if (argc != 2)
			command_error("usage: checkpointed TOKEN", orig);
		else
			cmd_checkpointed(argv[1]);
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
		if (t < 0 || argc != 4 || (strcmp(argv[2], "pid") && strcmp(argv[2], "container") && strcmp(argv[2], "pod")))
			command_error("usage: track TARGET(1..63) pid PID | track TARGET container ID | track TARGET pod UID", orig);
		else if (!strcmp(argv[2], "container"))
			cmd_track_container(t, argv[3]);
		else if (!strcmp(argv[2], "pod"))
			cmd_track_pod(t, argv[3]);
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
	fprintf(stderr, "usage: varmor-tracer [--ringbuf-kb N] [--state-dir DIR [--spool-dir DIR]]\n"
			"                     [--pod-cgroup auto|v2|pids|memory|cpu] [--verbose]\n"
			"       varmor-tracer --release DIR [--spool-dir DIR]\n");
	exit(2);
}

/* noaudit callers' text ranges from kallsyms (ksyms_init), for the kernel side */
static __u64 noaudit_lo[NOAUDIT_RANGES], noaudit_hi[NOAUDIT_RANGES];
static int noaudit_ranges;
static __u64 capable_lo[2], capable_hi[2]; /* cap_capable, security_capable */

/* fresh load and attach (the programs start tracking nothing: `tasks` is empty) */
static void load_and_attach(long ringbuf_kb)
{
	skel = tracer_bpf__open();
	if (!skel)
		die_load("cannot open BPF object (libbpf)");
	/* ring buffer size must be a power of two number of pages */
	unsigned long rbsz = 4096;
	while (rbsz < (unsigned long)ringbuf_kb * 1024)
		rbsz <<= 1;
	bpf_map__set_max_entries(skel->maps.events, rbsz);
	/* counts: per-CPU (512 KiB per CPU) up to COUNTS_PERCPU_MAX_CPUS, one shared array above */
	if (ncpus > COUNTS_PERCPU_MAX_CPUS) {
		bpf_map__set_type(skel->maps.counts, BPF_MAP_TYPE_ARRAY);
		skel->rodata->counts_shared = true;
	}

	/* io_uring may be compiled out: its tracepoint is then missing */
	struct btf *vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux || btf__find_by_name_kind(vmlinux, "btf_trace_io_uring_complete", BTF_KIND_TYPEDEF) < 0)
		bpf_program__set_autoload(skel->progs.on_uring_complete, false);
	btf__free(vmlinux);
	skel->rodata->pod_cgroup = meta.pod_cgroup = cg_mode;
	/* noaudit capability checks are told apart only when kallsyms shows addresses */
	for (int i = 0; i < noaudit_ranges; i++) {
		skel->rodata->noaudit_lo[i] = noaudit_lo[i];
		skel->rodata->noaudit_hi[i] = noaudit_hi[i];
	}
	skel->rodata->noaudit_n = noaudit_ranges > 0 ? noaudit_ranges : 0;
	for (int i = 0; i < 2; i++) {
		skel->rodata->capable_lo[i] = capable_lo[i];
		skel->rodata->capable_hi[i] = capable_hi[i];
	}

	int err = tracer_bpf__load(skel);
	if (err) {
		char msg[512];
		int e = -err;
		if (e == EPERM || e == EACCES)
			snprintf(msg, sizeof(msg),
				 "cannot load BPF programs: permission denied (needs root or "
				 "CAP_BPF+CAP_PERFMON)");
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
	mfd.tasks = bpf_map__fd(skel->maps.tasks);
	mfd.seen = bpf_map__fd(skel->maps.seen);
	mfd.counts = bpf_map__fd(skel->maps.counts);
	mfd.stats = bpf_map__fd(skel->maps.stats);
	mfd.objs = bpf_map__fd(skel->maps.objs);
	mfd.mntns = bpf_map__fd(skel->maps.mntns);
	mfd.podcg = bpf_map__fd(skel->maps.podcg);
	mfd.events = bpf_map__fd(skel->maps.events);
	mfd.tracked = bpf_map__fd(skel->maps.tracked);
}

/* closes the skeleton; pinned links stay attached unless `detach` */
static void close_skel(bool detach)
{
	if (!skel)
		return;
	if (!detach) {
		const struct bpf_object_skeleton *os = skel->skeleton;
		for (int i = 0; i < os->prog_cnt; i++) {
			const struct bpf_prog_skeleton *ps = (const void *)((const char *)os->progs + (size_t)i * os->prog_skel_sz);
			if (*ps->link)
				bpf_link__disconnect(*ps->link);
		}
	}
	tracer_bpf__destroy(skel);
	skel = NULL;
}

static void put_ready(void)
{
	char buf[8192];
	int o = snprintf(buf, sizeof(buf), "{\"t\":\"ready\",\"version\":%d,\"noaudit\":%s", PROTOCOL_VERSION,
			 noaudit_ranges > 0 ? "true" : "false");
	if (state_dir) {
		o += snprintf(buf + o, sizeof(buf) - o, ",\"adopted\":%s,\"generation\":\"%s\"", adopted ? "true" : "false",
			      generation_hex);
		if (adopted) {
			o += snprintf(buf + o, sizeof(buf) - o, ",\"targets\":[");
			bool first = true;
			for (int t = 1; t < MAX_TARGETS; t++) {
				if (!targets[t].known)
					continue;
				o += snprintf(buf + o, sizeof(buf) - o, "%s{\"target\":%d,\"pids\":%d,\"root\":%u}",
					      first ? "" : ",", t, targets[t].npids, meta.root[t]);
				first = false;
			}
			o += snprintf(buf + o, sizeof(buf) - o, "]");
		}
	}
	snprintf(buf + o, sizeof(buf) - o, "}\n");
	emit_direct(buf);
}

int main(int argc, char **argv)
{
	/* fd 3, if the caller passed it, is where launched workloads write */
	if (fcntl(3, F_GETFD) >= 0) {
		out_fd = fcntl(3, F_DUPFD_CLOEXEC, 10);
		close(3);
	}
	long ringbuf_kb = 4096;
	bool release_only = false;
	int want_cg = PODCG_NONE;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--ringbuf-kb") && i + 1 < argc) {
			char *end;
			ringbuf_kb = strtol(argv[++i], &end, 10);
			if (*end || ringbuf_kb < 4 || ringbuf_kb > (1 << 20))
				usage();
		} else if ((!strcmp(argv[i], "--state-dir") || !strcmp(argv[i], "--release")) && i + 1 < argc) {
			release_only = !strcmp(argv[i], "--release");
			state_dir = argv[++i];
		} else if (!strcmp(argv[i], "--spool-dir") && i + 1 < argc) {
			spool_dir = argv[++i];
		} else if (!strcmp(argv[i], "--pod-cgroup") && i + 1 < argc) {
			i++;
			want_cg = -1;
			for (int m = PODCG_NONE; m <= PODCG_V1_CPU; m++)
				if (!strcmp(argv[i], CG_NAMES[m]))
					want_cg = m;
			if (want_cg < 0) {
				fprintf(stderr, "varmor-tracer: --pod-cgroup %s: expected auto, v2, pids, memory or cpu\n", argv[i]);
				exit(2);
			}
		} else if (!strcmp(argv[i], "--verbose") || !strcmp(argv[i], "-v")) {
			verbose = true;
		} else {
			usage();
		}
	}
	if (spool_dir && !state_dir)
		usage();
	if (state_dir) {
		size_t l = strlen(state_dir);
		if (state_dir[0] != '/' || l < 2 || l > PATH_MAX - 64 || strstr(state_dir, "/../") || strstr(state_dir, "/./"))
			usage();
		while (l > 1 && state_dir[l - 1] == '/')
			((char *)state_dir)[--l] = 0;
		if (!spool_dir)
			spool_dir = default_spool_dir(state_dir);
		if (!spool_dir || spool_dir[0] != '/') {
			fprintf(stderr, "varmor-tracer: --spool-dir DIR is needed when the state dir is not below /sys/fs/bpf/\n");
			usage();
		}
	}
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	signal(SIGPIPE, SIG_IGN);
	libbpf_set_print(libbpf_print);

	if (release_only)
		return release_standalone();

	if (access("/sys/kernel/btf/vmlinux", R_OK))
		die_load("kernel has no BTF (/sys/kernel/btf/vmlinux missing)");

	struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
	setrlimit(RLIMIT_MEMLOCK, &rl); /* for kernels that still charge memlock */

	ncpus = libbpf_num_possible_cpus();
	noaudit_ranges = ksyms_init(noaudit_lo, noaudit_hi, NOAUDIT_RANGES, capable_lo, capable_hi);
	if (noaudit_ranges <= 0)
		logmsg("kallsyms %s: capability checks made without auditing are modelled as capability use "
		       "(needs CAP_SYSLOG or kernel.kptr_restrict=0)",
		       noaudit_ranges < 0 ? "unreadable" : "hides kernel addresses");
	if (ncpus <= 0)
		die_load("cannot determine the number of possible CPUs");

	cg_mode = cgroup_hierarchy(want_cg, cg_root, sizeof(cg_root));
	if (cg_mode != want_cg && want_cg != PODCG_NONE) {
		char msg[128];
		snprintf(msg, sizeof(msg), "--pod-cgroup %s: that hierarchy is not mounted", CG_NAMES[want_cg]);
		die_load(msg);
	}
	if (state_dir) {
		const char *err = ensure_bpffs(state_dir);
		if (err)
			die_load(err);
		if (mkdir_p(state_dir, 0700)) {
			char msg[PATH_MAX + 100];
			snprintf(msg, sizeof(msg), "cannot create state dir %s: %s", state_dir, strerror(errno));
			die_load(msg);
		}
		if (lock_dir(state_dir) < 0)
			die_load("state dir is in use by another varmor-tracer");
		char p[PATH_MAX];
		path_join(p, sizeof(p), state_dir, "meta");
		struct stat sb;
		adopted = stat(p, &sb) == 0;
		if (adopted) {
			err = adopt_pins();
			if (err)
				die_load(err);
			/* the programs read the hierarchy they were loaded with */
			if (want_cg != PODCG_NONE && (__u32)want_cg != meta.pod_cgroup) {
				char msg[PATH_MAX + 200];
				snprintf(msg, sizeof(msg),
					 "state dir %s was loaded with pod cgroup hierarchy %s, not %s (release it with --release to change it)",
					 state_dir,
					 meta.pod_cgroup > PODCG_NONE && meta.pod_cgroup <= PODCG_V1_CPU ? CG_NAMES[meta.pod_cgroup] : "none",
					 CG_NAMES[want_cg]);
				die_load(msg);
			}
			cg_mode = cgroup_hierarchy(meta.pod_cgroup, cg_root, sizeof(cg_root));
		} else {
			/* pins without meta: a loader died while pinning; nobody saw its generation */
			if (remove_pins(state_dir, true))
				logmsg("removed an incomplete state dir %s", state_dir);
			load_and_attach(ringbuf_kb);
			err = pin_all();
			if (err) {
				close_skel(true);
				die_load(err);
			}
		}
		for (int i = 0; i < 16; i++)
			sprintf(generation_hex + 2 * i, "%02x", meta.generation[i]);
	} else {
		load_and_attach(ringbuf_kb);
	}
	int err = ring_open(mfd.events);
	if (err) {
		char msg[256];
		snprintf(msg, sizeof(msg), "cannot map the ring buffer: %s", strerror(-err));
		die_load(msg);
	}
	map_tracked();
	struct bpf_map_info cinfo = {};
	__u32 clen = sizeof(cinfo);
	if (bpf_obj_get_info_by_fd(mfd.counts, &cinfo, &clen))
		die_load("cannot query the counts map");
	counts_vals = cinfo.type == BPF_MAP_TYPE_PERCPU_ARRAY ? ncpus : 1;
	/* with a spool, commit the consumer position in batches (each after its
	 * output is spooled); without, after every record */
	commit_every = 1;

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

	if (state_dir) {
		spool_setup();
		static cookie_io_functions_t io = {.write = out_write};
		FILE *f = fopencookie(NULL, "w", io);
		if (!f)
			die_load("fopencookie failed");
		fflush(stdout);
		setvbuf(f, NULL, _IOFBF, 1 << 16);
		stdout = f;
		commit_every = ring.data_sz / 16 > 4096 ? ring.data_sz / 16 : 4096;
	}
	if (adopted)
		rebuild_targets();
	put_ready();
	if (adopted) {
		/* what earlier loaders wrote but the Node side had not checkpointed,
		 * then what the kernel produced while no loader ran */
		replay_spool();
		drain();
		rebuild_targets(); /* the tasks map is the truth; the backlog's forks/exits are applied now */
		for (int t = 1; t < MAX_TARGETS; t++)
			if (targets[t].known && targets[t].npids == 0 && !targets[t].pods)
				printf("{\"t\":\"target-empty\",\"target\":%d}\n", t);
	}
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
		if (spool_dirty) {
			int64_t left = spool_synced_ms + SPOOL_SYNC_MS - now;
			if (left < 0)
				left = 0;
			if (timeout < 0 || left < timeout)
				timeout = left;
		}
		struct pollfd pfd[3] = {
			{.fd = mfd.events, .events = POLLIN},
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
		spool_sync(false);
	}
	drain();
	fflush(stdout);
	if (state_dir && releasing) {
		/* the end of this generation: unpin (the links detach), drop the spool */
		close(spool_fd);
		spool_fd = -1;
		remove_pins(state_dir, false);
		remove_spool(spool_dir);
		close_skel(true);
		char line[128];
		snprintf(line, sizeof(line), "{\"t\":\"released\",\"generation\":\"%s\"}\n", generation_hex);
		emit_direct(line);
		return 0;
	}
	if (releasing)
		emit_direct("{\"t\":\"released\"}\n");
	spool_sync(true);
	close_skel(!state_dir); /* with a state dir: a handoff, the pinned links stay attached */
	return 0;
}
