// SPDX-License-Identifier: GPL-2.0
/*
 * Capability checks and signals of tracked processes. These hooks may run
 * in any context (a signal from an interrupt, a check under a spinlock), so
 * their records go straight into the ring, never through the per-CPU scratch.
 */
#include "records.bpf.h"

/* Kernel text ranges [lo, hi) of the callers whose capability checks are not
 * a request for the privilege (CAP_OPT_NOAUDIT: *_noaudit, the
 * vm_enough_memory overcommit check), set by the loader from /proc/kallsyms
 * before load. noaudit_n == 0 (kallsyms hides addresses): every check counts. */
const volatile __u64 noaudit_lo[NOAUDIT_RANGES] = {};
const volatile __u64 noaudit_hi[NOAUDIT_RANGES] = {};
const volatile __u32 noaudit_n = 0;
/* the text of cap_capable [CAP_CAPABLE] and security_capable [CAP_SECURITY] */
const volatile __u64 capable_lo[2] = {};
const volatile __u64 capable_hi[2] = {};

/*
 * Who asked a capability question is the return address into cap_capable's
 * caller, or into security_capable's caller when that is security_capable.
 * Walking the stack for it costs ~1 us a check (bpf_get_stack), and a root
 * process asks at every mmap. But the frames between the tracepoint's
 * argument array (ctx, on bpf_trace_run5's stack) and those return addresses
 * have fixed sizes, so their slots are learned once from walked stacks:
 * cap_slot[k] = word index above ctx of the return address into cap_capable
 * (0), into its caller (1), into security_capable's caller (2); 0 = not yet
 * known. A check then reads two or three words. The slot of cap_capable's
 * return address is checked on every read (another probe on the tracepoint
 * adds a frame: the read fails over to a walk), and every CAP_VERIFY_EVERY
 * checks a walk re-derives the answer; a mismatch is counted
 * (STAT_CAP_SLOT_MISS) and the slots are learned again.
 */
__u32 cap_slot[3];
__u64 cap_checks;

/* A small record (no path) straight into the ring, de-dup bit 1: `extra`
 * bytes of `data` follow, filled by the caller. */
static __always_inline struct obj_rec *small_rec(__u32 slot, __u32 kind, __u32 tgid, __u64 h, __u32 extra)
{
	struct obj_rec *r = rec_reserve(offsetof(struct obj_rec, data) + extra, kind, slot);
	if (!r) {
		undedup(slot, kind, h, 1);
		return NULL;
	}
	obj_init(r, tgid, 1, h);
	return r;
}

static __always_inline bool capable_text(__u64 ip, int which)
{
	return ip >= capable_lo[which & 1] && ip < capable_hi[which & 1];
}

/* Is the asker one of the noaudit callers (see noaudit_lo)? */
static __always_inline bool unaudited(__u64 asker)
{
	for (__u32 j = 0; j < NOAUDIT_RANGES; j++) {
		if (j >= noaudit_n)
			break;
		if (asker >= noaudit_lo[j] && asker < noaudit_hi[j])
			return true;
	}
	return false;
}

static __always_inline __u64 stack_word(void *ctx, __u32 slot)
{
	__u64 w = 0;
	bpf_probe_read_kernel(&w, sizeof(w), (__u64 *)ctx + (slot & (CAP_SCAN_WORDS - 1)));
	return w;
}

/* the asker from the learned slots; 0 when they are not known or do not hold what they should */
static __always_inline __u64 asker_from_slots(void *ctx)
{
	__u32 k0 = cap_slot[0], k1 = cap_slot[1];
	if (!k0 || !k1 || !capable_text(stack_word(ctx, k0), CAP_CAPABLE))
		return 0;
	__u64 w = stack_word(ctx, k1);
	if (!capable_text(w, CAP_SECURITY))
		return w;
	return cap_slot[2] ? stack_word(ctx, cap_slot[2]) : 0;
}

/* the raw words above ctx, to find the walked frames' slots in */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64[CAP_SCAN_WORDS]);
} capscan SEC(".maps");

/* one pass over the raw words: the slots of the three frames, in order (bpf_loop: verified once) */
struct slot_scan {
	__u64 *words;
	__u64 ip[3];
	__u32 k[3];
};

static long slot_step(__u32 j, struct slot_scan *c)
{
	if (j == 0 || j >= CAP_SCAN_WORDS)
		return 0;
	__u64 w = c->words[j];
	if (!c->k[0]) {
		if (w == c->ip[0])
			c->k[0] = j;
	} else if (!c->k[1]) {
		if (w == c->ip[1])
			c->k[1] = j;
	} else if (!c->k[2] && w == c->ip[2]) {
		c->k[2] = j;
		return 1;
	}
	return 0;
}

