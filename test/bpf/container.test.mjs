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
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/mount.h>

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
  fd = open("/app/mp.bin", O_RDONLY);
  m = mmap(0, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
  mprotect(m, 4096, PROT_READ | PROT_EXEC);           /* made executable later: mmap */
  close(fd);

  /* symlinked directories inside names: recorded as resolved */
  touch("/data/x-via");
  unlink("/app/ldir/x-via");                          /* ldir -> /data (a bind mount): /data/x-via */
  mkdir("rdir/made", 0755);                           /* rdir -> sub: /app/sub/made */
  rename("rdir/made", "rdir/made2");

  /* io_uring opens (a child: /bin/uring) */
  pid_t u = fork();
  if (u == 0) { execl("/bin/uring", "uring", "/app/uring-r.txt", "/app/uring-w.txt", "/app/uring-fixed.txt", (char *)0); _exit(127); }
  waitpid(u, 0, 0);

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

  /* a signal to a child (self), after reading and writing its memory */
  static char mem[8] = "abcdefg";
  char got[8];
  struct iovec lv = {got, 8}, rv = {mem, 8};
  pid_t c = fork();
  if (c == 0) { pause(); _exit(0); }
  process_vm_readv(c, &lv, 1, &rv, 1, 0);             /* ptrace read of self */
  process_vm_writev(c, &lv, 1, &rv, 1, 0);            /* ptrace trace of self */
  kill(c, SIGTERM);
  waitpid(c, 0, 0);

  /* mount tmpfs (CAP_SYS_ADMIN is granted), unshare in a child */
  mount("none", "/mnt", "tmpfs", MS_NOSUID | MS_NODEV, 0);
  mount("none", "/app/mlink", "tmpfs", 0, 0);         /* mlink -> /app/mnt2: the mount point is /app/mnt2 */
  /* the new mount API: a tmpfs attached at /app/newmnt (dirfd-relative), a clone of /app/sub at /app/bindmnt */
  int fsfd = syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC);
  syscall(SYS_fsconfig, fsfd, FSCONFIG_SET_STRING, "source", "vsrc", 0, 0);
  syscall(SYS_fsconfig, fsfd, FSCONFIG_CMD_CREATE, 0, 0, 0);
  int mfd = syscall(SYS_fsmount, fsfd, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID);
  int app = open("/app", O_PATH | O_DIRECTORY);
  syscall(SYS_move_mount, mfd, "", app, "newmnt", MOVE_MOUNT_F_EMPTY_PATH);
  int tfd = syscall(SYS_open_tree, AT_FDCWD, "rdir", OPEN_TREE_CLONE);
  syscall(SYS_move_mount, tfd, "", AT_FDCWD, "/app/bindmnt", MOVE_MOUNT_F_EMPTY_PATH);
  c = fork();
  if (c == 0) { _exit(unshare(CLONE_NEWNS | CLONE_NEWUTS) ? 1 : 0); }
  waitpid(c, 0, 0);

  /* hostile names */
  mkdir("/app/h", 0755);
  touch("/app/h/new\nline");
  touch("/app/h/quo\"te'");
  touch("/app/h/br}ace,comma");
  touch("/app/h/\xff\xfe-bin");
  symlink("h", "/app/hl\n\"k");
  mkdir("/app/hl\n\"k/inner\xff", 0755);              /* through a hostile symlink: /app/h/inner\xff */
  /* a path longer than PATH_MAX, built with relative steps */
  char comp[251];
  memset(comp, 'x', 250);
  comp[250] = 0;
  chdir("/app/h");
  for (int i = 0; i < 20; i++) {
    mkdir(comp, 0755);
    chdir(comp);
    if (i == 13) { symlink(".", "sl"); mkdir("sl/longmade", 0755); } /* 3529 bytes, resolved */
  }
  touch("deep");
  chdir("/app");

  touch("/app/done");
  for (;;) pause();
}
`;

// io_uring opens without liburing: argv[1] opened for reading (IORING_OP_OPENAT),
// argv[2] created for writing (IORING_OP_OPENAT2), argv[3] created into the
// ring's fixed file table (a direct descriptor: no fd). Exit 0 if all worked.
const URING_C = String.raw`
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/io_uring.h>
#include <linux/openat2.h>

