// SPDX-License-Identifier: GPL-2.0
/*
 * varmor-tracer kernel side: per-target syscall sets, exec paths and
 * process lifetimes for the processes in `tasks` and their descendants.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "tracer.h"

char LICENSE[] SEC("license") = "GPL";

/* ---- syscall numbers ------------------------------------------------------ */
/* Syscalls that only exist on some architectures get distinct negative values. */
#if defined(__TARGET_ARCH_x86)
/* a tp_btf argument is a trusted BTF pointer: a direct (CO-RE relocated) load,
 * no bpf_probe_read_kernel call */
#define SYSCALL_NR(regs) ((regs)->orig_ax)
#define SYSCALL_NR_CORE(regs) BPF_CORE_READ(regs, orig_ax)
#define ARG6 BPF_CORE_READ(regs, r9)
enum {
	NR_open = 2, NR_mmap = 9, NR_socket = 41, NR_connect = 42, NR_sendto = 44, NR_sendmsg = 46,
	NR_bind = 49, NR_listen = 50, NR_socketpair = 53, NR_clone = 56, NR_fcntl = 72, NR_flock = 73,
	NR_truncate = 76, NR_ftruncate = 77, NR_rename = 82, NR_mkdir = 83, NR_rmdir = 84, NR_creat = 85,
	NR_link = 86, NR_unlink = 87, NR_symlink = 88, NR_chmod = 90, NR_fchmod = 91, NR_chown = 92,
	NR_fchown = 93, NR_lchown = 94, NR_ptrace = 101, NR_mknod = 133, NR_mount = 165, NR_umount2 = 166,
	NR_unshare = 272, NR_openat = 257, NR_mkdirat = 258, NR_mknodat = 259, NR_fchownat = 260,
	NR_unlinkat = 263, NR_renameat = 264, NR_linkat = 265, NR_symlinkat = 266, NR_fchmodat = 268,
	NR_setns = 308, NR_renameat2 = 316, NR_clone3 = 435, NR_openat2 = 437, NR_fchmodat2 = 452,
	NR_rt_sigreturn = 15, NR_fork = 57, NR_vfork = 58, NR_exit = 60, NR_exit_group = 231,
	NR_mprotect = 10, NR_process_vm_readv = 310, NR_process_vm_writev = 311,
	NR_open_tree = 428, NR_move_mount = 429,
};
#elif defined(__TARGET_ARCH_arm64)
#define SYSCALL_NR(regs) ((regs)->syscallno)
#define SYSCALL_NR_CORE(regs) BPF_CORE_READ(regs, syscallno)
#define ARG6 BPF_CORE_READ(regs, regs[5])
enum {
	NR_open = -1, NR_mmap = 222, NR_socket = 198, NR_connect = 203, NR_sendto = 206, NR_sendmsg = 211,
	NR_bind = 200, NR_listen = 201, NR_socketpair = 199, NR_clone = 220, NR_fcntl = 25, NR_flock = 32,
	NR_truncate = 45, NR_ftruncate = 46, NR_rename = -2, NR_mkdir = -3, NR_rmdir = -4, NR_creat = -5,
	NR_link = -6, NR_unlink = -7, NR_symlink = -8, NR_chmod = -9, NR_fchmod = 52, NR_chown = -10,
	NR_fchown = 55, NR_lchown = -11, NR_ptrace = 117, NR_mknod = -12, NR_mount = 40, NR_umount2 = 39,
	NR_unshare = 97, NR_openat = 56, NR_mkdirat = 34, NR_mknodat = 33, NR_fchownat = 54,
	NR_unlinkat = 35, NR_renameat = 38, NR_linkat = 37, NR_symlinkat = 36, NR_fchmodat = 53,
	NR_setns = 268, NR_renameat2 = 276, NR_clone3 = 435, NR_openat2 = 437, NR_fchmodat2 = 452,
	NR_rt_sigreturn = 139, NR_fork = -13, NR_vfork = -14, NR_exit = 93, NR_exit_group = 94,
	NR_mprotect = 226, NR_process_vm_readv = 270, NR_process_vm_writev = 271,
	NR_open_tree = 428, NR_move_mount = 429,
};
#else
#error "syscall numbers for this architecture are missing"
#endif

/*
 * The syscalls on_sys_exit's switch handles, as a 512-bit constant: every
 * other syscall (read, write, epoll_wait, futex, ...) leaves after one bit
 * test. Keep in sync with the switch (the switch's default is harmless, a
 * missing bit here would silently drop events).
 */
#define HB(n, w) (((long)(n) >= 0 && ((long)(n) >> 6) == (w)) ? (1ULL << ((n) & 63)) : 0ULL)
#define HANDLED_WORD(w)                                                                                      \
	(HB(NR_open, w) | HB(NR_openat, w) | HB(NR_creat, w) | HB(NR_openat2, w) | HB(NR_mmap, w) |          \
	 HB(NR_flock, w) | HB(NR_fcntl, w) | HB(NR_ftruncate, w) | HB(NR_fchmod, w) | HB(NR_fchown, w) |     \
	 HB(NR_truncate, w) | HB(NR_unlink, w) | HB(NR_rmdir, w) | HB(NR_unlinkat, w) | HB(NR_mkdir, w) |    \
	 HB(NR_mknod, w) | HB(NR_mkdirat, w) | HB(NR_mknodat, w) | HB(NR_chmod, w) | HB(NR_fchmodat, w) |    \
	 HB(NR_fchmodat2, w) | HB(NR_chown, w) | HB(NR_lchown, w) | HB(NR_fchownat, w) | HB(NR_rename, w) |  \
	 HB(NR_renameat, w) | HB(NR_renameat2, w) | HB(NR_link, w) | HB(NR_linkat, w) | HB(NR_symlink, w) |  \
	 HB(NR_symlinkat, w) | HB(NR_socket, w) | HB(NR_socketpair, w) | HB(NR_connect, w) |                 \
	 HB(NR_sendto, w) | HB(NR_sendmsg, w) | HB(NR_bind, w) | HB(NR_listen, w) | HB(NR_ptrace, w) |       \
	 HB(NR_mount, w) | HB(NR_umount2, w) | HB(NR_unshare, w) | HB(NR_setns, w) | HB(NR_clone, w) |      \
	 HB(NR_clone3, w) | HB(NR_mprotect, w) | HB(NR_process_vm_readv, w) | HB(NR_process_vm_writev, w) | \
	 HB(NR_open_tree, w) | HB(NR_move_mount, w))
static const __u64 handled_bits[SYSCALL_WORDS] = {
	HANDLED_WORD(0), HANDLED_WORD(1), HANDLED_WORD(2), HANDLED_WORD(3),
	HANDLED_WORD(4), HANDLED_WORD(5), HANDLED_WORD(6), HANDLED_WORD(7),
};


#define SIGNAL_GROUP_EXIT 0x00000004 /* include/linux/sched/signal.h */
#define PF_SIGNALED 0x00000400     /* include/linux/sched.h: killed by a signal */
#define ENOSYS 38

/*
 * Tracked processes, keyed by tgid. 65536 entries bound it far above the
 * process count of the handful of workloads one modeller traces at a time.
 * BPF_F_NO_PREALLOC: memory is taken per tracked process (~100 bytes) instead
 * of 65536 * ~90 bytes up front; inserts happen at fork/exec only (tp_btf
 * programs never run in NMI, so the non-preallocated map is safe here). An
 * insert into a full map is counted in STAT_TASKS_FULL.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct task_info);
} tasks SEC(".maps");

/*
 * tgid -> one byte: 0 for untracked tasks, else the task's slot (1..127) |
 * TRACKED_ARMED. TRACKED_WORDS u64 words = 4 MiB covers PID_MAX_LIMIT (pid_max
 * can be raised at run time, so the map is not sized from the current one).
 * It mirrors `tasks` (the truth, which the loader iterates) so that sys_exit,
 * the per-syscall program, needs no hash lookup at all: bystanders pay one
 * inlined array load and a compare, targets get their slot from the same
 * byte. Written after every `tasks` insert or flag change, zeroed with every
 * delete (kernel at fork/exec/exit, the loader through its mmap: track,
 * launch, untrack). Every tgid owns its byte, so plain byte stores suffice.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TRACKED_WORDS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} tracked SEC(".maps");

/* Syscalls already reported, one 512-bit set per slot (128 * 64 bytes). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SLOTS);
	__type(key, __u32);
	__type(value, struct syscall_bits);
} seen SEC(".maps");

/*
 * Call counts [slot * MAX_SYSCALLS + nr] (128 * 512 u64). Per-CPU so the hot
 * path never contends: 512 KiB per possible CPU. On big machines that grows
 * (32 MiB at 64 CPUs, 128 MiB at 256), so the loader turns this map into a
 * plain shared ARRAY (512 KiB in total) when there are more than
 * COUNTS_PERCPU_MAX_CPUS possible CPUs and sets `counts_shared`, and the
 * increment becomes an atomic add (contended only when threads of one
 * target hit the same syscall on different CPUs at the same time).
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_SLOTS * MAX_SYSCALLS);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

/* set by the loader before load (see `counts`); a known constant to the verifier */
const volatile bool counts_shared = false;

