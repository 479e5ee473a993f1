// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * varmor-tracer: loads the BPF object (tracer.bpf.c and the objects linked
 * with it), speaks JSON lines on stdout and takes commands on stdin. The
 * protocol is described in README.md. This file: the shared state
 * (loader.h), loading/attaching or adopting the programs, and the main loop
 * that reads the ring buffer, signals and commands.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "commands.h"
#include "discovery.h"
#include "json.h"
#include "ksyms.h"
#include "loader.h"
#include "maps.h"
#include "pins.h"
#include "records.h"
#include "spool.h"
#include "targets.h"
#include "tracer.skel.h"

#define PROTOCOL_VERSION 1

/* ---- shared state (loader.h) ---------------------------------------------- */

struct map_fds mfd = {-1, -1, -1, -1, -1, -1, -1, -1, -1};
struct target targets[MAX_TARGETS];
struct state_meta meta;
const char *state_dir, *spool_dir;
bool adopted;
char generation_hex[33];
bool quitting, releasing;
int ncpus;
int out_fd = -1;
int cg_mode;
char cg_root[PATH_MAX];

/* ---- loader --------------------------------------------------------------- */

static struct tracer_bpf *skel; /* NULL when the programs were adopted from pins */
static bool verbose;

void logmsg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("varmor-tracer: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	/* silent by default so a load failure is one clear line on stderr;
	 * --verbose shows libbpf's messages including the verifier log */
	if (!verbose)
		return 0;
	return vfprintf(stderr, fmt, args);
}

void *grow(void *v, int n, int *cap, int first, size_t size)
{
	if (n < *cap)
		return v;
	*cap = *cap ? *cap * 2 : first;
	v = realloc(v, (size_t)*cap * size);
	if (!v) {
		logmsg("out of memory");
		exit(1);
	}
	return v;
}

