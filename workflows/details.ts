import { sparkline } from '../core/report-md.js';
import type { ModelingStatus } from './modeling.js';

/**
 * The run's current details as the Temporal Web UI shows them (markdown): the phase, the window,
 * each node's collector and the learning curve. Made from the status the workflow holds; live per-node counts come from
 * the collectors' heartbeats, which `model status` adds.
 */
export function currentDetails(s: ModelingStatus): string {
  const nodes = Object.entries(s.nodes).sort(([a], [b]) => a.localeCompare(b));
  const lines = [
    `**${s.phase}** · ${s.target}`,
    '',
    `window ${new Date(s.window.start).toISOString()} → ${new Date(s.window.end).toISOString()}${s.generation ? ` · continued ${s.generation}×` : ''}`,
  ];
  if (s.error) lines.push('', `error: ${s.error}`);
  if (nodes.length) {
    lines.push('', '| node | state | batches | note |', '|---|---|---|---|');
    for (const [node, n] of nodes) lines.push(`| ${node} | ${n.state} | ${n.batches} | ${(n.reason ?? '').replace(/[|\n]/g, ' ')} |`);
  }
  // the learning curve as `model status` shows it: per category, behaviors, curve and the last new one
  const l = s.learning;
  if (l) {
    lines.push('', `learning as of ${new Date(l.at).toISOString()}`, '', '| category | behaviors | curve | last new |', '|---|---|---|---|');
    for (const [c, n] of Object.entries(l.counts)) {
      const category = c as keyof typeof l.counts;
      const last = l.lastNew[category];
      lines.push(`| ${c} | ${n} | ${sparkline(l.curves?.[category] ?? [])} | ${last ? new Date(last).toISOString() : ''} |`);
    }
  }
  return lines.join('\n');
}
