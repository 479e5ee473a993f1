// Container targets: a real runc container (busybox-static rootfs plus a small
// static C workload) tracked with `track T container ID`; every behavior is
// asserted with the path/port/capability as the container sees it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BUSYBOX, Tracer, containerSkip, loadable, sh, unhex, unhexBuf, sleep } from './harness.mjs';

const skipReason = (await loadable(test, assert)) || containerSkip();

// The workload: every behavior a profile needs, then it idles until killed.
const WORKLOAD_C = String.raw`
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static void touch(const char *p) { int fd = open(p, O_CREAT | O_WRONLY, 0644); if (fd >= 0) close(fd); }

int main(int argc, char **argv) {
  int tcp = atoi(argv[1]), udp = atoi(argv[2]);
  chdir("/app");
  touch("rel.txt");                                   /* relative: /app/rel.txt create,write */
  int d = open("/etc", O_RDONLY | O_DIRECTORY);
  int fd = openat(d, "passwd", O_RDONLY);             /* dirfd-relative: /etc/passwd read */
  close(fd);
  fd = open("link", O_RDONLY);                        /* symlink: /app/target.txt read */
  close(fd);
  rename("rel.txt", "renamed.txt");                   /* /app/rel.txt rename, /app/renamed.txt create */
  fd = open("/data/in-bind.txt", O_CREAT | O_WRONLY | O_APPEND, 0644); /* bind mount, container view */
  write(fd, "x", 1);
  close(fd);
  mkdirat(AT_FDCWD, "newdir", 0755);                  /* create */
  unlinkat(d, "../app/target.txt", 0);               /* dirfd-relative delete, normalised */
  symlink("renamed.txt", "sym");                      /* /app/sym create */
  link("renamed.txt", "hard");                        /* /app/hard link */
  chmod("renamed.txt", 0600);
  chown("renamed.txt", 1000, 1000);                   /* CAP_CHOWN */
  fd = open("lockfile", O_CREAT | O_RDWR, 0644);
  flock(fd, LOCK_EX);                                 /* lock */
  close(fd);
  fd = open("/bin/busybox", O_RDONLY);
  void *m = mmap(0, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0); /* mmap */
  (void)m;
  close(fd);

  /* TCP listen + connect, UDP send, unix stream socket */
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(tcp) };
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(ls, (void *)&a, sizeof(a));
  listen(ls, 4);
  int cs = socket(AF_INET, SOCK_STREAM, 0);
  connect(cs, (void *)&a, sizeof(a));
  int us = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in ua = a;
  ua.sin_port = htons(udp);
  sendto(us, "x", 1, 0, (void *)&ua, sizeof(ua));
  int xs = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un xa = { .sun_family = AF_UNIX };
  strcpy(xa.sun_path, "/app/sock");
  bind(xs, (void *)&xa, sizeof(xa));
  listen(xs, 4);
  int xc = socket(AF_UNIX, SOCK_STREAM, 0);
  strcpy(xa.sun_path, "sock");                        /* relative: resolved via the peer */
  connect(xc, (void *)&xa, sizeof(xa));

  /* a signal to a child (self) */
  pid_t c = fork();
  if (c == 0) { pause(); _exit(0); }
  kill(c, SIGTERM);
  waitpid(c, 0, 0);

  /* mount tmpfs (CAP_SYS_ADMIN is granted), unshare in a child */
  mount("none", "/mnt", "tmpfs", MS_NOSUID | MS_NODEV, 0);
  c = fork();
  if (c == 0) { _exit(unshare(CLONE_NEWNS | CLONE_NEWUTS) ? 1 : 0); }
  waitpid(c, 0, 0);

  /* hostile names */
  mkdir("/app/h", 0755);
  touch("/app/h/new\nline");
  touch("/app/h/quo\"te'");
  touch("/app/h/br}ace,comma");
  touch("/app/h/\xff\xfe-bin");
  /* a path longer than PATH_MAX, built with relative steps */
  char comp[251];
  memset(comp, 'x', 250);
  comp[250] = 0;
  chdir("/app/h");
  for (int i = 0; i < 20; i++) { mkdir(comp, 0755); chdir(comp); }
  touch("deep");
  chdir("/app");

  touch("/app/done");
  for (;;) pause();
}
`;

