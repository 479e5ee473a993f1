#!/usr/bin/env bash
# Runs test files one at a time (many share the kernel's BPF, runc and the node's namespaces), each
# under a deadline: a file that hangs (a test that never settles, or a handle left open after its
# last test) is killed with its process group and named, instead of stalling the whole run.
# Usage: tools/run-tests.sh FILE...   (TEST_FILE_TIMEOUT seconds per file, default 1200)
set -uo pipefail
deadline=${TEST_FILE_TIMEOUT:-1200}
failed=() timedout=() times=()
started=$(date +%s)
for f in "$@"; do
  t0=$(date +%s)
  echo "### $f"
  # timeout signals the whole process group it runs the file in; -k: SIGKILL if TERM is ignored.
  timeout -k 20 "$deadline" node --test --test-reporter=spec "$f"
  rc=$?
  dt=$(( $(date +%s) - t0 ))
  times+=("$(printf '%5ds  %s' "$dt" "$f")")
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "### TIMED OUT after ${deadline}s: $f" >&2
    timedout+=("$f")
  elif [ "$rc" -ne 0 ]; then
    failed+=("$f")
  fi
done
echo
echo "### time per file (slowest first)"
printf '%s\n' "${times[@]}" | sort -rn | head -15
echo "### $# files in $(( $(date +%s) - started ))s: ${#failed[@]} failed, ${#timedout[@]} timed out"
for f in "${failed[@]}"; do echo "FAILED     $f"; done
for f in "${timedout[@]}"; do echo "TIMED OUT  $f"; done
[ ${#failed[@]} -eq 0 ] && [ ${#timedout[@]} -eq 0 ]
