/**
 * The syscall arguments the model keeps, for seccomp rules that compare them. The tracer records
 * these arguments (bpf/syscalls.bpf.c, REC_ARG) into the syscall's item as `sets.args`, one entry
 * per distinct tuple: the values in the order of RECORDED_ARGS, hex, comma-separated
 * (`0x5413`, `0x1,0x1a`). Each is a C int or unsigned int that the kernel truncates to 32 bits, so a
 * rule compares the low 32 bits of the register (what the kernel acts on).
 */

/** Syscall name → the indexes of the arguments recorded. */
export const RECORDED_ARGS: Readonly<Record<string, readonly number[]>> = {
  personality: [0], // persona
  prctl: [0], // option
  ioctl: [1], // request
  setsockopt: [1, 2], // level, option name
  getsockopt: [1, 2],
};

/** Namespace types (the model's names) and the CLONE_NEW* flag that creates each. */
export const NAMESPACE_FLAGS: Readonly<Record<string, number>> = {
  mnt: 0x00020000,
  cgroup: 0x02000000,
  uts: 0x04000000,
  ipc: 0x08000000,
  user: 0x10000000,
  pid: 0x20000000,
  net: 0x40000000,
  time: 0x00000080,
};

/** Every CLONE_NEW* flag. */
export const CLONE_NEW_MASK = Object.values(NAMESPACE_FLAGS).reduce((a, b) => a | b, 0) >>> 0;

export const LOW32 = 0xffffffff;

/** One recorded tuple as its `sets.args` entry. */
export function argsEntry(values: readonly bigint[]): string {
  return values.map((v) => `0x${v.toString(16)}`).join(',');
}

/**
 * A `sets.args` entry read back: the low 32 bits of each value, or undefined when it is not the
 * recorded shape for `syscall` (the store is not trusted; such an entry widens the rule to the name).
 */
export function parseArgsEntry(syscall: string, entry: string): number[] | undefined {
  const indexes = RECORDED_ARGS[syscall];
  const parts = entry.split(',');
  if (!indexes || parts.length !== indexes.length || !parts.every((p) => /^0x[0-9a-f]{1,16}$/.test(p))) return undefined;
  return parts.map((p) => Number(BigInt(p) & BigInt(LOW32)));
}
