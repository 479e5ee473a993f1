import { gunzipSync, gzipSync } from 'node:zlib';
import { checkBatch, type Batch } from '../core/behavior.js';
import { seal, unseal, type SealingKeys } from './sealed.js';
import type { ObjectStore } from './store.js';

/**
 * Where a run's objects live. Batch keys are deterministic per run, node, collector and sequence
 * number, so a retried checkpoint overwrites its object instead of adding a duplicate.
 */
export const keys = {
  run: (run: string) => `runs/${safe(run)}`,
  batches: (run: string) => `runs/${safe(run)}/batches`,
  node: (run: string, node: string) => `runs/${safe(run)}/batches/${component(node)}`,
  nodeBatches: (run: string, node: string, collector: string) => `runs/${safe(run)}/batches/${component(node)}/${component(collector)}`,
  /** `writer`: the writing instance's tag, so that two instances of one collector (a retry beside a lost one) never write the same key. */
  batch: (run: string, node: string, collector: string, seq: number, writer?: string) =>
    `runs/${safe(run)}/batches/${component(node)}/${component(collector)}/${String(seq).padStart(8, '0')}${writer ? `-${writer}` : ''}.json.gz`,
  /** A collector's objects up to seq folded into one (activities/checkpoint.ts), in the batch format. */
  snapshot: (run: string, node: string, collector: string, seq: number, writer: string) =>
    `runs/${safe(run)}/batches/${component(node)}/${component(collector)}/${String(seq).padStart(8, '0')}-${writer}.snap.json.gz`,
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

/** Far above any real batch (a checkpoint interval's new behaviors): a gzip bomb stops here. */
const MAX_BATCH_BYTES = 256 << 20;

/** A batch as stored: gzipped JSON, sealed under its key (store/sealed.ts). */
export function encodeBatch(keyring: SealingKeys, key: string, batch: Batch): Uint8Array {
  return seal(keyring, key, gzipSync(JSON.stringify(batch)));
}

/** The batch stored under `key`, verified (IntegrityError when it does not) and checked field by field. */
export function decodeBatch(keyring: SealingKeys, key: string, body: Uint8Array): Batch {
  const zipped = unseal(keyring, key, body);
  try {
    return checkBatch(JSON.parse(gunzipSync(zipped, { maxOutputLength: MAX_BATCH_BYTES }).toString('utf8')));
  } catch (err) {
    throw new Error(`batch ${key} is unreadable: ${(err as Error).message}`);
  }
}

export async function putBatch(store: ObjectStore, keyring: SealingKeys, batch: Batch): Promise<string> {
  const key = keys.batch(batch.run, batch.node, batch.collector, batch.seq);
  await store.put(key, encodeBatch(keyring, key, batch));
  return key;
}

/** The sequence number of a batch or snapshot key (a snapshot's is the last it covers), and which it is. */
export function parseBatchKey(key: string): { seq: number; snapshot: boolean } | undefined {
  const m = /\/(\d{8,})(-[0-9a-f]{1,16})?\.(snap\.)?json\.gz$/.exec(key);
  return m ? { seq: Number(m[1]), snapshot: !!m[3] } : undefined;
}

/** The next sequence number for a collector: one past the highest batch or snapshot already stored. */
export async function nextSeq(store: ObjectStore, run: string, node: string, collector: string): Promise<number> {
  const seqs = (await store.list(keys.nodeBatches(run, node, collector))).map((k) => parseBatchKey(k)?.seq ?? -1);
  return Math.max(-1, ...seqs) + 1;
}
