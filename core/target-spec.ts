import type { Target } from './target.js';

/**
 * Target specs, as users type them (`model start --target`, `schedule create --target`). Pure: no I/O.
 *
 *   container:ID[@NODE]
 *   pid:PID[@NODE]
 *   k8s:NAMESPACE/KIND/NAME[?containers=a,b]
 *   k8s:NAMESPACE/selector/LABEL-SELECTOR[?containers=a,b]
 *
 * Containers and pids run on this node, or on NODE. KIND is one of WORKLOAD_KINDS. The selector
 * form takes the rest of the spec after `selector/` verbatim (it may contain `/` in prefixed keys,
 * e.g. `app.kubernetes.io/name=web`), in kubectl's `-l` syntax.
 */

export const WORKLOAD_KINDS = ['deployment', 'statefulset', 'daemonset', 'replicaset', 'job', 'cronjob', 'pod'] as const;
export type WorkloadKind = (typeof WORKLOAD_KINDS)[number];

export type K8sTarget = { namespace: string; containers?: string[] } & (
  | { kind: WorkloadKind; name: string }
  | { kind: 'selector'; selector: string }
);

export class TargetSpecError extends Error {}

const PREFIX = 'k8s:';
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const USAGE = 'expected k8s:NAMESPACE/KIND/NAME or k8s:NAMESPACE/selector/LABEL-SELECTOR, optionally followed by ?containers=a,b';

/** Any target spec; a container or pid without `@NODE` is on `localNode`. */
export function parseTargetSpec(spec: string, localNode: string): Target {
  const [body, node = localNode] = spec.startsWith(PREFIX) ? [spec] : spec.split('@');
  const m = /^(container|pid|k8s):(.+)$/.exec(body ?? '');
  if (!m) throw new TargetSpecError(`invalid target "${spec}" (use container:ID, pid:PID or k8s:NAMESPACE/KIND/NAME)`);
  const [, kind, value] = m as unknown as [string, string, string];
  switch (kind) {
    case 'container':
      return { kind: 'container', node, id: value };
    case 'pid':
      if (!/^\d+$/.test(value)) throw new TargetSpecError(`invalid target "${spec}": pid must be a number`);
      return { kind: 'pid', node, pid: Number(value) };
    default:
      parseK8sSpec(spec); // catch typos here, before a workflow starts
      return { kind: 'k8s', spec };
  }
}

/** A `k8s:` spec: the workload (or selector) and its namespace, for the Kubernetes resolver. */
export function parseK8sSpec(spec: string): K8sTarget {
  if (!spec.startsWith(PREFIX)) throw new TargetSpecError(`target "${spec}": must start with "${PREFIX}" (${USAGE})`);
  const fail = (what: string): never => {
    throw new TargetSpecError(`target "${spec}": ${what}`);
  };
  const [path = '', query, ...extra] = spec.slice(PREFIX.length).split('?');
  if (extra.length > 0) fail('more than one "?"');
  const containers = query === undefined ? undefined : parseQuery(query, fail);

  const first = path.indexOf('/');
  const second = path.indexOf('/', first + 1);
  if (first < 0 || second < 0) fail(USAGE);
  const namespace = path.slice(0, first);
  const kind = path.slice(first + 1, second);
  const rest = path.slice(second + 1);
  if (!DNS_LABEL.test(namespace)) fail(`namespace "${namespace}" is not a DNS-1123 label (lower-case letters, digits, '-', at most 63)`);
  const withContainers = containers ? { containers } : {};

  if (kind === 'selector') {
    if (rest.trim() === '') fail('the label selector is empty');
    return { namespace, kind, selector: rest, ...withContainers };
  }
  if (!isWorkloadKind(kind)) fail(`kind "${kind}" is not one of ${[...WORKLOAD_KINDS, 'selector'].join(', ')}`);
  if (!DNS_SUBDOMAIN.test(rest)) fail(`name "${rest}" is not a DNS-1123 name (lower-case letters, digits, '-', '.')`);
  return { namespace, kind: kind as WorkloadKind, name: rest, ...withContainers };
}

function parseQuery(query: string, fail: (what: string) => never): string[] {
  const params = new URLSearchParams(query);
  for (const key of params.keys()) if (key !== 'containers') fail(`unknown option "${key}" (only "containers" is supported)`);
  const names = (params.get('containers') ?? '').split(',').map((c) => c.trim()).filter(Boolean);
  if (names.length === 0) fail('"containers=" names no container');
  for (const n of names) if (!DNS_LABEL.test(n)) fail(`container "${n}" is not a DNS-1123 label`);
  return [...new Set(names)];
}

function isWorkloadKind(kind: string): kind is WorkloadKind {
  return (WORKLOAD_KINDS as readonly string[]).includes(kind);
}

/** The canonical spec string of a Kubernetes target (what parseK8sSpec accepts). */
export function formatK8sSpec(t: K8sTarget): string {
  const what = t.kind === 'selector' ? `selector/${t.selector}` : `${t.kind}/${t.name}`;
  return `${PREFIX}${t.namespace}/${what}${t.containers ? `?containers=${t.containers.join(',')}` : ''}`;
}

/** The model name a target defaults to: the workload name, or the selector made DNS-safe. */
export function defaultModelName(t: K8sTarget): string {
  if (t.kind !== 'selector') return t.name;
  const n = t.selector.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63).replace(/-+$/, '');
  return n || 'selector';
}
