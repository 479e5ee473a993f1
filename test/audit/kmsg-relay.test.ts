import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { relayKmsg } from '../../audit/kmsg-relay.js';
import { KmsgReader } from '../../audit/tail.js';
import { until } from '../helpers.js';

const writable = (() => {
  try {
    appendFileSync('/dev/kmsg', '<7>varmor-modeler kmsg-relay test: start\n');
    return KmsgReader.available();
  } catch {
    return false;
  }
})();

test('the kmsg relay: the ring\'s records over a socket only its owner opens, lossless across a reconnect by sequence number', { skip: !writable && '/dev/kmsg is not writable and readable here (needs root)' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kmsg-relay-'));
  const socket = join(dir, 'kmsg.sock');
  const server = relayKmsg(socket);
  const tag = `varmor-relay-${process.pid}-${Date.now()}`;
  const readers: KmsgReader[] = [];
  try {
    await until('the socket', async () => {
      try {
        return (statSync(socket).mode & 0o777) === 0o600;
      } catch {
        return false;
      }
    }, 10_000);
    const reader = new KmsgReader(`unix:${socket}`);
    readers.push(reader);
    const lines: string[] = [];
    appendFileSync('/dev/kmsg', `<7>${tag} one\n`);
    await until('the first record through the relay', async () => (reader.poll((l) => lines.push(l)), lines.some((l) => l.endsWith(`${tag} one`))), 10_000);
    assert.match(lines.find((l) => l.includes(tag))!, /^\d+,\d+,\d+,[^;]*;/, 'the record as /dev/kmsg gives it');
    const position = reader.position();
    assert.equal(position.path, `unix:${socket}`);
    reader.close();

    // written while nobody reads; a new reader from the checkpoint gets it, and nothing before it again
    appendFileSync('/dev/kmsg', `<7>${tag} two\n`);
    const again = new KmsgReader(`unix:${socket}`, position);
    readers.push(again);
    const more: string[] = [];
    await until('the second record', async () => (again.poll((l) => more.push(l)), more.some((l) => l.endsWith(`${tag} two`))), 10_000);
    assert.ok(!more.some((l) => l.endsWith(`${tag} one`)), 'a record before the checkpoint came again');
  } finally {
    for (const r of readers) r.close();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
