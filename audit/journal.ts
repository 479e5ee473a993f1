import { MAX_LINE } from './parse.js';
import type { LineSink } from './tail.js';

/**
 * `journalctl -o export` → the audit records it holds, as log lines the parser knows.
 *
 * The export format (systemd's "Journal Export Format"): an entry is a run of fields, each
 * `NAME=value\n`, or `NAME\n` + 64-bit little-endian length + raw bytes + `\n` when the value is
 * binary or holds a newline; an empty line ends the entry. Only what the kernel logged is an audit
 * record: `_TRANSPORT=kernel` (the printk `audit: type=...` line; kernel facility) or
 * `_TRANSPORT=audit` (journald's audit socket). Fields starting with `_` are journald's own, never
 * the logging program's, so a service that logs `MESSAGE=audit: type=1400 ...` is not believed,
 * and neither are lines inside a binary value: the reader skips a value by its length, never by
 * its newlines. The audit transport's MESSAGE lacks the `audit(time:serial)` stamp; it is rebuilt
 * from _SOURCE_REALTIME_TIMESTAMP (else __REALTIME_TIMESTAMP) and _AUDIT_ID.
 */
export class JournalExport {
  readonly counters = { journal_entries: 0, journal_untrusted: 0, journal_too_long: 0, journal_untimed: 0, journal_malformed: 0 };
  /** Bytes not parsed yet: the start of a field whose end has not arrived. */
  private rest: Buffer = Buffer.alloc(0);
  /** Reading a binary value: bytes still to come (then its closing `\n`), the field, what was kept. */
  private binaryLeft = -1;
  private binaryName = '';
  private binaryParts: Buffer[] = [];
  private binaryLength = 0;
  /** Skipping a text value too long to keep, up to its `\n`. */
  private skippingText = false;
  /** The current entry's fields that matter. */
  private fields = new Map<string, string>();
  /**
   * Set by a framing error (a corrupt or non-export stream). Nothing after it is read: past a value
   * whose length is unknown, anything could be the start of a field, including a forged one.
   */
  private dead = false;

  /** Parses a chunk; hands each trusted audit record to sink as one line. */
  push(chunk: Buffer, sink: LineSink): void {
    if (this.dead) return;
    const buf = this.rest.length > 0 ? Buffer.concat([this.rest, chunk]) : chunk;
    let p = 0;
    while (p < buf.length && !this.dead) {
      if (this.binaryLeft >= 0) {
        p = this.binaryValue(buf, p);
        if (this.binaryLeft >= 0) break;
        continue;
      }
      const nl = buf.indexOf(10, p);
      if (this.skippingText) {
        if (nl < 0) {
          p = buf.length;
          break;
        }
        this.skippingText = false;
        p = nl + 1;
        continue;
      }
      if (nl < 0) {
        // A text value too long to keep is skipped to its end; journald splits nothing.
        if (buf.length - p > MAX_FIELD) {
          this.startText(buf.toString('latin1', p, Math.min(buf.indexOf(61, p) >>> 0, p + 65)));
          p = buf.length;
        }
        break;
      }
      if (nl === p) {
        this.endEntry(sink);
        p = nl + 1;
        continue;
      }
      const eq = buf.indexOf(61 /* = */, p);
      if (eq >= 0 && eq < nl) {
        const name = buf.toString('latin1', p, eq);
        if (!validName(name)) return this.malformed();
        if (nl - eq - 1 > MAX_FIELD) this.tooLong(name);
        else if (KEPT.has(name)) this.set(name, buf.toString('latin1', eq + 1, nl));
        p = nl + 1;
        continue;
      }
      // `NAME\n`, then the value's length: wait for all eight bytes.
      if (buf.length - (nl + 1) < 8) break;
      const name = buf.toString('latin1', p, nl);
      const len = buf.readBigUInt64LE(nl + 1);
      if (!validName(name) || len > BigInt(Number.MAX_SAFE_INTEGER)) return this.malformed();
      this.binaryName = name;
      this.binaryLeft = Number(len);
      this.binaryParts = [];
      this.binaryLength = 0;
      p = nl + 9;
    }
    this.rest = this.dead ? Buffer.alloc(0) : Buffer.from(buf.subarray(p));
  }

  /** The end of the input: an entry without its closing empty line still counts. */
  end(sink: LineSink): void {
    if (this.dead) return;
    if (this.binaryLeft >= 0 || this.skippingText || this.rest.length > 0) return this.malformed();
    if (this.fields.size > 0) this.endEntry(sink);
  }

