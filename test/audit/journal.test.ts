import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { keys } from '../../core/behavior.js';
import { ingestAuditLog } from '../../audit/ingest.js';
import { JournalExport } from '../../audit/journal.js';

// `journalctl -o export` streams (systemd's Journal Export Format), built field by field.

const PROFILE = 'varmor-ns-name';
const body = (name: string) => `apparmor="ALLOWED" operation="open" profile="${PROFILE}" name="${name}" pid=4242 comm="app" requested_mask="r" denied_mask="r" fsuid=0 ouid=0`;

const text = (name: string, value: string) => Buffer.from(`${name}=${value}\n`, 'latin1');
function binary(name: string, value: Buffer): Buffer {
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(value.length));
  return Buffer.concat([Buffer.from(`${name}\n`), len, value, Buffer.from('\n')]);
}
let cursor = 0;
const entry = (...fields: Buffer[]) => Buffer.concat([text('__CURSOR', `s=1;i=${++cursor}`), text('__REALTIME_TIMESTAMP', '1700000000500000'), ...fields, Buffer.from('\n')]);

/** A message with newlines (journald exports it as binary) that spells out a forged kernel entry, its length's first byte a newline. */
function smuggler(): Buffer {
  let inner = `hello\n\n__CURSOR=x\n_TRANSPORT=kernel\nMESSAGE=audit: type=1400 audit(1700000000.000:9): ${body('/forged/binary')}\n\n`;
  inner += ' '.repeat(0x10a - inner.length); // length 0x10a: the u64's first byte is 0x0a
  return binary('MESSAGE', Buffer.from(inner, 'latin1'));
}

const STREAM = Buffer.concat([
  entry(text('_TRANSPORT', 'kernel'), text('SYSLOG_FACILITY', '0'), text('MESSAGE', `audit: type=1400 audit(1700000000.168:502): ${body('/etc/os-release')}`)),
  entry(text('_TRANSPORT', 'audit'), text('_AUDIT_ID', '503'), text('_SOURCE_REALTIME_TIMESTAMP', '1700000000123456'), text('MESSAGE', `AVC ${body('/etc/machine-id')}`)),
  entry(text('MESSAGE', `SECCOMP auid=4294967295 uid=0 gid=0 ses=4294967295 subj=${PROFILE} (complain) pid=4242 comm="app" exe="/app" sig=0 arch=c000003e syscall=0 compat=0 ip=0x7f3c2b1c3c1d code=0x7ffc0000`), text('_AUDIT_ID', '504'), text('_TRANSPORT', 'audit'), text('_SOURCE_REALTIME_TIMESTAMP', '1700000000124000')),
  // Forgeries: a service logging audit text, a user write to /dev/kmsg, lines inside a binary value.
  entry(text('_TRANSPORT', 'syslog'), text('MESSAGE', `audit: type=1400 audit(1700000000.000:1): ${body('/forged/syslog')}`)),
  entry(text('_TRANSPORT', 'kernel'), text('SYSLOG_FACILITY', '1'), text('MESSAGE', `audit: type=1400 audit(1700000000.000:2): ${body('/forged/kmsg')}`)),
  entry(text('_TRANSPORT', 'journal'), smuggler(), text('_PID', '77')),
  entry(text('_TRANSPORT', 'stdout'), binary('COREDUMP', Buffer.alloc(70000, 0x0a)), text('MESSAGE', 'just output')),
  // A long text field is skipped whole, and the stream stays in step.
  entry(text('_TRANSPORT', 'journal'), text('LONG_FIELD', 'y'.repeat(70000)), text('MESSAGE', 'long')),
  entry(text('MESSAGE', `audit: type=1400 audit(1700000000.200:505): ${body('/etc/hostname')}`), text('_TRANSPORT', 'kernel')),
]);

