/*
 * Calls a workload's model never saw, run inside its container: a user namespace made through
 * clone, an AF_ALG socket and a personality change. Prints one line per call: `name ok`, or
 * `name errno N` (EPERM is what a seccomp ERRNO rule answers); exits 0.
 *
 * Freestanding (-nostdlib -static): its only syscalls are the three probed and write, exit and
 * exit_group, which every generated profile allows, so nothing else it does is refused and counted
 * against the program it runs beside.
 */
#include <linux/sched.h>
#include <signal.h>
#include <sys/syscall.h>

#define AF_ALG 38
#define SOCK_SEQPACKET 5
#define ADDR_NO_RANDOMIZE 0x0040000

static long sys(long n, long a, long b, long c, long d, long e)
{
#if defined(__x86_64__)
	long r;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	__asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8) : "rcx", "r11", "memory");
	return r;
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	register long x4 __asm__("x4") = e;
	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4) : "memory");
	return x0;
#else
#error "the probe knows x86_64 and aarch64"
#endif
}

static void report(const char *name, long r)
{
	char line[64];
	int n = 0;
	while (*name)
		line[n++] = *name++;
	const char *word = r < 0 ? " errno " : " ok";
	while (*word)
		line[n++] = *word++;
	if (r < 0) {
		char digits[12];
		int k = 0;
		for (long e = -r; e > 0 && k < 11; e /= 10)
			digits[k++] = (char)('0' + e % 10);
		while (k > 0)
			line[n++] = digits[--k];
	}
	line[n++] = '\n';
	sys(SYS_write, 1, (long)line, n, 0, 0);
}

#if defined(__x86_64__)
__attribute__((force_align_arg_pointer))
#endif
void _start(void)
{
	/* no CLONE_VM: the child runs on its own copy of this stack and leaves at once */
	long pid = sys(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
	if (pid == 0)
		sys(SYS_exit, 0, 0, 0, 0, 0);
	report("clone-newuser", pid);

	long fd = sys(SYS_socket, AF_ALG, SOCK_SEQPACKET, 0, 0, 0);
	report("socket-alg", fd);

	long old = sys(SYS_personality, 0xffffffff, 0, 0, 0, 0);
	report("personality-change", sys(SYS_personality, (old < 0 ? 0 : old) | ADDR_NO_RANDOMIZE, 0, 0, 0, 0));
	sys(SYS_exit_group, 0, 0, 0, 0, 0);
	__builtin_unreachable();
}
