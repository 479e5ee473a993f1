/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Records into the ring buffer, and the de-dup that decides whether an
 * object record is new. Every failed reserve or output is counted in
 * STAT_RINGBUF_DROPPED, every record sent in STAT_RECORDS.
 */
#ifndef VARMOR_RECORDS_BPF_H
#define VARMOR_RECORDS_BPF_H

#include "maps.bpf.h"

static __always_inline void set_hdr(struct rec_hdr *h, __u32 type, __u32 slot)
{
	h->type = type;
	h->flags = (slot & SLOT_SESSION) ? RECF_SESSION : 0;
	h->target = slot & (MAX_TARGETS - 1);
	h->ts = bpf_ktime_get_boot_ns();
}

/* a record of `size` bytes in the ring with its header filled; NULL (counted) when the ring is full */
static __always_inline void *rec_reserve(__u32 size, __u32 type, __u32 slot)
{
	struct rec_hdr *h = bpf_ringbuf_reserve(&events, size, 0);
	if (!h) {
		stat_inc(slot, STAT_RINGBUF_DROPPED);
		return NULL;
	}
	set_hdr(h, type, slot);
	return h;
}

static __always_inline void rec_submit(void *r)
{
	__u32 target = ((struct rec_hdr *)r)->target;
	bpf_ringbuf_submit(r, 0);
	stat_inc(target, STAT_RECORDS);
}

/* an object record's fields after the header: its process, the bits it reports and its de-dup
 * id; the rest zero for the caller to fill in its kind's */
static __always_inline void obj_init(struct obj_rec *r, __u32 pid, __u32 bits, __u64 id)
{
	r->pid = pid;
	r->bits = bits;
	r->id = id;
	r->ret = 0;
	r->a = r->b = r->c = 0;
	r->d = 0;
	r->len1 = r->len2 = r->flags = r->name_off = 0;
}

/* fork, join and container records: a process and its parent (a tp_btf task
 * pointer: a direct load, no helper call) */
static __always_inline void send_fork_rec(__u32 type, __u32 slot, __u32 pid, const struct task_struct *parent)
{
	struct fork_rec *r = rec_reserve(sizeof(*r), type, slot);
	if (!r)
		return;
	r->pid = pid;
	r->ppid = parent->tgid;
	rec_submit(r);
}

static __always_inline void record_syscall(__u32 slot, __u32 nr)
{
	slot &= MAX_SLOTS - 1;
	__u32 key = slot * MAX_SYSCALLS + nr;
	__u64 *cnt = bpf_map_lookup_elem(&counts, &key);
	if (cnt) {
		if (counts_shared)
			__sync_fetch_and_add(cnt, 1);
		else
			*cnt += 1;
	}

	struct syscall_bits *bits = bpf_map_lookup_elem(&seen, &slot);
	if (!bits)
		return;
	__u64 bit = 1ULL << (nr & 63);
	__u64 *w = &bits->w[(nr >> 6) & (SYSCALL_WORDS - 1)];
	/* plain read first: the common case (already seen) takes no locked op */
	if (*w & bit)
		return;
	if (__sync_fetch_and_or(w, bit) & bit)
		return; /* another CPU won the race and reports it */

	struct syscall_rec *r = rec_reserve(sizeof(*r), REC_SYSCALL, slot);
	if (!r) {
		/* un-see it so that a later call reports it; counts still have it */
		__sync_fetch_and_and(w, ~bit);
		return;
	}
	r->nr = nr;
	r->pad = 0;
	rec_submit(r);
}

/* Returns the bits not reported yet for this object (0: a repeat, counted). */
static __always_inline __u32 dedup(__u32 slot, __u32 kind, __u64 hash, __u32 bits)
{
	struct obj_key k = {.hash = hash, .slot = slot, .kind = kind};
	stat_inc(slot, STAT_EVENTS);
	struct obj_val *v = bpf_map_lookup_elem(&objs, &k);
	if (!v) {
		struct obj_val nv = {.bits = bits, .count = 1};
		if (bpf_map_update_elem(&objs, &k, &nv, BPF_NOEXIST) == 0)
			return bits;
		v = bpf_map_lookup_elem(&objs, &k); /* lost a race, or no room */
		if (!v) {
			stat_inc(slot, STAT_DEDUP_FULL);
			return bits;
		}
	}
	__sync_fetch_and_add(&v->count, 1);
	if ((v->bits & bits) == bits)
		return 0;
	return bits & ~__sync_fetch_and_or(&v->bits, bits);
}

/* The record carrying `bits` was lost (the caller counts it): forget them so a repeat reports them. */
static __always_inline void undedup(__u32 slot, __u32 kind, __u64 hash, __u32 bits)
{
	struct obj_key k = {.hash = hash, .slot = slot, .kind = kind};
	struct obj_val *v = bpf_map_lookup_elem(&objs, &k);
	if (v)
		__sync_fetch_and_and(&v->bits, ~bits);
}

static __always_inline __u64 mix(__u64 h, __u64 w)
{
	h ^= w;
	h *= 0x9E3779B97F4A7C15ULL;
	return h ^ (h >> 29);
}

#endif
