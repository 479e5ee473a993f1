#!/bin/sh
# Build the floor program (empty tp_btf sys_enter/sys_exit) into bpf/bench/build/.
set -e
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$here/build"
cd "$here/build"
[ -s vmlinux.h ] || bpftool btf dump file /sys/kernel/btf/vmlinux format c > vmlinux.h
arch=$(uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
clang -g -O2 -target bpf -D__TARGET_ARCH_$arch -I. -c "$here/floor.bpf.c" -o floor.bpf.o
cc -O2 -o floor "$here/floor.c" -lbpf
