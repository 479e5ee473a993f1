#!/usr/bin/env bash
# KWOK's "fast" stages (nodes Ready with a lease heartbeat, pods Running at once, then completed or
# deleted), from the KWOK module this directory pins, as one --config file. One change: the
# pod-ready stage also reports a containerID per container, as a kubelet does (kwok://<pod uid>-<name>):
# target resolution keeps only containers with one.
set -euo pipefail
cd "$(dirname "$0")"
dir=$(go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
[ -n "$dir" ] || go mod download sigs.k8s.io/kwok
dir=$(go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
  pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
  echo '---'
  cat "$dir/kustomize/stage/$f"
done | awk '
  /^ *containerStatuses:/ { in_cs = 1 }
  /^ *initContainerStatuses:/ { in_cs = 0 }
  { print }
  in_cs && /^( *)- image: \{\{ \.image \| Quote \}\}/ {
    match($0, /^ */); pad = substr($0, 1, RLENGTH)
    print pad "  containerID: {{ printf \"kwok://%s-%s\" $.metadata.uid .name | Quote }}"
  }'
