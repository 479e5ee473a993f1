// SPDX-License-Identifier: GPL-2.0
/*
 * varmor-tracer kernel side: per-target syscall sets, exec paths, objects
 * and process lifetimes for the processes in `tasks` and their descendants.
 *
 * One BPF object (build/tracer.bpf.o, one skeleton) statically linked from:
 *   tracer.bpf.c    this overview and the license; the shared maps are in maps.bpf.h
 *   process.bpf.c   fork, exec (sessions, new containers of a pod), exit
 *   syscalls.bpf.c  sys_exit, the per-syscall program, and io_uring opens
 *   handlers.bpf.c  the object records of the syscalls (files, network, ...)
 *   caps.bpf.c      capability checks and signals
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";
