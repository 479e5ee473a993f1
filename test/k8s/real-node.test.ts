/**
 * A real single-node cluster (test/k8s/node.ts): a pod that containerd started, then the chart
 * installed on it and a Deployment modelled by the DaemonSet's own tracer, started from outside
 * the cluster as a user would. One node for the file. Timings go to the test's output.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../lib/home.js';
import { run } from '../helpers.js';
import { buildImage, NODE_NAME, ourImage, RealNode, realNodeMissing } from './node.js';

const missing = realNodeMissing();
const WEB_IMAGE = 'registry.varmor.test/web:1';
const HELM = join(PACKAGE_ROOT, '.tools', 'bin', 'helm');
const CLI = join(PACKAGE_ROOT, 'bin', 'varmor-modeler.js');
const VERSION = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
let node: RealNode;
const since = (t0: number) => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

before(async () => {
  if (missing) return;
  const t0 = Date.now();
  node = await RealNode.start();
  console.log(`node Ready: ${since(t0)}`);
  // busybox's httpd serving /etc: the workload
  await node.importImage(await buildImage(node.dir, WEB_IMAGE, [['/bin/busybox', '/bin/busybox']], ['/bin/busybox', 'httpd', '-f', '-p', '8080', '-h', '/etc']), WEB_IMAGE);
});
after(async () => {
  await node?.stop();
});

type Pod = { status?: { phase?: string; podIP?: string; containerStatuses?: { containerID?: string; ready?: boolean; restartCount?: number }[] }; metadata: { uid: string; name: string }; spec: { nodeName?: string } };

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 120_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

test('a real node: a pod runs in a container containerd started, in the cgroup the kubelet made', { skip: missing, timeout: 120_000 }, async () => {
  const t0 = Date.now();
  await node.cp.apply(JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'default' }, spec: { containers: [{ name: 'web', image: WEB_IMAGE, imagePullPolicy: 'Never' }] } }));
  const pod = await until('pod web Running', async () => {
    const p = JSON.parse((await node.cp.kubectl(['get', 'pod', 'web', '-o', 'json'])).stdout) as Pod;
    return p.status?.phase === 'Running' ? p : undefined;
  });
  console.log(`pod Running: ${since(t0)}`);
  assert.equal(pod.spec.nodeName, NODE_NAME);
  const id = /^containerd:\/\/([0-9a-f]{64})$/.exec(pod.status!.containerStatuses![0]!.containerID ?? '')?.[1];
  assert.ok(id, JSON.stringify(pod.status!.containerStatuses));
  const tasks = await node.ctr(['tasks', 'ls']);
  const pid = Number(tasks.stdout.split('\n').find((l) => l.startsWith(id!))?.split(/\s+/)[1]);
  assert.ok(pid > 0, tasks.stdout);
  assert.match(readFileSync(`/proc/${pid}/cgroup`, 'utf8'), new RegExp(`/kubepods/[a-z-]*/?pod${pod.metadata.uid}/${id}`));
  // kubectl exec (the API server reaches the kubelet at its InternalIP), and a Service address (kube-proxy)
  const exec = await node.cp.kubectl(['exec', 'web', '--', '/bin/busybox', 'sh', '-c', 'echo | /bin/busybox nc -w 3 10.96.0.1 443 && echo reached']);
  assert.match(exec.stdout, /reached/, exec.stderr);
  assert.equal((await node.cp.kubectl(['delete', 'pod', 'web', '--grace-period=0', '--force'])).code, 0);
});

test('the chart on the node: controller and DaemonSet Ready; a Deployment modelled from outside by the DaemonSet\'s tracer; its ArmorProfileModel READY', { skip: missing, timeout: 300_000 }, async () => {
  const services = await node.services();
  let t0 = Date.now();
  await node.importImage(await ourImage(), `docker.io/library/varmor-modeler:${VERSION}`);
  console.log(`image imported: ${since(t0)}`);
  await node.cp.kubectl(['create', 'namespace', 'varmor']);
  // varmor-s3 checks no signature, but the S3 client signs every request
  await node.cp.kubectl(['-n', 'varmor', 'create', 'secret', 'generic', 's3', '--from-literal=AWS_ACCESS_KEY_ID=x', '--from-literal=AWS_SECRET_ACCESS_KEY=x']);
  t0 = Date.now();
  const installed = await run(HELM, ['install', 'vm', join(PACKAGE_ROOT, 'charts', 'varmor-modeler'), '-n', 'varmor', '--kubeconfig', node.cp.kubeconfig,
    '--set', `temporal.address=${services.temporal}`, '--set', `store.url=${services.store}`, '--set', 'store.credentials.secretName=s3',
    // this machine has no /var/log/audit; kern.log's directory is /var/log
    '--set', 'node.auditLogPaths={/var/log/kern.log}', '--wait', '--timeout', '120s'], { timeoutMs: 180_000 });
  assert.equal(installed.code, 0, installed.stderr);
  console.log(`chart installed, controller and DaemonSet Ready: ${since(t0)}`);
  const pods = JSON.parse((await node.cp.kubectl(['-n', 'varmor', 'get', 'pods', '-o', 'json'])).stdout) as { items: Pod[] };
  assert.equal(pods.items.length, 2);
  for (const p of pods.items) assert.ok(p.status?.containerStatuses?.every((c) => c.ready && c.restartCount === 0), `${p.metadata.name}: ${JSON.stringify(p.status?.containerStatuses)}`);

  await node.cp.kubectl(['create', 'namespace', 'shop']);
  await node.cp.apply(JSON.stringify({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'shop' }, spec: { replicas: 1, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: WEB_IMAGE, imagePullPolicy: 'Never' }] } } } }));
  assert.equal((await node.cp.kubectl(['-n', 'shop', 'rollout', 'status', 'deploy/web', '--timeout=60s'])).code, 0);
  const podIp = (await node.cp.kubectl(['-n', 'shop', 'get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[0].status.podIP}'])).stdout;

  // As a user would: the CLI outside the cluster, Temporal through a port-forward.
  const env = { ...process.env, TEMPORAL_ADDRESS: `127.0.0.1:${await node.ns.forward(7233)}`, TEMPORAL_NAMESPACE: 'default', VARMOR_MODELER_HOME: join(node.dir, 'cli-home') };
  t0 = Date.now();
  const started = await run(process.execPath, [CLI, 'model', 'start', '--target', 'k8s:shop/deployment/web', '--duration', '20s', '--checkpoint-interval', '2s'], { env, timeoutMs: 60_000 });
  assert.equal(started.code, 0, started.stderr);
  for (let i = 0; i < 5; i++) {
    const get = await node.ns.run('bash', ['-c', `exec 3<>/dev/tcp/${podIp}/8080; printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' >&3; head -1 <&3`]);
    assert.match(get.stdout, /200 OK/, get.stderr);
    await new Promise((r) => setTimeout(r, 1000));
  }
  const model = await until('the ArmorProfileModel READY', async () => {
    const r = await node.cp.kubectl(['-n', 'shop', 'get', 'armorprofilemodels', 'varmor-shop-web', '-o', 'json']);
    const m = r.code === 0 ? (JSON.parse(r.stdout) as { status?: { ready?: boolean }; data: { dynamicResult: { appArmor?: { files?: { path: string; permissions: string[] }[] }; seccomp?: { syscalls?: string[] } } } }) : undefined;
    return m?.status?.ready ? m : undefined;
  });
  console.log(`model landed: ${since(t0)} after model start (a 20 s window)`);
  const listed = await node.cp.kubectl(['-n', 'shop', 'get', 'armorprofilemodels']);
  assert.match(listed.stdout, /varmor-shop-web\s+\S+\s+1\s+1\s+true/, listed.stdout);
  // what the DaemonSet's tracer saw in the container containerd started: busybox's httpd accepting, forking a
  // child per connection and sending /etc/hostname
  const files = model.data.dynamicResult.appArmor?.files ?? [];
  assert.ok(files.some((f) => f.path === '/etc/hostname' && f.permissions.includes('r')), JSON.stringify(model.data.dynamicResult.appArmor));
  for (const sc of ['accept', 'clone', 'sendfile']) assert.ok(model.data.dynamicResult.seccomp?.syscalls?.includes(sc), `${sc}: ${model.data.dynamicResult.seccomp?.syscalls}`);
  const status = JSON.parse((await run(process.execPath, [CLI, 'model', 'status', 'shop/web', '--json'], { env })).stdout) as { phase: string; nodes: Record<string, { events: number; state: string }> };
  assert.equal(status.phase, 'completed');
  assert.ok(status.nodes[NODE_NAME]!.events > 0, JSON.stringify(status.nodes));
});
