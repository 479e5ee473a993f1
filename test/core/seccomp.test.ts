import { test } from 'node:test';
import assert from 'node:assert/strict';
import runtimeDefault from '../../core/data/runtime-default-syscalls.json' with { type: 'json' };
import type { BehaviorSet, Item } from '../../core/behavior.js';
import { EQUIVALENT_SYSCALLS, MAX_ARG_VALUES, seccompProfile, type SeccompRule } from '../../core/seccomp.js';
import { CLONE_NEW_MASK, NAMESPACE_FLAGS } from '../../core/syscall-args.js';

const it = (sets?: Record<string, string[]>): Item => ({ first: 0, last: 0, n: { r: 1 }, ...(sets ? { sets } : {}) });
const observedSet = (names: string[]): BehaviorSet => ({ syscalls: Object.fromEntries(names.map((n) => [n, it()])) });
const allowed = (observed: string[]) => new Set(seccompProfile(observedSet(observed), 'x86_64').profile.syscalls.flatMap((s) => s.names));
/** The rules naming `syscall`, as `index op value valueTwo` lists. */
const rulesOf = (rules: SeccompRule[], syscall: string) => rules.filter((r) => r.names.includes(syscall)).map((r) => ({ action: r.action, errnoRet: r.errnoRet, args: r.args?.map((a) => [a.index, a.value, a.valueTwo]) }));

test('an observed syscall brings its equivalents: another calling convention of the same thing', () => {
  const p = allowed(['write', 'pread64', 'getsockname']);
  for (const n of ['writev', 'pwrite64', 'pwritev', 'pwritev2', 'readv', 'preadv', 'fadvise64', 'getpeername']) assert.ok(p.has(n), n);
  assert.ok(!p.has('sendmsg'), 'a group nothing observed stays out');
});

test('identity queries come with the baseline: a program asks some of them only as non-root', () => {
  const p = allowed([]);
  for (const n of ['getuid', 'getgid', 'geteuid', 'getegid', 'getgroups', 'getrusage', 'uname']) assert.ok(p.has(n), n);
});

test('no group widens a profile past what the runtime allows every container unconditionally', () => {
  const always = new Set(runtimeDefault.allowed.filter((n) => !(n in runtimeDefault.conditional)));
  for (const g of EQUIVALENT_SYSCALLS) for (const n of g.names) assert.ok(always.has(n), `${n} (${g.why}) is not unconditionally in RuntimeDefault`);
  const p = allowed(['read', 'write', 'openat']);
  for (const n of ['unshare', 'mount', 'ptrace', 'setns', 'bpf', 'process_vm_writev']) assert.ok(!p.has(n), n);
});

test('names an architecture lacks are left out for it', () => {
  const arm = new Set(seccompProfile(observedSet(['stat', 'fstat']), 'aarch64').profile.syscalls.flatMap((s) => s.names));
  assert.ok(arm.has('newfstatat') && arm.has('statx'));
  assert.ok(!arm.has('lstat'), 'aarch64 has no lstat');
});

const LOW = 0xffffffff;

test('argument-aware: socket only for the families seen, netlink only for its protocols seen', () => {
  const { profile, explain } = seccompProfile({ ...observedSet(['socket']), sockets: { 'inet/stream/tcp': it(), 'inet6/dgram/udp': it(), 'netlink/raw/0': it(), 'netlink/dgram/15': it() } }, 'x86_64');
  assert.deepEqual(rulesOf(profile.syscalls, 'socket'), [
    { action: 'SCMP_ACT_ALLOW', errnoRet: undefined, args: [[0, LOW, 2]] },
    { action: 'SCMP_ACT_ALLOW', errnoRet: undefined, args: [[0, LOW, 10]] },
    { action: 'SCMP_ACT_ALLOW', errnoRet: undefined, args: [[0, LOW, 16], [2, LOW, 0]] },
    { action: 'SCMP_ACT_ALLOW', errnoRet: undefined, args: [[0, LOW, 16], [2, LOW, 15]] },
  ]);
  assert.ok(!profile.syscalls[0]!.names.includes('socket'), 'socket is not allowed by name as well');
  assert.deepEqual(explain.byArgument.find((b) => b.syscall === 'socket'), { syscall: 'socket', rules: 4, allows: 'families inet, inet6, netlink (protocol 0, 15)' });
  // A family with no number keeps the name, and the report says why.
  const odd = seccompProfile({ ...observedSet(['socket']), sockets: { 'weird/stream/0': it() } }, 'x86_64');
  assert.ok(odd.profile.syscalls[0]!.names.includes('socket'));
  assert.match(odd.explain.nameOnly.find((n) => n.syscall === 'socket')!.why, /weird/);
});

