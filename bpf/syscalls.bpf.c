// SPDX-License-Identifier: GPL-2.0
/*
 * The per-syscall program: sys_exit counts every call of a tracked task and
 * reports each syscall once; the few syscalls with objects a profile needs
 * go on to their handler (handlers.bpf.c). io_uring opens join them here.
 */
#include "handlers.bpf.h"
#include "records.bpf.h"
#include "syscall_nr.bpf.h"

#define ENOSYS 38

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
	 HB(NR_open_tree, w) | HB(NR_move_mount, w) | HB(NR_ioctl, w) | HB(NR_setsockopt, w) |           \
	 HB(NR_getsockopt, w) | HB(NR_personality, w) | HB(NR_prctl, w) | HB(NR_accept, w) |             \
	 HB(NR_accept4, w))
static const __u64 handled_bits[SYSCALL_WORDS] = {
	HANDLED_WORD(0), HANDLED_WORD(1), HANDLED_WORD(2), HANDLED_WORD(3),
	HANDLED_WORD(4), HANDLED_WORD(5), HANDLED_WORD(6), HANDLED_WORD(7),
};

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
	if (!slot || slot == TRACKED_ARMED)
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
	case NR_accept:
	case NR_accept4:
		if (ret >= 0)
			h_accept(slot, ret);
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
	/* ---- arguments a seccomp rule compares; attempts, whatever the result
	 * (the filter decides before the call runs) ---- */
	case NR_personality:
	case NR_prctl:
		h_arg(slot, nr, ARG1, 0, ret);
		break;
	case NR_ioctl:
		h_arg(slot, nr, ARG2, 0, ret);
		break;
	case NR_setsockopt:
	case NR_getsockopt:
		h_arg(slot, nr, ARG2, (__u32)ARG3, ret);
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
	if (!slot || slot == TRACKED_ARMED || !req)
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
		stat_inc(slot, STAT_URING_FIXED);
		return 0;
	}
	h_fd(slot, res, open_perms(BPF_CORE_READ(op, how.flags)));
	return 0;
}
