#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang in build-fuzz/ and runs each one for
# SECONDS seconds (default 30). Exits non-zero if any target crashes, leaks or traps; the
# input that did it is saved in build-fuzz/fuzz-artifacts/.
#
# Usage: scripts/fuzz.sh [SECONDS]      (JOBS=N to build and fuzz N at a time; default 1)
# New inputs found while fuzzing go to build-fuzz/fuzz-corpus/<name>/; the checked-in seeds in
# tests/fuzz/corpus/<name>/ are only read.
set -euo pipefail

seconds="${1:-30}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || ((seconds == 0)); then
  echo "fuzz.sh: SECONDS must be a positive whole number, got '$seconds'" >&2
  exit 2
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-fuzz"
names=(dcep duration ece encoding fault feed framing mqtt mqtt_topic push_parse report sdp sse sse_format url ws)

cmake -S "$root" -B "$build" \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRTX_FUZZ=ON
cmake --build "$build" -j "${JOBS:-1}" --target "${names[@]/#/fuzz_}"

mkdir -p "$build/fuzz-artifacts" "$build/fuzz-logs"
# JOBS targets fuzz at once (each libFuzzer run is one process on one core); each one's output
# goes to build-fuzz/fuzz-logs/<name>.log and is printed when it ends, so logs do not interleave.
fuzz_one() {
  local name=$1 corpus="$build/fuzz-corpus/$1"
  mkdir -p "$corpus"
  "$build/tests/fuzz/fuzz_$name" \
    -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="$build/fuzz-artifacts/$name-" \
    "$corpus" "$root/tests/fuzz/corpus/$name" >"$build/fuzz-logs/$name.log" 2>&1
}
declare -A running=() # pid -> target name
failed=()
reap_one() {
  local pid status=0
  wait -n -p pid "${!running[@]}" || status=$?
  echo "== fuzz_${running[$pid]}: ${seconds}s, exit $status"
  if ((status != 0)); then
    tail -n 40 "$build/fuzz-logs/${running[$pid]}.log"
    failed+=("fuzz_${running[$pid]}")
  fi
  unset "running[$pid]"
}
for name in "${names[@]}"; do
  while ((${#running[@]} >= ${JOBS:-1})); do reap_one; done
  fuzz_one "$name" &
  running[$!]=$name
done
while ((${#running[@]} > 0)); do reap_one; done

if ((${#failed[@]} > 0)); then
  echo "fuzz.sh: FAILED: ${failed[*]} (inputs in $build/fuzz-artifacts/)" >&2
  exit 1
fi
echo "fuzz.sh: all ${#names[@]} targets ran ${seconds}s without a crash"
