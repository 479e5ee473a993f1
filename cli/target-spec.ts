import { parseTargetSpec as parseK8sSpec } from '../k8s/spec.js';
import type { Target } from '../core/target.js';

/**
 * Target specs as users type them: `container:ID` and `pid:PID` (on this node, or `@NODE` after
 * them for another node), `k8s:NAMESPACE/KIND/NAME[?containers=a,b]`.
 */
export function parseTargetSpec(spec: string, localNode: string): Target {
  const [body, node = localNode] = spec.startsWith('k8s:') ? [spec] : spec.split('@');
  const m = /^(container|pid|k8s):(.+)$/.exec(body ?? '');
  if (!m) throw new Error(`invalid target "${spec}" (use container:ID, pid:PID or k8s:NAMESPACE/KIND/NAME)`);
  const [, kind, value] = m as unknown as [string, string, string];
  switch (kind) {
    case 'container':
      return { kind: 'container', node, id: value };
    case 'pid':
      if (!/^\d+$/.test(value)) throw new Error(`invalid target "${spec}": pid must be a number`);
      return { kind: 'pid', node, pid: Number(value) };
    default:
      parseK8sSpec(spec); // catch typos here, before a workflow starts
      return { kind: 'k8s', spec };
  }
}
