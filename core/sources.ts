import type { BehaviorSet } from './behavior.js';
import { MODELING_QUIET_SYSCALLS } from './seccomp.js';

/**
 * What each collector saw of the syscalls, from the replicas behind every item
 * (`<node>/<collector>/<instance>`): the tracer and the audit log watch the same processes, so
 * what one has and the other lacks is either by design (the modeling profile's quiet set is
 * never logged) or lost on one side, which the report shows.
 */
export interface SyscallSources {
  bpf: string[];
  audit: string[];
  /** Seen by the tracer only, outside the quiet set: lost on the audit side (rate limits, attribution). */
  onlyBpf: string[];
  /** Seen by the tracer only and in the quiet set: the modeling profile does not log them. */
  quiet: string[];
  /** Seen in the audit log only: lost on the tracer side. */
  onlyAudit: string[];
}

export function syscallSources(behaviors: BehaviorSet): SyscallSources {
  const bpf: string[] = [];
  const audit: string[] = [];
  for (const [name, item] of Object.entries(behaviors.syscalls ?? {})) {
    const collectors = new Set(Object.keys(item.n).map((replica) => replica.split('/')[1]));
    if (collectors.has('bpf')) bpf.push(name);
    if (collectors.has('audit')) audit.push(name);
  }
  const inAudit = new Set(audit);
  const inBpf = new Set(bpf);
  const quiet = new Set(MODELING_QUIET_SYSCALLS);
  const onlyBpf = bpf.filter((s) => !inAudit.has(s));
  return {
    bpf: bpf.sort(),
    audit: audit.sort(),
    onlyBpf: onlyBpf.filter((s) => !quiet.has(s)).sort(),
    quiet: onlyBpf.filter((s) => quiet.has(s)).sort(),
    onlyAudit: audit.filter((s) => !inBpf.has(s)).sort(),
  };
}