  /** Whether a framing error stopped the reader. */
  get stopped(): boolean {
    return this.dead;
  }

  /** The value of a binary field from p; returns where it stopped. */
  private binaryValue(buf: Buffer, p: number): number {
    if (this.binaryLeft > 0) {
      const take = Math.min(this.binaryLeft, buf.length - p);
      if (KEPT.has(this.binaryName) && this.binaryLength + take <= MAX_FIELD) this.binaryParts.push(Buffer.from(buf.subarray(p, p + take)));
      this.binaryLength += take;
      this.binaryLeft -= take;
      p += take;
      if (this.binaryLeft > 0 || p >= buf.length) return p;
    }
    this.binaryLeft = -1;
    if (buf[p] !== 10) {
      this.malformed();
      return p;
    }
    if (this.binaryLength > MAX_FIELD) this.tooLong(this.binaryName);
    else if (KEPT.has(this.binaryName)) this.set(this.binaryName, Buffer.concat(this.binaryParts).toString('latin1'));
    this.binaryParts = [];
    return p + 1;
  }

  /** A text value longer than the buffer: skip it, remembering that the field was too long. */
  private startText(name: string): void {
    if (!validName(name)) return this.malformed();
    this.tooLong(name);
    this.skippingText = true;
  }

  private tooLong(name: string): void {
    if (KEPT.has(name)) this.set(name, TOO_LONG);
  }

  private set(name: string, value: string): void {
    // The same field twice in one entry (journald writes each once) makes the entry untrustworthy.
    if (this.fields.has(name)) this.fields.set(DUPLICATE, '1');
    this.fields.set(name, value);
  }

  private malformed(): void {
    this.counters.journal_malformed++;
    this.dead = true;
    this.fields.clear();
  }

  private endEntry(sink: LineSink): void {
    const f = this.fields;
    this.fields = new Map();
    this.counters.journal_entries++;
    const message = f.get('MESSAGE');
    if (message === undefined) return;
    const trusted = !f.has(DUPLICATE) && (f.get('_TRANSPORT') === 'audit' || (f.get('_TRANSPORT') === 'kernel' && (f.get('SYSLOG_FACILITY') ?? '0') === '0'));
    if (!trusted) {
      if (AUDIT_LIKE.test(message)) this.counters.journal_untrusted++;
      return;
    }
    if (message === TOO_LONG) {
      this.counters.journal_too_long++;
      return;
    }
    const line = f.get('_TRANSPORT') === 'kernel' ? message : auditTransportLine(message, f);
    if (line !== undefined) sink(line);
    else this.counters.journal_untimed++;
  }
}

/** A message that would pass for an audit record. */
const AUDIT_LIKE = /apparmor=|type=(AVC|SECCOMP|1400|1326)|^(AVC|SECCOMP|USER_AVC|APPARMOR_)/;
/** Stands for a value too long to keep; a real value equal to it (it starts with NUL) would be no audit record either. */
const TOO_LONG = '\u0000too long';

/** The fields an entry's verdict needs. */
const KEPT = new Set(['MESSAGE', '_TRANSPORT', 'SYSLOG_FACILITY', '_AUDIT_ID', '_SOURCE_REALTIME_TIMESTAMP', '__REALTIME_TIMESTAMP']);
const DUPLICATE = ' duplicate';
/** Longest field value kept: a record the parser accepts, with room for the field name. */
const MAX_FIELD = MAX_LINE + 64;

/** Journal field names: upper-case letters, digits and `_` (journald refuses others). */
function validName(name: string): boolean {
  return /^[A-Z0-9_]{1,64}$/.test(name);
}

/** `AVC apparmor=...` from the audit transport → `type=AVC msg=audit(sec.ms:id): apparmor=...`. */
function auditTransportLine(message: string, f: Map<string, string>): string | undefined {
  const sp = message.indexOf(' ');
  const usec = f.get('_SOURCE_REALTIME_TIMESTAMP') ?? f.get('__REALTIME_TIMESTAMP');
  const id = f.get('_AUDIT_ID') ?? '0';
  if (sp <= 0 || usec === undefined || !/^\d{1,19}$/.test(usec) || !/^\d{1,19}$/.test(id)) return undefined;
  // journald names types it does not know AUDITnnnn.
  const name = message.slice(0, sp);
  const type = /^AUDIT\d+$/.test(name) ? name.slice(5) : name;
  const ms = BigInt(usec) / 1000n;
  return `type=${type} msg=audit(${ms / 1000n}.${String(ms % 1000n).padStart(3, '0')}:${id}): ${message.slice(sp + 1)}`;
}
