// SPDX-License-Identifier: GPL-2.0
/*
 * Process lifecycle: fork adds a tracked parent's children, exec reports the
 * resolved binary (and makes processes entering a container target's mount
 * namespace, or new containers of a pod target, part of it), exit reports
 * the thread group's end.
 */
#include "path.bpf.h"
#include "records.bpf.h"
#include "syscall_nr.bpf.h"

#define SIGNAL_GROUP_EXIT 0x00000004 /* include/linux/sched/signal.h */
#define PF_SIGNALED 0x00000400     /* include/linux/sched.h: killed by a signal */

/* exec records are built here (per-CPU values are limited to 32 KiB) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_rec);
} execbuf SEC(".maps");

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

/* the hierarchy the pod check reads (enum pod_cgroup_mode), set by the loader before load */
const volatile __u32 pod_cgroup = PODCG_NONE;

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
		stat_inc(ci.target, STAT_TASKS_FULL);
		return 0;
	}
	set_tracked(ctgid, &ci);
	send_fork_rec(REC_FORK, slot_of(&ci), ctgid, parent);
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

	struct exit_rec *r = rec_reserve(sizeof(*r), REC_EXIT, slot);
	if (!r)
		return 0;
	r->pid = tgid;
	r->status = status;
	rec_submit(r);
	return 0;
}

/* An untracked process becomes part of `target` at its exec; `type` tells the
 * loader why (REC_JOIN: an exec session, REC_CONTAINER: a new container of a pod). */
static __always_inline struct task_info *join(struct task_struct *p, __u32 tgid, __u32 target, __u32 flags,
					      __u32 type)
{
	struct task_info ni = {.target = target & (MAX_TARGETS - 1), .flags = flags};
	if (bpf_map_update_elem(&tasks, &tgid, &ni, BPF_NOEXIST)) {
		stat_inc(ni.target, STAT_TASKS_FULL);
		return NULL;
	}
	set_tracked(tgid, &ni);
	send_fork_rec(type, slot_of(&ni), tgid, p->real_parent);
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
		stat_inc(target, STAT_MNTNS_FULL);
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
	struct scratch *s = get_scratch();
	struct exec_rec *r = bpf_map_lookup_elem(&execbuf, &zero);
	if (!s || !r)
		return 0;

	int pflags = 0;
	struct file *f = BPF_CORE_READ(bprm, file);
	__u32 plen = path_into(slot, r->data, s, p, BPF_CORE_READ(f, f_path.mnt), BPF_CORE_READ(f, f_path.dentry), &pflags);

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
		stat_inc(slot, STAT_RINGBUF_DROPPED);
		return 0;
	}
	stat_inc(slot, STAT_RECORDS);
	return 0;
}

