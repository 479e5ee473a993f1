// Helpers the tracer benchmarks share: command-line options, the repository root, medians, progress.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tracer } from '../../test/bpf/harness.mjs';

export const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, '../..');

const argv = process.argv.slice(2);
/** `--name VALUE`, as a number when the default is one. */
export const opt = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  return i < 0 ? def : typeof def === 'number' ? Number(argv[i + 1]) : argv[i + 1];
};
export const flag = (name) => argv.includes(`--${name}`);

export const log = (...a) => console.error(new Date().toISOString().slice(11, 19), ...a);

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Runs fn while the floor program(s) `prog` (bpf/bench/floor.bpf.c) are attached. */
export async function withFloor(prog, fn) {
  const f = spawn(join(here, 'build/floor'), [prog], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise((res, rej) => {
    f.stdout.once('data', res);
    f.once('exit', () => rej(new Error(`floor ${prog} did not start`)));
  });
  try {
    return await fn();
  } finally {
    f.stdin.end();
    await new Promise((r) => f.once('exit', r));
  }
}

/**
 * With the tracer `bin` loaded: runs argv as its target 1 and returns its records after the
 * target exited and a flush (traced), or runs bystander() beside it (not traced).
 */
export async function withTracer(bin, argv, bystander) {
  const t = new Tracer([], bin);
  const ready = await t.waitFor((r) => r.t === 'ready' || r.t === 'error', { timeout: 30000 });
  if (ready.t !== 'ready') throw new Error(JSON.stringify(ready));
  try {
    if (bystander) return { bystander: await bystander(), records: [] };
    const l = await t.launch(1, argv);
    if (l.t !== 'launched') throw new Error(JSON.stringify(l));
    await t.waitFor((r) => r.t === 'exit' && r.target === 1 && r.pid === l.pid, { timeout: 300000 });
    await t.flush('f');
    return { records: t.records };
  } finally {
    await t.quit();
  }
}

/**
 * A C program that times its own loop, built under `work`: `includes` and `setup` (C text) before
 * the loop, `loop` its body (`i` counts); `run()` runs it untraced, `argv` runs it under a tracer,
 * `ns()` reads the last run's nanoseconds per iteration.
 */
export function selfTimed(work, name, { includes, setup = '', loop }, iters) {
  const prog = join(work, name);
  writeFileSync(`${prog}.c`, `${includes}
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
int main(int argc, char **argv) {
  long n = atol(argv[1]);
  ${setup}
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < n; i++) {
    ${loop}
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  FILE *f = fopen(argv[2], "w");
  fprintf(f, "%.1f\\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
  fclose(f);
  return 0;
}`);
  execFileSync('gcc', ['-O2', '-o', prog, `${prog}.c`]);
  const result = join(work, 'ns');
  const ns = () => Number(readFileSync(result, 'utf8'));
  const argv = [prog, String(iters), result];
  return {
    argv,
    ns,
    run() {
      const r = spawnSync(prog, argv.slice(1));
      if (r.status !== 0) throw new Error(`${name} failed: ${r.stderr}`);
      return ns();
    },
  };
}

/** The tracer binary of `rev` (built in a temporary worktree) and the one built now, both copied under `work`. */
export function tracers(rev, work) {
  const now = join(work, 'varmor-tracer');
  copyFileSync(join(repo, 'bpf/build/varmor-tracer'), now);
  return { before: tracerAt(rev, work), now };
}

/** The tracer binary of an earlier commit, built in a temporary worktree under `work`. */
function tracerAt(rev, work) {
  const tree = join(work, 'before');
  log(`building varmor-tracer at ${rev}`);
  execFileSync('git', ['-C', repo, 'worktree', 'add', '--detach', tree, rev], { stdio: 'ignore' });
  try {
    execFileSync('make', ['-s', '-C', join(tree, 'bpf')], { stdio: 'inherit' });
    const bin = join(work, 'varmor-tracer-before');
    copyFileSync(join(tree, 'bpf/build/varmor-tracer'), bin);
    return bin;
  } finally {
    execFileSync('git', ['-C', repo, 'worktree', 'remove', '--force', tree]);
  }
}
