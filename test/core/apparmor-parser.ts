/** Runs the real apparmor_parser on generated text (tests only: the core stays free of I/O). */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const haveParser = spawnSync('apparmor_parser', ['--version']).status === 0;

/** Compiles without loading (-Q) or caching (-K); `debug` adds -d and returns its output as latin1. */
export function parse(text: string, debug = false): { status: number | null; out: string; err: string } {
  const dir = mkdtempSync(join(tmpdir(), 'aa-'));
  try {
    const file = join(dir, 'profile');
    writeFileSync(file, text);
    const r = spawnSync('apparmor_parser', ['-Q', '-K', ...(debug ? ['-d'] : []), file]);
    return { status: r.status, out: r.stdout.toString('latin1'), err: r.stderr.toString('latin1') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
