/**
 * A real Kubernetes control plane on loopback for the tests (issue 12): etcd, kube-apiserver and
 * kube-controller-manager built by `make kube-tools` into .tools/bin, with a CA, serving and
 * client certificates and a service-account key generated per run (openssl). There is no kubelet
 * and no scheduler: pods are API objects the real controllers make, and a test binds them to nodes
 * itself. Authorization is RBAC, as on a cluster.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, writeFileSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../lib/package.js';
import type { V1Pod } from '@kubernetes/client-node';
import type { Kube } from '../../k8s/client.js';
import type { NetNs } from './netns.js';
import { freePort, run, tempDir } from '../helpers.js';

const BIN = join(PACKAGE_ROOT, '.tools', 'bin');
const CHART = join(PACKAGE_ROOT, 'charts', 'varmor-modeler');
export const KUBECTL = join(BIN, 'kubectl');
const TOOLS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok', 'kubectl', 'helm'];
const KWOK_STAGES = join(PACKAGE_ROOT, '.tools', 'kwok', 'stages.yaml');
/** The annotation KWOK manages nodes by; fake nodes also carry a taint of the same name, so only pods that tolerate it land there. */
export const FAKE_NODE = 'kwok.x-k8s.io/node';

/** Why the control plane cannot run here, or false. */
export function controlPlaneMissing(): string | false {
  const missing = TOOLS.filter((t) => !existsSync(join(BIN, t)));
  return missing.length ? `${missing.join(', ')} not built: run make kube-tools` : false;
}

/** A kubeconfig for the run's CA and a client certificate DIR/USER.crt; returns its path. */
export function writeKubeconfig(dir: string, user: string, url: string, name = user): string {
  const file = join(dir, `${name}.kubeconfig`);
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{name: test, cluster: {server: "' + url + '", certificate-authority: ' + join(dir, 'ca.crt') + '}}]',
      'users: [{name: ' + user + ', user: {client-certificate: ' + join(dir, `${user}.crt`) + ', client-key: ' + join(dir, `${user}.key`) + '}}]',
      'contexts: [{name: test, context: {cluster: test, user: ' + user + ', namespace: default}}]',
      'current-context: test',
      '',
    ].join('\n'),
  );
  return file;
}

