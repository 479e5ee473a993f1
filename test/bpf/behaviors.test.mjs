// Behaviors that need a peer outside the workload: signals to an outside
// process (external), ptrace of the workload's own child (self), and
// process_vm_readv/writev (AppArmor's ptrace read/trace) of both.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Tracer, loadable, which, sleep, unhex, BPF_DIR, isX86 } from './harness.mjs';

const skipReason = await loadable(test, assert);
const tr = skipReason ? null : new Tracer();
if (tr) await tr.waitFor((r) => r.t === 'ready', { timeout: 30000 });
after(async () => { if (tr) assert.equal((await tr.quit()).code, 0); });

test('signals: to a child are self, to an outside process external; kernel signals are not recorded', { skip: skipReason }, async () => {
  const outsider = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    await sleep(50);
    const T = 31;
    const l = await tr.launch(T, ['sh', '-c', `kill -WINCH ${outsider.pid}; sleep 5 & kill -TERM $!; wait; true`]);
    assert.equal(l.t, 'launched');
    await tr.waitFor((r) => r.t === 'target-empty' && r.target === T, { what: 'target-empty' });
    await tr.flush('s');
    const sigs = tr.of(T, 'signal').map((s) => `${s.peer}:${s.name}`);
    assert.ok(sigs.includes('external:winch'), sigs.join());
    assert.ok(sigs.includes('self:term'), sigs.join());
    assert.ok(!sigs.some((s) => s.endsWith(':chld')), 'SIGCHLD from the kernel is not a sent signal');
    assert.equal(tr.of(T, 'signal').find((s) => s.peer === 'external').to, outsider.pid);
  } finally {
    outsider.kill('SIGKILL');
  }
});

test('ptrace of a traced child is recorded as trace of self', { skip: skipReason || (!which('strace') && 'strace not installed') }, async () => {
  const T = 32;
  const l = await tr.launch(T, ['strace', '-f', '-o', '/dev/null', 'true']);
  assert.equal(l.t, 'launched');
  await tr.waitFor((r) => r.t === 'target-empty' && r.target === T, { what: 'target-empty' });
  await tr.flush('p');
  const pt = tr.of(T, 'ptrace');
  assert.ok(pt.some((p) => p.mode === 'trace' && p.peer === 'self'), JSON.stringify(pt));
  const caps = tr.of(T, 'capability');
  assert.ok(caps.every((c) => typeof c.granted === 'boolean'));
});

// process_vm_readv/writev of its own child (self), of an outside process
// (external, the first address of its maps), then as nobody a refused writev
// of the outside process (-EPERM); an mprotect(PROT_EXEC) of a file mapped
// read-only (mmap) and of anonymous memory (nothing).
const PEERS_C = String.raw`
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
  pid_t out = atoi(argv[1]);
  static char src[8] = "abcdefg";
  char buf[8];
  struct iovec l = {buf, 8}, r = {src, 8};
  pid_t c = fork();
  if (c == 0) { pause(); _exit(0); }
  if (process_vm_readv(c, &l, 1, &r, 1, 0) != 8 || process_vm_writev(c, &l, 1, &r, 1, 0) != 8) return 3;
  kill(c, SIGKILL);
  waitpid(c, 0, 0);
  char p[64];
  snprintf(p, sizeof p, "/proc/%d/maps", out);
  FILE *f = fopen(p, "r");
  unsigned long a = 0;
  if (!f || fscanf(f, "%lx", &a) != 1) return 4;
  struct iovec ro = {(void *)a, 8};
  if (process_vm_readv(out, &l, 1, &ro, 1, 0) != 8) return 5;
  int fd = open(argv[2], O_RDONLY);
  void *m = mmap(0, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
  void *anon = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED || mprotect(m, 4096, PROT_READ | PROT_EXEC) || mprotect(anon, 4096, PROT_READ | PROT_EXEC)) return 6;
  if (setuid(65534)) return 7;
  return process_vm_writev(out, &l, 1, &ro, 1, 0) == -1 ? 0 : 8;
}
`;

