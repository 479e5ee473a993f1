// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Helpers of every part of the loader, and whether it is quitting (see loader.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include "loader.h"
#define RECORDS_GEN_LOADER
#include "records.gen.h"

static bool quitting, releasing;

void logmsg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("varmor-tracer: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void fatal_json(const char *msg)
{
	rec_error();
	error_msg(msg);
	rec_end();
	fflush(stdout);
}

void die_load(const char *msg)
{
	logmsg("%s", msg);
	fatal_json(msg);
	exit(1);
}

int64_t now_ms(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void *grow(void *v, int n, int *cap, int first, size_t size)
{
	if (n < *cap)
		return v;
	*cap = *cap ? *cap * 2 : first;
	v = realloc(v, (size_t)*cap * size);
	if (!v) {
		logmsg("out of memory");
		exit(1);
	}
	return v;
}

int mkdir_p(const char *dir, mode_t mode)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s", dir);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, mode) && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, mode) && errno != EEXIST)
		return -1;
	return 0;
}

void loader_quit(bool release)
{
	quitting = true;
	releasing |= release;
}

bool loader_quitting(void)
{
	return quitting;
}

bool loader_releasing(void)
{
	return releasing;
}
