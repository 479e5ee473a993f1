/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The byte-level half of checking an audit log line, compiled to WebAssembly (tools/build-wasm.sh)
 * and driven by audit/bytes.ts. JavaScript walks a string at about 2 ns a character on our nodes,
 * so the two jobs that must see every byte of every line run here, 16 bytes at a time:
 *   - the first byte that is not printable ASCII (the kernel logs nothing else; auditd's ENRICHED
 *     format separates its appended fields with 0x1d);
 *   - a hash of the record's body, with which the attributor recognises a body it has seen.
 * No libc, no allocation: one static line buffer the caller fills.
 */
#include <stdint.h>
#include <wasm_simd128.h>

/* audit/parse.ts MAX_LINE characters, UTF-8 encoded (up to 3 bytes each), plus a SIMD block. */
#define CAP (3 * 16384 + 16)

static unsigned char line[CAP];
static int32_t hash;

__attribute__((export_name("buffer"))) unsigned char *buffer(void) { return line; }
__attribute__((export_name("capacity"))) int32_t capacity(void) { return CAP - 16; }
/* The hash check() computed. */
__attribute__((export_name("body_hash"))) int32_t body_hash(void) { return hash; }

/* Offset of the first byte outside 0x20..0x7e in line[0, n), or n. */
static int32_t first_bad(int32_t n)
{
	const v128_t lo = wasm_u8x16_splat(0x20), hi = wasm_u8x16_splat(0x7e);
	int32_t i = 0;

	for (; i + 16 <= n; i += 16) {
		v128_t v = wasm_v128_load(line + i);
		v128_t bad = wasm_v128_or(wasm_u8x16_lt(v, lo), wasm_u8x16_gt(v, hi));
		if (wasm_v128_any_true(bad))
			return i + __builtin_ctz(wasm_i8x16_bitmask(bad));
	}
	for (; i < n; i++)
		if (line[i] < 0x20 || line[i] > 0x7e)
			return i;
	return n;
}

/* 64-bit multiply-xorshift over line[p, end), eight bytes a step. */
static int32_t mix(int32_t p, int32_t end)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)(end - p);
	uint64_t w = 0;
	int32_t i = p;

	for (; i + 8 <= end; i += 8) {
		__builtin_memcpy(&w, line + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	w = 0;
	for (int s = 0; i < end; i++, s += 8)
		w |= (uint64_t)line[i] << s;
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
	return (int32_t)(h ^ (h >> 29));
}

/*
 * The line is line[0, n) and its body starts at p. Returns the first byte that is not printable
 * ASCII (or n) and hashes the body, which ends at that byte when it is ENRICHED's 0x1d.
 */
__attribute__((export_name("check"))) int32_t check(int32_t n, int32_t p)
{
	int32_t bad = first_bad(n);
	int32_t end = bad < n && line[bad] == 0x1d && bad >= p ? bad : n;

	hash = mix(p, end);
	return bad;
}
