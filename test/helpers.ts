import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../lib/package.js';
import { Keyring } from '../lib/keyring.js';
import type { ModelingStatus } from '../workflows/index.js';

export const CLI = join(PACKAGE_ROOT, 'bin', 'varmor-modeler.js');

export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `varmor-${prefix}-`));
}

/** A keyring with one fresh key, also set as VARMOR_MODELER_KEYS so the CLI processes a test starts share it. */
export async function testKeyring(): Promise<Keyring> {
  const dir = await tempDir('keys');
  await writeFile(join(dir, 'k1'), randomBytes(32).toString('base64'));
  process.env.VARMOR_MODELER_KEYS = dir;
  return Keyring.open(dir);
}

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Started {
  child: ChildProcess;
  /** Output so far. */
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves when the program has exited and its output is closed. */
  done: Promise<Ran>;
}

/** Starts a program in the background and collects its output; killed with SIGKILL after `timeoutMs`. */
export function start(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Started {
  const child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out.stderr += d.toString()));
  const done = new Promise<Ran>((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, ...out });
    });
  });
  return {
    child,
    get stdout() {
      return out.stdout;
    },
    get stderr() {
      return out.stderr;
    },
    done,
  };
}

/** Runs a program to completion and collects its output. */
export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<Ran> {
  return start(cmd, args, opts).done;
}

/** A long-running CLI process (`dev`, `worker`); resolves once it prints its banner. */
export async function daemon(args: string[], env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (/^workers /m.test(err)) resolve();
    });
    child.on('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}: ${err}`)));
  });
  return child;
}

/** Runs the CLI with its own state home, so tests never share a Temporal server or store. */
export function cli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs?: number): Promise<Ran> {
  return startCli(args, env, timeoutMs).done;
}

/** The CLI in the background (e.g. `record`, to drive the workload meanwhile and end the window with SIGINT). */
export function startCli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs?: number): Started {
  const e: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
  return start(process.execPath, [CLI, ...args], { env: e, timeoutMs });
}

/** `model status ID --json` of the CLI's server. */
export async function modelStatus(env: NodeJS.ProcessEnv, id: string): Promise<ModelingStatus> {
  const r = await cli(['model', 'status', id, '--json'], env);
  if (r.code !== 0) throw new Error(`model status ${id}: ${r.stderr}`);
  return JSON.parse(r.stdout) as ModelingStatus;
}

/** Polls `check` every half second until it holds; throws naming `what` after `ms`. */
export async function until(what: string, check: () => Promise<boolean>, ms = 90_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Why BPF tests cannot run here, or undefined when they can. */
export function bpfUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'BPF tracing needs root (or CAP_BPF+CAP_PERFMON)';
  return undefined;
}

/** A TCP port on 127.0.0.1 free right now (another process may still take it before it is bound). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
