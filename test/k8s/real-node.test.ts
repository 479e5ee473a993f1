/**
 * A real single-node cluster (test/k8s/node.ts): a pod that containerd started, then the chart
 * installed on it and a Deployment modelled by the DaemonSet's own tracer, started from outside
 * the cluster as a user would. One node for the file. Timings go to the test's output.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../lib/package.js';
import { parse as parseYaml } from 'yaml';
import { freePort, run } from '../helpers.js';
import { buildImage, NODE_NAME, ourImage, RealNode, realNodeMissing } from './node.js';

const missing = realNodeMissing();
const WEB_IMAGE = 'registry.varmor.test/web:1';
const HELM = join(PACKAGE_ROOT, '.tools', 'bin', 'helm');
const CLI = join(PACKAGE_ROOT, 'bin', 'varmor-modeler.js');
const VERSION = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
let node: RealNode;
const PAGES = ['page-1', 'page-2', 'page-3', 'page-4'];
const since = (t0: number) => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

before(async () => {
  if (missing) return;
  const t0 = Date.now();
  node = await RealNode.start();
  console.log(`node Ready: ${since(t0)}`);
  // busybox's httpd serving /etc: the workload; each page is read in one phase of a window only
  const pages = PAGES.map((p): [string, string] => (writeFileSync(join(node.dir, p), `${p}\n`), [join(node.dir, p), `/etc/${p}`]));
  await node.importImage(await buildImage(node.dir, WEB_IMAGE, [['/bin/busybox', '/bin/busybox'], ...pages], ['/bin/busybox', 'httpd', '-f', '-p', '8080', '-h', '/etc']), WEB_IMAGE);
});
after(async () => {
  while (process.env.HOLD && existsSync(process.env.HOLD)) await new Promise((r) => setTimeout(r, 1000));
  await node?.stop();
});

/**
 * The node agent Ready (its readiness probe: the tracer loads). `helm install --wait` does not wait
 * for a one-pod DaemonSet: with maxUnavailable 1 it counts as ready with none.
 */
async function agentReady(release: string): Promise<void> {
  // a DaemonSet's rollout is complete once its pods are available: Ready
  const rolled = await node.cp.kubectl(['-n', 'varmor', 'rollout', 'status', `daemonset/${release}-varmor-modeler-node`, '--timeout=180s']);
  assert.equal(rolled.code, 0, rolled.stderr + (await node.cp.kubectl(['-n', 'varmor', 'describe', 'pods', '-l', 'app.kubernetes.io/component=node'])).stdout.slice(-3000));
}

type Pod = { status?: { phase?: string; podIP?: string; containerStatuses?: { containerID?: string; ready?: boolean; restartCount?: number }[] }; metadata: { uid: string; name: string; labels?: Record<string, string> }; spec: { nodeName?: string } };

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
  await agentReady('vm');
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
  cli = env;
});

/** The CLI's environment once the chart is installed (Temporal through a port-forward). */
let cli: NodeJS.ProcessEnv | undefined;

/** GET /NAME from the Deployment's current pod (busybox httpd serves /etc): the pod reads /etc/NAME. */
async function get(name: string): Promise<void> {
  // the newest: an old one may still be terminating
  const ip = (await node.cp.kubectl(['-n', 'shop', 'get', 'pods', '-l', 'app=web', '--field-selector=status.phase=Running', '--sort-by=.metadata.creationTimestamp', '-o', 'jsonpath={.items[-1:].status.podIP}'])).stdout;
  const r = await node.ns.run('bash', ['-c', `exec 3<>/dev/tcp/${ip}/8080; printf 'GET /${name} HTTP/1.0\r\n\r\n' >&3; head -1 <&3`]);
  assert.match(r.stdout, /200 OK/, `GET /${name} from ${ip}: ${r.stderr}`);
}

