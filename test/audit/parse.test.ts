import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { pathToBytes } from '../../core/paths.js';
import { protocolName } from '../../audit/tables.js';
import { parseLine, type AuditRecord, type SeccompRecord } from '../../audit/parse.js';
import { corpusFile, corpusLines } from './corpus.js';

const PYTHON = '/usr/bin/python3';
const ORACLE = corpusFile('../libapparmor_oracle.py');
const haveOracle = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import LibAppArmor']).status === 0;

type Oracle = Record<string, string | number | boolean>;

function oracle(file: string): Oracle[] {
  const run = spawnSync(PYTHON, [ORACLE, file], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  return run.stdout.trim().split('\n').map((l) => JSON.parse(l) as Oracle);
}

const hex = (s: string) => Buffer.from(s, 'latin1').toString('hex');
const pathHex = (s: string) => Buffer.from(pathToBytes(s)).toString('hex');

/** Our record in libapparmor's vocabulary (strings as hex of their bytes). */
function view(r: AuditRecord): Oracle {
  if (r.kind !== 'apparmor') return {};
  const dbus = r.operation!.startsWith('dbus');
  const out: Record<string, string | number | undefined> = {
    operation: r.operation && hex(r.operation),
    profile: r.profile && pathHex(r.profile),
    // libapparmor files a capability's name under name, and a dbus mask= under denied_mask.
    name: r.operation === 'capable' ? r.capname && hex(r.capname) : r.name && pathHex(r.name),
    name2: r.name2 && pathHex(r.name2),
    requested_mask: dbus ? undefined : r.requested && hex(r.requested),
    denied_mask: dbus ? r.requested && hex(r.requested) : r.denied && hex(r.denied),
    // libapparmor reports a dbus record's exe= as comm; AppArmor records have no exe to compare.
    comm: dbus ? undefined : r.comm && pathHex(r.comm),
    net_family: r.family && hex(r.family),
    net_sock_type: r.sockType && hex(r.sockType),
    net_protocol: r.protocol === undefined ? undefined : hex(protocolName(r.protocol)),
    signal: r.signal && hex(r.signal),
    [dbus ? 'peer_profile' : 'peer']: r.peer && pathHex(r.peer),
    fs_type: r.fstype && pathHex(r.fstype),
    src_name: r.srcname && pathHex(r.srcname),
    flags: r.flags && hex(r.flags),
    info: r.info && hex(r.info),
    dbus_bus: r.bus && hex(r.bus),
    dbus_path: r.path && hex(r.path),
    dbus_interface: r.interface && hex(r.interface),
    dbus_member: r.member && hex(r.member),
    pid: r.pid,
    fsuid: r.fsuid,
    ouid: r.ouid,
    epoch: Number.isNaN(r.time) ? undefined : Math.floor(r.time / 1000),
    audit_sub_id: Number.isNaN(r.time) ? undefined : r.serial,
  };
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined)) as Oracle;
}

function comparable(o: Oracle, line: string): Oracle {
  const out = { ...o };
  // The kernel prints a backslash in a quoted value as itself (audit_log_untrustedstring quotes
  // everything in 0x21..0x7e but '"'); libapparmor's lexer drops it as if it escaped the next char.
  if (line.includes('name="/srv/back\\slash"')) out.name = Buffer.from('/srv/back\\slash').toString('hex');
  delete out.valid;
  delete out.event;
  // USER_AVC: libapparmor keeps the dbus daemon's outer pid only when the inner one is missing.
  if (line.startsWith('type=USER_AVC') && out.comm !== undefined) delete out.comm;
  return out;
}

/**
 * Lines libapparmor 3.0.8 rejects that we accept on purpose, each with the reason. Everything else
 * libapparmor rejects, we must reject too.
 */
