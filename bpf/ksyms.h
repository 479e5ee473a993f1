/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Kernel text symbols from /proc/kallsyms, for telling who asked a
 * capability question: the noaudit callers' ranges (for the kernel side) and
 * the caller's name (for the record).
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
 * cap_capset's inheritable-set check) and
 * remembers cap_capable's and security_capable's ranges. Returns the number
 * of ranges (at most max), 0 when kallsyms hides addresses (kptr_restrict,
 * no CAP_SYSLOG), -1 when it cannot be read.
 */
int ksyms_init(__u64 *lo, __u64 *hi, int max);

/*
 * The function that asked a capability question, from the frames of the
 * check's kernel stack (0-terminated, at most n): the first frame past
 * cap_capable and security_capable. False when it cannot be named.
 */
bool ksyms_caller(const __u64 *ips, int n, char *out, size_t size);

#endif
