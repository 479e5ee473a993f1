import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Recorder } from '../../../bpf/driver/recorder.js';
import type { TracerRecord } from '../../../bpf/driver/loader.js';

const hex = (s: string | Buffer) => Buffer.from(s).toString('hex');
const T = 1;
const R = 'node/bpf/a1';

/** Records as the tests write them: some partial or malformed on purpose (the recorder must not trust more than their type). */
function feed(records: ({ t: string } & Record<string, unknown>)[]) {
  const rec = new Recorder(T, R, 'x86_64');
  for (const r of records) rec.accept(r as unknown as TracerRecord);
  return rec;
}

test('records map to the model categories and key conventions', () => {
  const rec = feed([
    { t: 'exec', target: T, pid: 5, ts: 1000, path_hex: hex('/usr/bin/dash'), filename_hex: hex('/app/run.sh'), comm_hex: hex('sh') },
    { t: 'file', target: T, pid: 5, ts: 1001, id: '6:01', path_hex: hex('/etc/passwd'), perms: ['read'] },
    { t: 'file', target: T, pid: 5, ts: 1002, id: '6:02', path_hex: hex('/app/rel.txt'), perms: ['create', 'write'] },
    { t: 'file', target: T, pid: 5, ts: 1003, id: '6:02', path_hex: hex('/app/rel.txt'), perms: ['rename'] },
    { t: 'file', target: T, pid: 5, ts: 1003, id: '6:03', path_hex: hex(Buffer.from([0x2f, 0x61, 0x0a, 0xff])), perms: ['read'] },
    { t: 'capability', target: T, pid: 5, ts: 1004, id: '7:a', cap: 0, name: 'chown', granted: true },
    { t: 'capability', target: T, pid: 5, ts: 1004, id: '7:b', cap: 21, name: 'sys_admin', granted: false },
    { t: 'capability', target: T, pid: 5, ts: 1004, id: '16:c', cap: 21, name: 'sys_admin', granted: true, noaudit: true, caller: 'security_vm_enough_memory_mm' },
    { t: 'capability', target: T, pid: 5, ts: 1004, id: '7:d', cap: 12, name: 'net_admin', granted: true, caller: 'dev_ioctl' },
    { t: 'socket', target: T, pid: 5, ts: 1005, id: '8:1', domain: 2, type: 1, protocol: 0 },
    { t: 'socket', target: T, pid: 5, ts: 1005, id: '8:2', domain: 1, type: 2, protocol: 0 },
    { t: 'socket', target: T, pid: 5, ts: 1005, id: '8:3', domain: 10, type: 2, protocol: 17 },
    { t: 'connect', target: T, pid: 5, ts: 1006, id: '9:1', family: 'inet', address: '127.0.0.1', port: 8080 },
    { t: 'connect', target: T, pid: 5, ts: 1006, id: '9:2', family: 'unix', path_hex: hex('/run/x.sock') },
    { t: 'connect', target: T, pid: 5, ts: 1006, id: '9:3', family: 'unix', path_hex: hex('abs'), abstract: true },
    { t: 'bind', target: T, pid: 5, ts: 1007, id: '10:1', op: 'bind', family: 'inet6', address: '::', port: 80 },
    { t: 'bind', target: T, pid: 5, ts: 1007, id: '10:2', op: 'listen', family: 'inet6', address: '::', port: 80 },
    { t: 'signal', target: T, pid: 5, ts: 1008, id: '11:1', sig: 15, name: 'term', peer: 'self', to: 6 },
    { t: 'signal', target: T, pid: 5, ts: 1008, id: '11:2', sig: 1, name: 'hup', peer: 'external', to: 1 },
    { t: 'ptrace', target: T, pid: 5, ts: 1009, id: '12:1', op: 'ptrace', request: 16, mode: 'trace', peer: 'self', to: 6, ret: 0 },
    { t: 'ptrace', target: T, pid: 5, ts: 1009, id: '12:2', op: 'process_vm_readv', mode: 'read', peer: 'external', to: 1, ret: 0 },
    { t: 'ptrace', target: T, pid: 5, ts: 1009, id: '12:3', op: 'process_vm_writev', mode: 'trace', peer: 'external', to: 1, ret: -1 },
    { t: 'mount', target: T, pid: 5, ts: 1010, id: '13:1', op: 'mount', path_hex: hex('/mnt'), fstype_hex: hex('tmpfs'), flags: ['nosuid'], ret: 0 },
    { t: 'mount', target: T, pid: 5, ts: 1011, id: '13:2', op: 'umount', path_hex: hex('/mnt'), fstype_hex: '', flags: ['detach'], ret: 0 },
    { t: 'mount', target: T, pid: 5, ts: 1011, id: '13:3', op: 'move_mount', path_hex: hex('/srv'), fstype_hex: hex('tmpfs'), source_hex: hex('src'), flags: ['nosuid', 'move'], ret: 0 },
    { t: 'namespace', target: T, pid: 5, ts: 1012, id: '14:1', op: 'unshare', types: ['mnt', 'uts'], ret: 0 },
    { t: 'syscall', target: T, nr: 257, ts: 1000 },
    { t: 'counts', target: T, syscalls: { '257': 42 } },
    { t: 'tallies', target: T, counts: { '6:01': 17 } },
    { t: 'file', target: 2, pid: 9, ts: 1, id: '6:09', path_hex: hex('/other'), perms: ['read'] },
  ]);
  const { behaviors: b, sessions } = rec.take(2000);
  assert.deepEqual(Object.keys(b.executions!).sort(), ['/app/run.sh', '/usr/bin/dash']);
  assert.deepEqual(b.files!['/usr/bin/dash']!.sets, { perms: ['exec'] });
  assert.deepEqual(b.files!['/etc/passwd']!.sets, { perms: ['read'] });
  assert.equal(b.files!['/etc/passwd']!.n[R], 17, 'tally count');
  assert.deepEqual(b.files!['/app/rel.txt']!.sets, { perms: ['create', 'rename', 'write'] });
  assert.ok(b.files!['/a\n\\xff'], 'non-UTF-8 bytes escaped, newline kept');
  assert.equal(b.files!['/other'], undefined, 'other target');
  assert.deepEqual(b.capabilities!.chown!.sets, { verdict: ['granted'] });
  assert.deepEqual(b.capabilities!.sys_admin!.sets, { verdict: ['denied'] }, 'a probe never makes a capability granted');
  assert.deepEqual(b.capabilities!.net_admin!.sets, { verdict: ['granted'], callers: ['dev_ioctl'] });
  assert.deepEqual(b.noaudit!.sys_admin!.sets, { verdict: ['granted'], callers: ['security_vm_enough_memory_mm'] });
  assert.deepEqual(Object.keys(b.sockets!).sort(), ['inet/stream/tcp', 'inet6/dgram/udp', 'unix/dgram/0']);
  assert.deepEqual(Object.keys(b.egresses!).sort(), ['inet|127.0.0.1|8080', 'unix|/run/x.sock|0', 'unix|@abs|0']);
  assert.deepEqual(b.binds!['inet6|::|80']!.sets, { ops: ['bind', 'listen'] });
  assert.deepEqual(b.signals!.self!.sets, { signals: ['term'] });
  assert.deepEqual(b.signals!.external!.sets, { signals: ['hup'] });
  assert.deepEqual(b.ptraces!.self!.sets, { perms: ['trace'] });
  assert.deepEqual(b.ptraces!.external!.sets, { perms: ['read', 'trace'] }, 'process_vm_*: attempts, refused or not');
  assert.deepEqual(b.mounts!['/mnt|tmpfs']!.sets, { flags: ['nosuid'], ops: ['mount'] });
  assert.deepEqual(b.mounts!['/mnt|']!.sets, { flags: ['detach'], ops: ['umount'] });
  assert.deepEqual(b.mounts!['/srv|tmpfs']!.sets, { flags: ['move', 'nosuid'], ops: ['move_mount'] });
  assert.deepEqual(b.namespaces!.unshare!.sets, { types: ['mnt', 'uts'] });
  assert.equal(b.syscalls!.openat!.n[R], 42);
  assert.deepEqual(sessions, {});
});

