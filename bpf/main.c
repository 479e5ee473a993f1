// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * varmor-tracer, the loader: loads the BPF object (tracer.bpf.c and the
 * objects linked with it), speaks JSON lines on stdout and takes commands on
 * stdin. The protocol is described in README.md. This file: the command
 * line, loading/attaching or adopting the programs, and the main loop that
 * reads the ring buffer, signals and commands.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
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
#include "events.h"
#include "json.h"
#include "ksyms.h"
#include "loader.h"
#include "maps.h"
#include "pins.h"
#define RECORDS_GEN_MAIN
#include "records.gen.h"
#include "records.h"
#include "ring.h"
#include "spool.h"
#include "targets.h"
#include "tracer.skel.h"

#define PROTOCOL_VERSION 1

/* the command line */
static struct {
	long ringbuf_kb;
	const char *state_dir, *spool_dir; /* NULL without --state-dir */
	bool release_only;                 /* --release DIR */
	int pod_cgroup;                    /* enum pod_cgroup_mode; PODCG_NONE: auto */
	bool verbose;
} opt = {.ringbuf_kb = 4096};

static struct tracer_bpf *skel; /* NULL when the programs were adopted from pins */
static struct map_fds mfd;      /* handed to maps.c, which owns them */
static bool adopted;            /* the programs came from the state dir's pins */

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	/* silent by default so a load failure is one clear line on stderr;
	 * --verbose shows libbpf's messages including the verifier log */
	if (!opt.verbose)
		return 0;
	return vfprintf(stderr, fmt, args);
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
static void load_and_attach(void)
{
	skel = tracer_bpf__open();
	if (!skel)
		die_load("cannot open BPF object (libbpf)");
	/* ring buffer size must be a power of two number of pages */
	unsigned long rbsz = 4096;
	while (rbsz < (unsigned long)opt.ringbuf_kb * 1024)
		rbsz <<= 1;
	bpf_map__set_max_entries(skel->maps.events, rbsz);
	/* counts: per-CPU (512 KiB per CPU) up to COUNTS_PERCPU_MAX_CPUS, one shared array above */
	if (libbpf_num_possible_cpus() > COUNTS_PERCPU_MAX_CPUS) {
		bpf_map__set_type(skel->maps.counts, BPF_MAP_TYPE_ARRAY);
		skel->rodata->counts_shared = true;
	}

	/* io_uring may be compiled out: its tracepoint is then missing */
	struct btf *vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux || btf__find_by_name_kind(vmlinux, "btf_trace_io_uring_complete", BTF_KIND_TYPEDEF) < 0)
		bpf_program__set_autoload(skel->progs.on_uring_complete, false);
	btf__free(vmlinux);
	skel->rodata->pod_cgroup = pod_cgroup_mode();
	meta_set_pod_cgroup(pod_cgroup_mode());
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
	direct_begin();
	rec_ready();
	ready_version(PROTOCOL_VERSION);
	ready_noaudit(noaudit_ranges > 0);
	if (opt.state_dir) {
		ready_adopted(adopted);
		ready_generation(meta_generation());
		if (adopted) {
			ready_targets_begin();
			bool first = true;
			for (int t = 1; t < MAX_TARGETS; t++) {
				if (!target_known(t))
					continue;
				ready_targets_item(first);
				pinned_target(t);
				pinned_pids(target_npids(t));
				pinned_root(meta_root(t));
				if (meta_key(t)[0])
					pinned_key(meta_key(t));
				ready_targets_item_end();
				first = false;
			}
			ready_targets_end();
		}
	}
	rec_end();
	direct_end();
}

