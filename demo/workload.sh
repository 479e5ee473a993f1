#!/bin/sh
# The demo workload: a tiny HTTP server and a client loop that fetches from it, writes a log and
# looks up its own configuration, like a small web service with a sidecar health check.
set -u
here=$(cd "$(dirname "$0")" && pwd)
port=${DEMO_PORT:-18080}
log=$(mktemp /tmp/varmor-demo.XXXXXX)
busybox httpd -f -p "127.0.0.1:$port" -h "$here/www" &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$log"' EXIT INT TERM
sleep 0.3
while :; do
  busybox wget -q -O - "http://127.0.0.1:$port/index.html" >>"$log" 2>&1 || echo "fetch failed" >>"$log"
  grep -q nameserver /etc/resolv.conf 2>/dev/null
  date +%s >>"$log"
  sleep 0.5
done
