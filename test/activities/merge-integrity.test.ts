import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { Context } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { Checkpointer } from '../../activities/checkpoint.js';
import { nameRefused, partialActivity } from '../../activities/partial.js';
import { parse } from 'yaml';
import { mergeActivity, type MergeInput, type MergeResult } from '../../activities/merge.js';
import { BATCH_FORMAT, type Batch } from '../../core/behavior.js';
import { OPEN_POLICY } from '../../core/policy.js';
import type { Report } from '../../core/outputs.js';
import { Keyring } from '../../lib/keyring.js';
import { encodeBatch, keys, putBatch } from '../../store/batches.js';
import { openStore } from '../../store/open.js';
import type { ObjectStore } from '../../store/store.js';
import { tempDir, testKeyring } from '../helpers.js';

const RUN = 'shop/web/r1';
const at = 1_700_000_000_000;

function batch(node: string, seq: number, behaviors: Batch['behaviors']): Batch {
  return { format: BATCH_FORMAT, run: RUN, node, collector: 'bpf', replica: `${node}/bpf/a1`, seq, arch: 'x86_64', target: 'k8s:shop/deployment/web', from: at, to: at + 1, behaviors, counters: { [`${node}/bpf/a1`]: { records: 1 } } };
}

const item = (node: string, sets?: Record<string, string[]>) => ({ first: at, last: at, n: { [`${node}/bpf/a1`]: 1 }, ...(sets ? { sets } : {}) });

/** What the collectors of two nodes really wrote. */
async function genuine(store: ObjectStore, keyring: Keyring): Promise<void> {
  await putBatch(store, keyring, batch('n1', 0, { executions: { '/usr/sbin/nginx': item('n1') }, files: { '/etc/nginx/nginx.conf': item('n1', { perms: ['read'] }) }, syscalls: { openat: item('n1') } }));
  await putBatch(store, keyring, batch('n2', 0, { executions: { '/usr/sbin/nginx': item('n2') }, syscalls: { accept4: item('n2') } }));
}

async function merge(keyring: Keyring, store: string): Promise<{ model: Record<string, unknown>; report: Report; apparmor: string }> {
  const input: MergeInput = { run: RUN, store, target: 'k8s:shop/deployment/web', namespace: 'shop', name: 'web', window: { start: at, end: at + 60_000 }, nodes: [{ node: 'n1', state: 'completed', at }, { node: 'n2', state: 'completed', at }] };
  const result = (await new MockActivityEnvironment().run(mergeActivity({ keyring, policy: OPEN_POLICY }), input)) as MergeResult;
  const s = await openStore(store);
  const read = async (name: string) => new TextDecoder().decode((await s.get(result.outputs[name]!))!);
  return { model: parse(await read('armorprofilemodel.yaml')), report: JSON.parse(await read('report.json')), apparmor: await read('apparmor.profile') };
}

