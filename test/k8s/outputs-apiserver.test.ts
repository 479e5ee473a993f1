/**
 * What we emit for other projects' APIs, created on a real kube-apiserver with server-side dry-run
 * and strict field validation: the Security Profiles Operator's v1 SeccompProfile and
 * AppArmorProfile under SPO's published CRDs (fixtures/spo, version named there).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { buildOutputs } from '../../core/outputs.js';
import type { BehaviorSet, Item } from '../../core/behavior.js';
import { PACKAGE_ROOT } from '../../lib/home.js';
import { ControlPlane, controlPlaneMissing } from './control-plane.js';

const skip = controlPlaneMissing();
const SPO = join(PACKAGE_ROOT, 'test', 'k8s', 'fixtures', 'spo');
const T0 = Date.UTC(2026, 0, 1);
const it = (sets?: Record<string, string[]>): Item => ({ first: T0, last: T0, n: { 'n1/c/0': 1 }, ...(sets ? { sets } : {}) });

/** A model with something in every category SPO's resources express. */
const behaviors: BehaviorSet = {
  executions: { '/usr/sbin/nginx': it() },
  files: { '/etc/nginx/nginx.conf': it({ perms: ['read'] }), '/var/log/nginx/access.log': it({ perms: ['write', 'append'] }), '/odd path/x': it({ perms: ['read'] }) },
  capabilities: { net_bind_service: it({ verdict: ['granted'] }), setuid: it({ verdict: ['granted'] }) },
  sockets: { 'inet/stream/tcp': it(), 'inet6/dgram/udp': it(), 'unix/stream/0': it() },
  syscalls: { read: it(), accept4: it(), epoll_wait: it(), socket: it() },
};

describe('outputs for other APIs on a real kube-apiserver', { skip }, () => {
  let cp: ControlPlane;
  before(async () => {
    cp = await ControlPlane.start({ controllers: false });
    for (const crd of ['seccompprofile.yaml', 'apparmorprofile.yaml']) await cp.apply(readFileSync(join(SPO, crd), 'utf8'));
    for (const crd of ['seccompprofiles', 'apparmorprofiles']) {
      const est = await cp.kubectl(['wait', '--for=condition=Established', '--timeout=60s', `crd/${crd}.security-profiles-operator.x-k8s.io`]);
      assert.equal(est.code, 0, est.stderr);
    }
  });
  after(() => cp?.stop());

  /** `kubectl create --dry-run=server --validate=strict` of one emitted file; its stdout. */
  async function dryRun(name: string, content: string, output = 'name'): Promise<string> {
    const file = join(cp.dir, name);
    writeFileSync(file, content);
    const r = await cp.kubectl(['create', '--dry-run=server', '--validate=strict', '-f', file, '-o', output]);
    assert.equal(r.code, 0, `${name} refused: ${r.stderr}`);
    return r.stdout;
  }

  test('SPO v1: SeccompProfile and AppArmorProfile are accepted cluster-scoped, nothing pruned', async () => {
    for (const mode of ['enforce', 'complain'] as const) {
      const out = buildOutputs({ namespace: 'shop', name: 'web', target: 'shop/deployment/web', behaviors, counters: {}, arches: ['x86_64'], window: { start: T0, end: T0 + 60_000 }, nodes: [], batches: 1, timings: {}, mode });
      for (const file of ['spo-seccompprofile.yaml', 'spo-apparmorprofile.yaml']) {
        const sent = parseYaml(out.files.find((f) => f.name === file)!.content);
        assert.equal(sent.apiVersion, 'security-profiles-operator.x-k8s.io/v1');
        const back = JSON.parse(await dryRun(`${mode}-${file}`, JSON.stringify(sent), 'json'));
        assert.equal(back.metadata.name, 'varmor-shop-web');
        assert.equal(back.metadata.namespace, undefined, 'cluster-scoped');
        // The API server prunes what the schema does not declare: what comes back is what was sent.
        assert.deepEqual({ ...back.spec, state: undefined }, { ...sent.spec, state: undefined }, file);
        if (file === 'spo-apparmorprofile.yaml') assert.equal(back.spec.mode, mode === 'enforce' ? 'Enforce' : 'Complain');
      }
    }
  });
});
