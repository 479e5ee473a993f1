#!/usr/bin/env bash
# Installs the Debian packages the modeler builds and tests with, only those missing.
# Everything comes from Debian's registry; nothing is downloaded from elsewhere.
# Usage: tools/setup-system.sh [demo|all]   demo: what make demo needs (build the tracer and the
# TypeScript, the Temporal CLI's venv, the demo workload's busybox); all (default): the tests' too.
set -euo pipefail
demo=(clang llvm lld libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config make python3-venv busybox-static)
tests=(runc apparmor strace python3-libapparmor python3-seccomp umoci containerd containernetworking-plugins iputils-ping ipset
  redis-server redis-tools nginx postgresql)  # the last four: the advice round trip's servers and clients (test/advice)
case "${1:-all}" in
  demo) packages=("${demo[@]}") ;;
  all) packages=("${demo[@]}" "${tests[@]}") ;;
  *) echo "usage: $0 [demo|all]" >&2; exit 2 ;;
esac
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "setup: installing Debian packages: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "setup: need root to install ${missing[*]} (or install them yourself)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Servers' maintainer scripts would start them (redis on 6379, nginx on 80, a PostgreSQL cluster on
# 5432) and leave them running: a policy-rc.d that refuses every start for the install, as in images.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}"
}
