import { ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { planFromInput, workflowIdFor, type ModelingInput } from '../workflows/input.js';
import { behaviorModeling } from '../workflows/index.js';
import { CONTROLLER_QUEUE } from '../workflows/queues.js';
import { startMetadata } from './model.js';
import { table } from './table.js';
import { ensureSearchAttributes } from '../lib/search-attributes.js';
import { runId } from './run-id.js';

/**
 * Periodic re-modeling: a Temporal Schedule starts behaviorModeling every interval. Each run's
 * merge writes a new model version and its drift against the previous one.
 */
export async function scheduleCreate(client: Client, input: ModelingInput, every: string): Promise<string> {
  const plan = planFromInput(input);
  const id = workflowIdFor(plan);
  if (plan.searchAttributes) await ensureSearchAttributes(client.connection, client.options.namespace);
  await client.schedule.create({
    scheduleId: id,
    spec: { intervals: [{ every }] },
    // A run still modeling when the next is due is left to finish; the next starts on time after.
    policies: { overlap: ScheduleOverlapPolicy.SKIP },
    action: { type: 'startWorkflow', workflowType: behaviorModeling, taskQueue: CONTROLLER_QUEUE, workflowId: id, args: [input], ...startMetadata(input) },
  });
  return `schedule ${id}: every ${every}, window ${input.duration}\n`;
}

export async function scheduleList(client: Client, json: boolean): Promise<string> {
  const rows: { id: string; next: string; recent: string }[] = [];
  for await (const s of client.schedule.list()) {
    if (!s.scheduleId.startsWith('varmor-modeler/')) continue;
    rows.push({ id: s.scheduleId, next: s.info.nextActionTimes[0]?.toISOString() ?? '', recent: s.info.recentActions.at(-1)?.takenAt.toISOString() ?? '' });
  }
  if (json) return JSON.stringify(rows, null, 2) + '\n';
  return table(['SCHEDULE', 'NEXT RUN', 'LAST RUN'], rows.map((r) => [r.id, r.next, r.recent]));
}

export async function scheduleDelete(client: Client, id: string): Promise<string> {
  const scheduleId = runId(id);
  await client.schedule.getHandle(scheduleId).delete();
  return `deleted schedule ${scheduleId}\n`;
}
