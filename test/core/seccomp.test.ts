import { test } from 'node:test';
import assert from 'node:assert/strict';
import runtimeDefault from '../../core/data/runtime-default-syscalls.json' with { type: 'json' };
import { EQUIVALENT_SYSCALLS, seccompProfile } from '../../core/seccomp.js';

const allowed = (observed: string[]) => new Set(seccompProfile(observed, ['x86_64']).syscalls.flatMap((s) => s.names));

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
  const arm = new Set(seccompProfile(['stat', 'fstat'], ['aarch64']).syscalls.flatMap((s) => s.names));
  assert.ok(arm.has('newfstatat') && arm.has('statx'));
  assert.ok(!arm.has('lstat'), 'aarch64 has no lstat');
});
