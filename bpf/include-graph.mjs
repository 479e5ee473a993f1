#!/usr/bin/env node
// The loader's module graph: module M uses module N when M.c includes N.h (a loader function is
// called only through its header: -Wall makes an undeclared call an error). Prints each module's
// uses, lowest layer first, and exits 1 if the graph has a cycle.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = dirname(fileURLToPath(import.meta.url));
const modules = readdirSync(dir)
  .filter((f) => f.endsWith('.c') && !f.endsWith('.bpf.c'))
  .map((f) => f.slice(0, -2));
const uses = new Map(
  modules.map((m) => {
    const text = readFileSync(join(dir, `${m}.c`), 'utf8');
    const deps = [...text.matchAll(/^#include "([a-z_]+)\.h"/gm)].map((x) => x[1]).filter((h) => h !== m && modules.includes(h));
    return [m, [...new Set(deps)].sort()];
  }),
);

// Depth-first: a module is placed after everything it uses; a module met again while open is a cycle.
const order = [];
const state = new Map();
const cycles = [];
function visit(m, path) {
  if (state.get(m) === 'done') return;
  if (state.get(m) === 'open') {
    cycles.push([...path.slice(path.indexOf(m)), m].join(' -> '));
    return;
  }
  state.set(m, 'open');
  for (const d of uses.get(m)) visit(d, [...path, m]);
  state.set(m, 'done');
  order.push(m);
}
for (const m of [...modules].sort()) visit(m, []);

for (const m of order) console.log(`${m.padEnd(10)} -> ${uses.get(m).join(' ') || '(nothing)'}`);
for (const c of cycles) console.error(`cycle: ${c}`);
process.exit(cycles.length ? 1 : 0);
