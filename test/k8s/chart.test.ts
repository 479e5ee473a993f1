import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { CALLS } from '../../k8s/rbac.js';
import { PACKAGE_ROOT } from '../../lib/package.js';
import { run } from '../helpers.js';
import { varmorCrd } from './varmor-schema.js';

const HELM = join(PACKAGE_ROOT, '.tools', 'bin', 'helm');
const CHART = join(PACKAGE_ROOT, 'charts', 'varmor-modeler');
const BASE = ['--set', 'store.url=s3://models/test'];
// helm built with `go install` carries no Kubernetes version of its own (it would claim 1.20).
const KUBE_VERSION = ['--kube-version', '1.33.0'];
const skip = existsSync(HELM) ? false : 'helm not installed: run make .tools/bin/helm';

/* eslint-disable @typescript-eslint/no-explicit-any -- rendered manifests are untyped YAML */
type Manifest = any;

async function render(...args: string[]): Promise<Manifest[]> {
  const r = await run(HELM, ['template', 'test', CHART, ...KUBE_VERSION, ...BASE, ...args]);
  assert.equal(r.code, 0, r.stderr);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as Manifest)
    .filter(Boolean);
}

const one = (ms: Manifest[], kind: string): Manifest => {
  const found = ms.filter((m) => m.kind === kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0];
};
const containers = (w: Manifest): Manifest[] => [...(w.spec.template.spec.initContainers ?? []), ...w.spec.template.spec.containers];

