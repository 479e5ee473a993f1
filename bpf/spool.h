/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The spool (--state-dir): every line written to stdout after `ready` is
 * first appended to the current spool file (fdatasync at most every
 * SPOOL_SYNC_MS), so that what the Node side had not checkpointed yet can be
 * replayed by the next loader. A `flush` ends a spool file; `checkpointed`
 * drops whole files. See README.md.
 */
#ifndef VARMOR_SPOOL_H
#define VARMOR_SPOOL_H

#include <stdbool.h>
#include <stdint.h>

/* Default spool dir: the state dir with /sys/fs/bpf/ replaced by /run/ (NULL if it is not below it). */
char *default_spool_dir(const char *dir);

/* Spool dir for this generation: kept (and replayed) on adoption, emptied on
 * a fresh start; from then on stdout is written through the spool. */
void spool_setup(void);

/* called by drain() before it advances the consumer position */
void spool_commit(void);
/* fdatasync the spool file if it is due (or `force`) */
void spool_sync(bool force);
/* ms until the next spool_sync is due, -1 if none is */
int spool_timeout(int64_t now);
/* ends the current spool file (after a flush) and starts the next */
void spool_open_next(void);
/* closes the spool file (release) */
void spool_close(void);

/* a line that must not be spooled (ready, replay markers, released) */
void emit_direct(const char *line);
/* re-emits the spooled records of earlier loaders (not the current file) */
void replay_spool(void);

/* `checkpointed TOKEN`: drops the spool files up to the newest one that ends
 * with the `flushed` marker of TOKEN */
void spool_checkpointed(const char *token);

/* removes the spool files of dir and dir; returns the files removed */
int remove_spool(const char *dir);

#endif
