/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Record layout shared by the kernel side (the *.bpf.c) and the loader
 * (ring.c reads, records.c prints them: their JSON lines are defined in
 * records.json). Every record starts with struct rec_hdr; `type` selects
 * the rest. All integers are host-endian.
 */
#ifndef VARMOR_TRACER_H
#define VARMOR_TRACER_H

/* Target ids are 1..127; arrays are indexed by target id directly. One
 * loader serves every run on a node, one target each: 127 is more than the
 * pods a kubelet runs (maxPods 110 by default), and a run beyond it is
 * refused (`attach`), never dropped. */
#define MAX_TARGETS 128
/* Per-target kernel state (syscall sets, counts, de-dup keys) is kept per
 * *slot*: slot = target for the workload, target + SLOT_SESSION for its exec
 * sessions (`runc exec` / `kubectl exec`), so sessions never mix in. */
#define SLOT_SESSION 128
#define MAX_SLOTS 256
/* A run's name for its target (`attach KEY`): 1..ATTACH_KEY_MAX of [0-9A-Za-z._-]. */
#define ATTACH_KEY_MAX 32
/* Syscall numbers below this are modelled (x86_64 tops out around 470). */
#define MAX_SYSCALLS 512
#define SYSCALL_WORDS (MAX_SYSCALLS / 64)

/* Resolved paths are at most PATH_BUF - 1 bytes (Linux PATH_MAX incl. NUL). */
#define PATH_BUF 4096
#define PATH_MASK (PATH_BUF - 1)
/* Upper bound on dentry/mount steps of one path walk (a 4095-byte path has
 * at most 2048 components; mount crossings also take a step). */
#define PATH_MAX_STEPS 2100
#define COMM_LEN 16

/* tasks map value flags */
#define TASK_ARMED 0x1   /* launched, not yet exec'd: syscalls not recorded */
#define TASK_SESSION 0x2 /* entered a target's mount namespace from outside (exec session) */

/* Which cgroup the exec-time pod check walks (rodata `pod_cgroup`, chosen by
 * the loader from its mounts): none, the v2 tree (task->cgroups->dfl_cgrp),
 * or one cgroup v1 hierarchy (task->cgroups->subsys[<controller>]). */
enum pod_cgroup_mode {
	PODCG_NONE = 0,
	PODCG_V2 = 1,
	PODCG_V1_PIDS = 2,
	PODCG_V1_MEMORY = 3,
	PODCG_V1_CPU = 4,
};
/* kernfs levels looked up from a task's cgroup upwards: the container's cgroup
 * and its pod are the first two in every kubelet layout; the rest leaves room
 * for cgroups a container makes below its own */
#define POD_CGROUP_LEVELS 8

struct task_info {
	__u32 target;
	__u32 flags;
};

/* `tracked`: one byte per tgid up to PID_MAX_LIMIT (4194304 on 64-bit), 8 per
 * u64 array element; 0 = untracked, TRACKED_ARMED = launched and not yet
 * exec'd (its slot is in `tasks`), else the slot. TRACKED_ARMED is the
 * session slot of target 0, which does not exist. */
#define TRACKED_WORDS (4194304 / 8)
#define TRACKED_ARMED SLOT_SESSION

/* `counts` is per-CPU up to this many possible CPUs (1 MiB each, 16 MiB at
 * 16), a shared array with atomic adds (1 MiB) above */
#ifndef COUNTS_PERCPU_MAX_CPUS
#define COUNTS_PERCPU_MAX_CPUS 16
#endif

/* argument tuples a slot reported lately (h_arg): a 4-way set-associative
 * cache in front of the de-dup map, so a repeated ioctl costs one array
 * lookup and a few compares */
#define ARG_CACHE 32
#define ARG_WAYS 4

struct syscall_bits {
	__u64 w[SYSCALL_WORDS];
	__u64 args[ARG_CACHE]; /* hashes of reported (syscall, arguments); 0 = empty */
};

