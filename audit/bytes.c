/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The byte-level half of checking an audit log line, compiled to WebAssembly (tools/build-wasm.sh)
 * and driven by audit/bytes.ts. JavaScript walks a string at about 2 ns a character on our nodes,
 * so the jobs that must see every byte of every line run here, 16 bytes at a time where they can:
 *   - the first byte that is not printable ASCII (the kernel logs nothing else; auditd's ENRICHED
 *     format separates its appended fields with 0x1d);
 *   - a hash of the record's body, with which the attributor recognises a body it has seen;
 *   - the body's key=value scan (scan_fields), leaving each field's offsets in tables that
 *     audit/parse.ts reads through views on this module's memory. The keys it knows, their codes
 *     and which are numbers are parse.ts's, written here at start-up (keys()).
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
 * The line is line[0, n) (UTF-8 encoding written bytes) and its body starts at p. Returns the first
 * byte that is not printable ASCII (or n) and hashes the body, which ends at that byte when it is
 * ENRICHED's 0x1d. The byte after the line is zeroed: the field scan may look one byte past the
 * body's end, and must not see the previous line there.
 */
__attribute__((export_name("check"))) int32_t check(int32_t written, int32_t n, int32_t p)
{
	int32_t bad;

	line[written] = 0;
	bad = first_bad(n);
	int32_t end = bad < n && line[bad] == 0x1d && bad >= p ? bad : n;

	hash = mix(p, end);
	return bad;
}

/* ---- The field scan. Codes, flags and rejection codes are audit/parse.ts's (keys()). */

#define MAX_FIELDS 64
#define MAX_KEYS 256
#define F_UINT_APPARMOR 1 /* an unsigned decimal in AppArmor records */
#define F_UINT_SECCOMP 2  /* an unsigned decimal in SECCOMP records */
#define F_UNIQUE 4        /* a second one refuses the record (code < 32) */
#define UNKNOWN (-128)

/* Per field code: offsets of the value, quoted or not, its number, the scan generation that set it. */
static int32_t f0[MAX_FIELDS], f1[MAX_FIELDS], fg[MAX_FIELDS];
static double fn[MAX_FIELDS];
static unsigned char fq[MAX_FIELDS], fflags[MAX_FIELDS];
/* Written by parse.ts: per key, its length, its code (signed; negative: known and skipped), its name; a 0 length ends. */
static unsigned char keytab[4096];
/* Keys by their first two bytes: the first candidate, then the next one with the same two (index + 1, 0 ends). */
static int16_t first2[128 * 128], knext[MAX_KEYS], kcode[MAX_KEYS], kname[MAX_KEYS], klen[MAX_KEYS];
static int32_t c_msg, c_pid, c_subj, r_malformed, r_unbalanced, r_duplicate;
/* Nested msg='...' values (each at least `msg='` and `'`, so never this deep): where the enclosing list ends, what it has seen, where it resumes. */
#define MAX_DEPTH (CAP / 4)
static int32_t st_end[MAX_DEPTH], st_resume[MAX_DEPTH];
static uint32_t st_seen[MAX_DEPTH];

__attribute__((export_name("f0"))) int32_t *f0_(void) { return f0; }
__attribute__((export_name("f1"))) int32_t *f1_(void) { return f1; }
__attribute__((export_name("fg"))) int32_t *fg_(void) { return fg; }
__attribute__((export_name("fn"))) double *fn_(void) { return fn; }
__attribute__((export_name("fq"))) unsigned char *fq_(void) { return fq; }
__attribute__((export_name("fflags"))) unsigned char *fflags_(void) { return fflags; }
__attribute__((export_name("keytab"))) unsigned char *keytab_(void) { return keytab; }
__attribute__((export_name("max_fields"))) int32_t max_fields(void) { return MAX_FIELDS; }
__attribute__((export_name("keytab_size"))) int32_t keytab_size(void) { return sizeof(keytab); }

/*
 * Builds the key lookup from keytab, once, and takes the codes scan_fields() needs to know. Returns
 * the number of keys, or -1 for a table it cannot hold (a name shorter than two bytes, too many keys).
 */
__attribute__((export_name("keys"))) int32_t keys(int32_t msg, int32_t pid, int32_t subj, int32_t malformed,
						   int32_t unbalanced, int32_t duplicate)
{
	int32_t n = 0, o = 0;

	c_msg = msg, c_pid = pid, c_subj = subj;
	r_malformed = malformed, r_unbalanced = unbalanced, r_duplicate = duplicate;
	for (; keytab[o] != 0; o += 2 + keytab[o], n++) {
		int32_t len = keytab[o], c0 = keytab[o + 2], c1 = keytab[o + 3];
		if (n >= MAX_KEYS || len < 2 || o + 2 + len >= (int32_t)sizeof(keytab) || c0 >= 128 || c1 >= 128)
			return -1;
		klen[n] = len;
		kcode[n] = (signed char)keytab[o + 1];
		kname[n] = o + 2;
		knext[n] = first2[c0 << 7 | c1];
		first2[c0 << 7 | c1] = n + 1;
	}
	return n;
}

