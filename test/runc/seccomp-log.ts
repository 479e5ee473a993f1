import { readFileSync, writeFileSync } from 'node:fs';
import { parseLine } from '../../audit/parse.js';
import { KmsgReader } from '../../audit/tail.js';
import type { SeccompProfile } from '../../core/seccomp.js';
import { syscallName, type Arch } from '../../core/syscalls.js';

/** SECCOMP_RET_LOG as the kernel prints it in a type=1326 record. */
const LOG_CODE = '0x7ffc0000';
const RATELIMIT = '/proc/sys/kernel/printk_ratelimit';

/**
 * A profile in log mode: the same rules, but what none of them allows is logged and let through
 * (SCMP_ACT_LOG as the default action) instead of refused. A run under it behaves as without
 * the profile and leaves a record for every call the profile would refuse, whatever refused it:
 * no rule for the name, or rules whose argument comparisons the call fails (which the notify
 * listener cannot report, see DenialCounter.instrument).
 */
export function loggedProfile(profile: SeccompProfile): SeccompProfile {
  const { defaultErrnoRet: _, ...rest } = profile;
  return { ...rest, defaultAction: 'SCMP_ACT_LOG' };
}

/**
 * The kernel's SECCOMP records of log-mode calls, read from /dev/kmsg (no auditd here: kauditd
 * prints them), with printk's rate limit lifted while it is open. Tests run one file at a time
 * and nothing else on the machine installs log-mode filters, so every record read belongs to the
 * container under test.
 */
export class WouldRefuse {
  private readonly kmsg = new KmsgReader();
  private readonly ratelimit = readFileSync(RATELIMIT, 'utf8').trim();

  constructor(private readonly arch: Arch) {
    writeFileSync(RATELIMIT, '0');
  }

  /** Calls logged since the previous take: syscall names, in order. */
  take(): string[] {
    const out: string[] = [];
    this.kmsg.poll((line) => {
      const r = parseLine(line);
      if (r.kind === 'seccomp' && r.code === LOG_CODE && r.syscall !== undefined) out.push(syscallName(this.arch, r.syscall));
    });
    return out;
  }

  close(): void {
    this.kmsg.close();
    writeFileSync(RATELIMIT, this.ratelimit);
  }
}
