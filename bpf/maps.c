// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Kernel maps from the loader's side (see maps.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "loader.h"
#include "maps.h"

/* the `tracked` map (one byte per tgid: 0, TRACKED_ARMED or the slot). Each
 * tgid owns its byte, so the loader writes it with a plain byte store, as the
 * programs do, through a one-page mmap of the map (a map update would rewrite
 * the whole u64 and could undo a concurrent kernel write of a neighbouring
 * tgid). One page at a time: mapping all 4 MiB would populate them all and
 * count them in the loader's RSS. Writes happen only on track/launch/untrack. */
static long tracked_page;
/* values per `counts` key: ncpus (per-CPU map) or 1 (shared, > COUNTS_PERCPU_MAX_CPUS) */
static int counts_vals = 1;
static struct map_fds mfd;
static int ncpus; /* possible CPUs: values per per-CPU map key */

void maps_setup(const struct map_fds *fds)
{
	mfd = *fds;
	ncpus = libbpf_num_possible_cpus();
	tracked_page = sysconf(_SC_PAGESIZE);
	void *p = mmap(NULL, tracked_page, PROT_READ | PROT_WRITE, MAP_SHARED, mfd.tracked, 0);
	if (p == MAP_FAILED)
		die_load("cannot mmap the tracked map");
	munmap(p, tracked_page);
	struct bpf_map_info cinfo = {};
	__u32 clen = sizeof(cinfo);
	if (bpf_obj_get_info_by_fd(mfd.counts, &cinfo, &clen))
		die_load("cannot query the counts map");
	counts_vals = cinfo.type == BPF_MAP_TYPE_PERCPU_ARRAY ? ncpus : 1;
}

static int tracked_set(pid_t pid, __u8 v)
{
	if ((__u32)pid >= TRACKED_WORDS * 8)
		return -ERANGE;
	off_t off = (off_t)pid / tracked_page * tracked_page;
	volatile __u8 *p = mmap(NULL, tracked_page, PROT_READ | PROT_WRITE, MAP_SHARED, mfd.tracked, off);
	if (p == MAP_FAILED) {
		int e = errno;
		logmsg("tracked map mmap: %s", strerror(e));
		return -e;
	}
	__atomic_store_n(&p[pid - off], v, __ATOMIC_SEQ_CST);
	munmap((void *)p, tracked_page);
	return 0;
}

/* the byte is written after the entry is in `tasks`, zeroed before the delete */
int task_insert(pid_t pid, int target, __u32 flags)
{
	struct task_info ti = {.target = target, .flags = flags};
	__u32 key = pid;
	if (bpf_map_update_elem(mfd.tasks, &key, &ti, BPF_ANY))
		return -errno;
	int err = tracked_set(pid, (flags & TASK_ARMED) ? TRACKED_ARMED
							: (target & (MAX_TARGETS - 1)) | ((flags & TASK_SESSION) ? SLOT_SESSION : 0));
	if (err)
		bpf_map_delete_elem(mfd.tasks, &key); /* half-tracked would be silently blind */
	return err;
}

void task_delete(pid_t pid)
{
	__u32 key = pid;
	tracked_set(pid, 0);
	bpf_map_delete_elem(mfd.tasks, &key);
}

int tasks_of(int target, pid_t **out)
{
	int fd = mfd.tasks;
	int n = 0, cap = 0;
	pid_t *v = NULL;
	__u32 key, next;
	__u32 *prev = NULL;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct task_info ti;
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &ti) || (target >= 0 && (int)ti.target != target))
			continue;
		v = grow(v, n, &cap, 64, sizeof(*v));
		v[n++] = key;
	}
	*out = v;
	return n;
}

void read_stats(int target, __u64 out[STAT_MAX])
{
	__u64 vals[ncpus];
	for (__u32 i = 0; i < STAT_MAX; i++) {
		__u32 k = target * STAT_MAX + i;
		out[i] = 0;
		if (bpf_map_lookup_elem(mfd.stats, &k, vals))
			continue;
		for (int c = 0; c < ncpus; c++)
			out[i] += vals[c];
	}
}

