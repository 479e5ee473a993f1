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

/** What `apparmor_parser -d` says a compiled profile allows. */
export interface CompiledRules {
  /** Path (as the parser prints it, `//` folded) -> allow mode letters. */
  files: Map<string, string>;
  capabilities: string[];
}

/** Compiles the profile (-Q -K -d) and reads its file and capability rules; throws if it does not compile. */
export function compiledRules(text: string): CompiledRules {
  const r = parse(text, true);
  if (r.status !== 0) throw new Error(`apparmor_parser rejected the profile: ${r.err}`);
  const files = new Map<string, string>();
  for (const m of r.out.matchAll(/^Mode:\t([^:\t]*):[^\t]*\tName:\t\((.*)\)$/gm)) {
    const name = m[2]!.replace(/\/\/+/g, '/');
    files.set(name, [...new Set((files.get(name) ?? '') + m[1]!)].sort().join(''));
  }
  const caps = /^Capabilities:(.*)$/m.exec(r.out)?.[1]?.trim().split(/\s+/).filter(Boolean) ?? [];
  return { files, capabilities: caps.sort() };
}

/** vArmor model permission letters -> the parser's mode letters they must compile to. */
const MODE: Record<string, string> = { r: 'r', w: 'w', a: 'a', l: 'l', k: 'k', m: 'm', x: 'x', ix: 'x' };

/**
 * Differences between a compiled profile and the model's AppArmor result: every model file
 * rule must be compiled with (at least) its permissions, and the capabilities must be equal.
 * Returns one line per difference (empty: none).
 */
export function diffAgainstModel(compiled: CompiledRules, model: { files?: { path: string; permissions: string[] }[]; capabilities?: string[]; executions?: string[] }): string[] {
  const out: string[] = [];
  for (const f of model.files ?? []) {
    const name = Buffer.from(f.path, 'utf8').toString('latin1').replace(/\/\/+/g, '/');
    const mode = compiled.files.get(name);
    if (mode === undefined) {
      out.push(`file ${f.path}: no compiled rule`);
      continue;
    }
    for (const p of f.permissions) {
      const want = MODE[p] ?? p;
      if (![...want].every((c) => mode.includes(c))) out.push(`file ${f.path}: ${p} not in the compiled mode ${mode}`);
    }
  }
  for (const e of model.executions ?? []) {
    const mode = compiled.files.get(Buffer.from(e, 'utf8').toString('latin1'));
    if (!mode?.includes('x')) out.push(`execution ${e}: no compiled exec rule`);
  }
  const want = [...(model.capabilities ?? [])].sort();
  if (JSON.stringify(want) !== JSON.stringify(compiled.capabilities)) out.push(`capabilities: model ${want.join(',') || '-'}, compiled ${compiled.capabilities.join(',') || '-'}`);
  return out;
}