int64_t now_ms(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void die_load(const char *msg)
{
	logmsg("%s", msg);
	fatal_json(msg);
	exit(1);
}

static void reap(void)
{
	int st;
	while (waitpid(-1, &st, WNOHANG) > 0) {
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: varmor-tracer [--ringbuf-kb N] [--state-dir DIR [--spool-dir DIR]]\n"
			"                     [--pod-cgroup auto|v2|pids|memory|cpu] [--max-targets N] [--verbose]\n"
			"       varmor-tracer --release DIR [--spool-dir DIR]\n");
	exit(2);
}

/* noaudit callers' text ranges from kallsyms (ksyms_init), for the kernel side */
static __u64 noaudit_lo[NOAUDIT_RANGES], noaudit_hi[NOAUDIT_RANGES];
static int noaudit_ranges;
static __u64 capable_lo[2], capable_hi[2]; /* cap_capable, security_capable */

/* fresh load and attach (the programs start tracking nothing: `tasks` is empty) */
static void load_and_attach(long ringbuf_kb)
{
	skel = tracer_bpf__open();
	if (!skel)
		die_load("cannot open BPF object (libbpf)");
	/* ring buffer size must be a power of two number of pages */
	unsigned long rbsz = 4096;
	while (rbsz < (unsigned long)ringbuf_kb * 1024)
		rbsz <<= 1;
	bpf_map__set_max_entries(skel->maps.events, rbsz);
	/* counts: per-CPU (512 KiB per CPU) up to COUNTS_PERCPU_MAX_CPUS, one shared array above */
	if (ncpus > COUNTS_PERCPU_MAX_CPUS) {
		bpf_map__set_type(skel->maps.counts, BPF_MAP_TYPE_ARRAY);
		skel->rodata->counts_shared = true;
	}

	/* io_uring may be compiled out: its tracepoint is then missing */
	struct btf *vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux || btf__find_by_name_kind(vmlinux, "btf_trace_io_uring_complete", BTF_KIND_TYPEDEF) < 0)
		bpf_program__set_autoload(skel->progs.on_uring_complete, false);
	btf__free(vmlinux);
	skel->rodata->pod_cgroup = meta.pod_cgroup = cg_mode;
	/* noaudit capability checks are told apart only when kallsyms shows addresses */
	for (int i = 0; i < noaudit_ranges; i++) {
		skel->rodata->noaudit_lo[i] = noaudit_lo[i];
		skel->rodata->noaudit_hi[i] = noaudit_hi[i];
	}
	skel->rodata->noaudit_n = noaudit_ranges > 0 ? noaudit_ranges : 0;
	for (int i = 0; i < 2; i++) {
		skel->rodata->capable_lo[i] = capable_lo[i];
		skel->rodata->capable_hi[i] = capable_hi[i];
	}

	int err = tracer_bpf__load(skel);
	if (err) {
		char msg[512];
		int e = -err;
		if (e == EPERM || e == EACCES)
			snprintf(msg, sizeof(msg),
				 "cannot load BPF programs: permission denied (needs root or "
				 "CAP_BPF+CAP_PERFMON)");
		else
			snprintf(msg, sizeof(msg),
				 "cannot load BPF programs: %s (needs kernel >= 5.17 with BTF, BPF ring buffer, "
				 "tp_btf and bpf_loop; run with --verbose for libbpf details)",
				 strerror(e));
		die_load(msg);
	}
	err = tracer_bpf__attach(skel);
	if (err) {
		char msg[512];
		int e = -err;
		snprintf(msg, sizeof(msg),
			 (e == EPERM || e == EACCES)
				 ? "cannot attach BPF programs: permission denied (needs root or CAP_BPF+CAP_PERFMON)"
				 : "cannot attach BPF programs: %s (tp_btf tracepoints unavailable?)",
			 strerror(e));
		die_load(msg);
	}
	mfd.tasks = bpf_map__fd(skel->maps.tasks);
	mfd.seen = bpf_map__fd(skel->maps.seen);
	mfd.counts = bpf_map__fd(skel->maps.counts);
	mfd.stats = bpf_map__fd(skel->maps.stats);
	mfd.objs = bpf_map__fd(skel->maps.objs);
	mfd.mntns = bpf_map__fd(skel->maps.mntns);
	mfd.podcg = bpf_map__fd(skel->maps.podcg);
	mfd.events = bpf_map__fd(skel->maps.events);
	mfd.tracked = bpf_map__fd(skel->maps.tracked);
}

/* closes the skeleton; pinned links stay attached unless `detach` */
static void close_skel(bool detach)
{
	if (!skel)
		return;
	if (!detach) {
		const struct bpf_object_skeleton *os = skel->skeleton;
		for (int i = 0; i < os->prog_cnt; i++) {
			struct bpf_link *l = *skel_prog(os, i)->link;
			if (l)
				bpf_link__disconnect(l);
		}
	}
	tracer_bpf__destroy(skel);
	skel = NULL;
}

static void put_ready(void)
{
	char buf[16384];
	int o = snprintf(buf, sizeof(buf), "{\"t\":\"ready\",\"version\":%d,\"noaudit\":%s", PROTOCOL_VERSION,
			 noaudit_ranges > 0 ? "true" : "false");
	if (state_dir) {
		o += snprintf(buf + o, sizeof(buf) - o, ",\"adopted\":%s,\"generation\":\"%s\"", adopted ? "true" : "false",
			      generation_hex);
		if (adopted) {
			o += snprintf(buf + o, sizeof(buf) - o, ",\"targets\":[");
			bool first = true;
			for (int t = 1; t < MAX_TARGETS; t++) {
				if (!targets[t].known)
					continue;
				o += snprintf(buf + o, sizeof(buf) - o, "%s{\"target\":%d,\"pids\":%d,\"root\":%u",
					      first ? "" : ",", t, targets[t].npids, meta.root[t]);
				if (meta.key[t][0])
					o += snprintf(buf + o, sizeof(buf) - o, ",\"key\":\"%s\"", meta.key[t]);
				o += snprintf(buf + o, sizeof(buf) - o, "}");
				first = false;
			}
			o += snprintf(buf + o, sizeof(buf) - o, "]");
		}
	}
	snprintf(buf + o, sizeof(buf) - o, "}\n");
	emit_direct(buf);
}

