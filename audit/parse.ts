import { pathFromBytes } from '../core/paths.js';

/**
 * One audit log line → one typed record, or the reason it was rejected.
 *
 * Accepted framings: auditd (`[node=N ]type=AVC msg=audit(...)`), rsyslog kern.log
 * (`<date> <host> kernel: [ts] audit: type=1400 audit(...)`), dmesg (`[ts] audit: ...`), /dev/kmsg
 * (`5,seq,usec,-;audit: ...`, kernel facility only) and journal export `MESSAGE=` fields (kernel
 * transport `MESSAGE=audit: type=...` and audit transport `MESSAGE=AVC ...`, which carries no time).
 *
 * Speed matters (a busy node logs ~10^5 records/s in modeling state), so the scanner walks the
 * line once with indexOf and charCodeAt and slices only values. Lines are latin1 strings, one char
 * per byte, so byte-exact values survive until pathFromBytes turns them into model paths.
 */

export type Verdict = 'ALLOWED' | 'DENIED' | 'AUDIT' | 'STATUS' | 'HINT' | 'ERROR' | 'KILL';

export class AppArmorRecord {
  readonly kind = 'apparmor' as const;
  /** Milliseconds since the epoch, NaN when the framing carries no time (journal audit transport). */
  time = NaN;
  serial = 0;
  type = 0;
  verdict: string | undefined = undefined;
  operation: string | undefined = undefined;
  /** `profile=`, or `label=` in userspace (dbus) records. */
  profile: string | undefined = undefined;
  name: string | undefined = undefined;
  /** `name2=` or `target=` (exec transition target, link source). */
  name2: string | undefined = undefined;
  /** `requested_mask=`, or `mask=` in dbus records. */
  requested: string | undefined = undefined;
  denied: string | undefined = undefined;
  fsuid: number | undefined = undefined;
  ouid: number | undefined = undefined;
  pid: number | undefined = undefined;
  comm: string | undefined = undefined;
  capability: number | undefined = undefined;
  capname: string | undefined = undefined;
  family: string | undefined = undefined;
  sockType: string | undefined = undefined;
  protocol: number | undefined = undefined;
  signal: string | undefined = undefined;
  /** `peer=`, or `peer_label=` / `peer_profile=` in dbus records. */
  peer: string | undefined = undefined;
  fstype: string | undefined = undefined;
  srcname: string | undefined = undefined;
  flags: string | undefined = undefined;
  addr: string | undefined = undefined;
  peerAddr: string | undefined = undefined;
  laddr: string | undefined = undefined;
  lport: number | undefined = undefined;
  faddr: string | undefined = undefined;
  fport: number | undefined = undefined;
  bus: string | undefined = undefined;
  path: string | undefined = undefined;
  interface: string | undefined = undefined;
  member: string | undefined = undefined;
  info: string | undefined = undefined;
}

export class SeccompRecord {
  readonly kind = 'seccomp' as const;
  time = NaN;
  serial = 0;
  type = 1326;
  pid: number | undefined = undefined;
  comm: string | undefined = undefined;
  exe: string | undefined = undefined;
  /** The task's LSM label (AppArmor: `name (mode)`), absent when no LSM labels tasks. */
  subj: string | undefined = undefined;
  /** AUDIT_ARCH_* as the kernel prints it, e.g. `c000003e`. */
  arch: string | undefined = undefined;
  syscall: number | undefined = undefined;
  code: string | undefined = undefined;
}

export type AuditRecord = AppArmorRecord | SeccompRecord;

/** Why a line yielded no record; `other_type` and `not_audit` are normal traffic, the rest malformed. */
export type Rejection =
  | 'not_audit'
  | 'other_type'
  | 'not_apparmor'
  | 'too_long'
  | 'binary'
  | 'malformed'
  | 'unbalanced_quote'
  | 'duplicate_field'
  | 'missing_field';

export interface Rejected {
  kind: 'rejected';
  reason: Rejection;
}

