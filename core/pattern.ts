/**
 * Generalised paths are patterns: the model path syntax of paths.ts (`\\` a backslash, `\xNN` a
 * non-UTF-8 byte) plus two globs, `*` (any characters within one path component) and `**` (any
 * characters, across components). A glob character meant literally is written with a backslash
 * before it (`\*`, `\?`, `\[`, `\]`, `\{`, `\}`): model paths never contain those sequences, so a
 * pattern is unambiguous and an ordinary path is its own pattern once escaped.
 */

const GLOB = new Set(['*', '?', '[', ']', '{', '}']);

/** The pattern matching exactly the literal model path `path`. */
export function escapeGlob(path: string): string {
  let out = '';
  for (let i = 0; i < path.length; i++) {
    const c = path[i]!;
    if (c === '\\' && path[i + 1] === '\\') {
      out += '\\\\';
      i++;
    } else if (c === '\\' && path[i + 1] === 'x' && /^[0-9a-f]{2}$/.test(path.slice(i + 2, i + 4))) {
      out += path.slice(i, i + 4);
      i += 3;
    } else if (c === '\\') {
      out += '\\\\'; // a lone backslash is a literal one (paths.ts reads it so); spell it canonically
    } else {
      out += GLOB.has(c) ? '\\' + c : c;
    }
  }
  return out;
}

/** One unit of a pattern: a byte of the path, or a glob. */
export type PatternToken = number | '*' | '**';

const encoder = new TextEncoder();

/**
 * The bytes and globs a pattern stands for. Bare `?[]{}` are taken literally: this project only
 * generates `*` and `**`, and reading anything else as a glob would widen a rule.
 */
export function patternTokens(pattern: string): PatternToken[] {
  const out: PatternToken[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    const next = pattern[i + 1];
    if (c === '\\' && next === '\\') {
      out.push(0x5c);
      i++;
    } else if (c === '\\' && next === 'x' && /^[0-9a-f]{2}$/.test(pattern.slice(i + 2, i + 4))) {
      out.push(parseInt(pattern.slice(i + 2, i + 4), 16));
      i += 3;
    } else if (c === '\\' && next !== undefined && GLOB.has(next)) {
      out.push(next.charCodeAt(0));
      i++;
    } else if (c === '*') {
      const double = next === '*';
      out.push(double ? '**' : '*');
      if (double) i++;
    } else if (pattern.charCodeAt(i) < 0x80) {
      out.push(pattern.charCodeAt(i)); // ASCII: the byte itself, the common case by far
    } else {
      const cp = pattern.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      out.push(...encoder.encode(ch));
      i += ch.length - 1;
    }
  }
  return out;
}

/** True when the pattern has a glob, i.e. stands for more than one path. */
export function hasGlob(pattern: string): boolean {
  return patternTokens(pattern).some((t) => typeof t !== 'number');
}

/** The bytes up to the first glob, one character per byte: every path the pattern matches starts with them. */
export function literalPrefix(pattern: string): string {
  let out = '';
  for (const t of patternTokens(pattern)) {
    if (typeof t !== 'number') break;
    out += String.fromCharCode(t);
  }
  return out;
}
