import { gunzipSync, gzipSync } from 'node:zlib';
import { BATCH_FORMAT, type Batch } from '../core/behavior.js';
import type { ObjectStore } from './store.js';

/**
 * Where a run's objects live. Batch keys are deterministic per run, node, collector and sequence
 * number, so a retried checkpoint overwrites its object instead of adding a duplicate.
 */
export const keys = {
  run: (run: string) => `runs/${safe(run)}`,
  batches: (run: string) => `runs/${safe(run)}/batches`,
  nodeBatches: (run: string, node: string, collector: string) => `runs/${safe(run)}/batches/${component(node)}/${component(collector)}`,
  batch: (run: string, node: string, collector: string, seq: number) =>
    `runs/${safe(run)}/batches/${component(node)}/${component(collector)}/${String(seq).padStart(8, '0')}.json.gz`,
  outputs: (run: string) => `runs/${safe(run)}/outputs`,
  output: (run: string, name: string) => `runs/${safe(run)}/outputs/${component(name)}`,
  modelVersions: (namespace: string, name: string) => `models/${component(namespace)}/${component(name)}`,
  modelVersion: (namespace: string, name: string, version: string, file: string) =>
    `models/${component(namespace)}/${component(name)}/${component(version)}/${component(file)}`,
};

/** A run id is namespace/name/run: each part becomes one key component. */
function safe(run: string): string {
  return run.split('/').map(component).join('/');
}

/** One key component: anything outside [A-Za-z0-9._-] is encoded as `=XX`, leading dots too. */
function component(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, (c) => [...Buffer.from(c)].map((b) => '=' + b.toString(16).padStart(2, '0')).join(''))
    .replace(/^\.+/, (dots) => '=2e'.repeat(dots.length));
}

export function encodeBatch(batch: Batch): Uint8Array {
  return gzipSync(JSON.stringify(batch));
}

export function decodeBatch(key: string, body: Uint8Array): Batch {
  let batch: Batch;
  try {
    batch = JSON.parse(gunzipSync(body).toString('utf8')) as Batch;
  } catch (err) {
    throw new Error(`batch ${key} is unreadable: ${(err as Error).message}`);
  }
  if (batch.format !== BATCH_FORMAT) throw new Error(`batch ${key} has format ${String(batch.format)}, expected ${BATCH_FORMAT}`);
  return batch;
}

export async function putBatch(store: ObjectStore, batch: Batch): Promise<string> {
  const key = keys.batch(batch.run, batch.node, batch.collector, batch.seq);
  await store.put(key, encodeBatch(batch));
  return key;
}

/** The next sequence number for a collector: one past the highest batch already stored. */
export async function nextSeq(store: ObjectStore, run: string, node: string, collector: string): Promise<number> {
  const existing = await store.list(keys.nodeBatches(run, node, collector));
  const last = existing.map((k) => Number(k.slice(k.lastIndexOf('/') + 1).split('.')[0])).filter(Number.isFinite);
  return last.length ? Math.max(...last) + 1 : 0;
}
