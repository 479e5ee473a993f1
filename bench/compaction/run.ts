// A real week's checkpoints through the real checkpoint and compaction code, then the real merge
// (issue 19). Each node's collector sees a checkpoint every 10 s of simulated time for the window
// (60,480 for 7 days), leases of 6 h end in a final checkpoint and a new Checkpointer, behaviors
// come from the simulated collector's generator (activities/simulate.ts: common paths every
// checkpoint, some shared, a long tail of rare paths found one checkpoint in three). Nothing of the
// density is compressed: only the clock runs as fast as the machine writes.
//
//   npm run -s build
//   node dist/bench/compaction/run.js write --nodes 100 --days 7 --store DIR     # the week, into a file store
//   node --expose-gc dist/bench/compaction/run.js merge --nodes 100 --store DIR  # the merge, in a fresh process
//   node dist/bench/compaction/run.js before --checkpoints 5000                  # the old path on a subset
//   ... write --union --nodes 1000 ...: each node's week computed as one set (syntheticUnion) and written
//   through the same Checkpointer: the store ends as a week leaves it, without replaying each checkpoint.
//
// Counts of store requests go to stdout as one JSON line per phase.
import { mkdir } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { MockActivityEnvironment } from '@temporalio/testing';
import { Checkpointer, DEFAULT_CHECKPOINT_POLICY } from '../../activities/checkpoint.js';
import { mergeActivity, type MergeInput, type MergeResult } from '../../activities/merge.js';
import { partialActivity } from '../../activities/partial.js';
import { syntheticBehaviors, syntheticUnion } from '../../activities/simulate.js';
import { BATCH_FORMAT, mergeCounters, mergeInto, type BehaviorSet, type Counters } from '../../core/behavior.js';
import { OPEN_POLICY } from '../../core/policy.js';
import { Keyring } from '../../lib/keyring.js';
import { decodeBatch, keys, putBatch } from '../../store/batches.js';
import { FileStore } from '../../store/file-store.js';
import type { ObjectStore } from '../../store/store.js';
import { tempDir } from '../../test/helpers.js';

const args = process.argv.slice(2);
const flag = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i < 0 ? def : args[i + 1]!;
};
const phase = args[0];
const NODES = Number(flag('nodes', '100'));
/** write: this process's share of the nodes (several processes write one store in parallel). */
const FIRST = Number(flag('first', '0'));
const COUNT = Number(flag('count', String(NODES - FIRST)));
const DAYS = Number(flag('days', '7'));
const STORE = flag('store', '/tmp/varmor-bench-compaction');
const CHECKPOINT_MS = 10_000;
const LEASE_MS = 6 * 3600_000;
const RUN = 'bench/week/r1';
const say = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);

/** Counts each kind of request, as an S3 bill does. */
class Counting implements ObjectStore {
  readonly counts = { put: 0, get: 0, list: 0, delete: 0, bytesPut: 0 };
  constructor(private readonly inner: ObjectStore) {}
  get url() {
    return this.inner.url;
  }
  put(key: string, body: Uint8Array) {
    this.counts.put++;
    this.counts.bytesPut += body.length;
    return this.inner.put(key, body);
  }
  get(key: string) {
    this.counts.get++;
    return this.inner.get(key);
  }
  list(prefix: string) {
    this.counts.list++;
    return this.inner.list(prefix);
  }
  delete(key: string) {
    this.counts.delete++;
    return this.inner.delete(key);
  }
}

async function keyring(): Promise<Keyring> {
  await mkdir(STORE, { recursive: true });
  return Keyring.atHome(STORE);
}

const env = new MockActivityEnvironment();
const quiet = { log: { warn() {}, info() {}, debug() {}, error() {}, trace() {} }, heartbeat() {} } as never;

