import { randomBytes } from 'node:crypto';
import type { Context } from '@temporalio/activity';
import { BATCH_FORMAT, bringsNew, mergeCounters, mergeInto, type Batch, type BatchBody, type BehaviorSet, type Delta, type Item } from '../core/behavior.js';
import type { Keyring } from '../lib/keyring.js';
import { checkpoints } from '../lib/metrics.js';
import { decodeBatch, encodeBatch, keys, parseBatchKey } from '../store/batches.js';
import type { ObjectStore } from '../store/store.js';

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

/** When a collector writes and folds (tests and benchmarks set their own). */
export interface CheckpointPolicy {
  /** Fold the collector's objects into one snapshot once this many batches were written since the last. */
  compactEvery: number;
  /** A checkpoint that only raises counts (nothing new) waits; it is written after this long at most. */
  quietWriteMs: number;
  /** The clock batches are stamped with (a benchmark's compressed week runs its own). */
  now?: () => number;
}

export const DEFAULT_CHECKPOINT_POLICY: CheckpointPolicy = { compactEvery: 30, quietWriteMs: 10 * 60_000 };

/** A collector's objects in the store, merged: what its next snapshot holds. */
interface Folded extends BatchBody {
  sessions: BehaviorSet;
  samples: string[];
  /** Sequence number of the object the position came from: the newest wins. */
  positionSeq: number;
  from: number;
  to: number;
}

const MAX_SAMPLES = 10;

/**
 * Writes one collector's batches and keeps what the collector holds in the store bounded.
 *
 * - A checkpoint is written only when it brings something new (a behavior, a permission, a
 *   sample); one that only raises counts waits, at most `quietWriteMs`, and the last one of a
 *   lease is always written. An idle target writes nothing.
 * - Every `compactEvery` batches, and at the end of a lease, everything the collector has in the
 *   store (the last snapshot, the batches since, whatever an earlier attempt left) is folded into
 *   one snapshot: written first, then the objects it covers are deleted. The behavior set is a
 *   CRDT, so a reader that sees a snapshot and the batches it covers (a crash between the two
 *   steps, or two attempts compacting at once) gets the same answer, and nothing is counted twice.
 * - Sequence numbers continue after the highest stored, so a retried activity overwrites nothing;
 *   a failed put is retried with backoff while the batch stays in memory.
 */
export class Checkpointer {
  /** Batches written by this instance (progress). */
  written = 0;
  private unsaved: Folded;
  private lastWrite: number;
  private sinceSnapshot = 0;
  /** This instance's part of its keys. */
  private readonly writer = randomBytes(4).toString('hex');

  private constructor(
    private readonly store: ObjectStore,
    private readonly keyring: Keyring,
    private readonly ctx: Context,
    private readonly base: Pick<Batch, 'run' | 'node' | 'collector' | 'replica' | 'arch' | 'target'>,
    private readonly policy: CheckpointPolicy,
    private seq: number,
    private readonly folded: Folded,
    /** Objects `folded` was read from or written as: the next snapshot replaces them. */
    private foldedKeys: string[],
    /** What the store already counts for this replica, added to counts that start again from zero. */
    private readonly offsets: Offsets | undefined,
  ) {
    this.lastWrite = this.now();
    this.unsaved = empty(this.now());
  }

  private now(): number {
    return this.policy.now?.() ?? Date.now();
  }

