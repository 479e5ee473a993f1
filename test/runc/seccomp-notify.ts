import { join } from 'node:path';
import tables from '../../core/data/syscalls.json' with { type: 'json' };
import type { SeccompProfile, SeccompRule } from '../../core/seccomp.js';
import { syscallName, type Arch } from '../../core/syscalls.js';
import { PACKAGE_ROOT } from '../../lib/package.js';
import { start, type Started } from '../helpers.js';

export interface Denial {
  container: string;
  pid: number;
  syscall: string;
}

/** runc's linux.seccomp with a listener for user notifications (runc 1.1 supports it, not `flags`). */
export type NotifyingProfile = Omit<SeccompProfile, 'syscalls'> & {
  listenerPath: string;
  syscalls: (SeccompRule | { names: string[]; action: 'SCMP_ACT_NOTIFY' })[];
};

/**
 * Counts the syscalls a seccomp profile refuses, per container. runc 1.1 rejects
 * linux.seccomp.flags, so SECCOMP_FILTER_FLAG_LOG (denials as audit type=1326 records) is not
 * available; instead `instrument` sends every syscall the profile refuses to SCMP_ACT_NOTIFY, and
 * the listener (seccomp-notify.py) answers each with EPERM, exactly what the profile's
 * SCMP_ACT_ERRNO returns, and reports it. The allowed set is the profile's, untouched.
 */
export class DenialCounter {
  private readonly seen: Denial[] = [];
  private readonly attached = new Set<string>();
  private buffered = '';

  private constructor(
    readonly socket: string,
    private readonly listener: Started,
    private readonly arch: Arch,
  ) {
    listener.child.stdout!.on('data', (d: Buffer) => this.consume(d.toString()));
  }

  /** Starts the listener on a socket in `dir`. */
  static async start(dir: string, arch: Arch): Promise<DenialCounter> {
    const socket = join(dir, 'seccomp.sock');
    const listener = start('/usr/bin/python3', [join(PACKAGE_ROOT, 'test', 'runc', 'seccomp-notify.py'), socket], { timeoutMs: 60 * 60_000 });
    const counter = new DenialCounter(socket, listener, arch);
    for (let i = 0; i < 200 && !listener.stdout.includes('"listening"'); i++) {
      if (listener.child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    if (!listener.stdout.includes('"listening"')) throw new Error(`seccomp listener did not start: ${listener.stderr}`);
    return counter;
  }

  private consume(text: string) {
    this.buffered += text;
    const lines = this.buffered.split('\n');
    this.buffered = lines.pop()!;
    for (const line of lines) {
      const r = JSON.parse(line) as { container?: string; pid?: number; nr?: number; attached?: number };
      if (r.container === undefined) continue;
      if (r.attached !== undefined) this.attached.add(r.container);
      if (r.nr !== undefined) this.seen.push({ container: r.container, pid: r.pid!, syscall: syscallName(this.arch, r.nr) });
    }
  }

  /**
   * The profile with its refusals routed to this listener: every syscall the architecture's table
   * names and no rule of the profile names goes to SCMP_ACT_NOTIFY (runc refuses NOTIFY for write,
   * which every generated profile allows anyway); anything else still gets the default action.
   * A syscall with rules that compare arguments keeps them: libseccomp lets an unconditional rule
   * override a syscall's conditional ones, so the calls they refuse get the default action
   * unreported (`loggedProfile` counts those).
   */
  instrument(profile: SeccompProfile): NotifyingProfile {
    const ruled = new Set(profile.syscalls.flatMap((s) => s.names));
    const refused = [...new Set(Object.values((tables as Record<string, Record<string, string>>)[this.arch]!))].filter((n) => !ruled.has(n) && n !== 'write').sort();
    return { ...profile, listenerPath: this.socket, syscalls: [...profile.syscalls, { names: refused, action: 'SCMP_ACT_NOTIFY' }] };
  }

  /** Whether runc has handed this container's (or exec's) filter to the listener. */
  isAttached(container: string): boolean {
    return this.attached.has(container);
  }

  /** Denials so far for a container (its first process and every `runc exec` into it), once the listener's last lines are in. */
  async denials(container: string): Promise<Denial[]> {
    await new Promise((r) => setTimeout(r, 250)); // the listener answers first, then reports
    return this.seen.filter((d) => d.container === container);
  }

  async close(): Promise<void> {
    this.listener.child.kill('SIGKILL');
    await this.listener.done.catch(() => {});
  }
}
