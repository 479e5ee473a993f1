/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The object handlers on_sys_exit (and on_uring_complete) call, defined in
 * handlers.bpf.c. Global functions: the verifier checks each once, not at
 * every call site of the big syscall switch.
 */
#ifndef VARMOR_HANDLERS_BPF_H
#define VARMOR_HANDLERS_BPF_H

#include "vmlinux.h"

#define CLONE_NEW_MASK 0x7E020080ULL /* NEWNS NEWCGROUP NEWUTS NEWIPC NEWUSER NEWPID NEWNET, NEWTIME */

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

/* files: a name (dirfd-relative user pointer), an fd, the file mapped at addr */
int h_name(__u32 slot, long dirfd, __u64 name, __u32 perms);
int h_fd(__u32 slot, long fd, __u32 perms);
int h_mprotect(__u32 slot, __u64 addr);
/* network: socket(2), egress with a destination address, bind/listen */
int h_socket(__u32 slot, __u32 domain, __u32 type, __u32 proto);
int h_egress(__u32 slot, long fd, __u64 uaddr, __u32 alen);
int h_local(__u32 slot, long fd, __u32 op);
int h_accept(__u32 slot, long fd);
/* mounts and namespaces */
int h_mount(__u32 slot, struct mount_ev *e);
int h_ns(__u32 slot, __u32 op, __u64 flags, long ret);
int h_setns(__u32 slot, long fd, __u32 nstype, long ret);
/* a syscall argument (and a second one) a seccomp rule can compare */
int h_arg(__u32 slot, __u32 nr, __u64 value, __u32 value2, long ret);
/* ptrace-mediated access to another process */
int h_ptrace(__u32 slot, long request);
int h_process_vm(__u32 slot, long pid, __u32 op, long ret);

#endif
