/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel side's shared state: the maps the objects linked into
 * tracer.bpf.o share and the lookups every program starts with. Each object
 * includes the same definitions, __weak, and the static linker makes one map
 * of each (maps only one object uses are defined in that object).
 */
#ifndef VARMOR_MAPS_BPF_H
#define VARMOR_MAPS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "tracer.h"

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
} tasks SEC(".maps") __weak;

/*
 * tgid -> one byte: 0 for untracked tasks, TRACKED_ARMED for a launched
 * child that has not exec'd yet, else the task's slot (1..255). TRACKED_WORDS u64 words = 4 MiB covers PID_MAX_LIMIT (pid_max
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
} tracked SEC(".maps") __weak;

/* Syscalls already reported, one 512-bit set per slot, and its argument
 * cache (256 * 320 bytes). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SLOTS);
	__type(key, __u32);
	__type(value, struct syscall_bits);
} seen SEC(".maps") __weak;

/*
 * Call counts [slot * MAX_SYSCALLS + nr] (256 * 512 u64). Per-CPU so the hot
 * path never contends: 1 MiB per possible CPU. On big machines that grows
 * (64 MiB at 64 CPUs), so the loader turns this map into a
 * plain shared ARRAY (1 MiB in total) when there are more than
 * COUNTS_PERCPU_MAX_CPUS possible CPUs and sets `counts_shared`, and the
 * increment becomes an atomic add (contended only when threads of one
 * target hit the same syscall on different CPUs at the same time).
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_SLOTS * MAX_SYSCALLS);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps") __weak;

/* set by the loader before load (see `counts`); a known constant to the verifier */
const volatile bool counts_shared __weak = false;

/* Drop/record counters per target (each run reads its own), see enum stat_idx. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_TARGETS * STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps") __weak;

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
} scratch SEC(".maps") __weak;

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
} objs SEC(".maps") __weak;

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
} exited SEC(".maps") __weak;

/* Records to userspace. Size is set by the loader (--ringbuf-kb); the default
 * here only matters if the loader does not override it. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 21);
} events SEC(".maps") __weak;

/* counts stat `idx` for the target of `slot` (either of its slots) */
static __always_inline void stat_inc(__u32 slot, __u32 idx)
{
	__u32 k = (slot & (MAX_TARGETS - 1)) * STAT_MAX + idx;
	__u64 *v = bpf_map_lookup_elem(&stats, &k);
	if (v)
		*v += 1;
}

static __always_inline struct scratch *get_scratch(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&scratch, &zero);
}

/* the tgid's `tracked` byte (0: bystander): one inlined array lookup, no hashing */
static __always_inline __u32 tracked_byte(__u32 tgid)
{
	__u32 k = tgid >> 3;
	__u8 *w = bpf_map_lookup_elem(&tracked, &k);
	return w ? w[tgid & 7] : 0;
}

static __always_inline __u32 slot_of(const struct task_info *ti)
{
	return (ti->target & (MAX_TARGETS - 1)) | ((ti->flags & TASK_SESSION) ? SLOT_SESSION : 0);
}

/* mirrors a tasks entry into `tracked` (ti NULL: the entry is gone) */
static __always_inline void set_tracked(__u32 tgid, const struct task_info *ti)
{
	__u32 k = tgid >> 3;
	__u8 *w = bpf_map_lookup_elem(&tracked, &k);
	if (w)
		w[tgid & 7] = !ti ? 0 : (ti->flags & TASK_ARMED) ? TRACKED_ARMED : slot_of(ti);
}

/* tasks entry of a tracked tgid, NULL for bystanders (`tracked` byte first) */
static __always_inline struct task_info *task_of(__u32 tgid)
{
	if (!tracked_byte(tgid))
		return NULL;
	return bpf_map_lookup_elem(&tasks, &tgid);
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

#endif
