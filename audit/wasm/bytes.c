/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The byte-level half of checking an audit log line, compiled to WebAssembly (tools/build-wasm.sh)
 * and driven by audit/bytes.ts. JavaScript walks a string at about 2 ns a character on our nodes,
 * so the jobs that must see every byte of every line run here, 16 bytes at a time where they can:
 *   - the framing (frame): auditd's or the kernel's prefix, its time stamp, serial and type, with
 *     the limits parse.ts had in characters (type names and accepted types written here by types());
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
/* The hash frame() computed. */
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

/* ---- The framing. Type names, accepted types and rejection codes are audit/parse.ts's (types()). */

#define MAX_TYPES 32
/* Written by parse.ts: per accepted type, its number (16 bits, little endian), its name's length and name (0: no name); number 0 ends. */
static unsigned char typetab[512];
static int32_t tnum[MAX_TYPES], tname[MAX_TYPES], tlen[MAX_TYPES], ntypes;
static int32_t r_not_audit, r_other_type, r_binary, r_frame_malformed;
/* The frame's results: time (ms since the epoch), serial, type; and where the body ends. */
static double meta[3];
static int32_t body_end_;
/* The line's length in bytes, and whether each byte is a character (all ASCII). */
static int32_t len_, ascii_;

__attribute__((export_name("typetab"))) unsigned char *typetab_(void) { return typetab; }
__attribute__((export_name("typetab_size"))) int32_t typetab_size(void) { return sizeof(typetab); }
__attribute__((export_name("meta"))) double *meta_(void) { return meta; }
__attribute__((export_name("body_end"))) int32_t body_end(void) { return body_end_; }

/* Builds the type lookup from typetab and takes the rejection codes; returns the number of types, or -1. */
__attribute__((export_name("types"))) int32_t types(int32_t not_audit, int32_t other_type, int32_t malformed, int32_t binary)
{
	int32_t o = 0;

	r_not_audit = not_audit, r_other_type = other_type, r_frame_malformed = malformed, r_binary = binary;
	for (ntypes = 0; typetab[o] | typetab[o + 1]; o += 3 + typetab[o + 2], ntypes++) {
		if (ntypes >= MAX_TYPES || o + 3 + typetab[o + 2] >= (int32_t)sizeof(typetab) - 2)
			return -1;
		tnum[ntypes] = typetab[o] | typetab[o + 1] << 8;
		tlen[ntypes] = typetab[o + 2];
		tname[ntypes] = o + 3;
	}
	return ntypes;
}

/*
 * The limits of the framing count characters (UTF-16 units, as the line's string does): the units
 * before byte offset b, which is the same number unless a non-ASCII character precedes it.
 */
static int32_t units(int32_t b)
{
	int32_t u = 0;

	if (ascii_)
		return b;
	for (int32_t i = 0; i < b; i++)
		u += (line[i] & 0xc0) != 0x80 ? 1 + (line[i] >= 0xf0) : 0;
	return u;
}

/* Whether the line has the literal at p. */
static int at(int32_t p, const char *lit)
{
	for (; *lit; p++, lit++)
		if (p >= len_ || line[p] != (unsigned char)*lit)
			return 0;
	return 1;
}

/* The first c in line[p, len_), or -1 (find() of the field scan reads 16 bytes at a time; a frame rarely looks far). */
static int32_t index_of(int32_t p, unsigned char c)
{
	for (; p < len_; p++)
		if (line[p] == c)
			return p;
	return -1;
}

static int digit(int32_t p) { return p < len_ && line[p] >= '0' && line[p] <= '9'; }

/* Offset of the message in a /dev/kmsg record `prio,seq,usec,flags[,...];msg`, or -1 (not the kernel facility). */
static int32_t kmsg_body(void)
{
	int32_t i = 0, semi;
	double prio = 0;

	for (; digit(i); i++)
		prio = prio * 10 + line[i] - 48;
	if (!at(i, ","))
		return -1;
	semi = index_of(i, ';');
	if (semi < 0 || units(semi) > 64)
		return -1;
	/* Facility is prio >> 3; the kernel rejects facility 0 (kern) from userspace writers of /dev/kmsg. */
	return prio < 8 ? semi + 1 : -1;
}

/* Offset of the message in `<timestamp> <host> kernel: msg`, or -1 when another program logged it. */
static int32_t syslog_body(void)
{
	/* RFC 3164 timestamps are three words (`Nov  7 10:00:00`), RFC 3339 ones a single word. */
	int32_t i = 0, words = digit(0) ? 2 : 4;

	for (int32_t w = 0; w < words; w++) {
		int32_t sp = index_of(i, ' ');
		if (sp < 0 || units(sp) > 128)
			return -1;
		i = sp + 1;
		while (at(i, " "))
			i++;
	}
	return at(i, "kernel: ") ? i + 8 : -1;
}

static int32_t accepted(double type)
{
	for (int32_t k = 0; k < ntypes; k++)
		if (tnum[k] == type)
			return 1;
	return 0;
}

