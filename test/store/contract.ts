import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BATCH_FORMAT, type Batch } from '../../core/behavior.js';
import { decodeBatch, keys, nextSeq, putBatch } from '../../store/batches.js';
import type { ObjectStore } from '../../store/store.js';
import { testKeyring } from '../helpers.js';

export function batch(seq: number, node = 'node-a'): Batch {
  return {
    format: BATCH_FORMAT, run: 'default/app/run-1', node, collector: 'bpf', replica: `${node}/bpf/a1`, seq, arch: 'x86_64', target: 'pid:1',
    from: 1000, to: 2000, behaviors: { syscalls: { read: { first: 1000, last: 2000, n: { [`${node}/bpf/a1`]: 3 } } } }, counters: {},
  };
}

/**
 * The ObjectStore contract, registered as tests for one implementation. `fresh` returns a new,
 * empty store each call (a new directory, a new prefix in a bucket); `skip` gives the reason when the
 * implementation cannot run here.
 */
export function objectStoreContract(label: string, fresh: () => Promise<ObjectStore>, opts: { skip?: string | false } = {}): void {
  const { skip = false } = opts;
  test(`${label}: put, get, overwrite, missing keys, binary bodies`, { skip }, async () => {
    const store = await fresh();
    await store.put('a/b/1', new Uint8Array([1]));
    assert.deepEqual(Buffer.from((await store.get('a/b/1'))!), Buffer.from([1]));
    await store.put('a/b/1', new Uint8Array([9, 8]));
    assert.deepEqual(Buffer.from((await store.get('a/b/1'))!), Buffer.from([9, 8]), 'a second put replaces the object');
    assert.equal(await store.get('a/zzz'), undefined);
    assert.equal(await store.get('nothing/at/all'), undefined);
    const all = new Uint8Array(256).map((_, i) => i);
    await store.put('bin', all);
    assert.deepEqual(Buffer.from((await store.get('bin'))!), Buffer.from(all));
    await store.put('empty', new Uint8Array());
    assert.equal((await store.get('empty'))?.length, 0);
  });

  test(`${label}: list is recursive, sorted and bounded by the prefix`, { skip }, async () => {
    const store = await fresh();
    for (const k of ['a/b/2', 'a/b/1', 'a/c', 'a/bc/1', 'a/b/d/3', 'z']) await store.put(k, new Uint8Array([1]));
    assert.deepEqual(await store.list('a'), ['a/b/1', 'a/b/2', 'a/b/d/3', 'a/bc/1', 'a/c']);
    assert.deepEqual(await store.list('a/b'), ['a/b/1', 'a/b/2', 'a/b/d/3'], '"a/bc" is not under "a/b"');
    assert.deepEqual(await store.list('a/b/'), ['a/b/1', 'a/b/2', 'a/b/d/3']);
    assert.deepEqual(await store.list(''), ['a/b/1', 'a/b/2', 'a/b/d/3', 'a/bc/1', 'a/c', 'z']);
    assert.deepEqual(await store.list('nothing'), []);
  });

  test(`${label}: delete removes an object, and a missing one is no error`, { skip }, async () => {
    const store = await fresh();
    await store.put('d/a', new Uint8Array([1]));
    await store.put('d/b', new Uint8Array([2]));
    await store.delete('d/a');
    assert.equal(await store.get('d/a'), undefined);
    assert.deepEqual(await store.list('d'), ['d/b']);
    await store.delete('d/a');
    await store.delete('never/there');
    await assert.rejects(store.delete('../escape'), /invalid object key/);
  });

  test(`${label}: two stores do not see each other's objects`, { skip }, async () => {
    const [one, two] = [await fresh(), await fresh()];
    await one.put('k/1', new Uint8Array([1]));
    await two.put('k/2', new Uint8Array([2]));
    assert.deepEqual(await one.list('k'), ['k/1']);
    assert.deepEqual(await two.list(''), ['k/2']);
    assert.equal(await two.get('k/1'), undefined);
  });

  test(`${label}: invalid keys are refused before any I/O`, { skip }, async () => {
    const store = await fresh();
    for (const bad of ['../escape', '/abs', 'a//b', 'a/./b', 'a b', '']) {
      await assert.rejects(store.put(bad, new Uint8Array()), /invalid object key/, bad);
      await assert.rejects(store.get(bad), /invalid object key/, bad);
    }
  });

  test(`${label}: batches: deterministic keys, retried checkpoints overwrite, sequence resumes after the last`, { skip }, async () => {
    const store = await fresh();
    assert.equal(await nextSeq(store, 'default/app/run-1', 'node-a', 'bpf'), 0);
    const keyring = await testKeyring();
    const k0 = await putBatch(store, keyring, batch(0));
    assert.equal(k0, 'runs/default/app/run-1/batches/node-a/bpf/00000000.json.gz');
    await putBatch(store, keyring, batch(1));
    await putBatch(store, keyring, batch(1));
    await putBatch(store, keyring, batch(0, 'node/b c'));
    assert.deepEqual(await store.list(keys.batches('default/app/run-1')), [
      'runs/default/app/run-1/batches/node-a/bpf/00000000.json.gz',
      'runs/default/app/run-1/batches/node-a/bpf/00000001.json.gz',
      'runs/default/app/run-1/batches/node=2fb=20c/bpf/00000000.json.gz',
    ]);
    assert.equal(await nextSeq(store, 'default/app/run-1', 'node-a', 'bpf'), 2);
    assert.equal(await nextSeq(store, 'default/app/run-1', 'node/b c', 'bpf'), 1);
    // A snapshot's number is the last it covers; a writer's tag does not change the order.
    await store.put(keys.snapshot('default/app/run-1', 'node-a', 'bpf', 6, 'ab12'), new Uint8Array([1]));
    assert.equal(await nextSeq(store, 'default/app/run-1', 'node-a', 'bpf'), 7);
    assert.deepEqual(decodeBatch(keyring, k0, (await store.get(k0))!), batch(0));
  });
}
