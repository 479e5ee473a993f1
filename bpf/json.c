// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* JSON output helpers (see json.h). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include "json.h"

void put_hex(const char *key, const void *data, size_t len)
{
	static const char hexd[] = "0123456789abcdef";
	const unsigned char *p = data;
	printf(",\"%s\":\"", key);
	for (size_t i = 0; i < len; i++) {
		putchar(hexd[p[i] >> 4]);
		putchar(hexd[p[i] & 15]);
	}
	putchar('"');
}

/* c as it stands inside a JSON string, into out; returns its length (at most 6) */
static int escape(unsigned char c, char out[8])
{
	if (c == '"' || c == '\\')
		return snprintf(out, 8, "\\%c", c);
	if (c < 0x20 || c >= 0x7f)
		return snprintf(out, 8, "\\u%04x", c);
	out[0] = c;
	out[1] = 0;
	return 1;
}

/* v in decimal: the emitters' numbers, without printf's format parsing (a flood of records is
 * printed field by field) */
void put_uint(unsigned long long v)
{
	char buf[24], *p = buf + sizeof(buf);
	do
		*--p = '0' + v % 10;
	while (v /= 10);
	fwrite(p, 1, buf + sizeof(buf) - p, stdout);
}

void put_int(long long v)
{
	if (v < 0) {
		putchar('-');
		put_uint(-(unsigned long long)v);
	} else {
		put_uint(v);
	}
}

void put_str(const char *s)
{
	char e[8];
	putchar('"');
	for (; *s; s++) {
		escape(*s, e);
		fputs(e, stdout);
	}
	putchar('"');
}

void jstr(char *out, size_t sz, const char *s)
{
	size_t o = 0;
	for (; *s && o + 8 < sz; s++)
		o += escape(*s, out + o);
	out[o] = 0;
}

void put_flags(const char *key, unsigned long long v, const struct flag_name *names)
{
	printf(",\"%s\":[", key);
	bool first = true;
	for (const struct flag_name *f = names; f->name; f++) {
		if (!(v & f->bit))
			continue;
		printf("%s\"%s\"", first ? "" : ",", f->name);
		first = false;
		v &= ~f->bit;
	}
	if (v) /* bits without a name, as a number */
		printf("%s\"0x%llx\"", first ? "" : ",", v);
	printf("]");
}
