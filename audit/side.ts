import { mergeInto, type BehaviorSet, type Delta } from '../core/behavior.js';
import type { Arch } from '../core/syscalls.js';
import { AuditCollector, type PollResult } from './collector.js';
import type { Position } from './tail.js';

/** Where the side's batches go: the collector activity's Checkpointer (activities/checkpoint.ts). */
export interface AuditBatches {
  readonly written: number;
  /** The position the previous attempt checkpointed last, if any. */
  lastPosition(): Promise<unknown>;
  save(delta: Delta, opts?: { final?: boolean }): Promise<void>;
}

export interface AuditSideOptions {
  /** Audit log search order (vArmor's --auditLogPaths). */
  sources: readonly string[];
  /** `<node>/audit/<instance>`: counts in the batches are cumulative for this replica. */
  replica: string;
  arch: Arch;
  /** The AppArmor profile the target runs under in modeling state: its records carry it. */
  profile: string;
  /** Whether a host pid is the target's (the tracer's process map): seccomp records without a profile. */
  hasPid(pid: number): boolean;
}

const TARGET = 'target';

/**
 * The audit-log collector beside the tracer, for one target: AppArmor records attributed by the
 * target's profile, seccomp records by profile or by the tracer's pids. Its log position is
 * checkpointed with its batches, so a retried activity resumes where the last checkpoint left off.
 */
export class AuditSide {
  private pending: BehaviorSet = {};

  private constructor(
    readonly out: AuditBatches,
    private readonly collector: AuditCollector,
  ) {}

  /** Starts following the log, from the last checkpointed position (else from its end). */
  static async open(out: AuditBatches, opts: AuditSideOptions): Promise<AuditSide> {
    const position = (await out.lastPosition()) as Position | undefined;
    const collector = new AuditCollector({
      sources: opts.sources,
      replica: opts.replica,
      arch: opts.arch,
      attribution: {
        profile: (name) => (name === opts.profile ? TARGET : undefined),
        pid: (pid) => (opts.hasPid(pid) ? TARGET : undefined),
      },
      ...(position ? { position } : {}),
    });
    collector.start();
    return new AuditSide(out, collector);
  }

  /** Reads everything new in the log. */
  poll(): void {
    for (;;) {
      const r = this.take();
      if (r.read === 0) return;
    }
  }

  /** One more read, then what was read since the last checkpoint goes out with the position (`final`: the lease's last). */
  async checkpoint(final = false): Promise<void> {
    const r = this.take();
    const position = this.collector.position();
    await this.out.save({ behaviors: this.pending, counters: r.counters, samples: r.samples, ...(position ? { position } : {}) }, { final });
    this.pending = {};
  }

  stop(): void {
    this.collector.stop();
  }

  private take(): PollResult {
    const r = this.collector.poll();
    const delta = r.deltas.get(TARGET);
    if (delta) mergeInto(this.pending, delta);
    return r;
  }
}
