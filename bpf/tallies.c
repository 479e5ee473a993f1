// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Object tallies (see tallies.h). */
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

void print_tallies(void)
{
	int fd = mfd.objs;
	struct obj_key key, next, *prev = NULL;
	bool open_slot[MAX_SLOTS] = {0};
	/* one line per slot: collect per slot by scanning once per slot that has entries */
	char *bufs[MAX_SLOTS] = {0};
	size_t lens[MAX_SLOTS] = {0}, caps[MAX_SLOTS] = {0};
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		struct obj_val v;
		if (bpf_map_lookup_elem(fd, &key, &v) || key.slot >= MAX_SLOTS)
			continue;
		struct tally *t = tally_get(&key);
		if (v.count <= t->n)
			continue;
		t->n = v.count;
		char item[64];
		int n = snprintf(item, sizeof(item), "%s\"%u:%016llx\":%llu", open_slot[key.slot] ? "," : "", key.kind,
				 (unsigned long long)key.hash, (unsigned long long)v.count);
		open_slot[key.slot] = true;
		if (lens[key.slot] + n + 1 > caps[key.slot]) {
			caps[key.slot] = (caps[key.slot] + n + 1) * 2;
			bufs[key.slot] = realloc(bufs[key.slot], caps[key.slot]);
			if (!bufs[key.slot])
				exit(1);
		}
		memcpy(bufs[key.slot] + lens[key.slot], item, n + 1);
		lens[key.slot] += n;
	}
	for (int sl = 0; sl < MAX_SLOTS; sl++) {
		if (!bufs[sl])
			continue;
		printf("{\"t\":\"tallies\",\"target\":%d%s,\"counts\":{%s}}\n", sl & (MAX_TARGETS - 1),
		       sl & SLOT_SESSION ? ",\"session\":\"exec\"" : "", bufs[sl]);
		free(bufs[sl]);
	}
}
