import type { BehaviorSet, Category, Item, Replica } from '../core/behavior.js';
import { isArch, syscallName, type Arch } from '../core/syscalls.js';
import { parseLine, type AppArmorRecord, type AuditRecord, type Rejection, type SeccompRecord } from './parse.js';

/**
 * Audit records → behavior-set observations, per target.
 *
 * Aggregation happens here, not through core/behavior's observe(): one Map hit and a counter bump
 * per record keeps the hot path allocation-free; drain() then hands out only the items touched since
 * the previous drain, with cumulative counts (the G-counter contract of core/behavior.ts).
 */

/** Who a record belongs to. Returning undefined drops the record: better unmodelled than misattributed. */
export interface Attribution {
  /** Target of an AppArmor profile, given its base name (the label before any `//child`). */
  profile(name: string): string | undefined;
  /** Target of a host pid at a time: the tracer's process map, which tracks pid reuse and mount namespaces. */
  pid?(pid: number, at: number): string | undefined;
}

export interface AttributorOptions {
  replica: Replica;
  /** Only seccomp records of this architecture count; default: any architecture with a syscall table. */
  arch?: Arch;
  /** Rejected lines kept verbatim (truncated) for the report. */
  maxSamples?: number;
}

/** AUDIT_ARCH_* values as audit records print them. */
const AUDIT_ARCH: Record<string, Arch> = { c000003e: 'x86_64', c00000b7: 'aarch64' };

const PERM_WORDS = ['read', 'write', 'append', 'create', 'exec', 'rename', 'link', 'lock', 'mmap', 'chmod', 'chown', 'delete'] as const;
const P = Object.fromEntries(PERM_WORDS.map((w, i) => [w, 1 << i])) as Record<(typeof PERM_WORDS)[number], number>;

/** AppArmor's file mask letters (security/apparmor/file.c aa_file_perm_chrs). */
const LETTER: Record<string, number> = { r: P.read, w: P.write, a: P.append, c: P.create, d: P.delete, l: P.link, k: P.lock, m: P.mmap, x: P.exec };

/** Operations whose meaning the mask letters do not carry. */
const OP_PERMS: Record<string, number> = {
  chmod: P.chmod,
  chown: P.chown,
  rename_src: P.rename,
  rename_dest: P.rename,
  link: P.link,
  unlink: P.delete,
  rmdir: P.delete,
  mkdir: P.create,
  mknod: P.create,
  symlink: P.create,
};

/** /etc/protocols names, as libapparmor reports them (and vArmor stores them). */
const PROTOCOLS: Record<number, string> = { 0: 'ip', 1: 'icmp', 2: 'igmp', 6: 'tcp', 17: 'udp', 33: 'dccp', 41: 'ipv6', 58: 'ipv6-icmp', 132: 'sctp', 136: 'udplite', 255: 'raw', 262: 'mptcp' };

/** A socket protocol number as the model names it: libapparmor's /etc/protocols name, else the number. */
export function protocolName(protocol: number): string {
  return PROTOCOLS[protocol] ?? String(protocol);
}

const MOUNT_OPS = new Set(['mount', 'umount', 'remount', 'pivotroot']);
const EGRESS_OPS = new Set(['connect', 'sendmsg']);
const BIND_OPS = new Set(['bind', 'listen']);
const REPORTED: ReadonlySet<Rejection> = new Set(['too_long', 'binary', 'malformed', 'unbalanced_quote', 'duplicate_field', 'missing_field']);

interface Agg {
  category: Category;
  key: string;
  first: number;
  last: number;
  n: number;
  perms: number;
  owner: boolean | undefined;
  sets: Map<string, Set<string>> | undefined;
  dirty: boolean;
}

class TargetBehaviors {
  readonly items = new Map<Category, Map<string, Agg>>();
  dirty: Agg[] = [];

  hit(category: Category, key: string, at: number): Agg {
    let byKey = this.items.get(category);
    if (!byKey) this.items.set(category, (byKey = new Map()));
    let agg = byKey.get(key);
    if (!agg) {
      agg = { category, key, first: at, last: at, n: 0, perms: 0, owner: undefined, sets: undefined, dirty: false };
      byKey.set(key, agg);
    }
    this.again(agg, at);
    return agg;
  }

  /** One more observation of an item already found. */
  again(agg: Agg, at: number): void {
    agg.n++;
    if (at < agg.first) agg.first = at;
    if (at > agg.last) agg.last = at;
    if (!agg.dirty) {
      agg.dirty = true;
      this.dirty.push(agg);
    }
  }

