// Pod targets: runc containers placed under a common pod cgroup laid out like the kubelet's
// cgroupfs driver (/kubepods/besteffort/pod<uid>/<container>), tracked with `track T pod UID`.
// A container that starts later in the pod is followed by the kernel (exec sessions into it are
// sessions); the sandbox (/pause), a container of another pod and a host bystander never show up.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BUSYBOX, Tracer, containerSkip, loadable, sh, sleep, unhex } from './harness.mjs';

const skipReason = (await loadable(test, assert)) || containerSkip();

const CGROOT = '/sys/fs/cgroup';
const POD = crypto.randomUUID();
const OTHER_POD = crypto.randomUUID();
const podPath = (uid) => `/kubepods/besteffort/pod${uid}`;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'varmor-pod-'));
const cleanups = [() => fs.rmSync(work, { recursive: true, force: true })];
after(() => { for (const f of cleanups.reverse()) try { f(); } catch {} });

// cgroup hierarchies (v1 controllers and the v2 tree) and which kubepods dirs this test makes
const hierarchies = fs.existsSync(CGROOT) ? fs.readdirSync(CGROOT).map((d) => path.join(CGROOT, d)).filter((d) => fs.existsSync(path.join(d, 'cgroup.procs'))) : [];
const preexisting = new Set(hierarchies.flatMap((h) => ['/kubepods', '/kubepods/besteffort'].filter((p) => fs.existsSync(h + p)).map((p) => h + p)));
cleanups.unshift(() => {
  // after every container is deleted (cleanups run in reverse): the pod cgroups, deepest first
  for (const h of hierarchies) {
    for (const uid of [POD, OTHER_POD]) {
      const dir = h + podPath(uid);
      if (!fs.existsSync(dir)) continue;
      for (const c of fs.readdirSync(dir, { withFileTypes: true })) if (c.isDirectory()) try { fs.rmdirSync(path.join(dir, c.name)); } catch {}
      try { fs.rmdirSync(dir); } catch {}
    }
    for (const p of ['/kubepods/besteffort', '/kubepods']) if (!preexisting.has(h + p)) try { fs.rmdirSync(h + p); } catch {}
  }
});

let pauseBin;
/** A runc bundle whose container runs `args` in the cgroup /kubepods/besteffort/pod<uid>/<id>. */
function bundle(name, uid, args) {
  const id = crypto.randomBytes(32).toString('hex');
  const dir = path.join(work, name);
  const rootfs = path.join(dir, 'rootfs');
  for (const d of ['bin', 'etc', 'proc', 'dev', 'sys', 'tmp']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
  fs.copyFileSync(BUSYBOX, path.join(rootfs, 'bin/busybox'));
  fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
  for (const a of ['sh', 'cat', 'ls', 'sleep', 'touch']) fs.symlinkSync('busybox', path.join(rootfs, 'bin', a));
  fs.copyFileSync(pauseBin, path.join(rootfs, 'pause'));
  fs.chmodSync(path.join(rootfs, 'pause'), 0o755);
  fs.writeFileSync(path.join(rootfs, 'etc/passwd'), 'root:x:0:0::/:/bin/sh\n');
  sh('runc', ['spec'], { cwd: dir });
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  config.process.terminal = false;
  config.process.args = args;
  config.root.readonly = false;
  config.linux.cgroupsPath = `${podPath(uid)}/${id}`;
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 1));
  return { id, dir, rootfs, name };
}

/** Starts the container detached; returns its init's host pid. */
function run(b) {
  const log = path.join(work, `${b.name}.log`);
  // stdio ignored: a detached container keeps whatever runc had as stdio open
  const r = spawnSync('runc', ['--log', log, 'run', '-d', '--bundle', b.dir, b.id], { stdio: 'ignore', timeout: 30000 });
  cleanups.push(() => spawnSync('runc', ['delete', '-f', b.id], { stdio: 'ignore' }));
  if (r.status !== 0) throw new Error(`runc run ${b.name} failed: ${fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : r.status}`);
  return JSON.parse(sh('runc', ['state', b.id])).pid;
}

async function waitFile(p, what) {
  for (let i = 0; i < 200 && !fs.existsSync(p); i++) await sleep(50);
  assert.ok(fs.existsSync(p), what);
}

