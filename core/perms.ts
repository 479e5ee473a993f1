/** File permission words of the model (sets.perms) and what they mean for profiles. */

/** Words that change the file system: never generalised beyond where they were seen. */
export const WRITE_WORDS: ReadonlySet<string> = new Set(['write', 'append', 'create', 'delete', 'rename', 'chmod', 'chown', 'link']);

export function isWrite(word: string): boolean {
  return WRITE_WORDS.has(word);
}

/** AppArmor file permission letters for our words (exec is not a file permission in vArmor's model). */
const LETTERS: Record<string, string> = { read: 'r', write: 'w', append: 'a', create: 'w', delete: 'w', rename: 'w', chmod: 'w', chown: 'w', link: 'l', lock: 'k', mmap: 'm' };

/** Letters in vArmor's order `m r w a l k`. */
export function letters(words: readonly string[]): string[] {
  const set = new Set(words.flatMap((w) => (LETTERS[w] ? [LETTERS[w]!] : [])));
  return 'mrwalk'.split('').filter((l) => set.has(l));
}
