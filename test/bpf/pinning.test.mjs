// Pinned state (--state-dir): a loader killed with SIGKILL and restarted loses nothing.
// Real kernel; needs root and bpffs (the loader mounts /sys/fs/bpf if needed). See bpf/README.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, Tracer, hex, isX86, sleep, unhex } from './harness.mjs';
import { skipReason, BASE, TMP, loaders, workloads, stateDirs, start, sigkill, jbpftool, pinnedIds, assertGone, waitFile, phased, behaviors, replayed, fileRec, PHASES } from './pinned.mjs';

test('SIGKILL mid-window and restart: adopted state, spool replay and ring backlog lose nothing', { skip: skipReason, timeout: 120000 }, async () => {
  const T = 1;
  // control: the same workload, one loader, no kill
  const CD = path.join(TMP, 'control');
  const cw = phased(CD, PHASES(CD));
  const [ctl] = await start([]);
  const cl = await ctl.launch(T, cw.argv);
  workloads.push(cl.pid);
  assert.equal(cl.t, 'launched');
  for (const n of [1, 2]) {
    await cw.reached(n);
    await cw.go(n);
  }
  await cw.reached(3);
  await ctl.flush('c0');
  await ctl.request(`kill ${T} 2000`, (r) => r.t === 'killed' && r.target === T, 'killed');
  await ctl.waitFor((r) => r.t === 'target-empty' && r.target === T, { what: 'control target-empty' });
  const ctlFlush = await ctl.flush('c1');
  assert.equal((await ctl.quit()).code, 0);
  const control = behaviors(ctl.records, T, CD);
  const controlCounts = ctlFlush.find((r) => r.t === 'counts' && r.target === T).syscalls;

  // the run with a SIGKILL in the middle
  const D = path.join(TMP, 'killed');
  const w = phased(D, PHASES(D));
  const { sd, sp, args } = stateDirs('a');
  const [a, readyA] = await start(args);
  assert.equal(readyA.adopted, false);
  assert.match(readyA.generation, /^[0-9a-f]{32}$/);
  for (const f of ['meta', 'map_tasks', 'map_events', 'map_objs', 'map_tracked', 'link_on_sys_exit', 'link_on_exit']) assert.ok(fs.existsSync(path.join(sd, f)), `${f} pinned`);

  const l = await a.launch(T, w.argv);

  workloads.push(l.pid);
  assert.equal(l.t, 'launched');
  await w.reached(1);
  await a.waitFor(fileRec(T, D, 'p1file'), { what: 'p1file from loader A' });
  const aFlush = await a.flush('a1'); // not checkpointed: everything stays in the spool
  const aCounts = aFlush.find((r) => r.t === 'counts' && r.target === T).syscalls;
  await sigkill(a);

  // an untracked bystander works during the downtime too
  const BY = path.join(TMP, 'bystander');
  fs.mkdirSync(BY);
  const bystander = spawn('sh', ['-c', `uname -r >/dev/null; touch ${BY}/seen; sleep 30`], { stdio: 'ignore' });

  await w.go(1); // phase 2 while no loader runs
  await w.reached(2);
  await waitFile(path.join(BY, 'seen'));
  await sleep(200);

  const [b, readyB] = await start(args);
  try {
    assert.equal(readyB.adopted, true);
    assert.equal(readyB.generation, readyA.generation, 'same generation');
    assert.deepEqual(readyB.targets, [{ target: T, pids: 1, root: l.pid }]);
    const replay = await replayed(b);
    assert.ok(replay.some((r) => r.t === 'launched' && r.pid === l.pid), 'replay has A\'s launched record');
    assert.ok(replay.some(fileRec(T, D, 'p1file')), 'replay has A\'s records');
    assert.ok(!replay.some((r) => r.t === 'flushed'), 'flush markers are not replayed');
    // the downtime's records come from the ring buffer backlog
    await b.waitFor(fileRec(T, D, 'p2link'), { what: 'p2link from the backlog' });

    await w.go(2);
    await w.reached(3);
    await b.waitFor(fileRec(T, D, 'p3file'), { what: 'p3file live' });
    const bFlush = await b.flush('b1');
    const bCounts = bFlush.find((r) => r.t === 'counts' && r.target === T).syscalls;

    // kill works for the adopted target (the launched root is no child of this loader)
    const killed = await b.request(`kill ${T} 2000`, (r) => r.t === 'killed' && r.target === T, 'killed');
    assert.equal(killed.pids, 1);
    const exit = await b.waitFor((r) => r.t === 'exit' && r.pid === l.pid, { what: 'exit of the launched root' });
    assert.equal(exit.signal, 15);
    await b.waitFor((r) => r.t === 'target-empty' && r.target === T, { what: 'target-empty after kill' });
    await b.flush('b2');

    // the union of both loaders' output covers every behavior of the control run
    const union = behaviors([...a.records, ...b.records], T, D);
    for (const e of control.execs) assert.ok(union.execs.has(e), `exec ${e}`);
    for (const p of ['/usr/bin/cat', '/usr/bin/uname', '/usr/bin/id', '/usr/bin/touch']) assert.ok(union.execs.has(fs.realpathSync(p)), p);
    for (const [p, perms] of control.files) {
      const got = union.files.get(p);
      assert.ok(got, `file ${p}`);
      for (const x of perms) assert.ok(got.has(x), `${p} ${x}`);
    }
    for (const f of ['p1dir', 'p2file', 'p2dir', 'p2link', 'p1file', 'p3file']) assert.ok(union.files.has(`$D/${f}`), f);
    assert.ok(union.files.get('$D/p1file').has('delete'), 'rm during the downtime');
    assert.ok(union.files.get('$D/p2file').has('chmod'), 'chmod during the downtime');
    for (const nr of control.syscalls) assert.ok(union.syscalls.has(nr), `syscall ${nr}`);
    if (isX86) assert.ok(union.syscalls.has(63), 'uname(2) during the downtime');

    // counts are cumulative over both loaders
    for (const [nr, n] of Object.entries(aCounts)) assert.ok(bCounts[nr] >= n, `count of ${nr}: ${bCounts[nr]} >= ${n}`);
    if (isX86) {
      assert.equal(bCounts['59'], controlCounts['59'], 'execve count over both loaders');
      assert.equal(bCounts['63'], controlCounts['63'], 'uname count');
    }
    const stats = bFlush.find((r) => r.t === 'stats' && r.target === T);
    assert.equal(stats.ringbuf_dropped, 0);

    // the bystander never appears
    for (const r of [...a.records, ...b.records]) {
      assert.notEqual(r.pid, bystander.pid, 'bystander pid');
      if (r.path_hex) assert.ok(!unhex(r.path_hex).startsWith(BY), `bystander path ${unhex(r.path_hex)}`);
    }

    // release: no pins, no spool, no links or maps left
    const ids = pinnedIds(sd);
    assert.equal(ids.links.length, 7); // sys_exit, fork, exit, exec, cap_capable, signal_generate, io_uring_complete
    b.send('release');
    const rel = await b.waitFor((r) => r.t === 'released', { what: 'released' });
    assert.equal(rel.generation, readyA.generation);
    assert.equal((await b.exited).code, 0);
    assert.ok(!fs.existsSync(sd), 'state dir removed');
    assert.ok(!fs.existsSync(sp), 'spool removed');
    await assertGone(ids);
  } finally {
    bystander.kill('SIGKILL');
    if (b.proc.exitCode === null) b.proc.kill('SIGKILL');
  }
});

