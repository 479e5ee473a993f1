import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { pathToFileURL } from 'node:url';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { parse } from 'yaml';
import { controllerActivities, type CollectInput, type CollectResult } from '../../activities/index.js';
import type { ArmorProfileModel } from '../../core/armorprofilemodel.js';
import { BATCH_FORMAT } from '../../core/behavior.js';
import { OPEN_POLICY } from '../../core/policy.js';
import { snapshotCommand, startModel } from '../../cli/model.js';
import { putBatch } from '../../store/batches.js';
import { openStore } from '../../store/open.js';
import { NODE_WORKER_OPTIONS, WORKFLOW_BUNDLE } from '../../workers/workers.js';
import { snapshotUpdate, statusQuery, stopSignal, type ModelingResult } from '../../workflows/index.js';
import { CONTROLLER_QUEUE, nodeQueue } from '../../workflows/queues.js';
import { tempDir, testKeyring } from '../helpers.js';
import { startDevServer, untilCancelled } from './env.js';

let env: TestWorkflowEnvironment;
before(async () => {
  env = await startDevServer();
});
after(async () => {
  await env?.teardown();
});

test('a snapshot mid-window is an interim version with every output, the same behaviors as the final model of a window that ended then; refused once the run is merging', { timeout: 120_000 }, async () => {
  const store = pathToFileURL(await tempDir('store')).href;
  const keyring = await testKeyring();
  // the collector checkpoints what it saw once, then nothing new until it is stopped
  const collect = async (input: CollectInput): Promise<CollectResult> => {
    const at = Date.now();
    const item = { first: at, last: at, n: { 'n1/bpf/t': 1 } };
    await putBatch(await openStore(input.store), keyring, { format: BATCH_FORMAT, run: input.run, node: input.node, collector: 'bpf', replica: 'n1/bpf/t', seq: 0, arch: 'x86_64', target: input.target, from: at, to: at, counters: {}, behaviors: { executions: { '/bin/a': item }, syscalls: { read: item, openat: item } } });
    return untilCancelled(input);
  };
  // the final merge waits at a gate, so the test can ask for a snapshot while the run is merging
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const controller = controllerActivities({ store, keyring, policy: OPEN_POLICY });
  const mergeRun: typeof controller.mergeRun = async (input) => {
    if (!input.interim) await gate;
    return controller.mergeRun(input);
  };
  const workers = [
    await Worker.create({ connection: env.nativeConnection, taskQueue: CONTROLLER_QUEUE, workflowBundle: { codePath: WORKFLOW_BUNDLE }, activities: { ...controller, mergeRun } }),
    await Worker.create({ connection: env.nativeConnection, taskQueue: nodeQueue('n1'), activities: { collect, releaseTracer: async () => true }, ...NODE_WORKER_OPTIONS }),
  ];
  const running = workers.map((w) => w.run());
  try {
    const h = await startModel(env.client, { target: { kind: 'pid', node: 'n1', pid: 1 }, name: 'snap', duration: '1h', checkpointInterval: '1s', searchAttributes: false }, {});
    const s = await openStore(store);
    const read = async (key: string) => new TextDecoder().decode((await s.get(key))!);
    // once the batch is in the store
    let snap;
    for (let i = 0; i < 60; i++) {
      // refused while the run is still resolving its target, then empty until the batch is in
      snap = await h.executeUpdate(snapshotUpdate).catch((err: Error) => {
        assert.match(String((err.cause as Error | undefined)?.message), /the run is resolving/);
        return undefined;
      });
      if (snap && snap.batches > 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(snap && snap.batches > 0, 'the snapshot merged the checkpointed batch');
    assert.match(snap.version, /-interim$/);
    for (const f of ['armorprofilemodel.yaml', 'apparmor.profile', 'seccomp.json', 'report.json', 'report.md']) assert.ok(snap.outputs[f], `${f} in the snapshot`);
    const interim = parse(await read(snap.outputs['armorprofilemodel.yaml']!)) as ArmorProfileModel;
    assert.equal(interim.status.ready, false, 'not the model to load yet');
    assert.equal((JSON.parse(await read(snap.outputs['report.json']!)) as { interim?: boolean }).interim, true);
    assert.match(await read(snap.outputs['report.md']!), /interim snapshot/);
    // the CLI's view of the same Update
    assert.match(await snapshotCommand(env.client, h.workflowId), /^interim version v\S+-interim of varmor-modeler\/default\/snap: 1 objects merged; 1 executions, 2 syscalls; the window goes on/);

    // the window ends now: nothing new came since, so the final model has the same behaviors
    await h.signal(stopSignal);
    for (let i = 0; i < 100 && (await h.query(statusQuery)).phase !== 'merging'; i++) await new Promise((r) => setTimeout(r, 100));
    await assert.rejects(h.executeUpdate(snapshotUpdate), (err: Error) => /the run is merging: a snapshot is taken while it is modeling \(the final model is being merged now\)/.test(String((err.cause as Error | undefined)?.message)));
    open();
    const result = (await h.result()) as ModelingResult;
    const final = parse(await read(result.outputs['armorprofilemodel.yaml']!)) as ArmorProfileModel;
    assert.equal(final.status.ready, true);
    assert.deepEqual(interim.data.dynamicResult, final.data.dynamicResult);
    assert.equal(interim.data.profile.seccomp, final.data.profile.seccomp);
  } finally {
    for (const w of workers) w.shutdown();
    await Promise.all(running);
  }
});
