/**
 * The chart's RBAC as the real API server's authorizer answers it: `helm template` applied, then a
 * SubjectAccessReview per ServiceAccount and permission. The controller may do exactly what the
 * code calls (k8s/rbac.ts) and nothing of the sensitive rest; the node agent nothing at all.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthorizationV1Api, KubeConfig } from '@kubernetes/client-node';
import { CALLS, type Permission } from '../../k8s/rbac.js';
import { chartManifests, ControlPlane, controlPlaneMissing } from './control-plane.js';

const NS = 'varmor';
const key = (p: Permission) => `${p.group || 'core'}/${p.resource}:${p.verb}`;
const p = (group: string, resource: string, verb: string): Permission => ({ group, resource, verb });

/** What neither ServiceAccount may do: secrets, writes to workloads and pods, the CRD itself, deleting models. */
const SENSITIVE: Permission[] = [
  ...['get', 'list', 'watch'].map((v) => p('', 'secrets', v)),
  ...['create', 'update', 'patch', 'delete'].map((v) => p('', 'pods', v)),
  p('', 'pods/exec', 'create'),
  p('', 'nodes', 'get'),
  p('', 'configmaps', 'get'),
  p('', 'serviceaccounts/token', 'create'),
  ...['create', 'update', 'patch', 'delete'].map((v) => p('apps', 'deployments', v)),
  p('apps', 'daemonsets', 'update'),
  p('crd.varmor.org', 'armorprofilemodels', 'delete'),
  p('crd.varmor.org', 'armorprofilemodels', 'list'),
  ...['create', 'update', 'delete', 'list'].map((v) => p('apiextensions.k8s.io', 'customresourcedefinitions', v)),
  p('rbac.authorization.k8s.io', 'clusterroles', 'escalate'),
  p('rbac.authorization.k8s.io', 'clusterrolebindings', 'create'),
];

describe('the chart\'s RBAC on a real kube-apiserver', { skip: controlPlaneMissing() }, () => {
  let cp: ControlPlane;
  let authz: AuthorizationV1Api;

  before(async () => {
    cp = await ControlPlane.start({ controllers: false });
    await cp.kubectl(['create', 'namespace', NS]);
    await cp.apply(await chartManifests(), ['--namespace', NS]);
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfig);
    authz = kc.makeApiClient(AuthorizationV1Api);
  });
  after(() => cp?.stop());

  async function allowed(sa: string, perm: Permission): Promise<boolean> {
    const name = perm.group === 'apiextensions.k8s.io' && perm.verb === 'get' ? 'armorprofilemodels.crd.varmor.org' : undefined;
    const [resource, subresource] = perm.resource.split('/');
    const namespaced = !['customresourcedefinitions', 'nodes', 'clusterroles', 'clusterrolebindings'].includes(resource!);
    const r = await authz.createSubjectAccessReview({
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: `system:serviceaccount:${NS}:${sa}`,
          groups: ['system:serviceaccounts', `system:serviceaccounts:${NS}`, 'system:authenticated'],
          resourceAttributes: { group: perm.group, resource, verb: perm.verb, ...(subresource ? { subresource } : {}), ...(namespaced ? { namespace: 'shop' } : {}), ...(name ? { name } : {}) },
        },
      },
    });
    return r.status?.allowed === true;
  }

  /** The table of what a ServiceAccount may do, over the code's calls and the sensitive rest. */
  async function table(sa: string): Promise<string[]> {
    const out: string[] = [];
    for (const perm of [...Object.values(CALLS), ...SENSITIVE]) if (await allowed(sa, perm)) out.push(key(perm));
    return out.sort();
  }

  test('the controller may make exactly the calls the code makes, no more', async () => {
    assert.deepEqual(await table('vm-varmor-modeler-controller'), Object.values(CALLS).map(key).sort());
    assert.equal(await allowed('vm-varmor-modeler-controller', p('', 'pods', 'create')), false, 'the controller cannot write Pods');
  });

  test('the node agent may call nothing: it cannot even read Secrets', async () => {
    assert.deepEqual(await table('vm-varmor-modeler-node'), []);
  });

  test('the CRD rule holds for our CRD only', async () => {
    const sa = 'vm-varmor-modeler-controller';
    const r = await authz.createSubjectAccessReview({
      body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user: `system:serviceaccount:${NS}:${sa}`, groups: ['system:serviceaccounts'], resourceAttributes: { group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions', verb: 'get', name: 'secrets.example.com' } } },
    });
    assert.equal(r.status?.allowed, false);
  });
});
