import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pathFromBytes, pathFromHex, pathToBytes } from '../../core/paths.js';

test('ordinary paths are unchanged', () => {
  assert.equal(pathFromHex(Buffer.from('/usr/bin/ls').toString('hex')), '/usr/bin/ls');
  assert.equal(pathFromBytes(Buffer.from('/tmp/ü €/"quoted"\nline')), '/tmp/ü €/"quoted"\nline');
});

test('non-UTF-8 bytes and backslashes are escaped losslessly', () => {
  const raw = Buffer.from([0x2f, 0x61, 0xff, 0x5c, 0xc3, 0x28, 0xe2, 0x82, 0xac, 0xed, 0xa0, 0x80]);
  const path = pathFromBytes(raw);
  assert.equal(path, '/a\\xff\\\\\\xc3(€\\xed\\xa0\\x80');
  assert.deepEqual(Buffer.from(pathToBytes(path)), raw);
});

test('every byte string round-trips', () => {
  for (let seed = 0; seed < 2000; seed++) {
    const bytes = Uint8Array.from({ length: 1 + (seed % 40) }, (_, i) => (seed * 131 + i * 197 + (i * i * seed)) & 0xff);
    assert.deepEqual(pathToBytes(pathFromBytes(bytes)), bytes);
  }
});
