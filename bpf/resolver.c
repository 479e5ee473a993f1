// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Name resolution for file records (see resolver.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/openat2.h>
#include "loader.h"
#include "resolver.h"
#include "targets.h"

size_t normalise(char *p, size_t len)
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
static unsigned long long unresolved_count[MAX_TARGETS];

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

void resolver_forget(int target)
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

size_t resolve_named(const struct obj_rec *r, char *data, size_t len, bool follow_last, bool *unresolved)
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
	int n = resolve_dir(r->pid, r->h.target, data, cut, out);
	for (int i = 0; n == -ESRCH && i < target_npids(r->h.target) && i < 16; i++)
		n = resolve_dir(target_pid(r->h.target, i), r->h.target, data, cut, out);
	if (n < 0 || n + (len - cut) >= PATH_BUF) {
		unresolved_count[r->h.target & (MAX_TARGETS - 1)]++;
		*unresolved = true;
		return normalise(data, len);
	}
	memcpy(out + n, data + cut, len - cut); /* "/" + last component (and trailing "/") */
	n += len - cut;
	memcpy(data, out, n);
	return normalise(data, n);
}

unsigned long long names_unresolved(int target)
{
	return unresolved_count[target];
}

void names_forget(int target)
{
	unresolved_count[target] = 0;
}
