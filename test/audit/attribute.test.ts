import assert from 'node:assert/strict';
import { test } from 'node:test';
import { keys } from '../../core/behavior.js';
import { Attributor } from '../../audit/attribute.js';
import { ingestAuditLog } from '../../audit/ingest.js';
import { corpusFile, corpusLines } from './corpus.js';

const PROFILE = 'varmor-ns-name';

test('ingest turns the corpus into the behaviors of one profile', async () => {
  const { behaviors: b, counters } = await ingestAuditLog({ file: corpusFile('apparmor.log'), profile: PROFILE });
  assert.deepEqual(keys(b, 'executions'), ['/bin/busybox', '/usr/bin/curl']);
  const perms = (path: string) => b.files?.[path]?.sets?.perms;
  assert.deepEqual(perms('/etc/passwd'), ['read']);
  assert.deepEqual(perms('/var/log/app.log'), ['append', 'create', 'write']);
  assert.deepEqual(perms('/usr/lib/x86_64-linux-gnu/libc.so.6'), ['mmap', 'read']);
  assert.deepEqual(perms('/usr/bin/curl'), ['exec']);
  assert.deepEqual(perms('/tmp/a b'), ['create']);
  assert.deepEqual(perms('/tmp/a\\xffb'), ['read']);
  assert.deepEqual(perms('/srv/back\\\\slash'), ['read']);
  assert.deepEqual(perms('/tmp/a'), ['delete', 'read', 'rename', 'write']);
  assert.deepEqual(perms('/tmp/b'), ['chmod', 'chown', 'create', 'delete', 'rename', 'write']);
  assert.deepEqual(perms('/tmp/hard'), ['link']);
  assert.deepEqual(perms('/run/app.lock'), ['lock']);
  assert.equal(b.files?.['/tmp/b']?.owner, false, 'chown record had fsuid 0, ouid 1000');
  assert.equal(b.files?.['/etc/passwd']?.owner, true);
  assert.ok(b.files?.['/etc/ssl/certs/ca-certificates.crt'], 'a null-complain child belongs to its profile');
  assert.ok(!b.files?.['/etc/hosts'], 'another profile never leaks in');
  assert.ok(b.files?.['/root/.ssh/id_rsa'], 'a DENIED access is a behavior too');
  assert.deepEqual(keys(b, 'capabilities'), ['net_admin', 'net_raw', 'sys_admin']);
  assert.deepEqual(b.capabilities?.sys_admin?.sets?.verdict, ['denied']);
  assert.deepEqual(keys(b, 'sockets'), ['inet/raw/icmp', 'inet/stream/tcp', 'inet6/dgram/udp', 'netlink/raw/ip', 'unix/stream/ip']);
  assert.deepEqual(keys(b, 'egresses'), ['unix|/run/containerd/containerd.sock|0']);
  assert.deepEqual(b.binds?.['unix|@app-control|0']?.sets?.ops, ['bind']);
  assert.deepEqual(b.signals?.self?.sets?.signals, ['term']);
  assert.deepEqual(b.signals?.external?.sets?.signals, ['kill']);
  assert.deepEqual(b.ptraces?.self?.sets?.perms, ['trace']);
  assert.deepEqual(b.ptraces?.external?.sets?.perms, ['read']);
  assert.deepEqual(b.mounts?.['/mnt/data/|tmpfs']?.sets, { flags: ['nodev', 'nosuid', 'rw'], ops: ['mount'] });
  assert.deepEqual(b.mounts?.['/mnt/data/|']?.sets?.ops, ['umount']);
  assert.deepEqual(b.mounts?.['/newroot/|']?.sets?.ops, ['pivotroot']);
  assert.deepEqual(keys(b, 'unhandled'), [
    'apparmor change_profile other',
    'dbus dbus_method_call bus=system path=/org/freedesktop/DBus interface=org.freedesktop.DBus member=Hello name=org.freedesktop.DBus mask=send',
    'dbus dbus_signal bus=system path=/org/freedesktop/login1 interface=org.freedesktop.login1.Manager member=SessionNew name=:1.3 mask=receive',
  ]);
  assert.deepEqual(keys(b, 'profiles'), [PROFILE, `${PROFILE}//null-/usr/bin/curl`]);
  assert.equal(counters.unattributed, 1, 'the varmor-other-app record');
  assert.equal(counters.apparmor_status, 1, 'profile_load');
});

test('seccomp records: by subj label, else by pid through the lookup, else dropped', () => {
  const lines = corpusLines('seccomp.log');
  const a = new Attributor({ profile: (p) => (p === PROFILE ? 'web' : undefined), pid: (pid) => (pid === 5236 ? 'runc-target' : undefined) }, { replica: 'r', arch: 'x86_64' });
  for (const l of lines) a.line(l);
  const d = a.drain();
  assert.deepEqual(keys(d.get('web')!, 'syscalls'), ['execve', 'getdents64', 'ptrace']);
  assert.deepEqual(keys(d.get('runc-target')!, 'syscalls'), ['close', 'openat', 'write']);
  assert.equal(a.counters.seccomp_other_arch, 1, 'the aarch64 record');
  assert.equal(a.counters.seccomp_unknown_arch, 1, 'the i386 record');
  const none = new Attributor({ profile: () => undefined }, { replica: 'r' });
  for (const l of lines) none.line(l);
  assert.equal(none.drain().size, 0);
  assert.equal(none.counters.unattributed, 8, 'all but the i386 record, whose arch has no table');
});

test('drain hands out only what changed, with cumulative counts', () => {
  const a = new Attributor({ profile: () => 't' }, { replica: 'node/audit/0' });
  const line = (name: string) => `type=AVC msg=audit(1700000000.000:1): apparmor="ALLOWED" operation="open" profile="p" name="${name}" requested_mask="r"`;
  a.line(line('/a'));
  a.line(line('/a'));
  a.line(line('/b'));
  assert.deepEqual(a.drain().get('t')?.files?.['/a']?.n, { 'node/audit/0': 2 });
  a.line(line('/a'));
  const second = a.drain().get('t')!;
  assert.deepEqual(Object.keys(second.files!), ['/a']);
  assert.deepEqual(second.files!['/a']!.n, { 'node/audit/0': 3 });
  assert.equal(a.drain().size, 0);
});

test('hostile and malformed lines are counted, sampled, and reach no profile', async () => {
  const r = await ingestAuditLog({ file: corpusFile('hostile.log') });
  assert.deepEqual(r.behaviors, {});
  assert.equal(r.counters.lines, 12);
  assert.equal((r.counters.malformed ?? 0) + (r.counters.duplicate_field ?? 0) + (r.counters.missing_field ?? 0), 9);
  assert.equal(r.counters.not_audit, 3);
  assert.equal(r.samples.length, 5);
  for (const s of r.samples) assert.match(s, /^[a-z_]+: [\x20-\x7e…]*$/);
});

test('records printk dropped (no auditd) are counted as lost', () => {
  const a = new Attributor({ profile: () => 't' }, { replica: 'r' });
  a.line('Nov 27 10:00:00 node-1 kernel: [  123.456789] kauditd_printk_skb: 12 callbacks suppressed');
  a.line('6,2041,123456789,-;kauditd_printk_skb: 3 callbacks suppressed');
  a.line('Nov 27 10:00:00 node-1 sshd[1]: kauditd_printk_skb: nothing');
  assert.equal(a.counters.kauditd_suppressed, 15);
  assert.equal(a.counters.not_audit, 3);
});
