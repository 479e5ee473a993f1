import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { pathToFileURL } from 'node:url';
import { Context } from '@temporalio/activity';
import { MockActivityEnvironment, type TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { controllerActivities, type CollectInput, type CollectResult, type MergeInput, type MergeResult, type PartialInput } from '../../activities/index.js';
import { mergeActivity } from '../../activities/merge.js';
import { BATCH_FORMAT } from '../../core/behavior.js';
import { OPEN_POLICY } from '../../core/policy.js';
import { startModel } from '../../cli/model.js';
import { putBatch } from '../../store/batches.js';
import { openStore } from '../../store/open.js';
import { partialKey } from '../../store/partials.js';
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

const NODES = Array.from({ length: 40 }, (_, i) => `node-${String(i).padStart(2, '0')}`);

test('a run over more nodes than a merge group merges as a tree; a branch that fails is retried alone, the finished ones are not run again', { timeout: 180_000 }, async () => {
  const keyring = await testKeyring();
  const store = pathToFileURL(await tempDir('store')).href;
  // Each node's collector writes one batch: a path of its own, and one all nodes share.
  const collect = async (input: CollectInput): Promise<CollectResult> => {
    const at = Date.now();
    const r = `${input.node}/bpf/a1`;
    await putBatch(await openStore(input.store), keyring, {
      format: BATCH_FORMAT, run: input.run, node: input.node, collector: 'bpf', replica: r, seq: 0, arch: 'x86_64', target: input.target, from: at, to: at, counters: { [r]: { records: 2 } },
      behaviors: { executions: { [`/opt/${input.node}/bin/app`]: { first: at, last: at, n: { [r]: 1 } }, '/usr/sbin/nginx': { first: at, last: at, n: { [r]: 3 } } } },
    });
    return { node: input.node, batches: 1, events: 2, reason: 'target-exited' };
  };
  const real = controllerActivities({ store, keyring, policy: OPEN_POLICY });
  const branches: number[] = [];
  const activities = {
    ...real,
    resolveTarget: async () => ({ nodes: Object.fromEntries(NODES.map((n) => [n, { kind: 'pid' as const, pid: 1 }])), store }),
    // Group 1's first attempt dies half way (its worker lost): only it runs again.
    mergePartial: async (input: PartialInput) => {
      branches.push(input.group);
      if (input.group === 1 && Context.current().info.attempt === 1) throw new Error('worker lost half way through the merge');
      return real.mergePartial(input);
    },
  };
  const workers = [
    await Worker.create({ connection: env.nativeConnection, taskQueue: CONTROLLER_QUEUE, workflowBundle: { codePath: WORKFLOW_BUNDLE }, activities }),
    ...(await Promise.all(NODES.map((n) => Worker.create({ connection: env.nativeConnection, taskQueue: nodeQueue(n), activities: { collect, releaseTracer: async () => true }, ...NODE_WORKER_OPTIONS })))),
  ];
  const running = workers.map((w) => w.run());
  let result: ModelingResult;
  try {
    const h = await startModel(env.client, { target: { kind: 'pid', node: 'node-00', pid: 1 }, name: 'tree', duration: '1m', searchAttributes: false }, {});
    result = (await h.result()) as ModelingResult;
  } finally {
    for (const w of workers) w.shutdown();
    await Promise.all(running);
  }
  assert.deepEqual(branches.sort(), [0, 1, 1], 'groups of 32 nodes: two branches, the failed one retried, the other not run again');
  const s = await openStore(store);
  for (const g of [0, 1]) assert.ok(await s.get(partialKey(result.run, g)), `partial set ${g} in the store`);
  assert.equal(result.batches, 40);
  assert.equal(result.counts.executions, 41);
  // The tree gives the model a flat merge of every batch gives.
  const flat = (await new MockActivityEnvironment().run(mergeActivity({ keyring, policy: OPEN_POLICY }), { run: result.run, store, target: 'x', namespace: 'default', name: 'tree', window: { start: 0, end: 1 }, nodes: [] } satisfies MergeInput)) as MergeResult;
  const text = async (key: string) => new TextDecoder().decode((await s.get(key))!);
  const treeProfile = await text(`models/default/tree/${(await s.list('models/default/tree')).map((k) => k.split('/')[3]).find((v) => v !== flat.version)}/apparmor.profile`);
  assert.equal(treeProfile, await text(flat.outputs['apparmor.profile']!));
  const report = JSON.parse(await text(flat.outputs['report.json']!));
  assert.deepEqual(report.counts, result.counts);
});
