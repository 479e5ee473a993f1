#!/usr/bin/env bash
# Installs the Debian packages the modeler builds and tests with, only those missing.
# Everything comes from Debian's registry; nothing is downloaded from elsewhere.
set -euo pipefail
packages=(clang llvm lld libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config make runc apparmor strace
  busybox-static python3-venv python3-libapparmor python3-seccomp umoci containerd containernetworking-plugins iputils-ping ipset
  redis-server redis-tools nginx postgresql)  # the advice round trip's servers and clients (test/advice)
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
