// Capability checks that are a request for the privilege are capabilities;
// checks that only probe it (CAP_OPT_NOAUDIT, the overcommit check on every
// mmap of a root process, capset's inheritable check) are `noaudit` records
// and never reach the model's capabilities. Signals to the workload's own
// processes that have exited (zombies) are self, to live outsiders external.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Tracer, loadable, which, sleep } from './harness.mjs';
import { Recorder } from '../../dist/bpf/driver/recorder.js';

const skipReason = await loadable(test, assert);
const tr = skipReason ? null : new Tracer();
const ready = tr ? await tr.waitFor((r) => r.t === 'ready', { timeout: 30000 }) : null;
after(async () => { if (tr) assert.equal((await tr.quit()).code, 0); });

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'varmor-caps-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

let nextTarget = 40;
/** Runs argv as a target to its end; returns the model's behavior set and the target's records. */
async function model(argv, { during } = {}) {
  const T = nextTarget++;
  const l = await tr.launch(T, argv);
  assert.equal(l.t, 'launched', JSON.stringify(l));
  if (during) await during();
  await tr.waitFor((r) => r.t === 'target-empty' && r.target === T, { what: `end of ${argv.join(' ')}`, timeout: 60000 });
  await tr.flush(`t${T}`);
  const rec = new Recorder(T, 'test/tracer/0', 'x86_64');
  for (const r of tr.records) rec.accept(r);
  return { behaviors: rec.take(Date.now()).behaviors, records: tr.of(T) };
}

function compile(name, source) {
  const src = path.join(dir, `${name}.c`);
  const bin = path.join(dir, name);
  fs.writeFileSync(src, source);
  const cc = spawnSync('gcc', ['-O1', '-o', bin, src], { encoding: 'utf8' });
  assert.equal(cc.status, 0, cc.stderr);
  return bin;
}

const MMAPS = String.raw`
#include <sys/mman.h>
#include <stdlib.h>
#include <unistd.h>
int main(void) {
  for (int i = 0; i < 20000; i++) {
    char *p = mmap(0, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 1;
    p[0] = 1;
    munmap(p, 1 << 16);
    free(malloc(1 << 20)); /* mmap threshold: another mapping */
    sbrk(4096);
  }
  return 0;
}`;

test('the loader names the noaudit callers it found in kallsyms', { skip: skipReason }, () => {
  assert.equal(ready.noaudit, true, 'kallsyms addresses visible to root: noaudit classification must be on');
});

test('an mmap-heavy root program has no capability in the model; its overcommit checks are counted as noaudit', { skip: skipReason || (!which('gcc') && 'gcc not installed') }, async () => {
  assert.equal(process.getuid(), 0, 'needs root: the overcommit check asks CAP_SYS_ADMIN of root processes');
  const { behaviors, records } = await model([compile('mmaps', MMAPS)]);
  assert.deepEqual(Object.keys(behaviors.capabilities ?? {}), [], JSON.stringify(behaviors.capabilities));
  const probe = behaviors.noaudit?.sys_admin;
  assert.ok(probe, `sys_admin probe not counted: ${JSON.stringify(behaviors.noaudit)}`);
  assert.ok(probe.sets.callers.includes('security_vm_enough_memory_mm') || probe.sets.callers.includes('cap_vm_enough_memory'), JSON.stringify(probe.sets));
  const stats = records.filter((r) => r.t === 'stats').at(-1);
  assert.ok(stats.cap_noaudit >= 20000, `cap_noaudit ${stats.cap_noaudit}: every mmap's check counted`);
  assert.equal(stats.cap_slot_miss, 0, 'the learned stack slots always named the asker a walk names');
  assert.ok(records.filter((r) => r.t === 'capability').every((r) => r.noaudit === true));
});

