// SPDX-License-Identifier: GPL-2.0
/*
 * varmor-tracer kernel side: per-target syscall sets, exec paths and
 * process lifetimes for the processes in `tasks` and their descendants.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "tracer.h"

char LICENSE[] SEC("license") = "GPL";

#define SIGNAL_GROUP_EXIT 0x00000004 /* include/linux/sched/signal.h */

/*
 * Tracked processes, keyed by tgid. 65536 entries (~5 MiB preallocated) is far
 * more than the process count of the handful of workloads one modeller traces
 * at a time, while bounded. An insert into a full map is counted in
 * STAT_TASKS_FULL.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct task_info);
} tasks SEC(".maps");

/* Syscalls already reported, one 512-bit set per slot (128 * 64 bytes). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SLOTS);
	__type(key, __u32);
	__type(value, struct syscall_bits);
} seen SEC(".maps");

/* Call counts [slot * MAX_SYSCALLS + nr]; per-CPU so the hot path never
 * contends (128 * 512 * 8 bytes = 512 KiB per CPU). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_SLOTS * MAX_SYSCALLS);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

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
	struct exec_rec rec;
	struct obj_rec orec;
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

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
	if (cnt)
		*cnt += 1;

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

SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long id)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct task_info *ti = bpf_map_lookup_elem(&tasks, &tgid);
	if (!ti)
		return 0; /* bystander: one lookup, done */

	if ((__u64)id >= MAX_SYSCALLS)
		return 0;
	if (ti->flags & TASK_ARMED) {
		/* launched child before its exec: remember the syscall so the
		 * execve/execveat that arms it off is recorded at exec time */
		ti->pending_nr = id;
		return 0;
	}
	record_syscall(slot_of(ti), id);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	struct task_info *pi = bpf_map_lookup_elem(&tasks, &ptgid);
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
	struct task_info *ti = bpf_map_lookup_elem(&tasks, &tgid);
	if (!ti)
		return 0;
	/* do_exit() decrements signal->live before this tracepoint; the
	 * thread group is dead only when the last thread gets here (the
	 * leader may exit first while other threads keep running). */
	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0;

	__u32 slot = slot_of(ti);
	int status;
	if (BPF_CORE_READ(p, signal, flags) & SIGNAL_GROUP_EXIT)
		status = BPF_CORE_READ(p, signal, group_exit_code);
	else
		status = BPF_CORE_READ(p, group_leader, exit_code); /* what wait() reports */
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

