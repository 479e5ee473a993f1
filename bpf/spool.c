// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The spool of the output lines (see spool.h). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "json.h"
#include "loader.h"
#include "pins.h"
#define RECORDS_GEN_SPOOL
#include "records.gen.h"
#include "spool.h"

#define SPOOL_SYNC_MS 100

/* one spool per target: its current file (opened at its first line) and sequence */
static struct {
	int fd;
	unsigned long long seq;
	bool dirty;
} sp[MAX_TARGETS];
static const char *spool_dir; /* NULL: no spool (no state dir) */
static const char *generation; /* of the state dir (hex) */
static bool adopted;           /* the state dir's programs were adopted */
static bool spooling, stdout_dead, spool_failed;
static bool direct; /* between direct_begin and direct_end: stdout is not spooled */
static int64_t spool_synced_ms;
static char *partial; /* the start of a line not yet complete on stdout */
static size_t plen, pcap;

static void partial_room(size_t need)
{
	if (need <= pcap)
		return;
	pcap = need * 2;
	partial = realloc(partial, pcap);
	if (!partial) {
		logmsg("out of memory");
		exit(1);
	}
}

static int write_all(int fd, const char *buf, size_t n)
{
	while (n) {
		ssize_t w = write(fd, buf, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += w;
		n -= w;
	}
	return 0;
}

static void spool_warn(const char *what, const char *path)
{
	if (spool_failed)
		return;
	spool_failed = true;
	logmsg("%s %s: %s (records are no longer spooled)", what, path, strerror(errno));
}

void spool_sync(bool force)
{
	int64_t now = now_ms(CLOCK_MONOTONIC);
	if (!force && now - spool_synced_ms < SPOOL_SYNC_MS)
		return;
	for (int t = 1; t < MAX_TARGETS; t++) {
		if (sp[t].fd >= 0 && sp[t].dirty)
			fdatasync(sp[t].fd);
		sp[t].dirty = false;
	}
	spool_synced_ms = now;
}

static void spool_name(char *out, size_t sz, int target, unsigned long long seq)
{
	char name[48];
	snprintf(name, sizeof(name), "spool.%03d.%016llu", target, seq);
	path_join(out, sz, spool_dir, name);
}

static void spool_write(int target, const char *buf, size_t n)
{
	if (sp[target].fd < 0) {
		char p[PATH_MAX];
		spool_name(p, sizeof(p), target, ++sp[target].seq);
		sp[target].fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (sp[target].fd < 0) {
			spool_warn("cannot open spool file", p);
			return;
		}
	}
	if (write_all(sp[target].fd, buf, n) < 0)
		spool_warn("spool write failed for target", "");
	sp[target].dirty = true;
}

/* the target a line belongs to: `"target":T` as its second field, T in use; else 0 (not spooled) */
static int line_target(const char *l, size_t n)
{
	static const char K[] = JSON_KEY("target");
	if (n < 8 || memcmp(l, JSON_HEAD, 6))
		return 0;
	const char *q = memchr(l + 6, '"', n - 6 < 32 ? n - 6 : 32);
	if (!q || (size_t)(l + n - q) < sizeof(K) || memcmp(q + 1, K, sizeof(K) - 1))
		return 0;
	int t = 0;
	for (const char *d = q + sizeof(K); d < l + n && *d >= '0' && *d <= '9' && t < MAX_TARGETS; d++)
		t = t * 10 + (*d - '0');
	return t > 0 && t < MAX_TARGETS && meta_in_use(t) ? t : 0;
}

/* every complete line of stdout into its target's spool; runs of one target's lines in one write */
static void spool_lines(const char *buf, size_t n)
{
	const char *p = buf, *end = buf + n;
	if (plen) {
		const char *nl = memchr(p, '\n', n);
		size_t take = nl ? (size_t)(nl + 1 - p) : n;
		partial_room(plen + take);
		memcpy(partial + plen, p, take);
		plen += take;
		p += take;
		if (!nl)
			return;
		int t = line_target(partial, plen);
		if (t)
			spool_write(t, partial, plen);
		plen = 0;
	}
	const char *run = p;
	int run_t = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', end - p);
		if (!nl)
			break;
		int t = line_target(p, nl + 1 - p);
		if (t != run_t) {
			if (run_t)
				spool_write(run_t, run, p - run);
			run = p;
			run_t = t;
		}
		p = nl + 1;
	}
	if (run_t)
		spool_write(run_t, run, p - run);
	if (p < end) {
		partial_room(end - p);
		memcpy(partial, p, end - p);
		plen = end - p;
	}
}

/* stdout in state-dir mode: every line goes to its target's spool first, then to fd 1 */
static ssize_t out_write(void *cookie, const char *buf, size_t n)
{
	(void)cookie;
	if (spooling && !direct) {
		spool_lines(buf, n);
		spool_sync(false);
	}
	if (!stdout_dead && write_all(1, buf, n) < 0) {
		stdout_dead = true; /* reader gone: hand off like EOF on stdin */
		loader_quit(false);
	}
	return n;
}

