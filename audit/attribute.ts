import type { BehaviorSet, Category, Item, Replica } from '../core/behavior.js';
import { isArch, syscallName, type Arch } from '../core/syscalls.js';
import {
  AppArmorRecord,
  FIELD as F,
  fieldNumber,
  fieldRaw,
  fieldRawInterned,
  fieldRawIs,
  fieldText,
  fieldTextInterned,
  bodyEnd,
  bodyHash,
  SCAN_SECCOMP,
  scanBody,
  frameLine,
  scanLine,
  scanRejection,
  SCAN_META,
  scanGeneration,
  type AuditRecord,
  type Rejection,
  type SeccompRecord,
} from './parse.js';

/**
 * Audit records → behavior-set observations, per target.
 *
 * Aggregation happens here, not through core/behavior's observe(): one Map hit and a counter bump
 * per record; drain() then hands out only the items touched since the previous drain, with
 * cumulative counts (the G-counter contract of core/behavior.ts). line() does not build records:
 * it reads the few fields it needs from parse.ts's scanner, repeated values (verdict, operation,
 * masks, labels) interned, into one reused record, and resolves each label once per drain.
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
/** LETTER by character code. */
const LETTER_CODE = new Int32Array(128);
for (const [letter, perm] of Object.entries(LETTER)) LETTER_CODE[letter.charCodeAt(0)] = perm;

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
/** Operations with a branch of their own ahead of the file branch. */
function rareOp(op: string): boolean {
  return op === 'signal' || op === 'ptrace' || MOUNT_OPS.has(op) || op.startsWith('dbus');
}
/** The kernel's note that printk dropped audit records (kernel/audit.c kauditd_printk_skb). */
const SUPPRESSED = /kauditd_printk_skb: (\d{1,9}) callbacks suppressed/;
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

// Categories by number: one array index instead of a Map lookup per observation.
const CATEGORIES = ['profiles', 'syscalls', 'files', 'executions', 'capabilities', 'signals', 'ptraces', 'mounts', 'sockets', 'egresses', 'binds', 'unhandled'] as const satisfies readonly Category[];
const C_PROFILES = 0;
const C_SYSCALLS = 1;
const C_FILES = 2;
const C_EXECUTIONS = 3;
const C_CAPABILITIES = 4;
const C_SIGNALS = 5;
const C_PTRACES = 6;
const C_MOUNTS = 7;
const C_SOCKETS = 8;
const C_EGRESSES = 9;
const C_BINDS = 10;
const C_UNHANDLED = 11;

/** The time of the record being attributed: in a typed array, so passing it around boxes no number. */
const NOW = new Float64Array(1);

/** The items the record being attributed touched, in order: what a repeat of its body touches again. */
const TOUCHED: Agg[] = [];

/** Syscall numbers below this get a direct slot per architecture; others go through the name. */
const SYSCALL_SLOTS = 1024;

class TargetBehaviors {
  private readonly items: (Map<string, Agg> | undefined)[] = CATEGORIES.map(() => undefined);
  /** Per architecture, syscall number → its item: no name lookup per seccomp record. */
  private readonly syscalls = new Map<Arch, (Agg | undefined)[]>();
  dirty: Agg[] = [];

  hit(category: number, key: string): Agg {
    let byKey = this.items[category];
    if (byKey === undefined) this.items[category] = byKey = new Map();
    let agg = byKey.get(key);
    if (agg === undefined) {
      agg = { category: CATEGORIES[category]!, key, first: NOW[0]!, last: NOW[0]!, n: 0, perms: 0, owner: undefined, sets: undefined, dirty: false };
      byKey.set(key, agg);
    }
    this.again(agg);
    return agg;
  }

  /** One more observation of an item already found. */
  again(agg: Agg): void {
    const at = NOW[0]!;
    TOUCHED.push(agg);
    agg.n++;
    if (at < agg.first) agg.first = at;
    if (at > agg.last) agg.last = at;
    if (!agg.dirty) {
      agg.dirty = true;
      this.dirty.push(agg);
    }
  }