/** The kernel caps one audit record at MAX_AUDIT_MESSAGE_LENGTH (8970); framing adds little. */
export const MAX_LINE = 16384;

// Anything but printable ASCII.
const NON_PRINTABLE = /[^\x20-\x7e]/;

const AVC = 1400;
const USER_AVC = 1107;
const SECCOMP = 1326;

const TYPE_NAMES: Record<string, number> = {
  AVC,
  USER_AVC,
  SECCOMP,
  APPARMOR_AUDIT: 1501,
  APPARMOR_ALLOWED: 1502,
  APPARMOR_DENIED: 1503,
  APPARMOR_HINT: 1504,
  APPARMOR_STATUS: 1505,
  APPARMOR_ERROR: 1506,
  APPARMOR_KILL: 1507,
};

const REJECTED: Record<Rejection, Rejected> = Object.fromEntries(
  (['not_audit', 'other_type', 'not_apparmor', 'too_long', 'binary', 'malformed', 'unbalanced_quote', 'duplicate_field', 'missing_field'] as const).map((r) => [r, Object.freeze({ kind: 'rejected', reason: r })]),
) as Record<Rejection, Rejected>;

function reject(reason: Rejection): Rejected {
  return REJECTED[reason];
}


export function parseLine(line: string): AuditRecord | Rejected {
  let end = line.length;
  if (end > MAX_LINE) return reject('too_long');
  if (end > 0 && line.charCodeAt(end - 1) === 13) end--; // CRLF
  const c0 = line.charCodeAt(0);
  let p: number;
  if (line.startsWith('type=', 0) || line.startsWith('node=', 0)) return parseAuditd(line, end);
  if (line.startsWith('MESSAGE=', 0)) {
    p = 8;
    if (!line.startsWith('audit: ', p)) return parseJournalAudit(line, p, end);
  } else if (c0 >= 48 && c0 <= 57) {
    p = kmsgBody(line);
    if (p < 0) p = syslogBody(line); // an RFC 3339 syslog timestamp also starts with a digit
  } else if (c0 === 91 /* [ */) {
    p = 0;
  } else if (line.startsWith('audit: ', 0)) {
    p = 0;
  } else {
    p = syslogBody(line);
  }
  if (p < 0) return reject('not_audit');
  return parseKernel(line, p, end);
}

/** Offset of the message in a /dev/kmsg record `prio,seq,usec,flags[,...];msg`, or -1 (not the kernel facility). */
function kmsgBody(s: string): number {
  let i = 0;
  let prio = 0;
  for (let c = s.charCodeAt(i); c >= 48 && c <= 57; c = s.charCodeAt(++i)) prio = prio * 10 + c - 48;
  if (s.charCodeAt(i) !== 44 /* , */) return -1;
  const semi = s.indexOf(';', i);
  if (semi < 0 || semi > 64) return -1;
  // Facility is prio >> 3; the kernel rejects facility 0 (kern) from userspace writers of /dev/kmsg.
  return prio < 8 ? semi + 1 : -1;
}

/** Offset of the message in `<timestamp> <host> kernel: msg`, or -1 when another program logged it. */
function syslogBody(s: string): number {
  // RFC 3164 timestamps are three words (`Nov  7 10:00:00`), RFC 3339 ones a single word.
  let i = 0;
  const words = s.charCodeAt(0) >= 48 && s.charCodeAt(0) <= 57 ? 2 : 4;
  for (let w = 0; w < words; w++) {
    const sp = s.indexOf(' ', i);
    if (sp < 0 || sp > 128) return -1;
    i = sp + 1;
    while (s.charCodeAt(i) === 32) i++;
  }
  return s.startsWith('kernel: ', i) ? i + 8 : -1;
}

