/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Names inside a process's root: the directories of a name as passed
 * (OBJ_PATH_JOINED records) resolved by a helper process, and lexical
 * normalisation.
 */
#ifndef VARMOR_RESOLVER_H
#define VARMOR_RESOLVER_H

#include <stdbool.h>
#include <stddef.h>
#include "tracer.h"

/* Lexically normalises an absolute path in place ("//", ".", ".."); returns the new length. */
size_t normalise(char *p, size_t len);

/*
 * A path made from a name (OBJ_PATH_JOINED): resolve the directories inside
 * the name as passed (the part after name_off up to the last component; with
 * `follow_last` the last component too), then normalise. `data` holds len
 * bytes and has room for PATH_BUF. Returns the new length; *unresolved is
 * set when the directory could not be resolved (process gone, directory
 * removed, not below the root, resolver timeout): the joined path is kept.
 */
size_t resolve_named(const struct obj_rec *r, char *data, size_t len, bool follow_last, bool *unresolved);

/* the target is empty: the resolver drops the root it kept for it */
void resolver_forget(int target);

/* a target's names that kept their joined path (its `names_unresolved` stat) */
unsigned long long names_unresolved(int target);
/* the target is given back: its count starts again */
void names_forget(int target);

#endif
