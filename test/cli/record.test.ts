import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { ArmorProfileModel } from '../../core/armorprofilemodel.js';
import { allowedNames, type SeccompProfile } from '../../core/seccomp.js';
import { archFromNode, PROFILE_ARCHES } from '../../core/syscalls.js';
import { bpfUnavailable, CLI, cli, run, tempDir } from '../helpers.js';

const skip = bpfUnavailable();
const PIPELINE = 'cat /etc/hostname | tr a-z A-Z | sort > /dev/null; ls / | wc -l > /dev/null; date +%s > /dev/null';

/** Syscall names strace -f records for the same command. */
async function straceSyscalls(dir: string, argv: string[]): Promise<Set<string>> {
  const file = join(dir, 'strace.out');
  const r = await run('strace', ['-f', '-qq', '-o', file, ...argv]);
  assert.equal(r.code, 0, r.stderr);
  const names = new Set<string>();
  for (const line of (await readFile(file, 'utf8')).split('\n')) {
    const m = /^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)(?:\(| resumed>)/.exec(line);
    if (m) names.add(m[1]!);
  }
  return names;
}

test('record models a shell pipeline end to end: real Temporal server, real tracer, real store', { skip, timeout: 180_000 }, async (t) => {
  const home = await tempDir('home');
  const out = await tempDir('out');
  const argv = ['sh', '-c', PIPELINE];
  const r = await cli(['record', '--duration', '60s', '--out', out, '--name', 'pipeline', '--', ...argv], { VARMOR_MODELER_HOME: home, TEMPORAL_ADDRESS: undefined });
  assert.equal(r.code, 0, `record failed: ${r.stderr}`);
  assert.match(r.stdout, /executables seen/);

  const model = parse(await readFile(join(out, 'armorprofilemodel.yaml'), 'utf8')) as ArmorProfileModel;
  assert.equal(model.apiVersion, 'crd.varmor.org/v1beta1');
  assert.equal(model.kind, 'ArmorProfileModel');
  assert.equal(model.metadata.name, 'varmor-default-pipeline');
  assert.deepEqual(model.status, { desiredNumber: 1, completedNumber: 1, ready: true });
  const executions = model.data.dynamicResult.appArmor?.executions ?? [];
  for (const bin of ['/usr/bin/dash', '/usr/bin/cat', '/usr/bin/tr', '/usr/bin/sort', '/usr/bin/ls', '/usr/bin/wc', '/usr/bin/date']) {
    assert.ok(executions.includes(bin), `${bin} missing from executions ${executions.join(' ')}`);
  }
  assert.ok(!executions.some((e) => /node|varmor-tracer|temporal/.test(e)), `the modeler itself leaked into the model: ${executions.join(' ')}`);

  const ours = new Set(model.data.dynamicResult.seccomp?.syscalls ?? []);
  const theirs = await straceSyscalls(out, argv);
  const missed = [...theirs].filter((s) => !ours.has(s));
  const recall = (theirs.size - missed.length) / theirs.size;
  assert.ok(theirs.size > 15, `strace saw only ${theirs.size} syscalls`);
  assert.ok(recall >= 0.99, `recall ${recall.toFixed(3)} against strace -f; missed: ${missed.join(', ')}`);
  t.diagnostic(`syscall recall against strace -f: ${(recall * 100).toFixed(1)}% of ${theirs.size}; ${ours.size} recorded`);

  const seccomp = JSON.parse(await readFile(join(out, 'seccomp.json'), 'utf8')) as SeccompProfile;
  assert.equal(seccomp.defaultAction, 'SCMP_ACT_ERRNO');
  assert.deepEqual(seccomp.architectures, PROFILE_ARCHES[archFromNode(process.arch)]);
  // every observed syscall is allowed (clone3 is answered ENOSYS: glibc then makes it a clone)
  const allowed = new Set(allowedNames(seccomp));
  for (const s of ours) assert.ok(allowed.has(s) || (s === 'clone3' && allowed.has('clone')), `observed ${s} not allowed by seccomp.json`);
  assert.ok(!allowed.has('ptrace') && !allowed.has('unshare') && !allowed.has('mount'), 'unobserved dangerous syscalls allowed');
  assert.equal(model.data.profile.seccomp, JSON.stringify(seccomp));

  const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
  assert.equal(report.target, `command:${argv.join(' ')}`);
  assert.equal(report.counters.ringbuf_dropped, 0);
  assert.ok(report.batches >= 1);
  assert.equal(report.nodes[0].reason, 'target-exited');
});

test('record stops a command that outlives the window, and keeps what it saw', { skip, timeout: 120_000 }, async () => {
  const home = await tempDir('home');
  const out = await tempDir('out');
  const started = Date.now();
  const r = await cli(['record', '--duration', '4s', '--checkpoint-interval', '1s', '--out', out, '--', 'sh', '-c', 'cat /etc/hostname >/dev/null; sleep 600'], { VARMOR_MODELER_HOME: home });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(Date.now() - started < 60_000, 'the window did not end the run');
  const model = parse(await readFile(join(out, 'armorprofilemodel.yaml'), 'utf8')) as ArmorProfileModel;
  assert.ok(model.data.dynamicResult.appArmor?.executions?.includes('/usr/bin/sleep'));
  const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
  // Checkpointed as it went, and folded at the lease's end: one snapshot a collector (bpf, audit) is what the merge read.
  assert.ok(report.batches >= 1 && report.batches <= 2, `expected one object a collector, the merge read ${report.batches}`);
  const leftover = await run('pgrep', ['-f', 'sleep 600']);
  assert.equal(leftover.stdout.trim(), '', 'the command tree was not stopped at the end of the window');
});

test('record fails with one clear line when the command cannot be started', { skip, timeout: 120_000 }, async () => {
  const home = await tempDir('home');
  const r = await cli(['record', '--duration', '10s', '--out', await tempDir('out'), '--', 'no-such-command-xyz'], { VARMOR_MODELER_HOME: home });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^varmor-modeler: cannot start no-such-command-xyz: .*No such file or directory/m);
});

test('record fails with one clear line naming the missing privilege when BPF cannot be loaded', { skip, timeout: 120_000 }, async () => {
  // Root without CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN in its bounding set, as in a restricted pod.
  const r = await run('setpriv', ['--bounding-set', '-bpf,-perfmon,-sys_admin', process.execPath, CLI, 'record', '--duration', '10s', '--out', await tempDir('out'), '--', 'true'], {
    env: { ...process.env, VARMOR_MODELER_HOME: await tempDir('home') },
  });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^varmor-modeler: BPF tracer exited with code 1: cannot load BPF programs: permission denied \(needs root or CAP_BPF\+CAP_PERFMON/m);
});

test('record fails with one clear line when the tracer binary is missing', { skip, timeout: 120_000 }, async () => {
  const r = await cli(['record', '--duration', '10s', '--out', await tempDir('out'), '--', 'true'], { VARMOR_MODELER_HOME: await tempDir('home'), VARMOR_MODELER_TRACER: '/nonexistent/varmor-tracer' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^varmor-modeler: BPF tracer binary \/nonexistent\/varmor-tracer is missing/m);
});

test('record fails with one clear line when Temporal is unreachable', { timeout: 60_000 }, async () => {
  const r = await cli(['record', '--duration', '10s', '--', 'true'], { VARMOR_MODELER_HOME: await tempDir('home'), TEMPORAL_ADDRESS: '127.0.0.1:1' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^varmor-modeler: Temporal at 127\.0\.0\.1:1 is unreachable/m);
  assert.equal(r.stderr.trim().split('\n').length, 1, `more than one line: ${r.stderr}`);
});
