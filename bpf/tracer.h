/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Record layout shared by the kernel side (tracer.bpf.c) and the loader
 * (tracer.c). Every record starts with struct rec_hdr; `type` selects the
 * rest. All integers are host-endian.
 */
#ifndef VARMOR_TRACER_H
#define VARMOR_TRACER_H

/* Target ids are 1..63; arrays are indexed by target id directly. */
#define MAX_TARGETS 64
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
#define TASK_ARMED 0x1 /* launched, not yet exec'd: syscalls not recorded */

struct task_info {
	__u32 target;
	__u32 flags;
	__u32 pending_nr; /* while ARMED: last syscall nr (the execve at exec time) */
	__u32 pad;
};

struct syscall_bits {
	__u64 w[SYSCALL_WORDS];
};

enum rec_type {
	REC_SYSCALL = 1,
	REC_EXEC = 2,
	REC_EXIT = 3,
	REC_FORK = 4,
};

/* per-CPU stats array indices */
enum stat_idx {
	STAT_RINGBUF_DROPPED = 0, /* bpf_ringbuf_reserve/output failed */
	STAT_TASKS_FULL = 1,      /* tasks map update failed (map full) */
	STAT_PATH_TRUNCATED = 2,  /* exec path longer than PATH_BUF-1 or too many steps */
	STAT_RECORDS = 3,         /* records successfully submitted */
	STAT_MAX = 4,
};

struct rec_hdr {
	__u32 type;
	__u32 target;
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

#endif
