import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseSources } from '../../audit/sources.js';
import { FileTailer, KmsgReader } from '../../audit/tail.js';

const dir = mkdtempSync(join(tmpdir(), 'audit-tail-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function drain(t: FileTailer): string[] {
  const out: string[] = [];
  while (t.poll((l) => out.push(l), 7) > 0);
  return out;
}

test('search order: the first existing source, a file that appears later, partial lines', () => {
  const missing = join(dir, 'none.log');
  const log = join(dir, 'order.log');
  const t = new FileTailer({ sources: parseSources(`${missing}|${log}`), bufferSize: 16 });
  assert.deepEqual(drain(t), []);
  writeFileSync(log, 'one\ntw');
  assert.deepEqual(drain(t), ['one'], 'the unfinished line waits for its newline');
  appendFileSync(log, 'o\nthree\n');
  assert.deepEqual(drain(t), ['two', 'three']);
  assert.equal(t.position()?.offset, 14);
  t.close();
});

test('rotation by rename: the rest of the old file, then the new one', () => {
  const log = join(dir, 'rot.log');
  writeFileSync(log, 'a1\na2\n');
  const t = new FileTailer({ sources: [log] });
  assert.deepEqual(drain(t), ['a1', 'a2']);
  appendFileSync(log, 'a3\n');
  renameSync(log, `${log}.1`);
  writeFileSync(log, 'b1\n');
  assert.deepEqual(drain(t), ['a3', 'b1']);
  assert.equal(t.counters.rotated, 1);
  t.close();
});

test('copytruncate and truncation start the file over', () => {
  const log = join(dir, 'trunc.log');
  writeFileSync(log, 'x1\nx2\n');
  const t = new FileTailer({ sources: [log] });
  assert.deepEqual(drain(t), ['x1', 'x2']);
  truncateSync(log, 0);
  appendFileSync(log, 'y1\n');
  assert.deepEqual(drain(t), ['y1']);
  assert.equal(t.counters.truncated, 1);
  t.close();
});

test('copytruncate that regrows past our offset, between polls or while we were down, starts the file over', () => {
  const log = join(dir, 'regrow.log');
  const line = (tag: string, i: number) => `type=AVC msg=audit(1700000000.${String(i).padStart(3, '0')}:${i}): ${tag} fsuid=0 ouid=0`;
  const many = (tag: string, n: number) => Array.from({ length: n }, (_, i) => line(tag, i)).join('\n') + '\n';
  writeFileSync(log, many('old', 3));
  const t = new FileTailer({ sources: [log] });
  assert.equal(drain(t).length, 3);
  // Same inode, and already longer than what we read when we look again.
  truncateSync(log, 0);
  appendFileSync(log, many('new', 10));
  const lines = drain(t);
  assert.equal(lines.length, 10);
  assert.ok(lines.every((l) => l.includes(' new ')));
  assert.equal(t.counters.truncated, 1);
  // Appending alone is no truncation.
  appendFileSync(log, many('more', 2));
  assert.equal(drain(t).length, 2);
  assert.equal(t.counters.truncated, 1);
  const pos = t.position()!;
  t.close();
  // While no tailer ran: rewritten and regrown, or only appended to.
  truncateSync(log, 0);
  appendFileSync(log, many('again', 20));
  const after = new FileTailer({ sources: [log], position: pos });
  assert.deepEqual(drain(after).length, 20);
  assert.equal(after.counters.truncated, 1);
  const pos2 = after.position()!;
  after.close();
  appendFileSync(log, many('tail', 1));
  const resumed = new FileTailer({ sources: [log], position: pos2 });
  assert.deepEqual(drain(resumed), [line('tail', 0)]);
  assert.equal(resumed.counters.truncated, undefined);
  resumed.close();
});

test('resume from a checkpoint: nothing repeated, nothing lost, even across a rotation', () => {
  const log = join(dir, 'resume.log');
  writeFileSync(log, 'r1\nr2\nr3');
  const t1 = new FileTailer({ sources: [log] });
  assert.deepEqual(drain(t1), ['r1', 'r2']);
  const pos = t1.position()!;
  t1.close();
  appendFileSync(log, '\nr4\n');
  const t2 = new FileTailer({ sources: [log], position: pos });
  assert.deepEqual(drain(t2), ['r3', 'r4']);
  const pos2 = t2.position()!;
  t2.close();
  appendFileSync(log, 'r5\n');
  renameSync(log, `${log}.1`);
  writeFileSync(log, 's1\n');
  const t3 = new FileTailer({ sources: [log], position: pos2 });
  assert.deepEqual(drain(t3), ['r5', 's1']);
  t3.close();
});

test("start 'end' skips what the file held before the collector started", () => {
  const log = join(dir, 'end.log');
  writeFileSync(log, 'old\n');
  const t = new FileTailer({ sources: [log], start: 'end' });
  assert.deepEqual(drain(t), []);
  appendFileSync(log, 'new\n');
  assert.deepEqual(drain(t), ['new']);
  t.close();
});

test('an overlong line is skipped whole, the next one survives', () => {
  const log = join(dir, 'long.log');
  writeFileSync(log, `ok1\n${'z'.repeat(100_000)}\nok2\n`);
  const t = new FileTailer({ sources: [log] });
  assert.deepEqual(drain(t), ['ok1', 'ok2']);
  assert.equal(t.counters.overlong_line_skipped, 1);
  t.close();
});

test('/dev/kmsg: non-blocking reads from now on (what the ring held is the past), resumable by sequence number', { skip: !KmsgReader.available() && '/dev/kmsg is not readable here' }, () => {
  appendFileSync('/dev/kmsg', '<7>varmor-modeler tail test: before\n');
  // the reader takes a second's margin for the records' clock
  const wait = Date.now() + 1100;
  while (Date.now() < wait);
  const k = new KmsgReader();
  appendFileSync('/dev/kmsg', '<7>varmor-modeler tail test: after\n');
  const first: string[] = [];
  k.poll((l) => first.push(l));
  assert.ok(first.some((l) => l.endsWith('tail test: after')), first.join('\n'));
  assert.ok(!first.some((l) => l.endsWith('tail test: before')), 'a record from before the reader started');
  assert.match(first[0]!, /^\d+,\d+,\d+,/);
  const pos = k.position();
  k.close();
  const again = new KmsgReader('/dev/kmsg', pos);
  const seen: string[] = [];
  again.poll((l) => seen.push(l));
  again.close();
  assert.ok(!seen.some((l) => first.includes(l)), 'records before the checkpoint are not handed out again');
});