/** The chart's manifests as `helm template` renders them for namespace varmor (release vm); args add to it. */
export async function chartManifests(args: string[] = []): Promise<string> {
  const r = await run(join(BIN, 'helm'), ['template', 'vm', CHART, '--namespace', 'varmor', '--kube-version', '1.34.4', '--set', 'store.url=s3://models/test', ...args]);
  if (r.code !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return r.stdout;
}


async function openssl(dir: string, ...args: string[]): Promise<void> {
  const r = await run('openssl', args, { cwd: dir });
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

/** A key and a certificate signed by the run's CA. */
export async function issue(dir: string, name: string, subject: string, ext: string): Promise<void> {
  writeFileSync(join(dir, `${name}.ext`), ext);
  await openssl(dir, 'req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
  await openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-out', `${name}.crt`, '-extfile', `${name}.ext`);
}

export interface Proc {
  child: ChildProcess;
  exited: Promise<void>;
}

/** Starts a daemon from .tools/bin, in the real node's namespace when there is one, its output to DIR/NAME.log. */
export function launch(name: string, dir: string, args: string[], ns?: NetNs, bin = join(BIN, name)): Proc {
  const log = openSync(join(dir, `${name}.log`), 'a');
  const child = ns ? ns.spawn(bin, args, { stdio: ['ignore', log, log] }) : spawn(bin, args, { stdio: ['ignore', log, log] });
  closeSync(log);
  return { child, exited: new Promise((r) => child.once('exit', () => r())) };
}

export async function stopProc(p: Proc | undefined): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  const t = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
  await p.exited;
  clearTimeout(t);
}

export class ControlPlane {
  private etcd?: Proc;
  private apiserver?: Proc;
  private controllers?: Proc;
  private scheduler?: Proc;
  private kwok?: Proc;

  private constructor(
    readonly dir: string,
    readonly url: string,
    /** Admin (system:masters) kubeconfig, for the test. */
    readonly kubeconfig: string,
    private readonly ports: { etcd: number; peer: number; api: number },
    /** The real node's namespace the control plane runs in (test/k8s/node.ts), if any. */
    readonly ns?: NetNs,
    /** Admin kubeconfig for the daemons: inside the namespace, the API is on its loopback. */
    readonly innerKubeconfig = kubeconfig,
  ) {}

  /**
   * Starts one; a free port taken by someone else between choosing and binding it means another
   * try. `fakeNodes`: also kube-scheduler and KWOK, which runs the nodes made by addFakeNodes.
   */
  static async start(opts: { controllers?: boolean; fakeNodes?: boolean; scheduler?: boolean; ns?: NetNs } = {}): Promise<ControlPlane> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await ControlPlane.startOnce(opts);
      } catch (err) {
        if (attempt === 3) throw err;
      }
    }
  }

  private static async startOnce(opts: { controllers?: boolean; fakeNodes?: boolean; scheduler?: boolean; ns?: NetNs }): Promise<ControlPlane> {
    const dir = opts.ns ? opts.ns.dir : await tempDir('control-plane');
    await openssl(dir, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=varmor-test-ca');
    const nodeIp = opts.ns ? `,IP:${opts.ns.address}` : '';
    await issue(dir, 'apiserver', '/CN=kube-apiserver', `subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc,IP:10.96.0.1${nodeIp}\nextendedKeyUsage=serverAuth\n`);
    await issue(dir, 'admin', '/O=system:masters/CN=admin', 'extendedKeyUsage=clientAuth\n');
    await openssl(dir, 'genrsa', '-out', 'sa.key', '2048');
    await openssl(dir, 'rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub');
    // In a namespace of its own every port is free; the test reaches the API through a forwarder.
    const ports = opts.ns ? { etcd: 2379, peer: 2380, api: 6443 } : { etcd: await freePort(), peer: await freePort(), api: await freePort() };
    const url = `https://127.0.0.1:${opts.ns ? await opts.ns.forward(ports.api) : ports.api}`;
    const kubeconfig = writeKubeconfig(dir, 'admin', url);
    const cp = new ControlPlane(dir, url, kubeconfig, ports, opts.ns, opts.ns ? writeKubeconfig(dir, 'admin', `https://127.0.0.1:${ports.api}`, 'inner') : kubeconfig);
    try {
      cp.startEtcd();
      await cp.startApiserver();
      if (opts.controllers !== false) cp.startControllers();
      if (opts.fakeNodes || opts.scheduler) cp.startScheduler();
      if (opts.fakeNodes) cp.startFakeNodes();
    } catch (err) {
      await cp.stop();
      throw err;
    }
    return cp;
  }

  private startEtcd(): void {
    const { etcd, peer } = this.ports;
    this.etcd = launch('etcd', this.dir, [
      '--name=test',
      `--data-dir=${join(this.dir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${etcd}`,
      `--advertise-client-urls=http://127.0.0.1:${etcd}`,
      `--listen-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-cluster=test=http://127.0.0.1:${peer}`,
      '--log-level=warn',
    ], this.ns);
  }

  /** Starts kube-apiserver and waits until it answers /readyz. */
  async startApiserver(): Promise<void> {
    const d = (f: string) => join(this.dir, f);
    this.apiserver = launch('kube-apiserver', this.dir, [
      `--etcd-servers=http://127.0.0.1:${this.ports.etcd}`,
      // on a real node pods reach it at the node's address (the kubernetes Service's endpoint)
      `--bind-address=${this.ns ? '0.0.0.0' : '127.0.0.1'}`,
      `--advertise-address=${this.ns?.address ?? '127.0.0.1'}`,
      `--secure-port=${this.ports.api}`,
      `--tls-cert-file=${d('apiserver.crt')}`,
      `--tls-private-key-file=${d('apiserver.key')}`,
      `--client-ca-file=${d('ca.crt')}`,
      '--service-account-issuer=https://kubernetes.default.svc',
      `--service-account-key-file=${d('sa.pub')}`,
      `--service-account-signing-key-file=${d('sa.key')}`,
      '--service-cluster-ip-range=10.96.0.0/16',
      '--allow-privileged=true',
      '--profiling=false',
      '--enable-priority-and-fairness=false',
      // A real kubelet: it is authorized as its node; the API server reaches it at its InternalIP
      // (its host name would need an outside DNS server) with a client certificate.
      ...(this.ns
        ? ['--authorization-mode=Node,RBAC', '--enable-admission-plugins=NodeRestriction', '--kubelet-preferred-address-types=InternalIP', `--kubelet-client-certificate=${d('admin.crt')}`, `--kubelet-client-key=${d('admin.key')}`]
        : ['--authorization-mode=RBAC']),
    ], this.ns);
    await this.waitReady();
  }

  private startControllers(): void {
    this.controllers = launch('kube-controller-manager', this.dir, [
      `--kubeconfig=${this.innerKubeconfig}`,
      '--leader-elect=false',
      `--service-account-private-key-file=${join(this.dir, 'sa.key')}`,
      `--root-ca-file=${join(this.dir, 'ca.crt')}`,
      '--use-service-account-credentials=false',
      '--bind-address=127.0.0.1',
      '--secure-port=0',
      '--concurrent-deployment-syncs=2',
    ], this.ns);
  }

  private startScheduler(): void {
    const k = this.innerKubeconfig;
    this.scheduler = launch('kube-scheduler', this.dir, [`--kubeconfig=${k}`, `--authentication-kubeconfig=${k}`, `--authorization-kubeconfig=${k}`, '--leader-elect=false', '--secure-port=0'], this.ns);
  }

  private startFakeNodes(): void {
    this.kwok = launch('kwok', this.dir, [
      `--kubeconfig=${this.kubeconfig}`,
      `--config=${KWOK_STAGES}`,
      `--manage-nodes-with-annotation-selector=${FAKE_NODE}=fake`,
      '--cidr=10.240.0.0/12',
      '--node-ip=10.240.0.1',
      '--node-lease-duration-seconds=40',
    ]);
  }

  /** Nodes that KWOK runs: Ready, heartbeating, their pods Running with container IDs. */
  async addFakeNodes(names: readonly string[]): Promise<void> {
    const node = (name: string) =>
      JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name, annotations: { [FAKE_NODE]: 'fake' }, labels: { 'kubernetes.io/hostname': name, type: 'kwok' } }, spec: { taints: [{ key: FAKE_NODE, value: 'fake', effect: 'NoSchedule' }] } });
    for (let i = 0; i < names.length; i += 200) await this.apply(names.slice(i, i + 200).map(node).join('\n---\n'));
  }

  /** kubectl as admin. */
  kubectl(args: string[]) {
    return run(KUBECTL, [`--kubeconfig=${this.kubeconfig}`, ...args]);
  }

  /** `kubectl apply` of manifests (YAML text), as admin; throws with kubectl's message when refused. */
  async apply(yaml: string, extra: string[] = []): Promise<string> {
    const file = join(this.dir, `apply-${++this.applied}.yaml`);
    writeFileSync(file, yaml);
    const r = await this.kubectl(['apply', '-f', file, ...extra]);
    if (r.code !== 0) throw new Error(`kubectl apply refused: ${r.stderr}`);
    return r.stdout;
  }
  private applied = 0;

  private async waitReady(timeoutMs = 90_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < until) {
      if (this.apiserver!.child.exitCode !== null) throw new Error(`kube-apiserver exited (${this.apiserver!.child.exitCode}); see ${join(this.dir, 'kube-apiserver.log')}`);
      const r = await this.kubectl(['get', '--raw', '/readyz']);
      if (r.code === 0 && r.stdout.trim() === 'ok') return;
      last = r.stderr || r.stdout;
      await new Promise((res) => setTimeout(res, 500));
    }
    throw new Error(`kube-apiserver not ready after ${timeoutMs} ms: ${last}`);
  }

  /** Stops the API server and starts it again on the same port and etcd (watches must survive it). */
  async restartApiserver(downMs = 1000): Promise<void> {
    await stopProc(this.apiserver);
    await new Promise((r) => setTimeout(r, downMs));
    await this.startApiserver();
  }

  async stop(): Promise<void> {
    await stopProc(this.kwok);
    await stopProc(this.scheduler);
    await stopProc(this.controllers);
    await stopProc(this.apiserver);
    await stopProc(this.etcd);
  }
}

/** A kubelet's first write for a pod: bind it to a node (pods/binding). */
export function bindPod(kube: Kube, namespace: string, name: string, node: string) {
  return kube.core.createNamespacedPodBinding({ namespace, name, body: { apiVersion: 'v1', kind: 'Binding', metadata: { name }, target: { apiVersion: 'v1', kind: 'Node', name: node } } });
}

/** A kubelet's second: the pod Running and Ready, its containers running with these runtime IDs (pods/status). */
export function reportRunning(kube: Kube, pod: V1Pod, containerIds: (container: string) => string) {
  const now = new Date();
  const status: V1Pod['status'] = {
    phase: 'Running',
    conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }],
    containerStatuses: pod.spec!.containers.map((c) => ({ name: c.name, image: c.image ?? '', imageID: '', containerID: containerIds(c.name), ready: true, restartCount: 0, started: true, state: { running: { startedAt: now } } })),
  };
  return kube.core.replaceNamespacedPodStatus({ namespace: pod.metadata!.namespace!, name: pod.metadata!.name!, body: { ...pod, status } });
}