void spool_commit(void)
{
	if (spooling)
		fflush(stdout);
}

void direct_begin(void)
{
	fflush(stdout);
	direct = true;
}

void direct_end(void)
{
	fflush(stdout);
	direct = false;
}

char *default_spool_dir(const char *dir)
{
	if (strncmp(dir, "/sys/fs/bpf/", 12) || !dir[12])
		return NULL;
	char *s = malloc(strlen(dir) + 8);
	sprintf(s, "/run/%s", dir + 12);
	return s;
}

struct spool_file {
	int target;
	unsigned long long seq;
	char path[PATH_MAX];
};

static int cmp_spool(const void *a, const void *b)
{
	const struct spool_file *x = a, *y = b;
	if (x->target != y->target)
		return x->target < y->target ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* spool files (spool.TTT.SEQ) of `target` (all, with any other file named spool.*, if target < 0),
 * by target and sequence */
static int spool_list(const char *dir, int target, struct spool_file **out)
{
	int n = 0, cap = 0;
	struct spool_file *v = NULL;
	DIR *d = dir ? opendir(dir) : NULL;
	if (d) {
		struct dirent *de;
		while ((de = readdir(d))) {
			char *end;
			if (strncmp(de->d_name, "spool.", 6))
				continue;
			long t = strtol(de->d_name + 6, &end, 10);
			unsigned long long seq = 0;
			bool ours = end == de->d_name + 9 && *end == '.' && t > 0 && t < MAX_TARGETS;
			if (ours) {
				const char *s = end + 1;
				seq = strtoull(s, &end, 10);
				ours = !*end && end != s;
			}
			if (target >= 0 && (!ours || t != target))
				continue;
			v = grow(v, n, &cap, 16, sizeof(*v));
			v[n].target = ours ? (int)t : 0;
			v[n].seq = seq;
			path_join(v[n].path, sizeof(v[n].path), dir, de->d_name);
			n++;
		}
		closedir(d);
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_spool);
	*out = v;
	return n;
}

int remove_spool(const char *dir)
{
	struct spool_file *v;
	int n = spool_list(dir, -1, &v), removed = 0;
	for (int i = 0; i < n; i++)
		removed += unlink(v[i].path) == 0;
	free(v);
	char p[PATH_MAX];
	path_join(p, sizeof(p), dir, "generation");
	removed += unlink(p) == 0;
	rmdir(dir);
	return removed;
}

void spool_end(int target)
{
	if (!spool_dir || sp[target].fd < 0)
		return;
	fflush(stdout);
	fdatasync(sp[target].fd);
	close(sp[target].fd);
	sp[target].fd = -1;
	sp[target].dirty = false;
}

void spool_forget(int target)
{
	if (!spool_dir)
		return;
	fflush(stdout);
	if (sp[target].fd >= 0)
		close(sp[target].fd);
	sp[target].fd = -1;
	sp[target].dirty = false;
	struct spool_file *v;
	int n = spool_list(spool_dir, target, &v);
	for (int i = 0; i < n; i++)
		unlink(v[i].path);
	free(v);
}

/* calls fn(line, len, arg) for each complete line of the file; returns lines */
static long for_each_line(const char *path, void (*fn)(const char *, size_t, void *), void *arg)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	long lines = 0;
	for (;;) {
		if (len == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf)
				exit(1);
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* a torn last line (no newline) is ignored */
		len += n;
		char *start = buf, *nl;
		while ((nl = memchr(start, '\n', buf + len - start))) {
			if (fn)
				fn(start, nl + 1 - start, arg);
			lines++;
			start = nl + 1;
		}
		len -= start - buf;
		memmove(buf, start, len);
	}
	free(buf);
	close(fd);
	return lines;
}

static bool is_control_line(const char *l, size_t n)
{
	static const char F[] = JSON_HEAD "flushed\"", C[] = JSON_HEAD "checkpointed\"";
	return (n > sizeof(F) - 1 && !memcmp(l, F, sizeof(F) - 1)) || (n > sizeof(C) - 1 && !memcmp(l, C, sizeof(C) - 1));
}

struct replay_ctx {
	char *buf;
	size_t len, cap;
	long records;
};

static void replay_line(const char *l, size_t n, void *arg)
{
	struct replay_ctx *c = arg;
	if (is_control_line(l, n))
		return;
	if (c->len + n > c->cap) {
		if (!stdout_dead && write_all(1, c->buf, c->len) < 0)
			stdout_dead = true;
		c->len = 0;
		if (n > c->cap) {
			if (!stdout_dead && write_all(1, l, n) < 0)
				stdout_dead = true;
			c->records++;
			return;
		}
	}
	memcpy(c->buf + c->len, l, n);
	c->len += n;
	c->records++;
}