const ACCEPTED_BEYOND_LIBAPPARMOR: [RegExp, string][] = [
  [/^\d+,\d+,\d+,[^;]*;audit: /, '/dev/kmsg framing: libapparmor has no grammar for it'],
  [/^node=\S+ type=/, "auditd's node= prefix (name_format = hostname): libapparmor 3.0.8 rejects it"],
  [/^audit: type=/, 'dmesg without time stamp: libapparmor needs the [ts] prefix'],
  [/^type=\d+ audit\(/, 'kernel framing without prefixes, as older kernels printed it: libapparmor needs a syslog or [ts] prefix'],
  [/type=(SECCOMP|1326) /, 'seccomp records: libapparmor does not parse them (it returns the body as info)'],
  [/type=USER_AVC .* subj=/, "USER_AVC with the kernel's subj= before msg=': missing from libapparmor 3.0.8's grammar"],
  [/ addr=none /, "unix records with addr=none (unnamed socket): libapparmor 3.0.8 stops at the unquoted non-hex value"],
];

/** Lines libapparmor accepts that we reject on purpose. */
const REJECTED_BEYOND_LIBAPPARMOR: Partial<Record<string, string>> = {
  malformed: 'a value glued to the next key (`name="/a"apparmor=...`) or a negative pid: the kernel writes neither; libapparmor reads on',
  missing_field: 'an AppArmor record without operation= (every kernel record has one), or a seccomp record without arch=/syscall=',
  duplicate_field: 'a field given twice (libapparmor keeps the last): the kernel never does, a forged suffix such as a second profile= would misattribute',
};

function whyAccepted(line: string): string | undefined {
  return ACCEPTED_BEYOND_LIBAPPARMOR.find(([re]) => re.test(line))?.[1];
}

const FILES = ['apparmor.log', 'seccomp.log', 'other.log', 'hostile.log'];

test('corpus agrees with libapparmor field by field', { skip: !haveOracle && 'python3-libapparmor is not installed for /usr/bin/python3' }, () => {
  let compared = 0;
  for (const file of FILES) {
    const lines = corpusLines(file);
    const theirs = oracle(corpusFile(file));
    assert.equal(theirs.length, lines.length, file);
    lines.forEach((line, i) => {
      const ours = parseLine(line);
      const them = theirs[i]!;
      const where = `${file}:${i + 1}: ${line}`;
      if (them.valid && ours.kind === 'rejected') {
        assert.ok(REJECTED_BEYOND_LIBAPPARMOR[ours.reason], `${where}\nlibapparmor accepts, we reject (${ours.reason}) without a documented reason`);
      } else if (them.valid) {
        assert.deepEqual(view(ours as AuditRecord), comparable(them, line), where);
        compared++;
      } else if (ours.kind !== 'rejected') {
        assert.ok(whyAccepted(line), `${where}\nwe accept a line libapparmor rejects, without a documented reason`);
      }
    });
  }
  assert.ok(compared >= 35, `only ${compared} lines compared`);
});

test('seccomp records match the body libapparmor hands back as info', { skip: !haveOracle && 'python3-libapparmor missing' }, () => {
  const lines = corpusLines('seccomp.log');
  const theirs = oracle(corpusFile('seccomp.log'));
  lines.forEach((line, i) => {
    const ours = parseLine(line) as SeccompRecord;
    assert.equal(ours.kind, 'seccomp', line);
    const info = theirs[i]!.info;
    if (info === undefined) return; // kmsg/journal framings: libapparmor recognised no record at all
    const body = Buffer.from(String(info), 'hex').toString('latin1');
    const field = (k: string) => new RegExp(`(?:^| )${k}=(\\S+)`).exec(body)?.[1];
    assert.equal(String(ours.syscall), field('syscall'), line);
    assert.equal(ours.arch, field('arch'), line);
    assert.equal(String(ours.pid), field('pid'), line);
    assert.equal(ours.code, field('code'), line);
    assert.equal(ours.subj, /subj=(.*?) pid=/.exec(body)?.[1], line);
  });
});

test('every framing yields the same record as auditd framing', () => {
  const body = 'apparmor="ALLOWED" operation="open" profile="varmor-ns-name" name="/etc/passwd" pid=7 comm="cat" requested_mask="r" denied_mask="r" fsuid=0 ouid=0';
  const stamp = 'audit(1700000000.123:456): ';
  const auditd = parseLine(`type=AVC msg=${stamp}${body}`);
  for (const line of [
    `node=n1 type=AVC msg=${stamp}${body}`,
    `type=1400 msg=${stamp}${body}`,
    `type=UNKNOWN[1400] msg=${stamp}${body}`,
    `type=AVC msg=${stamp}${body}\x1dFSUID="root" OUID="root"`,
    `Nov 27 10:00:00 host kernel: [  123.456789] audit: type=1400 ${stamp}${body}`,
    `Nov  7 10:00:00 host kernel: audit: type=1400 ${stamp}${body}`,
    `2023-11-27T10:00:00.123456+00:00 host kernel: audit: type=1400 ${stamp}${body}`,
    `[  123.456789] audit: type=1400 ${stamp}${body}`,
    `5,1234,5678,-;audit: type=1400 ${stamp}${body}`,
    `type=AVC msg=${stamp}${body}\r`,
  ]) {
    assert.deepEqual(parseLine(line), auditd, line);
  }
  // The journal export is read entry by entry (audit/journal.ts), never line by line.
  assert.deepEqual(parseLine(`MESSAGE=audit: type=1400 ${stamp}${body}`), { kind: 'rejected', reason: 'not_audit' });
});

test('hex-encoded values decode to model paths', () => {
  const rec = (name: string) => parseLine(`type=AVC msg=audit(1.000:1): apparmor="ALLOWED" operation="open" profile="p" name=${name} requested_mask="r"`);
  assert.equal((rec('2F746D702F612062') as AuditRecord & { name: string }).name, '/tmp/a b');
  assert.equal((rec('2F61FF62') as AuditRecord & { name: string }).name, '/a\\xffb');
  assert.equal((rec('2F615C62') as AuditRecord & { name: string }).name, '/a\\\\b');
  assert.equal((rec('"/a\\b"') as AuditRecord & { name: string }).name, '/a\\\\b');
  assert.equal((rec('2F610A62') as AuditRecord & { name: string }).name, '/a\nb');
});

test('hostile lines are rejected, never misread', () => {
  const reasons = corpusLines('hostile.log').map((l) => {
    const r = parseLine(l);
    return r.kind === 'rejected' ? r.reason : `accepted ${r.kind}`;
  });
  assert.deepEqual(reasons, [
    'malformed', // a quote inside a name: the value ends early, junk follows it
    'duplicate_field', // a second profile= appended
    'malformed', // an odd quote: the value closes at the next one, junk follows
    'not_audit', // another program's syslog line
    'not_audit', // ... even with "kernel:" inside its message
    'not_audit', // /dev/kmsg record of the user facility (written by a process)
    'malformed',
    'malformed', // audit(...) without serial
    'missing_field', // no operation
    'malformed', // pid=-1
    'duplicate_field',
    'malformed', // a key with a space
  ]);
  const huge = `type=AVC msg=audit(1.000:1): apparmor="ALLOWED" operation="open" profile="p" name="/${'a'.repeat(20000)}" requested_mask="r"`;
  assert.deepEqual(parseLine(huge), { kind: 'rejected', reason: 'too_long' });
  const open = `type=AVC msg=audit(1.000:1): apparmor="ALLOWED" operation="open" profile="p" name="/tmp/open`;
  assert.deepEqual(parseLine(open), { kind: 'rejected', reason: 'unbalanced_quote' });
  const binary = `type=AVC msg=audit(1.000:1): apparmor="ALLOWED" operation="open" profile="p" name="/a\x00\x01\xff" requested_mask="r"`;
  assert.deepEqual(parseLine(binary), { kind: 'rejected', reason: 'binary' });
  for (const junk of ['', '\x00\x00\x00', '\xff\xfe type=AVC', 'type=', 'type=AVC msg=audit(', 'type=AVC msg=audit(1.1:1): ', '5,;', 'MESSAGE=', 'MESSAGE=AVC', '[', 'Nov']) {
    assert.equal(parseLine(junk).kind, 'rejected', JSON.stringify(junk));
  }
});

test('random bytes never throw', () => {
  let seed = 42;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const base = readFileSync(corpusFile('apparmor.log'), 'latin1').split('\n');
  for (let i = 0; i < 20000; i++) {
    const line = base[i % base.length]!;
    const chars = line.split('');
    for (let k = 0; k < 3; k++) chars[Math.floor(rand() * chars.length)] = String.fromCharCode(Math.floor(rand() * 256));
    const cut = chars.join('').slice(0, Math.floor(rand() * (line.length + 1)));
    parseLine(cut);
  }
});
