// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The bpffs state dir (see pins.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "json.h"
#include "loader.h"
#include "pins.h"
#include "maps.h"

#define BPF_FS_MAGIC 0xcafe4a11
#define STATE_LAYOUT 4 /* bump when a map or record layout changes (2: one syscall hook, `tracked` bytes, 8-byte task_info; 3: pod cgroups, 9 stats, obj_rec.name_off; 4: 127 targets, stats per target, attach keys) */
#define STATE_MAGIC "varmorst"

/* value of the pinned `meta` array map (created by the loader, not used by the programs) */
static struct state_meta {
	char magic[8];
	__u32 layout;
	__u32 nlinks;
	__u8 generation[16];
	__u64 known[MAX_TARGETS / 64]; /* bit T: target T has been launched or tracked */
	__u32 root[MAX_TARGETS];       /* launched pid, tracked root pid or container init of each target */
	char key[MAX_TARGETS][ATTACH_KEY_MAX + 8]; /* the run that attached it (NUL-terminated), or "" */
	__u64 created_ms;
	__u32 pod_cgroup;         /* enum pod_cgroup_mode the programs were loaded with */
	__u32 pad;
} meta; /* kept without a state dir too (roots for `kill`) */
static int meta_fd = -1;
static const char *state_dir; /* of adopt_pins / pin_all */

static bool on_bpffs(const char *path)
{
	struct statfs sf;
	return statfs(path, &sf) == 0 && (unsigned long)sf.f_type == BPF_FS_MAGIC;
}

/* nearest existing ancestor of dir (or dir itself) into out */
static void existing_ancestor(const char *dir, char *out, size_t sz)
{
	snprintf(out, sz, "%s", dir);
	struct stat sb;
	while (stat(out, &sb)) {
		char *sl = strrchr(out, '/');
		if (!sl || sl == out) {
			snprintf(out, sz, "/");
			return;
		}
		*sl = 0;
	}
}

const char *ensure_bpffs(const char *dir)
{
	static char msg[PATH_MAX + 200];
	char anc[PATH_MAX];
	existing_ancestor(dir, anc, sizeof(anc));
	if (on_bpffs(anc))
		return NULL;
	if (!strncmp(dir, "/sys/fs/bpf/", 12) && !on_bpffs("/sys/fs/bpf")) {
		if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700")) {
			snprintf(msg, sizeof(msg), "cannot mount bpffs at /sys/fs/bpf: %s (mount -t bpf bpf /sys/fs/bpf)",
				 strerror(errno));
			return msg;
		}
		logmsg("mounted bpffs at /sys/fs/bpf");
		existing_ancestor(dir, anc, sizeof(anc));
		if (on_bpffs(anc))
			return NULL;
	}
	snprintf(msg, sizeof(msg), "--state-dir %s is not on a bpf filesystem (mount -t bpf bpf /sys/fs/bpf)", dir);
	return msg;
}

int lock_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		close(fd);
		return -2;
	}
	return fd; /* kept open until exit */
}

int remove_pins(const char *dir, bool keep_dir)
{
	char p[PATH_MAX];
	int n = 0;
	path_join(p, sizeof(p), dir, "meta");
	if (unlink(p) == 0)
		n++;
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			path_join(p, sizeof(p), dir, de->d_name);
			if (unlink(p) == 0)
				n++;
		}
		closedir(d);
	}
	if (!keep_dir)
		rmdir(dir);
	return n;
}

static void meta_save(void)
{
	if (meta_fd < 0)
		return;
	__u32 zero = 0;
	if (bpf_map_update_elem(meta_fd, &zero, &meta, BPF_ANY))
		logmsg("meta map update: %s", strerror(errno));
}

pid_t meta_root(int target)
{
	return (pid_t)meta.root[target];
}

const char *meta_key(int target)
{
	return meta.key[target];
}

int meta_pod_cgroup(void)
{
	return (int)meta.pod_cgroup;
}

void meta_set_pod_cgroup(int mode)
{
	meta.pod_cgroup = mode;
}

const char *meta_generation(void)
{
	static char hex[33];
	for (int i = 0; i < 16; i++)
		sprintf(hex + 2 * i, "%02x", meta.generation[i]);
	return hex;
}

bool meta_known(int target)
{
	return (meta.known[target / 64] >> (target % 64)) & 1;
}

void set_root(int target, pid_t pid)
{
	meta.known[target / 64] |= 1ULL << (target % 64);
	meta.root[target] = pid;
	meta_save();
}

void meta_forget(int target)
{
	meta.known[target / 64] &= ~(1ULL << (target % 64));
	meta.root[target] = 0;
	meta_save();
}

int meta_target_of(const char *key)
{
	for (int t = 1; t < MAX_TARGETS; t++)
		if (!strcmp(meta.key[t], key))
			return t;
	return 0;
}

bool meta_in_use(int target)
{
	return meta.key[target][0] || meta_known(target);
}

static int claim_limit = MAX_TARGETS - 1;

void meta_limit(int n)
{
	claim_limit = n;
}

int meta_claim_limit(void)
{
	return claim_limit;
}

int meta_claim(const char *key)
{
	int claimed = 0;
	for (int t = 1; t < MAX_TARGETS; t++)
		claimed += meta.key[t][0] != 0;
	for (int t = 1; t < MAX_TARGETS && claimed < claim_limit; t++) {
		if (meta_in_use(t))
			continue;
		snprintf(meta.key[t], sizeof(meta.key[t]), "%s", key);
		meta_save();
		return t;
	}
	return 0;
}