/* Drop/record counters, see enum stat_idx. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* Per-CPU scratch for records with paths: a path is built backwards in
 * path[0, PATH_BUF), a name passed by the process may follow at
 * path[PATH_BUF + 1, 2 * PATH_BUF); then it is copied into a record (too big
 * for the 512-byte BPF stack). Only process-context programs (sys_exit, exec)
 * use it, and those never nest on one CPU. */
struct scratch {
	char path[4 * PATH_BUF]; /* 4x so that masked offset + masked length stays in bounds */
	struct obj_rec orec;
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

/* exec records are built here (per-CPU values are limited to 32 KiB) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_rec);
} execbuf SEC(".maps");

/*
 * Kernel de-dup of objects (files, capabilities, sockets, ...): one entry per
 * (slot, kind, hash of the object) with the perm/flag bits already reported
 * and an event count. LRU: under a flood of distinct objects old entries are
 * evicted (an evicted object seen again is simply reported again), so memory
 * stays at 131072 * ~100 bytes. 
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 131072);
	__type(key, struct obj_key);
	__type(value, struct obj_val);
} objs SEC(".maps");

/* Mount namespaces of container targets (ns inum -> target): an untracked
 * process that execs inside one is tracked as an exec session. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u32);
} mntns SEC(".maps");

/* Pod cgroups of pod targets: kernfs id of the pod's cgroup directory (its
 * inode number) -> target, written by the loader (`track T pod UID`). 256 is
 * more than the pods one node runs (the kubelet's default maxPods is 110). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u64);
	__type(value, __u32);
} podcg SEC(".maps");

/* Tracked processes that exited (tgid -> target and start time), until the
 * LRU evicts them: a signal or ptrace to one that is still a zombie, or
 * dying, stays inside the target (a shell's `kill $child` at teardown). The
 * start time tells a reused pid apart. 4096 exits is far more than the
 * zombies a tree leaves unreaped at once. */
struct exited_info {
	__u64 start;
	__u32 target;
	__u32 pad;
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct exited_info);
} exited SEC(".maps");

/* Kernel text ranges [lo, hi) of the callers whose capability checks are not
 * a request for the privilege (CAP_OPT_NOAUDIT: *_noaudit, the
 * vm_enough_memory overcommit check), set by the loader from /proc/kallsyms
 * before load. noaudit_n == 0 (kallsyms hides addresses): every check counts. */
const volatile __u64 noaudit_lo[NOAUDIT_RANGES] = {};
const volatile __u64 noaudit_hi[NOAUDIT_RANGES] = {};
const volatile __u32 noaudit_n = 0;
/* the text of cap_capable [CAP_CAPABLE] and security_capable [CAP_SECURITY] */
const volatile __u64 capable_lo[2] = {};
const volatile __u64 capable_hi[2] = {};

/*
 * Who asked a capability question is the return address into cap_capable's
 * caller, or into security_capable's caller when that is security_capable.
 * Walking the stack for it costs ~1 us a check (bpf_get_stack), and a root
 * process asks at every mmap. But the frames between the tracepoint's
 * argument array (ctx, on bpf_trace_run5's stack) and those return addresses
 * have fixed sizes, so their slots are learned once from walked stacks:
 * cap_slot[k] = word index above ctx of the return address into cap_capable
 * (0), into its caller (1), into security_capable's caller (2); 0 = not yet
 * known. A check then reads two or three words. The slot of cap_capable's
 * return address is checked on every read (another probe on the tracepoint
 * adds a frame: the read fails over to a walk), and every CAP_VERIFY_EVERY
 * checks a walk re-derives the answer; a mismatch is counted
 * (STAT_CAP_SLOT_MISS) and the slots are learned again.
 */
__u32 cap_slot[3];
__u64 cap_checks;

/* the hierarchy the pod check reads (enum pod_cgroup_mode), set by the loader before load */
const volatile __u32 pod_cgroup = PODCG_NONE;

/* Records to userspace. Size is set by the loader (--ringbuf-kb); the default
 * here only matters if the loader does not override it. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 21);
} events SEC(".maps");

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);
	if (v)
		*v += 1;
}

/* the tgid's `tracked` byte (0: bystander): one inlined array lookup, no hashing */
static __always_inline __u32 tracked_byte(__u32 tgid)
{
	__u32 k = tgid >> 3;
	__u8 *w = bpf_map_lookup_elem(&tracked, &k);
	return w ? w[tgid & 7] : 0;
}

static __always_inline __u32 slot_of(const struct task_info *ti);

/* mirrors a tasks entry into `tracked` (ti NULL: the entry is gone) */
static __always_inline void set_tracked(__u32 tgid, const struct task_info *ti)
{
	__u32 k = tgid >> 3;
	__u8 *w = bpf_map_lookup_elem(&tracked, &k);
	if (w)
		w[tgid & 7] = ti ? slot_of(ti) | ((ti->flags & TASK_ARMED) ? TRACKED_ARMED : 0) : 0;
}

/* tasks entry of a tracked tgid, NULL for bystanders (`tracked` byte first) */
static __always_inline struct task_info *task_of(__u32 tgid)
{
	if (!tracked_byte(tgid))
		return NULL;
	return bpf_map_lookup_elem(&tasks, &tgid);
}

static __always_inline __u32 slot_of(const struct task_info *ti)
{
	return (ti->target & (MAX_TARGETS - 1)) | ((ti->flags & TASK_SESSION) ? SLOT_SESSION : 0);
}

static __always_inline void set_hdr(struct rec_hdr *h, __u32 type, __u32 slot)
{
	h->type = type;
	h->flags = (slot & SLOT_SESSION) ? RECF_SESSION : 0;
	h->target = slot & (MAX_TARGETS - 1);
	h->ts = bpf_ktime_get_boot_ns();
}

static __always_inline void record_syscall(__u32 slot, __u32 nr)
{
	slot &= MAX_SLOTS - 1;
	__u32 key = slot * MAX_SYSCALLS + nr;
	__u64 *cnt = bpf_map_lookup_elem(&counts, &key);
	if (cnt) {
		if (counts_shared)
			__sync_fetch_and_add(cnt, 1);
		else
			*cnt += 1;
	}

	struct syscall_bits *bits = bpf_map_lookup_elem(&seen, &slot);
	if (!bits)
		return;
	__u64 bit = 1ULL << (nr & 63);
	__u64 *w = &bits->w[(nr >> 6) & (SYSCALL_WORDS - 1)];
	/* plain read first: the common case (already seen) takes no locked op */
	if (*w & bit)
		return;
	if (__sync_fetch_and_or(w, bit) & bit)
		return; /* another CPU won the race and reports it */

	struct syscall_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		/* un-see it so that a later call reports it; counts still have it */
		__sync_fetch_and_and(w, ~bit);
		stat_inc(STAT_RINGBUF_DROPPED);
		return;
	}
	set_hdr(&r->h, REC_SYSCALL, slot);
	r->nr = nr;
	r->pad = 0;
	bpf_ringbuf_submit(r, 0);
	stat_inc(STAT_RECORDS);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	struct task_info *pi = task_of(ptgid);
	if (!pi)
		return 0;
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	if (ctgid != (__u32)BPF_CORE_READ(child, pid))
		return 0; /* a new thread, already covered by its tgid */

	struct task_info ci = *pi;
	if (bpf_map_update_elem(&tasks, &ctgid, &ci, BPF_ANY)) {
		stat_inc(STAT_TASKS_FULL);
		return 0;
	}
	set_tracked(ctgid, &ci);
	struct fork_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		stat_inc(STAT_RINGBUF_DROPPED);
		return 0;
	}
	set_hdr(&r->h, REC_FORK, slot_of(&ci));
	r->pid = ctgid;
	r->ppid = ptgid;
	bpf_ringbuf_submit(r, 0);
	stat_inc(STAT_RECORDS);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *p)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);
	struct task_info *ti = task_of(tgid);
	if (!ti)
		return 0;
	/*
	 * exit(2) and exit_group(2) never reach sys_exit, so they are recorded
	 * here, per thread, from the syscall number still in the thread's user
	 * pt_regs. Only a thread that exits by itself: one killed by a signal
	 * (PF_SIGNALED; also the other threads of an exit_group) has the nr of
	 * whatever it was doing there (another syscall, or a fault code).
	 */
	if (!(ti->flags & TASK_ARMED) && !(BPF_CORE_READ(p, flags) & PF_SIGNALED)) {
		struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(p);
		long nr = regs ? SYSCALL_NR_CORE(regs) : -1;
		if (nr == NR_exit || nr == NR_exit_group)
			record_syscall(slot_of(ti), nr);
	}
	/* do_exit() decrements signal->live before this tracepoint; the
	 * thread group is dead only when the last thread gets here (the
	 * leader may exit first while other threads keep running). */
	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0;

	__u32 slot = slot_of(ti);
	/* a container's first process (in a mount namespace its parent is
	 * not in) is gone: forget the namespace, whose inode number the kernel
	 * gives to a later one (a restarted container is new, not a session) */
	if (!(ti->flags & TASK_SESSION)) {
		__u32 inum = BPF_CORE_READ(p, nsproxy, mnt_ns, ns.inum);
		__u32 *mt = bpf_map_lookup_elem(&mntns, &inum);
		if (mt && *mt == ti->target && inum != BPF_CORE_READ(p, real_parent, nsproxy, mnt_ns, ns.inum))
			bpf_map_delete_elem(&mntns, &inum);
	}
	int status;
	if (BPF_CORE_READ(p, signal, flags) & SIGNAL_GROUP_EXIT)
		status = BPF_CORE_READ(p, signal, group_exit_code);
	else
		status = BPF_CORE_READ(p, group_leader, exit_code); /* what wait() reports */
	struct exited_info ex = {.start = BPF_CORE_READ(p, group_leader, start_time), .target = ti->target};
	bpf_map_update_elem(&exited, &tgid, &ex, BPF_ANY);
	set_tracked(tgid, NULL);
	bpf_map_delete_elem(&tasks, &tgid);

	struct exit_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		stat_inc(STAT_RINGBUF_DROPPED);
		return 0;
	}
	set_hdr(&r->h, REC_EXIT, slot);
	r->pid = tgid;
	r->status = status;
	bpf_ringbuf_submit(r, 0);
	stat_inc(STAT_RECORDS);
	return 0;
}

