import { ITEMS, KINDS, type FieldType, type TracerEvent, type TracerRecord } from './records.gen.js';

// The loader's lines (bpf/README.md): their types and fields come from bpf/records.json.
export type * from './records.gen.js';

/** The record type of kind K. */
export type RecordOf<K extends TracerRecord['t']> = Extract<TracerRecord, { t: K }>;

const isInt = (v: unknown, lo: number, hi: number): boolean => typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const CHECKS: Record<Exclude<FieldType, `list:${string}`>, (v: unknown) => boolean> = {
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
  strs: (v) => Array.isArray(v) && v.every((x) => typeof x === 'string'),
  numbers: (v) => isObject(v) && Object.values(v).every((x) => typeof x === 'number'),
};

/** Why `r` does not have exactly these fields (others than `extra` refused), or undefined. */
function checkFields(what: string, fields: Record<string, [FieldType, boolean]>, r: Record<string, unknown>, extra: string[]): string | undefined {
  for (const [name, [type, optional]] of Object.entries(fields)) {
    const v = r[name];
    if (v === undefined ? !optional : !checkValue(type, v)) return `${what}: field ${name} ${v === undefined ? 'is missing' : `is not ${type}: ${JSON.stringify(v)}`}`;
  }
  for (const name of Object.keys(r)) if (!Object.hasOwn(fields, name) && !extra.includes(name)) return `${what}: unknown field ${name}`;
  return undefined;
}

function checkValue(type: FieldType, v: unknown): boolean {
  if (!type.startsWith('list:')) return CHECKS[type as keyof typeof CHECKS](v);
  const item = ITEMS[type.slice(5)]!;
  return Array.isArray(v) && v.every((x) => isObject(x) && checkFields('', item, x, []) === undefined);
}

/**
 * Why a parsed line is not a valid record of its kind, or undefined if it is. Every kind is one
 * bpf/records.json defines (any other is refused), with exactly its fields.
 */
export function checkRecord(r: { t: unknown; [field: string]: unknown }): string | undefined {
  if (typeof r.t !== 'string') return 'no record type (t)';
  // own kinds only: a line's "constructor" or "__proto__" is no kind
  const kind = Object.hasOwn(KINDS, r.t) ? KINDS[r.t] : undefined;
  if (!kind) return `unknown record type ${JSON.stringify(r.t)}`;
  if ((kind.target === true || (kind.target === 'optional' && r.target !== undefined)) && !isInt(r.target, 0, 127)) {
    return `${r.t}: target ${JSON.stringify(r.target)} is not 0..127`;
  }
  return checkFields(r.t, kind.fields, r, kind.target === false ? ['t'] : ['t', 'target']);
}

/** Narrows a record to a record of the ring buffer (records.c). */
export function isEvent(r: TracerRecord): r is TracerEvent {
  return KINDS[r.t]?.event === true;
}

/** A matcher of the records of kind `t` (and `also`, if given), narrowing to its type: for TracerProcess.waitFor/request. */
export function isKind<K extends TracerRecord['t']>(t: K, also?: (r: RecordOf<K>) => boolean): (r: TracerRecord) => r is RecordOf<K> {
  return (r): r is RecordOf<K> => r.t === t && (!also || also(r as RecordOf<K>));
}
