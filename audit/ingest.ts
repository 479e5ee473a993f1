import { statSync } from 'node:fs';
import { mergeInto, type BehaviorSet } from '../core/behavior.js';
import { isArch } from '../core/syscalls.js';
import { Attributor, type Attribution } from './attribute.js';
import { FileTailer } from './tail.js';

export interface IngestOptions {
  file: string;
  /** Only this AppArmor profile (and its children `profile//...`); seccomp records then count only when their subj names it. */
  profile?: string;
  /** Only seccomp records of this architecture (x86_64, aarch64). */
  arch?: string;
}

export interface IngestResult {
  behaviors: BehaviorSet;
  counters: Record<string, number>;
  samples: string[];
}

/**
 * One audit log file, read once from the start (streamed, bounded memory), as one behavior set.
 * Without a profile the whole file is the target: every confined AppArmor record and every seccomp record.
 */
export async function ingestAuditLog(opts: IngestOptions): Promise<IngestResult> {
  if (opts.arch !== undefined && !isArch(opts.arch)) throw new Error(`unsupported architecture ${opts.arch}`);
  const target = 'ingest';
  const attribution: Attribution = opts.profile
    ? { profile: (name) => (name === opts.profile ? target : undefined) }
    : { profile: (name) => (name === 'unconfined' ? undefined : target), pid: () => target };
  const attributor = new Attributor(attribution, { replica: `ingest/${opts.file}`, ...(opts.arch ? { arch: opts.arch } : {}) });
  const tailer = new FileTailer({ sources: [opts.file], start: 'beginning' });
  try {
    // Yield between chunks so a large file does not starve the event loop.
    const sink = (line: string) => attributor.line(line);
    statSync(opts.file); // a missing file is an error here, not a source still to appear
    while (tailer.poll(sink) > 0) await new Promise((r) => setImmediate(r));
    tailer.flush(sink);
  } finally {
    tailer.close();
  }
  const behaviors = mergeInto({}, attributor.drain().get(target) ?? {});
  return { behaviors, counters: { ...attributor.counters, ...tailer.counters }, samples: [...attributor.samples] };
}
