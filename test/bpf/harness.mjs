// Shared helpers for the BPF tracer tests: drives bpf/build/varmor-tracer over
// its stdin/stdout protocol (bpf/README.md). Importing this file runs no test.
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const BPF_DIR = path.resolve(here, '../../bpf');
export const BIN = path.join(BPF_DIR, 'build', 'varmor-tracer');

export const hex = (s) => Buffer.from(s).toString('hex');
export const unhexBuf = (h) => Buffer.from(h, 'hex');
export const unhex = (h) => Buffer.from(h, 'hex').toString();
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const which = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
export const isX86 = process.arch === 'x64';
/** a busybox binary on the host, or undefined */
export const BUSYBOX = ['/bin/busybox', '/usr/bin/busybox'].find((p) => fs.existsSync(p));

/** Runs a command; returns its stdout, throws with its stderr if it fails. */
export function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30000, ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** Why runc container tests cannot run here (they need runc, busybox-static and gcc -static), or false. */
export function containerSkip() {
  if (!which('runc')) return 'runc not installed';
  if (!BUSYBOX) return 'busybox-static not installed';
  if (!which('gcc')) return 'gcc not installed';
  if (spawnSync('gcc', ['-static', '-x', 'c', '-o', '/dev/null', '-'], { input: 'int main(){return 0;}' }).status !== 0)
    return 'gcc -static does not work (no static libc)';
  return false;
}

export class Tracer {
  /** `bin`: another command that runs the loader with our stdio (e.g. runc run, for a container). */
  constructor(args = [], bin = BIN) {
    this.proc = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.records = [];
    this.waiters = new Set();
    this.stderr = '';
    this.garbage = [];
    this.proc.stderr.on('data', (d) => { this.stderr += d; });
    this.proc.stdin.on('error', () => {});
    this.exited = new Promise((res) => this.proc.on('exit', (code, signal) => res({ code, signal })));
    createInterface({ input: this.proc.stdout, crlfDelay: Infinity }).on('line', (line) => {
      let rec;
      try {
        rec = JSON.parse(line);
      } catch {
        this.garbage.push(line);
        return;
      }
      rec.index = this.records.length;
      this.records.push(rec);
      for (const w of this.waiters) w.check(rec);
    });
  }

  send(line) { this.proc.stdin.write(line + '\n'); }

  waitFor(pred, { timeout = 10000, from = 0, what = 'record' } = {}) {
    const hit = this.records.slice(from).find(pred);
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const w = {
        check: (rec) => {
          if (rec.index >= from && pred(rec)) { clearTimeout(timer); this.waiters.delete(w); resolve(rec); }
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(new Error(`timeout waiting for ${what}; stderr: ${this.stderr}; last records: ` +
          JSON.stringify(this.records.slice(-5))));
      }, timeout);
      this.waiters.add(w);
    });
  }

  async request(line, pred, what) {
    const from = this.records.length;
    this.send(line);
    return this.waitFor(pred, { from, what, timeout: 30000 });
  }

  async launch(target, argv) {
    return this.request(`launch ${target} ${argv.map(hex).join(' ')}`,
      (r) => (r.t === 'launched' || r.t === 'launch-failed') && r.target === target, `launch of ${target}`);
  }

  async flush(token, timeout = 30000) {
    const from = this.records.length;
    this.send(`flush ${token}`);
    // every target's flushed marker, then the flush's own (no target)
    const rec = await this.waitFor((r) => r.t === 'flushed' && r.token === token && r.target === undefined, { from, what: 'flushed', timeout });
    return this.records.slice(from, rec.index + 1);
  }

  of(target, t) { return this.records.filter((r) => r.target === target && (!t || r.t === t)); }

  async quit() {
    if (this.proc.exitCode === null && this.proc.stdin.writable) this.send('quit');
    return this.exited;
  }
}

/** Builds the tracer and checks that it can load; returns a skip reason or false. */
export async function loadable(test, assert) {
  const build = spawnSync('make', ['-C', BPF_DIR], { encoding: 'utf8' });
  if (build.status !== 0) {
    test('tracer builds', () => assert.fail(`make -C bpf failed:\n${build.stdout}\n${build.stderr}`));
    return 'tracer did not build';
  }
  const probe = new Tracer();
  const first = await probe.waitFor(() => true, { timeout: 30000, what: 'ready/error' }).catch((e) => ({ t: 'error', msg: e.message }));
  await probe.quit();
  if (first.t === 'ready') return false;
  const why = `varmor-tracer cannot load BPF here: ${first.msg ?? JSON.stringify(first)}`;
  if (process.getuid && process.getuid() === 0) test('tracer loads as root', () => assert.fail(why));
  return why;
}
