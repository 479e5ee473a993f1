import { gunzipSync, gzipSync } from 'node:zlib';
import { checkCounters, checkSet, type BehaviorSet, type Counters } from '../core/behavior.js';
import type { Integrity } from '../core/outputs.js';
import { keys } from './batches.js';
import { seal, unseal, type SealingKeys } from './sealed.js';

/**
 * A partial set: one group of nodes' objects merged by a mergePartial activity, for the final
 * merge of a large run to combine (activities/partial.ts). Counts are collapsed to one replica per
 * group, so its size is what the group observed, not what it observed times its replicas.
 */
export interface PartialSet {
  format: typeof PARTIAL_FORMAT;
  run: string;
  group: number;
  /** The nodes it merged: a partial set is reused only for the same group of nodes. */
  nodes: string[];
  behaviors: BehaviorSet;
  counters: Counters;
  arches: string[];
  samples: string[];
  /** What the group's objects were: merged, or refused. */
  integrity: Integrity;
}

export const PARTIAL_FORMAT = 'varmor-modeler/partial@1';
const MAX_BYTES = 1 << 30;

export const partialKey = (run: string, group: number) => `${keys.run(run)}/partials/${String(group).padStart(5, '0')}.json.gz`;

export function encodePartial(keyring: SealingKeys, p: PartialSet): Uint8Array {
  return seal(keyring, partialKey(p.run, p.group), gzipSync(JSON.stringify(p)));
}

/** The partial set stored under its key, verified (IntegrityError) and checked. */
export function decodePartial(keyring: SealingKeys, run: string, group: number, body: Uint8Array): PartialSet {
  const key = partialKey(run, group);
  const zipped = unseal(keyring, key, body);
  try {
    const p = JSON.parse(gunzipSync(zipped, { maxOutputLength: MAX_BYTES }).toString('utf8')) as PartialSet;
    if (p.format !== PARTIAL_FORMAT || p.run !== run || p.group !== group) throw new Error('not this run\'s partial set');
    checkSet(p.behaviors, 'behaviors');
    checkCounters(p.counters, 'counters');
    if (!Array.isArray(p.nodes) || !Array.isArray(p.arches) || !Array.isArray(p.samples) || typeof p.integrity?.verified !== 'number') throw new Error('nodes, arches, samples or integrity missing');
    return p;
  } catch (err) {
    throw new Error(`partial set ${key} is unreadable: ${(err as Error).message}`);
  }
}
