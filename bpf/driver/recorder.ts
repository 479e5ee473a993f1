import { observe, type BehaviorSet, type Category, type Delta, type Replica } from '../../core/behavior.js';
import { protocolName, socketKind } from '../../core/net.js';
import { pathFromHex } from '../../core/paths.js';
import { argsEntry, RECORDED_ARGS } from '../../core/syscall-args.js';
import { syscallName, type Arch } from '../../core/syscalls.js';
import type { TracerRecord } from './loader.js';
import { isEvent, type AcceptRecord, type BindRecord, type ConnectRecord } from './records.js';

/** Syscall first-seen times and cumulative counts of one set (the workload, or its exec sessions). */
class SyscallSet {
  readonly first = new Map<number, number>();
  readonly counts = new Map<number, number>();
}

/** What one object id (a `KIND:HASH` from the kernel's de-dup map) stands for in the model. */
interface ObjectRef {
  category: Category;
  key: string;
  first: number;
  session: boolean;
}

/**
 * Turns one target's tracer records into behavior-set deltas, one per checkpoint. The kernel
 * reports each syscall once per target; the cumulative call counts come with every flush and are
 * put into every delta (a G-counter value, so re-sending them is harmless). Objects (files,
 * capabilities, sockets, ...) are reported once per new permission; their cumulative event counts
 * arrive as `tallies` on every flush. Records tagged `"session":"exec"` (runc exec, kubectl exec)
 * go into the separate sessions set.
 */
export class Recorder {
  private delta: BehaviorSet = {};
  private sessions: BehaviorSet = {};
  private readonly workSyscalls = new SyscallSet();
  private readonly sessionSyscalls = new SyscallSet();
  /** Count per model item and object id: one item can come from several ids (e.g. `./a` and `a`). */
  private readonly itemCounts = new Map<string, Map<string, number>>();
  private readonly objects = new Map<string, ObjectRef>();
  private counters: Record<string, number> = {};
  /** Host pids seen in this target's records: the audit collector attributes seccomp records by them. */
  private readonly pids = new Set<number>();
  /** Processes that switched user (setuid/setgid granted): if one then execs, it was a wrapper (setpriv, gosu, su). */
  private readonly switched = new Map<number, { session: boolean; caps: Set<string> }>();
  events = 0;

  constructor(
    private readonly target: number,
    private readonly replica: Replica,
    private readonly arch: Arch,
  ) {}

  hasPid(pid: number): boolean {
    return this.pids.has(pid);
  }