/** Kernel framing from offset p: `[ts] ` then `audit: ` then `type=N audit(sec.ms:serial): `. */
function parseKernel(s: string, p: number, end: number): AuditRecord | Rejected {
  if (s.charCodeAt(p) === 91 /* [ */) {
    const close = s.indexOf('] ', p);
    if (close < 0 || close - p > 32) return reject('not_audit');
    p = close + 2;
  }
  if (s.startsWith('audit: ', p)) p += 7;
  if (!s.startsWith('type=', p)) return reject('not_audit');
  p += 5;
  let type = 0;
  const t0 = p;
  for (let c = s.charCodeAt(p); c >= 48 && c <= 57; c = s.charCodeAt(++p)) type = type * 10 + c - 48;
  if (p === t0 || !s.startsWith(' audit(', p)) return reject('not_audit');
  return parseBody(s, p + 7, end, type);
}

/** auditd framing: `[node=N ]type=NAME msg=audit(sec.ms:serial): `. */
function parseAuditd(s: string, end: number): AuditRecord | Rejected {
  let p = 0;
  if (s.startsWith('node=', 0)) {
    const sp = s.indexOf(' ', 5);
    if (sp < 0 || !s.startsWith('type=', sp + 1)) return reject('not_audit');
    p = sp + 1;
  }
  const sp = s.indexOf(' ', p + 5);
  // Kernel framing without its prefixes (`type=1400 audit(...)`), as older kernels printed it.
  if (sp >= 0 && s.startsWith(' audit(', sp)) return parseKernel(s, p, end);
  p += 5;
  if (sp < 0 || !s.startsWith(' msg=audit(', sp)) return reject('not_audit');
  return parseBody(s, sp + 11, end, typeNumber(s.slice(p, sp)));
}

/** `AVC`, `1400` or auditd's `UNKNOWN[1400]`; -1 for any other type (SYSCALL, PATH, ...). */
function typeNumber(t: string): number {
  if (t === 'AVC') return AVC;
  const named = TYPE_NAMES[t];
  if (named !== undefined) return named;
  const digits = t.startsWith('UNKNOWN[') && t.endsWith(']') ? t.slice(8, -1) : t;
  return /^[0-9]{1,5}$/.test(digits) ? Number(digits) : -1;
}

/** Journal audit transport: `MESSAGE=<TYPE_NAME> fields...`; time and serial live in other fields. */
function parseJournalAudit(s: string, p: number, end: number): AuditRecord | Rejected {
  const sp = s.indexOf(' ', p);
  if (sp < 0) return reject('not_audit');
  const typeName = s.slice(p, sp);
  const type = TYPE_NAMES[typeName] ?? (typeName.startsWith('AUDIT') ? Number(typeName.slice(5)) || 0 : 0);
  if (type === 0) return reject('not_audit');
  return parseFields(s, sp + 1, end, type, NaN, 0);
}

function isAppArmorType(type: number): boolean {
  return type === AVC || type === USER_AVC || (type >= 1500 && type <= 1507);
}

/** From just after `audit(`: the time stamp, then the fields. */
function parseBody(s: string, p: number, end: number, type: number): AuditRecord | Rejected {
  if (type !== SECCOMP && !isAppArmorType(type)) return reject('other_type');
  let sec = 0;
  const p0 = p;
  for (let c = s.charCodeAt(p); c >= 48 && c <= 57; c = s.charCodeAt(++p)) sec = sec * 10 + c - 48;
  if (p === p0 || s.charCodeAt(p) !== 46 /* . */) return reject('malformed');
  const m0 = ++p;
  let ms = 0;
  for (let c = s.charCodeAt(p); c >= 48 && c <= 57; c = s.charCodeAt(++p)) ms = ms * 10 + c - 48;
  if (p - m0 !== 3 || s.charCodeAt(p) !== 58 /* : */) return reject('malformed');
  const s0 = ++p;
  let serial = 0;
  for (let c = s.charCodeAt(p); c >= 48 && c <= 57; c = s.charCodeAt(++p)) serial = serial * 10 + c - 48;
  if (p === s0 || !s.startsWith('): ', p)) return reject('malformed');
  return parseFields(s, p + 3, end, type, sec * 1000 + ms, serial);
}