void meta_unclaim(int target)
{
	meta.key[target][0] = 0;
	meta_forget(target);
}

static int open_pin(const char *name, enum bpf_map_type type, __u32 ksz, __u32 vsz, const char **err)
{
	static char msg[PATH_MAX + 100];
	char p[PATH_MAX];
	path_join(p, sizeof(p), state_dir, name);
	int fd = bpf_obj_get(p);
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	if (fd < 0) {
		snprintf(msg, sizeof(msg), "pinned map %s: %s", p, strerror(errno));
		*err = msg;
		return -1;
	}
	if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.type != type || info.key_size != ksz ||
	    info.value_size != vsz) {
		snprintf(msg, sizeof(msg), "pinned map %s does not have the expected layout", p);
		*err = msg;
		close(fd);
		return -1;
	}
	return fd;
}

const char *adopt_pins(const char *dir, struct map_fds *mfd)
{
	state_dir = dir;
	static char msg[PATH_MAX + 200];
	const char *err = NULL;
	meta_fd = open_pin("meta", BPF_MAP_TYPE_ARRAY, 4, sizeof(struct state_meta), &err);
	if (meta_fd < 0)
		return err;
	__u32 zero = 0;
	if (bpf_map_lookup_elem(meta_fd, &zero, &meta) || memcmp(meta.magic, STATE_MAGIC, 8) ||
	    meta.layout != STATE_LAYOUT) {
		snprintf(msg, sizeof(msg),
			 "state dir %s was made by an incompatible varmor-tracer (release it with --release)", state_dir);
		return msg;
	}
	if ((mfd->tasks = open_pin("map_tasks", BPF_MAP_TYPE_HASH, 4, sizeof(struct task_info), &err)) < 0 ||
	    (mfd->seen = open_pin("map_seen", BPF_MAP_TYPE_ARRAY, 4, sizeof(struct syscall_bits), &err)) < 0 ||
	    (mfd->tracked = open_pin("map_tracked", BPF_MAP_TYPE_ARRAY, 4, 8, &err)) < 0 ||
	    ((mfd->counts = open_pin("map_counts", BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, &err)) < 0 &&
	     (mfd->counts = open_pin("map_counts", BPF_MAP_TYPE_ARRAY, 4, 8, &err)) < 0) ||
	    (mfd->stats = open_pin("map_stats", BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, &err)) < 0 ||
	    (mfd->objs = open_pin("map_objs", BPF_MAP_TYPE_LRU_HASH, sizeof(struct obj_key), sizeof(struct obj_val),
				 &err)) < 0 ||
	    (mfd->mntns = open_pin("map_mntns", BPF_MAP_TYPE_HASH, 4, 4, &err)) < 0 ||
	    (mfd->podcg = open_pin("map_podcg", BPF_MAP_TYPE_HASH, 8, 4, &err)) < 0 ||
	    (mfd->events = open_pin("map_events", BPF_MAP_TYPE_RINGBUF, 0, 0, &err)) < 0)
		return err;
	/* the programs stay attached through their pinned links */
	__u32 links = 0;
	DIR *d = opendir(state_dir);
	struct dirent *de;
	while (d && (de = readdir(d)))
		links += !strncmp(de->d_name, "link_", 5);
	if (d)
		closedir(d);
	if (links != meta.nlinks) {
		snprintf(msg, sizeof(msg), "state dir %s has %u of %u program links (release it with --release)",
			 state_dir, links, meta.nlinks);
		return msg;
	}
	return NULL;
}

const struct bpf_prog_skeleton *skel_prog(const struct bpf_object_skeleton *os, int i)
{
	return (const void *)((const char *)os->progs + (size_t)i * os->prog_skel_sz);
}

const char *pin_all(const char *dir, struct bpf_object *obj, const struct bpf_object_skeleton *os)
{
	state_dir = dir;
	static char msg[PATH_MAX + 200];
	char p[PATH_MAX], name[128];
	struct bpf_map *m;
	bpf_object__for_each_map(m, obj)
	{
		if (strchr(bpf_map__name(m), '.'))
			continue; /* .rodata/.bss: held by the programs */
		snprintf(name, sizeof(name), "map_%s", bpf_map__name(m));
		path_join(p, sizeof(p), state_dir, name);
		if (bpf_map__pin(m, p))
			goto fail;
	}
	meta.nlinks = 0;
	for (int i = 0; i < os->prog_cnt; i++) {
		const struct bpf_prog_skeleton *ps = skel_prog(os, i);
		if (!*ps->link)
			continue;
		snprintf(name, sizeof(name), "link_%s", ps->name);
		path_join(p, sizeof(p), state_dir, name);
		if (bpf_link__pin(*ps->link, p))
			goto fail;
		meta.nlinks++;
	}
	memcpy(meta.magic, STATE_MAGIC, 8);
	meta.layout = STATE_LAYOUT;
	if (getrandom(meta.generation, sizeof(meta.generation), 0) != sizeof(meta.generation))
		goto fail;
	meta.created_ms = now_ms(CLOCK_REALTIME);
	meta_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "varmor_meta", 4, sizeof(struct state_meta), 1, NULL);
	if (meta_fd < 0)
		goto fail;
	meta_save();
	path_join(p, sizeof(p), state_dir, "meta");
	if (bpf_obj_pin(meta_fd, p))
		goto fail;
	return NULL;
fail:
	snprintf(msg, sizeof(msg), "cannot pin into %s (%s): %s", state_dir, p, strerror(errno));
	remove_pins(state_dir, true);
	return msg;
}
