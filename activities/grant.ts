import type { NodeTarget } from '../core/target.js';
import type { Keyring } from '../lib/keyring.js';

/**
 * A grant: the controller's word that a workflow may trace this on this node. The controller
 * issues one per node when its resolution (under its modeling policy) produced the node's target;
 * a node agent traces only what a grant covers. Anyone can start a workflow or schedule an
 * activity with any input, but only a holder of the keyring can make a grant.
 *
 * A grant binds the workflow ID (stable across continue-as-new), the node and the target exactly;
 * it stays valid while its key is in the keyring.
 */
export function issueGrant(keyring: Keyring, workflowId: string, node: string, trace: NodeTarget): string {
  const id = keyring.primary;
  return `g1.${id}.${keyring.mac('grant', grantParts(workflowId, node, trace), id).toString('base64url')}`;
}

/** Why a grant does not cover this collector, or undefined when it does. */
export function grantProblem(keyring: Keyring, grant: unknown, workflowId: string, node: string, trace: NodeTarget): string | undefined {
  if (typeof grant !== 'string' || grant === '') return 'no grant from the controller (its resolution did not produce this target)';
  const m = /^g1\.([A-Za-z0-9._-]{1,63})\.([A-Za-z0-9_-]{43})$/.exec(grant);
  if (!m) return 'the grant is malformed';
  const verdict = keyring.verify('grant', grantParts(workflowId, node, trace), m[1]!, Buffer.from(m[2]!, 'base64url'));
  if (verdict === 'unknown-key') return `the grant was made with key "${m[1]}", which this node's keyring does not hold`;
  if (verdict === 'bad-mac') return `the grant does not cover this target on node ${node} for workflow ${workflowId}`;
  return undefined;
}

function grantParts(workflowId: string, node: string, trace: NodeTarget): string[] {
  return [workflowId, node, canonical(trace)];
}

/** JSON with object keys sorted: the same target gives the same bytes wherever it was serialised. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}
