import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AuditCollector } from '../../audit/collector.js';

const line = (serial: number, name: string) =>
  `type=AVC msg=audit(1700000000.000:${serial}): apparmor="ALLOWED" operation="open" profile="varmor-ns-web" name="${name}" requested_mask="r" fsuid=0 ouid=0\n`;

test('collector: starts at the end, yields deltas, resumes from its position', () => {
  const dir = mkdtempSync(join(tmpdir(), 'audit-collector-'));
  try {
    const log = join(dir, 'audit.log');
    writeFileSync(log, line(1, '/before'));
    const attribution = { profile: (p: string) => (p === 'varmor-ns-web' ? 'ns/web' : undefined) };
    const c = new AuditCollector({ sources: [join(dir, 'missing.log'), log], attribution, replica: 'n1/audit/0' });
    c.start();
    assert.equal(c.poll().deltas.size, 0, 'what the log held before the start is not modelled');
    appendFileSync(log, line(2, '/a') + line(3, '/b'));
    const r = c.poll();
    assert.deepEqual(Object.keys(r.deltas.get('ns/web')!.files!).sort(), ['/a', '/b']);
    const pos = c.position();
    c.stop();
    appendFileSync(log, line(4, '/c'));
    const again = new AuditCollector({ sources: [log], attribution, replica: 'n1/audit/0', ...(pos ? { position: pos } : {}) });
    again.start();
    assert.deepEqual(Object.keys(again.poll().deltas.get('ns/web')!.files!), ['/c']);
    again.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