/* ---- path resolution (reused by later phases for files) ---------------- */

struct walk_ctx {
	struct mount *mnt;
	struct dentry *dentry;
	struct vfsmount *root_mnt;
	struct dentry *root_dentry;
	int pos;       /* path occupies scratch.path[pos, PATH_BUF) */
	int truncated; /* out */
	int done;      /* out: 1 reached the root, 2 reached the top without it */
};

static long walk_step(__u32 i, struct walk_ctx *c)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 1;

	struct dentry *d = c->dentry;
	struct mount *m = c->mnt;
	struct vfsmount *vm = (void *)m + bpf_core_field_offset(struct mount, mnt);

	if (d == c->root_dentry && vm == c->root_mnt) {
		c->done = 1; /* reached the task's root (container root) */
		return 1;
	}
	struct dentry *mnt_root = BPF_CORE_READ(vm, mnt_root);
	struct dentry *parent = BPF_CORE_READ(d, d_parent);
	if (d == mnt_root || d == parent) {
		struct mount *mp = BPF_CORE_READ(m, mnt_parent);
		if (d != mnt_root || mp == m || !mp) {
			c->done = 2; /* global root, or a detached tree */
			return 1;
		}
		/* cross to the mountpoint in the parent mount */
		c->dentry = BPF_CORE_READ(m, mnt_mountpoint);
		c->mnt = mp;
		return 0;
	}

	struct qstr name;
	BPF_CORE_READ_INTO(&name, d, d_name);
	int len = name.len;
	int newpos = c->pos - len - 1;
	if (len > 255 || newpos < 1) { /* keep path <= PATH_BUF-1 bytes */
		c->truncated = 1;
		c->done = 1;
		return 1;
	}
	bpf_probe_read_kernel(&s->path[(newpos + 1) & PATH_MASK], len & 255, name.name);
	s->path[newpos & PATH_MASK] = '/';
	c->pos = newpos;
	c->dentry = parent;
	return 0;
}

/*
 * Resolve {mnt, dentry} to an absolute path as seen from the root
 * {root_mnt, root_dentry} (a task's fs->root). The result is
 * scratch.path[ret, PATH_BUF) with ret >= 1; *flags gets OBJ_PATH_TRUNCATED
 * if the path was cut (then the kept part is the tail of the path) and
 * OBJ_DISCONNECTED if the walk ended above the root or in a detached tree
 * (pipes, sockets, memfd, files outside the chroot).
 */
static __noinline int resolve_path(struct vfsmount *vmnt, struct dentry *dentry,
				   struct vfsmount *root_mnt, struct dentry *root_dentry,
				   int *flags)
{
	struct walk_ctx c = {
		.mnt = (void *)vmnt - bpf_core_field_offset(struct mount, mnt),
		.dentry = dentry,
		.root_mnt = root_mnt,
		.root_dentry = root_dentry,
		.pos = PATH_BUF,
	};
	bpf_loop(PATH_MAX_STEPS, walk_step, &c, 0);
	if (!c.done)
		c.truncated = 1;
	if (c.pos == PATH_BUF) {
		__u32 zero = 0;
		struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);
		if (!s)
			return PATH_BUF;
		s->path[PATH_BUF - 1] = '/';
		c.pos = PATH_BUF - 1;
	}
	*flags = (c.truncated ? OBJ_PATH_TRUNCATED : 0) | (c.done == 2 ? OBJ_DISCONNECTED : 0);
	return c.pos;
}

/* An untracked process becomes part of `target` at its exec; `type` tells the
 * loader why (REC_JOIN: an exec session, REC_CONTAINER: a new container of a pod). */
static __always_inline struct task_info *join(struct task_struct *p, __u32 tgid, __u32 target, __u32 flags,
					      __u32 type)
{
	struct task_info ni = {.target = target & (MAX_TARGETS - 1), .flags = flags};
	if (bpf_map_update_elem(&tasks, &tgid, &ni, BPF_NOEXIST)) {
		stat_inc(STAT_TASKS_FULL);
		return NULL;
	}
	set_tracked(tgid, &ni);
	struct fork_rec *j = bpf_ringbuf_reserve(&events, sizeof(*j), 0);
	if (j) {
		set_hdr(&j->h, type, slot_of(&ni));
		j->pid = tgid;
		j->ppid = BPF_CORE_READ(p, real_parent, tgid);
		bpf_ringbuf_submit(j, 0);
		stat_inc(STAT_RECORDS);
	} else {
		stat_inc(STAT_RINGBUF_DROPPED);
	}
	return bpf_map_lookup_elem(&tasks, &tgid);
}

/* kernfs_node.parent is __parent since 6.15 */
struct kernfs_node___new {
	struct kernfs_node *__parent;
} __attribute__((preserve_access_index));
struct kernfs_node___old {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(((struct kernfs_node___new *)kn)->__parent))
		return BPF_CORE_READ((struct kernfs_node___new *)kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___old *)kn, parent);
}

/* kernfs node of the task's cgroup in the hierarchy `pod_cgroup` names */
static __always_inline struct kernfs_node *task_cgroup_kn(struct task_struct *p)
{
	struct css_set *cs = BPF_CORE_READ(p, cgroups);
	if (pod_cgroup == PODCG_V2)
		return BPF_CORE_READ(cs, dfl_cgrp, kn);
	int id;
	if (pod_cgroup == PODCG_V1_PIDS)
		id = bpf_core_enum_value(enum cgroup_subsys_id, pids_cgrp_id);
	else if (pod_cgroup == PODCG_V1_MEMORY)
		id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
	else
		id = bpf_core_enum_value(enum cgroup_subsys_id, cpu_cgrp_id);
	struct cgroup_subsys_state *css = NULL;
	bpf_core_read(&css, sizeof(css), &cs->subsys[id]);
	return BPF_CORE_READ(css, cgroup, kn);
}

/*
 * The pod target of a process exec'ing below a tracked pod cgroup, in a mount
 * namespace that is not its parent's: a container's first process (the
 * runtime's helpers that run in the pod's cgroup, e.g. `runc init` cloned
 * into it, still share their parent's namespace; so do most bystanders, who
 * leave after that one compare). Not the sandbox (`/pause`), which has
 * nothing to model. Its mount namespace goes into `mntns`, so exec sessions
 * into the new container are sessions as for the containers tracked at
 * first. Bystanders that pass the compare pay one lookup per cgroup level.
 */
static __always_inline __u32 new_container(struct task_struct *p, struct linux_binprm *bprm, __u32 inum)
{
	/* direct loads through the trusted task pointer: no helper calls */
	if (p->nsproxy->mnt_ns == p->real_parent->nsproxy->mnt_ns)
		return 0;
	struct kernfs_node *kn = task_cgroup_kn(p);
	__u32 *t = NULL;
	for (int i = 0; i < POD_CGROUP_LEVELS && kn && !t; i++) {
		__u64 id = BPF_CORE_READ(kn, id);
		t = bpf_map_lookup_elem(&podcg, &id);
		kn = kn_parent(kn);
	}
	if (!t)
		return 0;
	__u32 target = *t;
	union {
		char c[8];
		__u64 v;
	} name = {}, pause = {.c = "/pause"};
	bpf_probe_read_kernel_str(name.c, sizeof(name.c), BPF_CORE_READ(bprm, filename));
	if (name.v == pause.v)
		return 0;
	if (bpf_map_update_elem(&mntns, &inum, &target, BPF_ANY))
		stat_inc(STAT_MNTNS_FULL);
	return target;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);
	struct task_info *ti = task_of(tgid);
	if (!ti) {
		/* an untracked process exec'ing inside a container target's
		 * mount namespace entered it from outside (runc exec, kubectl
		 * exec, nsenter): track it as an exec session of that target */
		__u32 inum = BPF_CORE_READ(p, nsproxy, mnt_ns, ns.inum);
		__u32 *t = bpf_map_lookup_elem(&mntns, &inum);
		__u32 pod;
		if (t)
			ti = join(p, tgid, *t, TASK_SESSION, REC_JOIN);
		else if (pod_cgroup != PODCG_NONE && (pod = new_container(p, bprm, inum)))
			ti = join(p, tgid, pod, 0, REC_CONTAINER);
		if (!ti)
			return 0;
	}
	__u32 slot = slot_of(ti);
	/* first exec of a launched child: start recording. The exec syscall
	 * itself returns through sys_exit in the new image, and is recorded
	 * there (as is the execve of a process that just joined a session). */
	if (ti->flags & TASK_ARMED) {
		ti->flags &= ~TASK_ARMED;
		set_tracked(tgid, ti);
	}

	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	struct exec_rec *r = bpf_map_lookup_elem(&execbuf, &zero);
	if (!s || !r)
		return 0;

	int pflags = 0;
	struct file *f = BPF_CORE_READ(bprm, file);
	int pos = resolve_path(BPF_CORE_READ(f, f_path.mnt), BPF_CORE_READ(f, f_path.dentry),
			       BPF_CORE_READ(p, fs, root.mnt), BPF_CORE_READ(p, fs, root.dentry),
			       &pflags);
	__u32 plen = (PATH_BUF - pos) & PATH_MASK;
	bpf_probe_read_kernel(r->data, plen, &s->path[pos & PATH_MASK]);
	if (pflags & OBJ_PATH_TRUNCATED)
		stat_inc(STAT_PATH_TRUNCATED);

	long n = bpf_probe_read_kernel_str(&r->data[plen], PATH_BUF, BPF_CORE_READ(bprm, filename));
	__u32 flen = n > 0 ? (n - 1) & PATH_MASK : 0;

	set_hdr(&r->h, REC_EXEC, slot);
	r->pid = tgid;
	r->flags = (pflags & OBJ_PATH_TRUNCATED) ? EXEC_PATH_TRUNCATED : 0;
	r->path_len = plen;
	r->filename_len = flen;
	r->pad = 0;
	bpf_get_current_comm(r->comm, sizeof(r->comm));

	__u64 size = offsetof(struct exec_rec, data) + plen + flen;
	if (bpf_ringbuf_output(&events, r, size, 0)) {
		stat_inc(STAT_RINGBUF_DROPPED);
		return 0;
	}
	stat_inc(STAT_RECORDS);
	return 0;
}

