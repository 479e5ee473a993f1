import { KINDS, type FieldType, type TracerEvent } from './records.gen.js';

// The loader's records (bpf/README.md): their types and fields come from bpf/records.json.
export type * from './records.gen.js';

const isInt = (v: unknown, lo: number, hi: number): boolean => typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;

const CHECKS: Record<FieldType, (v: unknown) => boolean> = {
  u32: (v) => isInt(v, 0, 2 ** 32 - 1),
  i32: (v) => isInt(v, -(2 ** 31), 2 ** 31 - 1),
  u64: (v) => isInt(v, 0, Number.MAX_VALUE),
  ms: (v) => isInt(v, -Number.MAX_VALUE, Number.MAX_VALUE),
  bool: (v) => typeof v === 'boolean',
  true: (v) => v === true,
  name: (v) => typeof v === 'string',
  str: (v) => typeof v === 'string',
  hex: (v) => typeof v === 'string' && /^(?:[0-9a-f]{2})*$/.test(v),
  hexnum: (v) => typeof v === 'string' && /^0x[0-9a-f]{1,16}$/.test(v),
  id: (v) => typeof v === 'string' && /^[0-9]+:[0-9a-f]{16}$/.test(v),
  session: (v) => v === 'exec',
  flags: (v) => Array.isArray(v) && v.every((x) => typeof x === 'string'),
  numbers: (v) => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'number'),
  list: (v) => Array.isArray(v),
};

/**
 * Why a parsed line is not a valid record of its kind, or undefined if it is (or is of a kind
 * records.json does not describe: command replies). Lines of the kinds records.c writes may have
 * no other field.
 */
export function checkRecord(r: { t: unknown; [field: string]: unknown }): string | undefined {
  if (typeof r.t !== 'string') return 'no record type (t)';
  const kind = KINDS[r.t];
  if (!kind) return undefined;
  if (kind.target && !isInt(r.target, 0, 127)) return `${r.t}: target ${JSON.stringify(r.target)} is not 0..127`;
  for (const [name, [type, optional]] of Object.entries(kind.fields)) {
    const v = r[name];
    if (v === undefined ? !optional : !CHECKS[type](v)) return `${r.t}: field ${name} ${v === undefined ? 'is missing' : `is not ${type}: ${JSON.stringify(v)}`}`;
  }
  if (kind.strict) for (const name of Object.keys(r)) if (name !== 't' && name !== 'target' && !(name in kind.fields)) return `${r.t}: unknown field ${name}`;
  return undefined;
}

/** Narrows a record to its type by its kind (lines that passed checkRecord have the fields it names). */
export function isEvent(r: { t: string }): r is TracerEvent {
  return r.t in KINDS;
}
