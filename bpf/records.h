/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Reading the ring buffer (the kernel's mmap layout, as libbpf does, but the
 * consumer position is advanced only once the records' output is spooled)
 * and printing its records as JSON lines.
 */
#ifndef VARMOR_RECORDS_H
#define VARMOR_RECORDS_H

#include <stdbool.h>

/* Maps the `events` ring buffer; `spooled`: commit the consumer position in
 * batches, each after its output is in the spool (else after every record).
 * Also takes the offset that turns record times into wall-clock ms. Returns
 * 0 or -errno. */
int ring_open(int fd, bool spooled);

/* Consumes (prints) every committed record. */
void drain(void);

#endif