/* ---- objects: de-dup, hashing, records ----------------------------------- */

/* Returns the bits not reported yet for this object (0: a repeat, counted). */
static __always_inline __u32 dedup(__u32 slot, __u32 kind, __u64 hash, __u32 bits)
{
	struct obj_key k = {.hash = hash, .slot = slot, .kind = kind};
	stat_inc(STAT_EVENTS);
	struct obj_val *v = bpf_map_lookup_elem(&objs, &k);
	if (!v) {
		struct obj_val nv = {.bits = bits, .count = 1};
		if (bpf_map_update_elem(&objs, &k, &nv, BPF_NOEXIST) == 0)
			return bits;
		v = bpf_map_lookup_elem(&objs, &k); /* lost a race, or no room */
		if (!v) {
			stat_inc(STAT_DEDUP_FULL);
			return bits;
		}
	}
	__sync_fetch_and_add(&v->count, 1);
	if ((v->bits & bits) == bits)
		return 0;
	return bits & ~__sync_fetch_and_or(&v->bits, bits);
}

/* The record carrying `bits` was lost: forget them so a repeat reports them. */
static __always_inline void undedup(__u32 slot, __u32 kind, __u64 hash, __u32 bits)
{
	struct obj_key k = {.hash = hash, .slot = slot, .kind = kind};
	struct obj_val *v = bpf_map_lookup_elem(&objs, &k);
	if (v)
		__sync_fetch_and_and(&v->bits, ~bits);
	stat_inc(STAT_RINGBUF_DROPPED);
}

static __always_inline __u64 mix(__u64 h, __u64 w)
{
	h ^= w;
	h *= 0x9E3779B97F4A7C15ULL;
	return h ^ (h >> 29);
}

struct hash_ctx {
	__u64 h;
};

static long hash_step(__u32 i, struct hash_ctx *c)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s || i >= OBJ_DATA / 8)
		return 1;
	c->h = mix(c->h, ((__u64 *)s->orec.data)[i]);
	return 0;
}

/* hash of scratch.orec.data[0, len) (zero-padded here to 8 bytes) */
static __noinline __u64 hash_data(__u32 len)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 0;
	len &= 2 * PATH_BUF - 1;
	for (int i = 0; i < 8; i++)
		s->orec.data[len + i] = 0; /* len + 7 < OBJ_DATA */
	struct hash_ctx c = {.h = 0xcbf29ce484222325ULL ^ len};
	bpf_loop((len + 7) / 8, hash_step, &c, 0);
	return mix(c.h, len);
}

static __always_inline struct obj_rec *orec_init(struct scratch *s, __u32 type, __u32 slot)
{
	struct obj_rec *r = &s->orec;
	set_hdr(&r->h, type, slot);
	r->pid = bpf_get_current_pid_tgid() >> 32;
	r->bits = 0;
	r->id = 0;
	r->ret = 0;
	r->a = r->b = r->c = 0;
	r->d = 0;
	r->len1 = r->len2 = 0;
	r->flags = 0;
	r->name_off = 0;
	return r;
}

/* de-dups scratch.orec (data of dlen bytes, plus `salt`) and sends what is new */
static __noinline int orec_send(__u32 slot, __u32 kind, __u32 dlen, __u64 salt, __u32 bits)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 0;
	dlen &= 2 * PATH_BUF - 1;
	__u64 h = mix(hash_data(dlen), salt);
	__u32 nb = dedup(slot, kind, h, bits);
	if (!nb)
		return 0;
	s->orec.bits = nb;
	s->orec.id = h;
	if (bpf_ringbuf_output(&events, &s->orec, offsetof(struct obj_rec, data) + dlen, 0)) {
		undedup(slot, kind, h, nb);
		return 0;
	}
	stat_inc(STAT_RECORDS);
	return 1;
}

static __always_inline struct file *fd_file(struct task_struct *t, long fd)
{
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	if (fd < 0 || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	struct file **arr = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &arr[fd]);
	return f;
}

/* resolved path of {mnt, dentry} into scratch.orec.data; returns its length */
static __always_inline int path_into_rec(struct scratch *s, struct task_struct *t, struct vfsmount *mnt,
					 struct dentry *d)
{
	int pflags = 0;
	int pos = resolve_path(mnt, d, BPF_CORE_READ(t, fs, root.mnt), BPF_CORE_READ(t, fs, root.dentry), &pflags);
	__u32 len = (PATH_BUF - pos) & PATH_MASK;
	bpf_probe_read_kernel(s->orec.data, len, &s->path[pos & PATH_MASK]);
	s->orec.flags |= pflags;
	if (pflags & OBJ_PATH_TRUNCATED)
		stat_inc(STAT_PATH_TRUNCATED);
	return len;
}

/*
 * Path of `name` (a user pointer, as passed to the syscall) relative to
 * dirfd (AT_FDCWD: the cwd), as the process sees it, into scratch.orec.data;
 * returns its length or -1. An absolute name is taken as is; a relative one
 * is appended to the resolved directory. Both are OBJ_PATH_JOINED with the
 * name at name_off: the loader resolves symlinked directories inside the
 * name and normalises. An empty name (AT_EMPTY_PATH) is the dirfd's own path.
 */
static __always_inline int name_into_rec(struct scratch *s, struct task_struct *t, long dirfd, const char *name)
{
	long n = bpf_probe_read_user_str(&s->path[PATH_BUF + 1], PATH_BUF - 1, name);
	if (n <= 0)
		return -1;
	if (n >= PATH_BUF - 1) {
		s->orec.flags |= OBJ_PATH_TRUNCATED;
		stat_inc(STAT_PATH_TRUNCATED);
	}
	__u32 pos, len;
	if (s->path[PATH_BUF + 1] == '/') {
		s->orec.flags |= OBJ_PATH_JOINED;
		pos = PATH_BUF + 1;
		len = n - 1;
	} else {
		struct vfsmount *mnt;
		struct dentry *d;
		if (dirfd == -100 /* AT_FDCWD */) {
			mnt = BPF_CORE_READ(t, fs, pwd.mnt);
			d = BPF_CORE_READ(t, fs, pwd.dentry);
		} else {
			struct file *f = fd_file(t, dirfd);
			if (!f)
				return -1;
			mnt = BPF_CORE_READ(f, f_path.mnt);
			d = BPF_CORE_READ(f, f_path.dentry);
		}
		int pflags = 0;
		int p = resolve_path(mnt, d, BPF_CORE_READ(t, fs, root.mnt), BPF_CORE_READ(t, fs, root.dentry), &pflags);
		s->orec.flags |= pflags;
		if (n == 1) { /* empty name: the directory itself */
			pos = p;
			len = PATH_BUF - p;
		} else {
			s->orec.flags |= OBJ_PATH_JOINED;
			s->path[PATH_BUF] = '/';
			if (p == PATH_BUF - 1) /* directory is "/" */
				p = PATH_BUF;
			pos = p;
			len = PATH_BUF - p + n; /* dir + "/" + name (n counts the NUL) */
			s->orec.name_off = PATH_BUF + 1 - p;
		}
	}
	len &= 2 * PATH_BUF - 1;
	bpf_probe_read_kernel(s->orec.data, len, &s->path[pos & (2 * PATH_BUF - 1)]);
	return len;
}

/* ---- syscall-exit handlers (global functions: verified once each) -------- */

static __always_inline struct scratch *get_scratch(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&scratch, &zero);
}

