import { defaultPayloadConverter } from '@temporalio/common';
import type { WorkflowHandle } from '@temporalio/client';
import type { Progress } from '../activities/index.js';
import { statusQuery, type ModelingStatus } from '../workflows/index.js';

/**
 * The workflow's status query, with live per-node progress from the collectors' heartbeats
 * (progress is not worth a history event per checkpoint, so the workflow itself does not hold it).
 */
export async function liveStatus(handle: WorkflowHandle): Promise<ModelingStatus> {
  const [status, description] = await Promise.all([handle.query(statusQuery), handle.describe()]);
  for (const activity of description.raw.pendingActivities ?? []) {
    const payload = activity.heartbeatDetails?.payloads?.[0];
    if (!payload) continue;
    const p = defaultPayloadConverter.fromPayload(payload) as Progress;
    const node = status.nodes[p.node];
    if (!node || node.state !== 'running') continue;
    node.batches = Math.max(node.batches, p.seq);
    if (p.events >= 0) node.events = p.events;
    if (p.attempt) node.attempt = p.attempt;
    if (p.storeError) node.storeError = p.storeError;
    else delete node.storeError;
  }
  return status;
}
