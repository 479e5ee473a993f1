import { Context } from '@temporalio/activity';
import { mergeCounters, mergeInto, type BehaviorSet, type Counters } from '../core/behavior.js';
import { buildOutputs, type NodeOutcome } from '../core/outputs.js';
import { isArch, type Arch } from '../core/syscalls.js';
import { decodeBatch, keys } from '../store/batches.js';
import { openStore } from '../store/open.js';

export interface MergeInput {
  run: string;
  store: string;
  target: string;
  namespace: string;
  name: string;
  window: { start: number; end: number };
  nodes: NodeOutcome[];
}

export interface MergeResult {
  /** Object-store keys of the outputs (armorprofilemodel.yaml, seccomp.json, report.json, ...). */
  outputs: Record<string, string>;
  batches: number;
  counts: Record<string, number>;
}

/**
 * The final activity: reads every batch of the run from the object store (the only source of
 * truth), merges them one at a time, and writes the outputs back to the store.
 */
export async function mergeRun(input: MergeInput): Promise<MergeResult> {
  const ctx = Context.current();
  const started = Date.now();
  const store = await openStore(input.store);
  const batchKeys = await store.list(keys.batches(input.run));
  const behaviors: BehaviorSet = {};
  const counters: Counters = {};
  const arches = new Set<Arch>();
  for (const [i, key] of batchKeys.entries()) {
    const body = await store.get(key);
    if (!body) continue; // listed then gone: nothing to merge
    const batch = decodeBatch(key, body);
    mergeInto(behaviors, batch.behaviors);
    mergeCounters(counters, batch.counters);
    if (isArch(batch.arch)) arches.add(batch.arch);
    if (i % 50 === 0) ctx.heartbeat({ merged: i });
  }
  const mergeMs = Date.now() - started;
  const outputs = buildOutputs({
    namespace: input.namespace,
    name: input.name,
    target: input.target,
    behaviors,
    counters,
    arches: [...arches].sort(),
    window: input.window,
    nodes: input.nodes,
    batches: batchKeys.length,
    timings: { mergeMs, windowMs: input.window.end - input.window.start },
  });
  const written: Record<string, string> = {};
  for (const file of outputs.files) {
    const key = keys.output(input.run, file.name);
    await store.put(key, new TextEncoder().encode(file.content));
    written[file.name] = key;
  }
  return { outputs: written, batches: batchKeys.length, counts: outputs.report.counts };
}
