import type { BehaviorSet, Replica } from '../core/behavior.js';
import { isArch, type Arch } from '../core/syscalls.js';
import {
  addAll,
  addTo,
  C_BINDS,
  C_CAPABILITIES,
  C_EGRESSES,
  C_EXECUTIONS,
  C_FILES,
  C_MOUNTS,
  C_PROFILES,
  C_PTRACES,
  C_SIGNALS,
  C_SOCKETS,
  C_UNHANDLED,
  NOW,
  TOUCHED,
  TargetBehaviors,
  type Agg,
} from './aggregate.js';
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
import { RepeatCache, STATUS, UNATTRIBUTED, type Outcome, type Repeat } from './repeats.js';
import { AUDIT_ARCH, BIND_OPS, EGRESS_OPS, LETTER_CODE, MOUNT_OPS, OP_PERMS, P, protocolName, rareOp } from './tables.js';

/**
 * Audit records → behavior-set observations, per target: which target a record belongs to and
 * which items of the model it observes. The items are counted in aggregate.ts, what the record's
 * words mean is looked up in tables.ts, and a body seen before repeats what it did (repeats.ts).
 * line() does not build records: it reads the few fields it needs from parse.ts's scanner,
 * repeated values (verdict, operation, masks, labels) interned, into one reused record, and
 * resolves each label once per drain.
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

/** The kernel's note that printk dropped audit records (kernel/audit.c kauditd_printk_skb). */
const SUPPRESSED = /kauditd_printk_skb: (\d{1,9}) callbacks suppressed/;
const REPORTED: ReadonlySet<Rejection> = new Set(['too_long', 'binary', 'malformed', 'unbalanced_quote', 'duplicate_field', 'missing_field']);

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
    if (seen !== undefined && seen.type === SCAN_META[2] && (seen.drain < 0 || seen.drain === this.drains)) {
      this.repeats.hit();
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

  /** Keeps what the body just attributed did, for its repeats, when the cache admits it. */
  private remember(hash: number, body: string, seccomp: boolean): void {
    if (!this.repeats.admits()) return;
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