void replay_spool(int target)
{
	direct_begin(); /* flushes stdout: the spool holds every line written so far */
	rec_replay_begin(target);
	rec_end();
	direct_end();
	struct spool_file *v;
	int n = spool_list(spool_dir, target > 0 ? target : -1, &v);
	struct replay_ctx c = {.cap = 1 << 16};
	c.buf = malloc(c.cap);
	for (int i = 0; i < n; i++) {
		int t = v[i].target;
		/* at start: the targets no run attached (the attached ones are replayed at their attach) */
		if (t && (target > 0 || (meta_in_use(t) && !meta_key(t)[0])))
			for_each_line(v[i].path, replay_line, &c);
	}
	if (c.len && !stdout_dead && write_all(1, c.buf, c.len) < 0)
		stdout_dead = true;
	free(c.buf);
	free(v);
	direct_begin();
	rec_replay_end(target);
	replay_end_records(c.records);
	rec_end();
	direct_end();
}

/* last complete line of a file into out (NUL-terminated); false if none */
static bool last_line(const char *path, char *out, size_t sz)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	struct stat sb;
	bool ok = false;
	if (fstat(fd, &sb) == 0 && sb.st_size > 1) {
		off_t want = sz - 1, from = sb.st_size > want ? sb.st_size - want : 0;
		ssize_t n = pread(fd, out, sz - 1, from);
		if (n > 1 && out[n - 1] == '\n') {
			out[n - 1] = 0;
			char *nl = strrchr(out, '\n');
			if (nl)
				memmove(out, nl + 1, strlen(nl + 1) + 1);
			ok = nl || from == 0;
		}
	}
	close(fd);
	return ok;
}

int spool_checkpointed(int target, const char *token, long *dropped)
{
	char want[1200], esc[1024], line[1400];
	jstr(esc, sizeof(esc), token);
	/* the line put_flushed (commands.c) writes */
	snprintf(want, sizeof(want), JSON_HEAD "flushed\"" JSON_KEY("target") "%d" JSON_KEY("token") "\"%s\"}", target, esc);
	int files = -1;
	struct spool_file *v;
	fflush(stdout);
	int n = spool_list(spool_dir, target, &v);
	for (int i = n - 1; i >= 0 && files < 0; i--) {
		if (!last_line(v[i].path, line, sizeof(line)) || strcmp(line, want))
			continue;
		files = 0;
		for (int j = 0; j <= i; j++) {
			*dropped += for_each_line(v[j].path, NULL, NULL);
			files += unlink(v[j].path) == 0;
		}
	}
	free(v);
	return files;
}

/* the spool dir's generation file and spool files */
static void spool_dir_setup(void)
{
	char p[PATH_MAX], buf[64] = "";
	if (mkdir_p(spool_dir, 0700)) {
		spool_warn("cannot create spool dir", spool_dir);
		return;
	}
	path_join(p, sizeof(p), spool_dir, "generation");
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = 0;
		close(fd);
	}
	bool same = adopted && !strncmp(buf, generation, 32);
	struct spool_file *v;
	int n = spool_list(spool_dir, -1, &v);
	if (!same && n && adopted)
		logmsg("spool in %s belongs to another generation: discarded", spool_dir);
	for (int i = 0; i < n; i++) {
		if (!same || !v[i].target)
			unlink(v[i].path);
		else if (v[i].seq > sp[v[i].target].seq)
			sp[v[i].target].seq = v[i].seq; /* new lines go to new files, after these */
	}
	free(v);
	if (!same) {
		fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0) {
			dprintf(fd, "%s\n", generation);
			fsync(fd);
			close(fd);
		}
	}
	spooling = true;
}

void spool_setup(const char *dir, const char *generation_hex, bool adopted_state)
{
	spool_dir = dir;
	generation = generation_hex;
	adopted = adopted_state;
	for (int t = 0; t < MAX_TARGETS; t++)
		sp[t].fd = -1;
	spool_dir_setup();
	/* stdout becomes a stream whose every line goes to its spool first
	 * (out_write), also when the spool could not be set up */
	static cookie_io_functions_t io = {.write = out_write};
	FILE *f = fopencookie(NULL, "w", io);
	if (!f)
		die_load("fopencookie failed");
	fflush(stdout);
	setvbuf(f, NULL, _IOFBF, 1 << 16);
	stdout = f;
}

bool spool_enabled(void)
{
	return spool_dir != NULL;
}

int spool_timeout(int64_t now)
{
	bool dirty = false;
	for (int t = 1; t < MAX_TARGETS && !dirty; t++)
		dirty = sp[t].dirty;
	if (!dirty)
		return -1;
	int64_t left = spool_synced_ms + SPOOL_SYNC_MS - now;
	return left < 0 ? 0 : left;
}

void spool_close(void)
{
	for (int t = 1; t < MAX_TARGETS; t++)
		spool_end(t);
	spooling = false;
}
