import type { NodeTarget, Target } from './target.js';

/** A target that names its node: a command to launch there, a pid or a container running there. */
export type LocalTarget = Exclude<Target, { kind: 'k8s' }>;

/**
 * Where a local target runs: its one node, and what that node's collector traces. No lookup is
 * needed; Kubernetes targets resolve through the API instead (k8s/resolve.ts).
 */
export function resolveLocal(target: LocalTarget): Record<string, NodeTarget> {
  switch (target.kind) {
    case 'command':
      return { [target.node]: { kind: 'command', argv: target.argv } };
    case 'pid':
      return { [target.node]: { kind: 'pid', pid: target.pid } };
    case 'container':
      return { [target.node]: { kind: 'containers', ids: [target.id] } };
  }
}