test('checkpointed drops the spool up to its flush; a later adoption replays only what follows', { skip: skipReason, timeout: 60000 }, async () => {
  const T = 2;
  const D = path.join(TMP, 'ckpt');
  const w = phased(D, [`touch ${D}/c1`, `touch ${D}/c2`, `touch ${D}/c3`]);
  const { sd, args } = stateDirs('b');
  const [a, readyA] = await start(args);
  const l = await a.launch(T, w.argv);
  workloads.push(l.pid);
  assert.equal(l.t, 'launched');
  await w.reached(1);
  await a.waitFor(fileRec(T, D, 'c1'), { what: 'c1' });
  await a.flush('x1');
  const ck = await a.request('checkpointed x1', (r) => r.t === 'checkpointed', 'checkpointed');
  assert.equal(ck.token, 'x1');
  assert.ok(ck.dropped > 3 && ck.files === 1 && !ck.error, JSON.stringify(ck));
  const unknown = await a.request('checkpointed nope', (r) => r.t === 'checkpointed', 'checkpointed');
  assert.equal(unknown.dropped, 0);
  assert.ok(unknown.error);

  await w.go(1);
  await w.reached(2);
  await a.waitFor(fileRec(T, D, 'c2'), { what: 'c2' });
  await a.flush('x2'); // flushed but never checkpointed
  await w.go(2);
  await w.reached(3);
  await a.waitFor(fileRec(T, D, 'c3'), { what: 'c3' });
  await sigkill(a);

  const [b, readyB] = await start(args);
  try {
    assert.equal(readyB.adopted, true);
    assert.equal(readyB.generation, readyA.generation);
    const replay = await replayed(b);
    assert.ok(!replay.some(fileRec(T, D, 'c1')), 'c1 was checkpointed: not replayed');
    assert.ok(!replay.some((r) => r.t === 'launched'), 'nothing before the checkpoint');
    assert.ok(replay.some(fileRec(T, D, 'c2')), 'c2 replayed');
    assert.ok(replay.some(fileRec(T, D, 'c3')), 'c3 replayed');

    // a checkpoint after adoption drops the earlier loader's spool too
    await b.flush('y1');
    const ck2 = await b.request('checkpointed y1', (r) => r.t === 'checkpointed', 'checkpointed');
    assert.ok(ck2.files >= 2 && !ck2.error, JSON.stringify(ck2));
    await b.quit(); // a handoff: pins stay
    assert.ok(fs.existsSync(path.join(sd, 'meta')));

    const [c, readyC] = await start(args);
    assert.equal(readyC.adopted, true);
    assert.equal(readyC.generation, readyA.generation);
    assert.equal((await replayed(c)).filter((r) => r.target === T).length, 0, 'nothing to replay after the checkpoint');
    await c.request(`kill ${T} 0`, (r) => r.t === 'killed' && r.target === T, 'killed');
    await c.waitFor((r) => r.t === 'target-empty' && r.target === T, { what: 'target-empty' });
    c.send('quit release');
    await c.waitFor((r) => r.t === 'released', { what: 'released' });
    assert.equal((await c.exited).code, 0);
    assert.ok(!fs.existsSync(sd));
  } finally {
    if (b.proc.exitCode === null) b.proc.kill('SIGKILL');
  }
});