void read_counts(int slot, __u64 *out)
{
	int fd = mfd.counts;
	int nv = counts_vals;
	__u64 *vals = calloc((size_t)MAX_SYSCALLS * nv, sizeof(__u64));
	__u32 *keys = calloc(MAX_SYSCALLS, sizeof(__u32));
	__u32 in = slot * MAX_SYSCALLS - 1, outb; /* batch starts after in_batch */
	__u32 count = MAX_SYSCALLS;
	memset(out, 0, MAX_SYSCALLS * sizeof(__u64));
	DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
	int err = bpf_map_lookup_batch(fd, &in, &outb, keys, vals, &count, &opts);
	if ((err && errno != ENOENT) || count != MAX_SYSCALLS) {
		/* fallback: one lookup per key */
		for (__u32 nr = 0; nr < MAX_SYSCALLS; nr++) {
			__u32 k = slot * MAX_SYSCALLS + nr;
			if (bpf_map_lookup_elem(fd, &k, vals))
				continue;
			for (int c = 0; c < nv; c++)
				out[nr] += vals[c];
		}
	} else {
		for (__u32 i = 0; i < count; i++) {
			__u32 nr = keys[i] - slot * MAX_SYSCALLS;
			if (nr >= MAX_SYSCALLS)
				continue;
			for (int c = 0; c < nv; c++)
				out[nr] += vals[(size_t)i * nv + c];
		}
	}
	free(vals);
	free(keys);
}

/* deletes the entries whose value is `target` from a hash map with keys of up to 8 bytes */
static void delete_entries_of(int fd, int target)
{
	__u64 nk = 0, ck = 0;
	void *np = NULL;
	__u32 t;
	while (bpf_map_get_next_key(fd, np, &nk) == 0) {
		ck = nk;
		if (bpf_map_lookup_elem(fd, &ck, &t) == 0 && (int)t == target) {
			bpf_map_delete_elem(fd, &ck);
			np = NULL; /* restart: the deleted key cannot be a cursor */
		} else {
			np = &ck;
		}
	}
}

void clear_target_maps(int target)
{
	struct syscall_bits zero_bits = {0};
	__u64 *zeros = calloc(counts_vals, sizeof(__u64));
	for (int sess = 0; sess < 2; sess++) {
		__u32 t = target + (sess ? SLOT_SESSION : 0);
		bpf_map_update_elem(mfd.seen, &t, &zero_bits, BPF_ANY);
		for (__u32 nr = 0; nr < MAX_SYSCALLS; nr++) {
			__u32 k = t * MAX_SYSCALLS + nr;
			bpf_map_update_elem(mfd.counts, &k, zeros, BPF_ANY);
		}
	}
	free(zeros);
	__u64 *stat_zeros = calloc(ncpus, sizeof(__u64));
	for (__u32 i = 0; i < STAT_MAX; i++) {
		__u32 k = target * STAT_MAX + i;
		bpf_map_update_elem(mfd.stats, &k, stat_zeros, BPF_ANY);
	}
	free(stat_zeros);
	/* de-dup entries of both slots, and mount namespaces of the target */
	int fd = mfd.objs;
	struct obj_key key, next, *prev = NULL;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		if ((int)(key.slot & (MAX_TARGETS - 1)) == target) {
			bpf_map_delete_elem(fd, &key);
			prev = NULL; /* restart: the deleted key cannot be a cursor */
		} else {
			prev = &key;
		}
	}
	delete_entries_of(mfd.mntns, target);
	delete_entries_of(mfd.podcg, target);
}

int task_lookup(pid_t pid, struct task_info *ti)
{
	__u32 k = pid;
	return bpf_map_lookup_elem(mfd.tasks, &k, ti) ? -1 : 0;
}

void mntns_add(__u32 inum, int target)
{
	__u32 t = target;
	bpf_map_update_elem(mfd.mntns, &inum, &t, BPF_ANY);
}

int podcg_set(__u64 cgid, int target, __u32 *old)
{
	__u32 t = target;
	if (bpf_map_lookup_elem(mfd.podcg, &cgid, old))
		*old = 0;
	return bpf_map_update_elem(mfd.podcg, &cgid, &t, BPF_ANY) ? -1 : 0;
}

void podcg_count(int pods[MAX_TARGETS])
{
	__u64 key, *prev = NULL;
	__u32 pt;
	while (bpf_map_get_next_key(mfd.podcg, prev, &key) == 0) {
		prev = &key;
		if (bpf_map_lookup_elem(mfd.podcg, &key, &pt) == 0 && pt < MAX_TARGETS)
			pods[pt]++;
	}
}

int objs_batch(struct obj_key *in, struct obj_key *out, struct obj_key *keys, struct obj_val *vals, __u32 *count)
{
	DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
	return bpf_map_lookup_batch(mfd.objs, in, out, keys, vals, count, &opts);
}
