import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Context } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { Checkpointer, type Progress } from '../../activities/checkpoint.js';
import { decodeBatch, keys } from '../../store/batches.js';
import { FileStore } from '../../store/file-store.js';
import { tempDir, testKeyring } from '../helpers.js';

test('the object store unavailable: the checkpoint retries with backoff, heartbeats say so, and the batch lands once it is back', { timeout: 60_000 }, async () => {
  const root = join(await tempDir('outage'), 'store');
  const store = new FileStore(pathToFileURL(root).href);
  const env = new MockActivityEnvironment();
  const beats: Progress[] = [];
  env.on('heartbeat', (d: Progress) => beats.push(d));
  const keyring = await testKeyring();
  const saving = env.run(async () => {
    const out = await Checkpointer.open(store, keyring, Context.current(), { run: 'ns/app/r1', node: 'n1', collector: 'bpf', replica: 'n1/bpf/g1', arch: 'x86_64', target: 'pid:1' });
    await writeFile(root, 'not a directory'); // every put fails (ENOTDIR) while this file stands in the store's place
    await out.save({ behaviors: { syscalls: { read: { first: 1, last: 2, n: { 'n1/bpf/g1': 7 } } } }, counters: { records: 1 } });
    return out.written;
  });
  // Let it fail a few times, then bring the store back.
  const deadline = Date.now() + 20_000;
  while (beats.filter((b) => b.storeError).length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.ok(beats.filter((b) => b.storeError).length >= 3, `expected failing checkpoints to be reported, got ${JSON.stringify(beats)}`);
  assert.match(beats.find((b) => b.storeError)!.storeError!, /ENOTDIR|EEXIST|not a directory/i);
  await rm(root);
  await mkdir(root);
  assert.equal(await saving, 1);
  const stored = await store.list(keys.batches('ns/app/r1'));
  assert.equal(stored.length, 1);
  assert.match(stored[0]!, /^runs\/ns\/app\/r1\/batches\/n1\/bpf\/00000000-[0-9a-f]{8}\.json\.gz$/);
  assert.deepEqual(decodeBatch(keyring, stored[0]!, (await store.get(stored[0]!))!).behaviors.syscalls?.read?.n, { 'n1/bpf/g1': 7 });
});
