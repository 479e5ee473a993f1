// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Ring buffer records to JSON lines (see records.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "commands.h"
#include "discovery.h"
#include "json.h"
#include "ksyms.h"
#include "loader.h"
#include "records.h"
#include "resolver.h"
#include "spool.h"
#include "targets.h"

/* Ring buffer reader (the kernel's mmap layout: consumer page, producer page,
 * data twice). Own reader instead of libbpf's so that the consumer position
 * is advanced only after the records' output reached the spool. */
static struct {
	unsigned long *consumer_pos;
	const unsigned long *producer_pos;
	const char *data;
	unsigned long mask;
	size_t page, data_sz;
} ring;
static unsigned long commit_every; /* ring bytes consumed between commits of the position */
static int64_t clock_offset_ns; /* CLOCK_REALTIME - CLOCK_BOOTTIME */

static int64_t to_wall_ms(uint64_t boot_ns)
{
	return ((int64_t)boot_ns + clock_offset_ns) / 1000000;
}

static const char *const PERM_NAMES[] = {"read",  "write", "append", "create", "exec",  "rename",
					  "link",  "lock",  "mmap",   "chmod",  "chown", "delete"};

/* AppArmor's signal names (apparmor.d(5)), by number (x86/arm generic numbering) */
static const char *const SIG_NAMES[] = {
	NULL,    "hup",  "int",  "quit", "ill",  "trap",   "abrt", "bus",   "fpe",    "kill", "usr1",
	"segv",  "usr2", "pipe", "alrm", "term", "stkflt", "chld", "cont",  "stop",   "stp",  "ttin",
	"ttou",  "urg",  "xcpu", "xfsz", "vtalrm", "prof", "winch", "io",   "pwr",    "sys"};

static const char *const CAP_NAMES[] = {
	"chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid", "setpcap",
	"linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw", "ipc_lock",
	"ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin",
	"sys_boot", "sys_nice", "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease",
	"audit_write", "audit_control", "setfcap", "mac_override", "mac_admin", "syslog", "wake_alarm",
	"block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore"};

/* mount(2) flags as AppArmor's mount rules spell them */
static const struct flag_name MOUNT_FLAGS[] = {
	{1, "ro"},          {2, "nosuid"},      {4, "nodev"},       {8, "noexec"},
	{16, "sync"},       {32, "remount"},    {64, "mand"},       {128, "dirsync"},
	{1024, "noatime"},  {2048, "nodiratime"}, {4096, "bind"},   {8192, "move"},
	{16384, "rec"},     {32768, "silent"},  {1 << 17, "unbindable"}, {1 << 18, "private"},
	{1 << 19, "slave"}, {1 << 20, "shared"}, {1 << 21, "relatime"}, {1 << 24, "strictatime"},
	{1 << 25, "lazytime"}, {0, NULL}};
static const struct flag_name UMOUNT_FLAGS[] = {
	{1, "force"}, {2, "detach"}, {4, "expire"}, {8, "nofollow"}, {0, NULL}};
static const struct flag_name NS_FLAGS[] = {
	{0x00020000, "mnt"},  {0x02000000, "cgroup"}, {0x04000000, "uts"}, {0x08000000, "ipc"},
	{0x10000000, "user"}, {0x20000000, "pid"},    {0x40000000, "net"}, {0x00000080, "time"},
	{0, NULL}};

static const char *family_name(unsigned fam)
{
	return fam == 1 ? "unix" : fam == 2 ? "inet" : fam == 10 ? "inet6" : "other";
}

/* address part of connect/bind records */
static void put_addr(const struct obj_rec *r, unsigned fam, unsigned port, size_t dlen, char *data)
{
	printf(",\"family\":\"%s\"", family_name(fam));
	if (fam == 2 || fam == 10) {
		char buf[INET6_ADDRSTRLEN] = "";
		if (dlen >= (fam == 2 ? 4u : 16u))
			inet_ntop(fam == 2 ? AF_INET : AF_INET6, data, buf, sizeof(buf));
		printf(",\"address\":\"%s\",\"port\":%u", buf, port);
	} else {
		if (r->flags & OBJ_PATH_JOINED)
			dlen = normalise(data, dlen);
		put_hex("path_hex", data, dlen);
		if (r->flags & OBJ_ABSTRACT)
			printf(",\"abstract\":true");
		if (r->flags & OBJ_UNNAMED)
			printf(",\"unnamed\":true");
	}
}