/** The privileges table of docs/kubernetes.md: the documented list the chart must match. */
function documented(grantedAs: string): string[] {
  const doc = readFileSync(join(PACKAGE_ROOT, 'docs', 'kubernetes.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## Privileges of the node agent'), doc.indexOf('## RBAC'));
  return [...section.matchAll(/^\| `([^`]+)` \| ([^|]+) \|/gm)].filter((m) => m[2]!.trim() === grantedAs).map((m) => m[1]!);
}

/** CPU in millicores and memory in bytes, for comparing limits. */
function quantity(q: string | number): number {
  const s = String(q);
  const units: Record<string, number> = { m: 1e-3, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30 };
  const m = /^([\d.]+)(m|Ki|Mi|Gi)?$/.exec(s);
  assert.ok(m, `quantity ${s}`);
  return Number(m[1]) * (m[2] ? units[m[2]]! : 1);
}

describe('Helm chart', { skip }, () => {
  test('helm lint passes', async () => {
    const r = await run(HELM, ['lint', CHART, ...BASE]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  test('store.url is required', async () => {
    const r = await run(HELM, ['template', 'test', CHART, ...KUBE_VERSION]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /store\.url is required/);
  });

  test('every container has CPU and memory requests and limits, limits below vArmor\'s agent (2 CPU, 2 GiB)', async () => {
    const ms = await render();
    for (const w of [one(ms, 'Deployment'), one(ms, 'DaemonSet')]) {
      for (const c of containers(w)) {
        for (const kind of ['requests', 'limits']) for (const r of ['cpu', 'memory']) assert.ok(c.resources?.[kind]?.[r], `${w.kind}/${c.name} ${kind}.${r}`);
        assert.ok(quantity(c.resources.limits.cpu) < 2, `${c.name} cpu limit`);
        assert.ok(quantity(c.resources.limits.memory) < 2 * 2 ** 30, `${c.name} memory limit`);
      }
    }
  });

  test('the DaemonSet tolerates every taint and gets its node name from the downward API', async () => {
    const ds = one(await render(), 'DaemonSet');
    const spec = ds.spec.template.spec;
    assert.ok(spec.tolerations.some((t: Manifest) => t.operator === 'Exists' && !t.key && !t.effect), 'an unconditional toleration');
    const c = spec.containers[0];
    assert.deepEqual(c.command, ['varmor-modeler', 'worker', '--role', 'node', '--node', '$(NODE_NAME)']);
    assert.deepEqual(c.env.find((e: Manifest) => e.name === 'NODE_NAME').valueFrom, { fieldRef: { fieldPath: 'spec.nodeName' } });
    assert.deepEqual(one(await render(), 'Deployment').spec.template.spec.containers[0].command, ['varmor-modeler', 'worker', '--role', 'controller']);
  });

  test('who may start what: the node agent never launches, traces host processes only with policy.hostTargets; the controller gets the policy', async () => {
    const env = (w: Manifest) => Object.fromEntries(w.spec.template.spec.containers[0].env.filter((e: Manifest) => 'value' in e).map((e: Manifest) => [e.name, e.value]));
    const ms = await render();
    assert.ok(!one(ms, 'DaemonSet').spec.template.spec.containers[0].command.some((a: string) => /^--allow-/.test(a)), 'the default node agent opts in to nothing');
    assert.deepEqual(
      [env(one(ms, 'Deployment'))].map((e) => [e.VARMOR_MODELER_ALLOW_NAMESPACES, e.VARMOR_MODELER_NAMESPACE_SELECTOR, e.VARMOR_MODELER_EXCLUDE_NAMESPACES, e.VARMOR_MODELER_ALLOW_HOST_TARGETS]),
      [['*', '', 'kube-system', 'false']],
    );
    const custom = await render('--set-json', 'policy={"namespaces":["shop","blog"],"namespaceSelector":"team in (web)","excludeNamespaces":[],"hostTargets":true}');
    assert.deepEqual(one(custom, 'DaemonSet').spec.template.spec.containers[0].command.slice(-1), ['--allow-host-targets']);
    const e = env(one(custom, 'Deployment'));
    assert.deepEqual([e.VARMOR_MODELER_ALLOW_NAMESPACES, e.VARMOR_MODELER_NAMESPACE_SELECTOR, e.VARMOR_MODELER_EXCLUDE_NAMESPACES, e.VARMOR_MODELER_ALLOW_HOST_TARGETS], ['shop,blog', 'team in (web)', '', 'true']);
    // The command line can never carry --allow-launch, whatever the values.
    assert.doesNotMatch(readFileSync(join(CHART, 'templates', 'node-agent.yaml'), 'utf8'), /allow-launch\b(?!:)/);
  });

  test('the keyring: a Secret the chart makes (or the one named), mounted read-only in both components, readable by the controller\'s group', async () => {
    const ms = await render();
    const secret = one(ms, 'Secret');
    assert.equal(secret.metadata.name, 'test-varmor-modeler-keys');
    assert.equal(secret.metadata.annotations['helm.sh/resource-policy'], 'keep');
    assert.ok(Buffer.from(secret.data.k0001, 'base64').length >= 32, 'a key of at least 32 bytes');
    assert.notEqual((await render()).find((m) => m.kind === 'Secret').data.k0001, secret.data.k0001, 'each install its own random key');
    for (const w of [one(ms, 'Deployment'), one(ms, 'DaemonSet')]) {
      const pod = w.spec.template.spec;
      assert.deepEqual(pod.volumes.find((v: Manifest) => v.name === 'keys').secret, { secretName: 'test-varmor-modeler-keys', defaultMode: 0o440 });
      assert.deepEqual(pod.containers[0].volumeMounts.find((m: Manifest) => m.name === 'keys'), { name: 'keys', mountPath: '/etc/varmor-modeler/keys', readOnly: true });
      assert.equal(pod.containers[0].env.find((e: Manifest) => e.name === 'VARMOR_MODELER_KEYS').value, '/etc/varmor-modeler/keys');
    }
    assert.equal(one(ms, 'Deployment').spec.template.spec.securityContext.fsGroup, 65532);
    const own = await render('--set', 'keys.secretName=my-keys');
    assert.equal(own.filter((m) => m.kind === 'Secret').length, 0, 'no Secret of its own when one is named');
    assert.equal(one(own, 'DaemonSet').spec.template.spec.volumes.find((v: Manifest) => v.name === 'keys').secret.secretName, 'my-keys');
  });

  test('no container is privileged or can escalate; the controller has no capabilities and no host access', async () => {
    const ms = await render();
    for (const w of [one(ms, 'Deployment'), one(ms, 'DaemonSet')]) {
      for (const c of containers(w)) {
        assert.notEqual(c.securityContext?.privileged, true, `${c.name} privileged`);
        assert.equal(c.securityContext?.allowPrivilegeEscalation, false, `${c.name} allowPrivilegeEscalation`);
        assert.equal(c.securityContext?.readOnlyRootFilesystem, true, `${c.name} readOnlyRootFilesystem`);
        assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL'], `${c.name} drops every capability`);
      }
      assert.equal(w.spec.template.spec.hostNetwork, undefined);
      assert.equal(w.spec.template.spec.hostIPC, undefined);
    }
    const ctl = one(ms, 'Deployment').spec.template.spec;
    assert.equal(ctl.containers[0].securityContext.capabilities.add, undefined);
    assert.equal(ctl.hostPID, undefined);
    assert.equal(ctl.securityContext.runAsNonRoot, true);
    assert.ok(!(ctl.volumes ?? []).some((v: Manifest) => v.hostPath));
  });

  test('the node agent\'s capabilities and host paths are exactly the documented ones, read-only unless documented otherwise', async () => {
    const caps = documented('capability');
    const readOnly = documented('hostPath, read-only');
    const writable = documented('hostPath, read-write');
    const paths = [...readOnly, ...writable];
    assert.deepEqual(caps, ['BPF', 'PERFMON', 'SYS_PTRACE', 'SYS_CHROOT', 'SYSLOG'], 'docs table parsed');
    assert.deepEqual(readOnly, ['/sys/kernel/btf', '/var/log'], 'docs table parsed');
    assert.deepEqual(writable, ['/sys/fs/bpf', '/run/varmor-modeler', '<kubeletRootDir>/seccomp/varmor-modeler'], 'docs table parsed');
    // the kubelet's seccomp directory only with node.modelingState.enabled (below)
    paths.splice(paths.indexOf('<kubeletRootDir>/seccomp/varmor-modeler'), 1);
    const spec = one(await render(), 'DaemonSet').spec.template.spec;
    assert.equal(spec.hostPID, true);
    assert.equal(spec.automountServiceAccountToken, false);
    const c = spec.containers[0];
    assert.deepEqual([...c.securityContext.capabilities.add].sort(), [...caps].sort());
    const hostVolumes = new Map<string, string>(spec.volumes.filter((v: Manifest) => v.hostPath).map((v: Manifest) => [v.name, v.hostPath.path]));
    assert.deepEqual([...hostVolumes.values()].sort(), [...paths].sort());
    for (const m of c.volumeMounts.filter((m: Manifest) => hostVolumes.has(m.name))) {
      assert.equal(m.readOnly === true, readOnly.includes(m.mountPath), `${m.mountPath} read-only as documented`);
      assert.equal(m.mountPath, hostVolumes.get(m.name), 'mounted where the code looks');
    }
  });

  test('modeling state: the kubelet\'s seccomp directory read-write for the agent\'s profiles; /dev/kmsg through a privileged relay container, the agent unprivileged', async () => {
    const spec = one(await render('--set', 'node.modelingState.enabled=true', '--set', 'node.kubeletRootDir=/data/kubelet', '--set', 'node.auditLogPaths={/dev/kmsg}'), 'DaemonSet').spec.template.spec;
    const [agent, relay] = spec.containers;
    const profiles = spec.volumes.find((v: Manifest) => v.hostPath?.path === '/data/kubelet/seccomp/varmor-modeler');
    assert.ok(profiles, 'the kubelet root dir given');
    const mount = agent.volumeMounts.find((m: Manifest) => m.name === profiles.name);
    assert.equal(mount.mountPath, '/var/lib/kubelet/seccomp/varmor-modeler');
    assert.notEqual(mount.readOnly, true);
    const env = Object.fromEntries(agent.env.map((e: Manifest) => [e.name, e.value]));
    assert.equal(env.VARMOR_MODELER_KUBELET_SECCOMP_DIR, '/var/lib/kubelet/seccomp');
    assert.equal(env.VARMOR_MODELER_AUDIT_LOG_PATHS, 'unix:/run/varmor-kmsg/kmsg.sock');
    assert.equal(agent.securityContext.privileged, false);
    assert.equal(relay.name, 'kmsg');
    assert.equal(relay.securityContext.privileged, true);
    assert.deepEqual(relay.command, ['varmor-modeler', 'audit', 'kmsg-relay', '--socket', '/run/varmor-kmsg/kmsg.sock']);
    // the relay shares only an in-memory directory with the agent; no host path for /dev
    const shared = spec.volumes.find((v: Manifest) => v.name === relay.volumeMounts[0].name);
    assert.equal(shared.emptyDir.medium, 'Memory');
    assert.ok(!spec.volumes.some((v: Manifest) => v.hostPath?.path?.startsWith('/dev')));
    // off by default: neither
    const plain = one(await render(), 'DaemonSet').spec.template.spec;
    assert.equal(plain.containers.length, 1);
    assert.ok(!plain.volumes.some((v: Manifest) => v.hostPath?.path?.includes('seccomp')));
  });

  test('audit log directories follow node.auditLogPaths; none without an audit collector', async () => {
    const hostPaths = async (...args: string[]) =>
      one(await render(...args), 'DaemonSet')
        .spec.template.spec.volumes.filter((v: Manifest) => v.hostPath)
        .map((v: Manifest) => v.hostPath.path)
        .sort();
    assert.deepEqual(await hostPaths('--set', 'node.auditLogPaths={/var/log/audit/audit.log}', '--set', 'node.pinning=false'), ['/sys/kernel/btf', '/var/log/audit']);
    assert.deepEqual(await hostPaths('--set', 'node.auditLogPaths=null', '--set', 'node.pinning=false'), ['/sys/kernel/btf']);
    assert.deepEqual(await hostPaths('--set', 'node.auditLogPaths=null'), ['/run/varmor-modeler', '/sys/fs/bpf', '/sys/kernel/btf']);
    const env = one(await render(), 'DaemonSet').spec.template.spec.containers[0].env;
    assert.equal(env.find((e: Manifest) => e.name === 'VARMOR_MODELER_AUDIT_LOG_PATHS').value, '/var/log/audit/audit.log|/var/log/kern.log');
    assert.equal(env.find((e: Manifest) => e.name === 'VARMOR_MODELER_POD_CGROUP').value, 'auto');
    const v2 = one(await render('--set', 'node.podCgroup=v2'), 'DaemonSet').spec.template.spec.containers[0].env;
    assert.equal(v2.find((e: Manifest) => e.name === 'VARMOR_MODELER_POD_CGROUP').value, 'v2');
  });

  test('RBAC grants exactly the calls the code makes (k8s/rbac.ts), to the controller only', async () => {
    const ms = await render();
    const role = one(ms, 'ClusterRole');
    const granted = new Set<string>();
    for (const rule of role.rules) for (const g of rule.apiGroups) for (const r of rule.resources) for (const v of rule.verbs) granted.add(`${g}|${r}|${v}`);
    const used = new Set(Object.values(CALLS).map((p) => `${p.group}|${p.resource}|${p.verb}`));
    assert.deepEqual([...granted].sort(), [...used].sort());
    const crdRule = role.rules.find((r: Manifest) => r.resources.includes('customresourcedefinitions'));
    assert.deepEqual(crdRule.resourceNames, ['armorprofilemodels.crd.varmor.org']);

    const binding = one(ms, 'ClusterRoleBinding');
    assert.deepEqual(binding.subjects.map((s: Manifest) => s.name), [one(ms, 'Deployment').spec.template.spec.serviceAccountName]);
    assert.ok(!ms.some((m) => ['Role', 'RoleBinding'].includes(m.kind)));
  });

  test('Temporal TLS from a Secret, S3 credentials through secretKeyRef', async () => {
    const ms = await render('--set', 'temporal.tls.enabled=true', '--set', 'temporal.tls.secretName=temporal-client', '--set', 'store.credentials.secretName=s3');
    for (const w of [one(ms, 'Deployment'), one(ms, 'DaemonSet')]) {
      const spec = w.spec.template.spec;
      const c = spec.containers[0];
      const env = Object.fromEntries(c.env.map((e: Manifest) => [e.name, e.value ?? e.valueFrom]));
      assert.equal(env.TEMPORAL_TLS_CERT, '/etc/varmor-modeler/temporal-tls/tls.crt');
      assert.equal(env.TEMPORAL_TLS_CA, '/etc/varmor-modeler/temporal-tls/ca.crt');
      assert.deepEqual(env.AWS_SECRET_ACCESS_KEY, { secretKeyRef: { name: 's3', key: 'AWS_SECRET_ACCESS_KEY' } });
      assert.equal(env.VARMOR_MODELER_STORE, 's3://models/test');
      assert.deepEqual(spec.volumes.find((v: Manifest) => v.name === 'temporal-tls').secret, { secretName: 'temporal-client' });
      assert.equal(c.volumeMounts.find((m: Manifest) => m.name === 'temporal-tls').readOnly, true);
    }
  });

  test('crd.install: auto and true render vArmor\'s CRD (no cluster to look up), false does not, anything else fails', async () => {
    for (const mode of ['auto', 'true']) {
      const crd = one(await render('--set', `crd.install=${mode}`), 'CustomResourceDefinition');
      assert.equal(crd.metadata.name, 'armorprofilemodels.crd.varmor.org');
      assert.equal(crd.metadata.labels['app.kubernetes.io/part-of'], 'varmor-modeler');
      assert.equal(crd.metadata.annotations['helm.sh/resource-policy'], 'keep');
      assert.deepEqual(crd.spec, varmorCrd.spec, 'the chart installs vArmor\'s own CRD, the schema every model is validated against');
      const v = crd.spec.versions[0];
      assert.equal(v.name, 'v1beta1');
      assert.deepEqual(v.subresources, { status: {} });
      assert.deepEqual(v.additionalPrinterColumns.map((c: Manifest) => c.name), ['STORAGE-TYPE', 'DESIRED', 'COMPLETED', 'READY', 'AGE']);
    }
    assert.ok(!(await render('--set', 'crd.install=false')).some((m) => m.kind === 'CustomResourceDefinition'));
    const bad = await run(HELM, ['template', 'test', CHART, ...KUBE_VERSION, ...BASE, '--set', 'crd.install=maybe']);
    assert.match(bad.stderr, /crd\.install must be auto, true or false \(got "maybe"\)/);
  });
});
