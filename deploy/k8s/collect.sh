#!/usr/bin/env bash
# Collects the JSON reports of the pods of an rtx bench Indexed Job and merges them.
#
#   deploy/k8s/collect.sh [JOB] [--json all.json --html all.html --max-p99 50ms ...]
#
# Waits for the Job to finish, then reads each index's pod log (`kubectl logs`, the JSON
# report the pod wrote to stdout) into a directory, and runs `rtx bench merge` on them with
# the remaining arguments. A pod that left no report is named on stderr and left out; the
# merge's summary says how many shards it merged.
set -euo pipefail

job="${1:-rtx-bench}"
shift || true
namespace_args=()
if [[ -n "${NAMESPACE:-}" ]]; then namespace_args=(--namespace "$NAMESPACE"); fi
kubectl() { command kubectl "${namespace_args[@]}" "$@"; }

completions=$(kubectl get job "$job" -o jsonpath='{.spec.completions}')
echo "collect: waiting for job/$job ($completions shards) to finish" >&2
kubectl wait --for=condition=complete --timeout=24h "job/$job" >/dev/null 2>&1 ||
  kubectl wait --for=condition=failed --timeout=1s "job/$job" >/dev/null 2>&1 || true

dir=$(mktemp -d "rtx-bench-$job-XXXXXX")
reports=()
for ((i = 0; i < completions; i++)); do
  pod=$(kubectl get pods -l "job-name=$job,batch.kubernetes.io/job-completion-index=$i" \
          -o jsonpath='{.items[0].metadata.name}' 2>/dev/null || true)
  file="$dir/shard-$i.json"
  if [[ -n "$pod" ]] && kubectl logs "$pod" 2>/dev/null | grep '^{' >"$file" && [[ -s "$file" ]]; then
    reports+=("$file")
  else
    echo "collect: shard $i/$completions left no report (pod: ${pod:-none})" >&2
  fi
done
if ((${#reports[@]} == 0)); then
  echo "collect: no report to merge" >&2
  exit 1
fi
echo "collect: ${#reports[@]} of $completions reports in $dir" >&2
exec rtx bench merge "${reports[@]}" "$@"
