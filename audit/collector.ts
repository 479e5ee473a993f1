import { existsSync } from 'node:fs';
import type { BehaviorSet } from '../core/behavior.js';
import type { Arch } from '../core/syscalls.js';
import { Attributor, type Attribution } from './attribute.js';
import { DEFAULT_SOURCES } from './sources.js';
import { FileTailer, KmsgReader, type Position } from './tail.js';

/**
 * The audit collector of one node: follows the first available audit source, attributes records
 * to targets and hands out behavior deltas. Run it next to the BPF tracer; checkpoint the deltas of
 * a poll together with position(), and a restart from that position repeats or loses nothing.
 */

export interface CollectorOptions {
  /** Search order, e.g. parseSources('/var/log/audit/audit.log|/var/log/kern.log|/dev/kmsg'). */
  sources?: readonly string[];
  attribution: Attribution;
  /** `<node>/audit/<instance>`: counts in the deltas are cumulative for this replica. */
  replica: string;
  arch?: Arch;
  /** From the last checkpoint; without it the collector starts at the end of the log. */
  position?: Position;
}

export interface PollResult {
  /** Bytes (file) or records (/dev/kmsg) read by this poll. */
  read: number;
  /** Per target: the items that changed since the previous poll (cumulative counts). */
  deltas: Map<string, BehaviorSet>;
  /** Cumulative counters: lines, records, rejections by reason, unattributed, rotations, ... */
  counters: Record<string, number>;
  /** A few rejected lines, for the report. */
  samples: string[];
}

type Source = FileTailer | KmsgReader;

export class AuditCollector {
  private source: Source | undefined;
  private readonly attributor: Attributor;

  constructor(private readonly opts: CollectorOptions) {
    this.attributor = new Attributor(opts.attribution, { replica: opts.replica, ...(opts.arch ? { arch: opts.arch } : {}) });
  }

  start(): void {
    const sources = this.opts.sources ?? DEFAULT_SOURCES;
    const position = this.opts.position;
    const kmsgFirst = sources.findIndex((s) => (s === '/dev/kmsg' || s.startsWith('unix:')) && KmsgReader.available(s));
    const files = kmsgFirst < 0 ? sources : sources.slice(0, kmsgFirst);
    // Files listed before the kernel's ring (/dev/kmsg, or unix:SOCKET for its relay) win when one exists; otherwise the ring is the source.
    if (kmsgFirst >= 0 && !files.some((f) => existsSync(f))) {
      this.source = new KmsgReader(sources[kmsgFirst], position?.path === sources[kmsgFirst] ? position : undefined);
    } else {
      this.source = new FileTailer({ sources: files, ...(position ? { position } : {}), start: 'end' });
    }
  }

  /** Reads what is new, a bounded amount per call: call again at once while `read` is non-zero. */
  poll(): PollResult {
    if (!this.source) throw new Error('AuditCollector.poll before start');
    const read = this.source.poll((line) => this.attributor.line(line));
    return { read, deltas: this.attributor.drain(), counters: this.counters(), samples: [...this.attributor.samples] };
  }

  position(): Position | undefined {
    return this.source?.position();
  }

  stop(): void {
    this.source?.close();
    this.source = undefined;
  }

  private counters(): Record<string, number> {
    const out = { ...this.attributor.counters };
    for (const [k, v] of Object.entries(this.source?.counters ?? {})) out[k] = (out[k] ?? 0) + v;
    return out;
  }
}
