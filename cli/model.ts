import { WorkflowExecutionAlreadyStartedError, WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { parse } from 'yaml';
import type { ArmorProfileModel } from '../core/armorprofilemodel.js';
import { formatDuration } from '../core/duration.js';
import { sparkline } from '../core/report-md.js';
import { describeTarget } from '../core/target.js';
import { planFromInput, workflowIdFor, type ModelingInput } from '../workflows/input.js';
import { behaviorModeling, extendUpdate, snapshotUpdate, stopSignal, type ModelingResult, type ModelingStatus } from '../workflows/index.js';
import { CONTROLLER_QUEUE } from '../workflows/queues.js';
import { SEARCH_ATTRIBUTE } from '../workflows/search-attributes.js';
import { rootMessage } from '../core/errors.js';
import { fetchOutputs } from './outputs.js';
import { progressLine, ProgressPrinter } from './progress.js';
import { liveStatus } from './status.js';
import { oneLine, table } from './table.js';
import { ensureSearchAttributes } from '../lib/search-attributes.js';
import { runId } from './run-id.js';

/** `model start|status|stop|extend|result|list`: modeling runs on a Temporal cluster (or `varmor-modeler dev`). */


export interface StartOptions {
  attach?: boolean;
}

/** Starts a run; a second run for the same target is refused, or attached to with --attach. */
export async function startModel(client: Client, input: ModelingInput, opts: StartOptions): Promise<WorkflowHandle> {
  const plan = planFromInput(input);
  const id = workflowIdFor(plan);
  if (plan.searchAttributes) await ensureSearchAttributes(client.connection, client.options.namespace);
  try {
    // by reference: the input's type follows into the workflow
    return await client.workflow.start(behaviorModeling, { taskQueue: CONTROLLER_QUEUE, workflowId: id, args: [input], ...startMetadata(input) });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    if (!opts.attach) throw new Error(`a modeling run for ${plan.namespace}/${plan.name} is already running (workflow ${id}); use --attach to follow it, or stop it first`);
    return client.workflow.getHandle(id);
  }
}

/** What the Temporal Web UI shows of a run at a glance: its summary and details, and a memo with the target. */
export function startMetadata(input: ModelingInput): { memo: { target: string }; staticSummary: string; staticDetails: string } {
  const plan = planFromInput(input);
  const target = describeTarget(plan.target);
  return {
    memo: { target },
    staticSummary: `Modeling ${target} for ${input.duration}`,
    staticDetails: [`**target** ${target}`, `**model** ${plan.namespace}/${plan.name}`, `**window** ${input.duration}, checkpoints every ${formatDuration(plan.checkpointMs)}`, `started by varmor-modeler model start`].join('\n\n'),
  };
}

/** Waits for the result with a live progress line; Ctrl-C ends the window early (and still merges). */
export async function waitForResult(handle: WorkflowHandle, log: Logger): Promise<ModelingResult> {
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stderr.write('\nstopping the window early; merging what was seen (Ctrl-C again to leave)\n');
    handle.signal(stopSignal).catch((err: Error) => log.warn({ err }, 'stop signal failed'));
  };
  process.on('SIGINT', onSigint);
  const progress = new ProgressPrinter(process.stderr);
  const poll = setInterval(() => {
    liveStatus(handle).then((s) => progress.update(progressLine(s, Date.now())), () => {});
  }, 1000);
  try {
    return (await handle.result()) as ModelingResult;
  } catch (err) {
    if (err instanceof WorkflowFailedError) throw new Error(rootMessage(err));
    throw err;
  } finally {
    clearInterval(poll);
    progress.done();
    process.off('SIGINT', onSigint);
  }
}

const WINDOW_ENDS: Record<NonNullable<ModelingStatus['ended']>, string> = { duration: 'duration reached', converged: 'converged', stopped: 'stopped by a user', 'target-gone': 'target gone' };

function renderStatus(id: string, s: ModelingStatus, now: number): string {
  const rows = Object.entries(s.nodes).map(([node, n]) => [node, n.state, String(n.batches), n.events.toLocaleString('en'), oneLine(n.storeError ? `checkpoints failing: ${n.storeError}` : (n.reason ?? ''), 60)]);
  const out = [
    `${id}: ${s.phase}${s.error ? ` (${s.error})` : ''}`,
    `target:  ${s.target}`,
    `window:  ${new Date(s.window.start).toISOString()} → ${new Date(s.window.end).toISOString()} (${s.ended ? `ended: ${WINDOW_ENDS[s.ended]}` : `${formatDuration(Math.max(s.window.end - now, 0))} left`})`,
    `store:   runs/${s.run}${s.generation ? ` · continued as new ${s.generation}×` : ''}`,
    '',
    table(['NODE', 'STATE', 'BATCHES', 'EVENTS', 'NOTE'], rows),
  ];
  // convergeAfter: the learning curve as the workflow last read it
  const l = s.learning;
  if (l) {
    const cats = Object.entries(l.counts).map(([c, n]) => {
      const category = c as keyof typeof l.counts;
      const last = l.lastNew[category];
      return [c, String(n), sparkline(l.curves?.[category] ?? []), last ? `${formatDuration(Math.max(now - last, 0))} ago` : ''];
    });
    out.push('', `learning (the store as of ${formatDuration(Math.max(now - l.at, 0))} ago): last new behavior ${l.newest ? `${formatDuration(Math.max(now - l.newest, 0))} ago` : 'never'}`, table(['CATEGORY', 'BEHAVIORS', 'CURVE', 'LAST NEW'], cats));
  }
  return out.join('\n');
}