// Field codes. Codes below 30 double as bits for refusing a record that names a field twice: the
// kernel never does, a forger appending fields might.
const K = {
  apparmor: 0, operation: 1, profile: 2, name: 3, name2: 4, requested: 5, denied: 6, fsuid: 7, ouid: 8,
  pid: 9, comm: 10, capability: 11, capname: 12, family: 13, sockType: 14, protocol: 15, signal: 16,
  peer: 17, fstype: 18, srcname: 19, flags: 20, addr: 21, peerAddr: 22, subj: 23, arch: 24, syscall: 25,
  exe: 26, msg: 27, code: 28, info: 29, laddr: 30, lport: 31, faddr: 32, fport: 33, bus: 34, path: 35,
  interface: 36, member: 37,
} as const;
const IGNORED = -1;
const BAD_KEY = -2;

/** The key=value list of one record. */
function parseFields(s: string, p: number, end: number, type: number, time: number, serial: number): AuditRecord | Rejected {
  // One pass finds both hostile bytes (the kernel logs printable ASCII only, hex-encoding anything
  // else) and the 0x1d after which auditd's ENRICHED format appends interpreted copies of fields.
  const bad = s.search(NON_PRINTABLE);
  if (bad >= 0 && bad < end) {
    if (s.charCodeAt(bad) !== 0x1d || bad < p) return reject('binary');
    end = bad;
  }
  const rec: AuditRecord = type === SECCOMP ? new SeccompRecord() : new AppArmorRecord();
  rec.time = time;
  rec.serial = serial;
  rec.type = type;
  const res = scanFields(s, p, end, rec);
  if (res !== undefined) return res;
  if (rec.kind === 'seccomp') {
    if (rec.arch === undefined || rec.syscall === undefined) return reject('missing_field');
  } else if (rec.verdict === undefined) {
    return reject(type === AVC || type === USER_AVC ? 'not_apparmor' : 'missing_field');
  } else if (rec.operation === undefined) {
    return reject('missing_field');
  }
  return rec;
}

function scanFields(s: string, p: number, end: number, rec: AuditRecord): Rejected | undefined {
  const apparmor = rec.kind === 'apparmor';
  let seen = 0;
  while (p < end) {
    if (s.charCodeAt(p) === 32) {
      p++;
      continue;
    }
    const eq = s.indexOf('=', p);
    if (eq < 0 || eq >= end) return reject('malformed');
    const code = keyCode(s, p, eq);
    if (code === BAD_KEY) return reject('malformed');
    const q = s.charCodeAt(eq + 1);
    let v0 = eq + 1;
    let v1: number;
    if (q === 34 /* " */) {
      v0++;
      v1 = s.indexOf('"', v0);
      if (v1 < 0 || v1 >= end) return reject('unbalanced_quote');
      p = v1 + 1;
    } else if (q === 39 /* ' */) {
      // USER_AVC: msg='apparmor="..." ...' carries the AppArmor fields of a userspace (dbus) check.
      const close = s.lastIndexOf("'", end - 1);
      if (close <= eq + 1) return reject('unbalanced_quote');
      if (code !== K.msg || !apparmor || seen & (1 << K.msg)) return reject('malformed');
      seen |= 1 << K.msg;
      // The outer pid is the dbus daemon's; the inner fields describe the client.
      rec.pid = undefined;
      const inner = scanFields(s, eq + 2, close, rec);
      if (inner !== undefined) return inner;
      p = close + 1;
      continue;
    } else {
      v1 = s.indexOf(' ', v0);
      if (v1 < 0 || v1 > end) v1 = end;
      p = v1;
      if (code === K.subj && v1 < end && s.charCodeAt(v1 + 1) === 40 /* ( */) {
        // An AppArmor task label prints unquoted with its mode: `subj=name (complain)`.
        const close = s.indexOf(')', v1);
        if (close < 0 || close >= end) return reject('malformed');
        v1 = p = close + 1;
      }
    }
    if (p < end && s.charCodeAt(p) !== 32) return reject('malformed');
    if (code === IGNORED) continue;
    if (code < 30) {
      if (seen & (1 << code)) return reject('duplicate_field');
      seen |= 1 << code;
    }
    const ok = apparmor ? setAppArmor(rec, code, s, v0, v1, q === 34) : setSeccomp(rec, code, s, v0, v1, q === 34);
    if (!ok) return reject('malformed');
  }
  return undefined;
}