static void print_obj(int target, const struct obj_rec *r, size_t size)
{
	static const char *const kinds[] = {[REC_FILE] = "file",       [REC_CAP] = "capability", [REC_CAP_NOAUDIT] = "capability",
					    [REC_SOCKET] = "socket",   [REC_CONNECT] = "connect",
					    [REC_BIND] = "bind",       [REC_SIGNAL] = "signal",
					    [REC_PTRACE] = "ptrace",   [REC_MOUNT] = "mount",
					    [REC_NS] = "namespace",    [REC_ARG] = "arg",
					    [REC_ACCEPT] = "accept"};
	size_t dlen = size - offsetof(struct obj_rec, data);
	bool unresolved = false;
	static char data[OBJ_DATA]; /* the ring buffer is mapped read-only: normalise a copy */
	memcpy(data, r->data, dlen);
	printf("{\"t\":\"%s\",\"target\":%d,\"pid\":%u,\"ts\":%lld,\"id\":\"%u:%016llx\"", kinds[r->h.type],
	       target, r->pid, (long long)to_wall_ms(r->h.ts), r->h.type, (unsigned long long)r->id);
	if (r->h.flags & RECF_SESSION)
		printf(",\"session\":\"exec\"");
	switch (r->h.type) {
	case REC_FILE: {
		if (r->flags & OBJ_PATH_JOINED)
			dlen = resolve_named(r, data, dlen, false, &unresolved);
		put_hex("path_hex", data, dlen);
		printf(",\"perms\":[");
		bool first = true;
		for (unsigned i = 0; i < sizeof(PERM_NAMES) / sizeof(*PERM_NAMES); i++)
			if (r->bits & (1u << i)) {
				printf("%s\"%s\"", first ? "" : ",", PERM_NAMES[i]);
				first = false;
			}
		printf("]");
		break;
	}
	case REC_CAP:
	case REC_CAP_NOAUDIT: {
		printf(",\"cap\":%u", r->a);
		if (r->a < sizeof(CAP_NAMES) / sizeof(*CAP_NAMES))
			printf(",\"name\":\"%s\"", CAP_NAMES[r->a]);
		printf(",\"granted\":%s", r->b ? "true" : "false");
		if (r->h.type == REC_CAP_NOAUDIT)
			printf(",\"noaudit\":true");
		__u64 asker = 0;
		memcpy(&asker, data, dlen < sizeof(asker) ? dlen : sizeof(asker));
		char caller[64];
		if (asker && ksyms_name(asker, caller, sizeof(caller)))
			put_jstr("caller", caller);
		break;
	}
	case REC_SOCKET:
		printf(",\"domain\":%u,\"type\":%u,\"protocol\":%u", r->a, r->b, r->c);
		break;
	case REC_CONNECT:
		put_addr(r, r->a, r->b, dlen, data);
		if (r->a == 2 || r->a == 10)
			printf(",\"protocol\":%u", r->c);
		break;
	case REC_BIND:
		printf(",\"op\":\"%s\"", r->a == OP_LISTEN ? "listen" : "bind");
		put_addr(r, r->c, r->b, dlen, data);
		if (r->c == 2 || r->c == 10)
			printf(",\"protocol\":%u", (unsigned)r->d);
		break;
	case REC_ACCEPT: /* address: the peer's; port: the local one it connected to */
		put_addr(r, r->a, r->b, dlen, data);
		printf(",\"protocol\":%u", r->c);
		break;
	case REC_SIGNAL:
		printf(",\"sig\":%u", r->a);
		if (r->a < sizeof(SIG_NAMES) / sizeof(*SIG_NAMES) && SIG_NAMES[r->a])
			printf(",\"name\":\"%s\"", SIG_NAMES[r->a]);
		else if (r->a >= 32 && r->a <= 64)
			printf(",\"name\":\"rtmin+%u\"", r->a - 32);
		printf(",\"peer\":\"%s\",\"to\":%u", r->b ? "external" : "self", r->c);
		break;
	case REC_PTRACE: {
		static const char *const ops[] = {[OP_PTRACE] = "ptrace", [OP_VM_READ] = "process_vm_readv",
						  [OP_VM_WRITE] = "process_vm_writev"};
		printf(",\"op\":\"%s\"", ops[r->d <= OP_VM_WRITE ? r->d : OP_PTRACE]);
		if (r->d == OP_PTRACE)
			printf(",\"request\":%u", r->a);
		printf(",\"mode\":\"%s\",\"peer\":\"%s\",\"to\":%u,\"ret\":%d", r->bits & 2 ? "trace" : "read",
		       r->b ? "external" : "self", r->c, r->ret);
		break;
	}
	case REC_MOUNT: {
		static const char *const ops[] = {[OP_MOUNT] = "mount", [OP_UMOUNT] = "umount",
						  [OP_MOVE] = "move_mount", [OP_CLONE] = "open_tree"};
		size_t l1 = r->len1 <= dlen ? r->len1 : dlen;
		size_t l2 = r->len2 <= dlen - l1 ? r->len2 : dlen - l1;
		size_t l3 = r->c <= dlen - l1 - l2 ? r->c : dlen - l1 - l2;
		char fstype[64], source[128];
		memcpy(fstype, data + l1, l2);
		memcpy(source, data + l1 + l2, l3);
		if (r->flags & OBJ_PATH_JOINED) /* mount follows the target's last symlink too */
			l1 = resolve_named(r, data, l1, !(r->a == OP_UMOUNT && (r->d & 8 /* UMOUNT_NOFOLLOW */)),
					   &unresolved);
		printf(",\"op\":\"%s\"", ops[r->a >= OP_MOUNT && r->a <= OP_CLONE ? r->a : OP_MOUNT]);
		put_hex("path_hex", data, l1);
		put_hex("fstype_hex", fstype, l2);
		if (l3)
			put_hex("source_hex", source, l3);
		put_flags("flags", r->d, r->a == OP_UMOUNT ? UMOUNT_FLAGS : MOUNT_FLAGS);
		printf(",\"ret\":%d", r->ret);
		break;
	}
	case REC_NS:
		printf(",\"op\":\"%s\"", r->a == OP_SETNS ? "setns" : "unshare");
		put_flags("types", r->d, NS_FLAGS);
		printf(",\"ret\":%d", r->ret);
		break;
	case REC_ARG: /* hex: a 64-bit value is past what a JSON number keeps exactly */
		printf(",\"nr\":%u,\"value\":\"0x%llx\",\"value2\":\"0x%x\",\"ret\":%d", r->a,
		       (unsigned long long)r->d, r->b, r->ret);
		break;
	}
	if (r->flags & OBJ_PATH_TRUNCATED)
		printf(",\"path_truncated\":true");
	if (r->flags & OBJ_DISCONNECTED)
		printf(",\"disconnected\":true");
	if (unresolved)
		printf(",\"unresolved\":true");
	printf("}\n");
}