export async function statusCommand(client: Client, id: string, json: boolean): Promise<string> {
  const handle = client.workflow.getHandle(runId(id));
  const s = await liveStatus(handle);
  return json ? JSON.stringify(s, null, 2) + '\n' : renderStatus(handle.workflowId, s, Date.now());
}

export async function stopCommand(client: Client, id: string): Promise<string> {
  await client.workflow.getHandle(runId(id)).signal(stopSignal);
  return `stop requested for ${runId(id)}: collectors checkpoint, then the model is merged\n`;
}

export async function extendCommand(client: Client, id: string, by: string): Promise<string> {
  const end = await client.workflow.getHandle(runId(id)).executeUpdate(extendUpdate, { args: [by] });
  return `window of ${runId(id)} now ends at ${new Date(end).toISOString()}\n`;
}

/** `model snapshot`: the model of what the store holds now, as an interim version; with `out`, its files there too. */
export async function snapshotCommand(client: Client, id: string, out?: string): Promise<string> {
  const s = await client.workflow.getHandle(runId(id)).executeUpdate(snapshotUpdate);
  const counts = Object.entries(s.counts).filter(([, n]) => n > 0).map(([c, n]) => `${n} ${c}`).join(', ');
  const lines = [`interim version ${s.version} of ${runId(id)}: ${s.batches} objects merged; ${counts || 'nothing seen yet'}; the window goes on`];
  if (out) for (const [name, path] of Object.entries(await fetchOutputs(s.store, s.outputs, out))) lines.push(`  ${name}: ${path}`);
  else lines.push(`  report: ${s.outputs['report.md']}`);
  return lines.join('\n') + '\n';
}

export async function resultCommand(client: Client, id: string, out: string, log: Logger): Promise<string> {
  const handle = client.workflow.getHandle(runId(id));
  const result = await waitForResult(handle, log);
  const files = await fetchOutputs(result.store, result.outputs, out);
  return summary(result, files);
}

/** What a run produced, for people: counts, executables, drift, where the files are. */
export async function summary(result: ModelingResult, files: Record<string, string>): Promise<string> {
  const model = parse(await readFile(files['armorprofilemodel.yaml']!, 'utf8')) as ArmorProfileModel;
  const dyn = model.data.dynamicResult;
  const execs = dyn.appArmor?.executions ?? [];
  const failed = result.nodes.filter((n) => n.state === 'failed');
  const counts = Object.entries(result.counts).map(([k, v]) => `${v} ${k}`).join(', ');
  return [
    `model ${model.metadata.namespace}/${model.metadata.name}: ${result.batches} batch(es) from ${result.nodes.length} node(s)${failed.length ? `, ${failed.length} failed (${failed.map((n) => n.node).join(', ')})` : ''}`,
    `executables seen (${execs.length}): ${execs.slice(0, 8).join(', ')}${execs.length > 8 ? ', ...' : ''}`,
    `syscalls: ${dyn.seccomp?.syscalls.length ?? 0}; all behaviors: ${counts || 'none'}`,
    ...(result.drift ? [`drift since ${result.drift.previous}: +${result.drift.summary.added} -${result.drift.summary.removed} ~${result.drift.summary.changed}, ${result.drift.summary.verdictChanges} rule verdict(s) changed`] : []),
    ...Object.entries(files).map(([name, path]) => `  ${name.padEnd(24)} ${path}`),
    '',
  ].join('\n');
}

export async function listCommand(client: Client, json: boolean): Promise<string> {
  const rows: { id: string; status: string; phase: string; started: string }[] = [];
  for await (const w of client.workflow.list({ query: `WorkflowType = '${behaviorModeling.name}'` })) {
    const phase = w.searchAttributes?.[SEARCH_ATTRIBUTE.phase]?.[0];
    rows.push({ id: w.workflowId, status: w.status.name, phase: typeof phase === 'string' ? phase : '', started: w.startTime.toISOString() });
    if (rows.length >= 200) break;
  }
  if (json) return JSON.stringify(rows, null, 2) + '\n';
  return table(['WORKFLOW', 'STATUS', 'PHASE', 'STARTED'], rows.map((r) => [r.id, r.status, r.phase, r.started]));
}
