/**
 * Paths in the model are strings. Kernel paths are bytes and may not be UTF-8, so the model spells
 * a path with one escape: `\\` is a backslash and `\xNN` a byte that is not part of valid UTF-8.
 * Every other character (newlines and quotes included) is itself; generators escape for their
 * own syntax. This is lossless and leaves ordinary paths unchanged.
 */

export function pathFromBytes(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    if (b === 0x5c) {
      out += '\\\\';
      i++;
      continue;
    }
    const len = utf8SequenceLength(bytes, i);
    if (len === 0) {
      out += '\\x' + b.toString(16).padStart(2, '0');
      i++;
    } else {
      out += new TextDecoder().decode(bytes.subarray(i, i + len));
      i += len;
    }
  }
  return out;
}

export function pathFromHex(hex: string): string {
  return pathFromBytes(Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16)));
}

/** The raw bytes a model path stands for. */
export function pathToBytes(path: string): Uint8Array {
  const out: number[] = [];
  const enc = new TextEncoder();
  for (let i = 0; i < path.length; i++) {
    const c = path[i]!;
    if (c === '\\' && path[i + 1] === '\\') {
      out.push(0x5c);
      i++;
    } else if (c === '\\' && path[i + 1] === 'x' && /^[0-9a-f]{2}$/.test(path.slice(i + 2, i + 4))) {
      out.push(parseInt(path.slice(i + 2, i + 4), 16));
      i += 3;
    } else if (path.charCodeAt(i) < 0x80) {
      out.push(path.charCodeAt(i));
    } else {
      const cp = path.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      out.push(...enc.encode(ch));
      i += ch.length - 1;
    }
  }
  return Uint8Array.from(out);
}

/** Length of the valid UTF-8 sequence starting at i, or 0 when the byte there starts none. */
function utf8SequenceLength(b: Uint8Array, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const cont = (k: number) => i + k < b.length && (b[i + k]! & 0xc0) === 0x80;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    if (!cont(1) || !cont(2)) return 0;
    const c1 = b[i + 1]!;
    if ((c === 0xe0 && c1 < 0xa0) || (c === 0xed && c1 > 0x9f)) return 0; // overlong, surrogates
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    const c1 = b[i + 1]!;
    if ((c === 0xf0 && c1 < 0x90) || (c === 0xf4 && c1 > 0x8f)) return 0;
    return 4;
  }
  return 0;
}