/* the asker from a stack walk, learning the slots on the way; 0 when the walk does not show it */
static __always_inline __u64 asker_from_walk(void *ctx)
{
	__u64 ips[CAP_FRAMES] = {};
	long got = bpf_get_stack(ctx, ips, sizeof(ips), 0);
	int n = got > 0 ? (int)((__u64)got >> 3) : 0;
	int i = -1;
	for (int f = 0; f < CAP_FRAMES - 2; f++)
		if (f < n && capable_text(ips[f], CAP_CAPABLE)) {
			i = f;
			break;
		}
	if (i < 0 || i + 2 >= n)
		return 0;
	__u64 c0 = ips[i & 7], c1 = ips[(i + 1) & 7], c2 = ips[(i + 2) & 7];
	bool via_security = capable_text(c1, CAP_SECURITY);
	__u32 zero = 0;
	__u64 *words = bpf_map_lookup_elem(&capscan, &zero);
	if (words && bpf_probe_read_kernel(words, CAP_SCAN_WORDS * 8, ctx) == 0) {
		struct slot_scan sc = {.words = words, .ip = {c0, c1, c2}};
		bpf_loop(CAP_SCAN_WORDS, slot_step, &sc, 0);
		if (sc.k[1]) {
			cap_slot[0] = sc.k[0];
			cap_slot[1] = sc.k[1];
			if (via_security && sc.k[2])
				cap_slot[2] = sc.k[2];
		}
	}
	return via_security ? c2 : c1;
}

/* Who asked: from the slots, with a walk when they cannot tell and every CAP_VERIFY_EVERY checks. */
static __always_inline __u64 asker_of(void *ctx, __u32 slot)
{
	__u64 fast = asker_from_slots(ctx);
	if (fast && (cap_checks++ & (CAP_VERIFY_EVERY - 1)))
		return fast;
	__u64 walked = asker_from_walk(ctx);
	if (fast && walked && fast != walked) {
		stat_inc(slot, STAT_CAP_SLOT_MISS);
		cap_slot[0] = cap_slot[1] = cap_slot[2] = 0;
	}
	return walked ? walked : fast;
}

/*
 * Capability checks (granted: ret == 0). Bystanders: a bitmap test. For a
 * target, who asked (asker_of) tells a check made without auditing
 * (CAP_OPT_NOAUDIT), which only probes the privilege (the overcommit check
 * asks CAP_SYS_ADMIN on every mmap of a root process), from a request for
 * it: the former is REC_CAP_NOAUDIT, never a capability. The asker's
 * address goes with the record (once per object) for the loader to name.
 */
SEC("tp_btf/cap_capable")
int BPF_PROG(on_cap, const struct cred *cred, struct user_namespace *target_ns,
	     const struct user_namespace *capable_ns, int cap, int ret)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct task_info *ti = task_of(tgid);
	if (!ti || (ti->flags & TASK_ARMED))
		return 0;
	__u32 slot = slot_of(ti);
	__u32 granted = ret == 0;
	__u64 h = ((__u64)granted << 8) | (cap & 0xff);
	__u64 asker = noaudit_n ? asker_of(ctx, slot) : 0;
	__u32 kind = REC_CAP;
	if (asker && unaudited(asker)) {
		kind = REC_CAP_NOAUDIT;
		stat_inc(slot, STAT_CAP_NOAUDIT);
	}
	if (!dedup(slot, kind, h, 1))
		return 0;
	struct obj_rec *r = small_rec(slot, kind, tgid, h, sizeof(asker));
	if (!r)
		return 0;
	r->ret = ret;
	r->a = cap;
	r->b = granted;
	__builtin_memcpy(r->data, &asker, sizeof(asker));
	rec_submit(r);
	return 0;
}

/* Signals sent by a tracked process (user-sent only: kill, tkill, tgkill,
 * rt_sigqueueinfo, pidfd_send_signal; not the kernel's SIGCHLD, SIGPIPE, ...). */
SEC("tp_btf/signal_generate")
int BPF_PROG(on_signal, int sig, struct kernel_siginfo *info, struct task_struct *task, int group, int result)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct task_info *ti = task_of(tgid);
	if (!ti || (ti->flags & TASK_ARMED))
		return 0;
	if ((unsigned long)info <= 1) /* SEND_SIG_NOINFO / SEND_SIG_PRIV: from the kernel */
		return 0;
	if (BPF_CORE_READ(info, si_code) > 0) /* SI_USER 0, SI_QUEUE -1, SI_TKILL -6, ... */
		return 0;
	__u32 slot = slot_of(ti);
	__u32 external = outside(ti->target, task);
	__u64 h = ((__u64)external << 8) | (sig & 0xff);
	if (!dedup(slot, REC_SIGNAL, h, 1))
		return 0;
	struct obj_rec *r = small_rec(slot, REC_SIGNAL, tgid, h, 0);
	if (!r)
		return 0;
	r->ret = result;
	r->a = sig;
	r->b = external;
	r->c = BPF_CORE_READ(task, tgid);
	rec_submit(r);
	return 0;
}
