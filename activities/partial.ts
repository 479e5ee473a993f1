import { Context } from '@temporalio/activity';
import { collapseReplicas, mergeCounters, mergeInto, sumCounters, type BehaviorSet, type Counters } from '../core/behavior.js';
import type { Integrity } from '../core/outputs.js';
import type { Keyring } from '../lib/keyring.js';
import { mergeRefusedObject, timedMerge } from '../lib/metrics.js';
import { decodeBatch, keys } from '../store/batches.js';
import { openStore } from '../store/open.js';
import { decodePartial, encodePartial, partialKey, PARTIAL_FORMAT, type PartialSet } from '../store/partials.js';
import { IntegrityError } from '../store/sealed.js';
import type { ObjectStore } from '../store/store.js';

/** What a merge reads: everything of the objects that verified, and an account of those that did not. */
export interface Merged {
  behaviors: BehaviorSet;
  counters: Counters;
  arches: Set<string>;
  samples: string[];
  integrity: Integrity;
}

const MAX_SAMPLES = 10;
const MAX_REFUSED_KEYS = 20;
/** Objects read at once: a cloud store answers a GET in tens of milliseconds. */
const READ_CONCURRENCY = 16;

export function emptyMerged(): Merged {
  return { behaviors: {}, counters: {}, arches: new Set(), samples: [], integrity: { verified: 0, refused: 0, refusedBy: {}, refusedKeys: [] } };
}

/**
 * Merges every batch and snapshot under the prefixes into `into`, READ_CONCURRENCY reads at a
 * time. An object that does not verify is counted and named, never merged. An object listed and
 * then gone was folded into a snapshot written before it was deleted (a collector compacting
 * late): the prefixes are listed again for that snapshot.
 */
export async function mergeObjects(store: ObjectStore, keyring: Keyring, prefixes: string[], into: Merged): Promise<void> {
  const ctx = Context.current();
  const read = new Set<string>();
  const merge = (key: string, body: Uint8Array) => {
    read.add(key);
    let batch;
    try {
      batch = decodeBatch(keyring, key, body);
    } catch (err) {
      refuse(into.integrity, key, err);
      ctx.log.warn('object refused', { key, error: (err as Error).message });
      return;
    }
    into.integrity.verified++;
    mergeInto(into.behaviors, batch.behaviors);
    mergeCounters(into.counters, batch.counters);
    into.arches.add(batch.arch);
    addSamples(into.samples, batch.samples);
    if (into.integrity.verified % 50 === 0) ctx.heartbeat({ merged: into.integrity.verified });
  };
  for (let pass = 0; pass < 3; pass++) {
    const todo = (await Promise.all(prefixes.map((p) => store.list(p)))).flat().filter((k) => !read.has(k));
    if ((await readEach(store, todo, merge)) === 0) break;
  }
}

export function refuse(integrity: Integrity, key: string, err: unknown): void {
  const reason = err instanceof IntegrityError ? err.reason : 'unreadable';
  integrity.refused++;
  integrity.refusedBy[reason] = (integrity.refusedBy[reason] ?? 0) + 1;
  mergeRefusedObject(reason);
  nameRefused(integrity, key);
}

/** Keeps the first MAX_REFUSED_KEYS refused keys in key order: the same report whatever order the reads finished in. */
export function nameRefused(integrity: Integrity, key: string): void {
  const keys = integrity.refusedKeys;
  if (keys.length >= MAX_REFUSED_KEYS && key >= keys[keys.length - 1]!) return;
  const at = keys.findIndex((k) => k > key);
  keys.splice(at < 0 ? keys.length : at, 0, key);
  if (keys.length > MAX_REFUSED_KEYS) keys.pop();
}

export function addSamples(into: string[], lines: readonly string[] | undefined): void {
  for (const line of lines ?? []) if (into.length < MAX_SAMPLES && !into.includes(line)) into.push(line);
}

/** Reads every key, READ_CONCURRENCY at a time, handing each body over as it arrives; returns how many were gone. */
export async function readEach(store: ObjectStore, list: string[], each: (key: string, body: Uint8Array) => void): Promise<number> {
  let next = 0;
  let gone = 0;
  const worker = async () => {
    while (next < list.length) {
      const key = list[next++]!;
      const body = await store.get(key);
      if (body) each(key, body);
      else gone++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, list.length) }, worker));
  return gone;
}

export interface PartialInput {
  run: string;
  store: string;
  group: number;
  nodes: string[];
}

/**
 * One branch of a large run's merge: a group of nodes' objects merged into a partial set in the
 * store, its counts collapsed to the group. The final merge combines the partial sets; a retried
 * branch finds its partial set written and returns at once, and Temporal does not run a finished
 * one again, so a merge resumes where it stopped.
 */
export function partialActivity(config: { keyring: Keyring }) {
  return timedMerge('mergePartial', async function mergePartial(input: PartialInput): Promise<{ key: string; objects: number; refused: number }> {
    const store = await openStore(input.store);
    const key = partialKey(input.run, input.group);
    const done = await store.get(key);
    if (done) {
      try {
        const p = decodePartial(config.keyring, input.run, input.group, done);
        // Written by this branch before (a retry): reused. For other nodes (someone else's activity): made again.
        if (JSON.stringify(p.nodes) === JSON.stringify(input.nodes)) return { key, objects: p.integrity.verified, refused: p.integrity.refused };
      } catch (err) {
        Context.current().log.warn('a partial set does not verify; merging its group again', { key, error: (err as Error).message });
      }
    }
    const merged = emptyMerged();
    await mergeObjects(store, config.keyring, input.nodes.map((node) => keys.node(input.run, node)), merged);
    const as = `partial-${input.group}`;
    const partial: PartialSet = {
      format: PARTIAL_FORMAT,
      run: input.run,
      group: input.group,
      nodes: input.nodes,
      behaviors: collapseReplicas(merged.behaviors, as),
      counters: { [as]: sumCounters(merged.counters) },
      arches: [...merged.arches].sort(),
      samples: merged.samples,
      integrity: merged.integrity,
    };
    await store.put(key, encodePartial(config.keyring, partial));
    return { key, objects: merged.integrity.verified, refused: merged.integrity.refused };
  });
}