// a container that leaves marker files and keeps running
const script = (n) => ['/bin/sh', '-c', `echo ${n} > /tmp/${n}.txt; /bin/cat /etc/passwd > /dev/null; /bin/touch /tmp/${n}.done; exec /bin/sleep 100000`];

test('pod target: new containers of the pod are followed, sessions tagged, sandbox, other pods and bystanders never seen', { skip: skipReason, timeout: 180000 }, async () => {
  fs.writeFileSync(path.join(work, 'pause.c'), '#include <unistd.h>\nint main(void) { for (;;) pause(); }\n');
  pauseBin = path.join(work, 'pause');
  sh('gcc', ['-static', '-O1', '-o', pauseBin, path.join(work, 'pause.c')]);
  const tr = new Tracer();
  cleanups.push(() => tr.proc.kill('SIGKILL'));
  await tr.waitFor((r) => r.t === 'ready', { timeout: 30000 });
  const T = 12;

  // the pod before tracking: its sandbox and container A (waits for /tmp/go, then writes)
  const sandbox = bundle('sandbox', POD, ['/pause']);
  const sandboxPid = run(sandbox);
  const a = bundle('a', POD, ['/bin/sh', '-c', 'while [ ! -e /tmp/go ]; do /bin/sleep 0.1; done; echo a > /tmp/a.txt; exec /bin/sleep 100000']);
  const aPid = run(a);

  // malformed and unknown uids are answered
  const bad = await tr.request(`track ${T} pod x/y`, (r) => r.t === 'tracked' && r.target === T);
  assert.match(bad.error, /pod uid/);
  const none = await tr.request(`track ${T} pod ${crypto.randomUUID()}`, (r) => r.t === 'tracked' && r.target === T);
  assert.equal(none.error, 'no such pod');

  const tracked = await tr.request(`track ${T} pod ${POD}`, (r) => r.t === 'tracked' && r.target === T && !r.error);
  assert.equal(tracked.pod, POD);
  assert.ok(tracked.cgroup.endsWith(podPath(POD)), tracked.cgroup);
  assert.equal(tracked.cgroup_id, fs.statSync(tracked.cgroup).ino, 'cgroup_id is the pod directory inode (kernfs id)');
  assert.deepEqual(tracked.containers, [a.id], 'the running container, not the sandbox');
  assert.equal(tracked.sandbox, sandbox.id);
  assert.ok(tracked.pids >= 1);
  assert.equal(tracked.sessions, 0);

  const byFile = path.join(os.tmpdir(), `varmor-pod-bystander-${process.pid}`);
  const bystander = spawn(BUSYBOX, ['sh', '-c', `while :; do echo x > ${byFile}; cat ${byFile} >/dev/null; sleep 0.05; done`], { stdio: 'ignore' });
  cleanups.push(() => bystander.kill('SIGKILL'), () => fs.rmSync(byFile, { force: true }));

  // new containers after tracking: B in the pod, a second sandbox in the pod, O in another pod
  const b = bundle('b', POD, script('b'));
  const bPid = run(b);
  const sandbox2 = bundle('sandbox2', POD, ['/pause']);
  const sandbox2Pid = run(sandbox2);
  const o = bundle('o', OTHER_POD, script('o'));
  const oPid = run(o);
  fs.writeFileSync(path.join(a.rootfs, 'tmp/go'), '');
  await waitFile(path.join(b.rootfs, 'tmp/b.done'), 'B ran');
  await waitFile(path.join(o.rootfs, 'tmp/o.done'), 'O ran');
  await waitFile(path.join(a.rootfs, 'tmp/a.txt'), 'A ran');
  // an exec session into the new container
  sh('runc', ['exec', b.id, '/bin/ls', '/tmp']);
  await sleep(200);
  const flushed = await tr.flush('p1');
  const stats = flushed.find((r) => r.t === 'stats' && r.target === T);
  for (const k of ['ringbuf_dropped', 'tasks_full', 'mntns_full']) assert.equal(stats[k], 0, k);

  const mine = tr.of(T);
  const wl = mine.filter((r) => r.session === undefined);
  const sess = mine.filter((r) => r.session === 'exec');
  const joined = mine.filter((r) => r.t === 'container-joined');
  assert.deepEqual(joined.map((r) => [r.pid, r.container]), [[bPid, b.id]], 'B joined, named by its cgroup; not the sandbox');
  const execs = (recs) => recs.filter((r) => r.t === 'exec').map((r) => unhex(r.filename_hex));
  assert.ok(wl.some((r) => r.t === 'exec' && r.pid === bPid && unhex(r.filename_hex) === '/bin/sh'), 'B entrypoint is workload');
  assert.ok(execs(wl).includes('/bin/cat'), 'B child exec');
  const files = (recs) => recs.filter((r) => r.t === 'file').map((r) => `${unhex(r.path_hex)} ${r.perms.join(',')}`);
  assert.ok(files(wl).some((f) => f.startsWith('/tmp/b.txt ') && f.includes('create')), 'B file, container view');
  assert.ok(files(wl).some((f) => f.startsWith('/tmp/a.txt ') && f.includes('create')), 'A (running at track time) file');
  assert.ok(wl.some((r) => r.pid === aPid), 'A init tracked');

  // the session into B: tagged, kept apart
  assert.ok(sess.some((r) => r.t === 'joined'), 'session joined');
  assert.ok(execs(sess).includes('/bin/ls'), JSON.stringify(execs(sess)));
  assert.ok(!execs(wl).includes('/bin/ls'), 'session exec not in the workload');
  assert.ok(files(sess).every((f) => !f.startsWith('/tmp/b.txt')), 'workload files not in the session');

  // never: the sandboxes, the other pod's container, the bystander
  const all = tr.records;
  for (const [pid, what] of [[sandboxPid, 'sandbox'], [sandbox2Pid, 'new sandbox'], [oPid, 'other pod'], [bystander.pid, 'bystander']])
    assert.ok(!all.some((r) => r.pid === pid || r.ppid === pid), `${what} (pid ${pid}) not recorded`);
  assert.ok(!all.some((r) => r.t === 'exec' && unhex(r.path_hex) === '/pause'), 'no /pause exec');
  assert.ok(!all.some((r) => r.path_hex && /o\.(txt|done)|varmor-pod-bystander/.test(unhex(r.path_hex))), 'no files of O or the bystander');

  // a pod whose containers all exited is not empty: a restarted container is followed again
  const from = tr.records.length;
  for (const c of [a, b]) sh('runc', ['kill', c.id, 'KILL']);
  await tr.waitFor((r) => r.t === 'exit' && r.pid === aPid, { from, what: 'A exit' });
  await tr.waitFor((r) => r.t === 'exit' && r.pid === bPid, { from, what: 'B exit' });
  const c = bundle('c', POD, script('c'));
  const cPid = run(c);
  await tr.waitFor((r) => r.t === 'container-joined' && r.pid === cPid && r.container === c.id, { from, what: 'C joined' });
  await waitFile(path.join(c.rootfs, 'tmp/c.done'), 'C ran');
  await tr.flush('p2');
  assert.ok(!tr.records.slice(from).some((r) => r.t === 'target-empty'), 'no target-empty for a pod target');
  assert.ok(tr.of(T, 'file').some((r) => unhex(r.path_hex) === '/tmp/c.txt' && r.session === undefined), 'C file');

  // untrack: the pod is no longer followed, nor are sessions into its containers
  const untracked = await tr.request(`untrack ${T}`, (r) => r.t === 'untracked' && r.target === T);
  assert.ok(untracked.pids >= 1);
  const d = bundle('d', POD, script('d'));
  const dPid = run(d);
  await waitFile(path.join(d.rootfs, 'tmp/d.done'), 'D ran');
  sh('runc', ['exec', c.id, '/bin/ls', '/']);
  await sleep(200);
  await tr.flush('p3');
  const late = tr.records.slice(untracked.index + 1).filter((r) => r.target === T);
  assert.deepEqual(late, [], 'nothing of T after untrack');
  assert.ok(!tr.records.some((r) => r.pid === dPid), 'D not followed');
  assert.equal(tr.garbage.length, 0);
  assert.equal((await tr.quit()).code, 0);
});
