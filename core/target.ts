/**
 * Targets: what a modeling run traces, in every layer's terms. Pure types and formatting: the
 * workflow's input (workflows/input.ts) validates them, activities/ and k8s/ resolve them, the
 * collector traces them.
 */

/**
 * What to model. `command` is launched by the node's collector; `pid` and `container` are running
 * on a named node; `k8s` is a workload the controller resolves to nodes and containers.
 */
export type Target =
  | { kind: 'command'; node: string; argv: string[] }
  | { kind: 'pid'; node: string; pid: number }
  | { kind: 'container'; node: string; id: string }
  | { kind: 'k8s'; spec: string };

/** What one node's collector traces: the per-node share of a target. */
export type NodeTarget =
  | { kind: 'command'; argv: string[] }
  | { kind: 'pid'; pid: number }
  | { kind: 'containers'; ids: string[] }
  | { kind: 'pods'; pods: PodTarget[] };

/**
 * A Kubernetes pod on one node. Without `containers` the collector tracks the pod by its UID and
 * the tracer follows the containers the pod starts later (restarts, sidecars) itself. With
 * `containers` (a `?containers=` filter) only those container IDs are traced: a new container
 * cannot be matched by name from its cgroup, so a restarted one is picked up when the workflow
 * resolves the target again and gets a fresh collector for the new IDs.
 */
export interface PodTarget {
  uid: string;
  containers?: string[];
}

/** The target as one line, e.g. `command:sh -c ...`, `pid:42`, `container:abc`. */
export function describeTarget(t: Target): string {
  switch (t.kind) {
    case 'command':
      return `command:${t.argv.join(' ')}`;
    case 'pid':
      return `pid:${t.pid}`;
    case 'container':
      return `container:${t.id}`;
    case 'k8s':
      return t.spec;
  }
}
