/**
 * Every Kubernetes API call the controller makes, as (API group, resource, verb). The client code
 * names one of these on each call (for error messages), and the chart's ClusterRole is tested
 * against this table: the RBAC the chart grants is exactly what the code uses.
 */
export interface Permission {
  /** API group; '' is the core group. */
  group: string;
  resource: string;
  verb: string;
}

const p = (group: string, resource: string, verb: string): Permission => ({ group, resource, verb });

export const CALLS = {
  getPod: p('', 'pods', 'get'),
  listPods: p('', 'pods', 'list'),
  listServices: p('', 'services', 'list'),
  getDeployment: p('apps', 'deployments', 'get'),
  getStatefulSet: p('apps', 'statefulsets', 'get'),
  getDaemonSet: p('apps', 'daemonsets', 'get'),
  getReplicaSet: p('apps', 'replicasets', 'get'),
  listReplicaSets: p('apps', 'replicasets', 'list'),
  getJob: p('batch', 'jobs', 'get'),
  listJobs: p('batch', 'jobs', 'list'),
  getCronJob: p('batch', 'cronjobs', 'get'),
  getNamespace: p('', 'namespaces', 'get'),
  getModel: p('crd.varmor.org', 'armorprofilemodels', 'get'),
  createModel: p('crd.varmor.org', 'armorprofilemodels', 'create'),
  updateModel: p('crd.varmor.org', 'armorprofilemodels', 'update'),
  updateModelStatus: p('crd.varmor.org', 'armorprofilemodels/status', 'update'),
  getCrd: p('apiextensions.k8s.io', 'customresourcedefinitions', 'get'),
} as const satisfies Record<string, Permission>;

/** "deployments" in API group "apps", for messages. */
export function describeResource(perm: Permission): string {
  return perm.group === '' ? `"${perm.resource}"` : `"${perm.resource}" in API group "${perm.group}"`;
}
