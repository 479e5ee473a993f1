/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Object tallies: how often each de-duplicated object (the kernel's `objs`
 * counts) was seen, printed per flush as what grew since the last one.
 */
#ifndef VARMOR_TALLIES_H
#define VARMOR_TALLIES_H

/*
 * Prints, per slot of `target` (of every target if < 0), the objects whose
 * kernel count grew since the last flush:
 * {"t":"tallies","target":T,"counts":{"KIND:HASH":N,...}}. N is cumulative.
 * An object evicted from the LRU map restarts at 1 in the kernel; its tally
 * then stays at the highest value printed until it passes it again.
 */
void print_tallies(int target);

/* forgets the tallies of the slots of `target` */
void tally_forget(int target);

#endif
