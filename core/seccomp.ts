import baseline from './data/seccomp-baseline.json' with { type: 'json' };
import equivalents from './data/seccomp-equivalents.json' with { type: 'json' };
import runtimeDefaultData from './data/runtime-default-syscalls.json' with { type: 'json' };
import archMap from './data/syscall-arch-map.json' with { type: 'json' };
import type { BehaviorSet } from './behavior.js';
import { FAMILY_NUMBERS, protocolNumber, socketKind } from './net.js';
import { CLONE_NEW_MASK, LOW32, NAMESPACE_FLAGS, parseArgsEntry, RECORDED_ARGS } from './syscall-args.js';
import { PROFILE_ARCHES, syscallNumber, type Arch } from './syscalls.js';

/** One comparison of a rule, in the OCI runtime-spec form (MASKED_EQ: (arg & value) == valueTwo). */
export interface SeccompArg {
  index: number;
  value: number;
  valueTwo: number;
  op: 'SCMP_CMP_MASKED_EQ';
}

export interface SeccompRule {
  names: string[];
  action: 'SCMP_ACT_ALLOW' | 'SCMP_ACT_LOG' | 'SCMP_ACT_ERRNO';
  /** All must hold for the rule to match (a syscall with several rules matches any of them). */
  args?: SeccompArg[];
  errnoRet?: number;
}

/** The seccomp profile format of runc's config.json and of Kubernetes localhost profiles. */
export interface SeccompProfile {
  defaultAction: 'SCMP_ACT_ERRNO' | 'SCMP_ACT_LOG' | 'SCMP_ACT_ALLOW';
  defaultErrnoRet?: number;
  architectures: string[];
  syscalls: SeccompRule[];
}

/**
 * What the modeling-state profile allows without a record (vArmor's set, which its generated
 * profiles also always allow): logged, every read and write would flood the kernel's log, and the
 * tracer sees them anyway. The audit side never reports them, by design.
 */
export const MODELING_QUIET_SYSCALLS: readonly string[] = ['open', 'openat', 'openat2', 'close', 'read', 'write'];

/** Syscalls allowed beyond the observed ones, with the reason for each (see the data file). */
export const BASELINE_SYSCALLS: Readonly<Record<string, string>> = baseline.syscalls;

/** Argument values the runtime passes after the filter, by syscall (see the data file). */
const BASELINE_ARGS = baseline.arguments as unknown as Record<string, Record<string, string>>;

const EPERM = 1;
const ENOSYS = 38;

/** A syscall narrowed to this many distinct argument tuples at most; above, the name alone (said in the report). */
export const MAX_ARG_VALUES = 64;

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

/** How the profile allows each syscall it could narrow, for the report. */
export interface SeccompExplain {
  /** Syscalls allowed for every argument. */
  byName: number;
  /** Syscalls allowed only with the arguments seen: how many rules, and what they allow. */
  byArgument: { syscall: string; rules: number; allows: string }[];
  /** Syscalls a rule could narrow by argument that the profile allows by name, and why. */
  nameOnly: { syscall: string; why: string }[];
  /** Syscalls answered with an error other than EPERM, and why. */
  answered: { syscall: string; errno: string; why: string }[];
  /** Observed syscalls this architecture lacks, with no counterpart on it (a recording made on another one). */
  unmapped: string[];
}

export interface GeneratedSeccomp {
  profile: SeccompProfile;
  explain: SeccompExplain;
}

const masked = (index: number, value: number, mask = LOW32): SeccompArg => ({ index, value: mask, valueTwo: value >>> 0, op: 'SCMP_CMP_MASKED_EQ' });
const hex = (n: number) => `0x${n.toString(16)}`;

type Narrowed = { rules: SeccompArg[][]; allows: string } | { why: string };

