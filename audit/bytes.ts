import { readFileSync } from 'node:fs';

/**
 * audit/bytes.c, compiled to WebAssembly by the build: the work that must see every byte of a line
 * (printable ASCII, the body's hash, the field scan) at SIMD speed rather than JavaScript's 2 ns a
 * character.
 */
interface Exports {
  memory: { buffer: ArrayBuffer };
  buffer(): number;
  capacity(): number;
  check(written: number, n: number, p: number): number;
  body_hash(): number;
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
 * The offset of the first character of line[0, end) that is not printable ASCII, or end; also
 * hashes the body line[p, end) (see bodyHash). Lines are UTF-8 encoded into the module: a character past
 * 0x7e becomes bytes past 0x7e, and everything before the first of them is one byte a character,
 * so byte offsets are character offsets wherever they matter. The buffer holds MAX_LINE characters
 * of three bytes each (longer lines are refused before they get here).
 */
export function firstNonPrintable(line: string, p: number, end: number): number {
  const written = encoder.encodeInto(line, bytes).written;
  return wasm.check(written, Math.min(written, end), p);
}

/** The hash firstNonPrintable() computed of the body: from p to end, or to an ENRICHED 0x1d before it. */
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
 * Scans the key=value list in bytes [p, end) of the line firstNonPrintable() last saw (accepted up
 * to end, so one byte a character) into the field tables, stamping each field with gen. Returns 0,
 * or the rejection code setFieldKeys() was given.
 */
export function scanFields(p: number, end: number, apparmor: boolean, gen: number): number {
  return wasm.scan_fields(p, end, apparmor ? 1 : 0, gen);
}
