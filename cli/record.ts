import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Context } from '../core/context.js';
import type { ModelingInput } from '../workflows/input.js';
import { startModel, summary, waitForResult } from './model.js';
import { fetchOutputs } from './outputs.js';
import { openSession } from './session.js';

export interface RecordOptions {
  duration: string;
  out: string;
  name?: string;
  checkpointInterval: string;
  /** End once nothing new was seen for this long (the duration stays the upper bound). */
  convergeAfter?: string;
  minDuration?: string;
  home: string;
  context: Context;
  /** Paths the pod makes writable (volumes, emptyDir), for the readOnlyRootFilesystem advice. */
  writable?: string[];
}

/** `record -- CMD`: models a command launched on this node, through the real workflow. */
export async function record(argv: string[], opts: RecordOptions, log: Logger): Promise<number> {
  const session = await openSession({ home: opts.home, log, workers: 'all', commandOutput: 2 });
  try {
    const input: ModelingInput = {
      // A relative program path is made absolute here: the collector's cwd may differ, and a
      // script's own path is recorded as an execution only when it is absolute.
      target: { kind: 'command', node: session.node, argv: argv[0]!.includes('/') ? [resolve(argv[0]!), ...argv.slice(1)] : argv },
      duration: opts.duration,
      checkpointInterval: opts.checkpointInterval,
      context: opts.context,
      ...(opts.name ? { name: opts.name } : {}),
      ...(opts.convergeAfter ? { convergeAfter: opts.convergeAfter } : {}),
      ...(opts.minDuration ? { minDuration: opts.minDuration } : {}),
      ...(opts.writable?.length ? { writablePaths: opts.writable.map((p) => resolve(p)) } : {}),
    };
    const handle = await startModel(session.client, input, {});
    log.info({ workflowId: handle.workflowId }, 'modeling started');
    const result = await waitForResult(handle, log);
    const files = await fetchOutputs(result.store, result.outputs, resolve(opts.out));
    process.stdout.write(await summary(result, files));
    return 0;
  } finally {
    await session.close();
  }
}