test('the merge refuses and counts every batch that does not verify; the model equals the model without them', async () => {
  const keyring = await testKeyring();
  const cleanUrl = pathToFileURL(await tempDir('clean')).href;
  const attackedUrl = pathToFileURL(await tempDir('attacked')).href;
  await genuine(await openStore(cleanUrl), keyring);
  const attacked = await openStore(attackedUrl);
  await genuine(attacked, keyring);

  // Whoever can write to the bucket, without the key: a plain batch widening the profile,
  const widen = batch('n1', 1, { files: { '/etc/shadow': item('n1', { perms: ['read', 'write'] }) }, mounts: { '/|proc': item('n1', { ops: ['mount'] }) }, capabilities: { sys_admin: item('n1', { verdict: ['granted'] }) } });
  await attacked.put(keys.batch(RUN, 'n1', 'bpf', 1), gzipSync(JSON.stringify(widen)));
  // the same sealed with a key of their own,
  const theirs = await tempDir('their-keys');
  await writeFile(join(theirs, 'k1'), randomBytes(32).toString('base64'));
  await attacked.put(keys.batch(RUN, 'n1', 'bpf', 2), encodeBatch(Keyring.open(theirs), keys.batch(RUN, 'n1', 'bpf', 2), { ...widen, seq: 2 }));
  // a genuine batch of another run copied into this one (its seal names its own key),
  const elsewhere = keys.batch('other/app/r9', 'n3', 'bpf', 0);
  const copied = encodeBatch(keyring, elsewhere, { ...batch('n3', 0, { files: { '/root/.ssh/id_rsa': item('n3', { perms: ['read'] }) } }), run: 'other/app/r9' });
  await attacked.put(keys.batch(RUN, 'n3', 'bpf', 0), copied);
  // a genuine batch with one byte changed, and junk.
  const real = (await attacked.get(keys.batch(RUN, 'n2', 'bpf', 0)))!;
  const flipped = Buffer.from(real);
  flipped[flipped.length - 5] ^= 0x40;
  await attacked.put(keys.batch(RUN, 'n2', 'bpf', 1), flipped);
  await attacked.put(keys.batch(RUN, 'n2', 'bpf', 2), new TextEncoder().encode('not a batch'));

  const clean = await merge(keyring, cleanUrl);
  const after = await merge(keyring, attackedUrl);
  assert.deepEqual(after.report.integrity.refusedBy, { unsealed: 2, 'bad-mac': 3 });
  assert.equal(after.report.integrity.refused, 5);
  assert.equal(after.report.integrity.verified, 2);
  assert.deepEqual(after.report.integrity.refusedKeys, [
    keys.batch(RUN, 'n1', 'bpf', 1), keys.batch(RUN, 'n1', 'bpf', 2), keys.batch(RUN, 'n2', 'bpf', 1), keys.batch(RUN, 'n2', 'bpf', 2), keys.batch(RUN, 'n3', 'bpf', 0),
  ]);
  assert.deepEqual(after.model, clean.model, 'the model is the model without the refused objects');
  assert.equal(after.apparmor, clean.apparmor);
  assert.doesNotMatch(after.apparmor, /shadow|mount|sys_admin|id_rsa/);
  assert.match(after.apparmor, /\/etc\/nginx\/nginx\.conf/);
  const md = new TextDecoder().decode((await attacked.get(keys.output(RUN, 'report.md')))!);
  assert.match(md, /\*\*5 refused\*\* \(did not verify\)/);
  assert.match(md, /## Objects refused/);
  assert.equal(clean.report.integrity.refused, 0);
});

test('a merge whose run is not the named model\'s, or whose resource namespace the policy refuses, is refused', async () => {
  const keyring = await testKeyring();
  const store = pathToFileURL(await tempDir('store')).href;
  const base: MergeInput = { run: RUN, store, target: 'x', namespace: 'shop', name: 'web', window: { start: at, end: at + 1 }, nodes: [] };
  const env = new MockActivityEnvironment();
  await assert.rejects(env.run(mergeActivity({ keyring, policy: OPEN_POLICY }), { ...base, namespace: 'kube-system' }), /run shop\/web\/r1 is not a run of kube-system\/web/);
  const policy = { namespaces: ['blog'], excludeNamespaces: [], hostTargets: false };
  await assert.rejects(env.run(mergeActivity({ keyring, policy }), { ...base, writeResource: true }), /namespace shop may not be modelled/);
});

test('a resume position is read back only from a batch that verifies: a forged newer one is passed over', async () => {
  const keyring = await testKeyring();
  const store = await openStore(pathToFileURL(await tempDir('store')).href);
  const base = { run: RUN, node: 'n1', collector: 'audit', replica: 'n1/audit/a1', arch: 'x86_64', target: 't' };
  const position = { file: '/var/log/audit/audit.log', offset: 4242 };
  await putBatch(store, keyring, { ...batch('n1', 0, {}), ...base, position });
  const env = new MockActivityEnvironment();
  const read = () => env.run(async () => (await Checkpointer.open(store, keyring, Context.current(), base)).lastPosition());
  assert.deepEqual(await read(), position);
  // A forged later batch that would make the collector skip the log: not trusted, the genuine position stands.
  await store.put(keys.batch(RUN, 'n1', 'audit', 1), gzipSync(JSON.stringify({ ...batch('n1', 1, {}), ...base, position: { ...position, offset: 1e12 } })));
  assert.deepEqual(await read(), position);
});

test('the report names the first 20 refused objects in key order, whatever order the reads finished in', () => {
  const integrity = { verified: 0, refused: 0, refusedBy: {}, refusedKeys: [] as string[] };
  const keys = Array.from({ length: 25 }, (_, i) => `runs/r/batches/n${String(i).padStart(2, '0')}`);
  for (const k of [...keys].reverse()) nameRefused(integrity, k);
  assert.deepEqual(integrity.refusedKeys, keys.slice(0, 20));
});

test('a partial set is reused only by a retry of its own branch: one written for other nodes is made again', async () => {
  const keyring = await testKeyring();
  const url = pathToFileURL(await tempDir('store')).href;
  const store = await openStore(url);
  for (const node of ['n1', 'n2', 'n3']) await putBatch(store, keyring, batch(node, 0, { executions: { [`/opt/${node}`]: item(node) } }));
  const branch = (nodes: string[]) => new MockActivityEnvironment().run(partialActivity({ keyring }), { run: RUN, store: url, group: 0, nodes }) as Promise<{ objects: number }>;
  assert.equal((await branch(['n1'])).objects, 1, 'a narrower partial set, as another workflow could write');
  assert.equal((await branch(['n1', 'n2', 'n3'])).objects, 3, 'made again for its own nodes');
  await store.delete(keys.batch(RUN, 'n3', 'bpf', 0));
  assert.equal((await branch(['n1', 'n2', 'n3'])).objects, 3, 'a retry of the same branch reuses it');
});