/** socket: the address families seen (netlink: its protocols seen). */
function socketRules(set: BehaviorSet): Narrowed {
  const kinds = Object.keys(set.sockets ?? {}).map(socketKind);
  if (kinds.length === 0) return { why: 'no socket kind recorded' };
  const families = new Map<number, Set<number> | 'any'>();
  for (const k of kinds) {
    const family = FAMILY_NUMBERS[k.domain] ?? (/^\d+$/.test(k.domain) ? Number(k.domain) : undefined);
    if (family === undefined) return { why: `socket family ${k.domain} has no number here` };
    const protocol = family === FAMILY_NUMBERS.netlink ? protocolNumber(k.protocol) : undefined;
    const seen = families.get(family);
    if (protocol === undefined || seen === 'any') families.set(family, 'any');
    else families.set(family, (seen ?? new Set()).add(protocol));
  }
  const rules: SeccompArg[][] = [];
  const allows: string[] = [];
  for (const [family, protocols] of [...families].sort((a, b) => a[0] - b[0])) {
    const name = Object.entries(FAMILY_NUMBERS).find(([, v]) => v === family)?.[0] ?? String(family);
    if (protocols === 'any') {
      rules.push([masked(0, family)]);
      allows.push(name);
    } else {
      for (const p of [...protocols].sort((a, b) => a - b)) rules.push([masked(0, family), masked(2, p)]);
      allows.push(`${name} (protocol ${[...protocols].sort((a, b) => a - b).join(', ')})`);
    }
  }
  return { rules, allows: `families ${allows.join(', ')}` };
}

/** The CLONE_NEW* flags the workload created namespaces with (clone or unshare). */
function createdNamespaces(set: BehaviorSet): number {
  let flags = 0;
  for (const t of set.namespaces?.unshare?.sets?.types ?? []) flags |= NAMESPACE_FLAGS[t] ?? CLONE_NEW_MASK;
  return flags >>> 0;
}

/** clone / unshare: no namespace flag beyond those the workload created namespaces with. */
function namespaceRules(created: number): Narrowed {
  const refused = (CLONE_NEW_MASK & ~created) >>> 0;
  if (refused === 0) return { why: 'every namespace type was created' };
  const kept = Object.entries(NAMESPACE_FLAGS).filter(([, f]) => created & f).map(([n]) => n);
  return { rules: [[masked(0, 0, refused)]], allows: kept.length ? `namespace flags ${kept.join(', ')} only` : 'no namespace flags' };
}

const SOL_SOCKET = 1;
/** SOL_SOCKET options that load a (c)BPF program: SO_ATTACH_FILTER, SO_ATTACH_BPF, SO_ATTACH_REUSEPORT_CBPF/EBPF. */
const ATTACH_BPF = [26, 50, 51, 52];
/** SOL_SOCKET options are below this (the highest in Linux 6.18 is under 100). */
const SOCKET_OPTIONS_END = 128;

/** Aligned power-of-two blocks covering [lo, hi) minus `holes`, as (value, mask) for MASKED_EQ. */
function blocks(lo: number, hi: number, holes: readonly number[]): { value: number; mask: number }[] {
  const out: { value: number; mask: number }[] = [];
  let at = lo;
  while (at < hi) {
    if (holes.includes(at)) {
      at++;
      continue;
    }
    let size = 1;
    // grow while aligned, inside the range and free of holes
    while (at % (size * 2) === 0 && at + size * 2 <= hi && !holes.some((h) => h >= at && h < at + size * 2)) size *= 2;
    out.push({ value: at, mask: (LOW32 & ~(size - 1)) >>> 0 });
    at += size;
  }
  return out;
}

/** Option levels a socket of the kind uses (SOL_SOCKET for any): IP, IPv6, TCP, UDP, raw, netlink, packet, ALG. */
const LEVELS_BY_KIND: { domain?: string; protocol?: string; levels: number[] }[] = [
  { levels: [SOL_SOCKET] },
  { domain: 'inet', levels: [0] },
  { domain: 'inet6', levels: [0, 41] },
  { protocol: 'tcp', levels: [6] },
  { protocol: 'udp', levels: [17] },
  { protocol: 'raw', levels: [255] },
  { domain: 'netlink', levels: [270] },
  { domain: 'packet', levels: [263] },
  { domain: 'alg', levels: [279] },
];

