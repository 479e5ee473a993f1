#!/usr/bin/env bash
# Regenerates core/data/syscalls.json (syscall number -> name per architecture) from the
# kernel UAPI headers (Debian linux-libc-dev). Run by hand when the headers gain syscalls.
set -euo pipefail
cd "$(dirname "$0")/.."
table() { # $1 arch, rest: cpp flags
  local arch=$1; shift
  echo '#include <asm/unistd.h>' | cpp -dM "$@" - 2>/dev/null \
    | awk '$1=="#define" && $2 ~ /^__NR(3264)?_/ {print $2, $3}' \
    | awk -v arch="$arch" '
        { v[$1]=$2 }
        END {
          # the generic table names 64-bit variants through __NR3264_* (fcntl, lseek, mmap, fstat, ...)
          for (k in v) { if (k !~ /^__NR_/) continue; x=v[k]; while (x in v) x=v[x]; if (x ~ /^[0-9]+$/) { n=substr(k,6); if (n !~ /^(syscalls|arch_specific_syscall)$/) print arch, x, n } }
        }'
}
{
  table x86_64 -I/usr/include/x86_64-linux-gnu
  # arm64 uses the generic table with these __ARCH_WANT_ switches (arch/arm64/include/uapi/asm/unistd.h).
  gen=$(mktemp -d); mkdir -p "$gen/asm"; echo '#define __BITS_PER_LONG 64' > "$gen/asm/bitsperlong.h"
  echo '#include <asm-generic/unistd.h>' > "$gen/asm/unistd.h"
  table aarch64 -nostdinc -I"$gen" -I/usr/include -D__ARCH_WANT_RENAMEAT -D__ARCH_WANT_NEW_STAT \
    -D__ARCH_WANT_SET_GET_RLIMIT -D__ARCH_WANT_SYS_CLONE3 -D__ARCH_WANT_MEMFD_SECRET
  rm -rf "$gen"
  # Since 5.1 new syscalls take the same number on every architecture; these came after the
  # headers Debian 12 ships (kernel 6.1), and nodes run newer kernels.
  for arch in x86_64 aarch64; do
    n=451
    for name in cachestat fchmodat2 map_shadow_stack futex_wake futex_wait futex_requeue statmount \
        listmount lsm_get_self_attr lsm_set_self_attr lsm_list_modules mseal setxattrat getxattrat \
        listxattrat removexattrat open_tree_attr file_getattr file_setattr; do
      echo "$arch $n $name"; n=$((n + 1))
    done
  done
} | sort -u -k1,1 -k2,2n | node -e '
  const rows = require("fs").readFileSync(0, "utf8").trim().split("\n").map(l => l.split(" "));
  const out = {};
  for (const [arch, nr, name] of rows) (out[arch] ??= {})[nr] = name;
  process.stdout.write(JSON.stringify(out, null, 1) + "\n");
' > core/data/syscalls.json