enum rec_type {
	REC_SYSCALL = 1,
	REC_EXEC = 2,
	REC_EXIT = 3,
	REC_FORK = 4,
	REC_JOIN = 5,    /* fork_rec: a process entered a tracked mount namespace and exec'd */
	REC_FILE = 6,    /* obj_rec kinds below */
	REC_CAP = 7,
	REC_SOCKET = 8,
	REC_CONNECT = 9,
	REC_BIND = 10,
	REC_SIGNAL = 11,
	REC_PTRACE = 12,
	REC_MOUNT = 13,
	REC_NS = 14,
	REC_CONTAINER = 15, /* fork_rec: a new container of a pod target exec'd (see `podcg`) */
	REC_CAP_NOAUDIT = 16, /* obj_rec like REC_CAP: a check that only probes the privilege */
	REC_ARG = 17,         /* obj_rec: a syscall argument a seccomp rule can compare */
	REC_ACCEPT = 18,      /* obj_rec: a connection the workload accepted, from its peer */
};

/* rec_hdr.flags */
#define RECF_SESSION 0x1 /* produced by an exec-session process */

/* per-CPU stats, STAT_MAX per target: index target * STAT_MAX + stat */
enum stat_idx {
	STAT_RINGBUF_DROPPED = 0, /* bpf_ringbuf_reserve/output failed */
	STAT_TASKS_FULL = 1,      /* tasks map update failed (map full) */
	STAT_PATH_TRUNCATED = 2,  /* exec path longer than PATH_BUF-1 or too many steps */
	STAT_RECORDS = 3,         /* records successfully submitted */
	STAT_PATH_FAILED = 4,     /* file event whose path could not be read (fd gone, fault) */
	STAT_DEDUP_FULL = 5,      /* de-dup map insert failed: record sent, repeats not counted */
	STAT_EVENTS = 6,          /* object events seen (files, caps, net, ...), incl. repeats */
	STAT_URING_FIXED = 7,     /* io_uring opens into the fixed file table: no fd, not recorded */
	STAT_MNTNS_FULL = 8,      /* mntns map insert failed: exec sessions into that container untracked */
	STAT_CAP_NOAUDIT = 9,     /* capability checks made without auditing: not a use of the privilege */
	STAT_CAP_SLOT_MISS = 10,  /* the learned stack slots gave another asker than a walk (relearned) */
	STAT_MAX = 11,
};

struct rec_hdr {
	__u16 type;
	__u16 flags;  /* RECF_* */
	__u32 target; /* 1..127 */
	__u64 ts; /* bpf_ktime_get_boot_ns() */
};

struct syscall_rec {
	struct rec_hdr h;
	__u32 nr;
	__u32 pad;
};

struct exit_rec {
	struct rec_hdr h;
	__u32 pid;    /* tgid */
	__s32 status; /* wait(2)-style status */
};

struct fork_rec {
	struct rec_hdr h;
	__u32 pid;  /* child tgid */
	__u32 ppid; /* forking tgid */
};

#define EXEC_PATH_TRUNCATED 0x1

struct exec_rec {
	struct rec_hdr h;
	__u32 pid;
	__u32 flags;
	__u16 path_len;     /* bytes of resolved path at data[0] */
	__u16 filename_len; /* bytes of bprm->filename at data[path_len] */
	__u32 pad;
	char comm[COMM_LEN];
	char data[2 * PATH_BUF]; /* path, then filename; no NULs; only the used part is sent */
};

/* de-dup map (objs) key/value: one entry per (slot, kind, object hash) */
struct obj_key {
	__u64 hash;
	__u32 slot;
	__u32 kind; /* REC_* */
};
struct obj_val {
	__u32 bits; /* perms / flags already reported */
	__u32 pad;
	__u64 count; /* events, including repeats */
};

/* file permission bits (REC_FILE obj_rec.bits); names in the loader */
enum perm_bit {
	P_READ = 1 << 0,
	P_WRITE = 1 << 1,
	P_APPEND = 1 << 2,
	P_CREATE = 1 << 3,
	P_EXEC = 1 << 4,
	P_RENAME = 1 << 5,
	P_LINK = 1 << 6,
	P_LOCK = 1 << 7,
	P_MMAP = 1 << 8,
	P_CHMOD = 1 << 9,
	P_CHOWN = 1 << 10,
	P_DELETE = 1 << 11,
};

