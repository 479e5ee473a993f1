import type { Arch } from '../core/syscalls.js';

/**
 * What the words of audit records mean: architectures, AppArmor's permission letters and the
 * operations that carry permissions of their own, socket protocol names, the operations that are
 * not file accesses. Lookup tables for audit/attribute.ts; no state.
 */

/** AUDIT_ARCH_* values as audit records print them. */
export const AUDIT_ARCH: Record<string, Arch> = { c000003e: 'x86_64', c00000b7: 'aarch64' };

/** The model's file permissions, one bit each. */
export const PERM_WORDS = ['read', 'write', 'append', 'create', 'exec', 'rename', 'link', 'lock', 'mmap', 'chmod', 'chown', 'delete'] as const;
export const P = Object.fromEntries(PERM_WORDS.map((w, i) => [w, 1 << i])) as Record<(typeof PERM_WORDS)[number], number>;

/** AppArmor's file mask letters (security/apparmor/file.c aa_file_perm_chrs). */
const LETTER: Record<string, number> = { r: P.read, w: P.write, a: P.append, c: P.create, d: P.delete, l: P.link, k: P.lock, m: P.mmap, x: P.exec };
/** LETTER by character code. */
export const LETTER_CODE = new Int32Array(128);
for (const [letter, perm] of Object.entries(LETTER)) LETTER_CODE[letter.charCodeAt(0)] = perm;

/** Operations whose meaning the mask letters do not carry. */
export const OP_PERMS: Record<string, number> = {
  chmod: P.chmod,
  chown: P.chown,
  rename_src: P.rename,
  rename_dest: P.rename,
  link: P.link,
  unlink: P.delete,
  rmdir: P.delete,
  mkdir: P.create,
  mknod: P.create,
  symlink: P.create,
};

/** /etc/protocols names, as libapparmor reports them (and vArmor stores them). */
const PROTOCOLS: Record<number, string> = { 0: 'ip', 1: 'icmp', 2: 'igmp', 6: 'tcp', 17: 'udp', 33: 'dccp', 41: 'ipv6', 58: 'ipv6-icmp', 132: 'sctp', 136: 'udplite', 255: 'raw', 262: 'mptcp' };

/** A socket protocol number as the model names it: libapparmor's /etc/protocols name, else the number. */
export function protocolName(protocol: number): string {
  return PROTOCOLS[protocol] ?? String(protocol);
}

export const MOUNT_OPS = new Set(['mount', 'umount', 'remount', 'pivotroot']);
export const EGRESS_OPS = new Set(['connect', 'sendmsg']);
export const BIND_OPS = new Set(['bind', 'listen']);
/** Operations with a branch of their own ahead of the file branch. */
export function rareOp(op: string): boolean {
  return op === 'signal' || op === 'ptrace' || MOUNT_OPS.has(op) || op.startsWith('dbus');
}
