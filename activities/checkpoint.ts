import type { Context } from '@temporalio/activity';
import { BATCH_FORMAT, type Batch, type BehaviorSet } from '../core/behavior.js';
import type { Keyring } from '../lib/keyring.js';
import { decodeBatch, keys, nextSeq, putBatch } from '../store/batches.js';
import type { ObjectStore } from '../store/store.js';

/** What one collector hands over at a checkpoint. */
export interface Delta {
  behaviors: BehaviorSet;
  sessions?: BehaviorSet;
  counters: Record<string, number>;
  samples?: string[];
  /** Where to resume reading after a restart (the audit log offset). */
  position?: unknown;
}

/** Progress for `model status` in heartbeat details; never trusted for resumption (the store is). */
export interface Progress {
  node: string;
  /** The activity attempt: above 1 after a collector was lost and retried. */
  attempt?: number;
  /** Batches written so far by this node's collectors. */
  seq: number;
  events: number;
  /** Set while checkpoints fail: the store's error. */
  storeError?: string;
}

/**
 * Writes one collector's batches: sequence numbers continue after the last stored batch, so a
 * retried activity neither overwrites nor duplicates, and a failed put is retried with backoff
 * while the batch stays in memory.
 */
export class Checkpointer {
  private from = Date.now();
  written = 0;

  private constructor(
    private readonly store: ObjectStore,
    private readonly keyring: Keyring,
    private readonly ctx: Context,
    private readonly base: Pick<Batch, 'run' | 'node' | 'collector' | 'replica' | 'arch' | 'target'>,
    private seq: number,
  ) {}

  static async open(store: ObjectStore, keyring: Keyring, ctx: Context, base: Checkpointer['base']): Promise<Checkpointer> {
    return new Checkpointer(store, keyring, ctx, base, await nextSeq(store, base.run, base.node, base.collector));
  }

  /** The resume position the previous attempt checkpointed last, if any; none when that batch does not verify. */
  async lastPosition(): Promise<unknown> {
    if (this.seq === 0) return undefined;
    const key = keys.batch(this.base.run, this.base.node, this.base.collector, this.seq - 1);
    const body = await this.store.get(key);
    if (!body) return undefined;
    try {
      return decodeBatch(this.keyring, key, body).position;
    } catch (err) {
      this.ctx.log.warn('the last batch does not verify; not resuming from its position', { key, error: (err as Error).message });
      return undefined;
    }
  }

  async save(delta: Delta): Promise<void> {
    const to = Date.now();
    const batch: Batch = {
      format: BATCH_FORMAT,
      ...this.base,
      seq: this.seq,
      from: this.from,
      to,
      behaviors: delta.behaviors,
      counters: { [this.base.replica]: delta.counters },
    };
    if (delta.sessions && Object.keys(delta.sessions).length) batch.sessions = delta.sessions;
    if (delta.samples?.length) batch.samples = delta.samples;
    if (delta.position !== undefined) batch.position = delta.position;
    for (let attempt = 0; ; attempt++) {
      try {
        await putBatch(this.store, this.keyring, batch);
        break;
      } catch (err) {
        const message = (err as Error).message;
        this.ctx.log.warn('checkpoint failed, retrying', { collector: this.base.collector, seq: batch.seq, error: message });
        this.ctx.heartbeat({ node: this.base.node, seq: batch.seq, events: -1, storeError: message } satisfies Progress);
        await new Promise((r) => setTimeout(r, Math.min(30_000, 500 * 2 ** attempt)));
      }
    }
    this.seq++;
    this.written++;
    this.from = to;
  }
}
