// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Object tallies (see tallies.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "loader.h"
#include "maps.h"
#define RECORDS_GEN_TALLIES
#include "records.gen.h"
#include "tallies.h"

/* last count printed and count at the last scan per objs key; open addressing, grows by doubling */
struct tally {
	struct obj_key k;
	__u64 n, seen;
	bool used;
};
static struct tally *tally_tab;
static size_t tally_cap, tally_len;

/*
 * Each target's `events` stat (every object event counts, before its count
 * grows) when the map was last scanned: a target whose stat has not moved
 * since has no count that grew, and its flush prints from the table instead
 * of reading the whole map, which every run shares (~35 ms at 131072
 * objects). UINT64_MAX: never scanned.
 */
static __u64 scanned_events[MAX_TARGETS];
static bool scanned_init;

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
		tally_tab[j].n = tally_tab[j].seen = 0;
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
			*tally_get(&old[i].k) = old[i];
	free(old);
	scanned_events[target] = UINT64_MAX;
}

/* per slot, the objects whose count grew since the last print */
struct tally_lines {
	struct tally **items[MAX_SLOTS];
	size_t lens[MAX_SLOTS], caps[MAX_SLOTS];
};

static void tally_put(struct tally_lines *o, struct tally *t)
{
	if (t->seen <= t->n)
		return;
	t->n = t->seen;
	int sl = t->k.slot;
	if (o->lens[sl] == o->caps[sl]) {
		o->caps[sl] = o->caps[sl] ? o->caps[sl] * 2 : 64;
		o->items[sl] = realloc(o->items[sl], o->caps[sl] * sizeof(*o->items[sl]));
		if (!o->items[sl])
			exit(1);
	}
	o->items[sl][o->lens[sl]++] = t;
}

static bool of_target(const struct obj_key *k, int target)
{
	return k->slot < MAX_SLOTS && (target < 0 || (int)(k->slot & (MAX_TARGETS - 1)) == target);
}

/* the whole LRU map in batches (one syscall per 4096 entries) into the table's `seen` */
static void scan_objs(void)
{
	enum { BATCH = 4096 };
	struct obj_key *keys = calloc(BATCH, sizeof(*keys));
	struct obj_val *vals = calloc(BATCH, sizeof(*vals));
	if (!keys || !vals)
		exit(1);
	struct obj_key in, out;
	bool first = true;
	for (;;) {
		__u32 count = BATCH;
		int err = objs_batch(first ? NULL : &in, &out, keys, vals, &count);
		if (err && errno != ENOENT) {
			logmsg("objs batch lookup: %s (tallies of this flush are incomplete)", strerror(errno));
			break;
		}
		for (__u32 i = 0; i < count; i++) {
			if (!of_target(&keys[i], -1))
				continue;
			struct tally *t = tally_get(&keys[i]);
			if (vals[i].count > t->seen)
				t->seen = vals[i].count;
		}
		if (err)
			break; /* ENOENT: that was the last batch */
		in = out;
		first = false;
	}
	free(keys);
	free(vals);
}

void print_tallies(int target)
{
	if (!scanned_init) {
		for (int t = 0; t < MAX_TARGETS; t++)
			scanned_events[t] = UINT64_MAX;
		scanned_init = true;
	}
	__u64 events[MAX_TARGETS], st[STAT_MAX];
	bool scan = target < 0;
	for (int t = 1; t < MAX_TARGETS; t++) {
		read_stats(t, st);
		events[t] = st[STAT_EVENTS];
		scan |= t == target && events[t] != scanned_events[t];
	}
	if (scan) {
		/* read before the scan: an event after it moves the stat, and the next flush scans again */
		scan_objs();
		memcpy(scanned_events, events, sizeof(events));
	}
	struct tally_lines *o = calloc(1, sizeof(*o));
	if (!o)
		exit(1);
	for (size_t i = 0; i < tally_cap; i++)
		if (tally_tab[i].used && of_target(&tally_tab[i].k, target))
			tally_put(o, &tally_tab[i]);
	for (int sl = 0; sl < MAX_SLOTS; sl++) {
		if (!o->lens[sl])
			continue;
		rec_tallies(sl & (MAX_TARGETS - 1));
		if (sl & SLOT_SESSION)
			tallies_session();
		tallies_counts_begin();
		for (size_t i = 0; i < o->lens[sl]; i++) {
			const struct tally *t = o->items[sl][i];
			char id[40];
			snprintf(id, sizeof(id), "%u:%016llx", t->k.kind, (unsigned long long)t->k.hash);
			tallies_counts_item(i == 0, id, t->n);
		}
		tallies_counts_end();
		rec_end();
		free(o->items[sl]);
	}
	free(o);
}
