// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Ring buffer records to JSON lines (see records.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include "discovery.h"
#include "json.h"
#include "ksyms.h"
#include "loader.h"
#define RECORDS_GEN_RECORDS
#include "records.gen.h"
#include "records.h"
#include "resolver.h"

static int64_t clock_offset_ns; /* CLOCK_REALTIME - CLOCK_BOOTTIME */

static int64_t to_wall_ms(uint64_t boot_ns)
{
	return ((int64_t)boot_ns + clock_offset_ns) / 1000000;
}

/* file permission bits (enum perm_bit) */
static const struct flag_name PERMS[] = {
	{P_READ, "read"}, {P_WRITE, "write"}, {P_APPEND, "append"}, {P_CREATE, "create"}, {P_EXEC, "exec"},
	{P_RENAME, "rename"}, {P_LINK, "link"}, {P_LOCK, "lock"}, {P_MMAP, "mmap"}, {P_CHMOD, "chmod"},
	{P_CHOWN, "chown"}, {P_DELETE, "delete"}, {0, NULL}};
#define PERM_ALL ((P_DELETE << 1) - 1)

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

/* address part of connect/bind/accept records */
static void put_addr(const struct obj_rec *r, unsigned fam, unsigned port, size_t dlen, char *data)
{
	addr_family(family_name(fam));
	if (fam == 2 || fam == 10) {
		char buf[INET6_ADDRSTRLEN] = "";
		if (dlen >= (fam == 2 ? 4u : 16u))
			inet_ntop(fam == 2 ? AF_INET : AF_INET6, data, buf, sizeof(buf));
		addr_address(buf);
		addr_port(port);
	} else {
		if (r->flags & OBJ_PATH_JOINED)
			dlen = normalise(data, dlen);
		addr_path_hex(data, dlen);
		if (r->flags & OBJ_ABSTRACT)
			addr_abstract();
		if (r->flags & OBJ_UNNAMED)
			addr_unnamed();
	}
}

/* the fields of a process record after its kind and target */
static void put_proc(const struct rec_hdr *h, __u32 pid)
{
	proc_pid(pid);
	proc_ts(to_wall_ms(h->ts));
	if (h->flags & RECF_SESSION)
		proc_session();
}

/* the process a signal or ptrace went to: b = 1 another target's or none's, c = its tgid */
static void put_peer(const struct obj_rec *r)
{
	peer_peer(r->b ? "external" : "self");
	peer_to(r->c);
}

/* each object kind's line, by record type */
static void (*const OBJ_KINDS[])(int target) = {
	[REC_FILE] = rec_file,     [REC_CAP] = rec_capability, [REC_CAP_NOAUDIT] = rec_capability,
	[REC_SOCKET] = rec_socket, [REC_CONNECT] = rec_connect, [REC_BIND] = rec_bind,
	[REC_SIGNAL] = rec_signal, [REC_PTRACE] = rec_ptrace,  [REC_MOUNT] = rec_mount,
	[REC_NS] = rec_namespace,  [REC_ARG] = rec_arg,        [REC_ACCEPT] = rec_accept};