test('--release removes a stale state dir; one loader per state dir; the default spool dir', { skip: skipReason, timeout: 60000 }, async () => {
  const T = 3;
  const { sd, sp, args } = stateDirs('c', { defaultSpool: true });
  assert.equal(sp, `/run/${sd.slice('/sys/fs/bpf/'.length)}`);
  const [a] = await start(args);
  assert.ok(fs.existsSync(path.join(sp, 'generation')), 'default spool dir');
  const l = await a.launch(T, ['sleep', '30']);
  workloads.push(l.pid);
  assert.equal(l.t, 'launched');
  try {
    // a second loader on the same state dir, and --release, refuse while it is in use
    const second = new Tracer(args);
    loaders.push(second);
    const err = await second.waitFor((r) => r.t === 'error' || r.t === 'ready', { timeout: 30000, what: 'error' });
    assert.equal(err.t, 'error');
    assert.match(err.msg, /in use/);
    assert.equal((await second.exited).code, 1);
    const busy = spawnSync(BIN, ['--release', sd], { encoding: 'utf8' });
    assert.equal(busy.status, 1);
    assert.ok(fs.existsSync(path.join(sd, 'meta')));

    await sigkill(a);
    const ids = pinnedIds(sd);
    assert.equal(ids.links.length, 7); // sys_exit, fork, exit, exec, cap_capable, signal_generate, io_uring_complete
    await sleep(100);
    assert.deepEqual(ids.links.filter((id) => !(jbpftool('link', 'list') ?? []).some((x) => x.id === id)), [], 'links stay attached after SIGKILL');

    const rel = spawnSync(BIN, ['--release', sd], { encoding: 'utf8' });
    assert.equal(rel.status, 0, rel.stderr);
    const out = JSON.parse(rel.stdout.trim());
    assert.equal(out.t, 'released');
    assert.equal(out.found, true);
    assert.ok(!fs.existsSync(sd), 'state dir removed');
    assert.ok(!fs.existsSync(sp), 'spool dir removed');
    await assertGone(ids);

    const again = spawnSync(BIN, ['--release', sd], { encoding: 'utf8' });
    assert.equal(again.status, 0);
    assert.equal(JSON.parse(again.stdout.trim()).found, false);

    // a fresh start on the released dir is a new generation; SIGTERM is a handoff
    const [c0, readyC0] = await start(args);
    assert.equal(readyC0.adopted, false);
    assert.notEqual(readyC0.generation, undefined);
    c0.proc.kill('SIGTERM');
    assert.equal((await c0.exited).code, 0);
    const [c, readyC] = await start(args);
    assert.equal(readyC.adopted, true);
    assert.equal(readyC.generation, readyC0.generation);
    c.send('release');
    assert.equal((await c.exited).code, 0);
    assert.ok(!fs.existsSync(sd));
  } finally {
    try { process.kill(l.pid, 'SIGKILL'); } catch {}
  }
});