/* the command line into the shared state; returns --ringbuf-kb */
static long parse_args(int argc, char **argv, bool *release_only, int *want_cg)
{
	long ringbuf_kb = 4096;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--ringbuf-kb") && i + 1 < argc) {
			char *end;
			ringbuf_kb = strtol(argv[++i], &end, 10);
			if (*end || ringbuf_kb < 4 || ringbuf_kb > (1 << 20))
				usage();
		} else if ((!strcmp(argv[i], "--state-dir") || !strcmp(argv[i], "--release")) && i + 1 < argc) {
			*release_only = !strcmp(argv[i], "--release");
			state_dir = argv[++i];
		} else if (!strcmp(argv[i], "--max-targets") && i + 1 < argc) {
			char *end;
			long n = strtol(argv[++i], &end, 10);
			if (*end || n < 1 || n > MAX_TARGETS - 1)
				usage();
			meta_limit(n);
		} else if (!strcmp(argv[i], "--spool-dir") && i + 1 < argc) {
			spool_dir = argv[++i];
		} else if (!strcmp(argv[i], "--pod-cgroup") && i + 1 < argc) {
			i++;
			*want_cg = -1;
			for (int m = PODCG_NONE; m <= PODCG_V1_CPU; m++)
				if (!strcmp(argv[i], CG_NAMES[m]))
					*want_cg = m;
			if (*want_cg < 0) {
				fprintf(stderr, "varmor-tracer: --pod-cgroup %s: expected auto, v2, pids, memory or cpu\n", argv[i]);
				exit(2);
			}
		} else if (!strcmp(argv[i], "--verbose") || !strcmp(argv[i], "-v")) {
			verbose = true;
		} else {
			usage();
		}
	}
	if (spool_dir && !state_dir)
		usage();
	if (state_dir) {
		size_t l = strlen(state_dir);
		if (state_dir[0] != '/' || l < 2 || l > PATH_MAX - 64 || strstr(state_dir, "/../") || strstr(state_dir, "/./"))
			usage();
		while (l > 1 && state_dir[l - 1] == '/')
			((char *)state_dir)[--l] = 0;
		if (!spool_dir)
			spool_dir = default_spool_dir(state_dir);
		if (!spool_dir || spool_dir[0] != '/') {
			fprintf(stderr, "varmor-tracer: --spool-dir DIR is needed when the state dir is not below /sys/fs/bpf/\n");
			usage();
		}
	}
	return ringbuf_kb;
}

/* --state-dir: adopt the programs pinned there, or load fresh and pin them */
static void open_state_dir(long ringbuf_kb, int want_cg)
{
	const char *err = ensure_bpffs(state_dir);
	if (err)
		die_load(err);
	if (mkdir_p(state_dir, 0700)) {
		char msg[PATH_MAX + 100];
		snprintf(msg, sizeof(msg), "cannot create state dir %s: %s", state_dir, strerror(errno));
		die_load(msg);
	}
	if (lock_dir(state_dir) < 0)
		die_load("state dir is in use by another varmor-tracer");
	char p[PATH_MAX];
	path_join(p, sizeof(p), state_dir, "meta");
	struct stat sb;
	adopted = stat(p, &sb) == 0;
	if (adopted) {
		err = adopt_pins();
		if (err)
			die_load(err);
		/* the programs read the hierarchy they were loaded with */
		if (want_cg != PODCG_NONE && (__u32)want_cg != meta.pod_cgroup) {
			char msg[PATH_MAX + 200];
			snprintf(msg, sizeof(msg),
				 "state dir %s was loaded with pod cgroup hierarchy %s, not %s (release it with --release to change it)",
				 state_dir,
				 meta.pod_cgroup > PODCG_NONE && meta.pod_cgroup <= PODCG_V1_CPU ? CG_NAMES[meta.pod_cgroup] : "none",
				 CG_NAMES[want_cg]);
			die_load(msg);
		}
		cg_mode = cgroup_hierarchy(meta.pod_cgroup, cg_root, sizeof(cg_root));
	} else {
		/* pins without meta: a loader died while pinning; nobody saw its generation */
		if (remove_pins(state_dir, true))
			logmsg("removed an incomplete state dir %s", state_dir);
		load_and_attach(ringbuf_kb);
		err = pin_all(skel->obj, skel->skeleton);
		if (err) {
			close_skel(true);
			die_load(err);
		}
	}
	for (int i = 0; i < 16; i++)
		sprintf(generation_hex + 2 * i, "%02x", meta.generation[i]);
}

