import { readFileSync } from 'node:fs';

/**
 * audit/wasm/bytes.c, compiled to WebAssembly by the build: the work that must see every byte of a line
 * (the framing, printable ASCII, the body's hash, the field scan) at SIMD speed rather than JavaScript's 2 ns a
 * character.
 */
interface Exports {
  memory: { buffer: ArrayBuffer };
  buffer(): number;
  capacity(): number;
  frame(n: number, ascii: number): number;
  body_hash(): number;
  body_end(): number;
  meta(): number;
  typetab(): number;
  typetab_size(): number;
  types(notAudit: number, otherType: number, malformed: number, binary: number): number;
  f0(): number;
  f1(): number;
  fg(): number;
  fn(): number;
  fq(): number;
  fflags(): number;
  keytab(): number;
  keytab_size(): number;
  max_fields(): number;
  keys(msg: number, pid: number, subj: number, malformed: number, unbalanced: number, duplicate: number): number;
  scan_fields(p: number, end: number, apparmor: number, gen: number): number;
}

// The global Node provides; TypeScript declares it only in its DOM libraries.
declare const WebAssembly: {
  Module: new (code: Uint8Array) => object;
  Instance: new (module: object) => { exports: object };
};

const wasm = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(new URL('./bytes.wasm', import.meta.url)))).exports as unknown as Exports;
// The module's memory never grows: this view stays valid.
const bytes = new Uint8Array(wasm.memory.buffer, wasm.buffer(), wasm.capacity());
const encoder = new TextEncoder();

/**
 * Hands the framing its table, once at start-up: the record types it accepts, with the name auditd
 * gives each ('' for none), and the rejection codes it returns. Returns where frame() leaves time
 * (ms since the epoch), serial and type: a view on the module's memory, which never grows.
 */
export function setTypes(
  types: readonly (readonly [string, number])[],
  reject: { notAudit: number; otherType: number; malformed: number; binary: number },
): Float64Array {
  const table: number[] = [];
  for (const [name, type] of types) table.push(type & 0xff, type >> 8, name.length, ...Array.from(name, (c) => c.charCodeAt(0)));
  table.push(0, 0);
  if (table.length > wasm.typetab_size()) throw new Error('audit/bytes: type table too large');
  new Uint8Array(wasm.memory.buffer).set(table, wasm.typetab());
  if (wasm.types(reject.notAudit, reject.otherType, reject.malformed, reject.binary) !== types.length) {
    throw new Error('audit/bytes: type table refused');
  }
  return new Float64Array(wasm.memory.buffer, wasm.meta(), 3);
}

/**
 * Finds the line's framing and checks its bytes (printable ASCII up to the body's end, or up to an
 * ENRICHED 0x1d in the body) in one call, hashing the body (bodyHash). Returns where the body
 * starts, or a rejection code setTypes() was given. The line is UTF-8 encoded into the module; the
 * framing's limits still count characters, and an accepted line is one byte a character up to
 * bodyEnd(). The buffer holds MAX_LINE characters of three bytes each (the caller refuses longer lines).
 */
export function frame(line: string): number {
  const written = encoder.encodeInto(line, bytes).written;
  return wasm.frame(written, written === line.length ? 1 : 0);
}

/** Where the body frame() accepted ends: before a CR, or at an ENRICHED 0x1d. */
export function bodyEnd(): number {
  return wasm.body_end();
}

/** The hash frame() computed of the accepted body, from its start to bodyEnd(). */
export function bodyHash(): number {
  return wasm.body_hash();
}

/** The field tables scanFields() fills, per field code: views on the module's memory, which never grows. */
export interface FieldTables {
  /** Where the value starts and ends. */
  f0: Int32Array;
  f1: Int32Array;
  /** 1 when it was quoted. */
  fq: Uint8Array;
  /** Its number, for the codes flagged as unsigned decimals. */
  fn: Float64Array;
  /** The generation of the scan that set it. */
  fg: Int32Array;
}

/** Per field code flags for setFieldKeys(). */
export const F_UINT_APPARMOR = 1;
export const F_UINT_SECCOMP = 2;
/** A second field with this code refuses the record; only for codes below 32. */
export const F_UNIQUE = 4;

/**
 * Hands the field scan its table, once at start-up: the keys it knows with their codes (a negative
 * code: known, and skipped), per code flags (F_*), the codes it treats apart (msg='...', the pid it
 * forgets, subj's `(mode)`) and the rejection codes it returns. Returns the tables it fills.
 */
export function setFieldKeys(
  keys: readonly (readonly [string, number])[],
  flags: readonly number[],
  codes: { msg: number; pid: number; subj: number },
  reject: { malformed: number; unbalanced: number; duplicate: number },
): FieldTables {
  const n = flags.length;
  if (n > wasm.max_fields()) throw new Error(`audit/bytes: ${n} field codes, the module holds ${wasm.max_fields()}`);
  if (flags.some((f, code) => f & F_UNIQUE && code >= 32)) throw new Error('audit/bytes: F_UNIQUE on a code past 31');
  const mem = new Uint8Array(wasm.memory.buffer);
  mem.set(flags, wasm.fflags());
  const table: number[] = [];
  for (const [name, code] of keys) table.push(name.length, code & 0xff, ...Array.from(name, (c) => c.charCodeAt(0)));
  table.push(0);
  if (table.length > wasm.keytab_size()) throw new Error('audit/bytes: key table too large');
  mem.set(table, wasm.keytab());
  if (wasm.keys(codes.msg, codes.pid, codes.subj, reject.malformed, reject.unbalanced, reject.duplicate) !== keys.length) {
    throw new Error('audit/bytes: key table refused');
  }
  const buf = wasm.memory.buffer;
  return {
    f0: new Int32Array(buf, wasm.f0(), n),
    f1: new Int32Array(buf, wasm.f1(), n),
    fq: new Uint8Array(buf, wasm.fq(), n),
    fn: new Float64Array(buf, wasm.fn(), n),
    fg: new Int32Array(buf, wasm.fg(), n),
  };
}

/**
 * Scans the key=value list in bytes [p, end) of the line frame() last accepted (accepted up
 * to end, so one byte a character) into the field tables, stamping each field with gen. Returns 0,
 * or the rejection code setFieldKeys() was given.
 */
export function scanFields(p: number, end: number, apparmor: boolean, gen: number): number {
  return wasm.scan_fields(p, end, apparmor ? 1 : 0, gen);
}
