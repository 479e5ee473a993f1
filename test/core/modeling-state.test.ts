import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { modelingProfiles, modelingSeccomp } from '../../core/modeling-state.js';

const haveParser = spawnSync('apparmor_parser', ['--version']).status === 0;

test('the AppArmor modeling profile compiles', { skip: !haveParser && 'apparmor_parser is not installed' }, () => {
  const p = modelingProfiles('shop', 'web-1', 'x86_64');
  assert.equal(p.appArmor.name, 'varmor-shop-web-1');
  assert.match(p.appArmor.text, /^profile varmor-shop-web-1 flags=\(attach_disconnected,mediate_deleted,complain\) \{$/m);
  const dir = mkdtempSync(join(tmpdir(), 'audit-profile-'));
  try {
    const file = join(dir, p.appArmor.name);
    writeFileSync(file, p.appArmor.text);
    // -Q: compile only, do not load; -K: no cache. Works without AppArmor in the running kernel.
    const r = spawnSync('apparmor_parser', ['-Q', '-K', file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the seccomp modeling profile logs every syscall of every ABI of the node but the quiet set', () => {
  const x86 = modelingProfiles('shop', 'web-1', 'x86_64').seccomp;
  assert.equal(x86.localhostProfile, 'varmor-modeler/varmor-shop-web-1.json');
  assert.equal(x86.path, '/var/lib/kubelet/seccomp/varmor-modeler/varmor-shop-web-1.json');
  const quiet = ['open', 'openat', 'openat2', 'close', 'read', 'write'];
  assert.deepEqual(x86.profile, { defaultAction: 'SCMP_ACT_LOG', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'], syscalls: [{ names: quiet, action: 'SCMP_ACT_ALLOW' }] });
  const arm = modelingProfiles('shop', 'web-1', 'aarch64').seccomp.profile;
  assert.deepEqual(arm.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  // aarch64 has no open(2): a name the architecture lacks would make the runtime refuse the profile
  assert.deepEqual(arm.syscalls[0]!.names, quiet.filter((n) => n !== 'open'));
  assert.equal(modelingSeccomp('varmor-shop-web-1', 'x86_64', '/k/seccomp').path, '/k/seccomp/varmor-modeler/varmor-shop-web-1.json');
});

test('a profile name from the workflow that is no name is refused (no path out of the seccomp directory)', () => {
  for (const bad of ['../../etc/x', 'varmor-a/b', '', 'A', 'x\n']) assert.throws(() => modelingSeccomp(bad, 'x86_64'), /not a profile name/);
});

test('names that are not Kubernetes names are refused (no injection into the profile text)', () => {
  for (const [ns, name] of [['shop', 'web { }'], ['Shop', 'web'], ['shop', ''], ['shop', 'a\nb']]) {
    assert.throws(() => modelingProfiles(ns!, name!, 'x86_64'));
  }
});
