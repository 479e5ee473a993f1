#!/usr/bin/env bash
# Compiles audit/wasm/bytes.c to dist/audit/bytes.wasm (clang's wasm32 target, linked by LLVM's wasm-ld).
set -euo pipefail
cd "$(dirname "$0")/.."
ver=$(clang -dumpversion | cut -d. -f1)
ld=$(command -v "wasm-ld-$ver" || command -v wasm-ld || true)
if [ -z "$ld" ]; then
  echo "build-wasm: no wasm-ld for clang $ver (Debian: apt-get install lld-$ver)" >&2
  exit 1
fi
mkdir -p dist/audit
clang --target=wasm32 -O3 -msimd128 -nostdlib -Wall -Werror -fuse-ld="$ld" -Wl,--no-entry \
  -o dist/audit/bytes.wasm audit/wasm/bytes.c
