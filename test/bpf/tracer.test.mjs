// Drives bpf/build/varmor-tracer over its stdin/stdout protocol (see bpf/README.md).
// Needs root (or CAP_BPF+CAP_PERFMON); skips otherwise.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Tracer, loadable, unhex, sleep, which, isX86 } from './harness.mjs';

const UNISTD = '/usr/include/x86_64-linux-gnu/asm/unistd_64.h';

// ---- can we load BPF at all? (build first; a build failure is a failure) ----
const skipReason = await loadable(test, assert);

const tr = skipReason ? null : new Tracer();
if (tr) await tr.waitFor((r) => r.t === 'ready', { timeout: 30000, what: 'ready' });
after(async () => {
  if (!tr) return;
  assert.equal((await tr.quit()).code, 0);
  assert.deepEqual(tr.garbage, [], 'every line is JSON');
});

// syscall name -> number for x86_64
function syscallTable() {
  const m = new Map();
  for (const line of fs.readFileSync(UNISTD, 'utf8').split('\n')) {
    const x = /^#define __NR_(\w+)\s+(\d+)/.exec(line);
    if (x) m.set(x[1], Number(x[2]));
  }
  return m;
}

const WORKLOAD = 'cat /etc/hostname >/dev/null; ls / >/dev/null';

test('launch: resolved exec paths, syscalls once each, bystander invisible, flush order', { skip: skipReason }, async () => {
  // bystander: same kind of work, not launched through the tracer; it uses
  // head and sleep (clock_nanosleep), which the workload does not
  const bystander = spawn('sh', ['-c', 'while :; do head -c1 /etc/hostname >/dev/null; sleep 0.01; done'], { stdio: 'ignore' });
  try {
    await sleep(100);
    const T = 1;
    const l = await tr.launch(T, ['sh', '-c', WORKLOAD]);
    assert.equal(l.t, 'launched');
    await tr.waitFor((r) => r.t === 'target-empty' && r.target === T, { what: 'target-empty' });
    await sleep(100);
    const flushed = await tr.flush('t1');

    const execs = tr.of(T, 'exec').map((r) => ({ ...r, path: unhex(r.path_hex), filename: unhex(r.filename_hex), comm: unhex(r.comm_hex) }));
    const paths = execs.map((e) => e.path);
    assert.deepEqual(paths, [fs.realpathSync('/bin/sh'), fs.realpathSync('/usr/bin/cat'), fs.realpathSync('/usr/bin/ls')]);
    assert.ok(paths.includes('/usr/bin/cat') && paths.includes('/usr/bin/ls'), paths.join());
    assert.match(execs[0].filename, /(^|\/)sh$/);
    assert.equal(execs[0].comm, 'sh');
    assert.equal(execs[0].pid, l.pid);
    for (const e of execs) assert.ok(Number.isInteger(e.ts) && Math.abs(e.ts - Date.now()) < 60000, `wall-clock ms: ${e.ts}`);

    const nrs = tr.of(T, 'syscall').map((r) => r.nr);
    assert.equal(new Set(nrs).size, nrs.length, 'each syscall reported once');
    if (isX86) for (const nr of [0, 1, 257, 59, 231]) assert.ok(nrs.includes(nr), `syscall ${nr} reported`);
    if (isX86) assert.ok(!nrs.includes(230), 'bystander clock_nanosleep must not show up');
    assert.ok(!paths.some((p) => /\/(head|sleep)$/.test(p)), 'bystander execs must not show up');
    assert.ok(!tr.records.some((r) => r.pid === bystander.pid), 'bystander pid never reported');

    const exits = tr.of(T, 'exit');
    assert.equal(exits.length, 3);
    assert.ok(exits.every((e) => e.code === 0));
    assert.equal(exits.at(-1).pid, l.pid, 'launched root exits last');
    const empty = tr.of(T, 'target-empty')[0];
    assert.ok(empty.index > exits.at(-1).index);

    // flush: counts, then stats, then the target's flushed marker, and the flush's own last
    const kinds = flushed.map((r) => r.t);
    const iCounts = kinds.indexOf('counts'), iStats = kinds.indexOf('stats'), iFlushed = kinds.indexOf('flushed');
    assert.ok(iCounts >= 0 && iCounts < iStats && iStats < iFlushed, kinds.join());
    assert.equal(flushed[iFlushed].target, T, 'the target\'s marker comes first');
    assert.equal(flushed.at(-1).t, 'flushed');
    assert.equal(flushed.at(-1).target, undefined, 'the flush\'s own marker names no target');
    const counts = flushed.find((r) => r.t === 'counts' && r.target === T);
    assert.deepEqual(Object.keys(counts.syscalls).map(Number).sort((a, b) => a - b), [...nrs].sort((a, b) => a - b));
    if (isX86) assert.ok(counts.syscalls['59'] === 3, `3 execve: ${counts.syscalls['59']}`);
    const stats = flushed.find((r) => r.t === 'stats');
    for (const k of ['ringbuf_dropped', 'tasks_full', 'path_truncated', 'records']) assert.ok(Number.isInteger(stats[k]), k);
    assert.equal(stats.ringbuf_dropped, 0);
  } finally {
    bystander.kill('SIGKILL');
  }
});