  /** Feeds one record; returns false when it is not this target's. */
  accept(r: TracerRecord): boolean {
    // Lines from the loader have passed checkRecord (loader.ts): each kind has the fields of its type.
    if (r.t === 'stats') {
      if (r.target !== this.target) return false;
      for (const [k, v] of Object.entries(r)) if (typeof v === 'number' && k !== 'target') this.counters[k] = v;
      return true;
    }
    // kallsyms hid the kernel's addresses: capability probes are modelled as use (bpf/README.md)
    if (r.t === 'ready') {
      if (r.noaudit === false) this.counters.noaudit_unclassified = 1;
      return true;
    }
    if (!('target' in r) || r.target !== this.target) return false;
    // the fields some kinds have
    const common: { t: string; pid?: number; ts?: number; session?: 'exec'; id?: string } = r;
    this.addPid(common.pid);
    // a reply of this target (launched, tracked, ...): only its pid is of use
    if (!isEvent(r) && r.t !== 'counts' && r.t !== 'tallies') return false;
    const at = common.ts ?? Date.now();
    const session = common.session === 'exec';
    const into = session ? this.sessions : this.delta;
    const syscalls = session ? this.sessionSyscalls : this.workSyscalls;
    const id = common.id;
    const put = (category: Category, key: string, sets?: Record<string, string[]>) => {
      this.bump(into, category, key, at, id ?? `${category}\0${key}\0${at}`, session, sets);
      this.events++;
    };
    if (r.t === 'exit') this.switched.delete(r.pid); // its pid may be reused
    switch (r.t) {
      case 'syscall': {
        if (!syscalls.first.has(r.nr)) syscalls.first.set(r.nr, at);
        this.events++;
        break;
      }
      case 'counts':
        for (const [nr, count] of Object.entries(r.syscalls)) syscalls.counts.set(Number(nr), count);
        break;
      case 'exec': {
        this.markWrapper(r.pid, at);
        const path = pathFromHex(r.path_hex);
        put('executions', path);
        put('files', path, { perms: ['exec'] });
        // A script: bprm->filename names the script while the resolved file is its interpreter.
        const filename = r.filename_hex ? pathFromHex(r.filename_hex) : undefined;
        if (filename && filename.startsWith('/') && filename !== path) put('executions', filename);
        break;
      }
      case 'file':
        put('files', pathFromHex(r.path_hex), { perms: r.perms ?? [] });
        break;
      case 'capability': {
        const sets = { verdict: [r.granted ? 'granted' : 'denied'], ...(r.caller !== undefined ? { callers: [r.caller] } : {}) };
        if (r.name === undefined) put('unhandled', `capability ${r.cap}`);
        else put(r.noaudit ? 'noaudit' : 'capabilities', r.name, sets);
        if (!r.noaudit && r.granted && (r.name === 'setuid' || r.name === 'setgid')) {
          const s = this.switched.get(r.pid) ?? { session, caps: new Set<string>() };
          s.caps.add(r.name);
          this.switched.set(r.pid, s);
        }
        break;
      }
      case 'socket': {
        const k = socketKind(`${r.domain}/${r.type}/${r.protocol}`);
        put('sockets', `${k.domain}/${k.type}/${k.protocol}`);
        break;
      }
      case 'connect': {
        const key = endpointKey(r);
        if (key) put('egresses', key, protocols(r));
        break;
      }
      case 'bind': {
        const key = endpointKey(r);
        if (key) put('binds', key, { ops: [r.op], ...protocols(r) });
        break;
      }
      case 'accept': {
        const key = endpointKey(r);
        if (key) put('ingresses', key, protocols(r));
        break;
      }
      case 'signal':
        put('signals', r.peer, { signals: [r.name ?? String(r.sig)] });
        break;
      case 'ptrace':
        put('ptraces', r.peer, { perms: [r.mode] });
        break;
      case 'mount': {
        // Attempts count, failed or not: the profile must allow what the workload tries.
        const path = pathFromHex(r.path_hex);
        const fstype = Buffer.from(r.fstype_hex ?? '', 'hex').toString('latin1');
        put('mounts', `${path}|${fstype}`, { flags: r.flags ?? [], ops: [r.op] });
        break;
      }
      case 'namespace':
        put('namespaces', r.op, { types: r.types ?? [] });
        break;
      case 'arg': {
        // The tracer sends the values hex (past 2^53); the syscall's item keeps each tuple seen.
        const name = syscallName(this.arch, r.nr);
        const indexes = RECORDED_ARGS[name];
        const values = [r.value, r.value2].map((v) => (typeof v === 'string' && /^0x[0-9a-f]{1,16}$/.test(v) ? BigInt(v) : undefined));
        if (!indexes || values.slice(0, indexes.length).some((v) => v === undefined)) put('unhandled', `arg record of ${name}`);
        else put('syscalls', name, { args: [argsEntry(values.slice(0, indexes.length) as bigint[])] });
        break;
      }
      case 'tallies':
        for (const [oid, n] of Object.entries(r.counts)) this.tally(oid, n);
        break;
      case 'joined':
      case 'container-joined':
        break;
      default:
        return false;
    }
    return true;
  }

  /** Notes a pid of this target; false (the record is not one the recorder models). */
  private addPid(pid: unknown): false {
    if (typeof pid === 'number') this.pids.add(pid);
    return false;
  }