  /**
   * Opens a collector's checkpoints, folding in what earlier leases and attempts left in the store
   * (a snapshot and a few batches). `countsRestart`: this instance counts from zero under a replica
   * an earlier lease may have counted under (a new audit reader, a tracer without pinned state):
   * its counts continue from the store's, so leases add up instead of the largest one winning.
   */
  static async open(store: ObjectStore, keyring: Keyring, ctx: Context, base: Checkpointer['base'], policy = DEFAULT_CHECKPOINT_POLICY, opts: { countsRestart?: boolean } = {}): Promise<Checkpointer> {
    const listed = (await store.list(keys.nodeBatches(base.run, base.node, base.collector)))
      .map((key) => ({ key, parsed: parseBatchKey(key) }))
      .filter((o): o is { key: string; parsed: { seq: number; snapshot: boolean } } => o.parsed !== undefined);
    const folded = empty(policy.now?.() ?? Date.now());
    const foldedKeys: string[] = [];
    for (const { key, parsed } of listed) {
      const body = await store.get(key);
      if (!body) continue;
      let batch: Batch;
      try {
        batch = decodeBatch(keyring, key, body);
      } catch (err) {
        // Left where it is: the merge refuses and reports it; it must not vanish in a snapshot.
        ctx.log.warn('an object of this collector does not verify; not folded', { key, error: (err as Error).message });
        continue;
      }
      fold(folded, batch, parsed.seq);
      foldedKeys.push(key);
    }
    const seq = Math.max(-1, ...listed.map((o) => o.parsed.seq)) + 1;
    return new Checkpointer(store, keyring, ctx, base, policy, seq, folded, foldedKeys, opts.countsRestart ? offsetsOf(folded, base.replica) : undefined);
  }

  /** The resume position of the newest object in the store that verifies, if any. */
  async lastPosition(): Promise<unknown> {
    return this.folded.position;
  }

  /** Hands over what the collector saw since its previous checkpoint; writes it when it is due. `final`: the lease ends. */
  async save(delta: Delta, opts: { final?: boolean } = {}): Promise<void> {
    if (this.offsets) delta = offset(delta, this.base.replica, this.offsets);
    const u = this.unsaved;
    mergeInto(u.behaviors, delta.behaviors);
    if (delta.sessions) mergeInto(u.sessions, delta.sessions);
    u.counters = { [this.base.replica]: delta.counters };
    for (const line of delta.samples ?? []) if (!u.samples.includes(line)) u.samples.push(line);
    if (delta.position !== undefined) u.position = delta.position;
    const newSample = this.folded.samples.length < MAX_SAMPLES && u.samples.some((l) => !this.folded.samples.includes(l));
    const news = newSample || bringsNew(this.folded.behaviors, u.behaviors) || bringsNew(this.folded.sessions, u.sessions);
    const due = opts.final || this.now() - this.lastWrite >= this.policy.quietWriteMs;
    if (news || (due && this.changed())) await this.write();
    if (this.sinceSnapshot >= this.policy.compactEvery || (opts.final && this.foldedKeys.length > 1)) await this.compact();
  }

  /** Whether the unsaved part differs from what the store has: counts, counters or position. */
  private changed(): boolean {
    const u = this.unsaved;
    if (Object.keys(u.behaviors).length || Object.keys(u.sessions).length) return true;
    const counters = u.counters[this.base.replica] ?? {};
    const stored = this.folded.counters[this.base.replica] ?? {};
    if (Object.entries(counters).some(([k, v]) => stored[k] !== v)) return true;
    return u.position !== undefined && JSON.stringify(u.position) !== JSON.stringify(this.folded.position);
  }

  private async write(): Promise<void> {
    const to = this.now();
    this.unsaved.to = to;
    const batch = this.batch(this.seq, this.unsaved);
    const key = keys.batch(this.base.run, this.base.node, this.base.collector, this.seq, this.writer);
    await this.persist(key, batch);
    checkpoints.written(this.base.collector);
    fold(this.folded, batch, this.seq);
    this.foldedKeys.push(key);
    this.seq++;
    this.written++;
    this.sinceSnapshot++;
    this.lastWrite = to;
    this.unsaved = empty(to);
  }

  /** One snapshot for everything folded, then the objects it covers go. */
  private async compact(): Promise<void> {
    const f = this.folded;
    const last = this.seq - 1;
    const key = keys.snapshot(this.base.run, this.base.node, this.base.collector, last, this.writer);
    await this.persist(key, this.batch(last, f));
    const covered = this.foldedKeys.filter((k) => k !== key);
    this.foldedKeys = [key];
    this.sinceSnapshot = 0;
    let deleted = 0;
    for (const k of covered) {
      // A delete that fails leaves a covered object: harmless to a reader, folded again next time.
      await this.store.delete(k).then(
        () => deleted++,
        (err: Error) => {
          this.ctx.log.warn('a compacted object could not be deleted; it is folded again next time', { key: k, error: err.message });
          this.foldedKeys.push(k);
        },
      );
    }
    checkpoints.compacted(this.base.collector, deleted);
  }

