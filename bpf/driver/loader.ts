import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { EventEmitter } from 'node:events';
import { access, constants } from 'node:fs/promises';
import { checkRecord, isKind, type ReadyRecord, type TracerRecord } from './records.js';

/**
 * A line the loader writes on stdout (see bpf/README.md): one of the kinds bpf/records.json
 * defines, checked field by field (checkRecord) before anyone sees it.
 */
export type { TracerRecord };

/** Replies come in milliseconds; loading and adopting (replaying a spool) in seconds. */
const REPLY_TIMEOUT_MS = 120_000;

export class TracerError extends Error {
  constructor(
    message: string,
    /** full: every target of the node's tracer is in use (bpf/README.md, `attach`) */
    readonly kind: 'unavailable' | 'crashed' | 'full',
  ) {
    super(message);
  }
}

/**
 * Drives the BPF loader process (bpf/build/varmor-tracer) over its stdin/stdout line protocol.
 * Records arrive as 'record' events; `request` sends a command and waits for its reply record.
 * Runs share one loader through TracerHost (host.ts).
 */
export class TracerProcess extends EventEmitter {
  private readonly child: ChildProcess;
  private exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private stderrTail = '';
  private readonly waiters: { match: (r: TracerRecord) => boolean; resolve: (r: TracerRecord) => void; reject: (e: Error) => void }[] = [];

  /** The ready record: with a state dir, whether pins were adopted and the generation. */
  ready: ReadyRecord | undefined;
  /** True between replay-begin and replay-end: replayed lines must not answer new commands. */
  private replaying = false;
  private replayEnded = false;

  private constructor(binary: string, args: string[], commandOutput: number | 'ignore', onRecord?: (r: TracerRecord) => void) {
    super();
    // Registered before the process starts: replayed records follow `ready` at once.
    if (onRecord) this.on('record', onRecord);
    // fd 3 is where launched commands write their stdout and stderr.
    this.child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe', commandOutput] });
    createInterface({ input: this.child.stdout! }).on('line', (line) => this.onLine(line));
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-4096);
      this.emit('log', chunk.toString('utf8'));
    });
    this.child.on('exit', (code, signal) => {
      this.exited = { code, signal };
      const err = this.failure();
      for (const w of this.waiters.splice(0)) w.reject(err);
      this.emit('exit', err);
    });
    this.child.stdin!.on('error', () => {}); // EPIPE after a crash surfaces through 'exit'
  }

  /**
   * Starts the loader and waits until its programs are attached (or, with a state dir, adopted
   * and the spool replayed: replayed records reach onRecord before this resolves).
   */
  static async start(
    binary: string,
    opts: { commandOutput?: number | 'ignore'; stateDir?: string; podCgroup?: string | undefined; maxTargets?: number | undefined; onRecord?: (r: TracerRecord) => void } = {},
  ): Promise<TracerProcess> {
    try {
      await access(binary, constants.X_OK);
    } catch {
      throw new TracerError(`BPF tracer binary ${binary} is missing; build it with "make -C bpf" (make setup does)`, 'unavailable');
    }
    const args = [
      ...(opts.stateDir ? ['--state-dir', opts.stateDir] : []),
      ...(opts.podCgroup ? ['--pod-cgroup', opts.podCgroup] : []),
      ...(opts.maxTargets ? ['--max-targets', String(opts.maxTargets)] : []),
    ];
    const tracer = new TracerProcess(binary, args, opts.commandOutput ?? 'ignore', opts.onRecord);
    try {
      tracer.ready = await tracer.waitFor(isKind('ready'));
      // The replay may already be through by now (one stdout chunk): only wait when it is not.
      if (tracer.ready.adopted && !tracer.replayEnded) await tracer.waitFor(isKind('replay-end'));
    } catch (err) {
      throw new TracerError((err as Error).message, 'unavailable');
    }
    return tracer;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  private failure(): TracerError {
    const why = this.lastError ?? (this.stderrTail.trim().split('\n').pop() || 'no message');
    const how = this.exited?.signal ? `killed by ${this.exited.signal}` : `exited with code ${this.exited?.code}`;
    return new TracerError(`BPF tracer ${how}: ${why}`, 'crashed');
  }

  private lastError: string | undefined;
  /** Lines that were not JSON objects, of no kind records.json defines or not valid records of theirs: dropped (each also a 'garbage' event). */
  malformed = 0;

  private onLine(line: string): void {
    let record: TracerRecord;
    try {
      const parsed: unknown = JSON.parse(line);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
      const why = checkRecord(parsed as { t: unknown });
      if (why) throw new Error(why);
      record = parsed as TracerRecord;
    } catch (err) {
      this.malformed++;
      this.emit('garbage', line, (err as Error).message);
      return;
    }
    if (record.t === 'error') this.lastError = record.msg;
    if (record.t === 'replay-begin') this.replaying = true;
    if (record.t === 'replay-end') {
      this.replaying = false;
      this.replayEnded = true;
    }
    const i = this.replaying ? -1 : this.waiters.findIndex((w) => w.match(record));
    if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(record);
    this.emit('record', record);
  }

  /** The next record `match` accepts (typed by it when it narrows: isKind); a loader that stays silent that long is treated as hung. */
  waitFor<R extends TracerRecord>(match: (r: TracerRecord) => r is R, timeoutMs?: number): Promise<R>;
  waitFor(match: (r: TracerRecord) => boolean, timeoutMs?: number): Promise<TracerRecord>;
  waitFor(match: (r: TracerRecord) => boolean, timeoutMs = REPLY_TIMEOUT_MS): Promise<TracerRecord> {
    if (this.exited) return Promise.reject(this.failure());
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (r: TracerRecord) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new TracerError(`BPF tracer did not answer within ${timeoutMs / 1000} s`, 'crashed'));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  send(command: string): void {
    if (this.exited) throw this.failure();
    this.child.stdin!.write(command + '\n');
  }

  /** Sends a command and resolves with the first record `match` accepts (typed by it when it narrows: isKind). */
  request<R extends TracerRecord>(command: string, match: (r: TracerRecord) => r is R): Promise<R>;
  request(command: string, match: (r: TracerRecord) => boolean): Promise<TracerRecord>;
  request(command: string, match: (r: TracerRecord) => boolean): Promise<TracerRecord> {
    const reply = this.waitFor(match);
    this.send(command);
    return reply;
  }

  /** Ends the generation: unpins, detaches and exits (a pinned loader's quit is a handoff instead). */
  async release(): Promise<void> {
    const done = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.send('release');
    await done;
  }

  /** Detaches and waits for the loader to exit. */
  async quit(): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin!.end('quit\n');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await done;
    clearTimeout(timer);
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}

export function hexArg(s: string): string {
  return Buffer.from(s, 'utf8').toString('hex');
}
