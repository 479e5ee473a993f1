// Pod targets on the cgroup v2 tree (`--pod-cgroup v2`), also on a cgroup v1 host: the unified
// hierarchy exists beside the v1 controllers, so cgroup2 is mounted on a temp dir and kubelet-style
// trees are made in it below a cgroup root of this test's own (kubelet --cgroup-root): the cgroupfs
// driver's kubepods/besteffort/pod<uid>/<ctr> and the systemd driver's
// kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid_>.slice/cri-containerd-<id>.scope.
// A container starts as a runtime starts one: a process moved into the container's cgroup
// (cgroup.procs) that enters a new mount namespace (unshare -m) and execs.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, BUSYBOX, Tracer, loadable, sh, sleep, unhex, which } from './harness.mjs';

const skipReason = (await loadable(test, assert)) || (!BUSYBOX && 'busybox not installed') ||
  (!(which('unshare') && which('nsenter')) && 'unshare/nsenter (util-linux) not installed');

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'varmor-podv2-'));
const MNT = path.join(work, 'cgroup2');
const ROOT = path.join(MNT, `varmor-test-${process.pid}`);
const STATE = `/sys/fs/bpf/varmor-modeler-test/podv2-${process.pid}x${Date.now().toString(36)}`;
const procs = []; // every process started here, killed before the cgroups are removed
const loaders = [];
let mounted = false;

/** cgroup dirs below dir, deepest first */
const cgroupsBelow = (dir) => fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory())
  .flatMap((e) => [...cgroupsBelow(path.join(dir, e.name)), path.join(dir, e.name)]);

after(async () => {
  for (const p of [...procs, ...loaders.map((t) => t.proc)]) {
    if (p.exitCode === null && p.signalCode === null) {
      p.kill('SIGKILL');
      await new Promise((res) => p.once('exit', res));
    }
  }
  spawnSync(BIN, ['--release', STATE, '--spool-dir', path.join(work, 'spool')]);
  try { fs.rmdirSync(path.dirname(STATE)); } catch {}
  if (mounted) {
    // a short-lived child of a killed process may still be in its cgroup for a moment
    if (fs.existsSync(ROOT)) {
      for (const d of [...cgroupsBelow(ROOT), ROOT]) {
        for (let i = 0; ; i++) {
          try { fs.rmdirSync(d); break; } catch (e) { if (e.code !== 'EBUSY' || i === 40) throw e; }
          await sleep(50);
        }
      }
    }
    sh('umount', [MNT]);
  }
  fs.rmSync(work, { recursive: true, force: true });
});

function mountV2() {
  fs.mkdirSync(MNT);
  sh('mount', ['-t', 'cgroup2', 'none', MNT]);
  mounted = true;
}

const hexId = () => crypto.randomBytes(32).toString('hex');
/** a pod's cgroup laid out by the cgroupfs or the systemd driver, and a container cgroup in it */
function podDir(uid, driver) {
  const dir = driver === 'systemd'
    ? path.join(ROOT, 'kubepods.slice/kubepods-besteffort.slice', `kubepods-besteffort-pod${uid.replaceAll('-', '_')}.slice`)
    : path.join(ROOT, 'kubepods/besteffort', `pod${uid}`);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}
function containerDir(pod, driver) {
  const id = hexId();
  const dir = path.join(pod, driver === 'systemd' ? `cri-containerd-${id}.scope` : id);
  fs.mkdirSync(dir);
  return { id, dir };
}

/**
 * A process that moves itself into the cgroup `dir`, then (newNs) enters a new mount namespace and
 * execs busybox sh running `script` (W: the work dir). Without newNs it stays in its parent's mount
 * namespace, as a runtime's helper in the pod's cgroup does.
 */
function start(dir, script, { newNs = true } = {}) {
  const exec = `${newNs ? 'unshare -m ' : ''}${BUSYBOX} sh -c "$SCRIPT"`;
  const p = spawn(BUSYBOX, ['sh', '-c', `echo $$ > ${dir}/cgroup.procs && exec ${exec}`],
    { stdio: 'ignore', env: { ...process.env, SCRIPT: script, W: work } });
  procs.push(p);
  return p;
}
// a container that leaves marker files and keeps running
const script = (n) => `echo ${n} > $W/${n}.txt; /bin/cat $W/${n}.txt > /dev/null; touch $W/${n}.done; exec sleep 100000`;

async function waitFile(n, what) {
  const p = path.join(work, `${n}.done`);
  for (let i = 0; i < 200 && !fs.existsSync(p); i++) await sleep(50);
  assert.ok(fs.existsSync(p), what);
}

const execs = (recs) => recs.filter((r) => r.t === 'exec').map((r) => unhex(r.filename_hex));
const files = (recs) => recs.filter((r) => r.t === 'file').map((r) => unhex(r.path_hex));

