/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The state dir (--state-dir): with it the maps and links live on in a bpffs
 * directory after the loader exits, so a new loader re-adopts them (tracking
 * never stops). Pinning, adopting and releasing it, and the `meta` map that
 * marks it complete (owned here: the targets in use, their roots and keys,
 * the generation). See README.md.
 */
#ifndef VARMOR_PINS_H
#define VARMOR_PINS_H

#include <stdbool.h>
#include <sys/types.h>
#include <bpf/libbpf.h>
#include "maps.h"

/* Makes sure the state dir's filesystem is bpffs: mounts /sys/fs/bpf if the
 * dir is below it and it is not mounted yet. Returns an error message or NULL. */
const char *ensure_bpffs(const char *dir);
/* Locks the state dir (one loader per state dir). Returns the fd, -1 if it
 * does not exist, -2 if another process holds it. */
int lock_dir(const char *dir);
/* Removes every entry of a bpffs state dir (meta first, so that an
 * interrupted removal is recognised as incomplete) and the dir. Unpinning a
 * link nobody else holds detaches its program. Returns entries removed. */
int remove_pins(const char *dir, bool keep_dir);

/* Opens the pinned maps of an earlier loader in dir into *mfd, and its meta.
 * Returns an error message or NULL. */
const char *adopt_pins(const char *dir, struct map_fds *mfd);
/* Pins every map and link of a fresh load, then the meta map (last: its
 * presence marks a complete state dir). Returns an error message or NULL. */
const char *pin_all(const char *dir, struct bpf_object *obj, const struct bpf_object_skeleton *os);
/* the skeleton's program i (its `link` is NULL if it is not attached) */
const struct bpf_prog_skeleton *skel_prog(const struct bpf_object_skeleton *os, int i);

/* meta (the pinned copy too): target T is in use, with this root process; or no longer */
void set_root(int target, pid_t pid);
void meta_forget(int target);
bool meta_known(int target);
/* its root process (0: none) and attach key ("": none) */
pid_t meta_root(int target);
const char *meta_key(int target);
/* the pod cgroup hierarchy the programs were loaded with (enum pod_cgroup_mode) */
int meta_pod_cgroup(void);
void meta_set_pod_cgroup(int mode);
/* the generation id in hex (32 digits) */
const char *meta_generation(void);

/* Attach keys: the run each target belongs to. The target attached with key
 * (0: none); a free target claimed for key (0: all in use); a target given
 * back (its key and root forgotten). A target is in use while it has a key
 * or is known (launched or tracked without a key). */
int meta_target_of(const char *key);
int meta_claim(const char *key);
/* at most n targets claimed by keys (--max-targets, 1..127) */
void meta_limit(int n);
int meta_claim_limit(void);
void meta_unclaim(int target);
bool meta_in_use(int target);

#endif