/** a loader whose stdout is a regular file: its writes never block, so it is killed while formatting */
class FileTracer {
  constructor(args, out) {
    this.out = out;
    const fd = fs.openSync(out, 'w');
    this.proc = spawn(BIN, args, { stdio: ['pipe', fd, 'pipe'] });
    fs.closeSync(fd);
    this.proc.stdin.on('error', () => {});
    this.exited = new Promise((res) => this.proc.on('exit', (code, signal) => res({ code, signal })));
    loaders.push(this);
  }
  records() {
    const text = fs.readFileSync(this.out, 'utf8');
    return text.slice(0, text.lastIndexOf('\n') + 1).split('\n').filter(Boolean).map((l) => JSON.parse(l));
  }
  async waitFor(pred, what) {
    for (let waited = 0; waited < 30000; waited += 10) {
      const hit = this.records().find(pred);
      if (hit) return hit;
      await sleep(10);
    }
    throw new Error(`timeout waiting for ${what}`);
  }
}

test('SIGKILL while the loader is busy consuming: every record is in the spool or still in the ring', { skip: skipReason, timeout: 120000 }, async (t) => {
  const T = 4, N = 30000;
  const D = path.join(TMP, 'busy');
  const w = phased(D, [':', `i=0; while [ $i -lt ${N} ]; do : > ${D}/f$i; i=$((i+1)); done`]);
  const { args: base } = stateDirs('d');
  const args = [...base, '--ringbuf-kb', '16384'];
  const fileOf = (r) => r.t === 'file' && r.target === T && unhex(r.path_hex);
  const files = new Set();
  let pid, delivered = 0;
  // several rounds: each loader is killed a few milliseconds into draining a
  // full ring (records in its stdio buffer, in the spool, still in the ring)
  for (let round = 0; round < 3; round++) {
    const a = new FileTracer(args, path.join(TMP, `busy-out-${round}`));
    await a.waitFor((r) => r.t === 'ready', 'ready');
    if (round === 0) {
      a.proc.stdin.write(`launch ${T} ${w.argv.map(hex).join(' ')}\n`);
      pid = (await a.waitFor((r) => r.t === 'launched', 'launched')).pid;
      workloads.push(pid);
      await w.reached(1);
      a.proc.kill('SIGSTOP');
      await w.go(1);
      await w.reached(2);
      a.proc.kill('SIGCONT');
    }
    await sleep(5 + round * 5);
    a.proc.kill('SIGKILL');
    await a.exited;
    const recs = a.records();
    for (const r of recs) if (fileOf(r)) files.add(fileOf(r));
    delivered += recs.filter(fileOf).length;
  }
  const [b] = await start(args);
  try {
    await replayed(b);
    await b.flush('e1');
    for (const r of b.records) if (fileOf(r)) files.add(fileOf(r));
    const missing = [];
    for (let i = 0; i < N; i++) if (!files.has(`${D}/f${i}`)) missing.push(i);
    t.diagnostic(`the killed loaders wrote ${delivered} file records (with replays) before the last one`);
    assert.deepEqual(missing.slice(0, 10), [], `${missing.length} of ${N} files missing`);
    const stats = b.records.findLast((r) => r.t === 'stats' && r.target === T);
    assert.equal(stats.ringbuf_dropped, 0);
    await b.request(`kill ${T} 0`, (r) => r.t === 'killed' && r.target === T, 'killed');
    b.send('release');
    assert.equal((await b.exited).code, 0);
  } finally {
    try { process.kill(pid, 'SIGKILL'); } catch {}
    if (b.proc.exitCode === null) b.proc.kill('SIGKILL');
  }
});

