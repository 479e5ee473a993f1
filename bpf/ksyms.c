// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Kernel text symbols from /proc/kallsyms (see ksyms.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ksyms.h"

#define KALLSYMS "/proc/kallsyms"

/* names resolved so far: callers repeat, and a lookup reads all of kallsyms */
#define CACHE 64
static struct {
	__u64 ip;
	char name[64];
} cache[CACHE];
static int cached;

static bool is_text(char type)
{
	return type == 't' || type == 'T';
}

static bool noaudit_name(const char *name)
{
	size_t n = strlen(name);
	if (!strncmp(name, "__pfx_", 6)) /* the padding before a function */
		return false;
	/* cold parts of a function are symbols of their own: "x.cold" */
	const char *dot = strchr(name, '.');
	size_t base = dot ? (size_t)(dot - name) : n;
	/* cap_capset asks CAP_SETPCAP for every capset(2), but the answer only
	 * matters to a call that raises the inheritable set above the permitted
	 * one: dropping capabilities (ping, most daemons) never needs it */
	return (base > 8 && !strncmp(name + base - 8, "_noaudit", 8)) || strstr(name, "vm_enough_memory") ||
	       !strcmp(name, "cap_capset") || !strcmp(name, "cap_inh_is_capped");
}

int ksyms_init(__u64 *lo, __u64 *hi, int max, __u64 cap_lo[2], __u64 cap_hi[2])
{
	FILE *f = fopen(KALLSYMS, "re");
	if (!f)
		return -1;
	char line[512], name[256], type;
	unsigned long long addr;
	int n = 0;
	bool any = false;
	/* the symbol whose range is open until the next text symbol's address */
	__u64 *open_hi = NULL;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llx %c %255s", &addr, &type, name) != 3 || !is_text(type))
			continue;
		any |= addr != 0;
		if (open_hi) {
			*open_hi = addr;
			open_hi = NULL;
		}
		int k = !strcmp(name, "cap_capable") ? 0 : !strcmp(name, "security_capable") ? 1 : -1;
		if (k >= 0) {
			cap_lo[k] = addr;
			open_hi = &cap_hi[k];
		} else if (n < max && noaudit_name(name)) {
			lo[n] = addr;
			open_hi = &hi[n];
			n++;
		}
	}
	fclose(f);
	if (!any)
		return 0;
	/* a range left open by the last symbol, or a module's symbol sorted
	 * after a lower address, is cut to 4 KiB rather than left unbounded */
	for (int i = 0; i < n; i++)
		if (hi[i] <= lo[i])
			hi[i] = lo[i] + 4096;
	return n;
}

bool ksyms_name(__u64 ip, char *out, size_t size)
{
	for (int i = 0; i < cached; i++)
		if (cache[i].ip == ip) {
			snprintf(out, size, "%s", cache[i].name);
			return true;
		}
	FILE *f = fopen(KALLSYMS, "re");
	if (!f)
		return false;
	char line[512], name[256], best[256] = "", type;
	unsigned long long addr, best_addr = 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%llx %c %255s", &addr, &type, name) == 3 && is_text(type) && addr <= ip &&
		    addr > best_addr) {
			best_addr = addr;
			snprintf(best, sizeof(best), "%s", name);
		}
	fclose(f);
	if (!best[0])
		return false;
	int slot = cached < CACHE ? cached++ : (int)(ip % CACHE);
	cache[slot].ip = ip;
	snprintf(cache[slot].name, sizeof(cache[slot].name), "%s", best);
	snprintf(out, size, "%s", best);
	return true;
}
