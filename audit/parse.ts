import { pathFromBytes } from '../core/paths.js';
import { F_UINT_APPARMOR, F_UINT_SECCOMP, F_UNIQUE, bodyEnd, bodyHash, frame, scanFields, setFieldKeys, setTypes } from './bytes.js';

/**
 * One audit log line → one typed record, or the reason it was rejected.
 *
 * Accepted framings: auditd (`[node=N ]type=AVC msg=audit(...)`), rsyslog kern.log
 * (`<date> <host> kernel: [ts] audit: type=1400 audit(...)`), dmesg (`[ts] audit: ...`), /dev/kmsg
 * (`5,seq,usec,-;audit: ...`, kernel facility only). The journal's export format is not a line
 * format: audit/journal.ts reads it and hands over its trusted records in these framings.
 *
 * Speed matters (a busy node logs ~10^5 records/s in modeling state), so scanLine() walks the
 * framing and the body's bytes in WebAssembly (audit/bytes.ts), and creates no string at all:
 * it validates every field and leaves their offsets in typed arrays.
 * parseLine() then builds the full record from them; the attributor instead reads only the few fields it needs (field*(), interned for values
 * that repeat). Lines are latin1 strings, one char per byte, so byte-exact values survive until
 * pathFromBytes turns them into model paths.
 */

export type Verdict = 'ALLOWED' | 'DENIED' | 'AUDIT' | 'STATUS' | 'HINT' | 'ERROR' | 'KILL';

