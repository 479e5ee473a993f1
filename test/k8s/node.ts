/**
 * A real single-node cluster for the tests (issue 21): the control plane of control-plane.ts with
 * kube-scheduler, Debian's containerd and CNI plugins, and a kubelet built from the same pinned
 * k8s.io/kubernetes, all in a network and mount namespace of the test's own
 * (../shared/reference/real-node.md says what each setting is for). Images are built here and
 * imported into containerd: nothing is pulled.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../lib/package.js';
import { run, tempDir } from '../helpers.js';
import { ControlPlane, issue, launch, stopProc, writeKubeconfig, type Proc } from './control-plane.js';
import { NetNs } from './netns.js';

const BIN = join(PACKAGE_ROOT, '.tools', 'bin');
export const NODE_NAME = 'node-1';
/** The kube-dns Service's address (in the apiserver's Service range), which pods' resolv.conf names. */
const CLUSTER_DNS = '10.96.0.10';

/** The pause image every pod's sandbox runs (built by buildImage, never pulled). */
export const PAUSE_IMAGE = 'registry.varmor.test/pause:1';
const CNI_BIN = '/usr/lib/cni';
/** Paths a kubelet or containerd makes whatever they are told: a tmpfs over each in the namespace. */
const HOST_PATHS = ['/var/lib/kubelet', '/var/log/containers', '/var/log/pods', '/run/containerd', '/var/lib/cni', '/run/varmor-modeler'];
/** What protectKernelDefaults wants these sysctls to be; bind-mounted over them in the namespace. */
const SYSCTLS: Record<string, string> = { 'vm/overcommit_memory': '1', 'kernel/panic': '10', 'kernel/panic_on_oops': '1' };

/** Why the real node cannot run here, or false. */
export function realNodeMissing(): string | false {
  if (process.getuid?.() !== 0) return 'a real node needs root';
  for (const f of [join(BIN, 'kubelet'), join(BIN, 'kube-proxy'), join(BIN, 'kube-apiserver'), join(BIN, 'coredns'), join(BIN, 'kube-router'), '/usr/bin/containerd', join(CNI_BIN, 'bridge'), '/usr/bin/umoci', '/usr/sbin/ipset']) {
    if (!existsSync(f)) return `${f} missing: run make setup`;
  }
  return false;
}

export class RealNode {
  private containerd?: Proc;
  private kubelet?: Proc;
  private proxy?: Proc;
  private netpol?: Proc;
  private readonly made: string[] = [];

  private constructor(
    readonly ns: NetNs,
    readonly cp: ControlPlane,
  ) {}

  get dir(): string {
    return this.ns.dir;
  }

  /** Starts everything and waits until the node is Ready; the times of each step in `timings`. */
  static async start(): Promise<RealNode> {
    const t0 = Date.now();
    const dir = await tempDir('node');
    const ns = await NetNs.create(dir);
    let node: RealNode | undefined;
    try {
      const cp = await ControlPlane.start({ ns, scheduler: true });
      node = new RealNode(ns, cp);
      await node.isolate();
      await node.startContainerd();
      await node.importImage(await buildImage(dir, PAUSE_IMAGE, [], ['/pause']), PAUSE_IMAGE);
      await node.startKubelet();
      node.startProxy();
      await node.waitReady();
      node.timings.ready = Date.now() - t0;
      return node;
    } catch (err) {
      if (node) await node.stop();
      else await ns.destroy();
      throw err;
    }
  }

  readonly timings: Record<string, number> = {};

  /** tmpfs over the host paths the daemons write regardless of their settings; sysctl values protectKernelDefaults checks. */
  private async isolate(): Promise<void> {
    for (const p of HOST_PATHS) {
      if (!existsSync(p)) {
        mkdirSync(p, { recursive: true });
        this.made.push(p);
      }
      await this.must('mount', ['-t', 'tmpfs', 'tmpfs', p]);
    }
    // the node's own bpffs: what its pods pin stays in it
    await this.must('mount', ['-t', 'bpf', 'bpf', '/sys/fs/bpf']);
    for (const [key, value] of Object.entries(SYSCTLS)) {
      const file = join(this.dir, `sysctl-${key.replace('/', '-')}`);
      writeFileSync(file, `${value}\n`);
      await this.must('mount', ['--bind', file, `/proc/sys/${key}`]);
    }
  }

