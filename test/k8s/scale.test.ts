/**
 * Many nodes, small (issue 13's path kept working in make test): KWOK runs 50 fake nodes on the
 * real control plane, kube-scheduler spreads a 50-replica Deployment over them, the real
 * controller and workflow resolve it and start one collector per node on the Temporal dev server,
 * and two worker processes serve the 50 node queues with the simulated collector, whose batches
 * go through the real checkpoint path to an S3-protocol store (varmor-s3) on loopback. The merge
 * writes one ArmorProfileModel into the API server. During the window (fleet.ts, Churn) 5 nodes
 * join, 5 leave, and the node agents of 5 are killed, 3 of which come back: the model says which.
 * bench/scale/run.ts runs the same at any size.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { startDevServer } from '../workflows/env.js';
import { ControlPlane, controlPlaneMissing } from './control-plane.js';
import { modelFleet, VARMOR_S3 } from './fleet.js';

const skip = controlPlaneMissing() || (!existsSync(VARMOR_S3) && 'varmor-s3 not built (make setup)');
let cp: ControlPlane;
let env: TestWorkflowEnvironment;
before(async () => {
  if (skip) return;
  cp = await ControlPlane.start({ fakeNodes: true });
  env = await startDevServer();
});
after(async () => {
  await env?.teardown();
  await cp?.stop();
});

test('a Deployment over 50 KWOK nodes, nodes joining, leaving and failing: one collector a node, simulated batches through the store, one model in the API server', { skip, timeout: 420_000 }, async (t) => {
  const run = await modelFleet(cp, env, {
    nodes: 50,
    processes: 2,
    duration: '90s',
    checkpointInterval: '2s',
    resolveInterval: '5s',
    leaseInterval: '20s',
    nodeGiveUp: '20s',
    churn: { join: 5, leave: 5, fail: 3, lose: 2 },
    progress: (line) => t.diagnostic(line),
  });
  t.diagnostic(`pods running ${run.podsRunningMs} ms; start to every collector running ${run.collectorsRunningMs} ms; stop ${run.stopMs} ms; merge ${run.mergeMs} ms; histories ${run.historyLengths.join(', ')} events; ${run.activities.total} node activities`);
  assert.notEqual(run.collectorsRunningMs, undefined, `every collector ran within the window (${run.collectorsSeen}/50 seen)`);
  const outcome = new Map(run.result.nodes.map((n) => [n.node, n]));
  assert.equal(outcome.size, 55, 'the 50 nodes and the 5 that joined');
  for (const n of run.joined) assert.equal(outcome.get(n)?.state, 'completed', `joined ${n}`);
  for (const n of run.left) assert.deepEqual([outcome.get(n)?.state, outcome.get(n)?.reason], ['completed', 'left'], `left ${n}`);
  for (const n of run.failed) {
    assert.equal(outcome.get(n)?.state, 'completed', `failed and back ${n}`);
    const b = run.failedBatches[n]!;
    assert.ok(b.final > b.atReturn, `${n} checkpointed again once its agent was back (${b.atReturn} → ${b.final} batches)`);
  }
  for (const n of run.lost) assert.deepEqual([outcome.get(n)?.state, outcome.get(n)?.reason], ['failed', 'CollectorLost'], `lost ${n}`);
  const rest = run.nodes.filter((n) => ![...run.left, ...run.failed, ...run.lost].includes(n));
  assert.deepEqual([...new Set(rest.map((n) => outcome.get(n)?.state))], ['completed']);
  const { conditions, ...counts } = run.model.status;
  assert.deepEqual(counts, { desiredNumber: 55, completedNumber: 53, ready: true });
  assert.deepEqual(
    (conditions ?? []).map((c) => [c.nodeName, c.type, c.status, c.reason]).sort(),
    run.lost.map((n) => [n, 'Ready', 'False', 'CollectorLost']).sort(),
    'the model says which nodes were lost',
  );
  // Leases of 20 s over a 90 s window: every node ran several collectors in turn.
  assert.ok(run.activities.total > 3 * 55, `${run.activities.total} node activities`);
  const files = (run.model.data.dynamicResult.appArmor?.files ?? []).map((f) => f.oldPath ?? f.path);
  for (const f of ['/etc/nginx/nginx.conf', '/usr/lib/x86_64-linux-gnu/libc.so.6']) assert.ok(files.includes(f), `common ${f}`);
  assert.ok(files.includes('/etc/nginx/conf.d/tls.conf') || files.includes('/usr/share/nginx/html/admin/index.html'), 'paths only some nodes saw are in the union');
  assert.ok(files.some((f) => f.startsWith('/srv/www/assets/')), 'the long tail of rare paths reached the model');
  assert.ok(run.statusQueryMs.length > 0);
});
