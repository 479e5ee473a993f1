#!/usr/bin/env node
// Derives the loader's record emitters (records.gen.h) and the driver's record types and field
// table (driver/records.gen.ts, checked by driver/records.ts) from records.json. `--check`: exits 1 if either output is not up to date.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const spec = JSON.parse(readFileSync(join(here, 'records.json'), 'utf8'));

/** A kind's fields in wire order: [group or kind prefix, name, type, optional]. */
function fields(kind) {
  const out = [];
  for (const part of spec.kinds[kind].fields) {
    const [owner, defs] = typeof part === 'string' ? [part, spec.groups[part]] : [kind, part];
    if (!defs) throw new Error(`records.json: ${kind} names no group ${part}`);
    for (const [key, type] of Object.entries(defs)) out.push({ owner, name: key.replace(/\?$/, ''), type, optional: key.endsWith('?') });
  }
  const names = out.map((f) => f.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw new Error(`records.json: ${kind} has ${twice} twice`);
  return out;
}

const cName = (s) => s.replace(/-/g, '_');
/** true: a target after t; false: none (a field named target may come later); 'optional': one after t when > 0. */
const targetOf = (kind) => spec.kinds[kind].target ?? true;
const itemGroup = (type) => (type.startsWith('list:') ? type.slice(5) : undefined);
const emitterOf = (kind) => {
  const e = spec.kinds[kind].emitter;
  if (typeof e !== 'string' || !/^[a-z]+$/.test(e)) throw new Error(`records.json: ${kind} names no emitter (the loader file that writes it)`);
  return e;
};

// C: (parameters, body) of the functions that write one field, by type: [suffix, params, body] each;
// k is the field name, c the comma before it ('' for the first field of a list item).
const key = (k, c, open = '') => `fputs("${c}\\"${k}\\":${open}", stdout);`;
const one = (params, body) => [['', params, body]];
const C_TYPES = {
  u32: (k, c) => one('unsigned v', `${key(k, c)} put_uint(v);`),
  i32: (k, c) => one('int v', `${key(k, c)} put_int(v);`),
  u64: (k, c) => one('unsigned long long v', `${key(k, c)} put_uint(v);`),
  ms: (k, c) => one('long long v', `${key(k, c)} put_int(v);`),
  bool: (k, c) => one('bool v', `fputs(v ? "${c}\\"${k}\\":true" : "${c}\\"${k}\\":false", stdout);`),
  true: (k, c) => one('void', `fputs("${c}\\"${k}\\":true", stdout);`),
  name: (k, c) => one('const char *v', `${key(k, c, '\\"')} fputs(v, stdout); putchar('"');`),
  str: (k, c) => one('const char *v', `${key(k, c)} put_str(v);`),
  hex: (k) => one('const void *v, size_t len', `put_hex("${k}", v, len);`),
  hexnum: (k, c) => one('unsigned long long v', `printf("${c}\\"${k}\\":\\"0x%llx\\"", v);`),
  id: (k, c) => one('unsigned kind, unsigned long long hash', `printf("${c}\\"${k}\\":\\"%u:%016llx\\"", kind, hash);`),
  session: (k, c) => one('void', `fputs("${c}\\"${k}\\":\\"exec\\"", stdout);`),
  flags: (k) => one('unsigned long long v, const struct flag_name *names', `put_flags("${k}", v, names);`),
  // an array of strings: _begin(), _item(first, s) for each, _end()
  strs: (k, c) => [
    ['_begin', 'void', `${key(k, c, '[')}`],
    ['_item', 'bool first, const char *v', `if (!first) putchar(','); put_str(v);`],
    ['_end', 'void', `putchar(']');`],
  ],
  // an object of counts: _begin(), _item(first, key, n) for each, _end()
  numbers: (k, c) => [
    ['_begin', 'void', `${key(k, c, '{')}`],
    ['_item', 'bool first, const char *key, unsigned long long v', `if (!first) putchar(','); put_str(key); putchar(':'); put_uint(v);`],
    ['_end', 'void', `putchar('}');`],
  ],
  // an array of objects of a group's fields: _begin(), per object _item(first), its fields, _item_end(); _end()
  list: (k, c) => [
    ['_begin', 'void', `${key(k, c, '[')}`],
    ['_item', 'bool first', `fputs(first ? "{" : ",{", stdout);`],
    ['_item_end', 'void', `putchar('}');`],
    ['_end', 'void', `putchar(']');`],
  ],
};

function genC() {
  // per emitter (the loader file that writes the kinds), one line per kind and per group: the
  // functions that write its fields (a kind's start first)
  const sections = new Map();
  for (const kind of Object.keys(spec.kinds)) {
    const emitter = emitterOf(kind);
    const lines = sections.get(emitter) ?? new Map();
    sections.set(emitter, lines);
    const add = (owner, fn, text) => {
      const line = lines.get(owner) ?? new Map();
      lines.set(owner, line.set(fn, text));
    };
    const head = `fputs("{\\"t\\":\\"${kind}\\"`;
    const start = {
      true: `(int target) { ${head},\\"target\\":", stdout); put_int(target); }`,
      false: `(void) { ${head}", stdout); }`,
      optional: `(int target) { ${head}", stdout); if (target > 0) { fputs(",\\"target\\":", stdout); put_int(target); } }`,
    }[String(targetOf(kind))];
    if (!start) throw new Error(`records.json: ${kind}: target is true, false or "optional"`);
    add(kind, `rec_${cName(kind)}`, `static void rec_${cName(kind)}${start}`);
    const addField = (owner, name, type, c) => {
      const gen = C_TYPES[itemGroup(type) ? 'list' : type];
      if (!gen) throw new Error(`records.json: ${kind}.${name}: the loader cannot write type ${type}`);
      for (const [suffix, params, body] of gen(name, c)) {
        const fn = `${cName(owner)}_${name}${suffix}`;
        add(owner, fn, `static void ${fn}(${params}) { ${body} }`);
      }
    };
    for (const f of fields(kind)) {
      addField(f.owner, f.name, f.type, ',');
      const group = itemGroup(f.type);
      if (!group) continue;
      const defs = Object.entries(spec.groups[group] ?? {});
      if (!defs.length || defs[0][0].endsWith('?') || defs[0][1] === 'hex') throw new Error(`records.json: ${kind}.${f.name}: ${group} must have a first field that is not optional nor hex`);
      defs.forEach(([k, type], i) => addField(group, k.replace(/\?$/, ''), type, i ? ',' : ''));
    }
  }
  const out = [
    '/* Generated by gen-records.mjs from records.json: do not edit. */',
    '/*',
    ' * The JSON lines the loader writes, each kind by the file records.json names',
    ' * (its emitter), which defines RECORDS_GEN_<EMITTER> before it includes this:',
    ' * rec_KIND(target) starts one, KIND_FIELD(...) (GROUP_FIELD for a group\'s',
    ' * fields) adds a field, rec_end() ends it. Static: a field its file does not',
    ' * write is an unused function (the loader is built with -Werror=unused-function).',
    ' */',
    '#ifndef VARMOR_RECORDS_GEN_H',
    '#define VARMOR_RECORDS_GEN_H',
    '',
    '#include <stdbool.h>',
    '#include <stdio.h>',
    '#include "json.h"',
    '',
    '/* clang-format off */',
  ];
  for (const [emitter, lines] of sections) {
    out.push(`#ifdef RECORDS_GEN_${emitter.toUpperCase()}`);
    out.push('static void rec_end(void) { fputs("}\\n", stdout); }');
    out.push(...[...lines.values()].map((fns) => [...fns.values()].join(' ')));
    out.push('#endif');
  }
  out.push('/* clang-format on */', '', '#endif', '');
  return out.join('\n');
}

const TS_TYPES = {
  u32: 'number',
  i32: 'number',
  u64: 'number',
  ms: 'number',
  bool: 'boolean',
  true: 'true',
  name: 'string',
  str: 'string',
  hex: 'string',
  hexnum: 'string',
  id: 'string',
  session: "'exec'",
  flags: 'string[]',
  strs: 'string[]',
  numbers: 'Record<string, number>',
};

const typeName = (kind) => kind.replace(/(^|-)([a-z])/g, (_, __, c) => c.toUpperCase()) + 'Record';
const groupName = (group) => group.replace(/^[a-z]/, (c) => c.toUpperCase()) + 'Fields';
const tsType = (type) => (itemGroup(type) ? `${groupName(itemGroup(type))}[]` : TS_TYPES[type]);

function tsMembers(defs) {
  return Object.entries(defs).map(([key, type]) => {
    if (!tsType(type)) throw new Error(`records.json: ${key}: unknown type ${type}`);
    return `  ${key}: ${tsType(type)};`;
  });
}

function genTs() {
  const kinds = Object.keys(spec.kinds);
  const events = kinds.filter((k) => emitterOf(k) === 'records');
  const items = [...new Set(kinds.flatMap((k) => fields(k).map((f) => itemGroup(f.type)).filter(Boolean)))];
  const out = ['// Generated by bpf/gen-records.mjs from bpf/records.json: do not edit. Checked by records.ts.', ''];
  for (const [group, defs] of Object.entries(spec.groups)) out.push(`export interface ${groupName(group)} {`, ...tsMembers(defs), '}', '');
  for (const kind of kinds) {
    fields(kind); // a field twice is an error
    const parts = spec.kinds[kind].fields;
    const groups = parts.filter((p) => typeof p === 'string').map(groupName);
    const own = Object.assign({}, ...parts.filter((p) => typeof p !== 'string'));
    const target = { true: ['  target: number;'], false: [], optional: ['  target?: number;'] }[String(targetOf(kind))];
    out.push(`export interface ${typeName(kind)}${groups.length ? ` extends ${groups.join(', ')}` : ''} {`, `  t: '${kind}';`, ...target, ...tsMembers(own), '}', '');
  }
  out.push(`/** The records of the ring buffer (records.c). */`);
  out.push(`export type TracerEvent =\n${events.map((k) => `  | ${typeName(k)}`).join('\n')};`, '');
  out.push(`/** Every line the loader writes. */`);
  out.push(`export type TracerRecord =\n${['TracerEvent', ...kinds.filter((k) => !events.includes(k)).map(typeName)].map((t) => `  | ${t}`).join('\n')};`, '');
  out.push(`export type FieldType = ${[...Object.keys(TS_TYPES), ...items.map((g) => `list:${g}`)].map((t) => `'${t}'`).join(' | ')};`, '');
  out.push('/** The groups that are the objects of a list field: their fields (type, optional). */');
  out.push('export const ITEMS: Record<string, Record<string, [FieldType, boolean]>> = {');
  for (const g of items) {
    const fs = Object.entries(spec.groups[g]).map(([k, type]) => `${k.replace(/\?$/, '')}: ['${type}', ${k.endsWith('?')}]`);
    out.push(`  '${g}': { ${fs.join(', ')} },`);
  }
  out.push('};', '');
  out.push('/** Per kind: its target (after t, none, or after t when there is one), whether it is a ring buffer record, and its fields (type, optional). */');
  out.push("export const KINDS: Record<string, { target: boolean | 'optional'; event: boolean; fields: Record<string, [FieldType, boolean]> }> = {");
  for (const kind of kinds) {
    const fs = fields(kind).map((f) => `${f.name}: ['${f.type}', ${f.optional}]`);
    const target = targetOf(kind) === 'optional' ? "'optional'" : String(targetOf(kind));
    out.push(`  '${kind}': { target: ${target}, event: ${emitterOf(kind) === 'records'}, fields: { ${fs.join(', ')} } },`);
  }
  out.push('};', '');
  return out.join('\n');
}

const outputs = [
  [join(here, 'records.gen.h'), genC()],
  [join(here, 'driver', 'records.gen.ts'), genTs()],
];
if (process.argv.includes('--check')) {
  const stale = outputs.filter(([p, text]) => {
    try {
      return readFileSync(p, 'utf8') !== text;
    } catch {
      return true;
    }
  });
  for (const [p] of stale) console.error(`${p} is not up to date with records.json: run node bpf/gen-records.mjs`);
  process.exit(stale.length ? 1 : 0);
}
for (const [p, text] of outputs) writeFileSync(p, text);
