import { WorkflowExecutionAlreadyStartedError, WorkflowFailedError } from '@temporalio/client';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import type { ArmorProfileModel } from '../core/armorprofilemodel.js';
import type { Logger } from 'pino';
import { planFromInput, workflowIdFor, type ModelingInput } from '../workflows/input.js';
import { stopSignal, type ModelingResult } from '../workflows/index.js';
import { CONTROLLER_QUEUE } from '../workflows/queues.js';
import { fetchOutputs } from './outputs.js';
import { progressLine, ProgressPrinter } from './progress.js';
import { openSession } from './session.js';
import { liveStatus } from './status.js';

export interface RecordOptions {
  duration: string;
  out: string;
  name?: string;
  checkpointInterval: string;
  home: string;
}

/** `record -- CMD`: models a command launched on this node, through the real workflow. */
export async function record(argv: string[], opts: RecordOptions, log: Logger): Promise<number> {
  const session = await openSession({ home: opts.home, log, workers: 'all', commandOutput: 2 });
  try {
    const input: ModelingInput = {
      target: { kind: 'command', node: session.node, argv },
      duration: opts.duration,
      checkpointInterval: opts.checkpointInterval,
      ...(opts.name ? { name: opts.name } : {}),
    };
    const plan = planFromInput(input);
    const workflowId = workflowIdFor(plan);
    let handle;
    try {
      handle = await session.client.workflow.start('behaviorModeling', { taskQueue: CONTROLLER_QUEUE, workflowId, args: [input] });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        throw new Error(`a modeling run for ${plan.namespace}/${plan.name} is already running (workflow ${workflowId}); stop it or pick another --name`);
      }
      throw err;
    }
    log.info({ workflowId, runId: handle.firstExecutionRunId }, 'modeling started');

    // First Ctrl-C: stop the window early and still merge. Second: leave.
    let interrupted = false;
    const onSigint = () => {
      if (interrupted) process.exit(130);
      interrupted = true;
      process.stderr.write('\nstopping the window early; merging what was seen (Ctrl-C again to abandon)\n');
      handle.signal(stopSignal).catch(() => {});
    };
    process.on('SIGINT', onSigint);
    const progress = new ProgressPrinter(process.stderr);
    const poll = setInterval(() => {
      liveStatus(handle).then((s) => progress.update(progressLine(s, Date.now())), () => {});
    }, 1000);
    let result: ModelingResult;
    try {
      result = await handle.result();
    } catch (err) {
      if (err instanceof WorkflowFailedError) throw new Error(rootCause(err));
      throw err;
    } finally {
      clearInterval(poll);
      progress.done();
      process.off('SIGINT', onSigint);
    }
    const files = await fetchOutputs(result.store, result.outputs, resolve(opts.out));
    await printSummary(result, files);
    return 0;
  } finally {
    await session.close();
  }
}

function rootCause(err: unknown): string {
  let e = err as { message?: string; cause?: unknown };
  while (e.cause) e = e.cause as typeof e;
  return e.message ?? String(err);
}

async function printSummary(result: ModelingResult, files: Record<string, string>): Promise<void> {
  const model = parse(await readFile(files['armorprofilemodel.yaml']!, 'utf8')) as ArmorProfileModel;
  const dyn = model.data.dynamicResult;
  const execs = dyn.appArmor?.executions ?? [];
  const lines = [
    `model: ${model.metadata.namespace}/${model.metadata.name} from ${result.batches} batch(es) on ${result.nodes.length} node(s)`,
    `executables seen (${execs.length}): ${execs.slice(0, 8).join(', ')}${execs.length > 8 ? ', ...' : ''}`,
    `syscalls: ${dyn.seccomp?.syscalls.length ?? 0}`,
    ...Object.entries(files).map(([name, path]) => `  ${name.padEnd(24)} ${path}`),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}
