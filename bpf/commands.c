// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Commands: launch, track, kill, untrack, flush, checkpointed, quit, release (see commands.h). */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "commands.h"
#include "events.h"
#include "json.h"
#include "loader.h"
#include "maps.h"
#include "pins.h"
#define RECORDS_GEN_COMMANDS
#include "records.gen.h"
#include "resolver.h"
#include "spool.h"
#include "tallies.h"
#include "targets.h"
#include "track.h"

/* a decimal number lo..hi (lo >= 0): digits only, no sign, blanks or overflow; -1 if it is not */
static long long parse_num(const char *s, long long lo, long long hi)
{
	if (!s || !*s || strspn(s, "0123456789") != strlen(s))
		return -1;
	errno = 0;
	long long v = strtoll(s, NULL, 10);
	return errno || v < lo || v > hi ? -1 : v;
}

static int parse_target(const char *s)
{
	return parse_num(s, 1, MAX_TARGETS - 1);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* decodes hex in place; returns false on bad input */
static bool unhex(char *s)
{
	size_t n = strlen(s);
	if (n % 2)
		return false;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			return false;
		s[i] = hi << 4 | lo;
	}
	s[n / 2] = 0;
	return true;
}

static int launch_out = -1; /* where launched children write (-1: our stderr) */

void commands_set_output(int fd)
{
	launch_out = fd;
}

static void launch_failed(int target, const char *err)
{
	rec_launch_failed(target);
	launch_failed_error(err);
	rec_end();
}

/* {"t":"command-error","msg":...,"line_hex":...} */
static void command_error(const char *msg, const char *line)
{
	rec_command_error();
	command_error_msg(msg);
	command_error_line_hex(line, strlen(line));
	rec_end();
}

