import { closeSync, openSync, readSync } from 'node:fs';
import { mergeInto, type BehaviorSet } from '../core/behavior.js';
import { isArch } from '../core/syscalls.js';
import { Attributor, type Attribution } from './attribute.js';
import { JournalExport } from './journal.js';
import { FileTailer, type LineSink } from './tail.js';

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
  const sink = (line: string) => attributor.line(line);
  const read = isJournalExport(opts.file) ? await readJournal(opts.file, sink) : await readLog(opts.file, sink);
  const samples = [...attributor.samples, ...read.samples];
  const behaviors = mergeInto({}, attributor.drain().get(target) ?? {});
  return { behaviors, counters: { ...attributor.counters, ...read.counters }, samples };
}

interface Read {
  counters: Record<string, number>;
  samples: string[];
}

/** `journalctl -o export` output starts every entry, the first too, with its cursor. */
function isJournalExport(file: string): boolean {
  const fd = openSync(file, 'r'); // a missing file is an error here, not a source still to appear
  try {
    const head = Buffer.alloc(9);
    return readSync(fd, head, 0, 9, 0) === 9 && head.toString('latin1') === '__CURSOR=';
  } finally {
    closeSync(fd);
  }
}

/** A line-oriented log, streamed; yields between chunks so a large file does not starve the event loop. */
async function readLog(file: string, sink: LineSink): Promise<Read> {
  const tailer = new FileTailer({ sources: [file], start: 'beginning' });
  try {
    while (tailer.poll(sink) > 0) await new Promise((r) => setImmediate(r));
    tailer.flush(sink);
    return { counters: tailer.counters, samples: [] };
  } finally {
    tailer.close();
  }
}

/** A journal export, streamed through the entry reader: only what the kernel logged reaches sink. */
async function readJournal(file: string, sink: LineSink): Promise<Read> {
  const journal = new JournalExport();
  const fd = openSync(file, 'r');
  const buf = Buffer.allocUnsafe(1 << 20);
  let offset = 0;
  try {
    for (let n = readSync(fd, buf, 0, buf.length, offset); n > 0 && !journal.stopped; n = readSync(fd, buf, 0, buf.length, offset)) {
      journal.push(buf.subarray(0, n), sink);
      offset += n;
      await new Promise((r) => setImmediate(r));
    }
    journal.end(sink);
  } finally {
    closeSync(fd);
  }
  const samples = journal.stopped ? [`journal export: framing error within bytes ${offset}..; the rest of ${file} was not read`] : [];
  return { counters: journal.counters, samples };
}
