import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { TracerProcess } from '../../../bpf/driver/loader.js';
import { checkRecord } from '../../../bpf/driver/records.js';

const file = { t: 'file', target: 3, pid: 7, ts: 1700000000000, id: '6:00000000000000ab', path_hex: '2f6574632f706173737764', perms: ['read'] };

test('checkRecord: the kinds records.json defines are checked field by field; replies pass', () => {
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
  // stats and ready may gain fields; command replies are not described here
  assert.equal(checkRecord({ t: 'ready', version: 1, noaudit: true, adopted: false, generation: 'ab', later: 1 }), undefined);
  assert.equal(checkRecord({ t: 'launched', target: 1, pid: 5 }), undefined);
});

test('the driver drops lines that are not valid records and counts them', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'records-'));
  const bin = join(dir, 'fake-tracer');
  const lines = ['{"t":"ready","version":1,"noaudit":true}', 'not json', '[1]', JSON.stringify({ ...file, perms: 'read' }), JSON.stringify(file)];
  await writeFile(bin, `#!/bin/sh\nprintf '%s\\n' ${lines.map((l) => `'${l}'`).join(' ')}\nexec cat >/dev/null\n`);
  await chmod(bin, 0o755);
  const records: unknown[] = [];
  const tracer = await TracerProcess.start(bin, { onRecord: (r) => records.push(r) });
  try {
    for (let i = 0; i < 100 && records.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(tracer.malformed, 3);
    assert.deepEqual(records, [{ t: 'ready', version: 1, noaudit: true }, file]);
  } finally {
    await tracer.quit();
    await rm(dir, { recursive: true, force: true });
  }
});