test('pod target on cgroup v2: new containers (cgroupfs and systemd layouts) followed; helpers, other pods, bystanders not', { skip: skipReason, timeout: 120000 }, async () => {
  mountV2();
  const POD = crypto.randomUUID();
  const SYSD_POD = crypto.randomUUID();
  const OTHER_POD = crypto.randomUUID();
  const pod = podDir(POD, 'cgroupfs');
  const sysdPod = podDir(SYSD_POD, 'systemd');
  const other = podDir(OTHER_POD, 'cgroupfs');

  const tr = new Tracer(['--pod-cgroup', 'v2']);
  loaders.push(tr);
  await tr.waitFor((r) => r.t === 'ready', { timeout: 30000 });
  const T = 21;
  const T2 = 22;

  // container A runs before the track (waits for $W/go, then writes)
  const a = containerDir(pod, 'cgroupfs');
  const aProc = start(a.dir, 'while [ ! -e $W/go ]; do sleep 0.1; done; echo a > $W/a.txt; exec sleep 100000');
  for (let i = 0; i < 100 && !fs.readFileSync(path.join(a.dir, 'cgroup.procs'), 'utf8').trim(); i++) await sleep(50);
  await sleep(200); // past its unshare exec

  const tracked = await tr.request(`track ${T} pod ${POD}`, (r) => r.t === 'tracked' && r.target === T);
  assert.equal(tracked.error, undefined, JSON.stringify(tracked));
  assert.ok(tracked.cgroup.endsWith(path.relative(MNT, pod)), tracked.cgroup);
  assert.equal(tracked.cgroup_id, fs.statSync(pod).ino, 'cgroup_id is the v2 pod directory (kernfs id)');
  assert.deepEqual(tracked.containers, [a.id], 'the running container, found by its v2 cgroup');
  assert.ok(tracked.pids >= 1);
  const tracked2 = await tr.request(`track ${T2} pod ${SYSD_POD}`, (r) => r.t === 'tracked' && r.target === T2);
  assert.equal(tracked2.error, undefined, JSON.stringify(tracked2));
  assert.ok(tracked2.cgroup.endsWith(path.relative(MNT, sysdPod)), tracked2.cgroup);
  assert.deepEqual(tracked2.containers, []);

  const bystander = spawn(BUSYBOX, ['sh', '-c', 'while :; do echo x > $W/bystander; cat $W/bystander >/dev/null; sleep 0.05; done'],
    { stdio: 'ignore', env: { ...process.env, W: work } });
  procs.push(bystander);

  // after tracking: B (cgroupfs pod), S (systemd pod), a helper in B's pod without a mount
  // namespace of its own, O in another pod (with one)
  const b = containerDir(pod, 'cgroupfs');
  const bProc = start(b.dir, script('b'));
  const s = containerDir(sysdPod, 'systemd');
  const sProc = start(s.dir, script('s'));
  const helper = start(containerDir(pod, 'cgroupfs').dir, script('helper'), { newNs: false });
  const o = containerDir(other, 'cgroupfs');
  const oProc = start(o.dir, script('o'));
  fs.writeFileSync(path.join(work, 'go'), '');
  for (const n of ['b', 's', 'helper', 'o']) await waitFile(n, `${n} ran`);
  for (let i = 0; i < 100 && !fs.existsSync(path.join(work, 'a.txt')); i++) await sleep(50);
  // an exec session into B's mount namespace
  sh('nsenter', ['-t', String(bProc.pid), '-m', '/bin/cat', path.join(work, 'b.txt')]);
  await sleep(200);
  const flushed = await tr.flush('v2a');
  const stats = flushed.find((r) => r.t === 'stats' && r.target === T);
  for (const k of ['ringbuf_dropped', 'tasks_full', 'mntns_full']) assert.equal(stats[k], 0, k);

  console.log(JSON.stringify(tr.records.filter(r=>r.t==='container-joined'||r.t==='joined'||r.t==='tracked')), bProc.pid, sProc.pid, helper.pid);
  const wl = tr.of(T).filter((r) => r.session === undefined);
  const sess = tr.of(T).filter((r) => r.session === 'exec');
  assert.deepEqual(tr.of(T, 'container-joined').map((r) => [r.pid, r.container]), [[bProc.pid, b.id]], 'B joined, named by its v2 cgroup');
  assert.ok(wl.some((r) => r.t === 'exec' && r.pid === bProc.pid && unhex(r.filename_hex) === BUSYBOX), 'B entrypoint is workload');
  assert.ok(execs(wl).includes('/bin/cat'), 'B child exec');
  assert.ok(files(wl).includes(path.join(work, 'b.txt')), 'B file');
  assert.ok(files(wl).includes(path.join(work, 'a.txt')), 'A (running at track time) file');
  assert.ok(wl.some((r) => r.pid === aProc.pid), 'A tracked');
  assert.ok(sess.some((r) => r.t === 'joined'), 'session into B joined');
  assert.ok(execs(sess).includes('/bin/cat') && sess.every((r) => r.pid !== bProc.pid), 'the session, kept apart from B');
  assert.deepEqual(tr.of(T2, 'container-joined').map((r) => [r.pid, r.container]), [[sProc.pid, s.id]],
    'S joined the systemd-layout pod, named by the 64-hex run of cri-containerd-<id>.scope');
  assert.ok(files(tr.of(T2)).includes(path.join(work, 's.txt')), 'S file');
  for (const [p, what] of [[helper, 'helper without a new mount namespace'], [oProc, 'other pod'], [bystander, 'bystander']])
    assert.ok(!tr.records.some((r) => r.pid === p.pid || r.ppid === p.pid), `${what} (pid ${p.pid}) not recorded`);
  assert.ok(!tr.records.some((r) => r.path_hex && /(helper|o)\.(txt|done)$|bystander$/.test(unhex(r.path_hex))), 'no files of the helper, O or the bystander');

  // untrack: a new container of the pod and a session into B are no longer followed
  const untracked = await tr.request(`untrack ${T}`, (r) => r.t === 'untracked' && r.target === T);
  assert.ok(untracked.pids >= 2);
  const dProc = start(containerDir(pod, 'cgroupfs').dir, script('d'));
  await waitFile('d', 'D ran');
  sh('nsenter', ['-t', String(bProc.pid), '-m', '/bin/cat', path.join(work, 'b.txt')]);
  await sleep(200);
  await tr.flush('v2b');
  assert.deepEqual(tr.records.slice(untracked.index + 1).filter((r) => r.target === T), [], 'nothing of T after untrack');
  assert.ok(!tr.records.some((r) => r.pid === dProc.pid), 'D not followed');
  assert.equal(tr.garbage.length, 0);
  assert.equal((await tr.quit()).code, 0);
});

