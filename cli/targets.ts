import { connect, type ConnectOptions } from '../k8s/client.js';
import { resolveTarget, type Resolved } from '../k8s/resolve.js';
import { parseK8sSpec } from '../core/target-spec.js';
import { oneLine, table } from './table.js';

export interface ResolveCommandOptions extends Pick<ConnectOptions, 'kubeconfig' | 'context' | 'retry'> {
  json?: boolean;
}

/** `varmor-modeler targets resolve SPEC`: what to print, a table or JSON. */
export async function resolveCommand(spec: string, opts: ResolveCommandOptions = {}): Promise<string> {
  const target = parseK8sSpec(spec);
  const resolved = await resolveTarget(connect(opts), target);
  return opts.json ? JSON.stringify(resolved, null, 2) + '\n' : formatResolved(resolved);
}

function formatResolved(r: Resolved): string {
  const head = r.workload ? `${r.workload.kind} ${r.namespace}/${r.workload.name}` : r.target;
  if (r.pods.length === 0) return `${oneLine(head)}: no running containers\n`;
  const rows = r.pods.flatMap((p) => p.containers.map((c) => [p.name, p.node, c.name, c.ready ? 'yes' : 'no', `${c.runtime}://${c.id}`].map((cell) => oneLine(cell, 100))));
  const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  return `${oneLine(head)}: ${count(r.pods.length, 'pod')} on ${count(r.nodes.length, 'node')}\n${table(['POD', 'NODE', 'CONTAINER', 'READY', 'RUNTIME ID'], rows)}`;
}
