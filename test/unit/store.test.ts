import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { BATCH_FORMAT } from '../../core/behavior.js';
import { decodeBatch, encodeBatch } from '../../store/batches.js';
import { FileStore } from '../../store/file-store.js';
import { openStore } from '../../store/open.js';
import { tempDir, testKeyring } from '../helpers.js';
import { batch, objectStoreContract } from '../store/contract.js';

objectStoreContract('file store', async () => openStore(pathToFileURL(await tempDir('store')).href));

test('file store: puts go through a temp file and leave none behind', async () => {
  const store = new FileStore(pathToFileURL(await tempDir('store')).href);
  await store.put('a/b/2', new Uint8Array([2]));
  await store.put('a/b/1', new Uint8Array([1]));
  await store.put('a/b/1', new Uint8Array([9]));
  assert.deepEqual((await readdir(store.root + '/a/b')).sort(), ['1', '2'], 'temp files left behind');
});

test('a corrupt or foreign batch is refused with its key', async () => {
  const keyring = await testKeyring();
  assert.throws(() => decodeBatch(keyring, 'k1', new Uint8Array([1, 2, 3])), /k1: not a sealed object/);
  const foreign = encodeBatch(keyring, 'k2', { ...batch(0), format: 'other' as typeof BATCH_FORMAT });
  assert.throws(() => decodeBatch(keyring, 'k2', foreign), /batch k2 is unreadable: format is "other"/);
});

test('unknown store URLs are refused clearly', async () => {
  await assert.rejects(openStore('ftp://host/x'), /unsupported object store URL "ftp:\/\/host\/x"/);
});