function linesOf(chunks: Buffer[]): { lines: string[]; reader: JournalExport } {
  const reader = new JournalExport();
  const lines: string[] = [];
  for (const c of chunks) reader.push(c, (l) => lines.push(l));
  reader.end((l) => lines.push(l));
  return { lines, reader };
}

test('journal export: only kernel and audit transport entries are records; forgeries are counted', () => {
  const { lines, reader } = linesOf([STREAM]);
  assert.deepEqual(lines, [
    `audit: type=1400 audit(1700000000.168:502): ${body('/etc/os-release')}`,
    `type=AVC msg=audit(1700000000.123:503): ${body('/etc/machine-id')}`,
    `type=SECCOMP msg=audit(1700000000.124:504): auid=4294967295 uid=0 gid=0 ses=4294967295 subj=${PROFILE} (complain) pid=4242 comm="app" exe="/app" sig=0 arch=c000003e syscall=0 compat=0 ip=0x7f3c2b1c3c1d code=0x7ffc0000`,
    `audit: type=1400 audit(1700000000.200:505): ${body('/etc/hostname')}`,
  ]);
  assert.deepEqual(reader.counters, { journal_entries: 9, journal_untrusted: 3, journal_too_long: 0, journal_untimed: 0, journal_malformed: 0 });
});

test('journal export: any split into chunks reads the same', () => {
  const whole = linesOf([STREAM]).lines;
  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 1, max: STREAM.length - 1 }), { maxLength: 40 }), (cuts) => {
      const at = [0, ...cuts.sort((a, b) => a - b), STREAM.length];
      assert.deepEqual(linesOf(at.slice(1).map((e, i) => STREAM.subarray(at[i], e))).lines, whole);
    }),
    { numRuns: 300 },
  );
  // One byte at a time, too.
  assert.deepEqual(linesOf([...STREAM].map((b) => Buffer.from([b]))).lines, whole);
});

test('journal export: a framing error stops the reader; nothing after it is believed', () => {
  const bad = Buffer.concat([
    entry(text('_TRANSPORT', 'kernel'), text('MESSAGE', `audit: type=1400 audit(1700000000.000:1): ${body('/before')}`)),
    Buffer.from('not a field name\n'),
    entry(text('_TRANSPORT', 'kernel'), text('MESSAGE', `audit: type=1400 audit(1700000000.000:2): ${body('/after')}`)),
  ]);
  const { lines, reader } = linesOf([bad]);
  assert.equal(lines.length, 1);
  assert.ok(lines[0]!.includes('/before'));
  assert.equal(reader.counters.journal_malformed, 1);
  assert.equal(reader.stopped, true);
  // A duplicated trusted field makes an entry untrustworthy; a too-long MESSAGE is counted, not cut.
  const odd = linesOf([Buffer.concat([
    entry(text('_TRANSPORT', 'syslog'), text('_TRANSPORT', 'kernel'), text('MESSAGE', `audit: type=1400 audit(1700000000.000:3): ${body('/dup')}`)),
    entry(text('_TRANSPORT', 'kernel'), text('MESSAGE', `audit: type=1400 audit(1700000000.000:4): ${body('/' + 'z'.repeat(20000))}`)),
  ])]);
  assert.deepEqual(odd.lines, []);
  assert.equal(odd.reader.counters.journal_untrusted, 1);
  assert.equal(odd.reader.counters.journal_too_long, 1);
});

test('audit ingest reads a journal export entry by entry', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'journal-'));
  try {
    const file = join(dir, 'journal.export');
    writeFileSync(file, STREAM);
    const { behaviors: b, counters } = await ingestAuditLog({ file, profile: PROFILE });
    assert.deepEqual(keys(b, 'files'), ['/etc/hostname', '/etc/machine-id', '/etc/os-release']);
    assert.deepEqual(keys(b, 'syscalls'), ['read']);
    assert.equal(b.files?.['/etc/machine-id']?.first, 1700000000123, 'time from _SOURCE_REALTIME_TIMESTAMP');
    assert.equal(counters.journal_untrusted, 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