static int on_record(void *data, size_t size)
{
	const struct rec_hdr *h = data;
	if (size < sizeof(*h) || h->target >= MAX_TARGETS)
		return 0;
	int target = h->target;

	const char *sess = (h->flags & RECF_SESSION) ? ",\"session\":\"exec\"" : "";

	switch (h->type) {
	case REC_SYSCALL: {
		const struct syscall_rec *r = data;
		printf("{\"t\":\"syscall\",\"target\":%d,\"nr\":%u,\"ts\":%lld%s}\n", target, r->nr,
		       (long long)to_wall_ms(h->ts), sess);
		break;
	}
	case REC_FILE:
	case REC_CAP:
	case REC_CAP_NOAUDIT:
	case REC_SOCKET:
	case REC_CONNECT:
	case REC_BIND:
	case REC_SIGNAL:
	case REC_PTRACE:
	case REC_MOUNT:
	case REC_NS:
	case REC_ARG:
	case REC_ACCEPT:
		if (size < offsetof(struct obj_rec, data) || size > sizeof(struct obj_rec))
			return 0;
		print_obj(target, data, size);
		break;
	case REC_JOIN: {
		const struct fork_rec *r = data;
		if (targets[target].known)
			add_pid(target, r->pid);
		printf("{\"t\":\"joined\",\"target\":%d,\"pid\":%u,\"ppid\":%u,\"ts\":%lld%s}\n", target, r->pid,
		       r->ppid, (long long)to_wall_ms(h->ts), sess);
		break;
	}
	case REC_CONTAINER: {
		const struct fork_rec *r = data;
		if (targets[target].known)
			add_pid(target, r->pid);
		char id[256];
		printf("{\"t\":\"container-joined\",\"target\":%d,\"pid\":%u,\"ppid\":%u,\"ts\":%lld", target, r->pid,
		       r->ppid, (long long)to_wall_ms(h->ts));
		if (container_of_pid(r->pid, id, sizeof(id)))
			put_jstr("container", id);
		printf("}\n");
		break;
	}
	case REC_EXEC: {
		const struct exec_rec *r = data;
		size_t plen = r->path_len, flen = r->filename_len;
		if (offsetof(struct exec_rec, data) + plen + flen > size)
			return 0;
		printf("{\"t\":\"exec\",\"target\":%d,\"pid\":%u,\"ts\":%lld%s", target, r->pid,
		       (long long)to_wall_ms(h->ts), sess);
		put_hex("path_hex", r->data, plen);
		put_hex("filename_hex", r->data + plen, flen);
		put_hex("comm_hex", r->comm, strnlen(r->comm, COMM_LEN));
		if (r->flags & EXEC_PATH_TRUNCATED)
			printf(",\"path_truncated\":true");
		printf("}\n");
		break;
	}
	case REC_FORK: {
		const struct fork_rec *r = data;
		if (targets[target].known)
			add_pid(target, r->pid);
		break;
	}
	case REC_EXIT: {
		const struct exit_rec *r = data;
		int st = r->status;
		printf("{\"t\":\"exit\",\"target\":%d,\"pid\":%u,\"ts\":%lld%s", target, r->pid,
		       (long long)to_wall_ms(h->ts), sess);
		if (WIFSIGNALED(st))
			printf(",\"code\":%d,\"signal\":%d}\n", 128 + WTERMSIG(st), WTERMSIG(st));
		else
			printf(",\"code\":%d}\n", WEXITSTATUS(st));
		if (remove_pid(target, r->pid) && targets[target].npids == 0) {
			if (!targets[target].pods) /* a pod may start containers again */
				printf("{\"t\":\"target-empty\",\"target\":%d}\n", target);
			resolver_forget(target);
			if (targets[target].kill_pending)
				finish_kill(target);
		}
		break;
	}
	}
	return 0;
}