  private async must(cmd: string, args: string[]): Promise<string> {
    const r = await this.ns.run(cmd, args);
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} in the node's namespace: ${r.stderr}`);
    return r.stdout;
  }

  /** The kubelet's --root-dir (its seccomp profiles are in seccomp/ below it). */
  get kubeletDir(): string {
    return join(this.dir, 'kubelet');
  }

  get containerdSocket(): string {
    return join(this.dir, 'containerd', 'containerd.sock');
  }

  private async startContainerd(): Promise<void> {
    const c = join(this.dir, 'containerd');
    mkdirSync(join(this.dir, 'cni', 'net.d'), { recursive: true });
    writeFileSync(
      join(this.dir, 'cni', 'net.d', '10-bridge.conflist'),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'varmor-test',
        // pods reach each other, the node's address and Service addresses (through the bridge, where
        // kube-proxy's rules are), and nothing else: no default route, no masquerade
        plugins: [
          {
            type: 'bridge',
            bridge: 'cni0',
            isGateway: true,
            ipMasq: false,
            ipam: { type: 'host-local', ranges: [[{ subnet: '10.244.0.0/24' }]], routes: [{ dst: `${this.ns.address.replace(/\.\d+$/, '.0')}/24` }, { dst: '10.96.0.0/16' }], dataDir: join(this.dir, 'cni', 'ipam') },
          },
        ],
      }),
    );
    writeFileSync(
      join(this.dir, 'containerd.toml'),
      `version = 2
root = "${c}/root"
state = "${c}/state"
[grpc]
  address = "${this.containerdSocket}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      SystemdCgroup = false
      Root = "${c}/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${CNI_BIN}"
    conf_dir = "${this.dir}/cni/net.d"
`,
    );
    this.containerd = launch('containerd', this.dir, ['--config', join(this.dir, 'containerd.toml')], this.ns, '/usr/bin/containerd');
    for (let i = 0; i < 100; i++) {
      if ((await this.ctr(['version'])).code === 0) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`containerd did not start; see ${join(this.dir, 'containerd.log')}`);
  }

  /**
   * An external Temporal (the dev server) and object store (varmor-s3) for the chart, in the node's
   * namespace at its address: pods reach it through the bridge, the test through `forward`.
   */
  async services(): Promise<{ temporal: string; store: string }> {
    const a = this.ns.address;
    launch('temporal', this.dir, ['server', 'start-dev', '--ip', '0.0.0.0', '--port', '7233', '--headless', '--log-level', 'error', '--db-filename', join(this.dir, 'temporal.db')], this.ns, join(PACKAGE_ROOT, '.tools', 'venv', 'bin', 'temporal'));
    launch('varmor-s3', this.dir, ['--listen', `${a}:8333`, '--db', join(this.dir, 's3.db'), '--bucket', 'models'], this.ns);
    for (let i = 0; i < 240; i++) {
      if ((await this.ns.run('bash', ['-c', 'echo > /dev/tcp/127.0.0.1/7233'])).code === 0) return { temporal: `${a}:7233`, store: `s3://models/runs?endpoint=http://${a}:8333&region=us-east-1&pathStyle=true` };
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`the Temporal dev server did not start; see ${join(this.dir, 'temporal.log')}`);
  }

  /**
   * The cluster's DNS as kubeadm sets it up: CoreDNS (built by `make kube-tools`, in an image of its
   * own) as a Deployment in kube-system labelled k8s-app=kube-dns, behind the kube-dns Service at
   * the address the kubelet gives pods; it answers for cluster.local and forwards nowhere.
   */
  async startDns(): Promise<void> {
    const image = 'registry.varmor.test/coredns:1';
    await this.importImage(await buildImage(this.dir, image, [[join(PACKAGE_ROOT, '.tools', 'bin', 'coredns'), '/coredns']], ['/coredns']), image);
    const corefile = '.:1053 {\n    errors\n    health :8080\n    ready :8181\n    kubernetes cluster.local in-addr.arpa ip6.arpa {\n        pods insecure\n        fallthrough in-addr.arpa ip6.arpa\n    }\n    cache 30\n}\n';
    const labels = { 'k8s-app': 'kube-dns' };
    const objects = [
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'coredns', namespace: 'kube-system' } },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'system:coredns' }, rules: [{ apiGroups: [''], resources: ['endpoints', 'services', 'pods', 'namespaces'], verbs: ['list', 'watch'] }, { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] }] },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'system:coredns' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:coredns' }, subjects: [{ kind: 'ServiceAccount', name: 'coredns', namespace: 'kube-system' }] },
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'coredns', namespace: 'kube-system' }, data: { Corefile: corefile } },
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'coredns', namespace: 'kube-system', labels },
        spec: {
          replicas: 1,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              serviceAccountName: 'coredns',
              dnsPolicy: 'Default',
              securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
              containers: [
                {
                  name: 'coredns',
                  image,
                  imagePullPolicy: 'Never',
                  args: ['-conf', '/etc/coredns/Corefile'],
                  ports: [{ containerPort: 1053, protocol: 'UDP' }, { containerPort: 1053, protocol: 'TCP' }],
                  readinessProbe: { httpGet: { path: '/ready', port: 8181 } },
                  securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
                  volumeMounts: [{ name: 'config', mountPath: '/etc/coredns', readOnly: true }],
                },
              ],
              volumes: [{ name: 'config', configMap: { name: 'coredns' } }],
            },
          },
        },
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'kube-dns', namespace: 'kube-system', labels },
        spec: { clusterIP: CLUSTER_DNS, selector: labels, ports: [{ name: 'dns', port: 53, targetPort: 1053, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, targetPort: 1053, protocol: 'TCP' }] },
      },
    ];
    await this.cp.apply(objects.map((o) => JSON.stringify(o)).join('\n---\n'));
    const rolled = await this.cp.kubectl(['-n', 'kube-system', 'rollout', 'status', 'deployment/coredns', '--timeout=90s']);
    if (rolled.code !== 0) throw new Error(`CoreDNS did not come up: ${rolled.stderr}`);
  }

  /** ctr in the k8s.io namespace of the node's containerd. */
  ctr(args: string[]) {
    return this.ns.run('ctr', ['--address', this.containerdSocket, '-n', 'k8s.io', ...args]);
  }

  /** Imports an OCI archive of image `ref` (name:tag): buildImage's, or one that names itself (ourImage). */
  async importImage(archive: string, ref: string): Promise<void> {
    const named = ref.startsWith('docker.io/');
    const r = await this.ctr(['images', 'import', ...(named ? [] : ['--base-name', ref.replace(/:[^:/]+$/, '')]), archive]);
    if (r.code !== 0) throw new Error(`ctr images import ${ref}: ${r.stderr}`);
    const listed = await this.ctr(['images', 'ls', '-q']);
    if (!listed.stdout.split('\n').includes(ref)) throw new Error(`${ref} not among the imported images: ${listed.stdout}`);
  }

  private async startKubelet(): Promise<void> {
    await issue(this.dir, 'kubelet', `/O=system:nodes/CN=system:node:${NODE_NAME}`, 'extendedKeyUsage=clientAuth\n');
    const kubeconfig = writeKubeconfig(this.dir, 'kubelet', 'https://127.0.0.1:6443');
    writeFileSync(
      join(this.dir, 'kubelet.yaml'),
      JSON.stringify({
        apiVersion: 'kubelet.config.k8s.io/v1beta1',
        kind: 'KubeletConfiguration',
        cgroupDriver: 'cgroupfs',
        failSwapOn: false,
        failCgroupV1: false,
        makeIPTablesUtilChains: false,
        protectKernelDefaults: true,
        containerRuntimeEndpoint: `unix://${this.containerdSocket}`,
        authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: join(this.dir, 'ca.crt') } },
        authorization: { mode: 'Webhook' },
        podLogsDir: join(this.dir, 'pod-logs'),
        resolvConf: '',
        // the cluster DNS a pod's resolv.conf names: startDns() puts CoreDNS behind it
        clusterDNS: [CLUSTER_DNS],
        clusterDomain: 'cluster.local',
        serializeImagePulls: false,
        registerNode: true,
        // the node's disk is the test machine's, shared with everything else on it: the kubelet's
        // defaults (imagefs.available<15%) would evict our pods whenever that disk is 85% used
        evictionHard: { 'memory.available': '50Mi', 'nodefs.available': '1%', 'imagefs.available': '1%', 'nodefs.inodesFree': '1%' },
        imageGCHighThresholdPercent: 100,
        imageGCLowThresholdPercent: 99,
      }),
    );
    this.kubelet = launch(
      'kubelet',
      this.dir,
      [`--kubeconfig=${kubeconfig}`, `--config=${join(this.dir, 'kubelet.yaml')}`, `--root-dir=${this.kubeletDir}`, `--node-ip=${this.ns.address}`, `--hostname-override=${NODE_NAME}`, '--v=1'],
      this.ns,
    );
  }

  /** kube-proxy (iptables, in the namespace): Service addresses reach their pods, the kubernetes Service the API server. */
  private startProxy(): void {
    writeFileSync(
      join(this.dir, 'kube-proxy.yaml'),
      JSON.stringify({
        apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
        kind: 'KubeProxyConfiguration',
        clientConnection: { kubeconfig: this.cp.innerKubeconfig },
        mode: 'iptables',
        hostnameOverride: NODE_NAME,
        clusterCIDR: '10.244.0.0/24',
        // leave the conntrack table's host-wide limits alone
        conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
        metricsBindAddress: '127.0.0.1:10249',
        healthzBindAddress: '127.0.0.1:10256',
      }),
    );
    this.proxy = launch('kube-proxy', this.dir, [`--config=${join(this.dir, 'kube-proxy.yaml')}`], this.ns);
  }

  /**
   * kube-router's NetworkPolicy controller (its firewall only: no routing, no service proxy) in the
   * namespace, where kube-proxy's rules are: from here on the node enforces NetworkPolicies, with
   * iptables and ipsets over the bridge's traffic. Resolves once it reports healthy.
   */
  async startNetworkPolicies(): Promise<void> {
    this.netpol = launch('kube-router', this.dir, [
      `--kubeconfig=${this.cp.innerKubeconfig}`,
      '--run-firewall=true', '--run-router=false', '--run-service-proxy=false', '--run-loadbalancer=false', '--enable-cni=false',
      `--hostname-override=${NODE_NAME}`, '--service-cluster-ip-range=10.96.0.0/16', '--health-port=20244', '--metrics-port=0', '--v=1',
    ], this.ns);
    for (let i = 0; i < 240; i++) {
      const r = await this.ns.run('bash', ['-c', 'exec 3<>/dev/tcp/127.0.0.1/20244 && printf "GET /healthz HTTP/1.0\r\n\r\n" >&3 && head -1 <&3']);
      if (/200/.test(r.stdout)) return;
      await new Promise((res) => setTimeout(res, 250));
    }
    throw new Error(`kube-router did not become healthy; see ${join(this.dir, 'kube-router.log')}`);
  }

  private async waitReady(timeoutMs = 120_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < until) {
      if (this.kubelet!.child.exitCode !== null) throw new Error(`kubelet exited (${this.kubelet!.child.exitCode}); see ${join(this.dir, 'kubelet.log')}`);
      const r = await this.cp.kubectl(['get', 'node', NODE_NAME, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']);
      if (r.stdout.trim() === 'True') return;
      last = r.stderr || r.stdout;
      await new Promise((res) => setTimeout(res, 500));
    }
    throw new Error(`node ${NODE_NAME} not Ready after ${timeoutMs} ms: ${last}; see ${join(this.dir, 'kubelet.log')}`);
  }

  async stop(): Promise<void> {
    // pods first: the kubelet would restart them; then what runs them
    await stopProc(this.kubelet);
    await stopProc(this.proxy);
    await stopProc(this.netpol);
    await this.ctr(['tasks', 'ls', '-q']).then(async (r) => {
      for (const id of r.stdout.split('\n').filter(Boolean)) await this.ctr(['tasks', 'kill', '-s', 'SIGKILL', id]);
    });
    await stopProc(this.containerd);
    // the shims outlive containerd (that is their job): ours are the ones with its socket
    for (const pid of readdirSync('/proc').filter((d) => /^[0-9]+$/.test(d))) {
      let cmdline = '';
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        continue;
      }
      if (cmdline.startsWith('/usr/bin/containerd-shim') && cmdline.includes(this.containerdSocket)) process.kill(Number(pid), 'SIGKILL');
    }
    await this.cp.stop();
    await this.ns.destroy();
    // a directory stays busy while it is a mount point in the namespace, until its last process is gone
    for (const p of this.made.reverse()) {
      for (let i = 0; i < 50 && existsSync(p); i++) {
        try {
          if (readdirSync(p).length === 0) rmdirSync(p);
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }
  }
}

/** The varmor-modeler image archive (tools/build-image.sh, as make image), built when older than what goes into it. */
export async function ourImage(): Promise<string> {
  const version = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const archive = join(PACKAGE_ROOT, 'out', `varmor-modeler-${version}.oci.tar`);
  const newest = (p: string): number => {
    const st = statSync(p);
    return st.isDirectory() ? Math.max(st.mtimeMs, ...readdirSync(p).map((e) => newest(join(p, e)))) : st.mtimeMs;
  };
  const inputs = ['dist', 'bin', 'bpf/build/varmor-tracer', '.tools/bin/varmor-s3', 'package.json', 'package-lock.json', 'tools/build-image.sh'];
  if (!existsSync(archive) || statSync(archive).mtimeMs < Math.max(...inputs.map((p) => newest(join(PACKAGE_ROOT, p))))) {
    const r = await run(join(PACKAGE_ROOT, 'tools', 'build-image.sh'), [], { timeoutMs: 300_000 });
    if (r.code !== 0) throw new Error(`tools/build-image.sh: ${r.stderr}`);
  }
  return archive;
}

/**
 * A one-layer OCI image archive of image `ref` (name:tag) holding `files` (host path → path in the
 * image), and for a pause image a static program that blocks in pause(). Returns the archive.
 */
export async function buildImage(dir: string, ref: string, files: [string, string][], entrypoint: string[]): Promise<string> {
  const name = ref.replace(/^.*\//, '').replace(/:.*$/, '');
  const tag = ref.replace(/^.*:/, '');
  const work = join(dir, `image-${name}`);
  mkdirSync(work, { recursive: true });
  const layout = join(work, 'oci');
  const ok = async (cmd: string, args: string[]) => {
    const r = await run(cmd, args, { cwd: work });
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  };
  await ok('umoci', ['init', '--layout', layout]);
  await ok('umoci', ['new', '--image', `${layout}:${tag}`]);
  await ok('umoci', ['unpack', '--rootless', '--image', `${layout}:${tag}`, join(work, 'bundle')]);
  const rootfs = join(work, 'bundle', 'rootfs');
  if (name === 'pause') {
    writeFileSync(join(work, 'pause.c'), '#include <unistd.h>\nint main(void) { for (;;) pause(); }\n');
    await ok('gcc', ['-static', '-O2', '-o', join(rootfs, 'pause'), join(work, 'pause.c')]);
  }
  for (const [from, to] of files) {
    mkdirSync(join(rootfs, to, '..'), { recursive: true });
    await ok('cp', [from, join(rootfs, to)]);
  }
  await ok('umoci', ['repack', '--image', `${layout}:${tag}`, join(work, 'bundle')]);
  await ok('umoci', ['config', '--image', `${layout}:${tag}`, ...entrypoint.flatMap((e) => ['--config.entrypoint', e])]);
  const archive = join(dir, `${name}.tar`);
  await ok('tar', ['-C', layout, '-cf', archive, '.']);
  return archive;
}
