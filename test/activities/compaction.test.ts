import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pathToFileURL } from 'node:url';
import { Context } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import fc from 'fast-check';
import type { Delta } from '../../core/behavior.js';
import { Checkpointer, type CheckpointPolicy } from '../../activities/checkpoint.js';
import { syntheticBehaviors, syntheticUnion } from '../../activities/simulate.js';
import { mergeCounters, mergeInto, type Batch, type BehaviorSet, type Counters } from '../../core/behavior.js';
import { decodeBatch, keys, parseBatchKey } from '../../store/batches.js';
import { openStore } from '../../store/open.js';
import type { ObjectStore } from '../../store/store.js';
import { tempDir, testKeyring } from '../helpers.js';

const keyring = await testKeyring();
const RUN = 'shop/web/r1';
const base = (replica: string) => ({ run: RUN, node: 'n1', collector: 'bpf', replica, arch: 'x86_64', target: 't' });
const PREFIX = keys.nodeBatches(RUN, 'n1', 'bpf');

/**
 * An object store in memory that can crash: the `crashAt`-th put or delete either lands or not
 * (`lands`), and then it and every later call never return, as for a process killed mid-call.
 */
class CrashingStore implements ObjectStore {
  readonly url = 'mem://';
  readonly objects = new Map<string, Uint8Array>();
  /** Every batch (not snapshot) put that landed: what a store without compaction would hold. */
  readonly landedBatches: Batch[] = [];
  private mutations = 0;
  crashed = false;
  constructor(private crashAt = Infinity, private lands = true) {}
  arm(crashAt: number, lands: boolean): void {
    this.crashed = false;
    this.mutations = 0;
    this.crashAt = crashAt;
    this.lands = lands;
  }
  private async mutate(apply: () => void): Promise<void> {
    if (this.crashed) return new Promise(() => {});
    if (++this.mutations === this.crashAt) {
      this.crashed = true;
      if (this.lands) apply();
      return new Promise(() => {});
    }
    apply();
  }
  put(key: string, body: Uint8Array) {
    return this.mutate(() => {
      this.objects.set(key, body);
      if (!parseBatchKey(key)!.snapshot) this.landedBatches.push(decodeBatch(keyring, key, body));
    });
  }
  delete(key: string) {
    return this.mutate(() => void this.objects.delete(key));
  }
  async get(key: string) {
    return this.crashed ? new Promise<undefined>(() => {}) : this.objects.get(key);
  }
  async list(prefix: string) {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix + '/')).sort();
  }
}

function mergeAll(batches: Batch[]): { behaviors: BehaviorSet; counters: Counters } {
  const behaviors: BehaviorSet = {};
  const counters: Counters = {};
  for (const b of batches) {
    mergeInto(behaviors, b.behaviors);
    mergeCounters(counters, b.counters);
  }
  return { behaviors, counters };
}

const env = new MockActivityEnvironment();
const open = (store: ObjectStore, replica: string, policy: CheckpointPolicy) => env.run(() => Checkpointer.open(store, keyring, Context.current(), base(replica), policy)) as Promise<Checkpointer>;
const withTimeout = <T>(p: Promise<T>, ms: number) => Promise.race([p, new Promise<'hung'>((r) => setTimeout(() => r('hung'), ms))]);

/** A delta as a collector makes them: a few paths and permissions, counts cumulative for the replica. */
const deltaArb = fc.record({
  files: fc.array(fc.tuple(fc.integer({ min: 0, max: 7 }), fc.subarray(['read', 'write', 'exec'], { minLength: 1 })), { maxLength: 3 }),
  syscalls: fc.subarray(['read', 'write', 'openat', 'mmap'], {}),
  final: fc.boolean(),
});

test('compaction, interrupted at any put or delete, by a crash before or after it lands, loses nothing and counts nothing twice', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.record({ deltas: fc.array(deltaArb, { minLength: 1, maxLength: 12 }), crashAt: fc.integer({ min: 1, max: 30 }), lands: fc.boolean() }), { minLength: 1, maxLength: 4 }),
      fc.integer({ min: 1, max: 4 }),
      async (attempts, compactEvery) => {
        const store = new CrashingStore();
        const policy = { compactEvery, quietWriteMs: 0 };
        let t = 1_700_000_000_000;
        for (const [i, attempt] of attempts.entries()) {
          // Each attempt (a retried or next-lease collector) is its own replica with cumulative counts.
          store.arm(Infinity, true);
          const out = await open(store, `n1/bpf/a${i + 1}`, policy);
          store.arm(attempt.crashAt, attempt.lands);
          const counts = new Map<string, number>();
          for (const d of attempt.deltas) {
            t += 1000;
            const delta: Delta = { behaviors: { files: {}, syscalls: {} }, counters: { records: t } };
            const r = `n1/bpf/a${i + 1}`;
            for (const [path, perms] of d.files) delta.behaviors.files![`/p/${path}`] = { first: t, last: t, n: { [r]: counts.set(`f${path}`, (counts.get(`f${path}`) ?? 0) + 1).get(`f${path}`)! }, sets: { perms } };
            for (const s of d.syscalls) delta.behaviors.syscalls![s] = { first: t, last: t, n: { [r]: counts.set(s, (counts.get(s) ?? 0) + 2).get(s)! } };
            if ((await withTimeout(env.run(() => out.save(delta, { final: d.final })), 30)) === 'hung') break; // killed (a save that is only slow counts as killed too: abandoning it anywhere must be safe)
          }
        }
        store.arm(Infinity, true);
        const stored = await Promise.all((await store.list(PREFIX)).map(async (k) => decodeBatch(keyring, k, (await store.get(k))!)));
        assert.deepEqual(mergeAll(stored), mergeAll(store.landedBatches));
        // Bounded: one compaction leaves one snapshot; a crash at most a few leftovers, folded by the next attempt.
        assert.ok(stored.length <= compactEvery + 1 + attempts.length * 2, `${stored.length} objects`);
      },
    ),
    { numRuns: 150, seed: 19 },
  );
});