  /** The object for what is folded: only the parts it has. */
  private batch(seq: number, f: Folded): Batch {
    const batch: Batch = { format: BATCH_FORMAT, ...this.base, seq, from: f.from, to: f.to, behaviors: f.behaviors, counters: f.counters };
    if (Object.keys(f.sessions).length) batch.sessions = f.sessions;
    if (f.samples.length) batch.samples = f.samples.slice(0, MAX_SAMPLES);
    if (f.position !== undefined) batch.position = f.position;
    return batch;
  }

  private async persist(key: string, batch: Batch): Promise<void> {
    let recovered: (() => void) | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.store.put(key, encodeBatch(this.keyring, key, batch));
        recovered?.();
        return;
      } catch (err) {
        const message = (err as Error).message;
        checkpoints.failed(this.base.collector);
        recovered ??= checkpoints.failing(this.base.collector);
        this.ctx.log.warn('checkpoint failed, retrying', { collector: this.base.collector, key, error: message });
        this.ctx.heartbeat({ node: this.base.node, seq: batch.seq, events: -1, storeError: message } satisfies Progress);
        await new Promise((r) => setTimeout(r, Math.min(30_000, 500 * 2 ** attempt)));
      }
    }
  }
}

/** A replica's counts in the store: per item (category, key) and its counters. */
interface Offsets {
  behaviors: Map<string, number>;
  sessions: Map<string, number>;
  counters: Record<string, number>;
}

function offsetsOf(f: Folded, replica: string): Offsets {
  const of = (set: BehaviorSet) => {
    const m = new Map<string, number>();
    for (const [category, items] of Object.entries(set)) {
      for (const [key, item] of Object.entries(items ?? {})) if (Object.hasOwn(item.n, replica)) m.set(`${category}\0${key}`, item.n[replica]!);
    }
    return m;
  };
  return { behaviors: of(f.behaviors), sessions: of(f.sessions), counters: { ...(f.counters[replica] ?? {}) } };
}

/** The delta with the store's counts for the replica added: a G-counter that goes on across leases. */
function offset(delta: Delta, replica: string, o: Offsets): Delta {
  const shift = (set: BehaviorSet, m: Map<string, number>): BehaviorSet => {
    const out: BehaviorSet = {};
    for (const [category, items] of Object.entries(set) as [keyof BehaviorSet, Record<string, Item>][]) {
      const shifted: Record<string, Item> = {};
      for (const [key, item] of Object.entries(items)) {
        const add = m.get(`${category}\0${key}`);
        shifted[key] = add && Object.hasOwn(item.n, replica) ? { ...item, n: { ...item.n, [replica]: item.n[replica]! + add } } : item;
      }
      out[category] = shifted;
    }
    return out;
  };
  const counters = { ...delta.counters };
  for (const [k, v] of Object.entries(o.counters)) if (typeof counters[k] === 'number') counters[k] += v;
  return { ...delta, behaviors: shift(delta.behaviors, o.behaviors), ...(delta.sessions ? { sessions: shift(delta.sessions, o.sessions) } : {}), counters };
}

function empty(from: number): Folded {
  return { behaviors: {}, sessions: {}, counters: {}, samples: [], positionSeq: -1, from, to: from };
}

function fold(into: Folded, batch: Batch, seq: number): void {
  mergeInto(into.behaviors, batch.behaviors);
  if (batch.sessions) mergeInto(into.sessions, batch.sessions);
  mergeCounters(into.counters, batch.counters);
  for (const line of batch.samples ?? []) if (into.samples.length < MAX_SAMPLES && !into.samples.includes(line)) into.samples.push(line);
  if (batch.position !== undefined && seq >= into.positionSeq) {
    into.position = batch.position;
    into.positionSeq = seq;
  }
  into.from = Math.min(into.from, batch.from);
  into.to = Math.max(into.to, batch.to);
}