/* the command line into opt */
static void parse_args(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--ringbuf-kb") && i + 1 < argc) {
			char *end;
			opt.ringbuf_kb = strtol(argv[++i], &end, 10);
			if (*end || opt.ringbuf_kb < 4 || opt.ringbuf_kb > (1 << 20))
				usage();
		} else if ((!strcmp(argv[i], "--state-dir") || !strcmp(argv[i], "--release")) && i + 1 < argc) {
			opt.release_only = !strcmp(argv[i], "--release");
			opt.state_dir = argv[++i];
		} else if (!strcmp(argv[i], "--max-targets") && i + 1 < argc) {
			char *end;
			long n = strtol(argv[++i], &end, 10);
			if (*end || n < 1 || n > MAX_TARGETS - 1)
				usage();
			meta_limit(n);
		} else if (!strcmp(argv[i], "--spool-dir") && i + 1 < argc) {
			opt.spool_dir = argv[++i];
		} else if (!strcmp(argv[i], "--pod-cgroup") && i + 1 < argc) {
			i++;
			opt.pod_cgroup = -1;
			for (int m = PODCG_NONE; m <= PODCG_V1_CPU; m++)
				if (!strcmp(argv[i], CG_NAMES[m]))
					opt.pod_cgroup = m;
			if (opt.pod_cgroup < 0) {
				fprintf(stderr, "varmor-tracer: --pod-cgroup %s: expected auto, v2, pids, memory or cpu\n", argv[i]);
				exit(2);
			}
		} else if (!strcmp(argv[i], "--verbose") || !strcmp(argv[i], "-v")) {
			opt.verbose = true;
		} else {
			usage();
		}
	}
	const char *dir = opt.state_dir;
	if (opt.spool_dir && !dir)
		usage();
	if (dir) {
		size_t l = strlen(dir);
		if (dir[0] != '/' || l < 2 || l > PATH_MAX - 64 || strstr(dir, "/../") || strstr(dir, "/./"))
			usage();
		while (l > 1 && dir[l - 1] == '/')
			((char *)dir)[--l] = 0;
		if (!opt.spool_dir)
			opt.spool_dir = default_spool_dir(dir);
		if (!opt.spool_dir || opt.spool_dir[0] != '/') {
			fprintf(stderr, "varmor-tracer: --spool-dir DIR is needed when the state dir is not below /sys/fs/bpf/\n");
			usage();
		}
	}
}

/* --state-dir: adopt the programs pinned there, or load fresh and pin them */
static void open_state_dir(void)
{
	const char *dir = opt.state_dir;
	const char *err = ensure_bpffs(dir);
	if (err)
		die_load(err);
	if (mkdir_p(dir, 0700)) {
		char msg[PATH_MAX + 100];
		snprintf(msg, sizeof(msg), "cannot create state dir %s: %s", dir, strerror(errno));
		die_load(msg);
	}
	if (lock_dir(dir) < 0)
		die_load("state dir is in use by another varmor-tracer");
	char p[PATH_MAX];
	path_join(p, sizeof(p), dir, "meta");
	struct stat sb;
	adopted = stat(p, &sb) == 0;
	if (adopted) {
		err = adopt_pins(dir, &mfd);
		if (err)
			die_load(err);
		/* the programs read the hierarchy they were loaded with */
		int loaded = meta_pod_cgroup();
		if (opt.pod_cgroup != PODCG_NONE && opt.pod_cgroup != loaded) {
			char msg[PATH_MAX + 200];
			snprintf(msg, sizeof(msg),
				 "state dir %s was loaded with pod cgroup hierarchy %s, not %s (release it with --release to change it)",
				 dir, loaded > PODCG_NONE && loaded <= PODCG_V1_CPU ? CG_NAMES[loaded] : "none",
				 CG_NAMES[opt.pod_cgroup]);
			die_load(msg);
		}
		pod_cgroup_select(loaded);
	} else {
		/* pins without meta: a loader died while pinning; nobody saw its generation */
		if (remove_pins(dir, true))
			logmsg("removed an incomplete state dir %s", dir);
		load_and_attach();
		err = pin_all(dir, skel->obj, skel->skeleton);
		if (err) {
			close_skel(true);
			die_load(err);
		}
	}
}

/* `varmor-tracer --release DIR`: removes a stale state dir and its spool */
static int release_standalone(void)
{
	int fd = lock_dir(opt.state_dir);
	if (fd == -2) {
		logmsg("state dir %s is in use by a running varmor-tracer", opt.state_dir);
		fatal_json("state dir is in use by a running varmor-tracer");
		return 1;
	}
	int pins = fd >= 0 ? remove_pins(opt.state_dir, false) : 0;
	int spooled = opt.spool_dir ? remove_spool(opt.spool_dir) : 0;
	rec_released();
	released_found(fd >= 0 || spooled);
	released_pins(pins);
	rec_end();
	return 0;
}

