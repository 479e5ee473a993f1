/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The spools (--state-dir), one per target: every line written to stdout
 * after `ready` that names a target in use (`"target":T` as its second
 * field) is first appended to that target's current spool file (fdatasync
 * at most every SPOOL_SYNC_MS), so that what the Node side had not
 * checkpointed yet can be replayed by the next loader, or to the next run
 * that attaches the target. A `flush` ends a target's spool file;
 * `checkpointed` drops whole files. One run's spool is never another's.
 * See README.md.
 */
#ifndef VARMOR_SPOOL_H
#define VARMOR_SPOOL_H

#include <stdbool.h>
#include <stdint.h>

/* Default spool dir: the state dir with /sys/fs/bpf/ replaced by /run/ (NULL if it is not below it). */
char *default_spool_dir(const char *dir);

/* Spool dir for this generation (hex id): kept (and replayed) if the state
 * dir was adopted and it is the same generation's, else emptied; from then
 * on stdout is written through the spool. */
void spool_setup(const char *dir, const char *generation, bool adopted);
/* there is a spool (spool_setup was called) */
bool spool_enabled(void);

/* called by drain() before it advances the consumer position */
void spool_commit(void);
/* fdatasync the spool file if it is due (or `force`) */
void spool_sync(bool force);
/* ms until the next spool_sync is due, -1 if none is */
int spool_timeout(int64_t now);
/* ends the target's current spool file (after a flush): its next line starts the next */
void spool_end(int target);
/* removes the target's spool files (it is given back) */
void spool_forget(int target);
/* closes the spool files (release) */
void spool_close(void);

/* the lines written between these are not spooled (ready, replay markers, released); both flush stdout */
void direct_begin(void);
void direct_end(void);
/* re-emits spooled records between replay-begin and replay-end: target 0,
 * at start, those of earlier loaders for the targets no run attached; a
 * target, at its attach, all of its spool */
void replay_spool(int target);

/* `checkpointed`: drops the target's spool files up to the newest one that
 * ends with its `flushed` marker of TOKEN; returns the files dropped (their
 * lines added to *dropped), or -1 if no file ends with it */
int spool_checkpointed(int target, const char *token, long *dropped);

/* removes the spool files of dir and dir; returns the files removed */
int remove_spool(const char *dir);

#endif
