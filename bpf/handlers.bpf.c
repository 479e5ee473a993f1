// SPDX-License-Identifier: GPL-2.0
/*
 * Object records of the syscalls on_sys_exit hands over (see handlers.bpf.h):
 * files, sockets, mounts, namespaces and ptrace. Each record is built in the
 * per-CPU scratch, de-duplicated (objs) and sent only with what is new.
 */
#include "handlers.bpf.h"
#include "path.bpf.h"
#include "records.bpf.h"
#include <bpf/bpf_endian.h>

/* ---- object records: hash, de-dup, send ----------------------------------- */

struct hash_ctx {
	__u64 h;
};

static long hash_step(__u32 i, struct hash_ctx *c)
{
	struct scratch *s = get_scratch();
	if (!s || i >= OBJ_DATA / 8)
		return 1;
	c->h = mix(c->h, ((__u64 *)s->orec.data)[i]);
	return 0;
}

/* hash of scratch.orec.data[0, len) (zero-padded here to 8 bytes) */
static __noinline __u64 hash_data(__u32 len)
{
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	len &= 2 * PATH_BUF - 1;
	for (int i = 0; i < 8; i++)
		s->orec.data[len + i] = 0; /* len + 7 < OBJ_DATA */
	struct hash_ctx c = {.h = 0xcbf29ce484222325ULL ^ len};
	bpf_loop((len + 7) / 8, hash_step, &c, 0);
	return mix(c.h, len);
}

/* the scratch object record, emptied, for the current process */
static __always_inline struct obj_rec *orec_init(struct scratch *s, __u32 type, __u32 slot)
{
	struct obj_rec *r = &s->orec;
	set_hdr(&r->h, type, slot);
	obj_init(r, bpf_get_current_pid_tgid() >> 32, 0, 0);
	return r;
}

/* de-dups scratch.orec (data of dlen bytes, plus `salt`) and sends what is new:
 * 1 sent, 0 nothing new, -1 not sent (counted: a repeat reports it again) */
static __noinline int orec_send(__u32 slot, __u32 kind, __u32 dlen, __u64 salt, __u32 bits)
{
	struct scratch *s = get_scratch();
	if (!s)
		return -1;
	dlen &= 2 * PATH_BUF - 1;
	__u64 h = mix(hash_data(dlen), salt);
	__u32 nb = dedup(slot, kind, h, bits);
	if (!nb)
		return 0;
	s->orec.bits = nb;
	s->orec.id = h;
	if (bpf_ringbuf_output(&events, &s->orec, offsetof(struct obj_rec, data) + dlen, 0)) {
		undedup(slot, kind, h, nb);
		stat_inc(slot, STAT_RINGBUF_DROPPED);
		return -1;
	}
	stat_inc(slot, STAT_RECORDS);
	return 1;
}

/* ---- files ---------------------------------------------------------------- */

/* a file event on a name (dirfd-relative) */
__noinline int h_name(__u32 slot, long dirfd, __u64 name, __u32 perms)
{
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	orec_init(s, REC_FILE, slot);
	int len = name_into_rec(s, bpf_get_current_task_btf(), dirfd, (const char *)name);
	if (len < 0) {
		stat_inc(slot, STAT_PATH_FAILED);
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
		stat_inc(slot, STAT_PATH_FAILED);
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
		stat_inc(slot, STAT_PATH_FAILED);
		return 0;
	}
	if (!v.f)
		return 0; /* anonymous memory (JIT code): no file rule */
	return file_event(slot, t, v.f, P_MMAP);
}

/* ---- network -------------------------------------------------------------- */

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
	if (fam == AF_INET || fam == AF_INET6) {
		struct sock *sk = fd_sock(bpf_get_current_task_btf(), fd);
		r->c = sk ? BPF_CORE_READ(sk, sk_protocol) : 0;
	}
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
	return orec_send(slot, REC_CONNECT, len, ((__u64)r->c << 48) | ((__u64)fam << 32) | r->b, 1);
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
	r->d = BPF_CORE_READ(sk, sk_protocol);
	int len = 0;
	if (fam == AF_INET) {
		r->b = BPF_CORE_READ(sk, __sk_common.skc_num);
		__u32 a = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__builtin_memcpy(r->data, &a, 4);
		len = 4;
	} else if (fam == AF_INET6) {
		r->b = BPF_CORE_READ(sk, __sk_common.skc_num);
		/* all 16 bytes: BPF_CORE_READ_INTO into the char array would copy sizeof(char) */
		bpf_core_read(r->data, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		len = 16;
	} else if (fam == AF_UNIX) {
		len = unix_name_into_rec(s, t, sk);
	} else {
		return 0;
	}
	return orec_send(slot, REC_BIND, len, (r->d << 48) | ((__u64)fam << 40) | ((__u64)op << 32) | r->b, 1);
}

