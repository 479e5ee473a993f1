// Merge at scale (issue 4): 500 node snapshots holding 50,000 distinct behaviors in total, streamed
// from a file object store one batch at a time, merged, then turned into every output.
// Run: npm run build && node --expose-gc dist/bench/merge.bench.js
import { pathToFileURL } from 'node:url';
import { BATCH_FORMAT, mergeCounters, mergeInto, type Batch, type BehaviorSet, type Counters } from '../core/behavior.js';
import { buildOutputs } from '../core/outputs.js';
import { decodeBatch, keys, putBatch } from '../store/batches.js';
import { FileStore } from '../store/file-store.js';
import { tempDir, testKeyring } from '../test/helpers.js';

const NODES = 500;
const DISTINCT = 50_000;
const PER_NODE = 400; // each snapshot sees 400 behaviors; overlap makes 50,000 distinct in all
const run = 'bench/merge/r1';

function snapshot(node: number): Batch {
  const replica = `node-${node}/bpf/a1`;
  const behaviors: BehaviorSet = { files: {}, syscalls: {}, executions: {} };
  for (let i = 0; i < PER_NODE; i++) {
    const id = (node * 97 + i * 131) % DISTINCT;
    const at = 1_700_000_000_000 + id * 10;
    const item = { first: at, last: at + node, n: { [replica]: 1 + (i % 7) }, sets: { perms: [i % 3 ? 'read' : 'write'] } };
    if (id % 50 === 0) behaviors.executions![`/usr/bin/tool-${id}`] = { first: at, last: at, n: { [replica]: 1 } };
    else if (id % 10 === 0) behaviors.syscalls![`syscall_${id}`] = { first: at, last: at, n: { [replica]: 5 } };
    else behaviors.files![`/srv/app/data/dir-${id % 300}/file-${id}.dat`] = item;
  }
  return { format: BATCH_FORMAT, run, node: `node-${node}`, collector: 'bpf', replica, seq: 0, arch: 'x86_64', target: 'bench', from: 0, to: 1, behaviors, counters: { [replica]: { records: PER_NODE } } };
}

const store = new FileStore(pathToFileURL(await tempDir('merge-bench')).href);
const keyring = await testKeyring();
for (let n = 0; n < NODES; n++) await putBatch(store, keyring, snapshot(n));

globalThis.gc?.();
const rss0 = process.memoryUsage().rss;
let peak = rss0;
const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
const t0 = performance.now();
const behaviors: BehaviorSet = {};
const counters: Counters = {};
for (const key of await store.list(keys.batches(run))) {
  const batch = decodeBatch(keyring, key, (await store.get(key))!);
  mergeInto(behaviors, batch.behaviors);
  mergeCounters(counters, batch.counters);
}
const t1 = performance.now();
const distinct = Object.values(behaviors).reduce((n, items) => n + Object.keys(items ?? {}).length, 0);
const outputs = buildOutputs({ namespace: 'bench', name: 'merge', target: 'bench', behaviors, counters, arches: ['x86_64'], window: { start: 0, end: 3600_000 }, nodes: [], batches: NODES, timings: {} });
const t2 = performance.now();
clearInterval(sample);
peak = Math.max(peak, process.memoryUsage().rss);
const mib = (b: number) => (b / 1048576).toFixed(0);
console.log(`| ${NODES} snapshots, ${distinct.toLocaleString('en')} distinct behaviors | stream+merge ${((t1 - t0) / 1000).toFixed(2)} s | all outputs ${((t2 - t1) / 1000).toFixed(2)} s | total ${((t2 - t0) / 1000).toFixed(2)} s | peak RSS ${mib(peak)} MiB (start ${mib(rss0)} MiB) | ${outputs.files.length} files |`);
if (distinct !== DISTINCT) throw new Error(`expected ${DISTINCT} distinct behaviors, got ${distinct}`);
