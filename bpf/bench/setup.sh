#!/bin/sh
# Idempotent setup for bpf/bench/run.mjs (Debian 12, as root): the tools it
# runs, and tracefs (bpftrace's tracepoint probes need it).
set -e
need=""
for p in bpftrace strace redis-server redis-tools bpftool clang libbpf-dev; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need="$need $p"
done
if [ -n "$need" ]; then
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $need
fi
# the packaged redis service, if any, is not used (the bench starts its own on port 6391)
[ -d /sys/kernel/tracing/events ] || mount -t tracefs tracefs /sys/kernel/tracing
