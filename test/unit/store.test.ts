import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { BATCH_FORMAT, type Batch } from '../../core/behavior.js';
import { decodeBatch, encodeBatch, keys, nextSeq, putBatch } from '../../store/batches.js';
import { FileStore } from '../../store/file-store.js';
import { openStore } from '../../store/open.js';
import { tempDir } from '../helpers.js';

function batch(seq: number, node = 'node-a'): Batch {
  return {
    format: BATCH_FORMAT, run: 'default/app/run-1', node, collector: 'bpf', replica: `${node}/bpf/a1`, seq, arch: 'x86_64', target: 'pid:1',
    from: 1000, to: 2000, behaviors: { syscalls: { read: { first: 1000, last: 2000, n: { [`${node}/bpf/a1`]: 3 } } } }, counters: {},
  };
}

test('file store: atomic put, get, sorted prefix listing, missing keys', async () => {
  const store = new FileStore(pathToFileURL(await tempDir('store')).href);
  await store.put('a/b/2', new Uint8Array([2]));
  await store.put('a/b/1', new Uint8Array([1]));
  await store.put('a/c', new Uint8Array([3]));
  await store.put('a/b/1', new Uint8Array([9]));
  assert.deepEqual(await store.list('a'), ['a/b/1', 'a/b/2', 'a/c']);
  assert.deepEqual(await store.list('a/b'), ['a/b/1', 'a/b/2']);
  assert.deepEqual(await store.list('nothing'), []);
  assert.deepEqual(await store.get('a/b/1'), Buffer.from([9]));
  assert.equal(await store.get('a/zzz'), undefined);
  assert.deepEqual((await readdir(store.root + '/a/b')).sort(), ['1', '2'], 'temp files left behind');
  await assert.rejects(store.put('../escape', new Uint8Array()), /invalid object key/);
});

test('batches: deterministic keys, retried checkpoints overwrite, sequence resumes after the last', async () => {
  const store = await openStore(pathToFileURL(await tempDir('store')).href);
  assert.equal(await nextSeq(store, 'default/app/run-1', 'node-a', 'bpf'), 0);
  const k0 = await putBatch(store, batch(0));
  assert.equal(k0, 'runs/default/app/run-1/batches/node-a/bpf/00000000.json.gz');
  await putBatch(store, batch(1));
  await putBatch(store, batch(1));
  await putBatch(store, batch(0, 'node/b c'));
  assert.deepEqual(await store.list(keys.batches('default/app/run-1')), [
    'runs/default/app/run-1/batches/node-a/bpf/00000000.json.gz',
    'runs/default/app/run-1/batches/node-a/bpf/00000001.json.gz',
    'runs/default/app/run-1/batches/node=2fb=20c/bpf/00000000.json.gz',
  ]);
  assert.equal(await nextSeq(store, 'default/app/run-1', 'node-a', 'bpf'), 2);
  assert.deepEqual(decodeBatch(k0, (await store.get(k0))!), batch(0));
});

test('a corrupt or foreign batch is refused with its key', () => {
  assert.throws(() => decodeBatch('k1', new Uint8Array([1, 2, 3])), /batch k1 is unreadable/);
  const foreign = encodeBatch({ ...batch(0), format: 'other' as typeof BATCH_FORMAT });
  assert.throws(() => decodeBatch('k2', foreign), /batch k2 has format other/);
});

test('unknown store URLs are refused clearly', async () => {
  await assert.rejects(openStore('ftp://host/x'), /unsupported object store URL "ftp:\/\/host\/x"/);
});
