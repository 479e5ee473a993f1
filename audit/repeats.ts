import type { Agg, TargetBehaviors } from './aggregate.js';

/**
 * What a record body did, kept for its repeats. Complain-mode logs repeat the same bodies (one
 * process, one file, one mask) under new time stamps, and a repeat has exactly the effects of the
 * first: one more observation of the same items (perms, owner and sets merge idempotently). Kept
 * only for outcomes no later line can change: attributed through the record's label (a label never
 * changes target), a status record, or unattributed by label (until the next drain, when the
 * attribution may have learnt the label). Records attributed by pid are never kept.
 */
export interface Repeat {
  /** The record type the body came with (SCAN_META[2]). */
  type: number;
  seccomp: boolean;
  /** The target whose items it touched, or what became of a record that touched none. */
  outcome: Outcome;
  /** The drain it is valid until, or -1 for ever. */
  drain: number;
  items: Agg[];
}
export type Outcome = TargetBehaviors | typeof STATUS | typeof UNATTRIBUTED;
export const STATUS = 'status' as const;
export const UNATTRIBUTED = 'unattributed' as const;

/** Admission: a window of this many lines with fewer than 1 in ADMIT_MIN_HITS hits makes the next keep 1 body in ADMIT_SAMPLE. */
const ADMIT_WINDOW = 4096;
const ADMIT_MIN_HITS = 8;
const ADMIT_SAMPLE = 32;

/** Bodies seen, by hash: 4-way sets, so bodies whose hashes share a set still coexist. */
export class RepeatCache {
  private static readonly SETS = 4096;
  private static readonly WAYS = 4;
  private readonly hashes = new Int32Array(RepeatCache.SETS * RepeatCache.WAYS);
  private readonly bodies = new Array<string>(RepeatCache.SETS * RepeatCache.WAYS).fill('');
  private readonly repeats = new Array<Repeat | undefined>(RepeatCache.SETS * RepeatCache.WAYS).fill(undefined);
  /** Admission: lines and hits in the current window, whether the last one was sparse. */
  private window = 0;
  private windowHits = 0;
  private sparse = false;
  private skipped = 0;

  /** The body's entry, if kept; counts the line for admission. */
  find(hash: number, body: string): Repeat | undefined {
    if (++this.window >= ADMIT_WINDOW) {
      this.sparse = this.windowHits * ADMIT_MIN_HITS < this.window;
      this.window = this.windowHits = 0;
    }
    const base = (hash & (RepeatCache.SETS - 1)) * RepeatCache.WAYS;
    for (let w = base; w < base + RepeatCache.WAYS; w++) {
      // A hash hit alone proves nothing; equal strings compare natively (memcmp).
      if (this.hashes[w] === hash && this.bodies[w] === body) return this.repeats[w];
    }
    return undefined;
  }

  /** The entry find() returned was used. */
  hit(): void {
    this.windowHits++;
  }

  /**
   * Whether to keep the body just attributed. While bodies hardly repeat (every line its own pid,
   * say) only one in ADMIT_SAMPLE is kept: entries that never hit cost a major GC's worth of
   * old-space garbage, and the sample still notices when repeats come back.
   */
  admits(): boolean {
    return !this.sparse || ++this.skipped % ADMIT_SAMPLE === 0;
  }

  /** Into the set's first way; the least recent one goes. */
  add(hash: number, body: string, repeat: Repeat): void {
    const base = (hash & (RepeatCache.SETS - 1)) * RepeatCache.WAYS;
    for (let w = base + RepeatCache.WAYS - 1; w > base; w--) {
      this.hashes[w] = this.hashes[w - 1]!;
      this.bodies[w] = this.bodies[w - 1]!;
      this.repeats[w] = this.repeats[w - 1];
    }
    this.hashes[base] = hash;
    this.bodies[base] = body;
    this.repeats[base] = repeat;
  }
}
