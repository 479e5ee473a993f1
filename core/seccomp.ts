import baseline from './data/seccomp-baseline.json' with { type: 'json' };
import equivalents from './data/seccomp-equivalents.json' with { type: 'json' };
import runtimeDefaultData from './data/runtime-default-syscalls.json' with { type: 'json' };
import { SCMP_ARCH, syscallNumber, type Arch } from './syscalls.js';

/** The seccomp profile format of runc's config.json and of Kubernetes localhost profiles. */
export interface SeccompProfile {
  defaultAction: 'SCMP_ACT_ERRNO' | 'SCMP_ACT_LOG' | 'SCMP_ACT_ALLOW';
  defaultErrnoRet?: number;
  architectures: string[];
  syscalls: { names: string[]; action: 'SCMP_ACT_ALLOW' | 'SCMP_ACT_LOG' }[];
}

/**
 * What the modeling-state profile allows without a record (vArmor's set, which its generated
 * profiles also always allow): logged, every read and write would flood the kernel's log, and the
 * tracer sees them anyway. The audit side never reports them, by design.
 */
export const MODELING_QUIET_SYSCALLS: readonly string[] = ['open', 'openat', 'openat2', 'close', 'read', 'write'];

/** Syscalls allowed beyond the observed ones, with the reason for each (see the data file). */
export const BASELINE_SYSCALLS: Readonly<Record<string, string>> = baseline.syscalls;

const EPERM = 1;

/** Groups of interchangeable syscalls, with the reason (see the data file). */
export const EQUIVALENT_SYSCALLS: readonly { names: readonly string[]; why: string }[] = equivalents.groups;

/** The members of the groups any of `names` belongs to, that exist on one of the architectures. */
export function equivalentsOf(names: ReadonlySet<string>, arches: readonly Arch[]): string[] {
  const out: string[] = [];
  for (const g of EQUIVALENT_SYSCALLS) {
    if (!g.names.some((n) => names.has(n))) continue;
    out.push(...g.names.filter((n) => arches.length === 0 || arches.some((a) => syscallNumber(a, n) !== undefined)));
  }
  return out;
}

/**
 * Allow-list profile: the observed syscalls, the runtime baseline and the equivalents of both;
 * everything else fails with EPERM.
 */
export function seccompProfile(observed: Iterable<string>, arches: readonly Arch[]): SeccompProfile {
  const seen = new Set([...observed, ...Object.keys(BASELINE_SYSCALLS)]);
  // Names the table did not know (`syscall_<nr>`) cannot be expressed by name in the profile.
  const names = [...new Set([...seen, ...equivalentsOf(seen, arches)])].filter((n) => /^[a-z0-9_]+$/.test(n) && !n.startsWith('syscall_'));
  return {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: EPERM,
    architectures: arches.map((a) => SCMP_ARCH[a]),
    syscalls: [{ names: names.sort(), action: 'SCMP_ACT_ALLOW' }],
  };
}

const runtimeDefault = runtimeDefaultData as {
  allowed: string[];
  conditional: Record<string, string>;
  byArch: Record<string, string[]>;
  byCapability: Record<string, string[]>;
};
const RUNTIME_DEFAULT_ALLOWED: ReadonlySet<string> = new Set(runtimeDefault.allowed);

export interface RuntimeDefaultFit {
  /** True when every observed syscall is allowed (conditional ones counted as allowed, see `conditional`). */
  compatible: boolean;
  /** Observed syscalls RuntimeDefault refuses, with what would allow them. */
  refused: { syscall: string; allowedWith?: string }[];
  /** Observed syscalls RuntimeDefault allows only for some arguments, which the model does not keep. */
  conditional: { syscall: string; when: string }[];
}

/** Whether the workload runs under the container runtime's RuntimeDefault seccomp profile. */
export function runtimeDefaultFit(observed: Iterable<string>, arches: readonly Arch[], capabilities: readonly string[]): RuntimeDefaultFit {
  const refused: RuntimeDefaultFit['refused'] = [];
  const conditional: RuntimeDefaultFit['conditional'] = [];
  for (const syscall of [...new Set(observed)].sort()) {
    const when = runtimeDefault.conditional[syscall];
    const byCap = Object.entries(runtimeDefault.byCapability).filter(([, names]) => names.includes(syscall)).map(([cap]) => cap);
    const capOk = byCap.some((cap) => capabilities.includes(cap));
    if (when !== undefined && !capOk) conditional.push({ syscall, when });
    else if (RUNTIME_DEFAULT_ALLOWED.has(syscall) || capOk) continue;
    else if (arches.length > 0 && arches.every((a) => runtimeDefault.byArch[a]?.includes(syscall))) continue;
    else refused.push(byCap.length ? { syscall, allowedWith: `capability ${byCap.join(' or ')}` } : { syscall });
  }
  return { compatible: refused.length === 0, refused, conditional };
}