  drain(replica: Replica): BehaviorSet {
    const out: BehaviorSet = {};
    for (const agg of this.dirty) {
      agg.dirty = false;
      const item: Item = { first: agg.first, last: agg.last, n: { [replica]: agg.n } };
      const sets: Record<string, string[]> = {};
      if (agg.perms) sets.perms = PERM_WORDS.filter((w) => agg.perms & P[w]).sort();
      for (const [name, values] of agg.sets ?? []) sets[name] = [...values].sort();
      if (Object.keys(sets).length > 0) item.sets = sets;
      if (agg.owner !== undefined) item.owner = agg.owner;
      (out[agg.category] ??= {})[agg.key] = item;
    }
    this.dirty = [];
    return out;
  }
}

function addTo(agg: Agg, set: string, value: string): void {
  const sets = (agg.sets ??= new Map());
  let values = sets.get(set);
  if (!values) sets.set(set, (values = new Set()));
  values.add(value);
}

/** The profile a label belongs to: `p//null-/bin/ls` and `p (complain)` are both `p`. */
export function baseProfile(label: string): string {
  let end = label.indexOf('//');
  if (end < 0) end = label.length;
  const mode = label.lastIndexOf(' (', end);
  return label.slice(0, mode > 0 ? mode : end);
}

export class Attributor {
  readonly samples: string[] = [];
  private readonly counts: Record<string, number> = {};
  /** The hot counter, kept out of the record above. */
  private lines = 0;
  private readonly targets = new Map<string, TargetBehaviors>();
  private readonly maxSamples: number;
  /** Consecutive records mostly share a label: remember the last resolution and its profiles item. */
  private lastLabel = '';
  private lastTarget: TargetBehaviors | undefined = undefined;
  private lastProfileItem: Agg | undefined = undefined;
  /** Time for records whose framing has none (journal audit transport): the latest time seen. */
  private lastTime = 0;

  constructor(
    private readonly attribution: Attribution,
    private readonly opts: AttributorOptions,
  ) {
    this.maxSamples = opts.maxSamples ?? 5;
  }

  count(name: string, by = 1): void {
    this.counts[name] = (this.counts[name] ?? 0) + by;
  }

  /** Cumulative counters: lines, records by kind, rejections by reason, unattributed, ... */
  get counters(): Record<string, number> {
    return { lines: this.lines, ...this.counts };
  }

  /** Parses and attributes one line; never throws on input. */
  line(line: string): void {
    this.lines++;
    const rec = parseLine(line);
    if (rec.kind === 'rejected') {
      this.count(rec.reason);
      if (REPORTED.has(rec.reason) && this.samples.length < this.maxSamples) this.samples.push(`${rec.reason}: ${sample(line)}`);
      return;
    }
    this.record(rec);
  }

  record(rec: AuditRecord): void {
    const at = Number.isNaN(rec.time) ? this.lastTime || Date.now() : rec.time;
    if (at > this.lastTime) this.lastTime = at;
    if (rec.kind === 'seccomp') this.seccomp(rec, at);
    else this.apparmor(rec, at);
  }

  /** Behaviors touched since the previous drain, per target, carrying cumulative counts. */
  drain(): Map<string, BehaviorSet> {
    // The attribution may have learnt new targets since, and drained items are clean again.
    this.lastLabel = '';
    this.lastProfileItem = undefined;
    const out = new Map<string, BehaviorSet>();
    for (const [target, behaviors] of this.targets) if (behaviors.dirty.length > 0) out.set(target, behaviors.drain(this.opts.replica));
    return out;
  }

  private byLabel(label: string): TargetBehaviors | undefined {
    if (label !== this.lastLabel) {
      const target = this.attribution.profile(baseProfile(label));
      this.lastLabel = label;
      this.lastTarget = target === undefined ? undefined : this.behaviors(target);
      this.lastProfileItem = undefined;
    }
    return this.lastTarget;
  }

  private behaviors(target: string): TargetBehaviors {
    let b = this.targets.get(target);
    if (!b) this.targets.set(target, (b = new TargetBehaviors()));
    return b;
  }

  private seccomp(rec: SeccompRecord, at: number): void {
    this.count('seccomp');
    const arch = AUDIT_ARCH[rec.arch!];
    if (!arch || !isArch(arch)) return this.count('seccomp_unknown_arch');
    if (this.opts.arch && arch !== this.opts.arch) return this.count('seccomp_other_arch');
    let b = rec.subj !== undefined ? this.byLabel(rec.subj) : undefined;
    if (b === undefined && rec.pid !== undefined && this.attribution.pid) {
      const target = this.attribution.pid(rec.pid, at);
      if (target !== undefined) b = this.behaviors(target);
    }
    if (b === undefined) return this.count('unattributed');
    b.hit('syscalls', syscallName(arch, rec.syscall!), at);
  }