/* Without a spool the consumer position advances after each record (as
 * libbpf does); with one, after each batch of `commit_every` ring bytes once
 * that batch's output has been written to the spool, so a record is always
 * in the ring or in the spool. */
void drain(void)
{
	unsigned long cons = __atomic_load_n(ring.consumer_pos, __ATOMIC_ACQUIRE), done = cons;
	bool more = true;
	while (more) {
		more = false;
		unsigned long prod = __atomic_load_n(ring.producer_pos, __ATOMIC_ACQUIRE);
		while (cons < prod) {
			const __u32 *lenp = (const __u32 *)(ring.data + (cons & ring.mask));
			__u32 len = __atomic_load_n(lenp, __ATOMIC_ACQUIRE);
			if (len & BPF_RINGBUF_BUSY_BIT)
				goto out;
			more = true;
			__u32 n = len & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
			cons += (n + BPF_RINGBUF_HDR_SZ + 7) & ~7UL;
			if (!(len & BPF_RINGBUF_DISCARD_BIT))
				on_record((void *)(lenp + 2), n);
			if (cons - done >= commit_every) {
				spool_commit();
				__atomic_store_n(ring.consumer_pos, cons, __ATOMIC_RELEASE);
				done = cons;
			}
		}
	}
out:
	if (cons != done) {
		spool_commit();
		__atomic_store_n(ring.consumer_pos, cons, __ATOMIC_RELEASE);
	}
}

int ring_open(int fd, bool spooled)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	ring.page = sysconf(_SC_PAGESIZE);
	ring.data_sz = info.max_entries;
	ring.mask = info.max_entries - 1;
	void *c = mmap(NULL, ring.page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (c == MAP_FAILED)
		return -errno;
	void *p = mmap(NULL, ring.page + 2 * ring.data_sz, PROT_READ, MAP_SHARED, fd, ring.page);
	if (p == MAP_FAILED)
		return -errno;
	ring.consumer_pos = c;
	ring.producer_pos = p;
	ring.data = (const char *)p + ring.page;
	commit_every = spooled ? (ring.data_sz / 16 > 4096 ? ring.data_sz / 16 : 4096) : 1;

	struct timespec rt, bt;
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_BOOTTIME, &bt);
	clock_offset_ns = ((int64_t)rt.tv_sec - bt.tv_sec) * 1000000000LL + (rt.tv_nsec - bt.tv_nsec);
	return 0;
}