/* a file event on a name (dirfd-relative) */
__noinline int h_name(__u32 slot, long dirfd, __u64 name, __u32 perms)
{
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	orec_init(s, REC_FILE, slot);
	int len = name_into_rec(s, bpf_get_current_task_btf(), dirfd, (const char *)name);
	if (len < 0) {
		stat_inc(STAT_PATH_FAILED);
		return 0;
	}
	return orec_send(slot, REC_FILE, len, 0, perms);
}

extern int LINUX_KERNEL_VERSION __kconfig;

/* overlayfs maps the layer's file (a backing_file, f_path on the hidden
 * layer mount); AppArmor and the process see its user_path (>= 6.8). */
static __always_inline void user_file(struct file *f, struct vfsmount **mnt, struct dentry **d)
{
	*mnt = BPF_CORE_READ(f, f_path.mnt);
	*d = BPF_CORE_READ(f, f_path.dentry);
	if (!bpf_core_field_exists(struct backing_file, user_path))
		return;
	/* FMODE_BACKING moved from bit 25 to bit 24 in 6.14 */
	__u32 backing = LINUX_KERNEL_VERSION >= KERNEL_VERSION(6, 14, 0) ? 1U << 24 : 1U << 25;
	if (BPF_CORE_READ(f, f_mode) & backing) {
		struct backing_file *bf = (void *)f;
		*mnt = BPF_CORE_READ(bf, user_path.mnt);
		*d = BPF_CORE_READ(bf, user_path.dentry);
	}
}

/* a file event on an open file (NULL: counted as path_failed) */
static __always_inline int file_event(__u32 slot, struct task_struct *t, struct file *f, __u32 perms)
{
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	if (!f) {
		stat_inc(STAT_PATH_FAILED);
		return 0;
	}
	struct vfsmount *mnt;
	struct dentry *d;
	user_file(f, &mnt, &d);
	orec_init(s, REC_FILE, slot);
	int len = path_into_rec(s, t, mnt, d);
	return orec_send(slot, REC_FILE, len, 0, perms);
}

/* a file event on an open file descriptor */
__noinline int h_fd(__u32 slot, long fd, __u32 perms)
{
	struct task_struct *t = bpf_get_current_task_btf();
	return file_event(slot, t, fd_file(t, fd), perms);
}

struct vma_file {
	struct file *f;
	int found;
};

static long vma_file_cb(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	struct vma_file *v = data;
	v->f = vma->vm_file;
	v->found = 1;
	return 0;
}

/* mprotect adding PROT_EXEC: the file mapped at addr (if any) gets mmap.
 * bpf_find_vma only try-locks the mm: a busy mm counts as path_failed. */
__noinline int h_mprotect(__u32 slot, __u64 addr)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct vma_file v = {};
	if (bpf_find_vma(t, addr, vma_file_cb, &v, 0) && !v.found) {
		stat_inc(STAT_PATH_FAILED);
		return 0;
	}
	if (!v.f)
		return 0; /* anonymous memory (JIT code): no file rule */
	return file_event(slot, t, v.f, P_MMAP);
}

__noinline int h_socket(__u32 slot, __u32 domain, __u32 type, __u32 proto)
{
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct obj_rec *r = orec_init(s, REC_SOCKET, slot);
	r->a = domain;
	r->b = type & 0xff;
	r->c = proto;
	return orec_send(slot, REC_SOCKET, 0, ((__u64)domain << 40) | ((__u64)(type & 0xff) << 32) | proto, 1);
}

#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10

static __always_inline struct sock *fd_sock(struct task_struct *t, long fd)
{
	struct file *f = fd_file(t, fd);
	if (!f)
		return NULL;
	struct socket *so = BPF_CORE_READ(f, private_data);
	return BPF_CORE_READ(so, sk);
}

/* a unix socket's name: bound path (resolved), abstract name or none */
static __always_inline int unix_name_into_rec(struct scratch *s, struct task_struct *t, struct sock *sk)
{
	struct unix_sock *u = (void *)sk;
	struct dentry *d = BPF_CORE_READ(u, path.dentry);
	if (d)
		return path_into_rec(s, t, BPF_CORE_READ(u, path.mnt), d);
	struct unix_address *ua = BPF_CORE_READ(u, addr);
	if (!ua) {
		s->orec.flags |= OBJ_UNNAMED;
		return 0;
	}
	int alen = BPF_CORE_READ(ua, len) - 2; /* minus sun_family */
	if (alen <= 1 || alen > 108) {
		s->orec.flags |= OBJ_UNNAMED;
		return 0;
	}
	s->orec.flags |= OBJ_ABSTRACT; /* no dentry: abstract; name after the leading NUL */
	bpf_probe_read_kernel(s->orec.data, (alen - 1) & 127, (char *)ua->name + 3);
	return (alen - 1) & 127;
}

/* egress: connect/sendto/sendmsg with a destination address (user sockaddr) */
__noinline int h_egress(__u32 slot, long fd, __u64 uaddr, __u32 alen)
{
	struct scratch *s = get_scratch();
	if (!s || !uaddr)
		return 0;
	struct obj_rec *r = orec_init(s, REC_CONNECT, slot);
	__u16 fam = 0;
	if (bpf_probe_read_user(&fam, 2, (void *)uaddr))
		return 0;
	r->a = fam;
	int len = 0;
	if (fam == AF_INET) {
		struct sockaddr_in sin;
		if (bpf_probe_read_user(&sin, sizeof(sin), (void *)uaddr))
			return 0;
		r->b = bpf_ntohs(sin.sin_port);
		__builtin_memcpy(r->data, &sin.sin_addr, 4);
		len = 4;
	} else if (fam == AF_INET6) {
		struct sockaddr_in6 sin6;
		if (bpf_probe_read_user(&sin6, sizeof(sin6), (void *)uaddr))
			return 0;
		r->b = bpf_ntohs(sin6.sin6_port);
		__builtin_memcpy(r->data, &sin6.sin6_addr, 16);
		len = 16;
	} else if (fam == AF_UNIX) {
		struct task_struct *t = bpf_get_current_task_btf();
		/* connected: the peer's bound path, resolved; else the name passed */
		struct sock *sk = fd_sock(t, fd);
		struct sock *peer = sk ? BPF_CORE_READ((struct unix_sock *)sk, peer) : NULL;
		if (peer) {
			len = unix_name_into_rec(s, t, peer);
		} else {
			char c0 = 1;
			bpf_probe_read_user(&c0, 1, (char *)uaddr + 2);
			if (c0 == 0) {
				int n = (int)alen - 3;
				if (n <= 0 || n > 107)
					return 0;
				s->orec.flags |= OBJ_ABSTRACT;
				bpf_probe_read_user(r->data, n & 127, (char *)uaddr + 3);
				len = n & 127;
			} else {
				len = name_into_rec(s, t, -100, (char *)uaddr + 2);
				if (len < 0)
					return 0;
			}
		}
	} else {
		return 0;
	}
	return orec_send(slot, REC_CONNECT, len, ((__u64)fam << 32) | r->b, 1);
}

/* bind/listen: the socket's local address, read from the socket itself */
__noinline int h_local(__u32 slot, long fd, __u32 op)
{
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	struct sock *sk = fd_sock(t, fd);
	if (!sk)
		return 0;
	struct obj_rec *r = orec_init(s, REC_BIND, slot);
	__u16 fam = BPF_CORE_READ(sk, __sk_common.skc_family);
	r->a = op;
	r->c = fam;
	int len = 0;
	if (fam == AF_INET) {
		r->b = BPF_CORE_READ(sk, __sk_common.skc_num);
		__u32 a = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__builtin_memcpy(r->data, &a, 4);
		len = 4;
	} else if (fam == AF_INET6) {
		r->b = BPF_CORE_READ(sk, __sk_common.skc_num);
		BPF_CORE_READ_INTO(r->data, sk, __sk_common.skc_v6_rcv_saddr);
		len = 16;
	} else if (fam == AF_UNIX) {
		len = unix_name_into_rec(s, t, sk);
	} else {
		return 0;
	}
	return orec_send(slot, REC_BIND, len, ((__u64)fam << 40) | ((__u64)op << 32) | r->b, 1);
}

/* MNT_* (a mount's mnt_flags) -> MS_* as mount(2) and AppArmor spell them */
static __always_inline __u64 mnt_ms_flags(int mf)
{
	return (mf & 0x40 ? 1 : 0) | (mf & 0x01 ? 2 : 0) | (mf & 0x02 ? 4 : 0) | (mf & 0x04 ? 8 : 0) |
	       (mf & 0x08 ? 1024 : 0) | (mf & 0x10 ? 2048 : 0) | (mf & 0x20 ? 1 << 21 : 0);
}

/* a mount attempt (mount, umount2, move_mount, open_tree clone) */
struct mount_ev {
	__u64 target;  /* user pointer, dirfd-relative */
	__u64 fstype;  /* user string or 0 */
	__u64 flags;   /* MS_* / MNT_* of umount2 */
	long dirfd;
	long ret;
	long from_fd;  /* move_mount of a mount fd, else -1 */
	__u32 op;      /* OP_* */
};

/*
 * mount(2), umount2(2), move_mount(2) and open_tree(2) with OPEN_TREE_CLONE,
 * successful or not (the attempt is what a profile needs). For move_mount of
 * a mount fd (fsmount, open_tree) that mount gives the fstype, its source
 * (fsconfig "source", or the cloned mount's) and its flags.
 */
