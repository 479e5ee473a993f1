// The loader's source layout holds: its module graph has no cycle (bpf/include-graph.mjs), the
// record emitters and driver types (records.gen.h, driver/records.gen.ts) derived from bpf/records.json are up to date
// (bpf/gen-records.mjs), and records.c writes no field by hand (only through the emitters, so
// every field on the wire is one records.json defines).
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

test('records.c writes every field through the generated emitters', () => {
  const src = fs.readFileSync(path.join(BPF, 'records.c'), 'utf8');
  assert.deepEqual(src.match(/\\"[a-z_-]+\\"\s*:/g) ?? [], [], 'a JSON key written by hand in records.c');
  assert.doesNotMatch(src, /put_(hex|jstr|flags)\(/, 'json.h writers called directly in records.c');
});
