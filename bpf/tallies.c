// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Object tallies (see tallies.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "loader.h"
#include "tallies.h"

/* last count printed per objs key; open addressing, grows by doubling */
struct tally {
	struct obj_key k;
	__u64 n;
	bool used;
};
static struct tally *tally_tab;
static size_t tally_cap, tally_len;

static size_t tally_slot(const struct obj_key *k, size_t cap)
{
	__u64 h = k->hash ^ ((__u64)k->slot << 32 | k->kind);
	h *= 0x9E3779B97F4A7C15ULL;
	return (h >> 17) & (cap - 1);
}

static struct tally *tally_get(const struct obj_key *k)
{
	if (tally_len * 2 >= tally_cap) {
		size_t cap = tally_cap ? tally_cap * 2 : 4096;
		struct tally *nt = calloc(cap, sizeof(*nt));
		if (!nt)
			exit(1);
		for (size_t i = 0; i < tally_cap; i++) {
			if (!tally_tab[i].used)
				continue;
			size_t j = tally_slot(&tally_tab[i].k, cap);
			while (nt[j].used)
				j = (j + 1) & (cap - 1);
			nt[j] = tally_tab[i];
		}
		free(tally_tab);
		tally_tab = nt;
		tally_cap = cap;
	}
	size_t j = tally_slot(k, tally_cap);
	while (tally_tab[j].used && memcmp(&tally_tab[j].k, k, sizeof(*k)))
		j = (j + 1) & (tally_cap - 1);
	if (!tally_tab[j].used) {
		tally_tab[j].used = true;
		tally_tab[j].k = *k;
		tally_tab[j].n = 0;
		tally_len++;
	}
	return &tally_tab[j];
}

/* forgets the tallies of the slots of `target` (rebuilds the table) */
void tally_forget(int target)
{
	struct tally *old = tally_tab;
	size_t cap = tally_cap;
	tally_tab = NULL;
	tally_cap = tally_len = 0;
	for (size_t i = 0; i < cap; i++)
		if (old[i].used && (int)(old[i].k.slot & (MAX_TARGETS - 1)) != target)
			tally_get(&old[i].k)->n = old[i].n;
	free(old);
}

/* per slot, the items of the objects whose count grew since the last print */
struct tally_lines {
	char *bufs[MAX_SLOTS];
	size_t lens[MAX_SLOTS], caps[MAX_SLOTS];
};

static void tally_add(struct tally_lines *o, const struct obj_key *key, const struct obj_val *v)
{
	struct tally *t = tally_get(key);
	if (v->count <= t->n)
		return;
	t->n = v->count;
	char item[64];
	int sl = key->slot;
	int n = snprintf(item, sizeof(item), "%s\"%u:%016llx\":%llu", o->lens[sl] ? "," : "", key->kind,
			 (unsigned long long)key->hash, (unsigned long long)v->count);
	if (o->lens[sl] + n + 1 > o->caps[sl]) {
		o->caps[sl] = (o->caps[sl] + n + 1) * 2;
		o->bufs[sl] = realloc(o->bufs[sl], o->caps[sl]);
		if (!o->bufs[sl])
			exit(1);
	}
	memcpy(o->bufs[sl] + o->lens[sl], item, n + 1);
	o->lens[sl] += n;
}

void print_tallies(int target)
{
	enum { BATCH = 4096 };
	int fd = mfd.objs;
	struct tally_lines *o = calloc(1, sizeof(*o));
	struct obj_key *keys = calloc(BATCH, sizeof(*keys));
	struct obj_val *vals = calloc(BATCH, sizeof(*vals));
	if (!o || !keys || !vals)
		exit(1);
	/* the whole LRU map in batches (one syscall per 4096 entries): every run's flush reads it */
	struct obj_key in, out;
	bool first = true;
	for (;;) {
		__u32 count = BATCH;
		DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
		int err = bpf_map_lookup_batch(fd, first ? NULL : &in, &out, keys, vals, &count, &opts);
		if (err && errno != ENOENT) {
			logmsg("objs batch lookup: %s (tallies of this flush are incomplete)", strerror(errno));
			break;
		}
		for (__u32 i = 0; i < count; i++)
			if (keys[i].slot < MAX_SLOTS && (target < 0 || (int)(keys[i].slot & (MAX_TARGETS - 1)) == target))
				tally_add(o, &keys[i], &vals[i]);
		if (err)
			break; /* ENOENT: that was the last batch */
		in = out;
		first = false;
	}
	for (int sl = 0; sl < MAX_SLOTS; sl++) {
		if (!o->bufs[sl])
			continue;
		printf("{\"t\":\"tallies\",\"target\":%d%s,\"counts\":{%s}}\n", sl & (MAX_TARGETS - 1),
		       sl & SLOT_SESSION ? ",\"session\":\"exec\"" : "", o->bufs[sl]);
		free(o->bufs[sl]);
	}
	free(o);
	free(keys);
	free(vals);
}