test('ring buffer overflow during the downtime: counted in ringbuf_dropped, lost objects reported when they recur, none lost for good', { skip: skipReason, timeout: 180000 }, async (t) => {
  const T = 5, N = 3000;
  const D = path.join(TMP, 'overflow');
  const loop = `i=0; while [ $i -lt ${N} ]; do : > ${D}/f$i; i=$((i+1)); done`;
  // Later recurrences at a pace any reader keeps up with, even on a loaded machine.
  const paced = `i=0; while [ $i -lt ${N} ]; do : > ${D}/f$i; i=$((i+1)); [ $((i % 100)) -eq 0 ] && sleep 0.05; done`;
  const PASSES = 4;
  const w = phased(D, [':', loop, loop, ...Array(PASSES - 1).fill(paced)]);
  const { args: base } = stateDirs('e');
  const args = [...base, '--ringbuf-kb', '64'];
  const [a] = await start(args);
  const l = await a.launch(T, w.argv);
  workloads.push(l.pid);
  assert.equal(l.t, 'launched');
  await w.reached(1);
  await a.flush('o1');
  await sigkill(a);
  await w.go(1); // 3000 new files into a 64 KiB ring with no reader
  await w.reached(2);
  const [b] = await start(args);
  try {
    const fileOf = (r) => r.t === 'file' && r.target === T && unhex(r.path_hex);
    const droppedIn = (records) => records.findLast((r) => r.t === 'stats' && r.target === T).ringbuf_dropped;
    const missing = () => {
      const seen = new Set(b.records.map(fileOf).filter(Boolean));
      return Array.from({ length: N }, (_, i) => i).filter((i) => !seen.has(`${D}/f${i}`));
    };
    let dropped = droppedIn(await b.flush('o2'));
    assert.ok(dropped > 0 && missing().length > 0, `dropped ${dropped}, missing ${missing().length}`);
    // Each recurrence reports what is still missing. A recurrence may overflow the ring again (a
    // loaded machine's reader falls behind: counted); a recurrence that dropped nothing and still
    // left an object unreported would have lost it for good (a de-dup entry kept for a dropped record).
    const passes = [];
    for (let pass = 2; pass < 2 + PASSES && missing().length; pass++) {
      await w.go(pass);
      await w.reached(pass + 1);
      const now = droppedIn(await b.flush(`o${pass + 1}`));
      passes.push({ pass, dropped: now - dropped, missing: missing().length });
      assert.ok(now > dropped || missing().length === 0, `lost for good: ${missing().length} objects missing after a recurrence that dropped nothing (${JSON.stringify(passes)})`);
      dropped = now;
    }
    assert.deepEqual(missing().slice(0, 10), [], `${missing().length} missing after ${passes.length} recurrences: ${JSON.stringify(passes)}`);
    t.diagnostic(`dropped during the downtime, then per recurrence: ${JSON.stringify(passes)}`);
    await b.request(`kill ${T} 0`, (r) => r.t === 'killed' && r.target === T, 'killed');
    b.send('release');
    assert.equal((await b.exited).code, 0);
  } finally {
    try { process.kill(l.pid, 'SIGKILL'); } catch {}
    if (b.proc.exitCode === null) b.proc.kill('SIGKILL');
  }
});

test('without --state-dir nothing is pinned and ready is unchanged', { skip: skipReason }, async () => {
  const before = fs.existsSync(BASE) ? fs.readdirSync(BASE).length : 0;
  const [t, ready] = await start([]);
  assert.deepEqual(Object.keys(ready).filter((k) => k !== 'index'), ['t', 'version', 'noaudit']);
  const ck = await t.request('checkpointed z', (r) => r.t === 'checkpointed', 'checkpointed');
  assert.equal(ck.dropped, 0);
  assert.equal((await t.quit()).code, 0);
  assert.equal(fs.existsSync(BASE) ? fs.readdirSync(BASE).length : 0, before);
});

// One loader for every run of a node (issue 20): each run attaches a target by its key and gets
// only its own records, flushes, spool and counters back, also across a SIGKILL of the loader.
