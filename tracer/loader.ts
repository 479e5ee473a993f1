import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { EventEmitter } from 'node:events';
import { access, constants } from 'node:fs/promises';

/** A record the loader writes on stdout (see bpf/README.md). */
export type TracerRecord = { t: string; target?: number; [field: string]: unknown };

export class TracerError extends Error {
  constructor(
    message: string,
    readonly kind: 'unavailable' | 'crashed',
  ) {
    super(message);
  }
}

/**
 * Drives the BPF loader process (bpf/build/varmor-tracer) over its stdin/stdout line protocol.
 * Records arrive as 'record' events; `request` sends a command and waits for its reply record.
 */
export class TracerProcess extends EventEmitter {
  private readonly child: ChildProcess;
  private exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private stderrTail = '';
  private readonly waiters: { match: (r: TracerRecord) => boolean; resolve: (r: TracerRecord) => void; reject: (e: Error) => void }[] = [];

  private constructor(binary: string, args: string[], commandOutput: number | 'ignore') {
    super();
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

  /** Starts the loader and waits until its programs are attached. */
  static async start(binary: string, opts: { commandOutput?: number | 'ignore'; args?: string[] } = {}): Promise<TracerProcess> {
    try {
      await access(binary, constants.X_OK);
    } catch {
      throw new TracerError(`BPF tracer binary ${binary} is missing; build it with "make -C bpf" (make setup does)`, 'unavailable');
    }
    const tracer = new TracerProcess(binary, opts.args ?? [], opts.commandOutput ?? 'ignore');
    try {
      await tracer.waitFor((r) => r.t === 'ready');
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

  private onLine(line: string): void {
    let record: TracerRecord;
    try {
      record = JSON.parse(line) as TracerRecord;
    } catch {
      this.emit('garbage', line);
      return;
    }
    if (record.t === 'error' && typeof record.msg === 'string') this.lastError = record.msg;
    const i = this.waiters.findIndex((w) => w.match(record));
    if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(record);
    this.emit('record', record);
  }

  waitFor(match: (r: TracerRecord) => boolean): Promise<TracerRecord> {
    if (this.exited) return Promise.reject(this.failure());
    return new Promise((resolve, reject) => this.waiters.push({ match, resolve, reject }));
  }

  send(command: string): void {
    if (this.exited) throw this.failure();
    this.child.stdin!.write(command + '\n');
  }

  /** Sends a command and resolves with the first record `match` accepts. */
  request(command: string, match: (r: TracerRecord) => boolean): Promise<TracerRecord> {
    const reply = this.waitFor(match);
    this.send(command);
    return reply;
  }

  private flushes = 0;

  /** Everything the kernel produced before this call has been emitted when this resolves. */
  async flush(): Promise<void> {
    const token = String(++this.flushes);
    await this.request(`flush ${token}`, (r) => r.t === 'flushed' && r.token === token);
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
