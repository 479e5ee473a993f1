import tables from './data/syscalls.json' with { type: 'json' };

/** Architectures we have syscall tables for, named as the kernel's uname -m. */
export type Arch = keyof typeof tables;

const byArch = tables as Record<string, Record<string, string>>;

export function isArch(arch: string): arch is Arch {
  return arch in byArch;
}

/** Syscall name for a number, or `syscall_<nr>` when the table does not know it (newer kernel). */
export function syscallName(arch: Arch, nr: number): string {
  return byArch[arch]![String(nr)] ?? `syscall_${nr}`;
}

export function syscallNumber(arch: Arch, name: string): number | undefined {
  for (const [nr, n] of Object.entries(byArch[arch]!)) if (n === name) return Number(nr);
  return undefined;
}

/** The kernel's name for Node's process.arch values. */
export function archFromNode(nodeArch: string): Arch {
  const arch = ({ x64: 'x86_64', arm64: 'aarch64' } as Record<string, string>)[nodeArch];
  if (!arch || !isArch(arch)) throw new Error(`unsupported architecture ${nodeArch}`);
  return arch;
}

/** seccomp's SCMP_ARCH_* name for each architecture. */
export const SCMP_ARCH: Record<Arch, string> = { x86_64: 'SCMP_ARCH_X86_64', aarch64: 'SCMP_ARCH_AARCH64' };

/** Every architecture a profile is generated for. */
export const ALL_ARCHES = Object.keys(SCMP_ARCH) as Arch[];

/**
 * The ABIs a profile for the architecture lists, as moby's default profile does: the 32-bit ones
 * a node of it also runs (names resolve per ABI; an ABI left out would meet the runtime's
 * bad-architecture action instead of the rules).
 */
export const PROFILE_ARCHES: Record<Arch, string[]> = { x86_64: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'], aarch64: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'] };