test('busybox httpd serving requests has no capability in the model', { skip: skipReason || (!which('busybox') && 'busybox not installed') }, async () => {
  const www = path.join(dir, 'www');
  fs.mkdirSync(www, { recursive: true });
  fs.writeFileSync(path.join(www, 'index.html'), 'hello\n');
  const port = 18181;
  const { behaviors } = await model(['sh', '-c', `busybox httpd -f -p 127.0.0.1:${port} -h ${www} & s=$!; sleep 0.3; for i in 1 2 3; do busybox wget -q -O /dev/null http://127.0.0.1:${port}/index.html; done; kill $s; wait`]);
  assert.deepEqual(Object.keys(behaviors.capabilities ?? {}), [], JSON.stringify(behaviors.capabilities));
  assert.ok(behaviors.binds?.[`inet|127.0.0.1|${port}`], 'the server ran and bound its port');
});

test('python3 -m http.server serving requests has no capability in the model', { skip: skipReason || (!fs.existsSync('/usr/bin/python3') && 'Debian python3 missing') }, async () => {
  const port = 18182;
  const { behaviors } = await model(['/usr/bin/python3', '-m', 'http.server', '--bind', '127.0.0.1', '--directory', dir, String(port)], {
    during: async () => {
      for (let i = 0; i < 50; i++) {
        const r = spawnSync('busybox', ['wget', '-q', '-O', '/dev/null', `http://127.0.0.1:${port}/`]);
        if (r.status === 0) break;
        await sleep(100);
      }
      spawnSync('pkill', ['-f', `http.server --bind 127.0.0.1 --directory ${dir} ${port}`]);
    },
  });
  assert.ok(behaviors.binds?.[`inet|127.0.0.1|${port}`], 'the server ran and bound its port');
  assert.deepEqual(Object.keys(behaviors.capabilities ?? {}), [], JSON.stringify(behaviors.capabilities));
});

test('chown, binding port 81 and ping still give chown, net_bind_service and net_raw', { skip: skipReason || (!which('ping') && 'ping (iputils-ping) not installed') }, async () => {
  const f = path.join(dir, 'owned');
  fs.writeFileSync(f, '');
  const { behaviors } = await model(['sh', '-c', `chown nobody ${f} && /usr/bin/python3 -c "import socket; socket.socket().bind(('127.0.0.1', 81))" && ping -c1 -W1 127.0.0.1 >/dev/null`]);
  const granted = Object.entries(behaviors.capabilities ?? {}).filter(([, i]) => i.sets.verdict.includes('granted')).map(([k]) => k).sort();
  for (const cap of ['chown', 'net_bind_service', 'net_raw']) assert.ok(granted.includes(cap), `${cap} missing: ${granted}`);
  assert.ok(!granted.includes('sys_admin') && !granted.includes('setpcap'), `probes taken for use: ${granted}`);
  assert.ok(behaviors.capabilities.chown.sets.callers.length > 0, 'the caller is named');
});

// A child that exits and stays a zombie, then is signalled by its parent: self.
// A live process outside the target signalled: external.
const ZOMBIE = String.raw`
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
  pid_t c = fork();
  if (c == 0) _exit(0);
  usleep(200000);            /* c is a zombie now */
  kill(c, SIGTERM);
  if (argc > 1) kill(atoi(argv[1]), SIGCONT);
  waitpid(c, 0, 0);
  return 0;
}`;

test('a signal to the workload\'s own exited child is self; only a live outsider is external', { skip: skipReason || (!which('gcc') && 'gcc not installed') }, async () => {
  const bin = compile('zombie', ZOMBIE);
  const inside = await model([bin]);
  assert.deepEqual(Object.keys(inside.behaviors.signals ?? {}), ['self'], JSON.stringify(inside.behaviors.signals));
  assert.deepEqual(inside.behaviors.signals.self.sets.signals, ['term']);

  const outsider = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    await sleep(50);
    const both = await model([bin, String(outsider.pid)]);
    assert.deepEqual(both.behaviors.signals.external?.sets.signals, ['cont'], JSON.stringify(both.behaviors.signals));
    assert.deepEqual(both.behaviors.signals.self?.sets.signals, ['term']);
  } finally {
    outsider.kill('SIGKILL');
  }
});
