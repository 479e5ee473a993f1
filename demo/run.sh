#!/usr/bin/env bash
# make demo: models demo/workload.sh for about 20 seconds through the whole production path
# (embedded Temporal server, workflow, node activity with the BPF tracer, object store, merge).
set -euo pipefail
cd "$(dirname "$0")/.."
out=out/demo
echo "Modeling demo/workload.sh (an HTTP server and a client loop) for 20s ..."
./bin/varmor-modeler.js record --duration 20s --checkpoint-interval 5s --name demo --out "$out" -- demo/workload.sh
echo
echo "Outputs are in $out/: the ArmorProfileModel (armorprofilemodel.yaml), the AppArmor and seccomp"
echo "profiles (apparmor.profile, seccomp.json) and the report (report.md, report.json)."