/**
 * setsockopt / getsockopt: the option levels of the sockets the workload made and the levels seen,
 * with every option of those levels. Which options a program sets depends on its traffic (nginx
 * sets TCP_NODELAY only on keep-alive connections, redis its keep-alive options per kind of
 * client): options, or even levels, listed from one window were refused in a wider one. Levels of
 * sockets it never made (packet, netlink, ALG, TLS, ...) stay refused, and so does what a
 * SOL_SOCKET option can do that matters, loading a BPF program, unless it was seen.
 */
function socketOptionRules(syscall: string, tuples: number[][], set: BehaviorSet): Narrowed {
  const kinds = Object.keys(set.sockets ?? {}).map(socketKind);
  const implied = LEVELS_BY_KIND.filter((k) => kinds.some((s) => (!k.domain || s.domain === k.domain) && (!k.protocol || s.protocol === k.protocol))).flatMap((k) => k.levels);
  const levels = [...new Set([...tuples.map((t) => t[0]!), ...implied])].sort((a, b) => a - b);
  const attachSeen = tuples.some((t) => t[0] === SOL_SOCKET && ATTACH_BPF.includes(t[1]!));
  const rules: SeccompArg[][] = [];
  for (const level of levels) {
    if (syscall === 'setsockopt' && level === SOL_SOCKET && !attachSeen) {
      for (const b of blocks(0, SOCKET_OPTIONS_END, ATTACH_BPF)) rules.push([masked(1, level), masked(2, b.value, b.mask)]);
    } else rules.push([masked(1, level)]);
  }
  const excluded = syscall === 'setsockopt' && levels.includes(SOL_SOCKET) && !attachSeen ? ', except the SOL_SOCKET options that load BPF programs' : '';
  return { rules, allows: `levels ${levels.join(', ')} (of the sockets made and the options seen), any option${excluded}` };
}

/** The recorded argument tuples of a syscall (and the runtime's own), or why it stays by name. */
function recordedRules(syscall: string, set: BehaviorSet): Narrowed {
  const indexes = RECORDED_ARGS[syscall]!;
  const item = set.syscalls?.[syscall];
  const entries = [...(item ? (item.sets?.args ?? []) : []), ...Object.keys(BASELINE_ARGS[syscall] ?? {})];
  if (item && !item.sets?.args?.length) return { why: 'no argument recorded (a collector that does not record them saw it)' };
  const tuples = new Map<string, number[]>();
  for (const e of entries) {
    const values = parseArgsEntry(syscall, e);
    if (!values) return { why: `argument record ${JSON.stringify(e).slice(0, 40)} is not the recorded shape` };
    tuples.set(values.join(','), values);
  }
  if (tuples.size > MAX_ARG_VALUES) return { why: `${tuples.size} distinct values seen, more than ${MAX_ARG_VALUES}` };
  if (tuples.size === 0) return { why: 'never called' };
  if (syscall === 'setsockopt' || syscall === 'getsockopt') return socketOptionRules(syscall, [...tuples.values()], set);
  const sorted = [...tuples.values()].sort((a, b) => a.join(',').localeCompare(b.join(','), 'en', { numeric: true }));
  const what = indexes.length === 1 ? `${syscall === 'ioctl' ? 'requests' : 'values'} ${sorted.map((v) => hex(v[0]!)).join(', ')}` : `(level, name) ${sorted.map((v) => `(${v.join(', ')})`).join(', ')}`;
  return { rules: sorted.map((v) => v.map((x, i) => masked(indexes[i]!, x))), allows: what };
}

/** What a name another architecture lacks is called there (see the data file). */
const ARCH_MAP: Readonly<Record<string, readonly string[]>> = archMap.map;