/* reads what stdin has and runs each complete command line; false at EOF (quit) */
static bool read_commands(void)
{
	static char inbuf[1 << 16];
	static size_t inlen;
	static bool skipping; /* in the rest of a line that was too long: dropped up to its newline */
	ssize_t n = read(0, inbuf + inlen, sizeof(inbuf) - 1 - inlen);
	if (n <= 0 && !(n < 0 && errno == EINTR)) {
		quitting = true; /* EOF = quit */
		return false;
	}
	if (n <= 0)
		return true;
	inlen += n;
	char *start = inbuf, *nl;
	while (!quitting && (nl = memchr(start, '\n', inbuf + inlen - start))) {
		bool nul = memchr(start, 0, nl - start) != NULL;
		*nl = 0;
		if (nl > start && nl[-1] == '\r')
			nl[-1] = 0;
		if (skipping)
			skipping = false; /* never run the tail of a line too long */
		else if (nul)
			refuse_line(start, "NUL byte in command");
		else
			handle_line(start);
		start = nl + 1;
	}
	inlen -= start - inbuf;
	memmove(inbuf, start, inlen);
	if (inlen == sizeof(inbuf) - 1) {
		if (!skipping) {
			inbuf[256] = 0; /* the verb and target are enough to answer */
			refuse_line(inbuf, "line too long (more than 65534 bytes)");
		}
		skipping = true;
		inlen = 0;
	}
	return true;
}

/* until quit: the ring buffer, signals (SIGCHLD reaps; the others quit), commands and kill deadlines */
static void run(int sfd)
{
	bool stdin_open = true;
	while (!quitting) {
		int timeout = -1;
		int64_t now = now_ms(CLOCK_MONOTONIC);
		for (int t = 1; t < MAX_TARGETS; t++) {
			if (!targets[t].kill_pending)
				continue;
			int64_t left = targets[t].kill_deadline_ms - now;
			if (left < 0)
				left = 0;
			if (timeout < 0 || left < timeout)
				timeout = left;
		}
		int sync_left = spool_timeout(now);
		if (sync_left >= 0 && (timeout < 0 || sync_left < timeout))
			timeout = sync_left;
		struct pollfd pfd[3] = {
			{.fd = mfd.events, .events = POLLIN},
			{.fd = sfd, .events = POLLIN},
			{.fd = stdin_open ? 0 : -1, .events = POLLIN},
		};
		if (poll(pfd, 3, timeout) < 0 && errno != EINTR) {
			logmsg("poll: %s", strerror(errno));
			break;
		}
		drain();
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGCHLD)
					reap();
				else
					quitting = true;
			}
		}
		if ((pfd[2].revents & (POLLIN | POLLHUP | POLLERR)) && !read_commands())
			stdin_open = false;
		now = now_ms(CLOCK_MONOTONIC);
		for (int t = 1; t < MAX_TARGETS; t++)
			if (targets[t].kill_pending && now >= targets[t].kill_deadline_ms)
				finish_kill(t);
		fflush(stdout);
		spool_sync(false);
	}
}

