#!/usr/bin/env bash
# Installs the Debian packages the modeler builds and tests with, only those missing.
# Everything comes from Debian's registry; nothing is downloaded from elsewhere.
set -euo pipefail
packages=(clang llvm lld libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config make runc apparmor strace
  busybox-static python3-venv python3-libapparmor umoci containerd iputils-ping)
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
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}"
}