  syscall(arch: Arch, nr: number): void {
    if (nr >= SYSCALL_SLOTS) {
      this.hit(C_SYSCALLS, syscallName(arch, nr));
      return;
    }
    let slots = this.syscalls.get(arch);
    if (slots === undefined) this.syscalls.set(arch, (slots = new Array<Agg | undefined>(SYSCALL_SLOTS).fill(undefined)));
    const agg = slots[nr];
    if (agg === undefined) slots[nr] = this.hit(C_SYSCALLS, syscallName(arch, nr));
    else this.again(agg);
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

function addAll(agg: Agg, set: string, values: readonly string[]): void {
  for (let i = 0; i < values.length; i++) addTo(agg, set, values[i]!);
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

/** A label's resolution, cached until the next drain (the attribution may learn targets meanwhile). */
interface LabelEntry {
  label: string;
  behaviors: TargetBehaviors | undefined;
  /** The label's `profiles` item, once observed. */
  profileItem: Agg | undefined;
}

/** Labels cached between drains; a log naming more distinct labels than this restarts the cache. */
const MAX_LABELS = 4096;

/**
 * What a record body did, kept for its repeats. Complain-mode logs repeat the same bodies (one
 * process, one file, one mask) under new time stamps, and a repeat has exactly the effects of the
 * first: one more observation of the same items (perms, owner and sets merge idempotently). Kept
 * only for outcomes no later line can change: attributed through the record's label (a label never
 * changes target), a status record, or unattributed by label (until the next drain, when the
 * attribution may have learnt the label). Records attributed by pid are never kept.
 */
interface Repeat {
  /** The record type the body came with (SCAN_META[2]). */
  type: number;
  seccomp: boolean;
  /** The target whose items it touched, or what became of a record that touched none. */
  outcome: Outcome;
  /** The drain it is valid until, or -1 for ever. */
  drain: number;
  items: Agg[];
}
type Outcome = TargetBehaviors | typeof STATUS | typeof UNATTRIBUTED;
/** Repeat-cache admission: a window of this many records with fewer than 1 in ADMIT_MIN_HITS hits makes the next keep 1 body in ADMIT_SAMPLE. */
const ADMIT_WINDOW = 4096;
const ADMIT_MIN_HITS = 8;
const ADMIT_SAMPLE = 32;
const STATUS = 'status' as const;
const UNATTRIBUTED = 'unattributed' as const;

/** Bodies seen, by hash: 4-way sets, so bodies whose hashes share a set still coexist. */
class RepeatCache {
  private static readonly SETS = 4096;
  private static readonly WAYS = 4;
  private readonly hashes = new Int32Array(RepeatCache.SETS * RepeatCache.WAYS);
  private readonly bodies = new Array<string>(RepeatCache.SETS * RepeatCache.WAYS).fill('');
  private readonly repeats = new Array<Repeat | undefined>(RepeatCache.SETS * RepeatCache.WAYS).fill(undefined);

  find(hash: number, body: string): Repeat | undefined {
    const base = (hash & (RepeatCache.SETS - 1)) * RepeatCache.WAYS;
    for (let w = base; w < base + RepeatCache.WAYS; w++) {
      // A hash hit alone proves nothing; equal strings compare natively (memcmp).
      if (this.hashes[w] === hash && this.bodies[w] === body) return this.repeats[w];
    }
    return undefined;
  }

  /** Into the set's first way; the least recent one goes. */
  add(hash: number, body: string, repeat: Repeat): void {
    const base = (hash & (RepeatCache.SETS - 1)) * RepeatCache.WAYS;
    for (let w = base + RepeatCache.WAYS - 1; w > base; w--) {
      this.hashes[w] = this.hashes[w - 1]!;
      this.bodies[w] = this.bodies[w - 1]!;
      this.repeats[w] = this.repeats[w - 1];
    }
    this.hashes[base] = hash;
    this.bodies[base] = body;
    this.repeats[base] = repeat;
  }
}

// Counters the hot path bumps, kept in fields rather than in the by-name record.
const HOT = ['apparmor', 'seccomp', 'unattributed', 'apparmor_status'] as const;

export class Attributor {
  readonly samples: string[] = [];
  private readonly counts: Record<string, number> = {};
  /** The hot counters, kept out of the record above. */
  private lines = 0;
  private nApparmor = 0;
  private nSeccomp = 0;
  private nUnattributed = 0;
  private nStatus = 0;
  /** Rejections by scan code (-1 - code), counted by number and named when read. */
  private readonly rejections = new Float64Array(16);
  private readonly targets = new Map<string, TargetBehaviors>();
  private readonly maxSamples: number;
  private readonly labels = new Map<string, LabelEntry>();
  /** The latest label resolved: consecutive records mostly share one. */
  private last: LabelEntry | undefined = undefined;
  /** The record the scan path fills: reused, only the fields attribution reads. */
  private readonly view = new AppArmorRecord();
  private readonly lastSocket = { family: '', type: '', proto: '', key: '//' };
  /** Record bodies seen, with what they did (see Repeat). */
  private readonly repeats = new RepeatCache();
  /** Set by the attribution of the latest line when a repeat of its body may do the same. */
  private outcome: Outcome | undefined = undefined;
  /** Drains so far: what the attribution did not know may be known after one. */
  private drains = 0;
  /** Admission to the repeat cache: lines and hits in the current window, whether the last was sparse. */
  private window = 0;
  private windowHits = 0;
  private sparse = false;
  private skipped = 0;

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
    const out: Record<string, number> = { lines: this.lines, ...this.counts };
    const hot = [this.nApparmor, this.nSeccomp, this.nUnattributed, this.nStatus];
    HOT.forEach((name, i) => {
      if (hot[i]! > 0) out[name] = (out[name] ?? 0) + hot[i]!;
    });
    this.rejections.forEach((n, i) => {
      if (n > 0) {
        const name = scanRejection(-1 - i);
        out[name] = (out[name] ?? 0) + n;
      }
    });
    return out;
  }

  /** Parses and attributes one line; never throws on input. */
  line(line: string): void {
    this.lines++;
    TOUCHED.length = 0;
    const p = frameLine(line);
    if (p < 0) return this.rejected(p, line);
    NOW[0] = SCAN_META[0]!;
    const hash = bodyHash();
    const body = line.slice(p, bodyEnd());
    const seen = this.repeats.find(hash, body);
    if (++this.window >= ADMIT_WINDOW) {
      this.sparse = this.windowHits * ADMIT_MIN_HITS < this.window;
      this.window = this.windowHits = 0;
    }
    if (seen !== undefined && seen.type === SCAN_META[2] && (seen.drain < 0 || seen.drain === this.drains)) {
      this.windowHits++;
      return this.repeat(seen);
    }
    // The scanner leaves fields as offsets; only those attribution reads become strings.
    const kind = scanBody(line, p);
    if (kind < 0) return this.rejected(kind, line);
    this.outcome = undefined;
    if (kind === SCAN_SECCOMP) this.seccompScanned();
    else this.apparmorScanned(line);
    if (this.outcome !== undefined) this.remember(hash, body, kind === SCAN_SECCOMP);
  }

  private rejected(code: number, line: string): void {
    this.rejections[-1 - code]++;
    // Without auditd, records reach the log through printk, which drops what exceeds its rate
    // limit and says how many (kernel.printk_ratelimit=0 lifts the limit): lost records, counted.
    if (code === -1 /* not_audit */) {
      const lost = SUPPRESSED.exec(line);
      if (lost !== null) this.count('kauditd_suppressed', Number(lost[1]));
    }
    if (this.samples.length < this.maxSamples) {
      const reason = scanRejection(code);
      if (REPORTED.has(reason)) this.samples.push(`${reason}: ${sample(line)}`);
    }
  }

  /**
   * Keeps what the body just attributed did, for its repeats. While bodies hardly repeat (every
   * line its own pid, say) only one in ADMIT_SAMPLE is kept: entries that never hit cost a major
   * GC's worth of old-space garbage, and the sample still notices when repeats come back.
   */
  private remember(hash: number, body: string, seccomp: boolean): void {
    if (this.sparse && ++this.skipped % ADMIT_SAMPLE !== 0) return;
    const o = this.outcome!;
    this.repeats.add(hash, body, {
      type: SCAN_META[2]!,
      seccomp,
      outcome: o,
      // The attribution may learn the label's target by the next drain.
      drain: o === UNATTRIBUTED ? this.drains : -1,
      items: TOUCHED.slice(),
    });
  }

  /** A body seen before: the same items observed once more. */
  private repeat(seen: Repeat): void {
    if (seen.seccomp) this.nSeccomp++;
    else this.nApparmor++;
    const o = seen.outcome;
    if (o === STATUS) this.nStatus++;
    else if (o === UNATTRIBUTED) this.nUnattributed++;
    else for (let i = 0; i < seen.items.length; i++) o.again(seen.items[i]!);
  }

  record(rec: AuditRecord): void {
    TOUCHED.length = 0;
    NOW[0] = rec.time;
    if (rec.kind === 'seccomp') this.seccomp(rec);
    else this.apparmor(rec);
  }

  /** Behaviors touched since the previous drain, per target, carrying cumulative counts. */
  drain(): Map<string, BehaviorSet> {
    // The attribution may have learnt new targets since.
    this.labels.clear();
    this.drains++;
    this.last = undefined;
    const out = new Map<string, BehaviorSet>();
    for (const [target, behaviors] of this.targets) if (behaviors.dirty.length > 0) out.set(target, behaviors.drain(this.opts.replica));
    return out;
  }

  private byLabel(label: string): LabelEntry {
    const last = this.last;
    if (last !== undefined && last.label === label) return last;
    let e = this.labels.get(label);
    if (e === undefined) {
      if (this.labels.size >= MAX_LABELS) this.labels.clear();
      const target = this.attribution.profile(baseProfile(label));
      e = { label, behaviors: target === undefined ? undefined : this.behaviors(target), profileItem: undefined };
      this.labels.set(label, e);
    }
    return (this.last = e);
  }

  private behaviors(target: string): TargetBehaviors {
    let b = this.targets.get(target);
    if (!b) this.targets.set(target, (b = new TargetBehaviors()));
    return b;
  }

  private seccompScanned(): void {
    this.nSeccomp++;
    const arch = fieldRawIs(F.arch, 'c000003e') ? 'x86_64' : fieldRawIs(F.arch, 'c00000b7') ? 'aarch64' : undefined;
    this.seccompAttribute(arch, fieldRawInterned(F.subj), fieldNumber(F.pid), fieldNumber(F.syscall)!);
  }

  private seccomp(rec: SeccompRecord): void {
    this.nSeccomp++;
    this.seccompAttribute(AUDIT_ARCH[rec.arch!], rec.subj, rec.pid, rec.syscall!);
  }

  private seccompAttribute(arch: Arch | undefined, subj: string | undefined, pid: number | undefined, syscall: number): void {
    if (!arch || !isArch(arch)) return this.count('seccomp_unknown_arch');
    if (this.opts.arch && arch !== this.opts.arch) return this.count('seccomp_other_arch');
    let b = subj !== undefined ? this.byLabel(subj).behaviors : undefined;
    const byPid = b === undefined && pid !== undefined && this.attribution.pid !== undefined;
    if (byPid) {
      const target = this.attribution.pid!(pid, NOW[0]!);
      if (target !== undefined) b = this.behaviors(target);
    } else {
      this.outcome = b ?? UNATTRIBUTED;
    }
    if (b === undefined) {
      this.nUnattributed++;
      return;
    }
    b.syscall(arch, syscall);
  }

  private apparmorScanned(line: string): void {
    this.nApparmor++;
    const verdict = fieldRawIs(F.apparmor, 'ALLOWED') ? 'ALLOWED' : fieldRawIs(F.apparmor, 'DENIED') ? 'DENIED' : fieldRawIs(F.apparmor, 'AUDIT') ? 'AUDIT' : fieldRawIs(F.apparmor, 'KILL') ? 'KILL' : undefined;
    if (verdict === undefined) {
      this.nStatus++;
      this.outcome = STATUS;
      return;
    }
    const label = fieldTextInterned(F.profile);
    const scan = scanGeneration();
    const e = label === undefined ? undefined : this.byLabel(label);
    if (e === undefined || e.behaviors === undefined) {
      this.nUnattributed++;
      this.outcome = UNATTRIBUTED;
      return;
    }
    // The scanner's state is shared: should the attribution callback have parsed a line, scan ours again.
    if (scanGeneration() !== scan) scanLine(line);
    // What every branch reads; the rest only when a rare branch needs it.
    const r = this.view;
    r.verdict = verdict;
    r.profile = label;
    r.operation = fieldRawInterned(F.operation);
    r.name = fieldText(F.name);
    r.requested = fieldRawInterned(F.requested);
    r.denied = r.requested === undefined ? fieldRawInterned(F.denied) : undefined;
    r.fsuid = fieldNumber(F.fsuid);
    r.ouid = fieldNumber(F.ouid);
    r.capname = fieldRawInterned(F.capname);
    r.family = fieldRawInterned(F.family);
    this.outcome = e.behaviors;
    this.observe(e, e.behaviors, r, true);
  }

  /** The fields only rare branches read, for the scan path's reused record. */
  private rare(r: AppArmorRecord): void {
    r.signal = fieldRawInterned(F.signal);
    r.peer = fieldTextInterned(F.peer);
    r.fstype = fieldText(F.fstype);
    r.flags = fieldRaw(F.flags);
    r.sockType = fieldRawInterned(F.sockType);
    r.protocol = fieldNumber(F.protocol);
    r.addr = fieldTextInterned(F.addr);
    r.peerAddr = fieldTextInterned(F.peerAddr);
    r.laddr = fieldRaw(F.laddr);
    r.lport = fieldNumber(F.lport);
    r.faddr = fieldRaw(F.faddr);
    r.fport = fieldNumber(F.fport);
    r.bus = fieldRaw(F.bus);
    r.path = fieldRaw(F.path);
    r.interface = fieldRaw(F.interface);
    r.member = fieldRaw(F.member);
  }

  private apparmor(r: AppArmorRecord): void {
    this.nApparmor++;
    if (r.verdict !== 'ALLOWED' && r.verdict !== 'DENIED' && r.verdict !== 'AUDIT' && r.verdict !== 'KILL') {
      this.nStatus++;
      return;
    }
    const e = r.profile === undefined ? undefined : this.byLabel(r.profile);
    if (e === undefined || e.behaviors === undefined) {
      this.nUnattributed++;
      return;
    }
    this.observe(e, e.behaviors, r, false);
  }

  private observe(e: LabelEntry, b: TargetBehaviors, r: AppArmorRecord, scanned: boolean): void {
    if (e.profileItem === undefined) e.profileItem = b.hit(C_PROFILES, e.label);
    else b.again(e.profileItem);
    const op = r.operation!;
    const mask = r.requested ?? r.denied ?? '';
    if (op === 'capable' && r.capname !== undefined) {
      addTo(b.hit(C_CAPABILITIES, r.capname), 'verdict', r.verdict === 'DENIED' ? 'denied' : 'granted');
      return;
    }
    const perms0 = OP_PERMS[op];
    if (r.family === undefined && r.name !== undefined && (mask !== '' || perms0 !== undefined) && !rareOp(op)) {
      // Files: the bulk of the traffic.
      let perms = perms0 ?? 0;
      for (let i = 0; i < mask.length; i++) {
        const c = mask.charCodeAt(i);
        if (c < 128) perms |= LETTER_CODE[c]!;
      }
      if (op === 'exec') perms |= P.exec;
      if (perms & P.exec) b.hit(C_EXECUTIONS, r.name);
      const agg = b.hit(C_FILES, r.name);
      agg.perms |= perms;
      if (r.fsuid !== undefined && r.ouid !== undefined) agg.owner = (agg.owner ?? true) && r.fsuid === r.ouid;
      return;
    }
    if (scanned) this.rare(r);
    if (op === 'signal') {
      const agg = b.hit(C_SIGNALS, peerKey(r));
      if (r.signal !== undefined) addTo(agg, 'signals', r.signal);
      addAll(agg, 'perms', words(mask));
    } else if (op === 'ptrace') {
      const agg = b.hit(C_PTRACES, peerKey(r));
      addAll(agg, 'perms', words(mask));
    } else if (MOUNT_OPS.has(op)) {
      const agg = b.hit(C_MOUNTS, `${r.name ?? ''}|${r.fstype ?? ''}`);
      addTo(agg, 'ops', op === 'umount' ? 'umount' : op === 'pivotroot' ? 'pivotroot' : 'mount');
      for (const f of r.flags ? r.flags.split(', ') : []) if (f) addTo(agg, 'flags', f);
    } else if (r.family !== undefined) {
      this.network(b, r, op);
    } else if (op.startsWith('dbus')) {
      b.hit(C_UNHANDLED, `dbus ${op} bus=${r.bus ?? ''} path=${r.path ?? ''} interface=${r.interface ?? ''} member=${r.member ?? ''} name=${r.name ?? ''} mask=${mask}`);
    } else {
      b.hit(C_UNHANDLED, r.name === undefined ? `apparmor ${op}` : `apparmor ${op} ${r.name}`);
    }
  }

  /** `family/type/protocol`, remembered: consecutive socket records mostly share it. */
  private socketKey(family: string, type: string, proto: string): string {
    const m = this.lastSocket;
    if (m.family !== family || m.type !== type || m.proto !== proto) {
      m.family = family;
      m.type = type;
      m.proto = proto;
      m.key = `${family}/${type}/${proto}`;
    }
    return m.key;
  }

  private network(b: TargetBehaviors, r: AppArmorRecord, op: string): void {
    const proto = r.protocol === undefined ? '' : protocolName(r.protocol);
    b.hit(C_SOCKETS, this.socketKey(r.family!, r.sockType ?? '', proto));
    if (r.family === 'unix') {
      const peer = r.peerAddr !== undefined && r.peerAddr !== 'none' ? r.peerAddr : undefined;
      const local = r.addr !== undefined && r.addr !== 'none' ? r.addr : undefined;
      if (EGRESS_OPS.has(op) && peer !== undefined) b.hit(C_EGRESSES, unixKey(peer));
      else if (BIND_OPS.has(op) && local !== undefined) addTo(b.hit(C_BINDS, unixKey(local)), 'ops', op);
    } else if (EGRESS_OPS.has(op) && r.faddr !== undefined) {
      b.hit(C_EGRESSES, `${r.family}|${r.faddr}|${r.fport ?? 0}`);
    } else if (BIND_OPS.has(op) && r.laddr !== undefined) {
      addTo(b.hit(C_BINDS, `${r.family}|${r.laddr}|${r.lport ?? 0}`), 'ops', op);
    }
  }
}

/** `unix|address|0`, the key of a unix socket address, from a small cache. */
function unixKey(address: string): string {
  let k = UNIX_KEYS.get(address);
  if (k === undefined) {
    if (UNIX_KEYS.size >= 4096) UNIX_KEYS.clear();
    UNIX_KEYS.set(address, (k = `unix|${address}|0`));
  }
  return k;
}
const UNIX_KEYS = new Map<string, string>();

/** The signals/ptraces key: `self` when the peer is the same profile, else `external`. */
function peerKey(r: AppArmorRecord): string {
  return r.peer !== undefined && (r.peer === r.profile || baseProfile(r.peer) === baseProfile(r.profile!)) ? 'self' : 'external';
}

/** Space-separated mask words (`send receive`), as signal, ptrace and unix records print them. */
function words(mask: string): readonly string[] {
  let w = WORDS.get(mask);
  if (w === undefined) {
    if (WORDS.size >= 256) WORDS.clear();
    WORDS.set(mask, (w = mask.split(' ').filter((x) => x !== '')));
  }
  return w;
}
const WORDS = new Map<string, readonly string[]>();

/** A rejected line made safe for a report: bounded, printable. */
function sample(line: string): string {
  const cut = line.length > 200 ? line.slice(0, 200) + '…' : line;
  return cut.replace(/[^\x20-\x7e…]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
