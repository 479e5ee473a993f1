/**
 * What the controller may model: the operator's modeling policy (the chart's `policy` values). A
 * workflow input says what a user wants; this says what they may have.
 */
export interface ModelingPolicy {
  /** Namespaces whose workloads may be modelled by name; '*' for every namespace. */
  namespaces: string[];
  /** Or namespaces whose labels match this selector (Kubernetes label-selector syntax). */
  namespaceSelector?: string;
  /** Never modelled, whatever else matches. */
  excludeNamespaces: string[];
  /** pid:, container: and command targets: the host's processes, not a pod's. */
  hostTargets: boolean;
}

/** record and dev on one machine: the user is the operator. */
export const OPEN_POLICY: ModelingPolicy = { namespaces: ['*'], excludeNamespaces: [], hostTargets: true };

/** The settings' names, for the one line a refused run fails with. */
export const POLICY_SETTINGS = {
  namespaces: 'policy.namespaces (VARMOR_MODELER_ALLOW_NAMESPACES)',
  namespaceSelector: 'policy.namespaceSelector (VARMOR_MODELER_NAMESPACE_SELECTOR)',
  excludeNamespaces: 'policy.excludeNamespaces (VARMOR_MODELER_EXCLUDE_NAMESPACES)',
  hostTargets: 'policy.hostTargets (VARMOR_MODELER_ALLOW_HOST_TARGETS)',
};

/** Whether the namespace's labels are needed to decide (only a selector can still let it in). */
export function needsLabels(policy: ModelingPolicy, namespace: string): boolean {
  return !!policy.namespaceSelector && !policy.excludeNamespaces.includes(namespace) && !byName(policy, namespace);
}

/** Why workloads of `namespace` may not be modelled, or undefined when they may. */
export function namespaceRefusal(policy: ModelingPolicy, namespace: string, labels?: Record<string, string>): string | undefined {
  if (policy.excludeNamespaces.includes(namespace)) return `namespace ${namespace} is excluded from modeling by ${POLICY_SETTINGS.excludeNamespaces}`;
  if (byName(policy, namespace)) return undefined;
  if (policy.namespaceSelector && labels && matchesSelector(parseSelector(policy.namespaceSelector), labels)) return undefined;
  const allowed = policy.namespaces.length ? `[${policy.namespaces.join(', ')}]` : 'none';
  const selector = policy.namespaceSelector ? `, nor do its labels match ${POLICY_SETTINGS.namespaceSelector} "${policy.namespaceSelector}"` : '';
  return `namespace ${namespace} may not be modelled: it is not in ${POLICY_SETTINGS.namespaces} ${allowed}${selector}`;
}

/** Why a target that is not a pod's (pid:, container:, command) may not be modelled, or undefined. */
export function hostTargetRefusal(policy: ModelingPolicy, kind: string): string | undefined {
  if (policy.hostTargets) return undefined;
  return `${kind} targets trace the host's processes, not a pod's, and this controller does not allow them (${POLICY_SETTINGS.hostTargets}); model the workload as k8s:NAMESPACE/KIND/NAME`;
}

function byName(policy: ModelingPolicy, namespace: string): boolean {
  return policy.namespaces.includes('*') || policy.namespaces.includes(namespace);
}

/** One requirement of a label selector. */
export type Requirement =
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | '!exists' };

const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

/** Kubernetes label-selector syntax: `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`, comma-separated (all must hold). */
export function parseSelector(text: string): Requirement[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const c of text) {
    if (c === '(') depth++;
    if (c === ')') depth--;
    if (c === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += c;
  }
  parts.push(current);
  return parts.map((raw) => {
    const p = raw.trim();
    let m: RegExpExecArray | null;
    let r: Requirement;
    if ((m = /^(\S+)\s+(in|notin)\s+\(([^()]*)\)$/.exec(p))) r = { key: m[1]!, op: m[2] as 'in' | 'notin', values: m[3]!.split(',').map((v) => v.trim()) };
    else if ((m = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(p))) r = { key: m[1]!, op: m[2] === '!=' ? 'notin' : 'in', values: [m[3]!] };
    else if ((m = /^!\s*(\S+)$/.exec(p))) r = { key: m[1]!, op: '!exists' };
    else if ((m = /^(\S+)$/.exec(p))) r = { key: m[1]!, op: 'exists' };
    else throw new Error(`invalid label selector "${text}": cannot read "${p}"`);
    if (!LABEL_KEY.test(r.key)) throw new Error(`invalid label selector "${text}": "${r.key}" is not a label key`);
    if ('values' in r && !r.values.every((v) => LABEL_VALUE.test(v))) throw new Error(`invalid label selector "${text}": bad value in "${p}"`);
    return r;
  });
}

export function matchesSelector(requirements: readonly Requirement[], labels: Record<string, string>): boolean {
  return requirements.every((r) => {
    const has = Object.hasOwn(labels, r.key);
    switch (r.op) {
      case 'exists':
        return has;
      case '!exists':
        return !has;
      case 'in':
        return has && r.values.includes(labels[r.key]!);
      case 'notin':
        return !has || !r.values.includes(labels[r.key]!);
    }
  });
}
