#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang in build-fuzz/ and runs each one for
# SECONDS seconds (default 30). Exits non-zero if any target crashes, leaks or traps; the
# input that did it is saved in build-fuzz/fuzz-artifacts/.
#
# Usage: scripts/fuzz.sh [SECONDS]      (JOBS=N to build in parallel; default 1)
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
names=(duration ece encoding framing mqtt mqtt_topic push_parse report sdp sse sse_format url ws)

cmake -S "$root" -B "$build" \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRTX_FUZZ=ON
cmake --build "$build" -j "${JOBS:-1}" --target "${names[@]/#/fuzz_}"

mkdir -p "$build/fuzz-artifacts"
failed=()
for name in "${names[@]}"; do
  corpus="$build/fuzz-corpus/$name"
  mkdir -p "$corpus"
  echo "== fuzz_$name: ${seconds}s"
  if ! "$build/tests/fuzz/fuzz_$name" \
      -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix="$build/fuzz-artifacts/$name-" \
      "$corpus" "$root/tests/fuzz/corpus/$name"; then
    failed+=("fuzz_$name")
  fi
done

if ((${#failed[@]} > 0)); then
  echo "fuzz.sh: FAILED: ${failed[*]} (inputs in $build/fuzz-artifacts/)" >&2
  exit 1
fi
echo "fuzz.sh: all ${#names[@]} targets ran ${seconds}s without a crash"