let bundle;
const ID = crypto.randomBytes(32).toString('hex');
const cleanups = [];
after(() => { for (const f of cleanups.reverse()) try { f(); } catch {} });

function makeBundle(tcp, udp) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'varmor-oci-'));
  const rootfs = path.join(dir, 'rootfs');
  for (const d of ['bin', 'etc', 'app', 'proc', 'dev', 'sys', 'mnt', 'data', 'tmp']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
  fs.copyFileSync(BUSYBOX, path.join(rootfs, 'bin/busybox'));
  fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
  for (const a of ['sh', 'cat', 'ls', 'sleep']) fs.symlinkSync('busybox', path.join(rootfs, 'bin', a));
  fs.writeFileSync(path.join(rootfs, 'etc/passwd'), 'root:x:0:0::/:/bin/sh\n');
  fs.writeFileSync(path.join(rootfs, 'app/target.txt'), 'target\n');
  fs.symlinkSync('target.txt', path.join(rootfs, 'app/link'));
  fs.writeFileSync(path.join(dir, 'w.c'), WORKLOAD_C);
  sh('gcc', ['-static', '-O1', '-o', path.join(rootfs, 'bin/w'), path.join(dir, 'w.c')]);
  const hostData = fs.mkdtempSync(path.join(os.tmpdir(), 'varmor-bind-'));
  sh('runc', ['spec'], { cwd: dir });
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  config.process.terminal = false;
  config.process.args = ['/bin/w', String(tcp), String(udp)];
  config.root.readonly = false;
  // host network (the test connects on the host's loopback); own pid/mnt/ipc/uts namespaces
  config.linux.namespaces = config.linux.namespaces.filter((n) => n.type !== 'network');
  const caps = ['CAP_CHOWN', 'CAP_SYS_ADMIN', 'CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER'];
  for (const k of ['bounding', 'effective', 'permitted']) config.process.capabilities[k] = caps;
  delete config.process.capabilities.inheritable;
  delete config.process.capabilities.ambient;
  config.mounts.push({ destination: '/data', type: 'bind', source: hostData, options: ['rbind', 'rw'] });
  // runc's default masks /proc paths with bind mounts; keep them, they are the realistic setup
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 1));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }), () => fs.rmSync(hostData, { recursive: true, force: true }));
  return { dir, rootfs, hostData };
}

const files = (recs) => {
  const m = new Map();
  for (const r of recs.filter((x) => x.t === 'file')) {
    const k = unhexBuf(r.path_hex).toString('latin1');
    m.set(k, new Set([...(m.get(k) ?? []), ...r.perms]));
  }
  return m;
};
const L = (s) => Buffer.from(s).toString('latin1'); // file map keys are latin1 of the raw bytes