/* accept/accept4: the peer of the new connection and the local port it came to */
__noinline int h_accept(__u32 slot, long fd)
{
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct sock *sk = fd_sock(bpf_get_current_task_btf(), fd);
	if (!sk)
		return 0;
	__u16 fam = BPF_CORE_READ(sk, __sk_common.skc_family);
	struct obj_rec *r = orec_init(s, REC_ACCEPT, slot);
	r->a = fam;
	r->b = BPF_CORE_READ(sk, __sk_common.skc_num);
	r->c = BPF_CORE_READ(sk, sk_protocol);
	int len;
	if (fam == AF_INET) {
		__u32 a = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(r->data, &a, 4);
		len = 4;
	} else if (fam == AF_INET6) {
		bpf_core_read(r->data, 16, &sk->__sk_common.skc_v6_daddr);
		len = 16;
	} else {
		return 0; /* unix peers are processes, not network peers */
	}
	return orec_send(slot, REC_ACCEPT, len, ((__u64)r->c << 48) | ((__u64)fam << 32) | r->b, 1);
}

/* ---- mounts and namespaces -------------------------------------------------- */

/* MNT_* (a mount's mnt_flags) -> MS_* as mount(2) and AppArmor spell them */
static __always_inline __u64 mnt_ms_flags(int mf)
{
	return (mf & 0x40 ? 1 : 0) | (mf & 0x01 ? 2 : 0) | (mf & 0x02 ? 4 : 0) | (mf & 0x04 ? 8 : 0) |
	       (mf & 0x08 ? 1024 : 0) | (mf & 0x10 ? 2048 : 0) | (mf & 0x20 ? 1 << 21 : 0);
}

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
		stat_inc(slot, STAT_PATH_FAILED);
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

/* ---- arguments ------------------------------------------------------------- */

/*
 * One object per (syscall, values): the first attempt is reported. Programs
 * repeat a few tuples (an ioctl per request), so a repeat is answered by the
 * slot's argument cache with one array lookup and not counted per tuple (the
 * syscall's own count has it); a tuple the cache lost goes through the
 * de-dup map again, which knows it.
 */
__noinline int h_arg(__u32 slot, __u32 nr, __u64 value, __u32 value2, long ret)
{
	__u64 h = mix(value, ((__u64)nr << 32) | value2) | 1; /* 0 marks an empty entry */
	__u32 sl = slot & (MAX_SLOTS - 1), set = ((h >> 1) & (ARG_CACHE / ARG_WAYS - 1)) * ARG_WAYS;
	struct syscall_bits *seen_by = bpf_map_lookup_elem(&seen, &sl);
	if (seen_by) {
#pragma unroll
		for (int w = 0; w < ARG_WAYS; w++)
			if (seen_by->args[(set + w) & (ARG_CACHE - 1)] == h)
				return 0;
	}
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct obj_rec *r = orec_init(s, REC_ARG, slot);
	r->a = nr;
	r->b = value2;
	r->d = value;
	r->ret = ret;
	int sent = orec_send(slot, REC_ARG, 0, h, 1);
	if (sent >= 0 && seen_by) {
		__u32 way = (h >> 8) & (ARG_WAYS - 1); /* an empty way, else one picked by the hash */
#pragma unroll
		for (int w = ARG_WAYS - 1; w >= 0; w--)
			if (!seen_by->args[(set + w) & (ARG_CACHE - 1)])
				way = w;
		seen_by->args[(set + way) & (ARG_CACHE - 1)] = h;
	}
	return sent;
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

/* ---- ptrace ---------------------------------------------------------------- */

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
		stat_inc(slot, STAT_PATH_FAILED);
		return 0;
	}
	ptrace_send(slot, op, 0, peer, op == OP_VM_WRITE ? 2 : 1, ret < 0 ? ret : 0);
	bpf_task_release(peer);
	return 0;
}
