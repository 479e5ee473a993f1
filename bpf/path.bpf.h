/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Paths as the process sees them: a {mount, dentry} walked up to the task's
 * root (exec, open files), or a name as passed joined to its directory.
 * Built backwards in the per-CPU scratch (see `scratch`).
 */
#ifndef VARMOR_PATH_BPF_H
#define VARMOR_PATH_BPF_H

#include "maps.bpf.h"

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
	struct scratch *s = get_scratch();
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
		struct scratch *s = get_scratch();
		if (!s)
			return PATH_BUF;
		s->path[PATH_BUF - 1] = '/';
		c.pos = PATH_BUF - 1;
	}
	*flags = (c.truncated ? OBJ_PATH_TRUNCATED : 0) | (c.done == 2 ? OBJ_DISCONNECTED : 0);
	return c.pos;
}

/* the open file of fd in task t, or NULL */
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

/* resolved path of {mnt, dentry} as task t sees it into dst (PATH_BUF bytes);
 * returns its length, *flags gets its OBJ_PATH_* flags */
static __always_inline __u32 path_into(__u32 slot, char *dst, struct scratch *s, struct task_struct *t,
				       struct vfsmount *mnt, struct dentry *d, int *flags)
{
	int pos = resolve_path(mnt, d, BPF_CORE_READ(t, fs, root.mnt), BPF_CORE_READ(t, fs, root.dentry), flags);
	__u32 len = (PATH_BUF - pos) & PATH_MASK;
	bpf_probe_read_kernel(dst, len, &s->path[pos & PATH_MASK]);
	if (*flags & OBJ_PATH_TRUNCATED)
		stat_inc(slot, STAT_PATH_TRUNCATED);
	return len;
}

/* resolved path of {mnt, dentry} into scratch.orec.data; returns its length */
static __always_inline int path_into_rec(struct scratch *s, struct task_struct *t, struct vfsmount *mnt,
					 struct dentry *d)
{
	int pflags = 0;
	int len = path_into(s->orec.h.target, s->orec.data, s, t, mnt, d, &pflags);
	s->orec.flags |= pflags;
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
		stat_inc(s->orec.h.target, STAT_PATH_TRUNCATED);
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

#endif
