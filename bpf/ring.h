/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Reading the `events` ring buffer: the kernel's mmap layout, as libbpf
 * does, but the consumer position is advanced only once the records' output
 * is spooled, so a record is always in the ring or in the spool.
 */
#ifndef VARMOR_RING_H
#define VARMOR_RING_H

#include <stdbool.h>
#include <stddef.h>

/* Maps the ring buffer map fd; `spooled`: commit the consumer position in
 * batches, each after its output is in the spool (else after every record).
 * Returns 0 or -errno. */
int ring_open(int fd, bool spooled);

/* Hands every committed record to on_record (data, size), in order. */
void ring_drain(void (*on_record)(const void *data, size_t size));

#endif