/** SIGKILLs the Deployment's container from the host and waits until the kubelet has restarted it in its pod. */
async function restartContainer(): Promise<void> {
  const pods = async () => (JSON.parse((await node.cp.kubectl(['-n', 'shop', 'get', 'pods', '-l', 'app=web', '-o', 'json'])).stdout) as { items: Pod[] }).items.filter((p) => !(p.metadata as { deletionTimestamp?: string }).deletionTimestamp);
  const [pod] = await pods();
  const id = pod!.status!.containerStatuses![0]!.containerID!.replace(/^containerd:\/\//, '');
  const pid = readdirSync('/proc').find((p) => /^\d+$/.test(p) && (() => {
    try {
      return readFileSync(`/proc/${p}/cgroup`, 'utf8').includes(id) && readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('httpd');
    } catch {
      return false;
    }
  })());
  assert.ok(pid, `no httpd in container ${id}`);
  process.kill(Number(pid), 'SIGKILL');
  await until('the container restarted in its pod', async () => {
    const p = (await pods()).find((x) => x.metadata.uid === pod!.metadata.uid);
    const c = p?.status?.containerStatuses?.[0];
    return c && (c.restartCount ?? 0) >= 1 && c.ready ? true : undefined;
  });
}

async function nodeStatus(): Promise<{ phase: string; nodes: Record<string, { state: string; attempt?: number }> }> {
  return JSON.parse((await run(process.execPath, [CLI, 'model', 'status', 'shop/web-2', '--json'], { env: cli })).stdout);
}

test('a window over a pod deleted and recreated, the node agent killed and a rollout: the model has what every pod did, the agent\'s downtime included', { skip: missing, timeout: 300_000 }, async () => {
  assert.ok(cli, 'the chart test ran first');
  const started = await run(process.execPath, [CLI, 'model', 'start', '--target', 'k8s:shop/deployment/web', '--id', 'web-2', '--duration', '10m', '--checkpoint-interval', '2s', '--resolve-interval', '2s'], { env: cli, timeoutMs: 60_000 });
  assert.equal(started.code, 0, started.stderr);
  // a heartbeat's progress: the collector has attached and tracks the pod
  await until('the collector running', async () => (Object.values((await nodeStatus()).nodes).some((n) => n.state === 'running' && n.attempt !== undefined) ? true : undefined));
  await get('page-1');
  // the ReplicaSet makes a new pod: the next resolution follows it
  assert.equal((await node.cp.kubectl(['-n', 'shop', 'delete', 'pods', '-l', 'app=web', '--wait=true'])).code, 0);
  assert.equal((await node.cp.kubectl(['-n', 'shop', 'rollout', 'status', 'deploy/web', '--timeout=60s'])).code, 0);
  await new Promise((r) => setTimeout(r, 5000));
  await get('page-2');
  // a snapshot mid-window: the resource shows the model so far, not ready until the final merge
  await new Promise((r) => setTimeout(r, 3000)); // a checkpoint interval and more: page-2 is in the store
  const snapped = await run(process.execPath, [CLI, 'model', 'snapshot', 'shop/web-2'], { env: cli, timeoutMs: 60_000 });
  assert.equal(snapped.code, 0, snapped.stderr);
  assert.match(snapped.stdout, /^interim version v\S+-interim of varmor-modeler\/shop\/web-2/);
  const interim = JSON.parse((await node.cp.kubectl(['-n', 'shop', 'get', 'armorprofilemodels', 'varmor-shop-web-2', '-o', 'json'])).stdout) as { status?: { ready?: boolean }; data: { dynamicResult: { appArmor?: { files?: { path: string }[] } } } };
  assert.equal(interim.status?.ready, false);
  for (const p of ['page-1', 'page-2']) assert.ok(interim.data.dynamicResult.appArmor?.files?.some((f) => f.path === `/etc/${p}`), `${p} not in the snapshot`);
  // the node agent killed: its container restarts in its pod, the collector is retried and adopts the pinned state
  const agent = (await node.ns.run('pgrep', ['-f', 'varmor-modeler worker --role node'])).stdout.trim().split('\n').map(Number)[0]!;
  assert.ok(agent > 0);
  process.kill(agent, 'SIGKILL');
  await get('page-3'); // while no agent runs
  await until('the retried collector', async () => (Object.values((await nodeStatus()).nodes).some((n) => n.state === 'running' && (n.attempt ?? 1) > 1) ? true : undefined), 120_000);
  // a rollout: a new ReplicaSet's pod
  assert.equal((await node.cp.kubectl(['-n', 'shop', 'set', 'env', 'deploy/web', 'ROLLOUT=2'])).code, 0);
  assert.equal((await node.cp.kubectl(['-n', 'shop', 'rollout', 'status', 'deploy/web', '--timeout=60s'])).code, 0);
  await new Promise((r) => setTimeout(r, 5000));
  await get('page-4');
  // the container killed in its pod: the kubelet restarts it there, traced from its first instruction
  await restartContainer();
  await get('page-4');
  await new Promise((r) => setTimeout(r, 3000));
  assert.equal((await run(process.execPath, [CLI, 'model', 'stop', 'shop/web-2'], { env: cli })).code, 0);
  const model = await until('the second model READY', async () => {
    const r = await node.cp.kubectl(['-n', 'shop', 'get', 'armorprofilemodels', 'varmor-shop-web-2', '-o', 'json']);
    const m = r.code === 0 ? (JSON.parse(r.stdout) as { status?: { ready?: boolean }; data: { dynamicResult: { appArmor?: { files?: { path: string; permissions: string[] }[] } } } }) : undefined;
    return m?.status?.ready ? m : undefined;
  });
  const files = model.data.dynamicResult.appArmor?.files ?? [];
  const why = async () => `${JSON.stringify(await nodeStatus())}\n${(await node.cp.kubectl(['-n', 'varmor', 'logs', '-l', 'app.kubernetes.io/component=node', '--tail=40'])).stdout}\n${(await node.cp.kubectl(['-n', 'varmor', 'logs', '-l', 'app.kubernetes.io/component=controller', '--tail=40'])).stdout}`;
  if (!PAGES.every((p) => files.some((x) => x.path === `/etc/${p}`))) console.log(await why());
  for (const f of PAGES.map((p) => `/etc/${p}`)) assert.ok(files.some((x) => x.path === f && x.permissions.includes('r')), `${f} lost: ${JSON.stringify(files)}`);
});

const RATELIMIT = '/proc/sys/kernel/printk_ratelimit';

/** `model result` from inside the node's network, where the store is: the run's outputs, in a directory. */
async function result(name: string): Promise<string> {
  const out = join(node.dir, `result-${name}`);
  const r = await node.ns.run('env', [`TEMPORAL_ADDRESS=${node.ns.address}:7233`, 'AWS_ACCESS_KEY_ID=x', 'AWS_SECRET_ACCESS_KEY=x', `VARMOR_MODELER_HOME=${join(node.dir, 'cli-home')}`, process.execPath, CLI, 'model', 'result', `shop/${name}`, '-o', out]);
  assert.equal(r.code, 0, r.stderr);
  return out;
}

test('the audit half: the agent installs the modeling-state profile, the Deployment runs under it, and what the kernel logged (read from /dev/kmsg) agrees with the tracer', { skip: missing, timeout: 300_000 }, async () => {
  assert.ok(cli, 'the chart test ran first');
  // kauditd prints through printk_ratelimit() (10 records per 5 s by default): lifted while modelling, as docs/modeling-state.md says
  const ratelimit = readFileSync(RATELIMIT, 'utf8').trim();
  writeFileSync(RATELIMIT, '0');
  try {
    let t0 = Date.now();
    const up = await run(HELM, ['upgrade', 'vm', join(PACKAGE_ROOT, 'charts', 'varmor-modeler'), '-n', 'varmor', '--kubeconfig', node.cp.kubeconfig, '--reuse-values',
      '--set', 'node.modelingState.enabled=true', '--set', `node.kubeletRootDir=${node.kubeletDir}`, '--set', 'node.auditLogPaths={/dev/kmsg}', '--wait', '--timeout', '120s'], { timeoutMs: 180_000 });
    assert.equal(up.code, 0, up.stderr);
    await agentReady('vm');
    console.log(`chart upgraded to modeling state, DaemonSet rolled out: ${since(t0)}`);
    const started = await run(process.execPath, [CLI, 'model', 'start', '--target', 'k8s:shop/deployment/web', '--id', 'web-audit', '--duration', '10m', '--checkpoint-interval', '2s', '--resolve-interval', '2s', '--modeling-state'], { env: cli, timeoutMs: 60_000 });
    assert.equal(started.code, 0, started.stderr);
    const patch = /kubectl -n shop patch deployment\/web -p '(.*)'/.exec(started.stderr);
    assert.ok(patch, started.stderr);
    // the AppArmor half, for nodes that have AppArmor: printed with where it goes, and it compiles
    assert.match(started.stderr, /apparmor_parser -r -W \/etc\/apparmor.d\/varmor-shop-web-audit`/);
    const appArmor = started.stderr.split('\n').filter((l) => l.startsWith('    ')).map((l) => l.slice(4)).join('\n');
    const parsed = spawnSync('apparmor_parser', ['-Q', '-K'], { input: appArmor, encoding: 'utf8' });
    assert.equal(parsed.status, 0, parsed.stderr + appArmor);
    const status = async () => JSON.parse((await run(process.execPath, [CLI, 'model', 'status', 'shop/web-audit', '--json'], { env: cli })).stdout) as { nodes: Record<string, { state: string; attempt?: number }> };
    const heartbeat = () => until('a collector heartbeat', async () => (Object.values((await status()).nodes).some((n) => n.state === 'running' && n.attempt !== undefined) ? true : undefined));
    await heartbeat();
    // the node agent put the profile where the kubelet looks for Localhost profiles
    const installed = JSON.parse(readFileSync(join(node.kubeletDir, 'seccomp', 'varmor-modeler', 'varmor-shop-web-audit.json'), 'utf8')) as { defaultAction: string };
    assert.equal(installed.defaultAction, 'SCMP_ACT_LOG');
    // the patch the CLI printed, applied as a user would: the pods restart under the logging profile
    t0 = Date.now();
    assert.equal((await node.cp.kubectl(['-n', 'shop', 'patch', 'deployment/web', '-p', patch[1]!])).code, 0);
    assert.equal((await node.cp.kubectl(['-n', 'shop', 'rollout', 'status', 'deploy/web', '--timeout=90s'])).code, 0);
    // the workflow follows the new pod: its collector's first heartbeat
    await new Promise((r) => setTimeout(r, 5000));
    await heartbeat();
    console.log(`modeling state rolled out and followed: ${since(t0)}`);
    for (let round = 0; round < 3; round++) {
      for (const p of PAGES) await get(p);
      await new Promise((r) => setTimeout(r, 1000));
    }
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal((await run(process.execPath, [CLI, 'model', 'stop', 'shop/web-audit'], { env: cli })).code, 0);
    const out = await result('web-audit');
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { sources: { syscalls: { bpf: string[]; audit: string[]; onlyBpf: string[]; quiet: string[]; onlyAudit: string[] } }; counters: Record<string, number> };
    const s = report.sources.syscalls;
    console.log(`syscalls: the tracer ${s.bpf.length}, the audit log ${s.audit.length}; missed by the audit log: [${s.onlyBpf}] and the quiet set [${s.quiet}]; missed by the tracer: [${s.onlyAudit}]; counters ${JSON.stringify(report.counters)}`);
    for (const sc of ['accept', 'sendfile']) assert.ok(s.audit.includes(sc), `${sc} not in the audit log's set: ${s.audit}`);
    assert.deepEqual(s.onlyBpf, [], 'the audit log missed only the quiet set');
    assert.deepEqual(s.onlyAudit, [], 'the tracer missed nothing the audit log saw');
    assert.equal(report.counters.kauditd_suppressed ?? 0, 0);
  } finally {
    writeFileSync(RATELIMIT, ratelimit);
  }
});

test('the advice applied on the node it came from, all at once: the generated seccomp profile as a Localhost profile and the advised securityContext; the pods start and serve, a call the model never saw is refused', { skip: missing, timeout: 180_000 }, async () => {
  assert.ok(cli, 'the chart test ran first');
  // the model of the window that saw containers start (a pod recreated, a rollout, a container restarted)
  const out = await result('web-2');
  const seccomp = readFileSync(join(out, 'seccomp.json'), 'utf8');
  const profile = JSON.parse(seccomp) as { defaultAction: string; syscalls: { names: string[] }[] };
  assert.equal(profile.defaultAction, 'SCMP_ACT_ERRNO');
  assert.ok(!profile.syscalls.some((r) => r.names.includes('unshare')), 'the model never saw unshare');
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { profile: string; securityContext: { securityContext: Record<string, unknown>; pod: Record<string, unknown> } };
  const advice = report.securityContext;
  // the generated profile as a Localhost profile in the kubelet's seccomp directory (the advice
  // names RuntimeDefault where that would do, and the Localhost profile as the tighter one)
  const localhostProfile = `${report.profile}.json`;
  writeFileSync(join(node.kubeletDir, 'seccomp', localhostProfile), seccomp);
  const container = { ...advice.securityContext, seccompProfile: { type: 'Localhost', localhostProfile } };
  // modeling state ends (the pod-level logging profile goes) and every advised field goes in at once
  const podContext = { seccompProfile: null, ...((advice.pod.securityContext as object | undefined) ?? {}) };
  const patch = { spec: { template: { spec: { ...advice.pod, securityContext: podContext, containers: [{ name: 'web', securityContext: container }] } } } };
  console.log(`advice applied: ${JSON.stringify(patch.spec.template.spec)}`);
  const patched = await node.cp.kubectl(['-n', 'shop', 'patch', 'deploy/web', '--type=strategic', '-p', JSON.stringify(patch)]);
  assert.equal(patched.code, 0, patched.stderr);
  const rolled = await node.cp.kubectl(['-n', 'shop', 'rollout', 'status', 'deploy/web', '--timeout=90s']);
  assert.equal(rolled.code, 0, rolled.stderr);
  const pods = JSON.parse((await node.cp.kubectl(['-n', 'shop', 'get', 'pods', '-l', 'app=web', '-o', 'json'])).stdout) as { items: { metadata: { name: string; deletionTimestamp?: string }; spec: { containers: { securityContext?: Record<string, unknown> }[] }; status: { containerStatuses?: { restartCount: number; ready: boolean }[] } }[] };
  const running = pods.items.filter((p) => !p.metadata.deletionTimestamp);
  assert.deepEqual(running[0]!.spec.containers[0]!.securityContext, container);
  assert.ok(running[0]!.status.containerStatuses?.every((c) => c.ready && c.restartCount === 0), JSON.stringify(running[0]!.status));
  for (let round = 0; round < 3; round++) for (const p of PAGES) await get(p);
  // what the model never saw: refused
  const attack = await node.cp.kubectl(['-n', 'shop', 'exec', running[0]!.metadata.name, '--', '/bin/busybox', 'unshare', '-U', 'true']);
  assert.notEqual(attack.code, 0, attack.stdout);
  assert.match(attack.stderr + attack.stdout, /Operation not permitted/);
});

type Policy = { spec: { podSelector: unknown; ingress: { from?: { podSelector?: { matchLabels?: Record<string, string> }; ipBlock?: { cidr: string } }[]; ports: { port: number; protocol: string }[] }[]; egress: unknown[] } };

test('the NetworkPolicy from the same model, enforced by a real implementation (kube-router): the traffic the window saw passes, connections it never saw are dropped', { skip: missing, timeout: 300_000 }, async () => {
  assert.ok(cli, 'the chart test ran first');
  // the web pods without the previous test's profile, so a refused connection is the network's doing
  const plain = await node.cp.kubectl(['-n', 'shop', 'patch', 'deploy/web', '--type=json', '-p', JSON.stringify([{ op: 'remove', path: '/spec/template/spec/containers/0/securityContext' }])]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal((await node.cp.kubectl(['-n', 'shop', 'rollout', 'status', 'deploy/web', '--timeout=90s'])).code, 0);
  // a Service in front of them, a client that calls it, and a pod the window never sees
  await node.cp.apply(JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] } }));
  const svc = (await node.cp.kubectl(['-n', 'shop', 'get', 'svc', 'web', '-o', 'jsonpath={.spec.clusterIP}'])).stdout;
  for (const [name, app] of [['client', 'client'], ['intruder', 'intruder']]) {
    await node.cp.apply(JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'shop', labels: { app } }, spec: { containers: [{ name: 'c', image: WEB_IMAGE, imagePullPolicy: 'Never', command: ['/bin/busybox', 'sleep', '3600'] }] } }));
  }
  assert.equal((await node.cp.kubectl(['-n', 'shop', 'wait', '--for=condition=Ready', 'pod/client', 'pod/intruder', '--timeout=60s'])).code, 0);
  // busybox's nc (its static wget looks the port's name up and crashes without NSS)
  const fetch = async (pod: string) => node.cp.kubectl(['-n', 'shop', 'exec', pod, '--', '/bin/busybox', 'sh', '-c', `printf 'GET /page-1 HTTP/1.0\\r\\n\\r\\n' | /bin/busybox nc -w 3 ${svc} 80`]);
  const web = async () => (await node.cp.kubectl(['-n', 'shop', 'get', 'pods', '-l', 'app=web', '--field-selector=status.phase=Running', '-o', 'jsonpath={.items[0].metadata.name}'])).stdout;
  const outbound = async () => node.cp.kubectl(['-n', 'shop', 'exec', await web(), '--', '/bin/busybox', 'sh', '-c', 'echo | /bin/busybox nc -w 3 10.96.0.1 443 && echo reached']);
  // before any policy every one of them goes through (once kube-proxy has programmed the new Service)
  for (const pod of ['client', 'intruder']) await until(`${pod} through the Service before the policy`, async () => (/page-1/.test((await fetch(pod)).stdout) ? true : undefined), 60_000);
  assert.match((await outbound()).stdout, /reached/, 'the web pod reaches the API server before the policy');

  // the window: the client calls the Service, the node calls the pod
  const started = await run(process.execPath, [CLI, 'model', 'start', '--target', 'k8s:shop/deployment/web', '--id', 'web-net', '--duration', '25s', '--checkpoint-interval', '2s'], { env: cli, timeoutMs: 60_000 });
  assert.equal(started.code, 0, started.stderr);
  await new Promise((r) => setTimeout(r, 5000));
  for (let i = 0; i < 8; i++) {
    assert.match((await fetch('client')).stdout, /page-1/);
    await get('page-1');
    await new Promise((r) => setTimeout(r, 1000));
  }
  await until('the web-net model READY', async () => {
    const r = await node.cp.kubectl(['-n', 'shop', 'get', 'armorprofilemodels', 'varmor-shop-web-net', '-o', 'jsonpath={.status.ready}']);
    return r.stdout === 'true' ? true : undefined;
  });
  const file = join(await result('web-net'), 'networkpolicy.yaml');
  const policy = parseYaml(readFileSync(file, 'utf8')) as Policy;
  console.log(`NetworkPolicy: ${JSON.stringify(policy.spec)}`);
  assert.deepEqual(policy.spec.podSelector, { matchLabels: { app: 'web' } });
  const http = policy.spec.ingress.find((r) => r.ports.some((p) => p.port === 8080 && p.protocol === 'TCP'));
  assert.ok(http?.from?.some((f) => f.podSelector?.matchLabels?.app === 'client'), 'ingress on 8080 from the client pods');
  assert.ok(!JSON.stringify(policy.spec.ingress).includes('intruder'));
  assert.deepEqual(policy.spec.egress, [], 'busybox httpd connects nowhere');

  // enforced: kube-router on the node, the policy as the modeler wrote it
  const t0 = Date.now();
  await node.startNetworkPolicies();
  const applied = await node.cp.kubectl(['apply', '-f', file]);
  assert.equal(applied.code, 0, applied.stderr);
  await until('the intruder dropped', async () => (/page-1/.test((await fetch('intruder')).stdout) ? undefined : true), 60_000);
  console.log(`kube-router healthy and the policy enforced: ${since(t0)}`);
  for (let i = 0; i < 3; i++) assert.match((await fetch('client')).stdout, /page-1/, 'the client the window saw still gets its pages');
  await get('page-1');
  const dropped = await fetch('intruder');
  assert.notEqual(dropped.code, 0, dropped.stdout);
  assert.doesNotMatch(dropped.stdout, /page-1/);
  assert.doesNotMatch((await outbound()).stdout, /reached/, 'the web pod\'s own connection out, which the window never saw, is dropped');

  // the policy gone, the intruder passes again: it was the policy that dropped it
  assert.equal((await node.cp.kubectl(['delete', '-f', file])).code, 0);
  await until('the intruder through again', async () => (/page-1/.test((await fetch('intruder')).stdout) ? true : undefined), 60_000);
  await node.cp.kubectl(['-n', 'shop', 'delete', 'pod', 'client', 'intruder', '--grace-period=0', '--force']);
});

