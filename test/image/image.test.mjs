// The container image (tools/build-image.sh), unpacked with umoci into a runc bundle and run the
// way the Helm chart runs it: user, capabilities, read-only root, host PID, host mounts and
// supplemental groups all come from `helm template`, not from a copy of them here. Builds the
// image when out/image is missing or older than what goes into it (a clean clone builds it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { Tracer, sh, sleep, unhex, which } from '../bpf/harness.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const VERSION = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version;
const IMAGE = path.join(ROOT, 'out', 'image');
const HELM = path.join(ROOT, '.tools', 'bin', 'helm');
const APP = '/opt/varmor-modeler';
const INPUTS = ['dist', 'bin', 'bpf/build/varmor-tracer', '.tools/bin/varmor-s3', '.tools/venv/bin/temporal', 'package.json', 'package-lock.json', 'tools/build-image.sh'];

const cleanups = [];
after(() => { for (const f of cleanups.reverse()) try { f(); } catch {} });

/** Newest mtime under p (files and directories). */
function newest(p) {
  const st = fs.lstatSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(st.mtimeMs, ...fs.readdirSync(p).map((e) => newest(path.join(p, e))));
}

let rootfs;
let imageConfig;
let pods;
let secrets = {};

before(() => {
  for (const tool of ['umoci', 'runc']) assert.ok(which(tool), `${tool} is not installed (tools/setup-system.sh installs it)`);
  assert.ok(fs.existsSync(HELM), 'helm is not installed: make .tools/bin/helm');
  const index = path.join(IMAGE, 'index.json');
  const stale = !fs.existsSync(index) || fs.statSync(index).mtimeMs < Math.max(...INPUTS.map((p) => newest(path.join(ROOT, p))));
  if (stale) sh(path.join(ROOT, 'tools', 'build-image.sh'), [], { timeout: 300000 });

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'varmor-image-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  sh('umoci', ['unpack', '--image', `${IMAGE}:${VERSION}`, path.join(dir, 'unpacked')], { timeout: 120000 });
  rootfs = path.join(dir, 'unpacked', 'rootfs');
  // umoci's runtime config: the image's user, env and working directory as a runtime sees them.
  imageConfig = JSON.parse(fs.readFileSync(path.join(dir, 'unpacked', 'config.json'), 'utf8'));

  // The chart as installed with no pinning and no audit logs: the tracer's own needs only.
  const out = sh(HELM, ['template', 'image-test', path.join(ROOT, 'charts', 'varmor-modeler'), '--kube-version', '1.33.0',
    '--set', 'store.url=s3://models/test', '--set', 'node.pinning=false', '--set-json', 'node.auditLogPaths=[]']);
  const docs = parseAllDocuments(out).map((d) => d.toJS()).filter(Boolean);
  pods = Object.fromEntries(['Deployment', 'DaemonSet'].map((kind) => [kind, docs.find((d) => d.kind === kind).spec.template.spec]));
  secrets = Object.fromEntries(docs.filter((d) => d.kind === 'Secret').map((d) => [d.metadata.name, d]));
  // The all-in-one's own pods: the Temporal dev server and the object store.
  const aio = sh(HELM, ['template', 'image-test', path.join(ROOT, 'charts', 'varmor-modeler'), '--kube-version', '1.33.0', '--set', 'allInOne.enabled=true']);
  for (const d of parseAllDocuments(aio).map((x) => x.toJS()).filter(Boolean)) {
    const part = d.kind === 'Deployment' && d.metadata.labels['app.kubernetes.io/component'];
    if (['temporal', 'store', 'controller'].includes(part)) pods[`allInOne-${part}`] = d.spec.template.spec;
  }
});

/**
 * A runc bundle for the chart's pod spec: its container's securityContext (user, capabilities,
 * no privilege escalation, read-only root), hostPID, hostPath mounts and supplemental groups.
 * `caps` replaces the container's added capabilities (to show what they are for).
 */
