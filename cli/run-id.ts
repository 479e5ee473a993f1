import { currentNamespace } from '../lib/kubeconfig.js';
import { isWorkflowId, workflowIdFor } from '../workflows/input.js';

/** A run's (and its schedule's) ID from what users type: the ID, NAMESPACE/NAME, or a bare NAME in the current namespace. */
export function runId(typed: string): string {
  if (isWorkflowId(typed)) return typed;
  const slash = typed.indexOf('/');
  return workflowIdFor(slash < 0 ? { namespace: currentNamespace(), name: typed } : { namespace: typed.slice(0, slash), name: typed.slice(slash + 1) });
}
