/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Kernel text symbols from /proc/kallsyms, for telling who asked a
 * capability question: the ranges the kernel side tests, and the asker's
 * name for the record.
 */
#ifndef VARMOR_KSYMS_H
#define VARMOR_KSYMS_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

/*
 * Reads /proc/kallsyms once: fills [lo[i], hi[i]) with the text of the
 * callers whose capability checks are not a request for the privilege
 * (functions named *_noaudit, the *vm_enough_memory* overcommit checks,
 * capset's inheritable-set check), and [cap_lo[k], cap_hi[k]) with
 * cap_capable's (k = 0) and security_capable's (k = 1). Returns the number
 * of noaudit ranges (at most max), 0 when kallsyms hides addresses
 * (kptr_restrict, no CAP_SYSLOG), -1 when it cannot be read.
 */
int ksyms_init(__u64 *lo, __u64 *hi, int max, __u64 cap_lo[2], __u64 cap_hi[2]);

/* The name of the function whose text holds ip; false when none does. */
bool ksyms_name(__u64 ip, char *out, size_t size);

#endif
