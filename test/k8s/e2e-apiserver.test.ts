/**
 * End to end on the real control plane: a Deployment made into a Pod by the real controllers, the
 * Pod's container a runc container on this machine under a kubelet-style pod cgroup named by the
 * Pod's real UID, the workflow on the Temporal dev server resolving it through the API, the node
 * activity tracing it with the BPF tracer, and the ArmorProfileModel written into the API server
 * with the chart's CRD (vArmor's schema, validated by the API server itself).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { controllerActivities, nodeActivities, tracerHosts } from '../../activities/index.js';
import { startModel } from '../../cli/model.js';
import type { ArmorProfileModel } from '../../core/armorprofilemodel.js';
import { connect, type Kube } from '../../k8s/client.js';
import { MODEL_GROUP, MODEL_PLURAL, MODEL_VERSION } from '../../k8s/crd.js';
import { PACKAGE_ROOT } from '../../lib/package.js';
import { NODE_WORKER_OPTIONS, WORKFLOW_BUNDLE } from '../../workers/workers.js';
import type { ModelingResult } from '../../workflows/index.js';
import { CONTROLLER_QUEUE, nodeQueue } from '../../workflows/queues.js';
import { bpfUnavailable, tempDir, testKeyring } from '../helpers.js';
import { OPEN_POLICY } from '../../core/policy.js';
import { startDevServer } from '../workflows/env.js';
import { bindPod, chartManifests, ControlPlane, controlPlaneMissing, reportRunning } from './control-plane.js';

const NODE = 'node-e2e';
const NS = 'shop';
const BUSYBOX = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
const CGROOT = '/sys/fs/cgroup';
const skip = controlPlaneMissing() || bpfUnavailable() || (!BUSYBOX && 'busybox-static not installed') || (spawnSync('runc', ['--version']).status !== 0 && 'runc not installed');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let cp: ControlPlane;
let env: TestWorkflowEnvironment;
const containers: string[] = [];
const podCgroups: string[] = [];
before(async () => {
  if (skip) return;
  cp = await ControlPlane.start();
  env = await startDevServer();
});
after(async () => {
  for (const id of containers) spawnSync('runc', ['delete', '-f', id], { stdio: 'ignore' });
  // the pod cgroups runc made, in every hierarchy, deepest first
  for (const h of existsSync(CGROOT) ? readdirSync(CGROOT).map((d) => join(CGROOT, d)) : []) {
    for (const pod of podCgroups) {
      const dir = h + pod;
      if (!existsSync(dir)) continue;
      for (const c of readdirSync(dir, { withFileTypes: true })) if (c.isDirectory()) rmdirSync(join(dir, c.name), { recursive: false });
      rmdirSync(dir);
    }
  }
  await env?.teardown();
  await cp?.stop();
});

/** The kubelet's part for one pod: bind it here, run its container with runc in the pod's cgroup, report it running. */
async function runPodHere(kube: Kube, work: string, podName: string, uid: string): Promise<string> {
  await bindPod(kube, NS, podName, NODE);
  const id = randomBytes(32).toString('hex');
  const dir = join(work, id.slice(0, 12));
  const rootfs = join(dir, 'rootfs');
  for (const d of ['bin', 'etc', 'proc', 'dev', 'sys', 'tmp']) mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync(BUSYBOX!, join(rootfs, 'bin/busybox'));
  chmodSync(join(rootfs, 'bin/busybox'), 0o755);
  for (const a of ['sh', 'cat', 'sleep']) symlinkSync('busybox', join(rootfs, 'bin', a));
  writeFileSync(join(rootfs, 'etc/app.conf'), 'listen 8080\n');
  assert.equal(spawnSync('runc', ['spec'], { cwd: dir }).status, 0);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  config.process.terminal = false;
  config.process.args = ['/bin/sh', '-c', 'while :; do /bin/cat /etc/app.conf > /dev/null; echo up > /tmp/health; /bin/sleep 0.2; done'];
  config.root.readonly = false;
  const pod = `/kubepods/besteffort/pod${uid}`;
  podCgroups.push(pod);
  config.linux.cgroupsPath = `${pod}/${id}`;
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  const r = spawnSync('runc', ['run', '-d', '--bundle', dir, id], { stdio: 'ignore', timeout: 30_000 });
  containers.push(id);
  assert.equal(r.status, 0, 'runc run');
  const current = await kube.core.readNamespacedPod({ namespace: NS, name: podName });
  await reportRunning(kube, current, () => `containerd://${id}`);
  return id;
}

