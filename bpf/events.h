/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the ring buffer's records do: each is printed (records.c), and the
 * process records keep each target's live process set (targets.c), which
 * ends a pending kill and the resolver's root when the target empties.
 */
#ifndef VARMOR_EVENTS_H
#define VARMOR_EVENTS_H

/* Consumes (prints) every committed record. */
void drain(void);

#endif