__noinline int h_mount(__u32 slot, struct mount_ev *e)
{
	struct scratch *s = get_scratch();
	if (!s || !e) /* a global function's pointer argument may be NULL to the verifier */
		return 0;
	struct obj_rec *r = orec_init(s, REC_MOUNT, slot);
	struct task_struct *t = bpf_get_current_task_btf();
	__u64 flags = e->flags;
	r->a = e->op;
	r->ret = e->ret;
	int len = name_into_rec(s, t, e->dirfd, (const char *)e->target);
	if (len < 0) {
		stat_inc(STAT_PATH_FAILED);
		return 0;
	}
	len &= 2 * PATH_BUF - 1;
	r->len1 = len;
	int n2 = 0, n3 = 0;
	struct file *from = e->from_fd >= 0 ? fd_file(t, e->from_fd) : NULL;
	if (e->fstype) {
		long n = bpf_probe_read_user_str(&r->data[len], 64, (const char *)e->fstype);
		n2 = n > 0 ? (n - 1) & 63 : 0;
	} else if (from) {
		struct vfsmount *vm = BPF_CORE_READ(from, f_path.mnt);
		struct mount *m = (void *)vm - bpf_core_field_offset(struct mount, mnt);
		flags |= mnt_ms_flags(BPF_CORE_READ(vm, mnt_flags));
		long n = bpf_probe_read_kernel_str(&r->data[len], 64, BPF_CORE_READ(vm, mnt_sb, s_type, name));
		n2 = n > 0 ? (n - 1) & 63 : 0;
		n = bpf_probe_read_kernel_str(&r->data[(len + n2) & (2 * PATH_BUF - 1)], 128, BPF_CORE_READ(m, mnt_devname));
		n3 = n > 0 ? (n - 1) & 127 : 0;
	}
	r->len2 = n2;
	r->c = n3;
	r->d = flags;
	return orec_send(slot, REC_MOUNT, len + n2 + n3, mix(flags, ((__u64)n2 << 8) | ((r->ret == 0) << 3) | r->a), 1);
}

#define CLONE_NEW_MASK 0x7E020080ULL /* NEWNS NEWCGROUP NEWUTS NEWIPC NEWUSER NEWPID NEWNET, NEWTIME */

__noinline int h_ns(__u32 slot, __u32 op, __u64 flags, long ret)
{
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct obj_rec *r = orec_init(s, REC_NS, slot);
	r->a = op;
	r->d = flags;
	r->ret = ret;
	return orec_send(slot, REC_NS, 0, mix(flags, ((ret == 0) << 2) | op), 1);
}

/* kernels before ns_common.ns_type (6.18) kept the type in the ops */
struct proc_ns_operations___old {
	int type;
};
struct ns_common___old {
	const struct proc_ns_operations___old *ops;
};

/* setns(fd, 0): the namespace type comes from the nsfs file */
__noinline int h_setns(__u32 slot, long fd, __u32 nstype, long ret)
{
	if (nstype == 0 && ret == 0) {
		struct file *f = fd_file(bpf_get_current_task_btf(), fd);
		struct ns_common *ns = f ? BPF_CORE_READ(f, f_path.dentry, d_fsdata) : NULL;
		if (ns) {
			if (bpf_core_field_exists(ns->ns_type))
				nstype = BPF_CORE_READ(ns, ns_type);
			else
				nstype = BPF_CORE_READ((struct ns_common___old *)ns, ops, type);
		}
	}
	return h_ns(slot, OP_SETNS, nstype, ret);
}

/* Is `peer` outside `target`? Untracked, or another target's, unless it is
 * one of the target's own processes that has exited (see `exited`). */
static __always_inline __u32 outside(__u32 target, struct task_struct *peer)
{
	__u32 ptgid = BPF_CORE_READ(peer, tgid);
	struct task_info *pi = bpf_map_lookup_elem(&tasks, &ptgid);
	if (pi)
		return pi->target != target;
	struct exited_info *ex = bpf_map_lookup_elem(&exited, &ptgid);
	return !ex || ex->target != target || ex->start != BPF_CORE_READ(peer, group_leader, start_time);
}

/* a ptrace-mediated access to `peer` (bits: 1 read, 2 trace), its attempt
 * (`ret`) and how (`op`: OP_PTRACE, OP_VM_READ, OP_VM_WRITE); allowed and
 * denied ones are separate objects */
static __always_inline int ptrace_send(__u32 slot, __u32 op, long request, struct task_struct *peer, __u32 bits,
				       long ret)
{
	__u32 ptgid = BPF_CORE_READ(peer, tgid);
	__u32 external = outside(slot & (MAX_TARGETS - 1), peer);
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct obj_rec *r = orec_init(s, REC_PTRACE, slot);
	r->a = request;
	r->b = external;
	r->c = ptgid;
	r->d = op;
	r->ret = ret;
	return orec_send(slot, REC_PTRACE, 0, ((ret == 0) << 1) | external, bits);
}

/* ptrace attach/seize (peer: the new tracee) and traceme (peer: the parent) */
__noinline int h_ptrace(__u32 slot, long request)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct task_struct *peer;
	if (request == 0) { /* PTRACE_TRACEME */
		peer = BPF_CORE_READ(t, real_parent);
	} else {
		struct list_head *first = BPF_CORE_READ(t, ptraced.next);
		if (!first || first == (void *)t + bpf_core_field_offset(struct task_struct, ptraced))
			return 0;
		peer = (void *)first - bpf_core_field_offset(struct task_struct, ptrace_entry);
	}
	return ptrace_send(slot, OP_PTRACE, request, peer, 2 /* trace */, 0);
}

#ifndef bpf_ksym_exists /* libbpf < 1.2 */
#define bpf_ksym_exists(sym) (!!(sym))
#endif
extern struct task_struct *bpf_task_from_vpid(s32 vpid) __weak __ksym;
extern void bpf_task_release(struct task_struct *p) __weak __ksym;

/* process_vm_readv/writev: ptrace_may_access(READ) / (ATTACH) on the pid,
 * which is in the caller's pid namespace (bpf_task_from_vpid, kernel >= 6.13;
 * without it these are not recorded). A peer gone by now: path_failed. */
__noinline int h_process_vm(__u32 slot, long pid, __u32 op, long ret)
{
	if (!bpf_ksym_exists(bpf_task_from_vpid))
		return 0;
	struct task_struct *peer = bpf_task_from_vpid(pid);
	if (!peer) {
		stat_inc(STAT_PATH_FAILED);
		return 0;
	}
	ptrace_send(slot, op, 0, peer, op == OP_VM_WRITE ? 2 : 1, ret < 0 ? ret : 0);
	bpf_task_release(peer);
	return 0;
}

#define O_ACCMODE 3
#define O_WRONLY 1
#define O_RDWR 2
#define O_CREAT 0100
#define O_TRUNC 01000
#define O_APPEND 02000
#define O_PATH 010000000
#define AT_FDCWD -100

static __always_inline __u32 open_perms(__u64 fl)
{
	if (fl & O_PATH)
		return 0; /* no access to the contents */
	__u32 acc = fl & O_ACCMODE, p = 0;
	if (acc != O_WRONLY)
		p |= P_READ;
	if (acc == O_WRONLY || acc == O_RDWR)
		p |= ((fl & O_APPEND) && !(fl & O_TRUNC)) ? P_APPEND : P_WRITE;
	if (fl & O_TRUNC)
		p |= P_WRITE;
	if (fl & O_CREAT)
		p |= P_CREATE;
	return p;
}

#define ARG1 PT_REGS_PARM1_CORE_SYSCALL(regs)
#define ARG2 PT_REGS_PARM2_CORE_SYSCALL(regs)
#define ARG3 PT_REGS_PARM3_CORE_SYSCALL(regs)
#define ARG4 PT_REGS_PARM4_CORE_SYSCALL(regs)
#define ARG5 PT_REGS_PARM5_CORE_SYSCALL(regs)

/*
 * Syscall exit: the only per-syscall program. It records the syscall set and
 * counts (one hook instead of sys_enter + sys_exit; exit/exit_group, which
 * never return, are recorded in on_exit; execve returns here in the new
 * image) and the objects of the syscalls in handled_bits. The arguments are
 * still in the task's user pt_regs (x86_64: di si dx r10 r8; arm64:
 * orig_x0 x1..), the result is `ret`. Files opened are resolved from the
 * returned fd; names (unlink, rename, ...) relative to their dirfd/cwd.
 * Bystanders: one byte load (`tracked`), no hash lookup for anyone.
 */
