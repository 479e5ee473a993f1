import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { TracerProcess } from '../../../bpf/driver/loader.js';
import { checkRecord } from '../../../bpf/driver/records.js';

const file = { t: 'file', target: 3, pid: 7, ts: 1700000000000, id: '6:00000000000000ab', path_hex: '2f6574632f706173737764', perms: ['read'] };

test('checkRecord: every line is of a kind records.json defines, checked field by field', () => {
  assert.equal(checkRecord(file), undefined);
  assert.equal(checkRecord({ ...file, session: 'exec', unresolved: true }), undefined);
  assert.match(checkRecord({ ...file, perms: undefined }) ?? '', /file: field perms is missing/);
  assert.match(checkRecord({ ...file, path_hex: '2f6' }) ?? '', /field path_hex is not hex/);
  assert.match(checkRecord({ ...file, pid: -1 }) ?? '', /field pid is not u32/);
  assert.match(checkRecord({ ...file, session: 'workload' }) ?? '', /field session is not session/);
  assert.match(checkRecord({ ...file, target: 128 }) ?? '', /target 128 is not 0\.\.127/);
  assert.match(checkRecord({ ...file, mode: 'x' }) ?? '', /file: unknown field mode/);
  assert.match(checkRecord({ t: 'arg', target: 1, pid: 1, ts: 1, id: '17:0000000000000001', nr: 16, value: '21505', value2: '0x0', ret: 0 }) ?? '', /field value is not hexnum/);
  assert.match(checkRecord({ t: 42 }) ?? '', /no record type/);
  // the replies are records of their own kinds, with exactly their fields
  assert.equal(checkRecord({ t: 'launched', target: 1, pid: 5 }), undefined);
  assert.match(checkRecord({ t: 'launched', target: 1 }) ?? '', /launched: field pid is missing/);
  assert.match(checkRecord({ t: 'ready', version: 1, noaudit: true, adopted: false, generation: 'ab', later: 1 }) ?? '', /ready: unknown field later/);
  assert.match(checkRecord({ t: 'launched-twice', target: 1 }) ?? '', /unknown record type "launched-twice"/);
  // a target after t, none, or one when there is one
  assert.match(checkRecord({ t: 'error', target: 1, msg: 'x' }) ?? '', /error: unknown field target/);
  assert.equal(checkRecord({ t: 'flushed', token: 'a' }), undefined);
  assert.equal(checkRecord({ t: 'flushed', target: 2, token: 'a' }), undefined);
  assert.match(checkRecord({ t: 'flushed', target: 'x', token: 'a' }) ?? '', /flushed: target "x" is not 0\.\.127/);
  assert.equal(checkRecord({ t: 'attached', key: 'k', target: 3, adopted: false, root: 0, pids: 0 }), undefined);
  // lists of objects, strings and counts
  const ready = { t: 'ready', version: 1, noaudit: true, adopted: true, generation: 'ab' };
  assert.equal(checkRecord({ ...ready, targets: [{ target: 1, pids: 2, root: 3, key: 'k' }, { target: 2, pids: 0, root: 0 }] }), undefined);
  assert.match(checkRecord({ ...ready, targets: [{ target: 1, pids: 2 }] }) ?? '', /field targets is not list:pinned/);
  assert.match(checkRecord({ ...ready, targets: [{ target: 1, pids: 2, root: 3, other: 1 }] }) ?? '', /field targets is not list:pinned/);
  assert.equal(checkRecord({ t: 'tracked', target: 1, pids: 2, sessions: 0, pod: 'u', cgroup: '/c', cgroup_id: 5, containers: ['a', 'b'] }), undefined);
  assert.match(checkRecord({ t: 'tracked', target: 1, pids: 2, containers: [1] }) ?? '', /field containers is not strs/);
  assert.equal(checkRecord({ t: 'tallies', target: 1, session: 'exec', counts: { '6:00000000000000ab': 2 } }), undefined);
  assert.match(checkRecord({ t: 'counts', target: 1, syscalls: { 1: 'x' } }) ?? '', /field syscalls is not numbers/);
});

test('checkRecord: names an object inherits are no kinds and no fields', () => {
  for (const t of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) assert.match(checkRecord({ t }) ?? '', /unknown record type/, t);
  assert.match(checkRecord({ ...file, constructor: 1 }) ?? '', /file: unknown field constructor/);
  assert.match(checkRecord(JSON.parse('{"t":"launched","target":1,"pid":5,"__proto__":{"x":1}}') as { t: unknown }) ?? '', /launched: unknown field __proto__/);
});

test('the driver drops lines that are not valid records and counts them', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'records-'));
  const bin = join(dir, 'fake-tracer');
  const lines = [
    '{"t":"ready","version":1,"noaudit":true}',
    'not json',
    '[1]',
    JSON.stringify({ ...file, perms: 'read' }),
    '{"t":"no-such-kind","target":3}',
    '{"t":"launched","target":3,"pid":"7"}',
    JSON.stringify(file),
  ];
  await writeFile(bin, `#!/bin/sh\nprintf '%s\\n' ${lines.map((l) => `'${l}'`).join(' ')}\nexec cat >/dev/null\n`);
  await chmod(bin, 0o755);
  const records: unknown[] = [];
  const tracer = await TracerProcess.start(bin, { onRecord: (r) => records.push(r) });
  try {
    for (let i = 0; i < 100 && records.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(tracer.malformed, 5);
    assert.deepEqual(records, [{ t: 'ready', version: 1, noaudit: true }, file]);
  } finally {
    await tracer.quit();
    await rm(dir, { recursive: true, force: true });
  }
});
