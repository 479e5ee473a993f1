import { learning, type Learning } from '../core/convergence.js';
import type { Keyring } from '../lib/keyring.js';
import { keys } from '../store/batches.js';
import { openStore } from '../store/open.js';
import { emptyMerged, mergeObjects } from './partial.js';

export interface LearningInput {
  run: string;
  store: string;
  /** The window's start, for the curves' intervals (the window so far: start to now). */
  start: number;
}

/**
 * The run's learning curve so far, for a window that ends once it converged: what the store holds
 * now (compacted, so a few objects per node), merged and reduced to counts and times. The
 * behaviors stay here; the workflow sees numbers only.
 */
export function learningActivity(config: { keyring: Keyring }) {
  return async function learningCurve(input: LearningInput): Promise<Learning> {
    const merged = emptyMerged();
    await mergeObjects(await openStore(input.store), config.keyring, [keys.batches(input.run)], merged);
    return learning(merged.behaviors, { start: input.start, end: Math.max(Date.now(), input.start + 1) });
  };
}