  /** The process switched user and now execs: its setuid/setgid items get `then: exec` (count unchanged). */
  private markWrapper(pid: number, at: number): void {
    const s = this.switched.get(pid);
    if (!s) return;
    this.switched.delete(pid);
    for (const cap of s.caps) {
      const item = `${s.session ? 's' : 'w'}\0capabilities\0${cap}`;
      observe(s.session ? this.sessions : this.delta, 'capabilities', cap, at, this.replica, sum(this.itemCounts.get(item) ?? new Map()), { sets: { verdict: ['granted'], then: ['exec'] } });
    }
  }

  /** Counts are cumulative per replica, so each observation carries the running total. */
  private bump(into: BehaviorSet, category: Category, key: string, at: number, id: string, session: boolean, sets?: Record<string, string[]>): void {
    const item = `${session ? 's' : 'w'}\0${category}\0${key}`;
    const byId = this.itemCounts.get(item) ?? new Map<string, number>();
    this.itemCounts.set(item, byId);
    byId.set(id, (byId.get(id) ?? 0) + 1);
    // exec records carry no id: their files entry shares the executions count
    if (!this.objects.has(id) && !id.includes('\0')) this.objects.set(id, { category, key, first: at, session });
    observe(into, category, key, at, this.replica, sum(byId), sets ? { sets } : undefined);
  }

  private tally(id: string, n: number): void {
    const ref = this.objects.get(id);
    if (!ref) return; // its record was lost or belongs to another target's slot
    const item = `${ref.session ? 's' : 'w'}\0${ref.category}\0${ref.key}`;
    const byId = this.itemCounts.get(item) ?? new Map<string, number>();
    this.itemCounts.set(item, byId);
    byId.set(id, Math.max(byId.get(id) ?? 0, n));
    observe(ref.session ? this.sessions : this.delta, ref.category, ref.key, ref.first, this.replica, sum(byId));
  }

  private putSyscalls(into: BehaviorSet, set: SyscallSet, now: number): void {
    for (const [nr, first] of set.first) {
      const count = set.counts.get(nr) ?? 1;
      observe(into, 'syscalls', syscallName(this.arch, nr), first, this.replica, Math.max(count, 1));
      const item = into.syscalls![syscallName(this.arch, nr)]!;
      item.last = Math.max(item.first, now);
    }
  }

  /** The behaviors since the previous call, with current syscall counts; resets the delta. */
  take(now: number): Delta & { sessions: BehaviorSet } {
    const behaviors = this.delta;
    const sessions = this.sessions;
    this.putSyscalls(behaviors, this.workSyscalls, now);
    this.putSyscalls(sessions, this.sessionSyscalls, now);
    this.delta = {};
    this.sessions = {};
    return { behaviors, sessions, counters: { ...this.counters } };
  }
}

function sum(m: Map<string, number>): number {
  let s = 0;
  for (const v of m.values()) s += v;
  return s;
}

type Endpoint = ConnectRecord | BindRecord | AcceptRecord;

/** An inet record's IP protocol as `sets.protocols`. */
function protocols(r: Endpoint): { protocols: string[] } | undefined {
  return r.protocol !== undefined && r.protocol > 0 ? { protocols: [protocolName(r.protocol)] } : undefined;
}

/** `${family}|${address}|${port}`; unix sockets `unix|${path}|0` (abstract names as `@name`). */
function endpointKey(r: Endpoint): string | undefined {
  // a dual-stack socket's IPv4 peer (::ffff:10.0.0.5) is that IPv4 address
  const mapped = r.family === 'inet6' ? /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(String(r.address)) : null;
  if (mapped) return `inet|${mapped[1]}|${Number(r.port)}`;
  if (r.family === 'inet' || r.family === 'inet6') return `${r.family}|${String(r.address)}|${Number(r.port)}`;
  if (r.family !== 'unix' || r.unnamed) return undefined;
  const name = pathFromHex(r.path_hex ?? '');
  return `unix|${r.abstract ? '@' + name : name}|0`;
}