test('argument-aware: clone and unshare without namespace flags unless created; clone3 answered ENOSYS', () => {
  const none = seccompProfile(observedSet(['clone', 'clone3', 'unshare']), 'x86_64').profile.syscalls;
  assert.deepEqual(rulesOf(none, 'clone'), [{ action: 'SCMP_ACT_ALLOW', errnoRet: undefined, args: [[0, CLONE_NEW_MASK, 0]] }]);
  assert.deepEqual(rulesOf(none, 'unshare'), [{ action: 'SCMP_ACT_ALLOW', errnoRet: undefined, args: [[0, CLONE_NEW_MASK, 0]] }]);
  assert.deepEqual(rulesOf(none, 'clone3'), [{ action: 'SCMP_ACT_ERRNO', errnoRet: 38, args: undefined }]);
  // A workload that made a mount and a user namespace keeps exactly those flags.
  const made = seccompProfile({ ...observedSet(['clone', 'clone3']), namespaces: { unshare: it({ types: ['mnt', 'user'] }) } }, 'x86_64').profile.syscalls;
  const refused = (CLONE_NEW_MASK & ~(NAMESPACE_FLAGS.mnt! | NAMESPACE_FLAGS.user!)) >>> 0;
  assert.deepEqual(rulesOf(made, 'clone'), [{ action: 'SCMP_ACT_ALLOW', errnoRet: undefined, args: [[0, refused, 0]] }]);
  assert.deepEqual(rulesOf(made, 'clone3'), [{ action: 'SCMP_ACT_ALLOW', errnoRet: undefined, args: undefined }], 'clone3 by name: its flags cannot be compared');
});

test('argument-aware: recorded values of ioctl, personality, prctl (with the runtime\'s), setsockopt; bounded', () => {
  const set: BehaviorSet = {
    syscalls: {
      ioctl: it({ args: ['0x5413', '0xffffffff80086601'] }),
      personality: it({ args: ['0xffffffff'] }),
      prctl: it({ args: ['0xf'] }),
      setsockopt: it({ args: ['0x1,0x2', '0x6,0x1'] }),
    },
  };
  const { profile, explain } = seccompProfile(set, 'x86_64');
  const values = (name: string) => rulesOf(profile.syscalls, name).map((r) => r.args);
  assert.deepEqual(values('ioctl'), [[[1, LOW, 0x5413]], [[1, LOW, 0x80086601]]], 'the low 32 bits: the kernel takes an unsigned int');
  assert.deepEqual(values('personality'), [[[0, LOW, 0xffffffff]]]);
  assert.deepEqual(values('prctl'), [[[0, LOW, 1]], [[0, LOW, 8]], [[0, LOW, 15]], [[0, LOW, 24]], [[0, LOW, 47]]], 'PR_SET_NAME seen, and what runc\'s init calls after the filter');
  // setsockopt: the levels seen, any option, but SOL_SOCKET without the options that load BPF
  const sockopt = values('setsockopt');
  assert.deepEqual(sockopt.at(-1), [[1, LOW, 6]]);
  const solSocket = sockopt.slice(0, -1).map((args) => ({ level: args![0], option: args![1]! }));
  assert.ok(solSocket.every((r) => JSON.stringify(r.level) === JSON.stringify([1, LOW, 1])));
  const allowed = (opt: number) => solSocket.some(({ option: [, mask, value] }) => ((opt & mask!) >>> 0) === value);
  for (let opt = 0; opt < 128; opt++) assert.equal(allowed(opt), ![26, 50, 51, 52].includes(opt), `SOL_SOCKET option ${opt}`);
  assert.match(explain.byArgument.find((b) => b.syscall === 'setsockopt')!.allows, /levels 1, 6 \(of the sockets made and the options seen\), any option, except the SOL_SOCKET options that load BPF/);
  // the levels of the sockets made come with them: an inet6 TCP socket brings IP, IPv6 and TCP
  const v6 = seccompProfile({ syscalls: { setsockopt: it({ args: ['0x1,0x2'] }) }, sockets: { 'inet6/stream/tcp': it() } }, 'x86_64').explain;
  assert.match(v6.byArgument.find((b) => b.syscall === 'setsockopt')!.allows, /levels 0, 1, 6, 41 /);
  // one that attached a filter keeps SOL_SOCKET whole
  const attaching = seccompProfile({ syscalls: { setsockopt: it({ args: ['0x1,0x1a'] }) } }, 'x86_64').profile.syscalls;
  assert.deepEqual(rulesOf(attaching, 'setsockopt').map((r) => r.args), [[[1, LOW, 1]]]);
  assert.ok(!profile.syscalls[0]!.names.some((n) => ['ioctl', 'personality', 'prctl', 'setsockopt'].includes(n)));
  assert.deepEqual(explain.byArgument.find((b) => b.syscall === 'ioctl'), { syscall: 'ioctl', rules: 2, allows: 'requests 0x5413, 0x80086601' });
  // prctl never seen: the runtime's options only
  assert.deepEqual(rulesOf(seccompProfile(observedSet([]), 'x86_64').profile.syscalls, 'prctl').map((r) => r.args), [[[0, LOW, 1]], [[0, LOW, 8]], [[0, LOW, 24]], [[0, LOW, 47]]]);
});