if (phase === 'write') {
  const kr = await keyring();
  const store = new Counting(new FileStore(pathToFileURL(`${STORE}/objects`).href));
  const checkpoints = Math.round((DAYS * 86_400_000) / CHECKPOINT_MS);
  const started = Date.now();
  let saves = 0;
  for (let n = FIRST; n < FIRST + COUNT; n++) {
    const node = `node-${String(n).padStart(4, '0')}`;
    if (args.includes('--union')) {
      const replica = `${node}/sim/a1`;
      const start = 1_700_000_000_000;
      const out = await Checkpointer.open(store, kr, quiet, { run: RUN, node, collector: 'sim', replica, arch: 'x86_64', target: 'bench' }, { ...DEFAULT_CHECKPOINT_POLICY, now: () => start + checkpoints * CHECKPOINT_MS });
      await out.save({ behaviors: syntheticUnion(node, replica, checkpoints, start, CHECKPOINT_MS), counters: { events: checkpoints } }, { final: true });
      saves++;
      if ((n + 1 - FIRST) % 100 === 0) say(`${n + 1 - FIRST}/${COUNT} nodes, ${((Date.now() - started) / 1000).toFixed(0)} s`);
      continue;
    }
    let clock = 1_700_000_000_000;
    const policy = { ...DEFAULT_CHECKPOINT_POLICY, now: () => clock };
    let lease = -1;
    let out: Checkpointer | undefined;
    for (let seq = 0; seq < checkpoints; seq++) {
      clock += CHECKPOINT_MS;
      const l = Math.floor((seq * CHECKPOINT_MS) / LEASE_MS);
      const replica = `${node}/sim/a1`;
      if (l !== lease) {
        if (out) await out.save({ behaviors: {}, counters: { events: seq } }, { final: true });
        out = await Checkpointer.open(store, kr, quiet, { run: RUN, node, collector: 'sim', replica, arch: 'x86_64', target: 'bench' }, policy);
        lease = l;
      }
      await out!.save({ behaviors: syntheticBehaviors(node, replica, seq, clock), counters: { events: seq } });
      saves++;
    }
    await out!.save({ behaviors: {}, counters: { events: checkpoints } }, { final: true });
    if ((n + 1 - FIRST) % 10 === 0 || n + 1 === FIRST + COUNT) say(`${n + 1 - FIRST}/${COUNT} nodes, ${saves} checkpoints, ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
  const all = new FileStore(pathToFileURL(`${STORE}/objects`).href);
  const objects = (await Promise.all(Array.from({ length: COUNT }, (_, i) => all.list(keys.node(RUN, `node-${String(FIRST + i).padStart(4, '0')}`))))).flat().length;
  const perNodeDay = Object.fromEntries(Object.entries(store.counts).map(([k, v]) => [k, +(v / COUNT / DAYS).toFixed(1)]));
  process.stdout.write(JSON.stringify({ phase, nodes: COUNT, days: DAYS, checkpointsPerNode: checkpoints, checkpoints: saves, seconds: (Date.now() - started) / 1000, objects, objectsPerNode: objects / COUNT, requests: store.counts, perNodePerDay: perNodeDay }) + '\n');
} else if (phase === 'merge') {
  const kr = await keyring();
  const url = pathToFileURL(`${STORE}/objects`).href;
  let peak = 0;
  const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const started = Date.now();
  const config = { keyring: kr, policy: OPEN_POLICY };
  // As the workflow does above 32 nodes: branches of 32 nodes, then the final merge.
  const nodes = Array.from({ length: NODES }, (_, n) => `node-${String(n).padStart(4, '0')}`);
  const groups = NODES > 32 ? Array.from({ length: Math.ceil(NODES / 32) }, (_, g) => nodes.slice(g * 32, (g + 1) * 32)) : [];
  const branchesStarted = Date.now();
  const partial = partialActivity(config);
  await Promise.all(groups.map((group, g) => env.run(partial, { run: RUN, store: url, group: g, nodes: group })));
  const branchesMs = Date.now() - branchesStarted;
  const input: MergeInput = { run: RUN, store: url, target: 'bench', namespace: 'bench', name: 'week', window: { start: 0, end: DAYS * 86_400_000 }, nodes: [], ...(groups.length ? { partials: groups.length } : {}) };
  const result = (await env.run(mergeActivity(config), input)) as MergeResult;
  clearInterval(sample);
  peak = Math.max(peak, process.memoryUsage().rss);
  process.stdout.write(JSON.stringify({ phase, nodes: NODES, objectsRead: result.batches, branches: groups.length, branchesSeconds: branchesMs / 1000, mergeSeconds: (Date.now() - started) / 1000, peakRssMiB: Math.round(peak / 2 ** 20), counts: result.counts }) + '\n');
} else if (phase === 'before') {
  // The code before compaction: every checkpoint one object, the merge reading them one after another.
  const kr = await keyring();
  const count = Number(flag('checkpoints', '5000'));
  const store = new FileStore(pathToFileURL(await tempDir('before')).href);
  const run = 'bench/before/r1';
  for (let seq = 0; seq < count; seq++) {
    const at = 1_700_000_000_000 + seq * CHECKPOINT_MS;
    await putBatch(store, kr, { format: BATCH_FORMAT, run, node: 'node-0000', collector: 'sim', replica: 'node-0000/sim/a1', seq, arch: 'x86_64', target: 'bench', from: at, to: at, behaviors: syntheticBehaviors('node-0000', 'node-0000/sim/a1', seq, at), counters: {} });
  }
  const started = performance.now();
  const behaviors: BehaviorSet = {};
  const counters: Counters = {};
  for (const key of await store.list(keys.batches(run))) {
    const b = decodeBatch(kr, key, (await store.get(key))!);
    mergeInto(behaviors, b.behaviors);
    mergeCounters(counters, b.counters);
  }
  const msPerBatch = (performance.now() - started) / count;
  const weekBatches = 100 * 60_480;
  process.stdout.write(JSON.stringify({ phase, batchesRead: count, msPerBatch: +msPerBatch.toFixed(3), extrapolated100NodesWeekSeconds: Math.round((msPerBatch * weekBatches) / 1000), extrapolated1000NodesWeekSeconds: Math.round((msPerBatch * weekBatches * 10) / 1000) }) + '\n');
} else {
  process.stderr.write('usage: run.js write|merge|before [--nodes N] [--days D] [--store DIR] [--checkpoints N]\n');
  process.exitCode = 2;
}