test('syscall set matches strace -f (recall >= 99%)', { skip: skipReason || (!which('strace') && 'strace not installed') || (!fs.existsSync(UNISTD) && `${UNISTD} missing`) }, async () => {
  const T = 2;
  const l = await tr.launch(T, ['sh', '-c', WORKLOAD]);
  assert.equal(l.t, 'launched');
  await tr.waitFor((r) => r.t === 'target-empty' && r.target === T, { what: 'target-empty' });
  await tr.flush('t2');
  const ours = new Set(tr.of(T, 'syscall').map((r) => r.nr));

  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'varmor-strace-')), 'trace');
  const st = spawnSync('strace', ['-f', '-qq', '-o', out, 'sh', '-c', WORKLOAD], { encoding: 'utf8' });
  assert.equal(st.status, 0, st.stderr);
  const table = syscallTable();
  const names = new Set();
  for (const line of fs.readFileSync(out, 'utf8').split('\n')) {
    const m = /^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)(?:\(| resumed>)/.exec(line);
    if (m && table.has(m[1])) names.add(m[1]);
  }
  assert.ok(names.size > 10, `strace saw ${names.size} syscalls`);
  const missing = [...names].filter((n) => !ours.has(table.get(n)));
  const recall = (names.size - missing.length) / names.size;
  assert.ok(recall >= 0.99, `recall ${recall}; missing from tracer: ${missing.join(', ')}`);
});

test('launch of a nonexistent binary gives launch-failed', { skip: skipReason }, async () => {
  const T = 3;
  const r = await tr.launch(T, ['/nonexistent/varmor-no-such-binary']);
  assert.equal(r.t, 'launch-failed');
  assert.equal(r.error, 'execvp: No such file or directory');
  const exit = await tr.waitFor((x) => x.t === 'exit' && x.target === T, { what: 'exit of failed launch' });
  assert.equal(exit.code, 127);
  await tr.waitFor((x) => x.t === 'target-empty' && x.target === T, { what: 'target-empty' });
  assert.equal(tr.of(T, 'exec').length, 0);
  assert.equal(tr.of(T, 'syscall').length, 0, 'the armed child records nothing before exec');
});

test('exit records carry the real exit code or signal', { skip: skipReason }, async () => {
  const l1 = await tr.launch(8, ['sh', '-c', 'exit 3']);
  const l2 = await tr.launch(9, ['sh', '-c', 'kill -9 $$']);
  const e1 = await tr.waitFor((r) => r.t === 'exit' && r.pid === l1.pid, { what: 'exit 3' });
  const e2 = await tr.waitFor((r) => r.t === 'exit' && r.pid === l2.pid, { what: 'killed by 9' });
  assert.equal(e1.code, 3);
  assert.equal(e1.signal, undefined);
  assert.equal(e2.code, 137);
  assert.equal(e2.signal, 9);
});