test('argument-aware: the name alone where the model cannot narrow, each with the reason', () => {
  const many = Array.from({ length: MAX_ARG_VALUES + 1 }, (_, i) => `0x${(0x5400 + i).toString(16)}`);
  const { profile, explain } = seccompProfile({ syscalls: { ioctl: it({ args: many }), getsockopt: it(), personality: it({ args: ['0x1,0x2'] }) } }, 'x86_64');
  for (const n of ['ioctl', 'getsockopt', 'personality']) assert.ok(profile.syscalls[0]!.names.includes(n), n);
  const why = Object.fromEntries(explain.nameOnly.map((n) => [n.syscall, n.why]));
  assert.match(why.ioctl!, /65 distinct values seen, more than 64/);
  assert.match(why.getsockopt!, /no argument recorded/);
  assert.match(why.personality!, /not the recorded shape/);
});

test('flat: every syscall by name, one rule', () => {
  const { profile } = seccompProfile({ ...observedSet(['socket', 'clone']), sockets: { 'inet/stream/tcp': it() } }, 'x86_64', { flat: true });
  assert.equal(profile.syscalls.length, 1);
  assert.ok(['socket', 'clone', 'clone3', 'prctl'].every((n) => profile.syscalls[0]!.names.includes(n)));
});

test('every architecture from one recording: names mapped across, the unmapped listed, each ABI the runtime needs', () => {
  const x86 = observedSet(['open', 'stat', 'fork', 'epoll_create', 'arch_prctl', 'pause', 'uselib', 'read']);
  const arm = seccompProfile(x86, 'aarch64');
  const names = new Set(arm.profile.syscalls.flatMap((r) => r.names));
  for (const n of ['openat', 'newfstatat', 'statx', 'clone', 'epoll_create1', 'ppoll', 'read']) assert.ok(names.has(n), `${n} (mapped) is in the aarch64 profile`);
  for (const n of ['open', 'stat', 'fork', 'epoll_create', 'arch_prctl', 'pause', 'uselib']) assert.ok(!names.has(n), `${n}: aarch64 has no such syscall`);
  assert.deepEqual(arm.explain.unmapped, ['arch_prctl', 'uselib']);
  assert.deepEqual(arm.profile.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  // and back: an aarch64 recording's openat brings x86_64's open
  const back = seccompProfile(observedSet(['openat', 'newfstatat']), 'x86_64');
  assert.ok(back.profile.syscalls[0]!.names.includes('open') && back.profile.syscalls[0]!.names.includes('stat'));
  assert.deepEqual(back.explain.unmapped, []);
  assert.deepEqual(back.profile.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
});
