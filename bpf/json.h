/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* JSON pieces of the output lines (stdout), for the emitters records.gen.h derives from records.json. */
#ifndef VARMOR_JSON_H
#define VARMOR_JSON_H

#include <stddef.h>

/* ,"key":"<hex of data>" */
void put_hex(const char *key, const void *data, size_t len);
/* a decimal number */
void put_uint(unsigned long long v);
void put_int(long long v);
/* a JSON string */
void put_str(const char *s);
/* s escaped for a JSON string into out (cut to fit sz) */
void jstr(char *out, size_t sz, const char *s);

struct flag_name {
	unsigned long long bit;
	const char *name;
};
/* ,"key":[names of the bits set in v] (a bit without a name as "0x..") */
void put_flags(const char *key, unsigned long long v, const struct flag_name *names);

/* for reading lines back (spool.c): the start of a line up to its kind, and ,"k": */
#define JSON_HEAD "{\"t\":\""
#define JSON_KEY(k) ",\"" k "\":"

#endif
