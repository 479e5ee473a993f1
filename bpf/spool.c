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
#include "spool.h"

#define SPOOL_SYNC_MS 100

static int spool_fd = -1;
static unsigned long long spool_seq;
static bool spool_dirty, stdout_dead, spool_failed;
static int64_t spool_synced_ms;

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

void spool_sync(bool force)
{
	if (spool_fd < 0 || !spool_dirty)
		return;
	int64_t now = now_ms(CLOCK_MONOTONIC);
	if (!force && now - spool_synced_ms < SPOOL_SYNC_MS)
		return;
	fdatasync(spool_fd);
	spool_dirty = false;
	spool_synced_ms = now;
}

/* stdout in state-dir mode: every write goes to the spool first, then to fd 1 */
static ssize_t out_write(void *cookie, const char *buf, size_t n)
{
	(void)cookie;
	if (spool_fd >= 0) {
		if (write_all(spool_fd, buf, n) < 0 && !spool_failed) {
			spool_failed = true;
			logmsg("spool write failed: %s (records are no longer spooled)", strerror(errno));
		}
		spool_dirty = true;
		spool_sync(false);
	}
	if (!stdout_dead && write_all(1, buf, n) < 0) {
		stdout_dead = true; /* reader gone: hand off like EOF on stdin */
		quitting = true;
	}
	return n;
}

void spool_commit(void)
{
	if (spool_fd >= 0)
		fflush(stdout);
}

void emit_direct(const char *line)
{
	fflush(stdout);
	if (!stdout_dead && write_all(1, line, strlen(line)) < 0)
		stdout_dead = true;
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
	unsigned long long seq;
	char path[PATH_MAX];
};

static int cmp_spool(const void *a, const void *b)
{
	const struct spool_file *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* spool files (spool.SEQ) in ascending order */
static int spool_list(struct spool_file **out)
{
	int n = 0, cap = 0;
	struct spool_file *v = NULL;
	DIR *d = spool_dir ? opendir(spool_dir) : NULL;
	if (d) {
		struct dirent *de;
		while ((de = readdir(d))) {
			char *end;
			if (strncmp(de->d_name, "spool.", 6))
				continue;
			unsigned long long seq = strtoull(de->d_name + 6, &end, 10);
			if (*end || end == de->d_name + 6)
				continue;
			v = grow(v, n, &cap, 16, sizeof(*v));
			v[n].seq = seq;
			path_join(v[n].path, sizeof(v[n].path), spool_dir, de->d_name);
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
	const char *saved = spool_dir;
	spool_dir = dir;
	struct spool_file *v;
	int n = spool_list(&v), removed = 0;
	for (int i = 0; i < n; i++)
		removed += unlink(v[i].path) == 0;
	free(v);
	char p[PATH_MAX];
	path_join(p, sizeof(p), dir, "generation");
	removed += unlink(p) == 0;
	rmdir(dir);
	spool_dir = saved;
	return removed;
}

void spool_open_next(void)
{
	char p[PATH_MAX], name[40];
	if (spool_fd >= 0) {
		fflush(stdout);
		spool_sync(true);
		close(spool_fd);
	}
	snprintf(name, sizeof(name), "spool.%016llu", ++spool_seq);
	path_join(p, sizeof(p), spool_dir, name);
	spool_fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (spool_fd < 0 && !spool_failed) {
		spool_failed = true;
		logmsg("cannot open spool file %s: %s (records are not spooled)", p, strerror(errno));
	}
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
	return (n > 14 && !memcmp(l, "{\"t\":\"flushed\"", 14)) || (n > 19 && !memcmp(l, "{\"t\":\"checkpointed\"", 19));
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

void replay_spool(void)
{
	emit_direct("{\"t\":\"replay-begin\"}\n");
	struct spool_file *v;
	int n = spool_list(&v);
	struct replay_ctx c = {.cap = 1 << 16};
	c.buf = malloc(c.cap);
	for (int i = 0; i < n; i++)
		if (v[i].seq < spool_seq)
			for_each_line(v[i].path, replay_line, &c);
	if (c.len && !stdout_dead && write_all(1, c.buf, c.len) < 0)
		stdout_dead = true;
	free(c.buf);
	free(v);
	char end[80];
	snprintf(end, sizeof(end), "{\"t\":\"replay-end\",\"records\":%ld}\n", c.records);
	emit_direct(end);
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

void spool_checkpointed(const char *token)
{
	char want[1200], esc[1024], line[1400];
	jstr(esc, sizeof(esc), token);
	snprintf(want, sizeof(want), "{\"t\":\"flushed\",\"token\":\"%s\"}", esc);
	long dropped = 0;
	int files = 0;
	bool found = false;
	if (spool_dir) {
		struct spool_file *v;
		int n = spool_list(&v);
		for (int i = n - 1; i >= 0 && !found; i--) {
			if (v[i].seq >= spool_seq || !last_line(v[i].path, line, sizeof(line)) || strcmp(line, want))
				continue;
			found = true;
			for (int j = 0; j <= i; j++) {
				dropped += for_each_line(v[j].path, NULL, NULL);
				files += unlink(v[j].path) == 0;
			}
		}
		free(v);
	}
	printf("{\"t\":\"checkpointed\"");
	put_jstr("token", token);
	printf(",\"dropped\":%ld,\"files\":%d", dropped, files);
	if (!found && spool_dir)
		printf(",\"error\":\"no flush with this token in the spool\"");
	printf("}\n");
}

/* the spool dir's generation file and spool files */
static void spool_dir_setup(void)
{
	char p[PATH_MAX], buf[64] = "";
	if (mkdir_p(spool_dir, 0700)) {
		logmsg("cannot create spool dir %s: %s (records are not spooled)", spool_dir, strerror(errno));
		spool_failed = true;
		return;
	}
	path_join(p, sizeof(p), spool_dir, "generation");
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = 0;
		close(fd);
	}
	bool same = adopted && !strncmp(buf, generation_hex, 32);
	struct spool_file *v;
	int n = spool_list(&v);
	if (!same && n) {
		if (adopted)
			logmsg("spool in %s belongs to another generation: discarded", spool_dir);
		for (int i = 0; i < n; i++)
			unlink(v[i].path);
		n = 0;
	}
	spool_seq = n ? v[n - 1].seq : 0;
	free(v);
	if (!same) {
		fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0) {
			dprintf(fd, "%s\n", generation_hex);
			fsync(fd);
			close(fd);
		}
	}
	spool_open_next();
}

void spool_setup(void)
{
	spool_dir_setup();
	/* stdout becomes a stream whose every write goes to the spool first
	 * (out_write), also when the spool could not be set up */
	static cookie_io_functions_t io = {.write = out_write};
	FILE *f = fopencookie(NULL, "w", io);
	if (!f)
		die_load("fopencookie failed");
	fflush(stdout);
	setvbuf(f, NULL, _IOFBF, 1 << 16);
	stdout = f;
}

int spool_timeout(int64_t now)
{
	if (!spool_dirty)
		return -1;
	int64_t left = spool_synced_ms + SPOOL_SYNC_MS - now;
	return left < 0 ? 0 : left;
}

void spool_close(void)
{
	close(spool_fd);
	spool_fd = -1;
}
