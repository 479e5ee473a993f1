import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { pathToFileURL } from 'node:url';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { controllerActivities, type CollectInput, type CollectResult } from '../../activities/index.js';
import { BATCH_FORMAT } from '../../core/behavior.js';
import { scheduleCreate, scheduleDelete, scheduleList } from '../../cli/schedule.js';
import { keys, putBatch } from '../../store/batches.js';
import { openStore } from '../../store/open.js';
import { NODE_WORKER_OPTIONS, WORKFLOW_BUNDLE } from '../../workers/workers.js';
import { CONTROLLER_QUEUE, nodeQueue } from '../../workflows/queues.js';
import { tempDir, testKeyring, until } from '../helpers.js';
import { OPEN_POLICY } from '../../core/policy.js';
import { startDevServer } from './env.js';

let env: TestWorkflowEnvironment;
before(async () => {
  env = await startDevServer();
});
after(async () => {
  await env?.teardown();
});

test('a schedule re-models periodically: each run is a new model version with its drift against the previous', { timeout: 120_000 }, async () => {
  const store = pathToFileURL(await tempDir('store')).href;
  const keyring = await testKeyring();
  let runs = 0;
  // Each run the workload does one thing more: run 1 execs /bin/a, run 2 also /bin/b, ...
  const collect = async (input: CollectInput): Promise<CollectResult> => {
    const n = ++runs;
    const at = Date.now();
    const executions = Object.fromEntries(Array.from({ length: n }, (_, i) => [`/bin/${String.fromCharCode(97 + i)}`, { first: at, last: at, n: { 'n1/bpf/t': 1 } }]));
    await putBatch(await openStore(input.store), keyring, { format: BATCH_FORMAT, run: input.run, node: input.node, collector: 'bpf', replica: 'n1/bpf/t', seq: 0, arch: 'x86_64', target: input.target, from: at, to: at, counters: {}, behaviors: { executions } });
    return { node: input.node, batches: 1, events: n, reason: 'target-exited' };
  };
  const workers = [
    await Worker.create({ connection: env.nativeConnection, taskQueue: CONTROLLER_QUEUE, workflowBundle: { codePath: WORKFLOW_BUNDLE }, activities: controllerActivities({ store, keyring, policy: OPEN_POLICY }) }),
    await Worker.create({ connection: env.nativeConnection, taskQueue: nodeQueue('n1'), activities: { collect, releaseTracer: async () => true }, ...NODE_WORKER_OPTIONS }),
  ];
  const running = workers.map((w) => w.run());
  const s = await openStore(store);
  const versions = async () => [...new Set((await s.list(keys.modelVersions('default', 'nightly'))).map((k) => k.split('/')[3]!))].sort();
  try {
    const out = await scheduleCreate(env.client, { target: { kind: 'pid', node: 'n1', pid: 1 }, name: 'nightly', duration: '2s', searchAttributes: false }, '4s');
    assert.match(out, /schedule varmor-modeler\/default\/nightly: every 4s/);
    // The list reads visibility, which catches up with a create a moment later.
    await until('the schedule is listed', async () => /varmor-modeler\/default\/nightly/.test(await scheduleList(env.client, false)), 30_000);
    const deadline = Date.now() + 60_000;
    while ((await versions()).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
    assert.equal(await scheduleDelete(env.client, 'default/nightly'), 'deleted schedule varmor-modeler/default/nightly\n');
  } finally {
    for (const w of workers) w.shutdown();
    await Promise.all(running);
  }
  const [first, second] = await versions();
  assert.ok(first && second, 'fewer than two model versions');
  assert.equal(await s.get(keys.modelVersion('default', 'nightly', first, 'drift.json')), undefined, 'the first version has nothing to drift from');
  const drift = JSON.parse(new TextDecoder().decode((await s.get(keys.modelVersion('default', 'nightly', second, 'drift.json')))!));
  assert.equal(drift.previous, first);
  assert.deepEqual(drift.categories.executions.added, ['/bin/b']);
  assert.deepEqual(drift.categories.executions.removed, []);
  await until('the deleted schedule leaves the list', async () => !/nightly/.test(await scheduleList(env.client, false)), 30_000);
});
