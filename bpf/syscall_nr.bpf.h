/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Syscall numbers of the calls the kernel side looks at, and where a
 * syscall's number and arguments are in the task's user pt_regs.
 */
#ifndef VARMOR_SYSCALL_NR_BPF_H
#define VARMOR_SYSCALL_NR_BPF_H

/* Syscalls that only exist on some architectures get distinct negative values. */
#if defined(__TARGET_ARCH_x86)
/* a tp_btf argument is a trusted BTF pointer: a direct (CO-RE relocated) load,
 * no bpf_probe_read_kernel call */
#define SYSCALL_NR(regs) ((regs)->orig_ax)
#define SYSCALL_NR_CORE(regs) BPF_CORE_READ(regs, orig_ax)
/* the arguments, loaded the same way (the registers the syscall ABI passes them in) */
#define ARG1 ((regs)->di)
#define ARG2 ((regs)->si)
#define ARG3 ((regs)->dx)
#define ARG4 ((regs)->r10)
#define ARG5 ((regs)->r8)
#define ARG6 ((regs)->r9)
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
	NR_ioctl = 16, NR_setsockopt = 54, NR_getsockopt = 55, NR_personality = 135, NR_prctl = 157,
	NR_accept = 43, NR_accept4 = 288,
};
#elif defined(__TARGET_ARCH_arm64)
#define SYSCALL_NR(regs) ((regs)->syscallno)
#define SYSCALL_NR_CORE(regs) BPF_CORE_READ(regs, syscallno)
/* x0 holds the result at exit: the first argument is kept in orig_x0 */
#define ARG1 ((regs)->orig_x0)
#define ARG2 ((regs)->regs[1])
#define ARG3 ((regs)->regs[2])
#define ARG4 ((regs)->regs[3])
#define ARG5 ((regs)->regs[4])
#define ARG6 ((regs)->regs[5])
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
	NR_ioctl = 29, NR_setsockopt = 208, NR_getsockopt = 209, NR_personality = 92, NR_prctl = 167,
	NR_accept = 202, NR_accept4 = 242,
};
#else
#error "syscall numbers for this architecture are missing"
#endif


#endif