test('kill stops a sleep 1000 tree: SIGTERM to its root, SIGKILL to what is left after the grace period', { skip: skipReason }, async () => {
  const T = 4;
  const l = await tr.launch(T, ['sh', '-c', 'sleep 1000 & sleep 1000; wait']);
  assert.equal(l.t, 'launched');
  const sleepPath = fs.realpathSync('/usr/bin/sleep');
  let seen = 0;
  await tr.waitFor((r) => r.t === 'exec' && r.target === T && unhex(r.path_hex) === sleepPath && ++seen === 2, { what: 'two sleeps' });
  const t0 = Date.now();
  const from = tr.records.length;
  tr.send(`kill ${T} 2000`);
  const killed = await tr.waitFor((r) => r.t === 'killed' && r.target === T, { from, what: 'killed' });
  assert.equal(killed.pids, 1, 'only the root is sent SIGTERM');
  await tr.waitFor((r) => r.t === 'target-empty' && r.target === T, { from, what: 'target-empty' });
  assert.ok(Date.now() - t0 < 5000);
  const exits = tr.of(T, 'exit');
  assert.equal(exits.length, 3);
  const root = exits.find((e) => e.pid === l.pid);
  assert.deepEqual([root?.signal, root?.code], [15, 143], JSON.stringify(exits));
  assert.ok(exits.filter((e) => e.pid !== l.pid).every((e) => e.signal === 9), `the sleeps are killed at the grace period's end: ${JSON.stringify(exits)}`);
  assert.ok(Date.now() - t0 >= 1900, 'SIGKILL only after the grace period');
});

test('track an existing process tree', { skip: skipReason }, async () => {
  const T = 5;
  const victim = spawn('sh', ['-c', 'sleep 0.2; while :; do sleep 0.05; done'], { stdio: 'ignore' });
  try {
    await sleep(50);
    const from = tr.records.length;
    tr.send(`track ${T} pid ${victim.pid}`);
    const r = await tr.waitFor((x) => x.t === 'tracked' && x.target === T, { from, what: 'tracked' });
    assert.ok(r.pids >= 1 && r.pids <= 2, `pids ${r.pids}`);
    const ex = await tr.waitFor((x) => x.t === 'exec' && x.target === T, { what: 'exec in tracked tree' });
    assert.equal(unhex(ex.path_hex), fs.realpathSync('/usr/bin/sleep'));
    tr.send(`untrack ${T}`);
    await tr.waitFor((x) => x.t === 'untracked' && x.target === T, { what: 'untracked' });
    await sleep(300);
    const n = tr.of(T, 'exec').length;
    await sleep(300);
    assert.equal(tr.of(T, 'exec').length, n, 'no records after untrack');
  } finally {
    victim.kill('SIGKILL');
  }
});

test('multi-threaded process whose leader exits first keeps being traced', { skip: skipReason || (!which('cc') && 'no C compiler') }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'varmor-mt-'));
  const src = path.join(dir, 'mt.c');
  fs.writeFileSync(src, `#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
static void *thr(void *a) { usleep(300000); struct sysinfo si; syscall(SYS_sysinfo, &si); exit(7); }
int main(void) { pthread_t t; pthread_create(&t, 0, thr, 0); pthread_exit(0); }
`);
  const cc = spawnSync('cc', ['-O2', '-pthread', '-o', path.join(dir, 'mt'), src], { encoding: 'utf8' });
  assert.equal(cc.status, 0, cc.stderr);
  const T = 6;
  const l = await tr.launch(T, [path.join(dir, 'mt')]);
  assert.equal(l.t, 'launched');
  const empty = await tr.waitFor((r) => r.t === 'target-empty' && r.target === T, { what: 'target-empty' });
  const exits = tr.of(T, 'exit');
  assert.equal(exits.length, 1, 'one exit record, when the last thread dies');
  assert.equal(exits[0].code, 7);
  if (isX86) {
    const sysinfo = tr.of(T, 'syscall').find((r) => r.nr === 99);
    assert.ok(sysinfo && sysinfo.index < exits[0].index, 'sysinfo from the surviving thread is recorded');
  }
  assert.ok(empty.index > exits[0].index);
});