function bundle(pod, { args, env = [], caps, hostNetwork = false } = {}) {
  const c = pod.containers[0];
  const sc = { ...pod.securityContext, ...c.securityContext };
  assert.equal(sc.privileged, false);
  assert.deepEqual(sc.capabilities.drop, ['ALL']);
  const added = (caps ?? sc.capabilities.add ?? []).map((name) => `CAP_${name}`);
  const spec = structuredClone(imageConfig);
  spec.root = { path: rootfs, readonly: sc.readOnlyRootFilesystem === true };
  const uid = sc.runAsUser ?? spec.process.user.uid;
  spec.process = {
    ...spec.process,
    terminal: false,
    args: args ?? c.command,
    env: [...spec.process.env, ...env],
    user: { uid, gid: sc.runAsGroup ?? (uid === 0 ? 0 : spec.process.user.gid), additionalGids: sc.supplementalGroups ?? [] },
    noNewPrivileges: sc.allowPrivilegeEscalation === false,
    // Kubernetes grants added capabilities to uid 0 as effective; to others only in the bounding set.
    capabilities: { bounding: added, effective: uid === 0 ? added : [], permitted: uid === 0 ? added : [], inheritable: [], ambient: [] },
  };
  if (pod.hostPID) spec.linux.namespaces = spec.linux.namespaces.filter((n) => n.type !== 'pid');
  if (hostNetwork) spec.linux.namespaces = spec.linux.namespaces.filter((n) => n.type !== 'network');
  if (pod.securityContext?.fsGroup !== undefined) spec.process.user.additionalGids = [...spec.process.user.additionalGids, pod.securityContext.fsGroup];
  for (const m of c.volumeMounts ?? []) {
    const vol = pod.volumes.find((v) => v.name === m.name);
    let source = vol.hostPath?.path;
    if (vol.secret) {
      // As the kubelet writes a Secret volume: root-owned files of defaultMode, group fsGroup.
      const secret = secrets[vol.secret.secretName];
      assert.ok(secret, `volume ${m.name}: the chart creates no Secret ${vol.secret.secretName}`);
      source = fs.mkdtempSync(path.join(os.tmpdir(), `varmor-image-${m.name}-`));
      for (const [k, v] of Object.entries(secret.data ?? {})) {
        const file = path.join(source, k);
        fs.writeFileSync(file, Buffer.from(v, 'base64'));
        fs.chownSync(file, 0, pod.securityContext?.fsGroup ?? 0);
        fs.chmodSync(file, vol.secret.defaultMode ?? 0o644);
      }
      fs.chmodSync(source, 0o755);
      cleanups.push(() => fs.rmSync(source, { recursive: true, force: true }));
    }
    if (vol.persistentVolumeClaim || vol.emptyDir) {
      // A fresh volume, as the kubelet hands it over: owned by fsGroup, group-writable, setgid.
      source = fs.mkdtempSync(path.join(os.tmpdir(), `varmor-image-${m.name}-`));
      fs.chownSync(source, 0, pod.securityContext?.fsGroup ?? 0);
      fs.chmodSync(source, 0o2775);
      cleanups.push(() => fs.rmSync(source, { recursive: true, force: true }));
    }
    assert.ok(source, `volume ${m.name}: hostPath, secret, persistentVolumeClaim and emptyDir volumes are mounted here`);
    spec.mounts.push({ destination: m.mountPath, type: 'bind', source, options: ['rbind', m.readOnly ? 'ro' : 'rw'] });
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'varmor-image-bundle-'));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec));
  const id = `varmor-image-${process.pid}-${path.basename(dir).slice(-6)}`;
  cleanups.push(() => { spawnSync('runc', ['delete', '-f', id]); fs.rmSync(dir, { recursive: true, force: true }); });
  return { dir, id, runArgs: ['run', '--bundle', dir, id] };
}