static int ring;
static struct io_uring_params p;
static char *sq, *cq;
static struct io_uring_sqe *sqes;

static int submit(struct io_uring_sqe *e) {
  unsigned *tail = (unsigned *)(sq + p.sq_off.tail), mask = *(unsigned *)(sq + p.sq_off.ring_mask);
  unsigned t = *tail;
  sqes[t & mask] = *e;
  ((unsigned *)(sq + p.sq_off.array))[t & mask] = t & mask;
  __atomic_store_n(tail, t + 1, __ATOMIC_RELEASE);
  if (syscall(SYS_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, 0, 0) != 1) return -1000;
  unsigned *head = (unsigned *)(cq + p.cq_off.head), cmask = *(unsigned *)(cq + p.cq_off.ring_mask);
  struct io_uring_cqe *c = (struct io_uring_cqe *)(cq + p.cq_off.cqes) + (*head & cmask);
  int res = c->res;
  __atomic_store_n(head, *head + 1, __ATOMIC_RELEASE);
  return res;
}

int main(int argc, char **argv) {
  if (argc != 4) return 2;
  ring = syscall(SYS_io_uring_setup, 4, &p);
  if (ring < 0) return 3;
  size_t sqsz = p.sq_off.array + p.sq_entries * sizeof(unsigned), cqsz = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  sq = mmap(0, sqsz > cqsz ? sqsz : cqsz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQ_RING);
  cq = sq;
  sqes = mmap(0, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES);
  if (sq == MAP_FAILED || sqes == MAP_FAILED || !(p.features & IORING_FEAT_SINGLE_MMAP)) return 4;
  struct io_uring_sqe e;
  memset(&e, 0, sizeof(e));
  e.opcode = IORING_OP_OPENAT;
  e.fd = AT_FDCWD;
  e.addr = (uintptr_t)argv[1];
  e.open_flags = O_RDONLY;
  if (submit(&e) < 0) return 5;
  struct open_how how = {.flags = O_WRONLY | O_CREAT | O_TRUNC, .mode = 0644};
  memset(&e, 0, sizeof(e));
  e.opcode = IORING_OP_OPENAT2;
  e.fd = AT_FDCWD;
  e.addr = (uintptr_t)argv[2];
  e.len = sizeof(how);
  e.addr2 = (uintptr_t)&how;
  if (submit(&e) < 0) return 6;
  int sparse[1] = {-1};
  if (syscall(SYS_io_uring_register, ring, IORING_REGISTER_FILES, sparse, 1)) return 7;
  memset(&e, 0, sizeof(e));
  e.opcode = IORING_OP_OPENAT;
  e.fd = AT_FDCWD;
  e.addr = (uintptr_t)argv[3];
  e.open_flags = O_WRONLY | O_CREAT;
  e.len = 0644;
  e.file_index = 1; /* slot 0 of the fixed file table */
  return submit(&e) == 0 ? 0 : 8;
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
  for (const d of ['sub', 'mnt2', 'newmnt', 'bindmnt']) fs.mkdirSync(path.join(rootfs, 'app', d));
  fs.symlinkSync('sub', path.join(rootfs, 'app/rdir'));
  fs.symlinkSync('/data', path.join(rootfs, 'app/ldir'));
  fs.symlinkSync('/app/mnt2', path.join(rootfs, 'app/mlink'));
  fs.writeFileSync(path.join(rootfs, 'app/mp.bin'), 'x'.repeat(4096));
  fs.writeFileSync(path.join(rootfs, 'app/uring-r.txt'), 'r\n');
  fs.writeFileSync(path.join(dir, 'w.c'), WORKLOAD_C);
  sh('gcc', ['-static', '-O1', '-o', path.join(rootfs, 'bin/w'), path.join(dir, 'w.c')]);
  fs.writeFileSync(path.join(dir, 'uring.c'), URING_C);
  sh('gcc', ['-static', '-O1', '-o', path.join(rootfs, 'bin/uring'), path.join(dir, 'uring.c')]);
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
  // and one doing io_uring opens
  fs.writeFileSync(byFile, 'x\n');
  const byUring = spawnSync(path.join(bundle.rootfs, 'bin/uring'), [byFile, `${byFile}-uring-w`, `${byFile}-uring-fixed`]);
  assert.equal(byUring.status, 0, 'bystander io_uring opens worked');
  cleanups.push(() => fs.rmSync(`${byFile}-uring-w`, { force: true }), () => fs.rmSync(`${byFile}-uring-fixed`, { force: true }));
  const fixedBefore = (await tr.flush('c0')).find((r) => r.t === 'stats' && r.target === T).uring_fixed;

  sh('runc', ['start', ID]);
  const done = path.join(bundle.rootfs, 'app/done');
  for (let i = 0; i < 200 && !fs.existsSync(done); i++) await sleep(50);
  assert.ok(fs.existsSync(done), 'workload finished its steps');

  // an exec session: runc exec joins the namespaces, then execs
  sh('runc', ['exec', ID, '/bin/busybox', 'cat', '/etc/passwd']);
  await sleep(200);
  const flushed = await tr.flush('c1');
  const stats = flushed.find((r) => r.t === 'stats' && r.target === T);
  assert.equal(stats.ringbuf_dropped, 0);

  const all = tr.of(T);
  const work = all.filter((r) => r.session === undefined);
  const sess = all.filter((r) => r.session === 'exec');

  // execs: the entrypoint, with its container path, and its io_uring child
  const execs = work.filter((r) => r.t === 'exec').map((r) => unhex(r.path_hex));
  assert.deepEqual(execs, ['/bin/w', '/bin/uring']);

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
  has('/app/mp.bin', 'read', 'mmap'); // mprotect(PROT_EXEC)
  // symlinked directories inside names: the resolved path, container view (ldir -> /data is a bind mount)
  has('/data/x-via', 'create', 'delete');
  has('/app/sub/made', 'create', 'rename', 'delete');
  has('/app/sub/made2', 'create', 'write');
  for (const p of ['/app/ldir/x-via', '/app/rdir/made', '/app/rdir/made2']) assert.ok(!f.has(p), `${p} is recorded resolved`);
  assert.ok(f.get('/app/h/inner' + Buffer.from([0xff]).toString('latin1'))?.has('create'), 'through a hostile symlink, non-UTF-8 name');
  has('/app/hl\n"k', 'create'); // the symlink itself
  assert.ok(![...f.keys()].some((k) => k.startsWith('/app/hl\n"k/')), 'hostile symlink resolved');
  const deep13 = '/app/h' + `/${'x'.repeat(250)}`.repeat(14);
  has(deep13 + '/longmade', 'create');
  assert.equal(L(deep13 + '/longmade').length, 3529);
  assert.ok(!work.some((r) => r.unresolved), 'every name resolved');
  assert.equal(stats.names_unresolved, 0);
  // io_uring opens: perms from their flags; the direct-descriptor one is counted, not recorded
  has('/app/uring-r.txt', 'read');
  has('/app/uring-w.txt', 'create', 'write');
  assert.ok(!f.get(L('/app/uring-r.txt')).has('write'));
  assert.ok(!f.has('/app/uring-fixed.txt'), 'fixed-file open has no path');
  assert.equal(stats.uring_fixed, fixedBefore + 1, 'fixed-file open counted');
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
  assert.ok(mounts.some((m) => unhex(m.path_hex) === '/app/mnt2' && m.op === 'mount' && m.ret === 0), 'mount through a symlink: its target');
  const moved = mounts.find((m) => unhex(m.path_hex) === '/app/newmnt');
  assert.ok(moved && moved.op === 'move_mount' && moved.ret === 0 && unhex(moved.fstype_hex) === 'tmpfs' &&
    unhex(moved.source_hex) === 'vsrc' && moved.flags.includes('move') && moved.flags.includes('nosuid'), JSON.stringify(moved));
  const clone = mounts.find((m) => m.op === 'open_tree');
  assert.ok(clone && unhex(clone.path_hex) === '/app/sub' && clone.ret === 0 && clone.flags.includes('bind'), JSON.stringify(clone));
  const bound = mounts.find((m) => unhex(m.path_hex) === '/app/bindmnt');
  assert.ok(bound && bound.op === 'move_mount' && bound.ret === 0 && bound.fstype_hex !== '', JSON.stringify(bound));
  // process_vm_readv/writev of its child: ptrace read and trace of self, the child's host pid
  const pt = work.filter((r) => r.t === 'ptrace');
  const exited = new Set(work.filter((r) => r.t === 'exit').map((r) => r.pid));
  assert.deepEqual(pt.map((p) => `${p.op}|${p.mode}|${p.peer}|${p.ret}`).sort(), ['process_vm_readv|read|self|0', 'process_vm_writev|trace|self|0']);
  assert.ok(pt.every((p) => exited.has(p.to)), 'peer is the child, by its host pid');
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
  assert.ok(!tr.records.some((r) => r.pid === bystander.pid || r.pid === byUring.pid), 'bystander pid');
  assert.ok(!tr.records.some((r) => r.path_hex && unhex(r.path_hex).includes('varmor-bystander')), 'bystander file');

  // tallies: counts per object id
  const tallies = flushed.filter((r) => r.t === 'tallies' && r.target === T && !r.session);
  const passwd = work.find((r) => r.t === 'file' && unhex(r.path_hex) === '/etc/passwd');
  assert.ok(tallies.some((t) => t.counts[passwd.id] >= 1), 'tally for /etc/passwd');

  // the model (the recorder over these records; built by tsc) and the profile's rules
  const dist = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../dist');
  assert.ok(fs.existsSync(path.join(dist, 'bpf/driver/recorder.js')), 'dist/ is built (npx tsc -p tsconfig.json)');
  const { Recorder } = await import(path.join(dist, 'bpf/driver/recorder.js'));
  const { appArmorProfile } = await import(path.join(dist, 'core/apparmor.js'));
  const rec = new Recorder(T, 'node/bpf/c', 'x86_64');
  for (const r of tr.records) rec.accept(r);
  const b = rec.take(Date.now()).behaviors;
  assert.deepEqual(b.ptraces.self.sets.perms, ['read', 'trace']);
  assert.ok(b.files['/app/mp.bin'].sets.perms.includes('mmap'));
  assert.ok(b.files['/app/sub/made'].sets.perms.includes('delete') && !b.files['/app/rdir/made']);
  assert.ok(b.files['/data/x-via'].sets.perms.includes('delete'));
  assert.deepEqual(b.files['/app/uring-w.txt'].sets.perms, ['create', 'write']);
  assert.deepEqual(b.mounts['/app/newmnt|tmpfs'].sets.ops, ['move_mount']);
  assert.deepEqual(b.mounts['/app/sub|'].sets, { flags: ['bind'], ops: ['open_tree'] });
  const profile = appArmorProfile(b, { name: 'c' }).text;
  for (const rule of ['mount options=(move) -> "/app/newmnt",', 'mount fstype=tmpfs -> "/app/mnt2",', '"/app/mp.bin" mr,', '"/data/x-via" w,'])
    assert.ok(profile.includes(`  ${rule}\n`), `${rule} in\n${profile}`);

  // stop: the container's processes exit, the target empties
  sh('runc', ['kill', ID, 'KILL']);
  await tr.waitFor((r) => r.t === 'target-empty' && r.target === T, { what: 'target-empty', timeout: 10000 });
  tr.send(`untrack ${T}`);
  await tr.waitFor((r) => r.t === 'untracked' && r.target === T);
  assert.equal((await tr.quit()).code, 0);
});
