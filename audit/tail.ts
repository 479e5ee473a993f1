import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { MAX_LINE } from './parse.js';

/**
 * Following a log file the way logrotate and auditd treat it: rotation by rename (audit.log →
 * audit.log.1, a new audit.log appears), copytruncate (same inode, size drops), a trailing line
 * still being written (held back until its newline), a file that does not exist yet. Memory is one
 * fixed read buffer plus at most one partial line, whatever the file's size.
 *
 * The checkpoint is the offset just past the last line handed out, so a restart from it neither
 * repeats nor skips a line, even when the file was rotated meanwhile (the old inode is looked up
 * as `<path>.1`). A copytruncate whose new content grew past our offset before we looked (between
 * two polls, or while we were down) keeps inode and size plausible; the bytes before the offset
 * give it away, so the last WINDOW of them are kept (and hashed into the checkpoint) and checked.
 */

export interface Position {
  /** The followed path (for /dev/kmsg: `/dev/kmsg`). */
  path: string;
  /** Inode of the file the offset is in (0 for /dev/kmsg). */
  inode: number;
  /** Bytes of complete lines consumed (for /dev/kmsg: the next record sequence number). */
  offset: number;
  /** /dev/kmsg only: sequence numbers restart with the kernel, so they hold for one boot id. */
  boot?: string;
  /** Files: the SHA-256 of the tailBytes bytes before offset, to tell the same file from a rewritten one. */
  tailBytes?: number;
  tailSha256?: string;
}

/** Bytes before the read offset kept to recognise the file: a few lines' worth, time stamps and serials included. */
const WINDOW = 512;

export type LineSink = (line: string) => void;

export interface TailOptions {
  /** Files tried in order; the first that exists is followed. */
  sources: readonly string[];
  /** Where a previous run stopped. */
  position?: Position;
  /** Without a position: read what the file already holds ('beginning') or only what is appended ('end'). */
  start?: 'beginning' | 'end';
  bufferSize?: number;
}

export class FileTailer {
  readonly counters: Record<string, number> = {};
  private fd = -1;
  /** The path followed (a source), and the inode open: they differ while a rotated file is drained. */
  private source = '';
  private inode = 0;
  private readOffset = 0;
  /** Bytes of an unfinished line, kept at the start of buf. */
  private carry = 0;
  /** True while skipping the rest of a line longer than the buffer. */
  private skipping = false;
  private readonly buf: Buffer;
  private resume: Position | undefined;
  /** The last bytes read (up to WINDOW), ending at readOffset. */
  private window: Buffer = Buffer.alloc(0);

  constructor(private readonly opts: TailOptions) {
    this.buf = Buffer.allocUnsafe(Math.max(opts.bufferSize ?? 1 << 16, MAX_LINE));
    this.resume = opts.position;
  }

  /** Hands out complete lines appended since the previous poll, reading at most maxBytes. Returns bytes read. */
  poll(sink: LineSink, maxBytes = 8 << 20): number {
    if (this.fd < 0 && !this.open()) return 0;
    let total = 0;
    this.checkTruncated();
    while (total < maxBytes) {
      const n = readSync(this.fd, this.buf, this.carry, this.buf.length - this.carry, this.readOffset);
      if (n === 0) {
        if (this.rotated()) continue;
        break;
      }
      this.readOffset += n;
      total += n;
      this.remember(this.carry + n, n);
      this.split(this.carry + n, sink);
    }
    return total;
  }

  /** For a file that is complete (ingest): hands out a last line that lacks its newline. */
  flush(sink: LineSink): void {
    if (this.carry > 0 && !this.skipping) sink(this.buf.toString('latin1', 0, this.carry));
    this.carry = 0;
  }

