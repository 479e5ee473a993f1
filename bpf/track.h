/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * `track T pid PID`, `track T container ID`, `track T pod UID`: putting
 * existing processes into a target (the kernel adds their descendants, and
 * the processes entering a container's mount namespace or starting a new
 * container in a pod, itself). Each replies with a `tracked` record.
 */
#ifndef VARMOR_TRACK_H
#define VARMOR_TRACK_H

#include <sys/types.h>

void cmd_track(int target, pid_t root);
/* the reply to a `track` that is not run (or found nothing): pids 0 and the error */
void track_refused(int target, const char *err);
void cmd_track_container(int target, const char *id);
void cmd_track_pod(int target, const char *uid);

#endif