/* The first c in line[p, end), or end. */
static int32_t find(int32_t p, int32_t end, unsigned char c)
{
	const v128_t cv = wasm_u8x16_splat(c);

	/* The buffer has a block of slack past any line, and bytes past end are masked off. */
	for (; p < end; p += 16) {
		uint32_t m = wasm_i8x16_bitmask(wasm_i8x16_eq(wasm_v128_load(line + p), cv));
		if (end - p < 16)
			m &= (1u << (end - p)) - 1;
		if (m)
			return p + __builtin_ctz(m);
	}
	return end;
}

/* The code of a known key at p with its `=` at *eq, or UNKNOWN. */
static int32_t known_key(int32_t p, int32_t *eq)
{
	unsigned c0 = line[p], c1 = line[p + 1];

	if (c0 >= 128 || c1 >= 128)
		return UNKNOWN;
	for (int32_t k = first2[c0 << 7 | c1] - 1; k >= 0; k = knext[k] - 1) {
		int32_t len = klen[k], i = 2;
		const unsigned char *name = keytab + kname[k];
		if (line[p + len] != '=')
			continue;
		while (i < len && line[p + i] == name[i])
			i++;
		if (i == len) {
			*eq = p + len;
			return kcode[k];
		}
	}
	return UNKNOWN;
}

/* Unsigned decimal line[v0, v1) of up to 15 digits, or -1. */
static double uint_at(int32_t v0, int32_t v1)
{
	uint64_t x = 0;

	if (v1 <= v0 || v1 - v0 > 15)
		return -1;
	for (int32_t i = v0; i < v1; i++) {
		unsigned d = line[i] - '0';
		if (d > 9)
			return -1;
		x = x * 10 + d;
	}
	return (double)x;
}

/*
 * The record's key=value list line[p, end): every field we know into the tables, stamped gen.
 * Returns 0, or parse.ts's rejection code. Unknown keys are skipped once checked (not empty, no
 * space or quote); values are "quoted", unquoted up to a space, or, for USER_AVC's msg='...', a
 * list of their own (its own duplicates; the outer pid is the dbus daemon's, so forgotten).
 */
__attribute__((export_name("scan_fields"))) int32_t scan_fields(int32_t p, int32_t end, int32_t apparmor, int32_t gen)
{
	const unsigned char kind = apparmor ? F_UINT_APPARMOR : F_UINT_SECCOMP;
	uint32_t seen = 0;
	int32_t depth = 0;

	for (;;) {
		int32_t eq, code, v0, v1;
		unsigned char q;

		if (p >= end) {
			if (depth == 0)
				return 0;
			depth--;
			end = st_end[depth], seen = st_seen[depth], p = st_resume[depth];
			continue;
		}
		if (line[p] == ' ') {
			p++;
			continue;
		}
		code = known_key(p, &eq);
		if (code == UNKNOWN) {
			eq = find(p, end, '=');
			if (eq >= end || eq == p || find(p, eq, ' ') < eq || find(p, eq, '"') < eq)
				return r_malformed;
			code = -1;
		}
		q = line[eq + 1];
		v0 = eq + 1;
		if (q == '"') {
			v0++;
			v1 = find(v0, end, '"');
			if (v1 >= end)
				return r_unbalanced;
			p = v1 + 1;
		} else if (q == '\'') {
			/* The value runs to the list's last quote. */
			int32_t close = end - 1;
			while (close > eq + 1 && line[close] != '\'')
				close--;
			if (close <= eq + 1)
				return r_unbalanced;
			if (code != c_msg || !apparmor || seen & (1u << c_msg) || depth == MAX_DEPTH)
				return r_malformed;
			seen |= 1u << c_msg;
			fg[c_pid] = 0;
			st_end[depth] = end, st_seen[depth] = seen, st_resume[depth] = close + 1;
			depth++;
			end = close, seen = 0, p = eq + 2;
			continue;
		} else {
			v1 = p = find(v0, end, ' ');
			if (code == c_subj && v1 < end && line[v1 + 1] == '(') {
				/* An AppArmor task label prints unquoted with its mode: `subj=name (complain)`. */
				int32_t close = find(v1, end, ')');
				if (close >= end)
					return r_malformed;
				v1 = p = close + 1;
			}
		}
		if (p < end && line[p] != ' ')
			return r_malformed;
		if (code < 0)
			continue;
		if (fflags[code] & F_UNIQUE) {
			if (seen & (1u << code))
				return r_duplicate;
			seen |= 1u << code;
		}
		if (fflags[code] & kind) {
			double x = uint_at(v0, v1);
			if (x < 0)
				return r_malformed;
			fn[code] = x;
		}
		f0[code] = v0;
		f1[code] = v1;
		fq[code] = q == '"';
		fg[code] = gen;
	}
}