// One syscall hook (sys_exit): the calls that do not return through it the
// usual way are still counted exactly once each.
test('exact counts for rt_sigreturn, thread exit, exit_group and fork/clone (one-hook design)', { skip: skipReason || (!which('cc') && 'no C compiler') || (!isX86 && 'x86_64 numbers') }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'varmor-hook-'));
  const src = path.join(dir, 'h.c');
  fs.writeFileSync(src, `#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
static void h(int s) { (void)s; }
static void *thr(void *a) { syscall(SYS_exit, 0); return a; }
int main(void) {
  signal(SIGUSR1, h);
  raise(SIGUSR1);
  pthread_t t; pthread_create(&t, 0, thr, 0); pthread_join(t, 0);
  pid_t p = fork(); if (p == 0) _exit(0);
  waitpid(p, 0, 0);
  for (int i = 0; i < 3; i++) syscall(SYS_getppid);
  return 0;
}
`);
  const cc = spawnSync('cc', ['-O2', '-pthread', '-o', path.join(dir, 'h'), src], { encoding: 'utf8' });
  assert.equal(cc.status, 0, cc.stderr);
  const T = 10;
  const l = await tr.launch(T, [path.join(dir, 'h')]);
  assert.equal(l.t, 'launched');
  await tr.waitFor((r) => r.t === 'target-empty' && r.target === T, { what: 'target-empty' });
  const flushed = await tr.flush('hook');
  const c = flushed.find((r) => r.t === 'counts' && r.target === T).syscalls;
  const nrs = new Set(tr.of(T, 'syscall').map((r) => r.nr));
  for (const nr of [15, 60, 231, 59, 110]) assert.ok(nrs.has(nr), `syscall ${nr} reported`);
  assert.equal(c['59'], 1, 'execve (returns in the new image)');
  assert.equal(c['15'], 1, 'rt_sigreturn (nr -1 at sys_exit)');
  assert.equal(c['60'], 1, 'exit of the thread (never returns)');
  assert.equal(c['231'], 2, 'exit_group of parent and child');
  assert.equal((c['56'] ?? 0) + (c['435'] ?? 0), 2, 'clone/clone3 once each: the child\'s return is not counted');
  assert.equal(c['110'], 3, 'getppid');
});

test('exec path is resolved relative to a chroot inside a private mount namespace', { skip: skipReason || (!which('unshare') && 'no unshare') || (!which('chroot') && 'no chroot') }, async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'varmor-root-'));
  fs.mkdirSync(path.join(root, 'usr'));
  for (const l of ['bin', 'lib', 'lib64', 'sbin']) fs.symlinkSync(`usr/${l}`, path.join(root, l));
  const T = 7;
  const l = await tr.launch(T, ['unshare', '-m', 'sh', '-c', `mount --bind /usr ${root}/usr && exec chroot ${root} /usr/bin/true`]);
  assert.equal(l.t, 'launched');
  await tr.waitFor((r) => r.t === 'target-empty' && r.target === T, { what: 'target-empty' });
  const execs = tr.of(T, 'exec').map((r) => [unhex(r.path_hex), unhex(r.filename_hex)]);
  assert.deepEqual(execs.at(-1), ['/usr/bin/true', '/usr/bin/true'], JSON.stringify(execs));
  assert.ok(execs.some(([p]) => p === fs.realpathSync('/usr/sbin/chroot')), JSON.stringify(execs));
  assert.ok(tr.of(T, 'exit').every((e) => e.code === 0));
});

test('bad commands are answered, not fatal', { skip: skipReason }, async () => {
  const from = tr.records.length;
  tr.send('frobnicate 1');
  tr.send('launch 128 6c73');
  const errs = [];
  errs.push(await tr.waitFor((r) => r.t === 'command-error', { from, what: 'command-error' }));
  errs.push(await tr.waitFor((r) => r.t === 'command-error' && r.index > errs[0].index, { from, what: 'command-error 2' }));
  assert.equal(unhex(errs[0].line_hex), 'frobnicate 1');
  await tr.flush('still-alive');
});