static void print_obj(int target, const struct obj_rec *r, size_t size)
{
	size_t dlen = size - offsetof(struct obj_rec, data);
	bool unresolved = false;
	static char data[OBJ_DATA]; /* the ring buffer is mapped read-only: normalise a copy */
	memcpy(data, r->data, dlen);
	OBJ_KINDS[r->h.type](target);
	obj_pid(r->pid);
	obj_ts(to_wall_ms(r->h.ts));
	obj_id(r->h.type, r->id);
	if (r->h.flags & RECF_SESSION)
		obj_session();
	switch (r->h.type) {
	case REC_FILE:
		if (r->flags & OBJ_PATH_JOINED)
			dlen = resolve_named(r, data, dlen, false, &unresolved);
		file_path_hex(data, dlen);
		file_perms(r->bits & PERM_ALL, PERMS);
		break;
	case REC_CAP:
	case REC_CAP_NOAUDIT: {
		capability_cap(r->a);
		if (r->a < sizeof(CAP_NAMES) / sizeof(*CAP_NAMES))
			capability_name(CAP_NAMES[r->a]);
		capability_granted(r->b);
		if (r->h.type == REC_CAP_NOAUDIT)
			capability_noaudit();
		__u64 asker = 0;
		memcpy(&asker, data, dlen < sizeof(asker) ? dlen : sizeof(asker));
		char caller[64];
		if (asker && ksyms_name(asker, caller, sizeof(caller)))
			capability_caller(caller);
		break;
	}
	case REC_SOCKET:
		socket_domain(r->a);
		socket_type(r->b);
		socket_protocol(r->c);
		break;
	case REC_CONNECT:
		put_addr(r, r->a, r->b, dlen, data);
		if (r->a == 2 || r->a == 10)
			connect_protocol(r->c);
		break;
	case REC_BIND:
		bind_op(r->a == OP_LISTEN ? "listen" : "bind");
		put_addr(r, r->c, r->b, dlen, data);
		if (r->c == 2 || r->c == 10)
			bind_protocol((unsigned)r->d);
		break;
	case REC_ACCEPT: /* address: the peer's; port: the local one it connected to */
		put_addr(r, r->a, r->b, dlen, data);
		accept_protocol(r->c);
		break;
	case REC_SIGNAL: {
		char rt[16];
		signal_sig(r->a);
		if (r->a < sizeof(SIG_NAMES) / sizeof(*SIG_NAMES) && SIG_NAMES[r->a])
			signal_name(SIG_NAMES[r->a]);
		else if (r->a >= 32 && r->a <= 64) {
			snprintf(rt, sizeof(rt), "rtmin+%u", r->a - 32);
			signal_name(rt);
		}
		put_peer(r);
		break;
	}
	case REC_PTRACE: {
		static const char *const ops[] = {[OP_PTRACE] = "ptrace", [OP_VM_READ] = "process_vm_readv",
						  [OP_VM_WRITE] = "process_vm_writev"};
		ptrace_op(ops[r->d <= OP_VM_WRITE ? r->d : OP_PTRACE]);
		if (r->d == OP_PTRACE)
			ptrace_request(r->a);
		ptrace_mode(r->bits & 2 ? "trace" : "read");
		put_peer(r);
		ptrace_ret(r->ret);
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
		mount_op(ops[r->a >= OP_MOUNT && r->a <= OP_CLONE ? r->a : OP_MOUNT]);
		mount_path_hex(data, l1);
		mount_fstype_hex(fstype, l2);
		if (l3)
			mount_source_hex(source, l3);
		mount_flags(r->d, r->a == OP_UMOUNT ? UMOUNT_FLAGS : MOUNT_FLAGS);
		mount_ret(r->ret);
		break;
	}
	case REC_NS:
		namespace_op(r->a == OP_SETNS ? "setns" : "unshare");
		namespace_types(r->d, NS_FLAGS);
		namespace_ret(r->ret);
		break;
	case REC_ARG: /* hex: a 64-bit value is past what a JSON number keeps exactly */
		arg_nr(r->a);
		arg_value(r->d);
		arg_value2(r->b);
		arg_ret(r->ret);
		break;
	}
	if (r->flags & OBJ_PATH_TRUNCATED)
		tail_path_truncated();
	if (r->flags & OBJ_DISCONNECTED)
		tail_disconnected();
	if (unresolved)
		tail_unresolved();
	rec_end();
}

bool print_record(const void *data, size_t size)
{
	const struct rec_hdr *h = data;
	if (size < sizeof(*h) || h->target >= MAX_TARGETS)
		return false;
	int target = h->target;
	bool session = h->flags & RECF_SESSION;

	switch (h->type) {
	case REC_SYSCALL: {
		const struct syscall_rec *r = data;
		if (size < sizeof(*r))
			return false;
		rec_syscall(target);
		syscall_nr(r->nr);
		syscall_ts(to_wall_ms(h->ts));
		if (session)
			syscall_session();
		rec_end();
		return true;
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
			return false;
		print_obj(target, data, size);
		return true;
	case REC_FORK:
	case REC_JOIN:
	case REC_CONTAINER: {
		const struct fork_rec *r = data;
		if (size < sizeof(*r))
			return false;
		if (h->type == REC_JOIN) {
			rec_joined(target);
			joined_pid(r->pid);
			joined_ppid(r->ppid);
			joined_ts(to_wall_ms(h->ts));
			if (session)
				joined_session();
			rec_end();
		} else if (h->type == REC_CONTAINER) {
			char id[256];
			rec_container_joined(target);
			container_joined_pid(r->pid);
			container_joined_ppid(r->ppid);
			container_joined_ts(to_wall_ms(h->ts));
			if (container_of_pid(r->pid, id, sizeof(id)))
				container_joined_container(id);
			rec_end();
		}
		return true; /* a fork is not printed: it only tells the loader */
	}
	case REC_EXEC: {
		const struct exec_rec *r = data;
		size_t plen = r->path_len, flen = r->filename_len;
		if (size < offsetof(struct exec_rec, data) || offsetof(struct exec_rec, data) + plen + flen > size)
			return false;
		rec_exec(target);
		put_proc(h, r->pid);
		exec_path_hex(r->data, plen);
		exec_filename_hex(r->data + plen, flen);
		exec_comm_hex(r->comm, strnlen(r->comm, COMM_LEN));
		if (r->flags & EXEC_PATH_TRUNCATED)
			exec_path_truncated();
		rec_end();
		return true;
	}
	case REC_EXIT: {
		const struct exit_rec *r = data;
		if (size < sizeof(*r))
			return false;
		int st = r->status;
		rec_exit(target);
		put_proc(h, r->pid);
		exit_code(WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st));
		if (WIFSIGNALED(st))
			exit_signal(WTERMSIG(st));
		rec_end();
		return true;
	}
	}
	return false;
}

void print_target_empty(int target)
{
	rec_target_empty(target);
	rec_end();
}

void records_init(void)
{
	struct timespec rt, bt;
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_BOOTTIME, &bt);
	clock_offset_ns = ((int64_t)rt.tv_sec - bt.tv_sec) * 1000000000LL + (rt.tv_nsec - bt.tv_nsec);
}
