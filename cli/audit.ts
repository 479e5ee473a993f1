import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ingestAuditLog } from '../audit/ingest.js';
import { buildOutputs } from '../core/outputs.js';
import { archFromNode, isArch } from '../core/syscalls.js';
import type { Context } from '../core/context.js';

export interface IngestCommandOptions {
  file: string;
  profile?: string;
  arch?: string;
  out: string;
  namespace: string;
  name?: string;
  context: Context;
}

/** `audit ingest`: an offline audit log (complain-mode AppArmor, SCMP_ACT_LOG seccomp) becomes a model and its profiles. */
export async function ingestCommand(opts: IngestCommandOptions): Promise<string> {
  const arch = opts.arch ?? archFromNode(process.arch);
  if (!isArch(arch)) throw new Error(`unsupported architecture ${arch} (x86_64, aarch64)`);
  const started = Date.now();
  const { behaviors, counters, samples } = await ingestAuditLog({ file: opts.file, arch, ...(opts.profile ? { profile: opts.profile } : {}) });
  const times = Object.values(behaviors).flatMap((items) => Object.values(items ?? {}).flatMap((i) => [i.first, i.last]));
  const name = opts.name ?? (opts.profile ?? basename(opts.file)).toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
  const outputs = buildOutputs({
    namespace: opts.namespace,
    name: name || 'audit',
    target: `audit:${opts.file}${opts.profile ? `#${opts.profile}` : ''}`,
    behaviors,
    counters: { [`audit/${opts.file}`]: counters },
    arches: [arch],
    window: { start: times.length ? Math.min(...times) : started, end: times.length ? Math.max(...times) : started },
    nodes: [{ node: 'offline', state: 'completed', reason: 'log-ingested', at: started }],
    batches: 0,
    timings: { ingestMs: Date.now() - started },
    context: opts.context,
    samples,
  });
  await mkdir(opts.out, { recursive: true });
  for (const f of outputs.files) await writeFile(join(opts.out, f.name), f.content);
  return [
    `${opts.file}: ${Object.entries(counters).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `model: ${Object.entries(outputs.report.counts).map(([k, v]) => `${v} ${k}`).join(', ') || 'no behavior'}`,
    ...outputs.files.map((f) => `  ${f.name.padEnd(24)} ${join(opts.out, f.name)}`),
    '',
  ].join('\n');
}
