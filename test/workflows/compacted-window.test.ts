import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { pathToFileURL } from 'node:url';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { controllerActivities } from '../../activities/index.js';
import { simulatedNodeActivities } from '../../activities/simulate.js';
import { startModel } from '../../cli/model.js';
import { OPEN_POLICY } from '../../core/policy.js';
import { keys, parseBatchKey } from '../../store/batches.js';
import { openStore } from '../../store/open.js';
import { NODE_WORKER_OPTIONS, WORKFLOW_BUNDLE } from '../../workers/workers.js';
import type { ModelingResult } from '../../workflows/index.js';
import { CONTROLLER_QUEUE, nodeQueue } from '../../workflows/queues.js';
import { tempDir, testKeyring } from '../helpers.js';
import { startDevServer } from './env.js';

let env: TestWorkflowEnvironment;
before(async () => {
  env = await startDevServer();
});
after(async () => {
  await env?.teardown();
});

const NODES = ['node-a', 'node-b', 'node-c', 'node-d', 'node-e', 'node-f'];

test('a window over several leases and continue-as-new ends with one snapshot a collector, and the merge reads only those', { timeout: 180_000 }, async () => {
  const keyring = await testKeyring();
  const store = pathToFileURL(await tempDir('store')).href;
  const controller = controllerActivities({ store, keyring, policy: OPEN_POLICY });
  const workers = [
    await Worker.create({
      connection: env.nativeConnection,
      taskQueue: CONTROLLER_QUEUE,
      workflowBundle: { codePath: WORKFLOW_BUNDLE },
      activities: { ...controller, resolveTarget: async () => ({ nodes: Object.fromEntries(NODES.map((n) => [n, { kind: 'pid' as const, pid: 1 }])), store }) },
    }),
    // The simulated collector: real leases, checkpoints and compaction; a new rare path about one checkpoint in three.
    ...(await Promise.all(NODES.map((n) => Worker.create({ connection: env.nativeConnection, taskQueue: nodeQueue(n), activities: simulatedNodeActivities(keyring), ...NODE_WORKER_OPTIONS })))),
  ];
  const running = workers.map((w) => w.run());
  let result: ModelingResult;
  let runs = 0;
  try {
    const h = await startModel(env.client, { target: { kind: 'pid', node: 'node-a', pid: 1 }, name: 'compacted', duration: '30s', checkpointInterval: '1s', leaseInterval: '5s', historyLimit: 100, searchAttributes: false }, {});
    result = (await h.result()) as ModelingResult;
    // Visibility is written asynchronously: wait for every run to show.
    for (let i = 0; i < 50 && runs < 2; i++) {
      runs = 0;
      for await (const w of env.client.workflow.list({ query: `WorkflowId = '${h.workflowId}'` })) if (w.workflowId === h.workflowId) runs++;
      if (runs < 2) await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    for (const w of workers) w.shutdown();
    await Promise.all(running);
  }
  assert.ok(runs >= 2, `continued as new: ${runs} runs`);
  const s = await openStore(store);
  const objects = await s.list(keys.batches(result.run));
  // Every lease ended in a compaction: what is left is one snapshot per node's collector.
  assert.deepEqual(objects.map((k) => k.split('/').slice(-3, -1).join('/')).sort(), NODES.map((n) => `${n}/sim`));
  assert.ok(objects.every((k) => parseBatchKey(k)!.snapshot), objects.join(' '));
  assert.equal(result.batches, NODES.length, 'the merge read one object a node');
  // Each lease's collector left its counters; the rare paths found over the whole window are all there.
  assert.ok(result.counts.files! > 16, `files: ${result.counts.files}`);
  assert.deepEqual(result.nodes.map((n) => n.state), NODES.map(() => 'completed'));
});
