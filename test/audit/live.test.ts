import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { keys } from '../../core/behavior.js';
import { archFromNode } from '../../core/syscalls.js';
import { Attributor } from '../../audit/attribute.js';
import { modelingProfiles } from '../../core/modeling-state.js';
import { KmsgReader } from '../../audit/tail.js';

/**
 * A busybox process in a runc container under the modeling seccomp profile (SCMP_ACT_LOG): the
 * kernel logs each of its syscalls, kauditd prints them to /dev/kmsg (no auditd here), and the
 * collector must turn them into the busybox command's syscall set, attributed by pid.
 */

const BUSYBOX = '/bin/busybox';
const RATELIMIT = '/proc/sys/kernel/printk_ratelimit';

function whyNot(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (runc, /dev/kmsg, sysctl)';
  if (spawnSync('runc', ['--version']).status !== 0) return 'runc is not installed';
  if (!existsSync(BUSYBOX)) return 'busybox-static is not installed';
  if (!readFileSync('/proc/sys/kernel/seccomp/actions_logged', 'utf8').split(/\s+/).includes('log')) {
    return 'kernel.seccomp.actions_logged lacks "log": the kernel would not emit SECCOMP records for SCMP_ACT_LOG';
  }
  if (existsSync('/run/auditd.pid') || existsSync('/var/run/auditd.pid')) return 'auditd runs: records go to audit.log, not /dev/kmsg';
  if (!KmsgReader.available()) return '/dev/kmsg is not readable';
  return undefined;
}

function runc(args: string[], cwd: string) {
  // No pipes: the container inherits runc's stdio and would hold a pipe open until it exits.
  const log = join(cwd, 'runc.log');
  const r = spawnSync('runc', ['--log', log, ...args], { cwd, stdio: 'ignore', timeout: 30_000 });
  assert.equal(r.status, 0, `runc ${args.join(' ')}: ${existsSync(log) ? readFileSync(log, 'utf8') : ''}`);
}

test('live: SECCOMP records of a runc container become its syscall set', { skip: whyNot() }, async () => {
  const arch = archFromNode(process.arch);
  const dir = mkdtempSync(join(tmpdir(), 'audit-live-'));
  const id = `audit-live-${process.pid}`;
  // kauditd prints through printk_ratelimit() (10 records per 5 s by default), which would drop most records.
  const ratelimit = readFileSync(RATELIMIT, 'utf8').trim();
  writeFileSync(RATELIMIT, '0');
  const kmsg = new KmsgReader();
  try {
    mkdirSync(join(dir, 'rootfs/bin'), { recursive: true });
    copyFileSync(BUSYBOX, join(dir, 'rootfs/bin/busybox'));
    runc(['spec'], dir);
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    config.process.terminal = false;
    config.process.args = ['/bin/busybox', 'uname', '-a'];
    config.linux.seccomp = modelingProfiles('audit', 'live', arch).seccomp.profile;
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));

    kmsg.poll(() => {}); // skip what the ring already holds
    runc(['create', '--pid-file', join(dir, 'pid'), id], dir);
    const pid = Number(readFileSync(join(dir, 'pid'), 'utf8'));
    runc(['start', id], dir);
    for (let i = 0; i < 100; i++) {
      const state = spawnSync('runc', ['state', id], { encoding: 'utf8' });
      if (state.status !== 0 || JSON.parse(state.stdout).status === 'stopped') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    runc(['delete', '--force', id], dir);

    const a = new Attributor({ profile: () => undefined, pid: (p) => (p === pid ? 'busybox' : undefined) }, { replica: 'test', arch });
    kmsg.poll((line) => a.line(line));
    const syscalls = keys(a.drain().get('busybox') ?? {}, 'syscalls');
    for (const s of ['execve', 'uname', 'exit_group']) assert.ok(syscalls.includes(s), `${s} missing from ${syscalls.join(' ')}`);
    for (const s of ['ptrace', 'reboot', 'socket']) assert.ok(!syscalls.includes(s), `${s} was never made`);
    // uname -a writes its line: allowed without a record (the quiet set)
    assert.ok(!syscalls.includes('write'), 'write is in the quiet set');
    assert.ok(!a.counters.malformed, 'every kernel line parses');
  } finally {
    kmsg.close();
    writeFileSync(RATELIMIT, ratelimit);
    spawnSync('runc', ['delete', '--force', id]);
    rmSync(dir, { recursive: true, force: true });
  }
});