SEC("tp_btf/sys_exit")
int BPF_PROG(on_sys_exit, struct pt_regs *regs, long ret)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 slot = tracked_byte(tgid);
	if (!slot || (slot & TRACKED_ARMED))
		return 0;
	long nr = SYSCALL_NR(regs);

	if ((unsigned long)nr >= MAX_SYSCALLS) {
		/* rt_sigreturn restores the interrupted context and sets the
		 * nr to -1 (x86 restore_sigcontext, arm64 forget_syscall). A
		 * -1 with -ENOSYS is a syscall(-1) or one skipped by a ptracer. */
		if (nr != -1 || ret == -ENOSYS)
			return 0;
		record_syscall(slot, NR_rt_sigreturn);
		return 0;
	}
	/* a new child or thread returns from clone/fork with 0 through
	 * sys_exit too: the parent has counted that call */
	if (ret == 0 && (nr == NR_clone || nr == NR_clone3 || nr == NR_fork || nr == NR_vfork))
		return 0;
	record_syscall(slot, nr);
	if (!(handled_bits[(nr >> 6) & (SYSCALL_WORDS - 1)] & (1ULL << (nr & 63))))
		return 0;

	switch (nr) {
	/* ---- files, by the returned fd ---- */
	case NR_open:
		if (ret >= 0)
			h_fd(slot, ret, open_perms((unsigned int)ARG2));
		break;
	case NR_openat:
		if (ret >= 0)
			h_fd(slot, ret, open_perms((unsigned int)ARG3));
		break;
	case NR_creat:
		if (ret >= 0)
			h_fd(slot, ret, P_CREATE | P_WRITE);
		break;
	case NR_openat2:
		if (ret >= 0) {
			__u64 fl = 0;
			bpf_probe_read_user(&fl, sizeof(fl), (void *)ARG3); /* open_how.flags */
			h_fd(slot, ret, open_perms(fl));
		}
		break;
	/* ---- files, by fd argument ---- */
	case NR_mmap: /* file mapped executable */
		if ((unsigned long)ret < (unsigned long)-4095L && (ARG3 & 4 /* PROT_EXEC */) &&
		    !(ARG4 & 0x20 /* MAP_ANONYMOUS */))
			h_fd(slot, (int)ARG5, P_MMAP);
		break;
	case NR_flock:
		if (ret == 0 && !(ARG2 & 8 /* LOCK_UN */))
			h_fd(slot, (int)ARG1, P_LOCK);
		break;
	case NR_fcntl: {
		int cmd = ARG2;
		if (ret == 0 && (cmd == 6 || cmd == 7 || cmd == 37 || cmd == 38)) /* F_SETLK(W), F_OFD_SETLK(W) */
			h_fd(slot, (int)ARG1, P_LOCK);
		break;
	}
	case NR_ftruncate:
		if (ret == 0)
			h_fd(slot, (int)ARG1, P_WRITE);
		break;
	case NR_fchmod:
		if (ret == 0)
			h_fd(slot, (int)ARG1, P_CHMOD);
		break;
	case NR_fchown:
		if (ret == 0)
			h_fd(slot, (int)ARG1, P_CHOWN);
		break;
	/* ---- files, by name ---- */
	case NR_truncate:
		if (ret == 0)
			h_name(slot, AT_FDCWD, ARG1, P_WRITE);
		break;
	case NR_unlink:
	case NR_rmdir:
		if (ret == 0)
			h_name(slot, AT_FDCWD, ARG1, P_DELETE);
		break;
	case NR_unlinkat:
		if (ret == 0)
			h_name(slot, (int)ARG1, ARG2, P_DELETE);
		break;
	case NR_mkdir:
	case NR_mknod:
		if (ret == 0)
			h_name(slot, AT_FDCWD, ARG1, P_CREATE);
		break;
	case NR_mkdirat:
	case NR_mknodat:
		if (ret == 0)
			h_name(slot, (int)ARG1, ARG2, P_CREATE);
		break;
	case NR_chmod:
		if (ret == 0)
			h_name(slot, AT_FDCWD, ARG1, P_CHMOD);
		break;
	case NR_fchmodat:
	case NR_fchmodat2:
		if (ret == 0)
			h_name(slot, (int)ARG1, ARG2, P_CHMOD);
		break;
	case NR_chown:
	case NR_lchown:
		if (ret == 0)
			h_name(slot, AT_FDCWD, ARG1, P_CHOWN);
		break;
	case NR_fchownat:
		if (ret == 0)
			h_name(slot, (int)ARG1, ARG2, P_CHOWN);
		break;
	case NR_rename:
		if (ret == 0) {
			h_name(slot, AT_FDCWD, ARG1, P_RENAME | P_READ | P_WRITE | P_DELETE);
			h_name(slot, AT_FDCWD, ARG2, P_CREATE | P_WRITE);
		}
		break;
	case NR_renameat:
	case NR_renameat2:
		if (ret == 0) {
			h_name(slot, (int)ARG1, ARG2, P_RENAME | P_READ | P_WRITE | P_DELETE);
			h_name(slot, (int)ARG3, ARG4, P_CREATE | P_WRITE);
		}
		break;
	case NR_link:
		if (ret == 0)
			h_name(slot, AT_FDCWD, ARG2, P_LINK);
		break;
	case NR_linkat:
		if (ret == 0)
			h_name(slot, (int)ARG3, ARG4, P_LINK);
		break;
	case NR_symlink:
		if (ret == 0)
			h_name(slot, AT_FDCWD, ARG2, P_CREATE);
		break;
	case NR_symlinkat:
		if (ret == 0)
			h_name(slot, (int)ARG2, ARG3, P_CREATE);
		break;
	/* ---- network ---- */
	case NR_socket:
		if (ret >= 0)
			h_socket(slot, (int)ARG1, (int)ARG2, (int)ARG3);
		break;
	case NR_socketpair:
		if (ret == 0)
			h_socket(slot, (int)ARG1, (int)ARG2, (int)ARG3);
		break;
	case NR_connect:
		if (ret == 0 || ret == -115 /* EINPROGRESS */)
			h_egress(slot, (int)ARG1, ARG2, (int)ARG3);
		break;
	case NR_sendto:
		if (ret >= 0 && ARG5)
			h_egress(slot, (int)ARG1, ARG5, (int)ARG6);
		break;
	case NR_sendmsg:
		if (ret >= 0) {
			struct {
				__u64 name;
				__u32 namelen;
			} mh = {};
			bpf_probe_read_user(&mh, 12, (void *)ARG2);
			if (mh.name)
				h_egress(slot, (int)ARG1, mh.name, mh.namelen);
		}
		break;
	case NR_bind:
		if (ret == 0)
			h_local(slot, (int)ARG1, OP_BIND);
		break;
	case NR_listen:
		if (ret == 0)
			h_local(slot, (int)ARG1, OP_LISTEN);
		break;
	/* ---- processes, mounts, namespaces ---- */
	case NR_mprotect:
		if (ret == 0 && (ARG3 & 4 /* PROT_EXEC */))
			h_mprotect(slot, ARG1);
		break;
	case NR_process_vm_readv:
	case NR_process_vm_writev:
		/* done, or refused by ptrace_may_access (the attempt a profile must allow) */
		if (ret >= 0 || ret == -1 /* EPERM */ || ret == -13 /* EACCES */)
			h_process_vm(slot, (int)ARG1, nr == NR_process_vm_readv ? OP_VM_READ : OP_VM_WRITE, ret);
		break;
	case NR_ptrace: {
		long req = ARG1; /* long on every architecture */
		if (ret == 0 && (req == 0 || req == 16 /* ATTACH */ || req == 0x4206 /* SEIZE */))
			h_ptrace(slot, req);
		break;
	}
	case NR_mount: {
		struct mount_ev e = {.target = ARG2, .fstype = ARG3, .flags = ARG4, .dirfd = AT_FDCWD, .ret = ret,
				     .from_fd = -1, .op = OP_MOUNT};
		h_mount(slot, &e);
		break;
	}
	case NR_umount2: {
		struct mount_ev e = {.target = ARG1, .flags = ARG2, .dirfd = AT_FDCWD, .ret = ret, .from_fd = -1,
				     .op = OP_UMOUNT};
		h_mount(slot, &e);
		break;
	}
	case NR_move_mount: { /* AppArmor: a mount with MS_MOVE onto the target */
		char c0 = 1;
		if (ARG5 & 0x4 /* MOVE_MOUNT_F_EMPTY_PATH */)
			bpf_probe_read_user(&c0, 1, (void *)ARG2);
		struct mount_ev e = {.target = ARG4, .flags = 8192 /* MS_MOVE */, .dirfd = (int)ARG3, .ret = ret,
				     .from_fd = c0 ? -1 : (int)ARG1, .op = OP_MOVE};
		h_mount(slot, &e);
		break;
	}
	case NR_open_tree: /* a clone is the source of a bind mount */
		if (ARG3 & 1 /* OPEN_TREE_CLONE */) {
			struct mount_ev e = {.target = ARG2, .flags = 4096 /* MS_BIND */ | (ARG3 & 0x8000 /* AT_RECURSIVE */ ? 16384 : 0),
					     .dirfd = (int)ARG1, .ret = ret < 0 ? ret : 0, .from_fd = -1, .op = OP_CLONE};
			h_mount(slot, &e);
		}
		break;
	case NR_unshare:
		h_ns(slot, OP_UNSHARE, (unsigned int)ARG1 & CLONE_NEW_MASK, ret);
		break;
	case NR_setns:
		h_setns(slot, (int)ARG1, (int)ARG2, ret);
		break;
	case NR_clone:
		if (ret > 0 && (ARG1 & CLONE_NEW_MASK))
			h_ns(slot, OP_UNSHARE, ARG1 & CLONE_NEW_MASK, 0);
		break;
	case NR_clone3:
		if (ret > 0) {
			__u64 fl = 0;
			bpf_probe_read_user(&fl, sizeof(fl), (void *)ARG1);
			if (fl & CLONE_NEW_MASK)
				h_ns(slot, OP_UNSHARE, fl & CLONE_NEW_MASK, 0);
		}
		break;
	}
	return 0;
}

