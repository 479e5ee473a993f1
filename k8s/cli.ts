import { connect, type ConnectOptions } from './client.js';
import { resolveTarget, type Resolved } from './resolve.js';
import { parseK8sSpec } from '../core/target-spec.js';

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
  if (r.pods.length === 0) return `${head}: no running containers\n`;
  const rows = [['POD', 'NODE', 'CONTAINER', 'READY', 'RUNTIME ID']];
  for (const p of r.pods) for (const c of p.containers) rows.push([p.name, p.node, c.name, c.ready ? 'yes' : 'no', `${c.runtime}://${c.id}`]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const lines = rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
  const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  return `${head}: ${count(r.pods.length, 'pod')} on ${count(r.nodes.length, 'node')}\n${lines.join('\n')}\n`;
}