test('--pod-cgroup: unknown values refused; an adopted state keeps the hierarchy its programs were loaded with', { skip: skipReason, timeout: 120000 }, async () => {
  if (!mounted) mountV2();
  const bad = spawnSync(BIN, ['--pod-cgroup', 'v3'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--pod-cgroup v3: expected auto, v2, pids, memory or cpu/);

  const POD = crypto.randomUUID();
  const pod = podDir(POD, 'systemd');
  const state = ['--state-dir', STATE, '--spool-dir', path.join(work, 'spool')];
  const launch = async (args) => {
    const t = new Tracer(args);
    loaders.push(t);
    return [t, await t.waitFor((r) => r.t === 'ready' || r.t === 'error', { timeout: 30000 })];
  };
  const T = 23;
  const trackPod = (t) => t.request(`track ${T} pod ${POD}`, (r) => r.t === 'tracked' && r.target === T);

  // what auto picks here: a v1 pids, memory or cpu hierarchy if one is mounted (then the pod,
  // which exists in v2 only, is not found), else v2
  const v1 = ['pids', 'memory', 'cpu'].find((c) => fs.readFileSync('/proc/self/mounts', 'utf8').split('\n')
    .some((l) => l.split(' ')[2] === 'cgroup' && l.split(' ')[3].split(',').includes(c)));
  const [auto] = await launch([]);
  assert.equal((await trackPod(auto)).error, v1 ? 'no such pod' : undefined, `auto picks ${v1 ?? 'v2'}`);
  assert.equal((await auto.quit()).code, 0);

  const [fresh, ready] = await launch([...state, '--pod-cgroup', 'v2']);
  assert.equal(ready.adopted, false);
  assert.equal((await fresh.quit()).code, 0); // handoff: the programs stay attached

  // adopted without --pod-cgroup (auto): the v2 programs' hierarchy, not what auto would pick
  const [adopter, ready2] = await launch(state);
  assert.equal(ready2.adopted, true, JSON.stringify(ready2));
  await adopter.waitFor((r) => r.t === 'replay-end');
  const tracked = await trackPod(adopter);
  assert.equal(tracked.error, undefined, JSON.stringify(tracked));
  assert.equal(tracked.cgroup_id, fs.statSync(pod).ino);
  const c = containerDir(pod, 'systemd');
  const cProc = start(c.dir, script('c'));
  await adopter.waitFor((r) => r.t === 'container-joined' && r.pid === cProc.pid && r.container === c.id, { what: 'C joined' });
  await waitFile('c', 'C ran');
  await adopter.flush('v2c');
  assert.ok(files(adopter.of(T)).includes(path.join(work, 'c.txt')), 'C file');
  assert.equal((await adopter.quit()).code, 0);

  // another explicit hierarchy is refused: the loaded programs read v2
  if (v1) {
    const r = spawnSync(BIN, [...state, '--pod-cgroup', v1], { encoding: 'utf8', input: '' });
    assert.equal(r.status, 1);
    assert.match(r.stdout, /was loaded with pod cgroup hierarchy v2, not .*--release/);
  }
  const [last, ready3] = await launch([...state, '--pod-cgroup', 'v2']);
  assert.equal(ready3.adopted, true, 'the same explicit choice adopts');
  last.send('release');
  await last.waitFor((r) => r.t === 'released', { what: 'released' });
  assert.equal((await last.exited).code, 0);
});