  private apparmor(r: AppArmorRecord, at: number): void {
    this.count('apparmor');
    if (r.verdict !== 'ALLOWED' && r.verdict !== 'DENIED' && r.verdict !== 'AUDIT' && r.verdict !== 'KILL') return this.count('apparmor_status');
    const b = r.profile === undefined ? undefined : this.byLabel(r.profile);
    if (b === undefined) return this.count('unattributed');
    if (this.lastProfileItem === undefined) this.lastProfileItem = b.hit('profiles', r.profile!, at);
    else b.again(this.lastProfileItem, at);
    const op = r.operation!;
    const mask = r.requested ?? r.denied ?? '';
    if (op === 'capable' && r.capname !== undefined) {
      addTo(b.hit('capabilities', r.capname, at), 'verdict', r.verdict === 'DENIED' ? 'denied' : 'granted');
    } else if (op === 'signal') {
      const agg = b.hit('signals', peerKey(r), at);
      if (r.signal !== undefined) addTo(agg, 'signals', r.signal);
      for (const w of words(mask)) addTo(agg, 'perms', w);
    } else if (op === 'ptrace') {
      const agg = b.hit('ptraces', peerKey(r), at);
      for (const w of words(mask)) addTo(agg, 'perms', w);
    } else if (MOUNT_OPS.has(op)) {
      const agg = b.hit('mounts', `${r.name ?? ''}|${r.fstype ?? ''}`, at);
      addTo(agg, 'ops', op === 'umount' ? 'umount' : op === 'pivotroot' ? 'pivotroot' : 'mount');
      for (const f of r.flags ? r.flags.split(', ') : []) if (f) addTo(agg, 'flags', f);
    } else if (r.family !== undefined) {
      this.network(b, r, op, at);
    } else if (op.startsWith('dbus')) {
      b.hit('unhandled', `dbus ${op} bus=${r.bus ?? ''} path=${r.path ?? ''} interface=${r.interface ?? ''} member=${r.member ?? ''} name=${r.name ?? ''} mask=${mask}`, at);
    } else if (r.name !== undefined && (mask !== '' || OP_PERMS[op] !== undefined)) {
      let perms = OP_PERMS[op] ?? 0;
      for (let i = 0; i < mask.length; i++) perms |= LETTER[mask[i]!] ?? 0;
      if (op === 'exec') perms |= P.exec;
      if (perms & P.exec) b.hit('executions', r.name, at);
      const agg = b.hit('files', r.name, at);
      agg.perms |= perms;
      if (r.fsuid !== undefined && r.ouid !== undefined) agg.owner = (agg.owner ?? true) && r.fsuid === r.ouid;
    } else {
      b.hit('unhandled', r.name === undefined ? `apparmor ${op}` : `apparmor ${op} ${r.name}`, at);
    }
  }

  private network(b: TargetBehaviors, r: AppArmorRecord, op: string, at: number): void {
    const proto = r.protocol === undefined ? '' : protocolName(r.protocol);
    b.hit('sockets', `${r.family}/${r.sockType ?? ''}/${proto}`, at);
    if (r.family === 'unix') {
      const peer = r.peerAddr !== undefined && r.peerAddr !== 'none' ? r.peerAddr : undefined;
      const local = r.addr !== undefined && r.addr !== 'none' ? r.addr : undefined;
      if (EGRESS_OPS.has(op) && peer !== undefined) b.hit('egresses', `unix|${peer}|0`, at);
      else if (BIND_OPS.has(op) && local !== undefined) addTo(b.hit('binds', `unix|${local}|0`, at), 'ops', op);
    } else if (EGRESS_OPS.has(op) && r.faddr !== undefined) {
      b.hit('egresses', `${r.family}|${r.faddr}|${r.fport ?? 0}`, at);
    } else if (BIND_OPS.has(op) && r.laddr !== undefined) {
      addTo(b.hit('binds', `${r.family}|${r.laddr}|${r.lport ?? 0}`, at), 'ops', op);
    }
  }
}

/** The signals/ptraces key: `self` when the peer is the same profile, else `external`. */
function peerKey(r: AppArmorRecord): string {
  return r.peer !== undefined && baseProfile(r.peer) === baseProfile(r.profile!) ? 'self' : 'external';
}

/** Space-separated mask words (`send receive`), as signal, ptrace and unix records print them. */
function words(mask: string): string[] {
  return mask.split(' ').filter((w) => w !== '');
}

/** A rejected line made safe for a report: bounded, printable. */
function sample(line: string): string {
  const cut = line.length > 200 ? line.slice(0, 200) + '…' : line;
  return cut.replace(/[^\x20-\x7e…]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