test('exec-session records go to the sessions set, syscalls included', () => {
  const rec = feed([
    { t: 'joined', target: T, pid: 7, ppid: 3, ts: 1, session: 'exec' },
    { t: 'exec', target: T, pid: 7, ts: 1, path_hex: hex('/bin/busybox'), filename_hex: hex('/bin/busybox'), comm_hex: '', session: 'exec' },
    { t: 'file', target: T, pid: 7, ts: 2, id: '6:01', path_hex: hex('/etc/passwd'), perms: ['read'], session: 'exec' },
    { t: 'syscall', target: T, nr: 0, ts: 2, session: 'exec' },
    { t: 'counts', target: T, session: 'exec', syscalls: { '0': 3 } },
    { t: 'tallies', target: T, session: 'exec', counts: { '6:01': 4 } },
    { t: 'syscall', target: T, nr: 1, ts: 2 },
  ]);
  const { behaviors, sessions } = rec.take(10);
  assert.deepEqual(Object.keys(behaviors.syscalls!), ['write']);
  assert.equal(behaviors.files, undefined);
  assert.deepEqual(Object.keys(sessions.executions!), ['/bin/busybox']);
  assert.equal(sessions.files!['/etc/passwd']!.n[R], 4);
  assert.equal(sessions.syscalls!.read!.n[R], 3);
  // the next delta starts empty but keeps cumulative counts
  const next = rec.take(20);
  assert.equal(next.behaviors.files, undefined);
  assert.equal(next.sessions.syscalls!.read!.n[R], 3);
});

test('a new container of a pod target is workload: its pid counts for attribution, its records are not sessions', () => {
  const rec = feed([]);
  assert.equal(rec.accept({ t: 'container-joined', target: T, pid: 9, ppid: 1, ts: 1, container: 'c'.repeat(64) }), true, 'a known record');
  rec.accept({ t: 'exec', target: T, pid: 9, ts: 1, path_hex: hex('/bin/app'), filename_hex: hex('/bin/app'), comm_hex: '' });
  assert.ok(rec.hasPid(9));
  const { behaviors, sessions } = rec.take(10);
  assert.deepEqual(Object.keys(behaviors.executions!), ['/bin/app']);
  assert.deepEqual(sessions, {});
});