test('process_vm_readv/writev are ptrace read/trace of self and external peers, refused ones too; mprotect(PROT_EXEC) of a file is mmap; a bystander is invisible',
  { skip: skipReason || (!which('gcc') && 'gcc not installed') }, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'varmor-peers-'));
    const outsider = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const bin = path.join(dir, 'peers');
      fs.writeFileSync(path.join(dir, 'peers.c'), PEERS_C);
      const cc = spawnSync('gcc', ['-O1', '-o', bin, path.join(dir, 'peers.c')], { encoding: 'utf8' });
      assert.equal(cc.status, 0, cc.stderr);
      // mine.bin is on overlayfs: its mapping's vm_file is the layer's (backing) file
      for (const d of ['lower', 'upper', 'work', 'ov']) fs.mkdirSync(path.join(dir, d));
      fs.writeFileSync(path.join(dir, 'lower', 'mine.bin'), 'x'.repeat(4096));
      fs.writeFileSync(path.join(dir, 'theirs.bin'), 'x'.repeat(4096));
      const ov = path.join(dir, 'ov');
      const mnt = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${dir}/lower,upperdir=${dir}/upper,workdir=${dir}/work`, ov], { encoding: 'utf8' });
      assert.equal(mnt.status, 0, mnt.stderr);
      await sleep(50);
      // the bystander does the same, untracked
      const by = spawnSync(bin, [String(outsider.pid), path.join(dir, 'theirs.bin')]);
      assert.equal(by.status, 0, 'bystander ran');
      const T = 33;
      const l = await tr.launch(T, [bin, String(outsider.pid), path.join(ov, 'mine.bin')]);
      assert.equal(l.t, 'launched');
      const exit = await tr.waitFor((r) => r.t === 'exit' && r.target === T && r.pid === l.pid, { what: 'exit' });
      assert.equal(exit.code, 0, 'every call did what the test expects');
      await tr.flush('vm');
      const pt = tr.of(T, 'ptrace').map((p) => `${p.op}|${p.mode}|${p.peer}|${p.ret}|${p.peer === 'external' ? p.to : ''}`).sort();
      assert.deepEqual(pt, [
        `process_vm_readv|read|external|0|${outsider.pid}`,
        'process_vm_readv|read|self|0|',
        `process_vm_writev|trace|external|-1|${outsider.pid}`,
        'process_vm_writev|trace|self|0|',
      ]);
      const child = tr.of(T, 'exit').find((e) => e.pid !== l.pid);
      assert.ok(tr.of(T, 'ptrace').filter((p) => p.peer === 'self').every((p) => p.to === child.pid), 'self peer is the child');
      assert.ok(tr.of(T, 'ptrace').every((p) => p.request === undefined), 'no ptrace request number');
      const mmaps = tr.of(T, 'file').filter((f) => f.perms.includes('mmap'));
      const mine = mmaps.find((f) => unhex(f.path_hex) === path.join(ov, 'mine.bin'));
      assert.ok(mine && !mine.disconnected, `the overlay path, not the layer's: ${mmaps.map((f) => unhex(f.path_hex))}`);
      assert.ok(!tr.records.some((r) => r.pid === by.pid), 'bystander pid');
      assert.ok(!tr.records.some((r) => r.path_hex && unhex(r.path_hex).endsWith('theirs.bin')), 'bystander file');
    } finally {
      outsider.kill('SIGKILL');
      spawnSync('umount', [path.join(dir, 'ov')]);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

test('names through symlinked directories are recorded resolved; a magic link is kept as written and flagged unresolved',
  { skip: skipReason }, async () => {
    const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'varmor-names-')));
    try {
      fs.mkdirSync(path.join(dir, 'real'));
      fs.symlinkSync('real', path.join(dir, 'link'));
      for (const f of ['a', 'b', 'c']) fs.writeFileSync(path.join(dir, 'real', f), '');
      const T = 34;
      // rm exits long before the loader reads its records: the target's root is still known
      const l = await tr.launch(T, ['sh', '-c', `cd ${dir} && rm link/a && rm ${dir}/link/../link/b && mkdir link/d && rm /proc/self/cwd/link/c`]);
      assert.equal(l.t, 'launched');
      await tr.waitFor((r) => r.t === 'target-empty' && r.target === T, { what: 'target-empty' });
      const flushed = await tr.flush('names');
      const got = new Map(tr.of(T, 'file').map((f) => [unhex(f.path_hex), f]));
      for (const p of ['real/a', 'real/b', 'real/d']) assert.ok(got.has(path.join(dir, p)) && !got.get(path.join(dir, p)).unresolved, `${p}: ${[...got.keys()]}`);
      assert.ok(![...got.keys()].some((p) => p.startsWith(path.join(dir, 'link'))), 'no path through the symlink');
      const magic = got.get(`/proc/self/cwd/link/c`);
      assert.ok(magic && magic.unresolved === true && magic.perms.includes('delete'), JSON.stringify(magic));
      assert.ok(flushed.find((r) => r.t === 'stats' && r.target === T).names_unresolved >= 1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

// The arguments seccomp rules compare: ioctl requests (one passed sign-extended, as a negative
// int constant is), personality, prctl options (one twice: reported once, counted), the level and
// name of setsockopt/getsockopt; attempts count whatever the result (fd 99 is not open); repeats
// are reported once.
const ARGS_C = String.raw`
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void) {
  struct winsize w;
  ioctl(99, TIOCGWINSZ, &w);
  syscall(SYS_ioctl, 99, (long)(int)0x80086601, 0);
  personality(0xffffffff);
  prctl(PR_SET_NAME, "argtest");
  prctl(PR_GET_DUMPABLE);
  prctl(PR_GET_DUMPABLE);
  int n;
  for (int i = 0; i < 1000; i++) ioctl(99, FIONREAD, &n);
  int s = socket(AF_INET, SOCK_STREAM, 0), one = 1, type;
  socklen_t len = sizeof type;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &len);
  return 0;
}
`;

test('arguments: ioctl requests, personality, prctl options, socket option levels and names, each tuple once',
  { skip: skipReason || (!which('gcc') && 'gcc not installed') }, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'varmor-args-'));
    try {
      const bin = path.join(dir, 'args');
      fs.writeFileSync(path.join(dir, 'args.c'), ARGS_C);
      const cc = spawnSync('gcc', ['-O1', '-o', bin, path.join(dir, 'args.c')], { encoding: 'utf8' });
      assert.equal(cc.status, 0, cc.stderr);
      const T = 36;
      const l = await tr.launch(T, [bin]);
      assert.equal(l.t, 'launched');
      await tr.waitFor((r) => r.t === 'exit' && r.target === T && r.pid === l.pid, { what: 'exit' });
      await tr.flush('args');
      const nr = JSON.parse(fs.readFileSync(path.resolve(BPF_DIR, '../core/data/syscalls.json'), 'utf8'))[isX86 ? 'x86_64' : 'aarch64'];
      const byName = (name) => tr.of(T, 'arg').filter((a) => nr[a.nr] === name);
      const args = tr.of(T, 'arg').map((a) => `${nr[a.nr]} ${a.value}${a.value2 !== '0x0' ? ` ${a.value2}` : ''}`);
      for (const want of ['ioctl 0x5413', 'ioctl 0xffffffff80086601', 'personality 0xffffffff', 'prctl 0xf', 'prctl 0x3', 'setsockopt 0x1 0x2', 'getsockopt 0x1 0x3']) {
        assert.ok(args.includes(want), `${want} missing from ${args.join('; ')}`);
      }
      assert.equal(byName('prctl').filter((a) => a.value === '0x3').length, 1, 'a repeated tuple is reported once');
      assert.ok(byName('ioctl').every((a) => a.ret < 0), 'failed attempts are recorded');
      // 1000 more of one request: still one record (the slot's argument cache answers repeats)
      assert.equal(byName('ioctl').filter((a) => a.value === '0x541b').length, 1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

// A TCP connection the workload accepts from itself (loopback) and a UDP datagram it sends: the
// accepted peer and the local port it came to, and the IP protocol of each endpoint.
const NET_PY = `
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
port = s.getsockname()[1]
c = socket.create_connection(("127.0.0.1", port)); a, peer = s.accept()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.sendto(b"x", ("127.0.0.1", 9))
s6 = socket.socket(socket.AF_INET6); s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0); s6.bind(("::", 0)); s6.listen(1)
c6 = socket.create_connection(("127.0.0.1", s6.getsockname()[1])); a6, peer6 = s6.accept()
print(port, peer[1], flush=True)
`;

test('network: accepted connections with their peer and local port; connect, bind and sendto carry the protocol', { skip: skipReason || (!which('python3') && 'python3 not installed') }, async () => {
  const T = 37;
  const l = await tr.launch(T, ['python3', '-c', NET_PY]);
  assert.equal(l.t, 'launched');
  await tr.waitFor((r) => r.t === 'exit' && r.target === T && r.pid === l.pid, { what: 'exit' });
  await tr.flush('net');
  const binds = tr.of(T, 'bind').filter((b) => b.family === 'inet');
  const port = binds.find((b) => b.op === 'listen')?.port;
  assert.ok(port > 0, JSON.stringify(binds));
  assert.ok(binds.every((b) => b.protocol === 6), `bind protocol: ${JSON.stringify(binds)}`);
  const accepted = tr.of(T, 'accept');
  assert.deepEqual(accepted.filter((a) => a.family === 'inet').map((a) => `${a.family}|${a.address}|${a.port}|${a.protocol}`), [`inet|127.0.0.1|${port}|6`]);
  // a dual-stack listener: bound to :: (all 16 bytes read), its IPv4 peer as the mapped address
  const v6 = tr.of(T, 'bind').find((b) => b.family === 'inet6' && b.op === 'listen');
  assert.equal(v6?.address, '::', JSON.stringify(tr.of(T, 'bind')));
  assert.ok(tr.of(T, 'accept').some((a) => a.family === 'inet6' && a.address === '::ffff:127.0.0.1' && a.port === v6.port), JSON.stringify(tr.of(T, 'accept')));
  const egress = tr.of(T, 'connect').filter((c) => c.family === 'inet').map((c) => `${c.address}|${c.port}|${c.protocol}`);
  assert.ok(egress.includes(`127.0.0.1|${port}|6`), egress.join());
  assert.ok(egress.includes('127.0.0.1|9|17'), `sendto over UDP: ${egress.join()}`);
});
