import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../lib/home.js';

export const CLI = join(PACKAGE_ROOT, 'bin', 'varmor-modeler.js');

export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `varmor-${prefix}-`));
}

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion and collects its output. */
export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs the CLI with its own state home, so tests never share a Temporal server or store. */
export function cli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs?: number): Promise<Ran> {
  const e: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
  return run(process.execPath, [CLI, ...args], { env: e, timeoutMs });
}

/** Why BPF tests cannot run here, or undefined when they can. */
export function bpfUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'BPF tracing needs root (or CAP_BPF+CAP_PERFMON)';
  return undefined;
}
