/**
 * Many nodes, small (issue 13's path kept working in make test): KWOK runs 50 fake nodes on the
 * real control plane, kube-scheduler spreads a 50-replica Deployment over them, the real
 * controller and workflow resolve it and start one collector per node on the Temporal dev server,
 * and two worker processes serve the 50 node queues with the simulated collector, whose batches
 * go through the real checkpoint path to an S3-protocol store (varmor-s3) on loopback. The merge
 * writes one ArmorProfileModel into the API server.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { controllerActivities } from '../../activities/index.js';
import { startModel } from '../../cli/model.js';
import { liveStatus } from '../../cli/status.js';
import type { ArmorProfileModel } from '../../core/armorprofilemodel.js';
import { connect, type Kube } from '../../k8s/client.js';
import { MODEL_GROUP, MODEL_PLURAL, MODEL_VERSION } from '../../k8s/crd.js';
import { resolveTarget } from '../../k8s/resolve.js';
import { parseTargetSpec } from '../../k8s/spec.js';
import { PACKAGE_ROOT } from '../../lib/home.js';
import { WORKFLOW_BUNDLE } from '../../workers/workers.js';
import type { ModelingResult } from '../../workflows/index.js';
import { CONTROLLER_QUEUE } from '../../workflows/queues.js';
import { CLI, tempDir } from '../helpers.js';
import { TEMPORAL_CLI } from '../workflows/env.js';
import { chartManifests, ControlPlane, controlPlaneMissing, FAKE_NODE } from './control-plane.js';

const NODES = Array.from({ length: 50 }, (_, i) => `sim-${String(i).padStart(3, '0')}`);
const S3 = join(PACKAGE_ROOT, '.tools', 'bin', 'varmor-s3');
const skip = controlPlaneMissing() || (!existsSync(S3) && 'varmor-s3 not built (make setup)');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CREDENTIALS = { AWS_ACCESS_KEY_ID: 'varmor-modeler', AWS_SECRET_ACCESS_KEY: 'varmor-modeler' };

let cp: ControlPlane;
let env: TestWorkflowEnvironment;
const children: ChildProcess[] = [];
before(async () => {
  if (skip) return;
  cp = await ControlPlane.start({ fakeNodes: true });
  env = await TestWorkflowEnvironment.createLocal({ server: { executable: { type: 'existing-path', path: TEMPORAL_CLI } } });
});
after(async () => {
  for (const c of children) c.kill('SIGTERM');
  await env?.teardown();
  await cp?.stop();
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await sleep(250);
  }
}

test('a Deployment over 50 KWOK nodes: one collector a node, simulated batches through the store, one model in the API server', { skip, timeout: 300_000 }, async (t) => {
  const kube: Kube = connect({ kubeconfig: cp.kubeconfig, retry: { attempts: 10, baseMs: 200 } });
  await cp.apply(await chartManifests(['--show-only', 'templates/crd.yaml']));
  await cp.kubectl(['create', 'namespace', 'shop']);
  await cp.addFakeNodes(NODES);
  await until('the default ServiceAccount', async () => ((await cp.kubectl(['get', 'serviceaccount', 'default', '-n', 'shop'])).code === 0 ? true : undefined));
  await cp.apply(
    JSON.stringify({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'shop' },
      spec: {
        replicas: NODES.length,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            nodeSelector: { type: 'kwok' },
            tolerations: [{ key: FAKE_NODE, operator: 'Exists', effect: 'NoSchedule' }],
            topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: 'web' } } }],
            containers: [{ name: 'web', image: 'registry.example/web:1' }],
          },
        },
      },
    }),
  );
  const resolved = await until('50 running pods on 50 nodes', async () => {
    const r = await resolveTarget(kube, parseTargetSpec('k8s:shop/deployment/web'));
    return r.nodes.length === NODES.length && r.pods.every((p) => p.containers.length === 1) ? r : undefined;
  });
  assert.deepEqual(resolved.nodes, NODES, 'one replica on every fake node');

  // The object store: varmor-s3 on loopback, as the all-in-one chart runs it.
  const port = await freePort();
  children.push(spawn(S3, ['--listen', `127.0.0.1:${port}`, '--db', join(await tempDir('s3'), 's3.db'), '--bucket', 'varmor-modeler'], { stdio: 'ignore' }));
  Object.assign(process.env, CREDENTIALS);
  const store = `s3://varmor-modeler/scale?endpoint=${encodeURIComponent(`http://127.0.0.1:${port}`)}&region=us-east-1&pathStyle=true`;

  // Two worker processes serve the 50 node queues with the simulated collector.
  for (const half of [NODES.slice(0, 25), NODES.slice(25)]) {
    const child = spawn(process.execPath, [CLI, 'worker', '--role', 'node', '--simulate', half.join(',')], {
      env: { ...process.env, ...CREDENTIALS, TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: 'default', VARMOR_MODELER_HOME: await tempDir('sim-home') },
      stdio: 'ignore',
    });
    children.push(child);
  }
  const controller = await Worker.create({ connection: env.nativeConnection, taskQueue: CONTROLLER_QUEUE, workflowBundle: { codePath: WORKFLOW_BUNDLE }, activities: controllerActivities({ store, kube }) });
  const running = controller.run();
  let result: ModelingResult;
  try {
    const started = Date.now();
    const h = await startModel(env.client, { target: { kind: 'k8s', spec: 'k8s:shop/deployment/web' }, duration: '25s', checkpointInterval: '2s', resolveInterval: '5s', store, searchAttributes: false }, {});
    const allRunning = await until('every collector checkpointing', async () => {
      const nodes = Object.values((await liveStatus(h)).nodes);
      return nodes.length === NODES.length && nodes.every((n) => n.state === 'running' && n.batches > 0) ? Date.now() - started : undefined;
    });
    t.diagnostic(`start to every collector checkpointing: ${allRunning} ms`);
    result = (await h.result()) as ModelingResult;
  } finally {
    controller.shutdown();
    await running;
  }
  assert.equal(result.nodes.length, NODES.length);
  assert.deepEqual([...new Set(result.nodes.map((n) => n.state))], ['completed']);

  const model = (await kube.custom.getNamespacedCustomObject({ group: MODEL_GROUP, version: MODEL_VERSION, plural: MODEL_PLURAL, namespace: 'shop', name: 'varmor-shop-web' })) as ArmorProfileModel;
  assert.deepEqual(model.status, { desiredNumber: NODES.length, completedNumber: NODES.length, ready: true });
  const files = (model.data.dynamicResult.appArmor?.files ?? []).map((f) => f.oldPath ?? f.path);
  for (const f of ['/etc/nginx/nginx.conf', '/usr/lib/x86_64-linux-gnu/libc.so.6']) assert.ok(files.includes(f), `common ${f}`);
  assert.ok(files.includes('/etc/nginx/conf.d/tls.conf') || files.includes('/usr/share/nginx/html/admin/index.html'), 'paths only some nodes saw are in the union');
  const rare = model.data.dynamicResult.appArmor!.files!.filter((f) => (f.oldPath ?? f.path).startsWith('/srv/www/assets/'));
  assert.ok(rare.length > 0, 'the long tail of rare paths reached the model');
  t.diagnostic(`model: ${files.length} file rules, ${model.data.dynamicResult.seccomp?.syscalls.length} syscalls, ${Buffer.byteLength(JSON.stringify(model))} bytes, storage ${model.storageType}`);
});