test('two instances of one collector checkpointing and compacting at once (a retry beside a lost attempt) lose nothing', async () => {
  const store = new CrashingStore();
  const policy = { compactEvery: 2, quietWriteMs: 0 };
  const a = await open(store, 'n1/bpf/a1', policy);
  const b = await open(store, 'n1/bpf/a2', policy);
  let t = 1_700_000_000_000;
  for (let i = 0; i < 10; i++) {
    for (const [out, r] of [[a, 'n1/bpf/a1'], [b, 'n1/bpf/a2']] as const) {
      t += 1000;
      await env.run(() => out.save({ behaviors: { files: { [`/${r}/${i}`]: { first: t, last: t, n: { [r]: i + 1 } } } }, counters: {} }, { final: i === 9 }));
    }
  }
  const stored = await Promise.all((await store.list(PREFIX)).map(async (k) => decodeBatch(keyring, k, (await store.get(k))!)));
  assert.deepEqual(mergeAll(stored), mergeAll(store.landedBatches));
  assert.equal(Object.keys(mergeAll(stored).behaviors.files!).length, 20);
});

test('in a real store: an idle target writes nothing, counts wait, what is new is written at once, a lease ends in one snapshot', async () => {
  const store = await openStore(pathToFileURL(await tempDir('store')).href);
  const out = await open(store, 'n1/bpf/a1', { compactEvery: 30, quietWriteMs: 60_000 });
  const at = 1_700_000_000_000;
  const item = (n: number) => ({ first: at, last: at + n, n: { 'n1/bpf/a1': n } });
  const save = (behaviors: BehaviorSet, final = false) => env.run(() => out.save({ behaviors, counters: { records: 0 } }, { final }));
  for (let i = 0; i < 5; i++) await save({});
  assert.deepEqual(await store.list(PREFIX), [], 'an empty checkpoint wrote an object');
  await save({ syscalls: { read: item(1) } });
  assert.equal((await store.list(PREFIX)).length, 1, 'something new is written at once');
  for (let i = 2; i < 10; i++) await save({ syscalls: { read: item(i) } });
  assert.equal((await store.list(PREFIX)).length, 1, 'repeats only raise counts: they wait');
  await save({ syscalls: { read: item(10), write: item(1) } });
  assert.equal((await store.list(PREFIX)).length, 2);
  await save({}, true);
  const left = await store.list(PREFIX);
  assert.equal(left.length, 1);
  assert.ok(parseBatchKey(left[0]!)!.snapshot);
  const snapshot = decodeBatch(keyring, left[0]!, (await store.get(left[0]!))!);
  assert.deepEqual(snapshot.behaviors.syscalls!.read!.n, { 'n1/bpf/a1': 10 }, 'the waiting count reached the store at the lease end');
  // The next lease continues after it, and its first compaction replaces it.
  const next = await open(store, 'n1/bpf/a2', { compactEvery: 1, quietWriteMs: 0 });
  assert.equal(await next.lastPosition(), undefined);
  await env.run(() => next.save({ behaviors: { files: { '/etc/hosts': { first: at, last: at, n: { 'n1/bpf/a2': 1 } } } }, counters: {} }));
  const after = await store.list(PREFIX);
  assert.equal(after.length, 1);
  const merged = decodeBatch(keyring, after[0]!, (await store.get(after[0]!))!);
  assert.deepEqual(Object.keys(merged.behaviors).sort(), ['files', 'syscalls']);
  assert.ok(parseBatchKey(after[0]!)!.seq > parseBatchKey(left[0]!)!.seq);
});

test("the benchmark's shortcut for many nodes: a simulated node's window as one set equals its checkpoints merged", () => {
  for (const node of ['node-0001', 'node-0042']) {
    const merged: BehaviorSet = {};
    for (let seq = 0; seq < 900; seq++) mergeInto(merged, syntheticBehaviors(node, `${node}/sim/a1`, seq, 1000 + (seq + 1) * 10));
    assert.deepEqual(syntheticUnion(node, `${node}/sim/a1`, 900, 1000, 10), merged);
  }
});

test('leases that count from zero under one replica add up; a lease whose counts go on (adopted pinned state) is not added twice', async () => {
  const at = 1_700_000_000_000;
  const item = (n: number) => ({ first: at, last: at, n: { 'n1/bpf/a1': n } });
  const lease = async (store: ObjectStore, n: number, countsRestart: boolean) => {
    const out = (await env.run(() => Checkpointer.open(store, keyring, Context.current(), base('n1/bpf/a1'), { compactEvery: 30, quietWriteMs: 0 }, { countsRestart }))) as Checkpointer;
    await env.run(() => out.save({ behaviors: { syscalls: { read: item(n) } }, counters: { records: n } }, { final: true }));
  };
  const total = async (store: ObjectStore) => {
    const stored = await Promise.all((await store.list(PREFIX)).map(async (k) => decodeBatch(keyring, k, (await store.get(k))!)));
    const m = mergeAll(stored);
    return [m.behaviors.syscalls!.read!.n['n1/bpf/a1'], m.counters['n1/bpf/a1']!.records];
  };
  const restarting = new CrashingStore();
  for (const n of [5, 3, 4]) await lease(restarting, n, true);
  assert.deepEqual(await total(restarting), [12, 12]);
  const continuing = new CrashingStore();
  for (const n of [5, 8, 12]) await lease(continuing, n, false);
  assert.deepEqual(await total(continuing), [12, 12]);
});
