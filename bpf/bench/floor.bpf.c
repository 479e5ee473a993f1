// SPDX-License-Identifier: GPL-2.0
/* The floor: empty programs on the same hooks varmor-tracer uses
 * (tp_btf sys_enter / sys_exit). No map access, no helper call. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/sys_enter")
int BPF_PROG(floor_enter, struct pt_regs *regs, long id) { return 0; }

SEC("tp_btf/sys_exit")
int BPF_PROG(floor_exit, struct pt_regs *regs, long ret) { return 0; }

/* one hash lookup per hook, as a bystander pays in varmor-tracer */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u64);
} tasks SEC(".maps");

SEC("tp_btf/sys_enter")
int BPF_PROG(lookup_enter, struct pt_regs *regs, long id)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	return bpf_map_lookup_elem(&tasks, &tgid) ? 1 : 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(lookup_exit, struct pt_regs *regs, long ret)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	return bpf_map_lookup_elem(&tasks, &tgid) ? 1 : 0;
}

/* the capability hook: empty, and with only the stack walk the tracer's
 * noaudit check takes (8 frames), to price that walk on its own */
SEC("tp_btf/cap_capable")
int BPF_PROG(floor_cap, const struct cred *cred, struct user_namespace *ns, const struct user_namespace *cns, int cap, int ret)
{
	return 0;
}

SEC("tp_btf/cap_capable")
int BPF_PROG(stack_cap, const struct cred *cred, struct user_namespace *ns, const struct user_namespace *cns, int cap, int ret)
{
	__u64 ips[8];
	return bpf_get_stack(ctx, ips, sizeof(ips), 0) > 0;
}
