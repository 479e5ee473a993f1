/** Linux capability names as AppArmor and vArmor spell them: lower case, no `cap_`. */

export const CAPABILITIES = [
  'chown', 'dac_override', 'dac_read_search', 'fowner', 'fsetid', 'kill', 'setgid', 'setuid', 'setpcap', 'linux_immutable',
  'net_bind_service', 'net_broadcast', 'net_admin', 'net_raw', 'ipc_lock', 'ipc_owner', 'sys_module', 'sys_rawio', 'sys_chroot',
  'sys_ptrace', 'sys_pacct', 'sys_admin', 'sys_boot', 'sys_nice', 'sys_resource', 'sys_time', 'sys_tty_config', 'mknod', 'lease',
  'audit_write', 'audit_control', 'setfcap', 'mac_override', 'mac_admin', 'syslog', 'wake_alarm', 'block_suspend', 'audit_read',
  'perfmon', 'bpf', 'checkpoint_restore',
] as const;

export type Capability = (typeof CAPABILITIES)[number];

const KNOWN: ReadonlySet<string> = new Set(CAPABILITIES);

/** Model keys may carry `cap_` or upper case; undefined when the name is no capability. */
export function capability(key: string): Capability | undefined {
  const name = key.toLowerCase().replace(/^cap_/, '');
  return KNOWN.has(name) ? (name as Capability) : undefined;
}

/** Capabilities that are granted, not merely probed: a denied check (sets.verdict = [denied]) needs no rule. */
export function granted(verdicts: readonly string[] | undefined): boolean {
  return !verdicts || verdicts.length === 0 || verdicts.includes('granted');
}