/** Runs a bundle to completion. */
function run(b) {
  const r = spawnSync('runc', b.runArgs, { encoding: 'utf8', timeout: 60000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('image config: entry point, non-root user, version label, the name containerd imports it as', () => {
  const index = JSON.parse(fs.readFileSync(path.join(IMAGE, 'index.json'), 'utf8'));
  assert.equal(index.manifests.length, 1);
  const { annotations, digest } = index.manifests[0];
  assert.equal(annotations['org.opencontainers.image.ref.name'], VERSION);
  assert.equal(annotations['io.containerd.image.name'], `docker.io/library/varmor-modeler:${VERSION}`);
  const blob = (d) => JSON.parse(fs.readFileSync(path.join(IMAGE, 'blobs', ...d.split(':')), 'utf8'));
  const config = blob(blob(digest).config.digest);
  assert.deepEqual(config.config.Entrypoint, ['varmor-modeler']);
  assert.equal(config.config.User, '65532:65532');
  assert.equal(config.config.Labels['org.opencontainers.image.version'], VERSION);
  // The chart's default image name is varmor-modeler:<appVersion>: the tag must match.
  const chart = fs.readFileSync(path.join(ROOT, 'charts', 'varmor-modeler', 'Chart.yaml'), 'utf8');
  assert.match(chart, new RegExp(`^appVersion: "${VERSION.replaceAll('.', '\\.')}"$`, 'm'));
});

test('the CLI answers in the controller pod: uid 65532, no capabilities, read-only root', () => {
  const pod = pods.Deployment;
  assert.equal(pod.securityContext.runAsUser, imageConfig.process.user.uid, "the chart's controller user is the image's");
  const version = run(bundle(pod, { args: ['varmor-modeler', '--version'] }));
  assert.equal(version.code, 0, version.stderr);
  assert.equal(version.stdout.trim(), VERSION);
  const help = run(bundle(pod, { args: ['varmor-modeler', '--help'] }));
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^ {2}worker \[options\]/m);
  const who = run(bundle(pod, { args: ['node', '-p', 'JSON.stringify([process.getuid(), process.getgid(), require("os").userInfo().username])'] }));
  assert.deepEqual(JSON.parse(who.stdout), [65532, 65532, 'nonroot']);
});

test("the controller's command starts on the read-only root and stops only at Temporal", () => {
  // Nothing listens on the container's own loopback: the worker gets as far as connecting.
  const r = run(bundle(pods.Deployment, { env: ['TEMPORAL_ADDRESS=127.0.0.1:7233'] }));
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /Temporal at 127\.0\.0\.1:7233 is unreachable/);
  assert.doesNotMatch(r.stderr, /EROFS|EACCES|Cannot find module|cannot open shared object/);
});

test("both components read the chart's keyring as their own users, and nobody else's key", () => {
  for (const kind of ['Deployment', 'DaemonSet']) {
    const env = pods[kind].containers[0].env.find((e) => e.name === 'VARMOR_MODELER_KEYS');
    assert.equal(env?.value, '/etc/varmor-modeler/keys', `${kind} names the keyring`);
    const script = `import('${APP}/dist/lib/keyring.js').then((m) => console.log(m.Keyring.fromEnv('/nonexistent').primary))`;
    const r = run(bundle(pods[kind], { args: ['node', '-e', script], env: [`VARMOR_MODELER_KEYS=${env.value}`] }));
    assert.equal(r.code, 0, `${kind}: ${r.stderr}`);
    assert.equal(r.stdout.trim(), 'k0001', `${kind} signs with the chart's key`);
  }
});

const TRACER = `${APP}/bpf/build/varmor-tracer`;

test("the node agent's tracer loads BPF with exactly the chart's capabilities and traces a launch", async () => {
  const pod = pods.DaemonSet;
  assert.equal(pod.hostPID, true);
  assert.ok(pod.containers[0].volumeMounts.some((m) => m.mountPath === '/sys/kernel/btf' && m.readOnly), 'BTF mounted read-only');
  const b = bundle(pod, { args: [TRACER] });
  const tracer = new Tracer(b.runArgs, 'runc');
  try {
    const ready = await tracer.waitFor(() => true, { timeout: 30000, what: 'ready' });
    assert.equal(ready.t, 'ready', JSON.stringify(ready) + tracer.stderr);
    assert.equal(ready.noaudit, true, 'with the chart\'s SYSLOG, kallsyms shows the addresses that tell capability probes from use');
    // The CLI as the chart's command line starts it: PATH search, the script's #! env, then node.
    const launched = await tracer.launch(1, ['varmor-modeler', '--version']);
    assert.equal(launched.t, 'launched', JSON.stringify(launched));
    await tracer.waitFor((r) => r.t === 'exit' && r.target === 1 && r.pid === launched.pid, { what: 'exit' });
    const execs = tracer.of(1, 'exec').map((r) => [unhex(r.filename_hex), unhex(r.path_hex)]);
    assert.deepEqual(execs, [['/usr/local/bin/varmor-modeler', '/usr/bin/env'], ['/usr/bin/node', '/usr/bin/node']], 'paths as the container sees them');
    const files = tracer.of(1, 'file').map((r) => unhex(r.path_hex));
    assert.ok(files.includes(`${APP}/package.json`), `read the image's package.json: ${files.join(' ')}`);
  } finally {
    assert.equal((await tracer.quit()).code, 0, tracer.stderr);
  }
});

test('without BPF or PERFMON the tracer stops with the permission error', () => {
  const chartCaps = pods.DaemonSet.containers[0].securityContext.capabilities.add;
  for (const caps of [[], ...['BPF', 'PERFMON'].map((missing) => chartCaps.filter((c) => c !== missing))]) {
    const r = run(bundle(pods.DaemonSet, { args: [TRACER], caps }));
    assert.equal(r.code, 1, `with ${caps.join(',') || 'no capabilities'}: ${r.stdout}`);
    assert.match(r.stderr, /^varmor-tracer: cannot load BPF programs: permission denied \(needs root or CAP_BPF/m);
    assert.equal(JSON.parse(r.stdout.trim().split('\n').at(-1)).t, 'error');
  }
});

test("containerd imports the archive as kind does, under the chart's image name, and runs it", async () => {
  assert.ok(which('containerd') && which('ctr'), 'containerd is not installed (tools/setup-system.sh installs it)');
  // A private containerd: its own root, state and socket, stopped in teardown.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'varmor-image-containerd-'));
  const sock = path.join(dir, 'containerd.sock');
  fs.writeFileSync(path.join(dir, 'config.toml'), `version = 2\nroot = "${dir}/root"\nstate = "${dir}/state"\n[grpc]\n  address = "${sock}"\n`);
  const daemon = spawn('containerd', ['--config', path.join(dir, 'config.toml')], { stdio: 'ignore' });
  cleanups.push(() => { daemon.kill(); spawnSync('sleep', ['1']); fs.rmSync(dir, { recursive: true, force: true }); });
  const ctr = (args, opts) => sh('ctr', ['--address', sock, '--namespace', 'k8s.io', ...args], { timeout: 60000, ...opts });
  for (let i = 0; !fs.existsSync(sock); i++) { assert.ok(i < 100, 'containerd did not start'); await sleep(100); }

  // kind load image-archive runs exactly this on each node.
  ctr(['images', 'import', '--all-platforms', '--digests', '-'], { stdio: 'pipe', input: fs.readFileSync(path.join(ROOT, 'out', `varmor-modeler-${VERSION}.oci.tar`)) });
  const name = `docker.io/library/${pods.DaemonSet.containers[0].image}`;
  assert.ok(ctr(['images', 'ls', '-q']).split('\n').includes(name), `${name} imported`);
  assert.equal(ctr(['run', '--rm', name, `varmor-image-${process.pid}`, 'varmor-modeler', '--version']).trim(), VERSION);
});

test("the all-in-one's Temporal dev server and object store run from the image as the chart says, and serve", async () => {
  const { openStore } = await import('../../dist/store/open.js');
  const started = [];
  try {
    for (const part of ['temporal', 'store']) {
      const pod = pods[`allInOne-${part}`];
      assert.ok(pod, `helm template with allInOne.enabled has no ${part} Deployment`);
      assert.equal(pod.containers[0].securityContext.readOnlyRootFilesystem, true);
      // The host's network namespace stands in for the pod's, so the test reaches the port.
      const b = bundle(pod, { hostNetwork: true });
      const r = spawnSync('runc', ['run', '-d', '--bundle', b.dir, b.id], { stdio: 'ignore', timeout: 30000 });
      assert.equal(r.status, 0, `runc run ${part}`);
      started.push(b.id);
    }
    // Temporal: the dev server on SQLite in its volume answers the CLI's health check.
    const temporal = path.join(ROOT, '.tools', 'venv', 'bin', 'temporal');
    let health;
    for (let i = 0; i < 120; i++) {
      health = spawnSync(temporal, ['operator', 'cluster', 'health', '--address', '127.0.0.1:7233'], { encoding: 'utf8' });
      if (health.status === 0) break;
      await sleep(250);
    }
    assert.equal(health.status, 0, `temporal dev server not healthy: ${health.stderr}`);
    assert.match(health.stdout, /SERVING/);
    // The store: the URL the chart gives both components, with the Service name replaced by loopback.
    const env = pods['allInOne-controller'].containers[0].env;
    for (const e of env.filter((x) => x.name.startsWith('AWS_'))) process.env[e.name] = e.value;
    const url = env.find((e) => e.name === 'VARMOR_MODELER_STORE').value.replace(/endpoint=http:\/\/[^:]+:/, 'endpoint=http://127.0.0.1:');
    const store = await openStore(url);
    let put;
    for (let i = 0; i < 40 && !put; i++) put = await store.put('runs/r1/probe.json', Buffer.from('{"ok":true}')).then(() => true, async () => { await sleep(250); return false; });
    assert.ok(put, 'varmor-s3 did not take a put');
    assert.equal(Buffer.from(await store.get('runs/r1/probe.json')).toString(), '{"ok":true}');
  } finally {
    for (const id of started) spawnSync('runc', ['delete', '-f', id]);
  }
});