  /** Checkpoint: the followed path, the inode being read and the offset past the last complete line. */
  position(): Position | undefined {
    if (this.fd < 0) return this.resume;
    // The window ends at readOffset; the checkpoint's offset is before the unfinished line.
    const tail = this.window.subarray(0, Math.max(0, this.window.length - this.carry));
    return { path: this.source, inode: this.inode, offset: this.readOffset - this.carry, tailBytes: tail.length, tailSha256: sha256(tail) };
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private count(name: string): void {
    this.counters[name] = (this.counters[name] ?? 0) + 1;
  }

  private open(): boolean {
    const resume = this.resume;
    for (const path of this.opts.sources) {
      const st = statOrUndefined(path);
      if (!st) continue;
      this.source = path;
      if (resume && resume.path === path) {
        this.resume = undefined;
        if (st.ino === resume.inode && st.size >= resume.offset && this.openAt(path, resume.offset)) {
          if (this.sameTail(resume)) return true;
          this.close();
          this.count('truncated');
          return this.openAt(path, 0);
        }
        // Rotated while we were down: finish the old file first, if it is still there.
        const old = statOrUndefined(`${path}.1`);
        if (old && old.ino === resume.inode && old.size >= resume.offset && this.openAt(`${path}.1`, resume.offset)) {
          if (this.sameTail(resume)) return true;
          this.close();
        }
        this.count(st.ino === resume.inode ? 'truncated' : 'resume_lost');
        return this.openAt(path, 0);
      }
      return this.openAt(path, this.opts.start === 'end' && !resume ? st.size : 0);
    }
    return false;
  }

  private openAt(path: string, offset: number): boolean {
    try {
      this.fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch {
      return false;
    }
    this.inode = fstatSync(this.fd).ino;
    this.readOffset = offset;
    this.carry = 0;
    this.skipping = false;
    this.window = this.readBefore(offset, Math.min(WINDOW, offset));
    return true;
  }

  /** The n bytes of the open file before offset (fewer if the file is shorter now). */
  private readBefore(offset: number, n: number): Buffer {
    const out = Buffer.alloc(n);
    return out.subarray(0, n > 0 ? readSync(this.fd, out, 0, n, offset - n) : 0);
  }

  /** Whether the open file still holds, before the offset, the bytes a checkpoint hashed. */
  private sameTail(p: Position): boolean {
    if (p.tailBytes === undefined || p.tailSha256 === undefined) return true;
    return this.window.length >= p.tailBytes && sha256(this.window.subarray(this.window.length - p.tailBytes)) === p.tailSha256;
  }

  /** copytruncate: the open file shrank below what we read, or holds other bytes before it: start it over. */
  private checkTruncated(): void {
    const changed = fstatSync(this.fd).size < this.readOffset || !this.readBefore(this.readOffset, this.window.length).equals(this.window);
    if (changed) {
      this.count('truncated');
      this.readOffset = 0;
      this.window = Buffer.alloc(0);
      this.dropPartial();
    }
  }

  /** Keeps the last WINDOW bytes read; the n newest are at buf[end - n, end). */
  private remember(end: number, n: number): void {
    const fresh = this.buf.subarray(end - Math.min(n, WINDOW), end);
    this.window = n >= WINDOW ? Buffer.from(fresh) : Buffer.concat([this.window.subarray(Math.max(0, this.window.length + n - WINDOW)), fresh]);
  }

  /** At end of file: has the followed path moved on to a new file? Then switch to it. */
  private rotated(): boolean {
    const st = statOrUndefined(this.source);
    if (!st || st.ino === this.inode) return false;
    this.count('rotated');
    this.dropPartial();
    closeSync(this.fd);
    this.fd = -1;
    return this.openAt(this.source, 0);
  }

  /** A line never finished before rotation or truncation cannot be finished any more. */
  private dropPartial(): void {
    if (this.carry > 0) this.count('partial_dropped');
    this.carry = 0;
    this.skipping = false;
  }

  /**
   * Hands out the complete lines in buf[0, end) and keeps the unfinished one at the start of buf.
   * Each line is decoded on its own (latin1: one char per byte), because the parser runs markedly
   * faster on such flat strings than on slices of a larger string.
   */
  private split(end: number, sink: LineSink): void {
    const buf = this.buf;
    let start = 0;
    for (let nl = buf.indexOf(10, 0); nl >= 0 && nl < end; nl = buf.indexOf(10, start)) {
      if (this.skipping) this.skipping = false;
      else sink(buf.toString('latin1', start, nl));
      start = nl + 1;
    }
    this.carry = end - start;
    if (this.carry === buf.length) {
      // A line longer than the buffer is no audit record: consume it up to its newline, unseen.
      this.count('overlong_line_skipped');
      this.skipping = true;
      this.carry = 0;
    } else if (this.carry > 0 && start > 0) {
      buf.copyWithin(0, start, end);
    }
    if (this.skipping) this.carry = 0;
  }
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

function statOrUndefined(path: string) {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** Read in place of a record: the ring overwrote records before they were read. */
export const OVERWRITTEN = '#overwritten';

/** Where kernel log records come from: the device, or a relay (audit/kmsg-relay.ts) that may open it. */
interface RecordSource {
  /** The next record's first line; undefined when none is waiting. */
  read(): string | undefined;
  close(): void;
}

/** /dev/kmsg itself: one record per read(2), without blocking (the relay reads it so too). */
export class DeviceSource implements RecordSource {
  private fd = -1;
  private readonly buf = Buffer.allocUnsafe(8192);

  constructor(private readonly path: string) {}

  read(): string | undefined {
    if (this.fd < 0) this.fd = openSync(this.path, constants.O_RDONLY | constants.O_NONBLOCK);
    let n: number;
    try {
      n = readSync(this.fd, this.buf, 0, this.buf.length, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') return undefined;
      // EPIPE: the ring overwrote records before we read them; the next read resumes after the gap.
      if (code === 'EPIPE') return OVERWRITTEN;
      throw e;
    }
    if (n === 0) return undefined;
    const nl = this.buf.indexOf(10);
    return this.buf.toString('latin1', 0, nl >= 0 && nl < n ? nl : n);
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

/** Records queued past this stop the relay (it waits; the ring may overwrite, which it reports). */
const RELAY_QUEUE = 50_000;

/**
 * The same records relayed over a unix socket, one line each: a container may read /dev/kmsg only
 * when the device is granted to it, and the chart grants it to a small relay, not to the agent.
 * Connected lazily and again after the relay restarts; the sequence numbers make that lossless.
 */
class RelaySource implements RecordSource {
  private socket: Socket | undefined;
  private readonly queue: string[] = [];
  private head = 0;
  private partial = '';

  constructor(private readonly path: string) {}

  read(): string | undefined {
    if (!this.socket) this.connect();
    if (this.head >= this.queue.length) return undefined;
    const line = this.queue[this.head++]!;
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
      this.socket?.resume();
    }
    return line;
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  private connect(): void {
    const socket = createConnection(this.path);
    this.socket = socket;
    this.partial = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      const lines = (this.partial + chunk).split('\n');
      this.partial = lines.pop()!;
      this.queue.push(...lines);
      if (this.queue.length - this.head > RELAY_QUEUE) socket.pause();
    });
    // a relay that is not up yet, or went away: the next read connects again
    socket.on('error', () => {});
    socket.on('close', () => {
      if (this.socket === socket) this.socket = undefined;
    });
  }
}

/**
 * The kernel's log ring, one record per read(2), read without blocking: `/dev/kmsg`, or
 * `unix:PATH` for the records relayed over a socket. Where no auditd runs, kauditd prints audit
 * records here (rate limited by kernel.printk_ratelimit*).
 */
export class KmsgReader {
  readonly counters: Record<string, number> = {};
  private next: number;
  private readonly boot: string;
  private readonly source: RecordSource;
  /** Without a position: records logged before this (µs since boot) are the past, skipped as a file tail skips what a file held. */
  private readonly since: number;

  constructor(
    private readonly path = '/dev/kmsg',
    position?: Position,
  ) {
    this.boot = bootId();
    const resume = position && position.boot === this.boot;
    this.next = resume ? position.offset : 0;
    // the records' clock is the kernel's local_clock, a few ms off CLOCK_MONOTONIC: a second's margin
    this.since = resume ? 0 : Number(process.hrtime.bigint() / 1000n) - 1_000_000;
    this.source = path.startsWith('unix:') ? new RelaySource(path.slice('unix:'.length)) : new DeviceSource(path);
  }

  /** Whether the device opens; a relay counts as there (it may start after us). */
  static available(path = '/dev/kmsg'): boolean {
    if (path.startsWith('unix:')) return true;
    try {
      closeSync(openSync(path, constants.O_RDONLY | constants.O_NONBLOCK));
      return true;
    } catch {
      return false;
    }
  }

  /** Hands out the records logged since the previous poll (at most maxRecords). Returns how many. */
  poll(sink: LineSink, maxRecords = 100_000): number {
    let count = 0;
    while (count < maxRecords) {
      const line = this.source.read();
      if (line === undefined) break;
      if (line === OVERWRITTEN) {
        this.count('kmsg_overwritten');
        continue;
      }
      const seq = kmsgSeq(line);
      if (seq < this.next) continue;
      this.next = seq + 1;
      if (kmsgField(line, 2) < this.since) continue;
      count++;
      sink(line);
    }
    return count;
  }

  position(): Position {
    return { path: this.path, inode: 0, offset: this.next, boot: this.boot };
  }

  close(): void {
    this.source.close();
  }

  private count(name: string): void {
    this.counters[name] = (this.counters[name] ?? 0) + 1;
  }
}

/** The sequence number of a `prio,seq,usec,flags;msg` record. */
function kmsgSeq(line: string): number {
  return kmsgField(line, 1);
}

/** Field `i` of a `prio,seq,usec,flags;msg` record's prefix as a number (-1 if there is none). */
function kmsgField(line: string, i: number): number {
  const prefix = line.slice(0, Math.max(line.indexOf(';'), 0)).split(',');
  const v = Number(prefix[i] ?? NaN);
  return Number.isFinite(v) ? v : -1;
}

function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim();
  } catch {
    return '';
  }
}