/**
 * The names as `arch` has them: each it knows as is; one it lacks through its equivalence group
 * (the group's members it has come in with equivalentsOf) or ARCH_MAP; else unmapped.
 */
function namesOn(arch: Arch, names: ReadonlySet<string>): { names: Set<string>; unmapped: string[] } {
  const out = new Set<string>();
  const unmapped: string[] = [];
  const has = (m: string) => syscallNumber(arch, m) !== undefined;
  for (const n of names) {
    if (has(n)) {
      out.add(n);
    } else if (!EQUIVALENT_SYSCALLS.some((g) => g.names.includes(n) && g.names.some(has))) {
      const mapped = (ARCH_MAP[n] ?? []).filter(has);
      if (mapped.length === 0) unmapped.push(n);
      for (const m of mapped) out.add(m);
    }
  }
  return { names: out, unmapped: unmapped.sort() };
}

/**
 * Allow-list profile for one architecture, from a recording made on any: the observed syscalls,
 * the runtime baseline and the equivalents of both, as that architecture names them (namesOn);
 * everything else fails with EPERM. Unless `flat`, a syscall whose arguments the model knows is
 * allowed only with those (socket families, clone/unshare namespace flags, the recorded arguments
 * of RECORDED_ARGS), and clone3, whose flags seccomp cannot read, fails with ENOSYS (glibc then
 * uses clone) unless the workload created namespaces.
 */
export function seccompProfile(set: BehaviorSet, arch: Arch, opts: { flat?: boolean } = {}): GeneratedSeccomp {
  // Names the table did not know (`syscall_<nr>`) cannot be expressed by name in the profile.
  const recorded = new Set([...Object.keys(set.syscalls ?? {}), ...Object.keys(BASELINE_SYSCALLS)].filter((n) => /^[a-z0-9_]+$/.test(n) && !n.startsWith('syscall_')));
  const { names: seen, unmapped } = namesOn(arch, recorded);
  const names = [...new Set([...seen, ...equivalentsOf(recorded, [arch])])].sort();
  const explain: SeccompExplain = { byName: 0, byArgument: [], nameOnly: [], answered: [], unmapped };
  const profile: SeccompProfile = { defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: EPERM, architectures: PROFILE_ARCHES[arch], syscalls: [] };
  const narrowed: SeccompRule[] = [];
  const byName: string[] = [];
  const created = createdNamespaces(set);
  for (const name of names) {
    if (opts.flat) {
      byName.push(name);
      continue;
    }
    if (name === 'clone3' && created === 0) {
      narrowed.push({ names: [name], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS });
      explain.answered.push({ syscall: name, errno: 'ENOSYS', why: 'its flags are in memory, where seccomp cannot look; the workload created no namespace, and glibc falls back to clone, whose flags a rule checks' });
      continue;
    }
    const n: Narrowed | undefined =
      name === 'socket' ? socketRules(set) : name === 'clone' || name === 'unshare' ? namespaceRules(created) : RECORDED_ARGS[name] ? recordedRules(name, set) : undefined;
    if (n && 'rules' in n) {
      for (const args of n.rules) narrowed.push({ names: [name], action: 'SCMP_ACT_ALLOW', args });
      explain.byArgument.push({ syscall: name, rules: n.rules.length, allows: n.allows });
      continue;
    }
    if (n) explain.nameOnly.push({ syscall: name, why: n.why });
    byName.push(name);
  }
  explain.byName = byName.length;
  profile.syscalls = [{ names: byName, action: 'SCMP_ACT_ALLOW' }, ...narrowed];
  return { profile, explain };
}

/** Syscall names a profile allows, with any argument. */
export function allowedNames(profile: SeccompProfile): string[] {
  return [...new Set(profile.syscalls.filter((r) => r.action === 'SCMP_ACT_ALLOW').flatMap((r) => r.names))].sort();
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
