/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Ring buffer records (tracer.h) as JSON lines on stdout, written with the
 * emitters records.json defines (records.gen.h). Formatting only: what a
 * record changes in the loader's state is events.c's.
 */
#ifndef VARMOR_RECORDS_H
#define VARMOR_RECORDS_H

#include <stdbool.h>
#include <stddef.h>

/* the offset that turns record times (boot clock) into wall-clock ms; before the first record */
void records_init(void);
/* Prints the record's line (a fork record has none). False if it is
 * malformed (too short, an unknown type, a bad target): nothing is printed. */
bool print_record(const void *data, size_t size);
/* {"t":"target-empty","target":T}: the target has no live process left */
void print_target_empty(int target);

#endif