/** Names of the keys we use; aliases share a code. */
const KEY_NAMES: Record<string, number> = {
  apparmor: K.apparmor, operation: K.operation, profile: K.profile, label: K.profile, name: K.name,
  name2: K.name2, target: K.name2, requested_mask: K.requested, mask: K.requested, denied_mask: K.denied,
  fsuid: K.fsuid, ouid: K.ouid, pid: K.pid, comm: K.comm, capability: K.capability, capname: K.capname,
  family: K.family, sock_type: K.sockType, protocol: K.protocol, signal: K.signal, peer: K.peer,
  peer_label: K.peer, peer_profile: K.peer, fstype: K.fstype, srcname: K.srcname, flags: K.flags, addr: K.addr,
  peer_addr: K.peerAddr, subj: K.subj, arch: K.arch, syscall: K.syscall, exe: K.exe, msg: K.msg,
  code: K.code, info: K.info, laddr: K.laddr, lport: K.lport, faddr: K.faddr, fport: K.fport, bus: K.bus,
  path: K.path, interface: K.interface, member: K.member,
};

// Keys are recognised by their length and three characters, then confirmed with one startsWith:
// no substring and no per-character loop per key. Open addressing in a small power-of-two table.
const SLOTS = 512;
const slotCode = new Int32Array(SLOTS).fill(IGNORED);
const slotName: string[] = new Array<string>(SLOTS).fill('');
for (const [name, code] of Object.entries(KEY_NAMES)) {
  let i = slotOf(name, 0, name.length);
  while (slotCode[i] !== IGNORED) i = (i + 1) & (SLOTS - 1);
  slotCode[i] = code;
  slotName[i] = name;
}

function slotOf(s: string, p: number, e: number): number {
  const len = e - p;
  return (len * 97 + s.charCodeAt(p) * 31 + s.charCodeAt(p + 1) * 7 + s.charCodeAt(e - 1)) & (SLOTS - 1);
}

/** s.startsWith(name, p), which V8 runs far slower than this loop for short names. */
function sameAt(s: string, p: number, name: string): boolean {
  for (let i = 0; i < name.length; i++) if (s.charCodeAt(p + i) !== name.charCodeAt(i)) return false;
  return true;
}

/** The code of the key s[p, e): IGNORED for keys we do not use, BAD_KEY for one with a space or quote. */
function keyCode(s: string, p: number, e: number): number {
  if (e - p >= 2) {
    for (let i = slotOf(s, p, e); slotCode[i] !== IGNORED; i = (i + 1) & (SLOTS - 1)) {
      const name = slotName[i]!;
      if (name.length === e - p && sameAt(s, p, name)) return slotCode[i]!;
    }
  }
  if (e === p) return BAD_KEY;
  const sp = s.indexOf(' ', p);
  if (sp >= 0 && sp < e) return BAD_KEY;
  const q = s.indexOf('"', p);
  return q >= 0 && q < e ? BAD_KEY : IGNORED;
}