/* From just after `audit(`: the time stamp; returns where the fields start. */
static int32_t parse_stamp(int32_t p, double type)
{
	double sec = 0, ms = 0, serial = 0;
	int32_t p0 = p, m0;

	if (!accepted(type))
		return r_other_type;
	for (; digit(p); p++)
		sec = sec * 10 + line[p] - 48;
	if (p == p0 || !at(p, "."))
		return r_frame_malformed;
	m0 = ++p;
	for (; digit(p); p++)
		ms = ms * 10 + line[p] - 48;
	if (p - m0 != 3 || !at(p, ":"))
		return r_frame_malformed;
	p0 = ++p;
	for (; digit(p); p++)
		serial = serial * 10 + line[p] - 48;
	if (p == p0 || !at(p, "): "))
		return r_frame_malformed;
	meta[0] = sec * 1000 + ms;
	meta[1] = serial;
	meta[2] = type;
	return p + 3;
}

/* Kernel framing from offset p: `[ts] ` then `audit: ` then `type=N audit(sec.ms:serial): `. */
static int32_t parse_kernel(int32_t p)
{
	double type = 0;
	int32_t t0;

	if (at(p, "[")) {
		int32_t close = index_of(p, ']');
		while (close >= 0 && !at(close + 1, " "))
			close = index_of(close + 1, ']');
		if (close < 0 || units(close) - units(p) > 32)
			return r_not_audit;
		p = close + 2;
	}
	if (at(p, "audit: "))
		p += 7;
	if (!at(p, "type="))
		return r_not_audit;
	p += 5;
	for (t0 = p; digit(p); p++)
		type = type * 10 + line[p] - 48;
	if (p == t0 || !at(p, " audit("))
		return r_not_audit;
	return parse_stamp(p + 7, type);
}

/* One to five decimal digits line[p, e), else -1. */
static int32_t digits(int32_t p, int32_t e)
{
	int32_t x = 0;

	if (e <= p || e - p > 5)
		return -1;
	for (; p < e; p++) {
		if (!digit(p))
			return -1;
		x = x * 10 + line[p] - 48;
	}
	return x;
}

/* `AVC`, `1400`, auditd's `UNKNOWN[1400]` or another accepted name in line[p, e); -1 for any other type (SYSCALL, PATH, ...). */
static int32_t type_number(int32_t p, int32_t e)
{
	if (digit(p))
		return digits(p, e);
	if (at(p, "UNKNOWN[") && line[e - 1] == ']')
		return digits(p + 8, e - 1);
	for (int32_t k = 0; k < ntypes; k++) {
		int32_t i = 0;
		if (tlen[k] == 0 || tlen[k] != e - p) /* a type without a name has none to match */
			continue;
		while (i < tlen[k] && line[p + i] == typetab[tname[k] + i])
			i++;
		if (i == tlen[k])
			return tnum[k];
	}
	return -1;
}

/* auditd framing: `[node=N ]type=NAME msg=audit(sec.ms:serial): `. */
static int32_t parse_auditd(void)
{
	int32_t p = 0, sp;

	if (at(0, "node=")) {
		sp = index_of(5, ' ');
		if (sp < 0 || !at(sp + 1, "type="))
			return r_not_audit;
		p = sp + 1;
	}
	sp = index_of(p + 5, ' ');
	/* Kernel framing without its prefixes (`type=1400 audit(...)`), as older kernels printed it. */
	if (sp >= 0 && at(sp, " audit("))
		return parse_kernel(p);
	if (sp < 0 || !at(sp, " msg=audit("))
		return r_not_audit;
	return parse_stamp(sp + 11, type_number(p + 5, sp));
}

static int32_t frame_at(void)
{
	int32_t p;

	if (at(0, "type=") || at(0, "node="))
		return parse_auditd();
	if (digit(0)) {
		p = kmsg_body();
		if (p < 0)
			p = syslog_body(); /* an RFC 3339 syslog timestamp also starts with a digit */
	} else if (at(0, "[") || at(0, "audit: ")) {
		p = 0;
	} else {
		p = syslog_body();
	}
	return p < 0 ? r_not_audit : parse_kernel(p);
}

/*
 * The line is line[0, n) (TextEncoder's UTF-8, n bytes; ascii when that is one byte a character).
 * Finds the framing (time, serial and type into meta), then checks the bytes: the kernel logs
 * printable ASCII only, and auditd's ENRICHED format appends interpreted copies of the fields after
 * a 0x1d, where the body ends (body_end). Hashes the body. Returns where the body starts, or a
 * rejection code; the framing's rejections come first. Every byte before the first that is not
 * printable ASCII is one character, so an accepted line's offsets are character offsets. The byte
 * after the line is zeroed: the field scan may look one byte past the body's end, and must not see
 * the previous line there.
 */
__attribute__((export_name("frame"))) int32_t frame(int32_t n, int32_t ascii)
{
	int32_t p, bad, end;

	line[n] = 0;
	len_ = n, ascii_ = ascii;
	p = frame_at();
	if (p < 0)
		return p;
	end = n > 0 && line[n - 1] == '\r' ? n - 1 : n; /* CRLF */
	bad = first_bad(end);
	if (bad < end) {
		if (line[bad] != 0x1d || bad < p)
			return r_binary;
		end = bad;
	}
	body_end_ = end;
	hash = mix(p, end);
	return p;
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