/* reads what stdin has and runs each complete command line; false at EOF (quit) */
static bool read_commands(void)
{
	static char inbuf[1 << 16];
	static size_t inlen;
	static bool skipping; /* in the rest of a line that was too long: dropped up to its newline */
	ssize_t n = read(0, inbuf + inlen, sizeof(inbuf) - 1 - inlen);
	if (n <= 0 && !(n < 0 && errno == EINTR)) {
		loader_quit(false); /* EOF = quit */
		return false;
	}
	if (n <= 0)
		return true;
	inlen += n;
	char *start = inbuf, *nl;
	while (!loader_quitting() && (nl = memchr(start, '\n', inbuf + inlen - start))) {
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
	while (!loader_quitting()) {
		int64_t now = now_ms(CLOCK_MONOTONIC);
		int timeout = kill_timeout(now);
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
					loader_quit(false);
			}
		}
		if ((pfd[2].revents & (POLLIN | POLLHUP | POLLERR)) && !read_commands())
			stdin_open = false;
		kill_due(now_ms(CLOCK_MONOTONIC));
		fflush(stdout);
		spool_sync(false);
	}
}

/* after the loop: a release ends the generation, else a handoff (state dir) or detach */
static int finish(void)
{
	drain();
	fflush(stdout);
	if (opt.state_dir && loader_releasing()) {
		/* the end of this generation: unpin (the links detach), drop the spool */
		spool_close();
		remove_pins(opt.state_dir, false);
		remove_spool(opt.spool_dir);
		close_skel(true);
		direct_begin();
		rec_released();
		released_generation(meta_generation());
		rec_end();
		direct_end();
		return 0;
	}
	if (loader_releasing()) {
		direct_begin();
		rec_released();
		rec_end();
		direct_end();
	}
	spool_sync(true);
	close_skel(!opt.state_dir); /* with a state dir: a handoff, the pinned links stay attached */
	return 0;
}

int main(int argc, char **argv)
{
	/* fd 3, if the caller passed it, is where launched workloads write */
	if (fcntl(3, F_GETFD) >= 0) {
		commands_set_output(fcntl(3, F_DUPFD_CLOEXEC, 10));
		close(3);
	}
	parse_args(argc, argv);
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	signal(SIGPIPE, SIG_IGN);
	libbpf_set_print(libbpf_print);

	if (opt.release_only)
		return release_standalone();

	if (access("/sys/kernel/btf/vmlinux", R_OK))
		die_load("kernel has no BTF (/sys/kernel/btf/vmlinux missing)");

	struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
	setrlimit(RLIMIT_MEMLOCK, &rl); /* for kernels that still charge memlock */

	noaudit_ranges = ksyms_init(noaudit_lo, noaudit_hi, NOAUDIT_RANGES, capable_lo, capable_hi);
	if (noaudit_ranges <= 0)
		logmsg("kallsyms %s: capability checks made without auditing are modelled as capability use "
		       "(needs CAP_SYSLOG or kernel.kptr_restrict=0)",
		       noaudit_ranges < 0 ? "unreadable" : "hides kernel addresses");
	if (libbpf_num_possible_cpus() <= 0)
		die_load("cannot determine the number of possible CPUs");

	if (pod_cgroup_select(opt.pod_cgroup) != opt.pod_cgroup && opt.pod_cgroup != PODCG_NONE) {
		char msg[128];
		snprintf(msg, sizeof(msg), "--pod-cgroup %s: that hierarchy is not mounted", CG_NAMES[opt.pod_cgroup]);
		die_load(msg);
	}
	if (opt.state_dir)
		open_state_dir();
	else
		load_and_attach();
	/* with a spool, the consumer position is committed in batches (each
	 * after its output is spooled); without, after every record */
	int err = ring_open(mfd.events, opt.state_dir != NULL);
	if (err) {
		char msg[256];
		snprintf(msg, sizeof(msg), "cannot map the ring buffer: %s", strerror(-err));
		die_load(msg);
	}
	records_init();
	maps_setup(&mfd);

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

	if (opt.state_dir)
		spool_setup(opt.spool_dir, meta_generation(), adopted);
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
			if (target_known(t) && target_npids(t) == 0 && !target_has_pods(t))
				print_target_empty(t);
	}
	fflush(stdout);

	run(sfd);
	return finish();
}