test('a Deployment on the real control plane is modelled from its runc container, through an API server restart, and its model lands in the API server', { skip, timeout: 240_000 }, async () => {
  const kube = connect({ kubeconfig: cp.kubeconfig, retry: { attempts: 10, baseMs: 200 } });
  await cp.apply(await chartManifests(['--show-only', 'templates/crd.yaml']));
  assert.equal((await cp.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/armorprofilemodels.crd.varmor.org'])).code, 0);
  await cp.kubectl(['create', 'namespace', NS]);
  await cp.apply(`apiVersion: v1\nkind: Node\nmetadata: {name: ${NODE}}\n`);
  for (let i = 0; i < 100 && (await cp.kubectl(['get', 'serviceaccount', 'default', '-n', NS])).code !== 0; i++) await sleep(200);
  assert.equal((await cp.kubectl(['create', 'deployment', 'web', '-n', NS, '--image=registry.example/web:1', '--replicas=1'])).code, 0);
  let pod;
  for (let i = 0; i < 150 && !pod; i++) {
    pod = (await kube.core.listNamespacedPod({ namespace: NS, labelSelector: 'app=web' })).items[0];
    if (!pod) await sleep(200);
  }
  assert.ok(pod, 'the ReplicaSet controller made no pod');
  const uid = pod.metadata!.uid!;
  assert.equal(pod.metadata!.ownerReferences![0]!.kind, 'ReplicaSet');
  await runPodHere(kube, await tempDir('e2e-pod'), pod.metadata!.name!, uid);

  const store = pathToFileURL(await tempDir('store')).href;
  const keyring = await testKeyring();
  // A cluster's node agent: pods only, with the controller's grant, to its one store.
  const collector = { tracerPath: join(PACKAGE_ROOT, 'bpf', 'build', 'varmor-tracer'), arch: 'x86_64' as const, commandOutput: 'ignore' as const, auditSources: [], keyring, allow: { launch: false, hostTargets: false, stores: [store] } };
  const tracers = tracerHosts(collector);
  const workers = [
    await Worker.create({ connection: env.nativeConnection, taskQueue: CONTROLLER_QUEUE, workflowBundle: { codePath: WORKFLOW_BUNDLE }, activities: controllerActivities({ store, kube, keyring, policy: OPEN_POLICY }) }),
    await Worker.create({
      connection: env.nativeConnection,
      taskQueue: nodeQueue(NODE),
      activities: nodeActivities(collector, tracers),
      ...NODE_WORKER_OPTIONS,
    }),
  ];
  const running = workers.map((w) => w.run());
  let result: ModelingResult;
  try {
    const h = await startModel(env.client, { target: { kind: 'k8s', spec: 'k8s:shop/deployment/web' }, duration: '25s', checkpointInterval: '2s', resolveInterval: '2s', searchAttributes: false }, {});
    // The API server goes away in the middle of the window: re-resolution retries, the collector goes on.
    await sleep(4000);
    await cp.restartApiserver(3000);
    result = (await h.result()) as ModelingResult;
  } finally {
    for (const w of workers) w.shutdown();
    await Promise.all(running);
    await tracers.close();
  }
  assert.deepEqual(result.nodes.map((n) => `${n.node}:${n.state}`), [`${NODE}:completed`]);

  const stored = (await kube.custom.getNamespacedCustomObject({ group: MODEL_GROUP, version: MODEL_VERSION, plural: MODEL_PLURAL, namespace: NS, name: 'varmor-shop-web' })) as ArmorProfileModel;
  const aa = stored.data.dynamicResult.appArmor!;
  assert.ok(aa.executions?.includes('/bin/busybox'), `executions as the container sees them: ${aa.executions?.join(' ')}`);
  const file = (raw: string) => aa.files!.find((f) => (f.oldPath ?? f.path) === raw);
  assert.ok(file('/etc/app.conf')?.permissions.includes('r'), `files: ${JSON.stringify(aa.files)}`);
  assert.ok(file('/tmp/health')?.permissions.includes('w'), `files: ${JSON.stringify(aa.files)}`);
  assert.deepEqual(aa.profiles, ['varmor-shop-web']);
  assert.ok(stored.data.dynamicResult.seccomp!.syscalls.includes('nanosleep') || stored.data.dynamicResult.seccomp!.syscalls.includes('clock_nanosleep'));
  assert.deepEqual(stored.status, { desiredNumber: 1, completedNumber: 1, ready: true });
  assert.equal(stored.storageType, 'CRDInternal');
});