export class AppArmorRecord {
  readonly kind = 'apparmor' as const;
  /** Milliseconds since the epoch. */
  time = 0;
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
  time = 0;
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

const AVC = 1400;
const USER_AVC = 1107;
const SECCOMP = 1326;

// The types we accept, with auditd's names for them (1500 has none).
const TYPE_NAMES: readonly (readonly [string, number])[] = [
  ['AVC', AVC],
  ['USER_AVC', USER_AVC],
  ['SECCOMP', SECCOMP],
  ['', 1500],
  ['APPARMOR_AUDIT', 1501],
  ['APPARMOR_ALLOWED', 1502],
  ['APPARMOR_DENIED', 1503],
  ['APPARMOR_HINT', 1504],
  ['APPARMOR_STATUS', 1505],
  ['APPARMOR_ERROR', 1506],
  ['APPARMOR_KILL', 1507],
];

// The scanner's results: a record kind (positive) or a rejection (negative, -1 - index in REASONS).
/** scanLine() accepted an AppArmor record (AVC, USER_AVC, APPARMOR_*). */
export const SCAN_APPARMOR = 1;
/** scanLine() accepted a SECCOMP record. */
export const SCAN_SECCOMP = 2;
const REASONS: readonly Rejection[] = ['not_audit', 'other_type', 'not_apparmor', 'too_long', 'binary', 'malformed', 'unbalanced_quote', 'duplicate_field', 'missing_field'];
const R_NOT_AUDIT = -1;
const R_OTHER_TYPE = -2;
const R_NOT_APPARMOR = -3;
const R_TOO_LONG = -4;
const R_BINARY = -5;
const R_MALFORMED = -6;
const R_UNBALANCED_QUOTE = -7;
const R_DUPLICATE_FIELD = -8;
const R_MISSING_FIELD = -9;

const REJECTED: readonly Rejected[] = REASONS.map((r) => Object.freeze({ kind: 'rejected', reason: r }));

/** The rejection a negative scanLine() result stands for. */
export function scanRejection(code: number): Rejection {
  return REASONS[-1 - code]!;
}

/** One line → a typed record with every field we know, or the reason it was rejected. */
export function parseLine(line: string): AuditRecord | Rejected {
  const kind = scanLine(line);
  if (kind < 0) return REJECTED[-1 - kind]!;
  return kind === SCAN_SECCOMP ? seccompRecord() : appArmorRecord();
}

/**
 * The allocation-free half of parseLine: checks the line exactly as parseLine does and leaves its
 * fields as offsets into the line, for field*() to read until the next scan. Returns SCAN_APPARMOR,
 * SCAN_SECCOMP, or a negative code (scanRejection).
 */
export function scanLine(line: string): number {
  const p = frameLine(line);
  return p < 0 ? p : scanBody(line, p);
}

/**
 * The framing (auditd's, or the kernel's in kern.log, dmesg and /dev/kmsg) and the line's bytes, in
 * WebAssembly (audit/wasm/bytes.c frame()): time, serial and type into SCAN_META, the body's hash into
 * bodyHash(). Returns where the record's fields start (they end at bodyEnd()), or a negative code.
 */
export function frameLine(line: string): number {
  return line.length > MAX_LINE ? R_TOO_LONG : frame(line);
}

export { bodyEnd, bodyHash };

// Field codes. Codes below 30 double as bits for refusing a record that names a field twice: the
// kernel never does, a forger appending fields might.
const K = {
  apparmor: 0, operation: 1, profile: 2, name: 3, name2: 4, requested: 5, denied: 6, fsuid: 7, ouid: 8,
  pid: 9, comm: 10, capability: 11, capname: 12, family: 13, sockType: 14, protocol: 15, signal: 16,
  peer: 17, fstype: 18, srcname: 19, flags: 20, addr: 21, peerAddr: 22, subj: 23, arch: 24, syscall: 25,
  exe: 26, msg: 27, code: 28, info: 29, laddr: 30, lport: 31, faddr: 32, fport: 33, bus: 34, path: 35,
  interface: 36, member: 37,
} as const;
/** Field codes for the field*() readers. */
export const FIELD = K;
const NFIELDS = 38;
const IGNORED = -1;

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

// Keys the kernel often logs that we do not use are known too, as IGNORED: recognised like ours,
// then skipped. Any other key is checked (not empty, no space or quote) and skipped.
const IGNORED_KEYS = [
  'auid', 'uid', 'gid', 'ses', 'sig', 'compat', 'ip', 'success', 'exit', 'a0', 'a1', 'a2', 'a3', 'items', 'ppid',
  'euid', 'suid', 'egid', 'sgid', 'fsgid', 'tty', 'key', 'error', 'parent', 'sauid', 'hostname', 'terminal', 'res',
];

// Per code: unsigned decimals per record kind (validated while scanning, a bad one rejects the
// record, kept as numbers), and the codes a record may name once.
const FLAGS = new Array<number>(NFIELDS).fill(0);
for (const k of [K.fsuid, K.ouid, K.pid, K.capability, K.protocol, K.lport, K.fport]) FLAGS[k]! |= F_UINT_APPARMOR;
for (const k of [K.pid, K.syscall]) FLAGS[k]! |= F_UINT_SECCOMP;
for (let k = 0; k < 30; k++) FLAGS[k]! |= F_UNIQUE;

// The scan of the latest line, in the WebAssembly module's memory: per field code, the value's
// offsets, whether it was quoted, its number, and the scan generation that set it (a field is
// present iff FG[code] === gen).
const { f0: F0, f1: F1, fq: FQ, fn: FN, fg: FG } = setFieldKeys(
  [...Object.entries(KEY_NAMES), ...IGNORED_KEYS.map((k) => [k, IGNORED] as const)],
  FLAGS,
  { msg: K.msg, pid: K.pid, subj: K.subj },
  { malformed: R_MALFORMED, unbalanced: R_UNBALANCED_QUOTE, duplicate: R_DUPLICATE_FIELD },
);
let gen = 0;
let S = '';
/** Time (ms since the epoch), serial and type of the latest scan: a typed array, so no number is boxed. Read only. */
export const SCAN_META = setTypes(TYPE_NAMES, { notAudit: R_NOT_AUDIT, otherType: R_OTHER_TYPE, malformed: R_MALFORMED, binary: R_BINARY });
const META = SCAN_META;

/**
 * The second half of scanLine: the key=value list frameLine() found, from p to bodyEnd(). Scans
 * the bytes frameLine() put in WebAssembly: call it right after frameLine() of the same line.
 */
export function scanBody(s: string, p: number): number {
  if (++gen > 0x3fffffff) {
    FG.fill(0);
    gen = 1;
  }
  S = s;
  const type = META[2]!;
  const apparmor = type !== SECCOMP;
  const res = scanFields(p, bodyEnd(), apparmor, gen);
  if (res !== 0) return res;
  if (!apparmor) return FG[K.arch] !== gen || FG[K.syscall] !== gen ? R_MISSING_FIELD : SCAN_SECCOMP;
  if (FG[K.apparmor] !== gen) return type === AVC || type === USER_AVC ? R_NOT_APPARMOR : R_MISSING_FIELD;
  return FG[K.operation] !== gen ? R_MISSING_FIELD : SCAN_APPARMOR;
}

// ---- Reading the latest scan. Only meaningful right after scanLine() accepted a record.

/** s.startsWith(name, p), which V8 runs far slower than this loop for short names. */
function sameAt(s: string, p: number, name: string): boolean {
  for (let i = 0; i < name.length; i++) if (s.charCodeAt(p + i) !== name.charCodeAt(i)) return false;
  return true;
}

/** Changes with every scan that reaches the fields: a reader that let other code run can tell its fields were overwritten. */
export function scanGeneration(): number {
  return gen;
}

/** Whether the latest scanned record has the field. */
export function fieldHas(code: number): boolean {
  return FG[code] === gen;
}

/** The field's value as logged (no decoding), or undefined. */
export function fieldRaw(code: number): string | undefined {
  return FG[code] === gen ? S.slice(F0[code]!, F1[code]!) : undefined;
}

/** The field's value as a model path (untrusted-string decoding), or undefined. */
export function fieldText(code: number): string | undefined {
  return FG[code] === gen ? text(S, F0[code]!, F1[code]!, FQ[code] === 1) : undefined;
}

/** An unsigned decimal field (pid, fsuid, ouid, capability, protocol, lport, fport, syscall), or undefined. */
export function fieldNumber(code: number): number | undefined {
  return FG[code] === gen ? FN[code] : undefined;
}

/** Whether the field is present and its raw value is exactly str. */
export function fieldRawIs(code: number, str: string): boolean {
  if (FG[code] !== gen) return false;
  const v0 = F0[code]!;
  return F1[code]! - v0 === str.length && sameAt(S, v0, str);
}

// Interned values: repeated short values (operation, verdict, masks, labels, ...) come back as the
// same string from a small direct-mapped cache keyed by the hash of their slice, so the hot path
// allocates nothing for them and later Map lookups find their hash already computed.
const ISLOTS = 1024;
const MAX_INTERNED = 96;
const iRaw: string[] = new Array<string>(ISLOTS).fill('');
const iMode = new Uint8Array(ISLOTS).fill(255);
const iVal: string[] = new Array<string>(ISLOTS).fill('');

function interned(code: number, mode: number): string {
  const v0 = F0[code]!;
  const v1 = F1[code]!;
  const len = v1 - v0;
  if (len > MAX_INTERNED) return mode === 2 ? S.slice(v0, v1) : text(S, v0, v1, mode === 1);
  if (len === 0) return '';
  // Hashed on the length and five characters; the full comparison below keeps it exact.
  let h = Math.imul(len, 0x9e3779b1) ^ mode;
  h = Math.imul(h ^ S.charCodeAt(v0), 31) ^ S.charCodeAt(v1 - 1);
  h = Math.imul(h ^ S.charCodeAt(v0 + (len >> 1)), 31) ^ S.charCodeAt(v0 + (len >> 2));
  h = Math.imul(h ^ S.charCodeAt(v1 - 1 - (len >> 2)), 0x85ebca6b);
  const slot = (h ^ (h >>> 13) ^ (h >>> 22)) & (ISLOTS - 1);
  const raw = iRaw[slot]!;
  if (iMode[slot] === mode && raw.length === len && sameAt(S, v0, raw)) return iVal[slot]!;
  const r = S.slice(v0, v1);
  const v = mode === 2 ? r : text(S, v0, v1, mode === 1);
  iRaw[slot] = r;
  iMode[slot] = mode;
  iVal[slot] = v;
  return v;
}

/** fieldRaw(), interned: for values that repeat (operation, verdict, masks, capname, family, ...). */
export function fieldRawInterned(code: number): string | undefined {
  return FG[code] === gen ? interned(code, 2) : undefined;
}

/** fieldText(), interned: for values that repeat (profile labels). */
export function fieldTextInterned(code: number): string | undefined {
  return FG[code] === gen ? interned(code, FQ[code]!) : undefined;
}

function appArmorRecord(): AppArmorRecord {
  const r = new AppArmorRecord();
  r.time = META[0]!;
  r.serial = META[1]!;
  r.type = META[2]!;
  r.verdict = fieldRaw(K.apparmor);
  r.operation = fieldRaw(K.operation);
  r.profile = fieldText(K.profile);
  r.name = fieldText(K.name);
  r.name2 = fieldText(K.name2);
  r.requested = fieldRaw(K.requested);
  r.denied = fieldRaw(K.denied);
  r.fsuid = fieldNumber(K.fsuid);
  r.ouid = fieldNumber(K.ouid);
  r.pid = fieldNumber(K.pid);
  r.comm = fieldText(K.comm);
  r.capability = fieldNumber(K.capability);
  r.capname = fieldRaw(K.capname);
  r.family = fieldRaw(K.family);
  r.sockType = fieldRaw(K.sockType);
  r.protocol = fieldNumber(K.protocol);
  r.signal = fieldRaw(K.signal);
  r.peer = fieldText(K.peer);
  r.fstype = fieldText(K.fstype);
  r.srcname = fieldText(K.srcname);
  r.flags = fieldRaw(K.flags);
  r.addr = fieldText(K.addr);
  r.peerAddr = fieldText(K.peerAddr);
  r.laddr = fieldRaw(K.laddr);
  r.lport = fieldNumber(K.lport);
  r.faddr = fieldRaw(K.faddr);
  r.fport = fieldNumber(K.fport);
  r.bus = fieldRaw(K.bus);
  r.path = fieldRaw(K.path);
  r.interface = fieldRaw(K.interface);
  r.member = fieldRaw(K.member);
  r.info = fieldRaw(K.info);
  return r;
}

function seccompRecord(): SeccompRecord {
  const r = new SeccompRecord();
  r.time = META[0]!;
  r.serial = META[1]!;
  r.type = META[2]!;
  r.pid = fieldNumber(K.pid);
  r.comm = fieldText(K.comm);
  r.exe = fieldText(K.exe);
  r.subj = fieldRaw(K.subj);
  r.arch = fieldRaw(K.arch);
  r.syscall = fieldNumber(K.syscall);
  r.code = fieldRaw(K.code);
  return r;
}

/**
 * A string the kernel logged with audit_log_untrustedstring: quoted when printable, else unquoted
 * upper-case hex of the bytes. Either way the result is a model path (see core/paths.ts).
 */
function text(s: string, v0: number, v1: number, quoted: boolean): string {
  if (!quoted && isHex(s, v0, v1)) return hexText(s, v0, v1);
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

/** Upper-case hex → model path; ASCII (the usual case: a space in a name) without a Buffer. */
function hexText(s: string, v0: number, v1: number): string {
  let n = 0;
  let backslash = false;
  for (let i = v0; i < v1; i += 2) {
    const b = (hexDigit(s.charCodeAt(i)) << 4) | hexDigit(s.charCodeAt(i + 1));
    if (b >= 0x80) return pathFromBytes(Buffer.from(s.slice(v0, v1), 'hex'));
    if (b === 0x5c) backslash = true;
    HEX_BYTES[n++] = b;
  }
  const out = HEX_BYTES.toString('latin1', 0, n);
  return backslash ? out.replaceAll('\\', '\\\\') : out;
}
const HEX_BYTES = Buffer.alloc(MAX_LINE / 2);

function hexDigit(c: number): number {
  return c <= 57 ? c - 48 : c - 55;
}
