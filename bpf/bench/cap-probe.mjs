#!/usr/bin/env node
// Cost of telling capability probes from use (issue 11): a root program whose every
// iteration makes overcommit checks (CAP_SYS_ADMIN, CAP_OPT_NOAUDIT: private mmap, malloc
// above the mmap threshold, brk; the tracer's cap_noaudit counter gives how many), timed by
// itself. Needs root.
//
//   bpf/bench/build.sh && make -C bpf
//   node bpf/bench/cap-probe.mjs [--rounds 7] [--iters 200000] [--before REV]
//
// Configurations, interleaved round by round: base (no BPF); the floor (an empty tp_btf
// program on cap_capable); the stack walk alone (bpf_get_stack of 8 frames on that hook);
// varmor-tracer before the noaudit check (REV, default the commit before it, built in a
// temporary worktree) tracing the program; varmor-tracer now, tracing it; and varmor-tracer
// now with the program as a bystander. Prints a Markdown table (progress on stderr).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { log, median, opt, repo, selfTimed, tracers, withFloor, withTracer } from './common.mjs';

const ROUNDS = opt('rounds', 7);
const ITERS = opt('iters', 200000);
const BEFORE = opt('before', execFileSync('git', ['-C', repo, 'log', '-1', '--format=%H', '--grep=capability checks that only probe the privilege']).toString().trim() + '^');

const work = mkdtempSync(join(tmpdir(), 'cap-probe-'));
const prog = selfTimed(work, 'mmaps', {
  includes: '#include <sys/mman.h>\n#include <unistd.h>',
  loop: `char *p = mmap(0, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    p[0] = 1;
    munmap(p, 1 << 16);
    free(malloc(1 << 20));
    sbrk(i & 1 ? -4096 : 4096);`,
}, ITERS);
const direct = () => prog.run();
const { before: OLD_TRACER, now: NEW_TRACER } = tracers(BEFORE, work);

async function traced(bin, alone) {
  const { bystander, records } = await withTracer(bin, prog.argv, alone ? direct : undefined);
  if (alone) return bystander;
  const stats = records.filter((r) => r.t === 'stats').at(-1);
  const caps = records.filter((r) => r.t === 'capability').map((r) => `${r.name}${r.noaudit ? ' (noaudit)' : ''}`);
  return { ns: prog.ns(), noaudit: stats.cap_noaudit ?? 0, misses: stats.cap_slot_miss ?? 0, caps };
}

const configs = {
  base: async () => direct(),
  'floor: empty program on cap_capable': () => withFloor('floor_cap', direct),
  'stack walk alone (8 frames) on cap_capable': () => withFloor('stack_cap', direct),
  'varmor-tracer before the noaudit check, traced': () => traced(OLD_TRACER, false),
  'varmor-tracer, traced': () => traced(NEW_TRACER, false),
  'varmor-tracer, bystander': () => traced(NEW_TRACER, true),
};
const samples = Object.fromEntries(Object.keys(configs).map((k) => [k, []]));
const seen = {};
try {
  for (let r = 1; r <= ROUNDS; r++) {
    for (const [name, run] of Object.entries(configs)) {
      const v = await run();
      const ns = typeof v === 'number' ? v : v.ns;
      if (typeof v === 'object') seen[name] = v;
      samples[name].push(ns);
    }
    log(`round ${r}/${ROUNDS}: ` + Object.entries(samples).map(([k, s]) => `${k.split(',')[0].slice(0, 22)} ${s.at(-1)}`).join(' | '));
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const base = median(samples.base);
const checks = seen['varmor-tracer, traced'].noaudit / ITERS;
console.log(`${ROUNDS} rounds of ${ITERS} iterations (${checks.toFixed(2)} overcommit checks each, from cap_noaudit), ${new Date().toISOString()}, load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}\n`);
console.log('| configuration | ns / iteration (median) | × base | ns per check over base |');
console.log('|---|---:|---:|---:|');
for (const [name, s] of Object.entries(samples)) {
  const m = median(s);
  console.log(`| ${name} | ${m.toFixed(0)} | ${(m / base).toFixed(3)} | ${((m - base) / checks).toFixed(0)} |`);
}
console.log('');
for (const [name, v] of Object.entries(seen)) console.log(`- ${name}: capabilities in the records: ${v.caps.join(', ') || 'none'}; cap_noaudit ${v.noaudit}; cap_slot_miss ${v.misses}`);
