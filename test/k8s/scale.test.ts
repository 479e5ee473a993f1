/**
 * Many nodes, small (issue 13's path kept working in make test): KWOK runs 50 fake nodes on the
 * real control plane, kube-scheduler spreads a 50-replica Deployment over them, the real
 * controller and workflow resolve it and start one collector per node on the Temporal dev server,
 * and two worker processes serve the 50 node queues with the simulated collector, whose batches
 * go through the real checkpoint path to an S3-protocol store (varmor-s3) on loopback. The merge
 * writes one ArmorProfileModel into the API server. bench/scale/run.ts runs the same at any size.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { TEMPORAL_CLI } from '../workflows/env.js';
import { ControlPlane, controlPlaneMissing } from './control-plane.js';
import { modelFleet, VARMOR_S3 } from './fleet.js';

const skip = controlPlaneMissing() || (!existsSync(VARMOR_S3) && 'varmor-s3 not built (make setup)');
let cp: ControlPlane;
let env: TestWorkflowEnvironment;
before(async () => {
  if (skip) return;
  cp = await ControlPlane.start({ fakeNodes: true });
  env = await TestWorkflowEnvironment.createLocal({ server: { executable: { type: 'existing-path', path: TEMPORAL_CLI } } });
});
after(async () => {
  await env?.teardown();
  await cp?.stop();
});

test('a Deployment over 50 KWOK nodes: one collector a node, simulated batches through the store, one model in the API server', { skip, timeout: 300_000 }, async (t) => {
  const run = await modelFleet(cp, env, { nodes: 50, processes: 2, duration: '25s', checkpointInterval: '2s', resolveInterval: '5s' });
  t.diagnostic(`pods running ${run.podsRunningMs} ms; start to every collector running ${run.collectorsRunningMs} ms; merge ${run.mergeMs} ms; history ${run.historyLength} events`);
  assert.equal(run.result.nodes.length, 50);
  assert.deepEqual([...new Set(run.result.nodes.map((n) => n.state))], ['completed']);
  assert.deepEqual(run.model.status, { desiredNumber: 50, completedNumber: 50, ready: true });
  const files = (run.model.data.dynamicResult.appArmor?.files ?? []).map((f) => f.oldPath ?? f.path);
  for (const f of ['/etc/nginx/nginx.conf', '/usr/lib/x86_64-linux-gnu/libc.so.6']) assert.ok(files.includes(f), `common ${f}`);
  assert.ok(files.includes('/etc/nginx/conf.d/tls.conf') || files.includes('/usr/share/nginx/html/admin/index.html'), 'paths only some nodes saw are in the union');
  assert.ok(files.some((f) => f.startsWith('/srv/www/assets/')), 'the long tail of rare paths reached the model');
  assert.ok(run.statusQueryMs.length > 0);
});