/* obj_rec.flags */
#define OBJ_PATH_TRUNCATED 0x1 /* path was cut (tail kept) */
#define OBJ_PATH_JOINED 0x2    /* path = [resolved directory + "/"] + name as passed (not normalised), name at name_off */
#define OBJ_ABSTRACT 0x4       /* unix socket name in the abstract namespace */
#define OBJ_UNNAMED 0x8        /* unix socket without a name */
#define OBJ_DISCONNECTED 0x10  /* path walk ended above the root or in a detached tree */

/* obj_rec.a for REC_BIND / REC_MOUNT / REC_NS */
#define OP_BIND 1
#define OP_LISTEN 2
#define OP_MOUNT 1
#define OP_UMOUNT 2
#define OP_MOVE 3  /* move_mount */
#define OP_CLONE 4 /* open_tree(OPEN_TREE_CLONE): path is the source */
#define OP_UNSHARE 1
#define OP_SETNS 2
/* obj_rec.d for REC_PTRACE: how the peer was accessed */
#define OP_PTRACE 0
#define OP_VM_READ 1  /* process_vm_readv */
#define OP_VM_WRITE 2 /* process_vm_writev */

#define OBJ_DATA (2 * PATH_BUF + 256)

/* Kernel stack frames a capability check walks: the BPF and tracepoint glue,
 * cap_capable, security_capable and the caller that tells why it asked. */
#define CAP_FRAMES 8
/* words above the tracepoint's arguments searched for those frames' slots */
#define CAP_SCAN_WORDS 64
/* a walk re-derives the asker every this many checks (a power of two) */
#define CAP_VERIFY_EVERY 1024
#define CAP_CAPABLE 0
#define CAP_SECURITY 1
/* Text ranges of noaudit callers the kernel side can test (see noaudit_lo). */
#define NOAUDIT_RANGES 16

/*
 * One record for every object kind (files, capabilities, sockets, ...).
 * The meaning of a/b/c/d per kind:
 *   FILE:    bits = new perm bits; data = path (len1)
 *   CAP:     a = capability number, b = 1 granted / 0 denied; data = the asker's
 *            kernel address (u64, 0 unknown); CAP_NOAUDIT alike
 *   SOCKET:  a = domain, b = type (without SOCK_NONBLOCK/CLOEXEC), c = protocol
 *   CONNECT: a = family, b = port, c = protocol (inet); data = address (4/16 bytes) or unix path
 *   BIND:    a = op (OP_BIND/OP_LISTEN), b = port, c = family, d = protocol (inet); data = address or unix path
 *   ACCEPT:  a = family, b = local port, c = protocol; data = the peer's address (4/16 bytes)
 *   SIGNAL:  a = signal, b = 1 external / 0 self, c = receiving tgid
 *   PTRACE:  a = request, b = 1 external / 0 self, c = peer tgid, d = OP_PTRACE/OP_VM_*; ret;
 *            bits 1 read, 2 trace
 *   MOUNT:   a = op, d = flags; data = path (len1), fstype (len2), source (c bytes, move); ret
 *   NS:      a = op, d = CLONE_NEW* flags (unshare, clone) or nstype (setns); ret
 *   ARG:     a = syscall nr, d = its compared argument, b = the second one (see
 *            on_sys_exit: personality, prctl, ioctl, setsockopt, getsockopt); ret
 */
struct obj_rec {
	struct rec_hdr h;
	__u32 pid;
	__u32 bits;
	__u64 id; /* de-dup hash: identifies the object in `tallies` */
	__s32 ret;
	__u32 a, b, c;
	__u64 d;
	__u16 len1, len2;
	__u16 flags; /* OBJ_* */
	__u16 name_off; /* OBJ_PATH_JOINED: where the name as passed starts in data */
	char data[OBJ_DATA];
};

#endif
