import { observe, type BehaviorSet, type Category, type Replica } from '../core/behavior.js';
import { pathFromHex } from '../core/paths.js';
import { syscallName, type Arch } from '../core/syscalls.js';
import type { TracerRecord } from './loader.js';

/**
 * Turns one target's tracer records into behavior-set deltas, one per checkpoint. The kernel
 * reports each syscall once per target; the cumulative call counts come with every flush and are
 * put into every delta (a G-counter value, so re-sending them is harmless).
 */
export class Recorder {
  private delta: BehaviorSet = {};
  private sessions: BehaviorSet = {};
  private readonly syscallFirst = new Map<number, number>();
  private readonly syscallCounts = new Map<number, number>();
  private readonly seen = new Map<string, number>();
  private counters: Record<string, number> = {};
  events = 0;

  constructor(
    private readonly target: number,
    private readonly replica: Replica,
    private readonly arch: Arch,
  ) {}

  /** Feeds one record; returns false when it is not this target's. */
  accept(r: TracerRecord): boolean {
    if (r.t === 'stats') {
      for (const [k, v] of Object.entries(r)) if (typeof v === 'number') this.counters[k] = v;
      return true;
    }
    if (r.target !== this.target) return false;
    const at = Number(r.ts ?? Date.now());
    const into = r.session === 'exec' ? this.sessions : this.delta;
    switch (r.t) {
      case 'syscall': {
        const nr = Number(r.nr);
        if (!this.syscallFirst.has(nr)) this.syscallFirst.set(nr, at);
        this.events++;
        break;
      }
      case 'counts':
        for (const [nr, count] of Object.entries(r.syscalls as Record<string, number>)) this.syscallCounts.set(Number(nr), count);
        break;
      case 'exec': {
        const path = pathFromHex(String(r.path_hex));
        this.bump(into, 'executions', path, at);
        // A script: bprm->filename names the script while the resolved file is its interpreter.
        const filename = r.filename_hex ? pathFromHex(String(r.filename_hex)) : undefined;
        if (filename && filename.startsWith('/') && filename !== path) this.bump(into, 'executions', filename, at);
        this.events++;
        break;
      }
      default:
        return false;
    }
    return true;
  }

  /** Counts are cumulative per replica, so each observation carries the running total. */
  private bump(into: BehaviorSet, category: Category, key: string, at: number): void {
    const id = `${category}\0${key}`;
    const n = (this.seen.get(id) ?? 0) + 1;
    this.seen.set(id, n);
    observe(into, category, key, at, this.replica, n);
  }

  /** The behaviors since the previous call, with current syscall counts; resets the delta. */
  take(now: number): { behaviors: BehaviorSet; sessions: BehaviorSet; counters: Record<string, number> } {
    const behaviors = this.delta;
    for (const [nr, first] of this.syscallFirst) {
      const count = this.syscallCounts.get(nr) ?? 1;
      observe(behaviors, 'syscalls', syscallName(this.arch, nr), first, this.replica, Math.max(count, 1));
      const item = behaviors.syscalls![syscallName(this.arch, nr)]!;
      item.last = Math.max(item.first, now);
    }
    const sessions = this.sessions;
    this.delta = {};
    this.sessions = {};
    return { behaviors, sessions, counters: { ...this.counters } };
  }
}