static void cmd_launch(int target, char **argv)
{
	int gate[2], errp[2];
	char msg[256];
	if (pipe2(gate, O_CLOEXEC) || pipe2(errp, O_CLOEXEC)) {
		snprintf(msg, sizeof(msg), "pipe: %s", strerror(errno));
		launch_failed(target, msg);
		return;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(msg, sizeof(msg), "fork: %s", strerror(errno));
		launch_failed(target, msg);
		close(gate[0]), close(gate[1]), close(errp[0]), close(errp[1]);
		return;
	}
	if (pid == 0) {
		sigset_t all;
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		signal(SIGPIPE, SIG_DFL);
		setpgid(0, 0);
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, 0);
		int out = launch_out >= 0 ? launch_out : 2;
		dup2(out, 1);
		if (out != 2)
			dup2(out, 2);
		char c;
		ssize_t n;
		do
			n = read(gate[0], &c, 1);
		while (n < 0 && errno == EINTR);
		if (n != 1)
			_exit(127);
		execvp(argv[0], argv);
		int e = errno;
		if (write(errp[1], &e, sizeof(e)) < 0) {
		}
		_exit(127);
	}
	close(gate[0]);
	close(errp[1]);
	setpgid(pid, pid); /* also from here, so the group exists before we return */
	target_set_known(target);
	int err = task_insert(pid, target, TASK_ARMED);
	if (err) {
		snprintf(msg, sizeof(msg), "tasks map update: %s", strerror(-err));
		kill(pid, SIGKILL);
		close(gate[1]);
		close(errp[0]);
		launch_failed(target, msg);
		return;
	}
	add_pid(target, pid);
	set_root(target, pid);
	if (write(gate[1], "g", 1) != 1)
		logmsg("launch: gate write: %s", strerror(errno));
	close(gate[1]);
	int e = 0;
	ssize_t n;
	do
		n = read(errp[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(errp[0]);
	if (n == sizeof(e)) {
		snprintf(msg, sizeof(msg), "execvp: %s", strerror(e));
		launch_failed(target, msg);
	} else {
		rec_launched(target);
		launched_pid(pid);
		rec_end();
	}
}

/* untracks the target's processes and resets its state; returns the processes untracked */
static int forget_target(int target)
{
	pid_t *pids;
	int n = tasks_of(target, &pids);
	for (int i = 0; i < n; i++)
		task_delete(pids[i]);
	free(pids);
	drain(); /* print what the kernel produced for it so far (into its spool), then forget it */
	fflush(stdout);
	target_reset(target);
	clear_target_maps(target);
	tally_forget(target);
	resolver_forget(target);
	names_forget(target);
	meta_forget(target);
	return n;
}

static void cmd_untrack(int target)
{
	int n = forget_target(target);
	rec_untracked(target);
	untracked_pids(n);
	rec_end();
}

/* a target's counts (workload and sessions), tallies and stats; false if it has none of them */
static bool put_target_state(int target)
{
	__u64 *cnt = calloc(MAX_SYSCALLS, sizeof(__u64));
	bool known = target_known(target) || meta_in_use(target), any_counts = false;
	for (int slot = target; slot < MAX_SLOTS; slot += SLOT_SESSION) {
		read_counts(slot, cnt);
		bool any = false;
		for (int nr = 0; nr < MAX_SYSCALLS && !any; nr++)
			any = cnt[nr] != 0;
		any_counts |= any;
		if (!any && (slot >= SLOT_SESSION || !known))
			continue;
		rec_counts(target);
		if (slot >= SLOT_SESSION)
			counts_session();
		counts_syscalls_begin();
		bool first = true;
		for (int nr = 0; nr < MAX_SYSCALLS; nr++) {
			if (!cnt[nr])
				continue;
			char k[16];
			snprintf(k, sizeof(k), "%d", nr);
			counts_syscalls_item(first, k, cnt[nr]);
			first = false;
		}
		counts_syscalls_end();
		rec_end();
	}
	free(cnt);
	if (!known && !any_counts)
		return false;
	__u64 st[STAT_MAX];
	read_stats(target, st);
	rec_stats(target);
	stats_ringbuf_dropped(st[STAT_RINGBUF_DROPPED]);
	stats_tasks_full(st[STAT_TASKS_FULL]);
	stats_path_truncated(st[STAT_PATH_TRUNCATED]);
	stats_records(st[STAT_RECORDS]);
	stats_path_failed(st[STAT_PATH_FAILED]);
	stats_dedup_full(st[STAT_DEDUP_FULL]);
	stats_events(st[STAT_EVENTS]);
	stats_uring_fixed(st[STAT_URING_FIXED]);
	stats_mntns_full(st[STAT_MNTNS_FULL]);
	stats_names_unresolved(names_unresolved(target));
	stats_cap_noaudit(st[STAT_CAP_NOAUDIT]);
	stats_cap_slot_miss(st[STAT_CAP_SLOT_MISS]);
	rec_end();
	return true;
}

/* the end of a target's flush: its marker, which ends its spool file (`checkpointed` drops whole files) */
static void put_flushed(int target, const char *token)
{
	rec_flushed(target);
	flushed_token(token);
	rec_end();
	spool_end(target);
}

/* `flush T TOKEN`: everything of T the kernel committed before it; `flush TOKEN`: of every target */
static void cmd_flush(int target, const char *token)
{
	drain();
	if (target > 0) {
		put_target_state(target);
		print_tallies(target);
		put_flushed(target, token);
		return;
	}
	bool had[MAX_TARGETS] = {false};
	for (int t = 1; t < MAX_TARGETS; t++)
		had[t] = put_target_state(t);
	print_tallies(-1);
	for (int t = 1; t < MAX_TARGETS; t++)
		if (had[t])
			put_flushed(t, token);
	rec_flushed(0);
	flushed_token(token);
	rec_end();
}

/* `checkpointed [T] TOKEN`: T's spool (every target's without T) up to its flush of TOKEN is stored */
static void cmd_checkpointed(int target, const char *token)
{
	long dropped = 0;
	int files = -1;
	for (int t = target > 0 ? target : 1; spool_enabled() && t < (target > 0 ? target + 1 : MAX_TARGETS); t++) {
		int f = spool_checkpointed(t, token, &dropped);
		if (f >= 0)
			files = (files < 0 ? 0 : files) + f;
	}
	rec_checkpointed(target);
	checkpointed_token(token);
	checkpointed_dropped(dropped);
	checkpointed_files(files < 0 ? 0 : files);
	if (files < 0 && spool_enabled())
		checkpointed_error("no flush with this token in the spool");
	rec_end();
}

/* an attach key: 1..ATTACH_KEY_MAX of [0-9A-Za-z._-] */
static bool valid_key(const char *k)
{
	size_t n = strlen(k);
	return n >= 1 && n <= ATTACH_KEY_MAX &&
	       strspn(k, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ._-") == n;
}

/*
 * `attach KEY`: the target of the run KEY names, the same one again if it
 * has one (its state goes on: `adopted`), else a free one; then everything
 * in its spool (replay-begin ... replay-end with the target). The reply names
 * the key first: it belongs to no target's spool.
 */
static void cmd_attach(const char *key)
{
	int t = meta_target_of(key);
	bool again = t > 0;
	if (!again)
		t = meta_claim(key);
	if (!t) {
		char msg[64];
		snprintf(msg, sizeof(msg), "all %d targets of this tracer are in use", meta_claim_limit());
		rec_attached();
		attached_key(key);
		attached_error(msg);
		rec_end();
		return;
	}
	rec_attached();
	attached_key(key);
	attached_target(t);
	attached_adopted(again && target_known(t));
	attached_root(meta_root(t));
	attached_pids(target_npids(t));
	rec_end();
	replay_spool(t);
}

/* `free KEY`: the run is over: its target is untracked, its spool removed and the target free again */
static void cmd_free(const char *key)
{
	int t = meta_target_of(key), pids = 0;
	if (t) {
		pids = forget_target(t);
		spool_forget(t);
		meta_unclaim(t);
	}
	int in_use = 0;
	for (int i = 1; i < MAX_TARGETS; i++)
		in_use += meta_in_use(i);
	rec_freed();
	freed_key(key);
	freed_found(t);
	freed_target(t);
	freed_pids(pids);
	freed_in_use(in_use);
	rec_end();
}

#define USAGE_LAUNCH "usage: launch TARGET(1..127) HEXARG0 [HEXARG...] (at most 1021 arguments, no 00 byte)"
#define USAGE_TRACK "usage: track TARGET(1..127) pid PID | track TARGET container ID | track TARGET pod UID"
#define USAGE_KILL "usage: kill TARGET(1..127) GRACE_MS(0..2147483647)"
#define USAGE_UNTRACK "usage: untrack TARGET(1..127)"
#define USAGE_KEY "KEY: 1..32 of [0-9A-Za-z._-]"

/*
 * A command that is not run. A verb whose reply names its target gets that
 * reply with the error when the target is valid (whoever sent it waits for
 * it); anything else a command-error.
 */
static void refuse(int argc, char **argv, const char *msg, const char *orig)
{
	const char *cmd = argv[0];
	int t = argc > 1 ? parse_target(argv[1]) : -1;
	if (t > 0 && !strcmp(cmd, "launch")) {
		launch_failed(t, msg);
		return;
	}
	if (t > 0 && !strcmp(cmd, "track")) {
		track_refused(t, msg);
	} else if (t > 0 && !strcmp(cmd, "kill")) {
		kill_refused(t, msg);
	} else if (t > 0 && !strcmp(cmd, "untrack")) {
		rec_untracked(t);
		untracked_pids(0);
		untracked_error(msg);
		rec_end();
	} else {
		command_error(msg, orig);
	}
}

/* splits a line at every single space (empty words kept: an empty HEXARG is an empty argument);
 * returns argc, or -1 for more than max - 1 words */
static int split_words(char *line, char **argv, int max)
{
	int argc = 0;
	for (char *p = line, *w; (w = strsep(&p, " "));) {
		if (argc == max - 1)
			return -1;
		argv[argc++] = w;
	}
	argv[argc] = NULL;
	return argc;
}

void refuse_line(char *line, const char *msg)
{
	char *orig = strdup(line);
	char *argv[4];
	char *p = line;
	int argc = 0;
	for (char *w; argc < 3 && (w = strsep(&p, " "));)
		argv[argc++] = w;
	argv[argc] = NULL;
	refuse(argc, argv, msg, orig ? orig : "");
	free(orig);
}

void handle_line(char *line)
{
	if (!*line)
		return; /* an empty line */
	char *orig = strdup(line);
	if (!orig) {
		command_error("out of memory", "");
		return;
	}
	char *argv[1024];
	int argc = split_words(line, argv, 1024);
	if (argc < 0) {
		refuse_line(orig, !strcmp(argv[0], "launch") ? USAGE_LAUNCH : "too many words");
		goto out;
	}
	const char *cmd = argv[0];
	if (!strcmp(cmd, "quit")) {
		if (argc > 2 || (argc == 2 && strcmp(argv[1], "release")))
			command_error("usage: quit [release]", orig);
		else {
			loader_quit(argc == 2);
		}
	} else if (!strcmp(cmd, "release")) {
		if (argc != 1)
			command_error("usage: release", orig);
		else
			loader_quit(true);
	} else if (!strcmp(cmd, "checkpointed")) {
		int t = argc == 3 ? parse_target(argv[1]) : 0;
		if (argc < 2 || argc > 3 || t < 0)
			command_error("usage: checkpointed [TARGET(1..127)] TOKEN", orig);
		else
			cmd_checkpointed(t, argv[argc - 1]);
	} else if (!strcmp(cmd, "flush")) {
		int t = argc == 3 ? parse_target(argv[1]) : 0;
		if (argc > 3 || t < 0)
			command_error("usage: flush [TOKEN] | flush TARGET(1..127) TOKEN", orig);
		else
			cmd_flush(t, argc > 1 ? argv[argc - 1] : "");
	} else if (!strcmp(cmd, "attach") || !strcmp(cmd, "free")) {
		if (argc != 2 || !valid_key(argv[1]))
			command_error(!strcmp(cmd, "attach") ? "usage: attach KEY; " USAGE_KEY : "usage: free KEY; " USAGE_KEY, orig);
		else if (!strcmp(cmd, "attach"))
			cmd_attach(argv[1]);
		else
			cmd_free(argv[1]);
	} else if (!strcmp(cmd, "launch")) {
		int t = parse_target(argv[1]);
		bool ok = t > 0 && argc >= 3 && *argv[2];
		for (int i = 2; ok && i < argc; i++)
			ok = unhex(argv[i]);
		if (!ok)
			refuse(argc, argv, USAGE_LAUNCH, orig);
		else
			cmd_launch(t, argv + 2);
	} else if (!strcmp(cmd, "track")) {
		int t = parse_target(argv[1]);
		long long pid = argc == 4 && !strcmp(argv[2], "pid") ? parse_num(argv[3], 0, INT_MAX) : 0;
		if (t < 0 || argc != 4 || (strcmp(argv[2], "pid") && strcmp(argv[2], "container") && strcmp(argv[2], "pod")))
			refuse(argc, argv, USAGE_TRACK, orig);
		else if (!strcmp(argv[2], "container"))
			cmd_track_container(t, argv[3]);
		else if (!strcmp(argv[2], "pod"))
			cmd_track_pod(t, argv[3]);
		else if (pid < 0)
			refuse(argc, argv, "pid must be a decimal number 0..2147483647", orig);
		else
			cmd_track(t, pid);
	} else if (!strcmp(cmd, "kill")) {
		int t = parse_target(argv[1]);
		long long grace = argc == 3 ? parse_num(argv[2], 0, INT_MAX) : -1;
		if (t < 0 || grace < 0)
			refuse(argc, argv, USAGE_KILL, orig);
		else
			kill_target(t, grace);
	} else if (!strcmp(cmd, "untrack")) {
		int t = parse_target(argv[1]);
		if (t < 0 || argc != 2)
			refuse(argc, argv, USAGE_UNTRACK, orig);
		else
			cmd_untrack(t);
	} else {
		command_error("unknown command", orig);
	}
out:
	free(orig);
}
