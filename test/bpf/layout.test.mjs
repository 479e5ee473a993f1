// The loader's source layout holds: its module graph has no cycle (bpf/include-graph.mjs), the
// record emitters and driver types (records.gen.h, driver/records.gen.ts) derived from bpf/records.json are up to date
// (bpf/gen-records.mjs), and no loader file writes a line or a field by hand (only through the
// emitters, so every line on the wire is of a kind records.json defines, with its fields).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BPF = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bpf');

function run(script, ...args) {
  try {
    return { code: 0, out: execFileSync(process.execPath, [path.join(BPF, script), ...args], { encoding: 'utf8', stdio: 'pipe' }) };
  } catch (err) {
    return { code: err.status, out: `${err.stdout}${err.stderr}` };
  }
}

test('the loader modules include each other one way (no cycle)', () => {
  const r = run('include-graph.mjs');
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /^records +-> /m);
  assert.doesNotMatch(r.out, /^records +->.*\b(targets|commands|spool|events)\b/m, 'records.c only formats');
});

test('records.gen.h and bpf/driver/records.gen.ts are what records.json gives', () => {
  const r = run('gen-records.mjs', '--check');
  assert.equal(r.code, 0, r.out);
});

// the loader's C files (not the kernel side's); json.c holds the helpers the emitters write with
const LOADER = fs.readdirSync(BPF).filter((f) => f.endsWith('.c') && !f.endsWith('.bpf.c') && f !== 'json.c');

test('every loader file writes its lines through the generated emitters', () => {
  assert.ok(LOADER.includes('records.c') && LOADER.includes('commands.c') && LOADER.includes('main.c'), LOADER.join(' '));
  for (const f of LOADER) {
    const src = fs.readFileSync(path.join(BPF, f), 'utf8');
    assert.deepEqual(src.match(/\\"[a-z_-]+\\"\s*:/g) ?? [], [], `a JSON key written by hand in ${f}`);
    assert.doesNotMatch(src, /\b(put_(hex|jstr|flags|str|uint|int))\(/, `json.h writers called directly in ${f}`);
    assert.doesNotMatch(src, /\b(printf|fputs|puts|fwrite|dprintf)\(\s*"\{/, `a line started by hand in ${f}`);
  }
});

test('each kind is written by the file records.json names, which includes its emitters', () => {
  const spec = JSON.parse(fs.readFileSync(path.join(BPF, 'records.json'), 'utf8'));
  const emitters = new Set(Object.values(spec.kinds).map((k) => k.emitter));
  for (const e of emitters) {
    assert.ok(LOADER.includes(`${e}.c`), `records.json names emitter ${e}, which is no loader file`);
    const src = fs.readFileSync(path.join(BPF, `${e}.c`), 'utf8');
    assert.match(src, new RegExp(`#define RECORDS_GEN_${e.toUpperCase()}\\n#include "records.gen.h"`), `${e}.c includes its emitters`);
  }
  // a file that writes no kind has no emitters
  for (const f of LOADER.filter((f) => !emitters.has(f.replace(/\.c$/, '')))) {
    assert.doesNotMatch(fs.readFileSync(path.join(BPF, f), 'utf8'), /RECORDS_GEN_/, f);
  }
});
