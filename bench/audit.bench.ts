/**
 * Audit collector benchmark (issue 6). Run after `npx tsc -p tsconfig.json`:
 *
 *   node dist/bench/audit.bench.js [--lines 1000000] [--gib 1]
 *
 * 1. Lines/s of parse + attribution over a generated mix of record kinds and framings, both from
 *    memory and through the file tailer, and of libapparmor's Python binding on the same file.
 * 2. RSS while tailing a generated file of --gib GiB: it must stay flat.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Attributor } from '../audit/attribute.js';
import { FileTailer } from '../audit/tail.js';

const here = dirname(fileURLToPath(import.meta.url));
const pyBench = resolve(here, '../../bench/audit/libapparmor_bench.py');

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const PROFILE = 'varmor-bench-web';
const OTHER = 'varmor-bench-other';

/**
 * Line i of the mix: mostly file accesses, as in modeling state, plus every other kind. Record
 * bodies repeat as in a complain-mode log (50 processes, 14,000 files, ~6,400 distinct bodies in a
 * million lines); `distinct` gives every line its own pid, so no body ever repeats (the worst case
 * for the attributor's repeat cache).
 */
function line(i: number, distinct = false): string {
  const t = `audit(${1700000000 + Math.floor(i / 1000)}.${String(i % 1000).padStart(3, '0')}:${i + 1000})`;
  const profile = i % 10 === 9 ? OTHER : PROFILE;
  const pid = distinct ? 100000 + i : 1000 + (i % 50);
  const file = `/usr/lib/app/module${i % 2000}/file${i % 7}.so`;
  switch (i % 20) {
    case 0: case 1: case 2: case 3: case 4: case 5: case 6:
      return `type=AVC msg=${t}: apparmor="ALLOWED" operation="open" profile="${profile}" name="${file}" pid=${pid} comm="app" requested_mask="r" denied_mask="r" fsuid=1000 ouid=0`;
    case 7: case 8:
      return `Nov 27 10:00:00 node-1 kernel: [  123.456789] audit: type=1400 ${t}: apparmor="ALLOWED" operation="file_mmap" profile="${profile}" name="${file}" pid=${pid} comm="app" requested_mask="mr" denied_mask="mr" fsuid=0 ouid=0`;
    case 9: case 10: case 11: case 12:
      return `type=SECCOMP msg=${t}: auid=4294967295 uid=0 gid=0 ses=4294967295 subj=${profile} (complain) pid=${pid} comm="app" exe="/usr/bin/app" sig=0 arch=c000003e syscall=${i % 300} compat=0 ip=0x7f0000001234 code=0x7ffc0000`;
    case 13:
      return `type=AVC msg=${t}: apparmor="ALLOWED" operation="create" profile="${profile}" pid=${pid} comm="app" family="inet" sock_type="stream" protocol=6 requested_mask="create" denied_mask="create"`;
    case 14:
      return `type=AVC msg=${t}: apparmor="ALLOWED" operation="capable" profile="${profile}" pid=${pid} comm="app" capability=12 capname="net_admin"`;
    case 15:
      return `type=AVC msg=${t}: apparmor="ALLOWED" operation="exec" profile="${profile}" name="/usr/bin/tool${i % 30}" pid=${pid} comm="sh" requested_mask="x" denied_mask="x" fsuid=0 ouid=0 target="${profile}//null-/usr/bin/tool${i % 30}"`;
    case 16:
      return `6,${i},123456789,-;audit: type=1400 ${t}: apparmor="ALLOWED" operation="mkdir" profile="${profile}" name=2F746D702F7769746820737061636520${(i % 100).toString(16).padStart(2, '0').toUpperCase()} pid=${pid} comm="app" requested_mask="c" denied_mask="c" fsuid=0 ouid=0`;
    case 17:
      return `type=AVC msg=${t}: apparmor="ALLOWED" operation="signal" profile="${profile}" pid=${pid} comm="app" requested_mask="send" denied_mask="send" signal=term peer="${profile}"`;
    case 18:
      return `type=SYSCALL msg=${t}: arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=7ffd a2=0 a3=0 items=1 ppid=1 pid=${pid} auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="app" exe="/usr/bin/app" key=(null)`;
    default:
      return `type=AVC msg=${t}: apparmor="ALLOWED" operation="connect" profile="${profile}" pid=${pid} comm="app" family="unix" sock_type="stream" protocol=0 requested_mask="send receive connect" denied_mask="send receive connect" addr=none peer_addr="/run/app${i % 5}.sock" peer="unconfined"`;
  }
}

function attributor(): Attributor {
  return new Attributor({ profile: (name) => (name === PROFILE ? 'web' : undefined) }, { replica: 'bench' });
}

function writeMix(path: string, lines: number, repeat = 1, distinct = false): number {
  const fd = openSync(path, 'w');
  let bytes = 0;
  const block = 10_000;
  for (let r = 0; r < repeat; r++) {
    for (let i = 0; i < lines; i += block) {
      const text = Array.from({ length: Math.min(block, lines - i) }, (_, k) => line(i + k, distinct)).join('\n') + '\n';
      bytes += writeSync(fd, text, null, 'latin1');
    }
  }
  closeSync(fd);
  return bytes;
}