test('the target\'s own stats become its counters; another run\'s (a target of the same tracer) do not', () => {
  const rec = feed([
    { t: 'stats', target: T, ringbuf_dropped: 3, tasks_full: 0, path_truncated: 1, records: 9, cap_noaudit: 4 },
    { t: 'stats', target: T + 1, ringbuf_dropped: 70, tasks_full: 5, path_truncated: 0, records: 900, cap_noaudit: 80 },
  ]);
  assert.deepEqual(rec.take(1).counters, { ringbuf_dropped: 3, tasks_full: 0, path_truncated: 1, records: 9, cap_noaudit: 4 });
});

test('a process that switched user and then exec\'d marks setuid/setgid as a wrapper\'s (then: exec)', () => {
  const wrapper = feed([
    { t: 'capability', target: T, pid: 9, ts: 1, id: '7:7', cap: 7, name: 'setuid', granted: true },
    { t: 'capability', target: T, pid: 9, ts: 1, id: '7:6', cap: 6, name: 'setgid', granted: true },
    { t: 'exec', target: T, pid: 9, ts: 2, path_hex: hex('/usr/lib/postgresql/15/bin/postgres') },
  ]).take(3).behaviors;
  assert.deepEqual(wrapper.capabilities!.setuid!.sets, { then: ['exec'], verdict: ['granted'] });
  assert.deepEqual(wrapper.capabilities!.setgid!.sets, { then: ['exec'], verdict: ['granted'] });
  assert.equal(wrapper.capabilities!.setuid!.n[R], 1, 'the mark is no use of its own');

  const daemon = feed([
    { t: 'capability', target: T, pid: 10, ts: 1, id: '7:7', cap: 7, name: 'setuid', granted: true },
    { t: 'exit', target: T, pid: 10, ts: 2, code: 0 },
    { t: 'exec', target: T, pid: 10, ts: 3, path_hex: hex('/usr/bin/other') }, // a new process on the reused pid
    { t: 'exec', target: T, pid: 11, ts: 3, path_hex: hex('/usr/sbin/nginx') },
  ]).take(4).behaviors;
  assert.deepEqual(daemon.capabilities!.setuid!.sets, { verdict: ['granted'] });
});

test('argument records join their syscall as sets.args (hex, the tuple in order); a malformed one is unhandled, not guessed', () => {
  const rec = feed([
    { t: 'syscall', target: T, nr: 16, ts: 1000 },
    { t: 'arg', target: T, pid: 5, ts: 1001, id: '17:1', nr: 16, value: '0x5413', value2: '0x0', ret: -25 },
    { t: 'arg', target: T, pid: 5, ts: 1002, id: '17:2', nr: 16, value: '0xffffffff80086601', value2: '0x0', ret: -25 },
    { t: 'arg', target: T, pid: 5, ts: 1003, id: '17:3', nr: 54, value: '0x1', value2: '0x2', ret: 0 },
    { t: 'arg', target: T, pid: 5, ts: 1004, id: '17:4', nr: 157, value: 15, value2: '0x0', ret: 0 },
    { t: 'counts', target: T, syscalls: { 16: 7 } },
  ]);
  const { behaviors } = rec.take(2000);
  assert.deepEqual(behaviors.syscalls!.ioctl!.sets, { args: ['0x5413', '0xffffffff80086601'] });
  assert.equal(behaviors.syscalls!.ioctl!.n[R], 7, 'the syscall count, not the argument records');
  assert.deepEqual(behaviors.syscalls!.setsockopt!.sets, { args: ['0x1,0x2'] });
  assert.equal(behaviors.syscalls!.prctl, undefined);
  assert.ok(Object.keys(behaviors.unhandled ?? {}).includes('arg record of prctl'));
});

test('a dual-stack socket\'s IPv4 peer is recorded as that IPv4 address; accepted connections go to ingresses with their protocol', () => {
  const rec = feed([
    { t: 'accept', target: T, pid: 5, ts: 1000, id: '18:1', family: 'inet6', address: '::ffff:10.244.0.12', port: 8080, protocol: 6 },
    { t: 'accept', target: T, pid: 5, ts: 1001, id: '18:2', family: 'inet6', address: '2001:db8::5', port: 8080, protocol: 6 },
    { t: 'bind', target: T, pid: 5, ts: 1002, id: '10:9', op: 'listen', family: 'inet6', address: '::', port: 8080, protocol: 6 },
  ]);
  const { behaviors } = rec.take(2000);
  assert.deepEqual(Object.keys(behaviors.ingresses!).sort(), ['inet6|2001:db8::5|8080', 'inet|10.244.0.12|8080']);
  assert.deepEqual(behaviors.ingresses!['inet|10.244.0.12|8080']!.sets, { protocols: ['tcp'] });
  assert.deepEqual(behaviors.binds!['inet6|::|8080']!.sets, { ops: ['listen'], protocols: ['tcp'] });
});
