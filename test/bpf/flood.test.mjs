// Lost events: a flood of distinct paths and binaries through a deliberately
// small ring buffer. Every loss must be counted, the tracer must keep running
// and answer flush, and its memory must stay bounded.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BUSYBOX, Tracer, loadable, unhex, which } from './harness.mjs';

let skipReason = await loadable(test, assert);
if (!skipReason && !which('gcc')) skipReason = 'gcc not installed';
if (!skipReason && !BUSYBOX) skipReason = 'busybox not installed';

const FILES = 200000;
const BINARIES = 2000;

const FLOOD_C = String.raw`
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
  const char *dir = argv[1], *bins = argv[2];
  int nfiles = atoi(argv[3]), nbins = atoi(argv[4]);
  char p[4096];
  for (int i = 0; i < nbins; i++) {
    snprintf(p, sizeof p, "%s/b%05d", bins, i);
    pid_t c = fork();
    if (c == 0) { char *a[] = {"true", 0}; execv(p, a); _exit(127); }
    waitpid(c, 0, 0);
  }
  for (int i = 0; i < nfiles; i++) {
    snprintf(p, sizeof p, "%s/f%07d", dir, i);
    int fd = open(p, O_CREAT | O_WRONLY, 0644);
    if (fd >= 0) close(fd);
  }
  return 0;
}
`;

// tmpfs when there is one: the flood is about the tracer, not the disk
const base = fs.existsSync('/dev/shm') && fs.statfsSync('/dev/shm').type === 0x01021994 ? '/dev/shm' : os.tmpdir();
const tmp = skipReason ? null : fs.mkdtempSync(path.join(base, 'varmor-flood-'));
after(() => { if (tmp) fs.rmSync(tmp, { recursive: true, force: true }); });

test('flood: every loss counted, memory bounded, tracer still answers', { skip: skipReason, timeout: 90000 }, async () => {
  const dir = path.join(tmp, 'files'), bins = path.join(tmp, 'bins');
  fs.mkdirSync(dir);
  fs.mkdirSync(bins);
  fs.writeFileSync(path.join(tmp, 'flood.c'), FLOOD_C);
  const cc = spawnSync('gcc', ['-O2', '-o', path.join(tmp, 'flood'), path.join(tmp, 'flood.c')], { encoding: 'utf8' });
  assert.equal(cc.status, 0, cc.stderr);
  // distinct binaries: hard links of busybox (each its own path)
  fs.copyFileSync(BUSYBOX, path.join(bins, 'b00000'));
  fs.chmodSync(path.join(bins, 'b00000'), 0o755);
  for (let i = 1; i < BINARIES; i++) fs.linkSync(path.join(bins, 'b00000'), path.join(bins, `b${String(i).padStart(5, '0')}`));

  // a 64 KiB ring buffer cannot hold the flood unless the loader keeps up
  const tr = new Tracer(['--ringbuf-kb', '64']);
  await tr.waitFor((r) => r.t === 'ready', { timeout: 30000 });
  const T = 21;
  const t0 = Date.now();
  const l = await tr.launch(T, [path.join(tmp, 'flood'), dir, bins, String(FILES), String(BINARIES)]);
  assert.equal(l.t, 'launched');
  await tr.waitFor((r) => r.t === 'target-empty' && r.target === T, { timeout: 60000, what: 'flood end' });
  const elapsed = Date.now() - t0;
  const flushed = await tr.flush('flood');
  const stats = flushed.find((r) => r.t === 'stats' && r.target === T);

  const prefix = dir + '/f';
  const fileRecs = tr.of(T, 'file').filter((r) => unhex(r.path_hex).startsWith(prefix));
  const distinctFiles = new Set(fileRecs.map((r) => r.path_hex)).size;
  const execRecs = tr.of(T, 'exec').filter((r) => unhex(r.path_hex).startsWith(bins + '/b'));
  const distinctBins = new Set(execRecs.map((r) => r.path_hex)).size;
  const lost = (FILES - distinctFiles) + (BINARIES - distinctBins);
  // every record that did not arrive is counted as dropped
  assert.ok(lost === 0 || stats.ringbuf_dropped >= lost,
    `lost ${lost} (files ${distinctFiles}/${FILES}, binaries ${distinctBins}/${BINARIES}) but ringbuf_dropped ${stats.ringbuf_dropped}`);
  assert.ok(stats.events >= FILES, `events counted: ${stats.events}`);
  assert.ok(stats.records > 0);

  // bounded memory: the loader's resident set stays small
  const rss = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${tr.proc.pid}/status`, 'utf8'))[1]);
  assert.ok(rss < 256 * 1024, `loader RSS ${rss} KiB`);

  // and it keeps working: a new target after the flood is recorded completely
  const T2 = 22;
  const l2 = await tr.launch(T2, [BUSYBOX, 'cat', '/etc/hostname']);
  assert.equal(l2.t, 'launched');
  await tr.waitFor((r) => r.t === 'target-empty' && r.target === T2, { what: 'after flood' });
  await tr.flush('after');
  assert.ok(tr.of(T2, 'file').some((r) => unhex(r.path_hex) === '/etc/hostname'));
  assert.equal((await tr.quit()).code, 0);
  console.log(`flood: ${elapsed} ms; files ${distinctFiles}/${FILES}, binaries ${distinctBins}/${BINARIES}, ` +
    `dropped ${stats.ringbuf_dropped}, records ${stats.records}, events ${stats.events}, loader RSS ${rss} KiB`);
});