/*
 * io_uring opens (IORING_OP_OPENAT/OPENAT2) never pass through the open
 * syscalls: the completion carries the new fd. It is posted in the owner's
 * context (the submitting thread, or an io-wq worker thread of the same
 * process, which shares its file table), so the fd resolves like an open's.
 * A direct-descriptor open (into the ring's fixed file table) has no fd: it
 * is counted in STAT_URING_FIXED. Not loaded on kernels without io_uring.
 */
SEC("tp_btf/io_uring_complete")
int BPF_PROG(on_uring_complete, void *ring, void *req, struct io_uring_cqe *cqe)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 slot = tracked_byte(tgid);
	if (!slot || (slot & TRACKED_ARMED) || !req)
		return 0;
	struct io_kiocb *rq = req;
	__u8 opcode = BPF_CORE_READ(rq, opcode);
	if (opcode != IORING_OP_OPENAT && opcode != IORING_OP_OPENAT2)
		return 0;
	int res = BPF_CORE_READ(cqe, res);
	if (res < 0)
		return 0;
	struct io_open *op = req; /* the request's command data, at its start */
	if (BPF_CORE_READ(op, file_slot)) {
		stat_inc(STAT_URING_FIXED);
		return 0;
	}
	h_fd(slot, res, open_perms(BPF_CORE_READ(op, how.flags)));
	return 0;
}

/* A small record (no path) straight into the ring: capability and signal
 * programs may run in any context, where the per-CPU scratch is not safe.
 * `extra` bytes of `data` follow, filled by the caller. */
static __always_inline struct obj_rec *small_rec(__u32 slot, __u32 kind, __u32 tgid, __u64 h, __u32 extra)
{
	struct obj_rec *r = bpf_ringbuf_reserve(&events, offsetof(struct obj_rec, data) + extra, 0);
	if (!r) {
		undedup(slot, kind, h, 1);
		return NULL;
	}
	set_hdr(&r->h, kind, slot);
	r->pid = tgid;
	r->bits = 1;
	r->id = h;
	r->ret = 0;
	r->a = r->b = r->c = 0;
	r->d = 0;
	r->len1 = r->len2 = r->flags = r->name_off = 0;
	return r;
}

static __always_inline void small_send(struct obj_rec *r)
{
	bpf_ringbuf_submit(r, 0);
	stat_inc(STAT_RECORDS);
}

static __always_inline bool capable_text(__u64 ip, int which)
{
	return ip >= capable_lo[which & 1] && ip < capable_hi[which & 1];
}

/* Is the asker one of the noaudit callers (see noaudit_lo)? */
static __always_inline bool unaudited(__u64 asker)
{
	for (__u32 j = 0; j < NOAUDIT_RANGES; j++) {
		if (j >= noaudit_n)
			break;
		if (asker >= noaudit_lo[j] && asker < noaudit_hi[j])
			return true;
	}
	return false;
}

static __always_inline __u64 stack_word(void *ctx, __u32 slot)
{
	__u64 w = 0;
	bpf_probe_read_kernel(&w, sizeof(w), (__u64 *)ctx + (slot & (CAP_SCAN_WORDS - 1)));
	return w;
}

/* the asker from the learned slots; 0 when they are not known or do not hold what they should */
static __always_inline __u64 asker_from_slots(void *ctx)
{
	__u32 k0 = cap_slot[0], k1 = cap_slot[1];
	if (!k0 || !k1 || !capable_text(stack_word(ctx, k0), CAP_CAPABLE))
		return 0;
	__u64 w = stack_word(ctx, k1);
	if (!capable_text(w, CAP_SECURITY))
		return w;
	return cap_slot[2] ? stack_word(ctx, cap_slot[2]) : 0;
}

/* the raw words above ctx, to find the walked frames' slots in */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64[CAP_SCAN_WORDS]);
} capscan SEC(".maps");

/* one pass over the raw words: the slots of the three frames, in order (bpf_loop: verified once) */
struct slot_scan {
	__u64 *words;
	__u64 ip[3];
	__u32 k[3];
};

static long slot_step(__u32 j, struct slot_scan *c)
{
	if (j == 0 || j >= CAP_SCAN_WORDS)
		return 0;
	__u64 w = c->words[j];
	if (!c->k[0]) {
		if (w == c->ip[0])
			c->k[0] = j;
	} else if (!c->k[1]) {
		if (w == c->ip[1])
			c->k[1] = j;
	} else if (!c->k[2] && w == c->ip[2]) {
		c->k[2] = j;
		return 1;
	}
	return 0;
}

/* the asker from a stack walk, learning the slots on the way; 0 when the walk does not show it */
static __always_inline __u64 asker_from_walk(void *ctx)
{
	__u64 ips[CAP_FRAMES] = {};
	long got = bpf_get_stack(ctx, ips, sizeof(ips), 0);
	int n = got > 0 ? (int)((__u64)got >> 3) : 0;
	int i = -1;
	for (int f = 0; f < CAP_FRAMES - 2; f++)
		if (f < n && capable_text(ips[f], CAP_CAPABLE)) {
			i = f;
			break;
		}
	if (i < 0 || i + 2 >= n)
		return 0;
	__u64 c0 = ips[i & 7], c1 = ips[(i + 1) & 7], c2 = ips[(i + 2) & 7];
	bool via_security = capable_text(c1, CAP_SECURITY);
	__u32 zero = 0;
	__u64 *words = bpf_map_lookup_elem(&capscan, &zero);
	if (words && bpf_probe_read_kernel(words, CAP_SCAN_WORDS * 8, ctx) == 0) {
		struct slot_scan sc = {.words = words, .ip = {c0, c1, c2}};
		bpf_loop(CAP_SCAN_WORDS, slot_step, &sc, 0);
		if (sc.k[1]) {
			cap_slot[0] = sc.k[0];
			cap_slot[1] = sc.k[1];
			if (via_security && sc.k[2])
				cap_slot[2] = sc.k[2];
		}
	}
	return via_security ? c2 : c1;
}

/* Who asked: from the slots, with a walk when they cannot tell and every CAP_VERIFY_EVERY checks. */
static __always_inline __u64 asker_of(void *ctx)
{
	__u64 fast = asker_from_slots(ctx);
	if (fast && (cap_checks++ & (CAP_VERIFY_EVERY - 1)))
		return fast;
	__u64 walked = asker_from_walk(ctx);
	if (fast && walked && fast != walked) {
		stat_inc(STAT_CAP_SLOT_MISS);
		cap_slot[0] = cap_slot[1] = cap_slot[2] = 0;
	}
	return walked ? walked : fast;
}

/*
 * Capability checks (granted: ret == 0). Bystanders: a bitmap test. For a
 * target, who asked (asker_of) tells a check made without auditing
 * (CAP_OPT_NOAUDIT), which only probes the privilege (the overcommit check
 * asks CAP_SYS_ADMIN on every mmap of a root process), from a request for
 * it: the former is REC_CAP_NOAUDIT, never a capability. The asker's
 * address goes with the record (once per object) for the loader to name.
 */
SEC("tp_btf/cap_capable")
int BPF_PROG(on_cap, const struct cred *cred, struct user_namespace *target_ns,
	     const struct user_namespace *capable_ns, int cap, int ret)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct task_info *ti = task_of(tgid);
	if (!ti || (ti->flags & TASK_ARMED))
		return 0;
	__u32 slot = slot_of(ti);
	__u32 granted = ret == 0;
	__u64 h = ((__u64)granted << 8) | (cap & 0xff);
	__u64 asker = noaudit_n ? asker_of(ctx) : 0;
	__u32 kind = REC_CAP;
	if (asker && unaudited(asker)) {
		kind = REC_CAP_NOAUDIT;
		stat_inc(STAT_CAP_NOAUDIT);
	}
	if (!dedup(slot, kind, h, 1))
		return 0;
	struct obj_rec *r = small_rec(slot, kind, tgid, h, sizeof(asker));
	if (!r)
		return 0;
	r->ret = ret;
	r->a = cap;
	r->b = granted;
	__builtin_memcpy(r->data, &asker, sizeof(asker));
	small_send(r);
	return 0;
}

/* Signals sent by a tracked process (user-sent only: kill, tkill, tgkill,
 * rt_sigqueueinfo, pidfd_send_signal; not the kernel's SIGCHLD, SIGPIPE, ...). */
SEC("tp_btf/signal_generate")
int BPF_PROG(on_signal, int sig, struct kernel_siginfo *info, struct task_struct *task, int group, int result)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct task_info *ti = task_of(tgid);
	if (!ti || (ti->flags & TASK_ARMED))
		return 0;
	if ((unsigned long)info <= 1) /* SEND_SIG_NOINFO / SEND_SIG_PRIV: from the kernel */
		return 0;
	if (BPF_CORE_READ(info, si_code) > 0) /* SI_USER 0, SI_QUEUE -1, SI_TKILL -6, ... */
		return 0;
	__u32 slot = slot_of(ti);
	__u32 external = outside(ti->target, task);
	__u64 h = ((__u64)external << 8) | (sig & 0xff);
	if (!dedup(slot, REC_SIGNAL, h, 1))
		return 0;
	struct obj_rec *r = small_rec(slot, REC_SIGNAL, tgid, h, 0);
	if (!r)
		return 0;
	r->ret = result;
	r->a = sig;
	r->b = external;
	r->c = BPF_CORE_READ(task, tgid);
	small_send(r);
	return 0;
}
