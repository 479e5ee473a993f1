import { readFileSync } from 'node:fs';

/**
 * audit/bytes.c, compiled to WebAssembly by the build: the checks that must see every byte of a
 * line (printable ASCII, the body's hash) at SIMD speed rather than JavaScript's 2 ns a character.
 */
interface Exports {
  memory: { buffer: ArrayBuffer };
  buffer(): number;
  capacity(): number;
  check(n: number, p: number): number;
  body_hash(): number;
}

// The global Node provides; TypeScript declares it only in its DOM libraries.
declare const WebAssembly: {
  Module: new (code: Uint8Array) => object;
  Instance: new (module: object) => { exports: object };
};

const wasm = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(new URL('./bytes.wasm', import.meta.url)))).exports as unknown as Exports;
// The module's memory never grows: this view stays valid.
const bytes = new Uint8Array(wasm.memory.buffer, wasm.buffer(), wasm.capacity());
const encoder = new TextEncoder();

/**
 * The offset of the first character of line[0, end) that is not printable ASCII, or end; also
 * hashes the body line[p, end) (see bodyHash). Lines are UTF-8 encoded into the module: a character past
 * 0x7e becomes bytes past 0x7e, and everything before the first of them is one byte a character,
 * so byte offsets are character offsets wherever they matter. The buffer holds MAX_LINE characters
 * of three bytes each (longer lines are refused before they get here).
 */
export function firstNonPrintable(line: string, p: number, end: number): number {
  return wasm.check(Math.min(encoder.encodeInto(line, bytes).written, end), p);
}

/** The hash firstNonPrintable() computed of the body: from p to end, or to an ENRICHED 0x1d before it. */
export function bodyHash(): number {
  return wasm.body_hash();
}
