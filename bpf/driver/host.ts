import { execFile } from 'node:child_process';
import { access, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { TracerError, TracerProcess, type TracerRecord } from './loader.js';
import { isKind, type ReadyRecord } from './records.js';

/** What a run learns when it attaches: its target in the shared tracer, and whether its state went on. */
export interface Attachment {
  target: number;
  /** The run's target was tracking already (a retried or next-lease collector): counts go on. */
  adopted: boolean;
  /** The launched pid, tracked root pid or container init the target had. */
  root: number;
  /** The tracer's generation (16 random bytes, hex): with pinning, it outlives loader processes. */
  generation: string | undefined;
  /** The loader's ready record (whether it tells noaudit capability checks apart, ...). */
  ready: ReadyRecord;
}

export interface HostOptions {
  binary: string;
  /** bpffs directory the tracer pins its state in (one per node agent); undefined: no pinning. */
  stateDir?: string;
  podCgroup?: string;
  /** Targets (runs) at most, 1..127 (the loader's --max-targets). */
  maxTargets?: number;
  commandOutput: number | 'ignore';
  /** Told when pinning is impossible and the tracer runs without it. */
  warn?: (message: string, fields: Record<string, unknown>) => void;
  /**
   * With no target left, keep the programs loaded this long for the next run (`dev`: a `record`
   * through it starts traced at once) instead of ending the generation at once; default 0.
   */
  lingerMs?: number;
}

/**
 * One tracer (one loader process, one set of BPF programs) per node agent, shared by every run
 * modelled on the node: each run attaches a target of its own, named by a key, and gets only that
 * target's records, spool and counters (bpf/README.md, `attach`). The host starts the loader on
 * the first attach (adopting pinned state left by an earlier one), routes records to sessions by
 * target, and ends the generation when the last target is given back (or, lingering, a while
 * later), so an idle node runs no programs at all.
 */
export class TracerHost {
  private tracer: TracerProcess | undefined;
  private readonly sessions = new Map<number, TracerSession>();
  private readonly pending = new Map<string, (a: Attachment) => TracerSession>();
  /** Attach and free, one at a time: a free that ends the generation must not race an attach. */
  private queue: Promise<unknown> = Promise.resolve();
  private pinned = true;
  private swept = false;
  /** Loaded with no target in use (warmed, or lingering after the last free): the generation ends at close. */
  private idle: { timer?: NodeJS.Timeout } | undefined;

  constructor(private readonly opts: HostOptions) {}

  /**
   * Attaches the run `key` (1..32 of [0-9A-Za-z._-]): its target, fed to `sink` from the replay of
   * its spool on. Rejects with a TracerError of kind 'full' when every target is in use.
   */
  attach(key: string, sink: (a: Attachment) => (r: TracerRecord) => void): Promise<TracerSession> {
    return this.serial(async () => {
      const tracer = await this.started();
      this.busy();
      let session: TracerSession | undefined;
      // Bound when the reply arrives, before the replayed records that follow it in the same chunk.
      this.pending.set(key, (a) => (session = new TracerSession(this, tracer, key, a, sink(a))));
      let reply;
      try {
        reply = await tracer.request(`attach ${key}`, isKind('attached', (r) => r.key === key));
      } finally {
        this.pending.delete(key);
      }
      if (reply.error !== undefined) throw new TracerError(`the node's tracer refuses the run: ${reply.error}`, 'full');
      await session!.replayed;
      return session!;
    });
  }

  /** The run `key` is over: its target is untracked and its spool removed; resolves with whether it had one. */
  free(key: string): Promise<boolean> {
    return this.serial(async () => {
      if (!this.tracer && !(await this.hasPinnedState())) return false;
      const tracer = await this.started();
      const reply = await tracer.request(`free ${key}`, isKind('freed', (r) => r.key === key));
      const session = this.sessions.get(reply.target);
      if (session?.key === key) session.end(new TracerError('the run was released', 'crashed'));
      // Nothing left to trace: the programs detach (with pinning, the generation ends).
      if (reply.in_use === 0) {
        if (this.opts.lingerMs) this.linger();
        else await this.end(tracer);
      }
      return reply.found;
    });
  }

  /**
   * Loads the tracer now rather than at the first attach, so that a run about to come starts
   * traced at once (record loads it while the server and workers start). Pinned targets of an
   * earlier loader are adopted as at an attach; with none, it is idle as after the last free.
   */
  warm(): Promise<void> {
    return this.serial(async () => {
      if (this.tracer) return;
      const tracer = await this.started();
      if (!tracer.ready?.targets?.length) this.linger();
    });
  }

  /** Detaches from the loader; with pinning its state stays for the next agent (a handoff). An idle one's generation ends instead: there is nothing to hand off. */
  async close(): Promise<void> {
    const tracer = this.tracer;
    const idle = this.idle;
    this.busy();
    if (tracer && idle) await this.end(tracer);
    else {
      this.tracer = undefined;
      await tracer?.quit();
    }
  }

  /**
   * Whether the node's tracer can load here (the node agent's readiness): at once while it runs;
   * otherwise a loader with the same options but no pinned state is started, which loads and
   * attaches the programs, and quit. Rejects with a TracerError naming what is missing.
   */
  async canLoad(): Promise<void> {
    if (this.tracer) return;
    const probe = await TracerProcess.start(this.opts.binary, { podCgroup: this.opts.podCgroup, maxTargets: this.opts.maxTargets });
    await probe.quit();
  }

  /** The loader's pid while it runs (tests, benchmarks). */
  get pid(): number | undefined {
    return this.tracer?.pid;
  }

  /** A session stops receiving records (its collector is done; the target keeps tracking). */
  detach(session: TracerSession): void {
    if (this.sessions.get(session.target) === session) this.sessions.delete(session.target);
  }

  /** No target in use: the generation ends after lingerMs (no timer without one: at close). */
  private linger(): void {
    const tracer = this.tracer!;
    this.busy();
    const timer = this.opts.lingerMs ? setTimeout(() => void this.serial(() => (this.tracer === tracer && this.idle ? this.end(tracer) : Promise.resolve())), this.opts.lingerMs) : undefined;
    timer?.unref();
    this.idle = timer ? { timer } : {};
  }

  private busy(): void {
    clearTimeout(this.idle?.timer);
    this.idle = undefined;
  }

  /** The programs detach (with pinning, the generation ends). */
  private async end(tracer: TracerProcess): Promise<void> {
    this.busy();
    if (this.tracer === tracer) this.tracer = undefined;
    if (this.opts.stateDir && this.pinned) await tracer.release();
    else await tracer.quit();
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  private async hasPinnedState(): Promise<boolean> {
    if (!this.opts.stateDir) return false;
    return access(`${this.opts.stateDir}/meta`).then(
      () => true,
      () => false,
    );
  }

  private async started(): Promise<TracerProcess> {
    if (this.tracer) return this.tracer;
    if (this.opts.stateDir && !this.swept) {
      this.swept = true;
      await this.releaseLegacy(dirname(this.opts.stateDir));
    }
    const start = (stateDir?: string) =>
      TracerProcess.start(this.opts.binary, {
        commandOutput: this.opts.commandOutput,
        podCgroup: this.opts.podCgroup,
        maxTargets: this.opts.maxTargets,
        onRecord: (r) => this.route(r),
        ...(stateDir ? { stateDir } : {}),
      });
    let tracer: TracerProcess;
    try {
      tracer = await start(this.opts.stateDir);
      this.pinned = !!this.opts.stateDir;
    } catch (err) {
      if (!this.opts.stateDir || (err as TracerError).kind !== 'unavailable') throw err;
      // No usable bpffs (or a stale pin): trace without pinning rather than not at all.
      this.opts.warn?.('tracer state cannot be pinned; tracing without it (a restart will lose what was not checkpointed)', {
        stateDir: this.opts.stateDir,
        error: (err as Error).message,
      });
      tracer = await start();
      this.pinned = false;
    }
    tracer.on('exit', (err: TracerError) => {
      if (this.tracer === tracer) this.tracer = undefined;
      for (const s of [...this.sessions.values()]) if (s.tracer === tracer) s.end(err);
    });
    this.tracer = tracer;
    return tracer;
  }

  /**
   * Before one tracer served a node, each run pinned a tracer of its own under the pin root, in a
   * directory named by 24 hex digits. An agent upgraded mid-run would leave those attached (their
   * programs cost every process on the node) with nobody to release them: the first start releases
   * them (a live loader's state is refused by the tracer, and kept).
   */
  private async releaseLegacy(pinRoot: string): Promise<void> {
    const dirs = (await readdir(pinRoot).catch(() => [] as string[])).filter((d) => /^[0-9a-f]{24}$/.test(d));
    for (const d of dirs) {
      const dir = join(pinRoot, d);
      await promisify(execFile)(this.opts.binary, ['--release', dir]).then(
        () => this.opts.warn?.('released the pinned tracer state of a run from before one tracer per node', { stateDir: dir }),
        (err: Error) => this.opts.warn?.('could not release an earlier tracer state', { stateDir: dir, error: err.message }),
      );
    }
  }

  /** Every record of the loader to the session of its target; replies wait in TracerProcess. */
  private route(r: TracerRecord): void {
    if (r.t === 'attached') {
      const bind = this.pending.get(r.key);
      // an attach refused (every target in use) has no target: the request gets the error
      if (!bind || r.target === undefined) return;
      // A second collector for the same run (a retry while the first still ran) takes over.
      this.sessions.get(r.target)?.end(new TracerError('a newer collector of the same run attached', 'crashed'));
      // attach is sent once the loader is ready
      const ready = this.tracer!.ready!;
      const session = bind({ target: r.target, adopted: r.adopted === true, root: r.root ?? 0, generation: ready.generation, ready });
      this.sessions.set(r.target, session);
      return;
    }
    // the lines of no target (ready, the global flushed, ...) are no session's
    if (!('target' in r) || r.target === undefined) return;
    const session = this.sessions.get(r.target);
    if (!session) return; // a target between leases: its lines are in its spool for the next attach
    if (r.t === 'replay-end') session.replayDone();
    else session.sink(r);
  }
}

/** One run's target in the shared tracer: its commands, its flushes, its records. */
export class TracerSession {
  readonly target: number;
  readonly adopted: boolean;
  readonly root: number;
  readonly generation: string | undefined;
  /** Resolves once the target's spool has been replayed into the sink. */
  readonly replayed: Promise<void>;
  /** Rejects when the loader dies or the session is taken over; never resolves. */
  readonly ended: Promise<never>;
  replayDone: () => void = () => {};
  private fail: (err: Error) => void = () => {};
  private flushes = 0;
  /** Flush tokens must be unique within a generation, which outlives this process. */
  private readonly tokenPrefix = `${process.pid}-${Date.now().toString(36)}`;

  constructor(
    private readonly host: TracerHost,
    readonly tracer: TracerProcess,
    readonly key: string,
    a: Attachment,
    readonly sink: (r: TracerRecord) => void,
  ) {
    this.target = a.target;
    this.adopted = a.adopted;
    this.root = a.root;
    this.generation = a.generation;
    this.replayed = new Promise<void>((resolve) => (this.replayDone = resolve));
    this.ended = new Promise<never>((_, reject) => (this.fail = reject));
    this.ended.catch(() => {});
  }

  /** Sends `verb T args` and resolves with the first record of this target `match` accepts (typed by it when it narrows: isKind). */
  request<R extends TracerRecord>(verb: string, args: string, match: (r: TracerRecord) => r is R): Promise<R>;
  request(verb: string, args: string, match: (r: TracerRecord) => boolean): Promise<TracerRecord>;
  request(verb: string, args: string, match: (r: TracerRecord) => boolean): Promise<TracerRecord> {
    return this.tracer.request(`${verb} ${this.target}${args ? ` ${args}` : ''}`, (r) => 'target' in r && r.target === this.target && match(r));
  }

  /** Everything the kernel produced for this target before the call has reached the sink; returns the token. */
  async flush(): Promise<string> {
    const token = `${this.tokenPrefix}-${++this.flushes}`;
    await this.request('flush', token, isKind('flushed', (r) => r.token === token));
    return token;
  }

  /** Everything up to that flush is in the object store: the tracer may drop it from this target's spool. */
  async checkpointed(token: string): Promise<void> {
    await this.request('checkpointed', token, isKind('checkpointed', (r) => r.token === token));
  }

  /** This collector is done; the target keeps tracking and spooling for the next one. */
  detach(): void {
    this.host.detach(this);
  }

  /** The run is over on this node: its target is given back. */
  async free(): Promise<void> {
    this.detach();
    await this.host.free(this.key);
  }

  end(err: Error): void {
    this.host.detach(this);
    this.fail(err);
    this.replayDone();
  }
}
