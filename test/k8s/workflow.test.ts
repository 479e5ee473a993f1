import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { pathToFileURL } from 'node:url';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { controllerActivities, type CollectInput, type CollectResult } from '../../activities/index.js';
import type { ArmorProfileModel } from '../../core/armorprofilemodel.js';
import { BATCH_FORMAT } from '../../core/behavior.js';
import { startModel } from '../../cli/model.js';
import { connect } from '../../k8s/client.js';
import { putBatch } from '../../store/batches.js';
import { openStore } from '../../store/open.js';
import { NODE_WORKER_OPTIONS, WORKFLOW_BUNDLE } from '../../workers/workers.js';
import type { ModelingResult } from '../../workflows/index.js';
import { CONTROLLER_QUEUE, nodeQueue } from '../../workflows/queues.js';
import { tempDir, testKeyring } from '../helpers.js';
import { OPEN_POLICY } from '../../core/policy.js';

const keyring = await testKeyring();
import { startDevServer } from '../workflows/env.js';
import { FakeApiServer, type K8sObject } from './fake-apiserver.js';
import { deployment, modelCrd, pod, replicaSet } from './objects.js';

let env: TestWorkflowEnvironment;
let server: FakeApiServer;
before(async () => {
  env = await startDevServer();
  server = await new FakeApiServer().start();
});
after(async () => {
  await env?.teardown();
  await server?.close();
});

/** A collector stand-in that checkpoints one batch naming what its node traced (no BPF needed here). */
async function collect(input: CollectInput): Promise<CollectResult> {
  const at = Date.now();
  const ids = input.trace.kind === 'pods' ? input.trace.pods : [];
  await putBatch(await openStore(input.store), keyring, {
    format: BATCH_FORMAT, run: input.run, node: input.node, collector: 'bpf', replica: `${input.node}/bpf/test`, seq: 0, arch: 'x86_64', target: input.target, from: at, to: at, counters: {},
    behaviors: {
      executions: { '/usr/sbin/nginx': { first: at, last: at, n: { [`${input.node}/bpf/test`]: ids.length } } },
      syscalls: { accept4: { first: at, last: at, n: { [`${input.node}/bpf/test`]: 10 } } },
    },
  });
  return { node: input.node, batches: 1, events: 2, reason: 'target-exited' };
}

test('a Deployment on two nodes resolves through the API, and its model lands as an ArmorProfileModel resource', { timeout: 120_000 }, async () => {
  const web = deployment('shop', 'web', { app: 'web' });
  const rs = replicaSet('shop', 'web-5d9f', { app: 'web' }, web);
  const onA = pod('shop', 'web-5d9f-a', { owner: rs, node: 'node-a' });
  const onB = pod('shop', 'web-5d9f-b', { owner: rs, node: 'node-b' });
  server.add(modelCrd(), web, rs, onA, onB, pod('shop', 'web-5d9f-c', { owner: rs, node: 'node-a', phase: 'Failed', reason: 'Evicted' }));
  const kube = connect({ kubeconfig: await server.kubeconfig(await tempDir('kube')), retry: { attempts: 3, baseMs: 1 } });
  const store = pathToFileURL(await tempDir('store')).href;
  const traced: CollectInput[] = [];
  const workers = [
    await Worker.create({ connection: env.nativeConnection, taskQueue: CONTROLLER_QUEUE, workflowBundle: { codePath: WORKFLOW_BUNDLE }, activities: controllerActivities({ store, kube, keyring, policy: OPEN_POLICY }) }),
    ...(await Promise.all(['node-a', 'node-b'].map((n) => Worker.create({ connection: env.nativeConnection, taskQueue: nodeQueue(n), activities: { collect: async (i: CollectInput) => (traced.push(i), collect(i)), releaseTracer: async () => true }, ...NODE_WORKER_OPTIONS })))),
  ];
  const running = workers.map((w) => w.run());
  let result: ModelingResult;
  try {
    const h = await startModel(env.client, { target: { kind: 'k8s', spec: 'k8s:shop/deployment/web' }, duration: '3s', resolveInterval: '1s', searchAttributes: false }, {});
    result = (await h.result()) as ModelingResult;
  } finally {
    for (const w of workers) w.shutdown();
    await Promise.all(running);
  }
  // The evicted pod is not traced; each node traces its own running pod, by UID.
  assert.deepEqual([...new Set(traced.map((t) => `${t.node}:${JSON.stringify(t.trace)}`))].sort().length, 2);
  for (const t of traced) assert.deepEqual(t.trace, { kind: 'pods', pods: [{ uid: (t.node === 'node-a' ? onA : onB).metadata.uid }] });
  assert.deepEqual(result.nodes.map((n) => n.node).sort(), ['node-a', 'node-b']);

  const stored = server.get('crd.varmor.org', 'v1beta1', 'armorprofilemodels', 'shop', 'varmor-shop-web') as (K8sObject & ArmorProfileModel) | undefined;
  assert.ok(stored, 'no ArmorProfileModel was written');
  assert.deepEqual(stored.data.dynamicResult.appArmor?.executions, ['/usr/sbin/nginx']);
  assert.deepEqual(stored.data.dynamicResult.seccomp?.syscalls, ['accept4']);
  assert.equal(stored.status.desiredNumber, 2);
  assert.equal(stored.status.completedNumber, 2);
  assert.equal(stored.status.ready, true);
  assert.ok(server.requests.some((r) => r.method === 'PUT' && r.path.endsWith('/armorprofilemodels/varmor-shop-web/status')), 'status subresource not written');
});