test('container target: every behavior, container-view paths, exec sessions apart, bystander invisible', { skip: skipReason, timeout: 120000 }, async () => {
  const tcp = 20000 + Math.floor(Math.random() * 20000), udp = tcp + 1;
  bundle = makeBundle(tcp, udp);
  const tr = new Tracer();
  cleanups.push(() => tr.proc.kill('SIGKILL'));
  await tr.waitFor((r) => r.t === 'ready', { timeout: 30000 });
  const T = 11;
  sh('runc', ['create', '--bundle', bundle.dir, ID]);
  cleanups.push(() => spawnSync('runc', ['delete', '-f', ID]));
  const state = JSON.parse(sh('runc', ['state', ID]));

  // unknown and too short ids are answered
  const none = await tr.request(`track ${T} container ${'0'.repeat(64)}`, (r) => r.t === 'tracked' && r.target === T);
  assert.equal(none.error, 'no such container');
  const short = await tr.request(`track ${T} container ${ID.slice(0, 8)}`, (r) => r.t === 'tracked' && r.target === T);
  assert.match(short.error, /12\.\.64/);

  // track by a 16-digit prefix, before the workload starts (runc create waits)
  const tracked = await tr.request(`track ${T} container ${ID.slice(0, 16)}`, (r) => r.t === 'tracked' && r.target === T && !r.error);
  assert.equal(tracked.container, ID);
  assert.equal(tracked.init, state.pid);
  assert.ok(tracked.pids >= 1);
  assert.equal(tracked.sessions, 0);
  assert.equal(tracked.mntns, fs.statSync(`/proc/${state.pid}/ns/mnt`).ino);

  // a bystander on the host doing the same kinds of things
  const byFile = path.join(os.tmpdir(), `varmor-bystander-${process.pid}`);
  const bystander = spawn(BUSYBOX, ['sh', '-c', `while :; do echo x > ${byFile}; cat ${byFile} >/dev/null; chown 0 ${byFile}; sleep 0.05; done`], { stdio: 'ignore' });
  cleanups.push(() => bystander.kill('SIGKILL'), () => fs.rmSync(byFile, { force: true }));

  sh('runc', ['start', ID]);
  const done = path.join(bundle.rootfs, 'app/done');
  for (let i = 0; i < 200 && !fs.existsSync(done); i++) await sleep(50);
  assert.ok(fs.existsSync(done), 'workload finished its steps');

  // an exec session: runc exec joins the namespaces, then execs
  sh('runc', ['exec', ID, '/bin/busybox', 'cat', '/etc/passwd']);
  await sleep(200);
  const flushed = await tr.flush('c1');
  const stats = flushed.find((r) => r.t === 'stats');
  assert.equal(stats.ringbuf_dropped, 0);

  const all = tr.of(T);
  const work = all.filter((r) => r.session === undefined);
  const sess = all.filter((r) => r.session === 'exec');

  // execs: the entrypoint, with its container path
  const execs = work.filter((r) => r.t === 'exec').map((r) => unhex(r.path_hex));
  assert.deepEqual(execs, ['/bin/w']);

  const f = files(work);
  const has = (p, ...perms) => {
    const got = f.get(L(p));
    assert.ok(got, `file ${JSON.stringify(p)} recorded; have: ${JSON.stringify([...f.keys()].filter((k) => !k.includes('xxxx')))}`);
    for (const perm of perms) assert.ok(got.has(perm), `${JSON.stringify(p)} has ${perm}: ${[...got]}`);
  };
  has('/app/rel.txt', 'create', 'write', 'rename', 'delete');
  has('/etc/passwd', 'read');
  has('/app/target.txt', 'read', 'delete');
  assert.ok(!f.has('/app/link'), 'the symlink is resolved');
  has('/app/renamed.txt', 'create', 'write', 'chmod', 'chown');
  has('/data/in-bind.txt', 'create', 'append');
  assert.ok(![...f.keys()].some((k) => k.includes(bundle.hostData) || k.includes(bundle.rootfs)), 'no host paths');
  has('/app/newdir', 'create');
  has('/app/sym', 'create');
  has('/app/hard', 'link');
  has('/app/lockfile', 'create', 'read', 'write', 'lock');
  has('/bin/busybox', 'read', 'mmap');
  has('/app/done', 'create');
  // hostile names, byte-exact
  has('/app/h/new\nline', 'create');
  has('/app/h/quo"te\'', 'create');
  has('/app/h/br}ace,comma', 'create');
  assert.ok(f.has('/app/h/' + Buffer.from([0xff, 0xfe]).toString('latin1') + '-bin'), 'non-UTF-8 name');
  const deep = work.find((r) => r.t === 'file' && unhex(r.path_hex).endsWith('/deep'));
  assert.ok(deep && deep.path_truncated === true && unhexBuf(deep.path_hex).length <= 4095, 'over-long path: tail kept and flagged');
  assert.equal(tr.garbage.length, 0, 'every line is JSON');

  // capabilities (lower-case names, verdict)
  const caps = work.filter((r) => r.t === 'capability');
  assert.ok(caps.some((c) => c.name === 'chown' && c.granted === true), JSON.stringify(caps));
  assert.ok(caps.some((c) => c.name === 'sys_admin' && c.granted === true), 'mount needs sys_admin');

  // network
  const socks = work.filter((r) => r.t === 'socket').map((r) => `${r.domain}/${r.type}/${r.protocol}`);
  for (const k of ['2/1/0', '2/2/0', '1/1/0']) assert.ok(socks.includes(k), `socket ${k}: ${socks}`);
  const binds = work.filter((r) => r.t === 'bind').map((r) => `${r.op}|${r.family}|${r.address ?? unhex(r.path_hex)}|${r.port ?? 0}`);
  for (const k of [`bind|inet|127.0.0.1|${tcp}`, `listen|inet|127.0.0.1|${tcp}`, 'bind|unix|/app/sock|0', 'listen|unix|/app/sock|0'])
    assert.ok(binds.includes(k), `${k}: ${binds}`);
  const conns = work.filter((r) => r.t === 'connect').map((r) => `${r.family}|${r.address ?? unhex(r.path_hex)}|${r.port ?? 0}`);
  for (const k of [`inet|127.0.0.1|${tcp}`, `inet|127.0.0.1|${udp}`, 'unix|/app/sock|0']) assert.ok(conns.includes(k), `${k}: ${conns}`);

  // signals, mounts, namespaces
  const sigs = work.filter((r) => r.t === 'signal');
  assert.ok(sigs.some((s) => s.name === 'term' && s.peer === 'self'), JSON.stringify(sigs));
  const mounts = work.filter((r) => r.t === 'mount');
  assert.ok(mounts.some((m) => unhex(m.path_hex) === '/mnt' && unhex(m.fstype_hex) === 'tmpfs' && m.ret === 0 &&
    m.flags.includes('nosuid') && m.flags.includes('nodev') && m.op === 'mount'), JSON.stringify(mounts));
  const ns = work.filter((r) => r.t === 'namespace');
  assert.ok(ns.some((n) => n.op === 'unshare' && n.ret === 0 && n.types.includes('mnt') && n.types.includes('uts')), JSON.stringify(ns));

  // the exec session: tagged, kept apart
  assert.ok(sess.some((r) => r.t === 'joined'), 'session join reported');
  assert.ok(sess.some((r) => r.t === 'exec' && unhex(r.path_hex) === '/bin/busybox'), JSON.stringify(sess.filter((r) => r.t === 'exec')));
  assert.ok(sess.some((r) => r.t === 'file' && unhex(r.path_hex) === '/etc/passwd' && r.perms.includes('read')));
  assert.ok(sess.some((r) => r.t === 'syscall'), 'session syscalls are their own set');
  assert.ok(!work.some((r) => r.t === 'exec' && unhex(r.path_hex) === '/bin/busybox'), 'session exec not in the workload');
  assert.ok(flushed.some((r) => r.t === 'counts' && r.target === T && r.session === 'exec'));

  // the bystander never shows up
  assert.ok(!tr.records.some((r) => r.pid === bystander.pid), 'bystander pid');
  assert.ok(!tr.records.some((r) => r.path_hex && unhex(r.path_hex).includes('varmor-bystander')), 'bystander file');

  // tallies: counts per object id
  const tallies = flushed.filter((r) => r.t === 'tallies' && r.target === T && !r.session);
  const passwd = work.find((r) => r.t === 'file' && unhex(r.path_hex) === '/etc/passwd');
  assert.ok(tallies.some((t) => t.counts[passwd.id] >= 1), 'tally for /etc/passwd');

  // stop: the container's processes exit, the target empties
  sh('runc', ['kill', ID, 'KILL']);
  await tr.waitFor((r) => r.t === 'target-empty' && r.target === T, { what: 'target-empty', timeout: 10000 });
  tr.send(`untrack ${T}`);
  await tr.waitFor((r) => r.t === 'untracked' && r.target === T);
  assert.equal((await tr.quit()).code, 0);
});
