// Pinned-state test helpers (--state-dir): loaders started and killed, state dirs released after
// the file, phased workloads and what the records say of them. Shared by pinning.test.mjs and
// shared-loader.test.mjs; not a test file.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, Tracer, loadable, sleep, unhex, which } from './harness.mjs';
export const skipReason = (await loadable(test, assert)) || (!which('bpftool') && 'bpftool not installed');

export const BASE = '/sys/fs/bpf/varmor-modeler-test';
export const RUN_BASE = '/run/varmor-modeler-test';
export const KEY = `k${process.pid}x${Date.now().toString(36)}`;
export const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'varmor-pin-'));
export const used = [];
export const loaders = []; // every loader started here: killed before the cleanup releases the state dirs
export const workloads = []; // launched pids, killed by the cleanup if a test failed half-way

export function stateDirs(name, { defaultSpool = false } = {}) {
  const sd = `${BASE}/${KEY}-${name}`;
  const sp = defaultSpool ? `${RUN_BASE}/${KEY}-${name}` : path.join(TMP, `spool-${name}`);
  used.push({ sd, sp });
  return { sd, sp, args: defaultSpool ? ['--state-dir', sd] : ['--state-dir', sd, '--spool-dir', sp] };
}

after(async () => {
  for (const t of loaders) {
    if (t.proc.exitCode === null && t.proc.signalCode === null) {
      t.proc.kill('SIGKILL');
      await t.exited;
    }
  }
  for (const pid of workloads) {
    let cmd = '';
    try { cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'); } catch {}
    if (cmd.includes(TMP)) process.kill(pid, 'SIGKILL'); // still our workload (not a reused pid)
  }
  for (const { sd, sp } of used) spawnSync(BIN, ['--release', sd, '--spool-dir', sp]);
  for (const d of [BASE, RUN_BASE]) try { fs.rmdirSync(d); } catch {}
  try { fs.rmSync(TMP, { recursive: true, force: true, maxRetries: 3 }); } catch {}
});

export async function start(args) {
  const t = new Tracer(args);
  loaders.push(t);
  const r = await t.waitFor((x) => x.t === 'ready' || x.t === 'error', { timeout: 30000, what: 'ready' });
  assert.equal(r.t, 'ready', `${JSON.stringify(r)} ${t.stderr}`);
  // an adopted loader replays the spool first: replies to new commands come after replay-end
  if (r.adopted) await t.waitFor((x) => x.t === 'replay-end', { what: 'replay-end' });
  return [t, r];
}

export async function sigkill(t) {
  t.proc.kill('SIGKILL');
  const e = await t.exited;
  assert.equal(e.signal, 'SIGKILL');
}

export const jbpftool = (...args) => {
  const r = spawnSync('bpftool', ['-j', ...args], { encoding: 'utf8' });
  return r.status === 0 ? JSON.parse(r.stdout) : undefined;
};

/** ids of the pinned links and maps of a state dir */
export function pinnedIds(sd) {
  const links = [], maps = [];
  for (const f of fs.readdirSync(sd)) {
    if (f.startsWith('link_')) links.push(jbpftool('link', 'show', 'pinned', path.join(sd, f)).id);
    else maps.push(jbpftool('map', 'show', 'pinned', path.join(sd, f)).id);
  }
  return { links, maps };
}

/** waits until none of the link and map ids exist any more (the kernel frees them asynchronously) */
export async function assertGone({ links, maps }) {
  let liveLinks, liveMaps;
  for (let i = 0; i < 50; i++) {
    const ll = new Set((jbpftool('link', 'list') ?? []).map((l) => l.id));
    const ml = new Set((jbpftool('map', 'list') ?? []).map((m) => m.id));
    liveLinks = links.filter((id) => ll.has(id));
    liveMaps = maps.filter((id) => ml.has(id));
    if (!liveLinks.length && !liveMaps.length) return;
    await sleep(100);
  }
  assert.fail(`still attached: links ${liveLinks}, maps ${liveMaps}`);
}

export async function waitFile(p, timeout = 60000) {
  for (let waited = 0; !fs.existsSync(p); waited += 20) {
    if (waited > timeout) throw new Error(`timeout waiting for ${p}`);
    await sleep(20);
  }
}

/** a workload in phases: phase N runs, touches mark<N>, then blocks on fifo<N> until go(N) */
export function phased(dir, phases) {
  fs.mkdirSync(dir, { recursive: true });
  let script = '';
  phases.forEach((cmds, i) => {
    const n = i + 1;
    spawnSync('mkfifo', [path.join(dir, `fifo${n}`)]);
    script += `${cmds}\n: > ${dir}/mark${n}\nread g < ${dir}/fifo${n}\n`;
  });
  return {
    argv: ['sh', '-c', script],
    reached: (n) => waitFile(path.join(dir, `mark${n}`)),
    go: (n) => fs.promises.writeFile(path.join(dir, `fifo${n}`), 'go\n'),
  };
}

/** behaviors of target T in a record list; paths under dir are written as $D */
export function behaviors(records, T, dir) {
  const b = { syscalls: new Set(), execs: new Set(), files: new Map() };
  for (const r of records) {
    if (r.target !== T) continue;
    if (r.t === 'syscall') b.syscalls.add(r.nr);
    else if (r.t === 'exec') b.execs.add(unhex(r.path_hex));
    else if (r.t === 'file') {
      const p = unhex(r.path_hex).replace(dir, '$D');
      const s = b.files.get(p) ?? new Set();
      for (const x of r.perms) s.add(x);
      b.files.set(p, s);
    }
  }
  return b;
}

export const replayed = async (t) => {
  await t.waitFor((r) => r.t === 'replay-end', { what: 'replay-end' });
  const begin = t.records.findIndex((r) => r.t === 'replay-begin');
  const end = t.records.findIndex((r) => r.t === 'replay-end');
  assert.ok(begin >= 0 && end > begin, 'replay-begin ... replay-end');
  assert.equal(t.records[end].records, end - begin - 1, 'replay-end counts the replayed records');
  return t.records.slice(begin + 1, end);
};

export const fileRec = (T, dir, name) => (r) => r.t === 'file' && r.target === T && unhex(r.path_hex) === path.join(dir, name);

export const PHASES = (D) => [
  // 1: the first loader sees this
  `cat /etc/hostname >/dev/null; mkdir ${D}/p1dir; echo x > ${D}/p1file`,
  // 2: runs while no loader is alive
  `uname -a >/dev/null; echo y > ${D}/p2file; mkdir ${D}/p2dir; ln -s p2file ${D}/p2link; rm ${D}/p1file; chmod 600 ${D}/p2file`,
  // 3: after the new loader adopted the pins; then it waits to be killed
  `id >/dev/null; touch ${D}/p3file`,
];