/* after the loop: a release ends the generation, else a handoff (state dir) or detach */
static int finish(void)
{
	drain();
	fflush(stdout);
	if (state_dir && releasing) {
		/* the end of this generation: unpin (the links detach), drop the spool */
		spool_close();
		remove_pins(state_dir, false);
		remove_spool(spool_dir);
		close_skel(true);
		char line[128];
		snprintf(line, sizeof(line), "{\"t\":\"released\",\"generation\":\"%s\"}\n", generation_hex);
		emit_direct(line);
		return 0;
	}
	if (releasing)
		emit_direct("{\"t\":\"released\"}\n");
	spool_sync(true);
	close_skel(!state_dir); /* with a state dir: a handoff, the pinned links stay attached */
	return 0;
}

int main(int argc, char **argv)
{
	/* fd 3, if the caller passed it, is where launched workloads write */
	if (fcntl(3, F_GETFD) >= 0) {
		out_fd = fcntl(3, F_DUPFD_CLOEXEC, 10);
		close(3);
	}
	bool release_only = false;
	int want_cg = PODCG_NONE;
	long ringbuf_kb = parse_args(argc, argv, &release_only, &want_cg);
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	signal(SIGPIPE, SIG_IGN);
	libbpf_set_print(libbpf_print);

	if (release_only)
		return release_standalone();

	if (access("/sys/kernel/btf/vmlinux", R_OK))
		die_load("kernel has no BTF (/sys/kernel/btf/vmlinux missing)");

	struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
	setrlimit(RLIMIT_MEMLOCK, &rl); /* for kernels that still charge memlock */

	ncpus = libbpf_num_possible_cpus();
	noaudit_ranges = ksyms_init(noaudit_lo, noaudit_hi, NOAUDIT_RANGES, capable_lo, capable_hi);
	if (noaudit_ranges <= 0)
		logmsg("kallsyms %s: capability checks made without auditing are modelled as capability use "
		       "(needs CAP_SYSLOG or kernel.kptr_restrict=0)",
		       noaudit_ranges < 0 ? "unreadable" : "hides kernel addresses");
	if (ncpus <= 0)
		die_load("cannot determine the number of possible CPUs");

	cg_mode = cgroup_hierarchy(want_cg, cg_root, sizeof(cg_root));
	if (cg_mode != want_cg && want_cg != PODCG_NONE) {
		char msg[128];
		snprintf(msg, sizeof(msg), "--pod-cgroup %s: that hierarchy is not mounted", CG_NAMES[want_cg]);
		die_load(msg);
	}
	if (state_dir)
		open_state_dir(ringbuf_kb, want_cg);
	else
		load_and_attach(ringbuf_kb);
	/* with a spool, the consumer position is committed in batches (each
	 * after its output is spooled); without, after every record */
	int err = ring_open(mfd.events, state_dir != NULL);
	if (err) {
		char msg[256];
		snprintf(msg, sizeof(msg), "cannot map the ring buffer: %s", strerror(-err));
		die_load(msg);
	}
	maps_setup();

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		die_load("signalfd failed");

	if (state_dir)
		spool_setup();
	if (adopted)
		rebuild_targets();
	put_ready();
	if (adopted) {
		/* what earlier loaders wrote but the Node side had not checkpointed
		 * (of the targets no run attached: theirs comes at their attach),
		 * then what the kernel produced while no loader ran */
		replay_spool(0);
		drain();
		rebuild_targets(); /* the tasks map is the truth; the backlog's forks/exits are applied now */
		for (int t = 1; t < MAX_TARGETS; t++)
			if (targets[t].known && targets[t].npids == 0 && !targets[t].pods)
				printf("{\"t\":\"target-empty\",\"target\":%d}\n", t);
	}
	fflush(stdout);

	run(sfd);
	return finish();
}