/** Sets one field from s[v0, v1); false for a value of the wrong shape. */
function setAppArmor(r: AppArmorRecord, code: number, s: string, v0: number, v1: number, quoted: boolean): boolean {
  switch (code) {
    case K.apparmor: r.verdict = s.slice(v0, v1); return true;
    case K.operation: r.operation = s.slice(v0, v1); return true;
    case K.profile: r.profile = text(s, v0, v1, quoted); return true;
    case K.name: r.name = text(s, v0, v1, quoted); return true;
    case K.name2: r.name2 = text(s, v0, v1, quoted); return true;
    case K.requested: r.requested = s.slice(v0, v1); return true;
    case K.denied: r.denied = s.slice(v0, v1); return true;
    case K.fsuid: return (r.fsuid = uint(s, v0, v1)) >= 0;
    case K.ouid: return (r.ouid = uint(s, v0, v1)) >= 0;
    case K.pid: return (r.pid = uint(s, v0, v1)) >= 0;
    case K.comm: r.comm = text(s, v0, v1, quoted); return true;
    case K.capability: return (r.capability = uint(s, v0, v1)) >= 0;
    case K.capname: r.capname = s.slice(v0, v1); return true;
    case K.family: r.family = s.slice(v0, v1); return true;
    case K.sockType: r.sockType = s.slice(v0, v1); return true;
    case K.protocol: return (r.protocol = uint(s, v0, v1)) >= 0;
    case K.signal: r.signal = s.slice(v0, v1); return true;
    case K.peer: r.peer = text(s, v0, v1, quoted); return true;
    case K.fstype: r.fstype = text(s, v0, v1, quoted); return true;
    case K.srcname: r.srcname = text(s, v0, v1, quoted); return true;
    case K.flags: r.flags = s.slice(v0, v1); return true;
    case K.addr: r.addr = text(s, v0, v1, quoted); return true;
    case K.peerAddr: r.peerAddr = text(s, v0, v1, quoted); return true;
    case K.info: r.info = s.slice(v0, v1); return true;
    case K.laddr: r.laddr = s.slice(v0, v1); return true;
    case K.lport: return (r.lport = uint(s, v0, v1)) >= 0;
    case K.faddr: r.faddr = s.slice(v0, v1); return true;
    case K.fport: return (r.fport = uint(s, v0, v1)) >= 0;
    case K.bus: r.bus = s.slice(v0, v1); return true;
    case K.path: r.path = s.slice(v0, v1); return true;
    case K.interface: r.interface = s.slice(v0, v1); return true;
    case K.member: r.member = s.slice(v0, v1); return true;
    default: return true;
  }
}

function setSeccomp(r: SeccompRecord, code: number, s: string, v0: number, v1: number, quoted: boolean): boolean {
  switch (code) {
    case K.pid: return (r.pid = uint(s, v0, v1)) >= 0;
    case K.comm: r.comm = text(s, v0, v1, quoted); return true;
    case K.exe: r.exe = text(s, v0, v1, quoted); return true;
    case K.subj: r.subj = s.slice(v0, v1); return true;
    case K.arch: r.arch = s.slice(v0, v1); return true;
    case K.syscall: return (r.syscall = uint(s, v0, v1)) >= 0;
    case K.code: r.code = s.slice(v0, v1); return true;
    default: return true;
  }
}

/** Decimal without sign, or -1. */
function uint(s: string, v0: number, v1: number): number {
  if (v1 <= v0 || v1 - v0 > 15) return -1;
  let x = 0;
  for (let i = v0; i < v1; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    x = x * 10 + c;
  }
  return x;
}

/**
 * A string the kernel logged with audit_log_untrustedstring: quoted when printable, else unquoted
 * upper-case hex of the bytes. Either way the result is a model path (see core/paths.ts).
 */
function text(s: string, v0: number, v1: number, quoted: boolean): string {
  if (!quoted && isHex(s, v0, v1)) return pathFromBytes(Buffer.from(s.slice(v0, v1), 'hex'));
  const v = s.slice(v0, v1);
  return v.indexOf('\\') < 0 ? v : v.replaceAll('\\', '\\\\');
}

function isHex(s: string, v0: number, v1: number): boolean {
  if (v1 <= v0 || (v1 - v0) & 1) return false;
  for (let i = v0; i < v1; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 70))) return false;
  }
  return true;
}