/** Lines/s of the best of several runs, by wall clock and by this process's CPU time (which a busy neighbour on a shared VM inflates less). */
function best(runs: number, lines: number, f: () => void): { wall: number; cpu: number } {
  let wall = 0;
  let cpu = 0;
  for (let r = 0; r < runs; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    f();
    const w = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    wall = Math.max(wall, lines / w);
    cpu = Math.max(cpu, lines / ((c.user + c.system) / 1e6));
  }
  return { wall: Math.round(wall), cpu: Math.round(cpu) };
}

/** Child mode: tail one file through parse and attribution, sampling RSS every 64 MiB read. */
function tailRss(file: string): void {
  const a = attributor();
  const tailer = new FileTailer({ sources: [file], start: 'beginning' });
  const rss: number[] = [];
  const at: Record<string, Record<string, number>> = {};
  const mib = (b: number) => Math.round(b / 2 ** 20);
  let read = 0;
  let next = 0;
  let mark = 256 << 20;
  const t0 = performance.now();
  for (let got = tailer.poll((l) => a.line(l)); got > 0; got = tailer.poll((l) => a.line(l))) {
    read += got;
    if (read >= next) {
      rss.push(process.memoryUsage().rss);
      next += 64 << 20;
    }
    if (read >= mark) {
      // RSS as it is, then the live heap after a full GC: the state kept, without V8's lazy collection.
      const rssNow = process.memoryUsage().rss;
      (globalThis as { gc?: () => void }).gc?.();
      const m = process.memoryUsage();
      at[`${mark / 2 ** 20}MiB`] = { rss: mib(rssNow), rssAfterGc: mib(m.rss), heapAfterGc: mib(m.heapUsed), externalAfterGc: mib(m.external) };
      mark *= 2;
    }
    if (read % (256 << 20) < got) a.drain(); // as the collector does at each checkpoint
  }
  a.drain();
  const seconds = (performance.now() - t0) / 1000;
  tailer.close();
  console.log(JSON.stringify({ bytes: read, seconds: Number(seconds.toFixed(1)), mibPerSecond: Math.round(mib(read) / seconds), rssMiBAt: at, rssMiB: { first: mib(rss[0]!), min: mib(Math.min(...rss)), max: mib(Math.max(...rss)), last: mib(rss[rss.length - 1]!), samples: rss.length } }));
}

const tailArg = process.argv.indexOf('--tail-rss');
if (tailArg >= 0) {
  tailRss(process.argv[tailArg + 1]!);
  process.exit(0);
}

const dir = mkdtempSync(join(tmpdir(), 'audit-bench-'));
try {
  const n = arg('lines', 1_000_000);
  const mix = join(dir, 'mix.log');
  const bytes = writeMix(mix, n);

  // From memory: lines decoded one by one, as the tailer hands them out.
  const fromMemory = (file: string) => {
    const raw = readFileSync(file);
    const lines: string[] = [];
    for (let s = 0, nl = raw.indexOf(10); nl >= 0; s = nl + 1, nl = raw.indexOf(10, s)) lines.push(raw.toString('latin1', s, nl));
    return best(5, lines.length, () => {
      const a = attributor();
      for (const l of lines) a.line(l);
      a.drain();
    });
  };
  const memory = fromMemory(mix);
  const unique = join(dir, 'distinct.log');
  writeMix(unique, n, 1, true);
  const memoryDistinct = fromMemory(unique);
  rmSync(unique);

  // Through the tailer: read(2), split, decode, parse, attribute.
  let counters: Record<string, number> = {};
  const tailed = best(5, n, () => {
    const a = attributor();
    const tailer = new FileTailer({ sources: [mix], start: 'beginning' });
    while (tailer.poll((l) => a.line(l)) > 0);
    a.drain();
    tailer.close();
    counters = a.counters;
  });

  const py = spawnSync('/usr/bin/python3', [pyBench, mix], { encoding: 'utf8' });
  const libapparmor = py.status === 0 ? (JSON.parse(py.stdout) as { linesPerSecond: number; cpuLinesPerSecond: number; parsed: number }) : undefined;

  // RSS while tailing a large file, in a fresh process so the arrays above do not count.
  const gib = arg('gib', 1);
  const big = join(dir, 'big.log');
  writeMix(big, n, Math.max(1, Math.ceil((gib * 2 ** 30) / bytes)));
  const child = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--tail-rss', big], { encoding: 'utf8', maxBuffer: 1 << 20 });
  const tail = child.status === 0 ? JSON.parse(child.stdout) : `failed: ${child.stderr}`;

  console.log(
    JSON.stringify(
      {
        node: process.version,
        lines: n,
        bytes,
        parseAndAttributeLinesPerSecond: { fromMemory: memory, throughTailer: tailed, fromMemoryNoRepeats: memoryDistinct },
        libapparmorPythonLinesPerSecond: libapparmor ? { wall: Math.round(libapparmor.linesPerSecond), cpu: Math.round(libapparmor.cpuLinesPerSecond) } : `failed: ${py.stderr}`,
        libapparmorParsed: libapparmor?.parsed,
        counters,
        tail,
      },
      null,
      2,
    ),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