test('all in one: the chart runs the Temporal dev server and the store as pods, found through the cluster DNS; a model started through kubectl port-forward lands', { skip: missing, timeout: 360_000 }, async () => {
  assert.ok(cli, 'the chart test ran first');
  let t0 = Date.now();
  await node.startDns();
  console.log(`CoreDNS Ready: ${since(t0)}`);
  // the external-mode release goes first: one node agent per node, and the CRD is a release's
  const gone = await run(HELM, ['uninstall', 'vm', '-n', 'varmor', '--kubeconfig', node.cp.kubeconfig, '--wait', '--timeout', '120s'], { timeoutMs: 180_000 });
  assert.equal(gone.code, 0, gone.stderr);
  // no volume provisioner on this node: a hostPath volume of no class for each claim, owned by the pods' user
  for (const part of ['temporal', 'store']) {
    const dir = join(node.dir, `pv-${part}`);
    mkdirSync(dir, { recursive: true });
    chownSync(dir, 65532, 65532);
    await node.cp.apply(JSON.stringify({ apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: `aio-${part}` }, spec: { capacity: { storage: '10Gi' }, accessModes: ['ReadWriteOnce'], storageClassName: '', hostPath: { path: dir, type: 'Directory' } } }));
  }
  t0 = Date.now();
  const installed = await run(HELM, ['install', 'aio', join(PACKAGE_ROOT, 'charts', 'varmor-modeler'), '-n', 'varmor', '--kubeconfig', node.cp.kubeconfig,
    '--set', 'allInOne.enabled=true', '--set-json', 'node.auditLogPaths=[]', '--wait', '--timeout', '180s'], { timeoutMs: 240_000 });
  assert.equal(installed.code, 0, installed.stderr);
  await agentReady('aio');
  console.log(`all-in-one chart installed, its four pods Ready: ${since(t0)}`);
  const pods = JSON.parse((await node.cp.kubectl(['-n', 'varmor', 'get', 'pods', '-o', 'json'])).stdout) as { items: Pod[] };
  assert.deepEqual(pods.items.map((p) => p.metadata.labels?.['app.kubernetes.io/component']).sort(), ['controller', 'node', 'store', 'temporal']);
  for (const p of pods.items) assert.ok(p.status?.containerStatuses?.every((c) => c.ready), `${p.metadata.name}: ${JSON.stringify(p.status?.containerStatuses)}`);

  // as a user of a cluster would: the dev server's Service through kubectl port-forward (apiserver, kubelet, containerd)
  const port = await freePort();
  const forward = spawn(join(PACKAGE_ROOT, '.tools', 'bin', 'kubectl'), ['--kubeconfig', node.cp.kubeconfig, '-n', 'varmor', 'port-forward', 'svc/aio-varmor-modeler-temporal', `${port}:7233`], { stdio: 'ignore' });
  try {
    await until('the port-forward', async () => (await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => (s.destroy(), resolve(true))).on('error', () => resolve(false));
    })) || undefined);
    const env = { ...process.env, TEMPORAL_ADDRESS: `127.0.0.1:${port}`, TEMPORAL_NAMESPACE: 'default', VARMOR_MODELER_HOME: join(node.dir, 'cli-home-aio') };
    t0 = Date.now();
    const started = await run(process.execPath, [CLI, 'model', 'start', '--target', 'k8s:shop/deployment/web', '--id', 'web-aio', '--duration', '20s', '--checkpoint-interval', '2s'], { env, timeoutMs: 60_000 });
    assert.equal(started.code, 0, started.stderr);
    for (let i = 0; i < 5; i++) {
      await get('page-1');
      await new Promise((r) => setTimeout(r, 1000));
    }
    const model = await until('the all-in-one model READY', async () => {
      const r = await node.cp.kubectl(['-n', 'shop', 'get', 'armorprofilemodels', 'varmor-shop-web-aio', '-o', 'json']);
      const m = r.code === 0 ? (JSON.parse(r.stdout) as { status?: { ready?: boolean }; data: { dynamicResult: { appArmor?: { files?: { path: string }[] } } } }) : undefined;
      return m?.status?.ready ? m : undefined;
    });
    console.log(`all-in-one model landed: ${since(t0)} after model start (a 20 s window)`);
    assert.ok(model.data.dynamicResult.appArmor?.files?.some((f) => f.path === '/etc/page-1'), JSON.stringify(model.data.dynamicResult.appArmor));
  } finally {
    forward.kill();
  }
});
