// Runs sharing one loader (issue 20): targets attached by run key, per-target flush and spool,
// refusal beyond the targets. Real kernel; needs root and bpffs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { hex, sleep } from './harness.mjs';
import { skipReason, TMP, workloads, stateDirs, start, sigkill, phased, fileRec } from './pinned.mjs';

test('runs sharing one loader: attach by key, per-target flush and spool, a SIGKILL loses nothing of either, free gives back one', { skip: skipReason, timeout: 120000 }, async () => {
  const { sd, args } = stateDirs('shared');
  const D = path.join(TMP, 'shared');
  const A = phased(path.join(D, 'a'), [`echo a1 > ${D}/a/a1file`, `echo a2 > ${D}/a/a2file`, `echo a3 > ${D}/a/a3file`]);
  const B = phased(path.join(D, 'b'), [`echo b1 > ${D}/b/b1file`, `echo b2 > ${D}/b/b2file`, `echo b3 > ${D}/b/b3file`]);
  let [t] = await start(args);
  const attach = async (tr, key) => {
    const a = await tr.request(`attach ${key}`, (r) => r.t === 'attached' && r.key === key, `attach ${key}`);
    await tr.waitFor((r) => r.t === 'replay-end' && r.target === a.target && r.index > a.index, { what: `replay of ${key}` });
    return a;
  };
  const a = await attach(t, 'run-a');
  const b = await attach(t, 'run-b');
  assert.notEqual(a.target, b.target, 'two runs, two targets');
  assert.deepEqual([a.adopted, b.adopted], [false, false]);
  assert.equal((await attach(t, 'run-a')).target, a.target, 'the same key attaches the same target again');
  for (const [x, w] of [[a, A], [b, B]]) {
    const l = await t.request(`launch ${x.target} ${w.argv.map(hex).join(' ')}`, (r) => r.t === 'launched' && r.target === x.target, 'launch');
    workloads.push(l.pid);
  }
  await Promise.all([A.reached(1), B.reached(1)]);
  // A's flush: only A's state, its marker, no global marker; then A's spool is checkpointed
  const from = t.records.length;
  t.send(`flush ${a.target} fa1`);
  const fa = await t.waitFor((r) => r.t === 'flushed' && r.token === 'fa1', { from, what: 'flushed fa1' });
  assert.equal(fa.target, a.target);
  const flushA = t.records.slice(from, fa.index + 1);
  assert.ok(flushA.some((r) => r.t === 'counts' && r.target === a.target) && flushA.some((r) => r.t === 'stats' && r.target === a.target));
  assert.ok(!flushA.some((r) => ['counts', 'stats', 'tallies'].includes(r.t) && r.target !== a.target), 'a flush of A says nothing of B');
  const ck = await t.request(`checkpointed ${a.target} fa1`, (r) => r.t === 'checkpointed' && r.token === 'fa1', 'checkpointed');
  assert.equal(ck.error, undefined, JSON.stringify(ck));
  assert.ok(ck.dropped > 0, 'A\'s spool up to its flush dropped');
  // B never checkpointed: its phase 1 stays in its spool; A's phase 2 and B's happen while no loader runs
  await sigkill(t);
  await A.go(1);
  await B.go(1);
  await Promise.all([A.reached(2), B.reached(2)]);
  let ready;
  [t, ready] = await start(args);
  assert.ok(ready.adopted);
  assert.deepEqual(ready.targets.map((x) => x.key).sort(), ['run-a', 'run-b'], JSON.stringify(ready.targets));
  assert.equal(t.records.find((r) => r.t === 'replay-end').records, 0, 'attached runs are replayed at their attach, not at start');
  const a2 = await attach(t, 'run-a');
  assert.equal(a2.target, a.target);
  assert.equal(a2.adopted, true);
  const begin = t.records.findLastIndex((r) => r.t === 'replay-begin' && r.target === a.target);
  const end = t.records.findLastIndex((r) => r.t === 'replay-end' && r.target === a.target);
  const replayA = t.records.slice(begin + 1, end);
  assert.ok(replayA.every((r) => r.target === a.target), 'A\'s replay is A\'s only');
  assert.ok(!replayA.some(fileRec(a.target, D, 'a/a1file')), 'checkpointed: not replayed');
  assert.ok(replayA.some(fileRec(a.target, D, 'a/a2file')), 'A\'s downtime records are in its replay (the ring backlog went into its spool)');
  const b2 = await attach(t, 'run-b');
  const replayB = t.records.slice(t.records.findLastIndex((r) => r.t === 'replay-begin' && r.target === b.target) + 1);
  assert.ok(replayB.some(fileRec(b.target, D, 'b/b1file')) && replayB.some(fileRec(b.target, D, 'b/b2file')), 'B: its phase 1 (never checkpointed) and its downtime');
  assert.ok(!replayB.some((r) => r.target === a.target && r.t === 'file'), 'B\'s replay has nothing of A');
  assert.equal(b2.adopted, true);
  // freeing A stops A only: B goes on being traced
  const freed = await t.request('free run-a', (r) => r.t === 'freed' && r.key === 'run-a', 'freed');
  assert.deepEqual([freed.found, freed.target, freed.in_use], [true, a.target, 1]);
  assert.ok(!fs.readdirSync(args[3]).some((f) => f.startsWith(`spool.${String(a.target).padStart(3, '0')}.`)), 'A\'s spool files removed');
  await A.go(2);
  await B.go(2);
  await B.reached(3);
  await sleep(200);
  const ff = await t.flush('after-free');
  assert.ok(ff.some((r) => fileRec(b.target, D, 'b/b3file')(r)) || t.records.some(fileRec(b.target, D, 'b/b3file')), 'B still traced');
  assert.ok(!t.records.some(fileRec(a.target, D, 'a/a3file')), 'A untracked');
  const again = await t.request('free run-a', (r) => r.t === 'freed' && r.key === 'run-a', 'freed again');
  assert.equal(again.found, false);
  await t.request('free run-b', (r) => r.t === 'freed' && r.key === 'run-b', 'freed');
  t.send('release');
  await t.exited;
  assert.ok(!fs.existsSync(sd));
  await B.go(3);
});

test('attach refuses a run beyond the targets at once, with a reason; a freed target is taken again', { skip: skipReason, timeout: 60000 }, async () => {
  const [t] = await start(['--max-targets', '3']);
  const targets = [];
  for (const k of ['k1', 'k2', 'k3']) targets.push((await t.request(`attach ${k}`, (r) => r.t === 'attached' && r.key === k, k)).target);
  assert.equal(new Set(targets).size, 3);
  const full = await t.request('attach k4', (r) => r.t === 'attached' && r.key === 'k4', 'k4');
  assert.equal(full.target, undefined);
  assert.equal(full.error, 'all 3 targets of this tracer are in use');
  await t.request('free k2', (r) => r.t === 'freed' && r.key === 'k2', 'free k2');
  assert.equal((await t.request('attach k4', (r) => r.t === 'attached' && r.key === 'k4', 'k4 again')).target, targets[1], 'the freed target');
  await t.quit();
  // without a limit: 127 runs, the 128th refused
  const [u] = await start([]);
  for (let i = 1; i <= 127; i++) u.send(`attach r${i}`);
  const last = await u.waitFor((r) => r.t === 'attached' && r.key === 'r127', { what: 'r127' });
  assert.equal(last.target, 127);
  const over = await u.request('attach r128', (r) => r.t === 'attached' && r.key === 'r128', 'r128');
  assert.equal(over.error, 'all 127 targets of this tracer are in use');
  await u.quit();
});
