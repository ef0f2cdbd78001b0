#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine (as root) to a verdict:
#   1. installs what is missing (scripts/install-deps.sh --with-tests),
#   2. builds and runs every test (doctest unit tests + end-to-end tests on loopback),
#   3. builds again with AddressSanitizer + UndefinedBehaviorSanitizer and reruns them all,
#   4. runs each libFuzzer target briefly (RTX_FUZZ_SECONDS, default 10; 0 skips).
# RTX_SKIP_SANITIZERS=1 skips step 3 for a quick local loop.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh --with-tests
# The npm peers of the Web Push tests (web-push, web-push-testing), pinned by the lock file.
(cd tests/push && npm ci --no-audit --no-fund --loglevel=error)
# werift, the independent WebRTC peer of test_webrtc.py, pinned the same way.
(cd tests/webrtc && npm ci --no-audit --no-fund --loglevel=error)
export WERIFT_DIR="$PWD/tests/webrtc"
# install-deps put chromium here: a browser test that cannot find it fails instead of skipping.
export RTX_REQUIRE_BROWSER=1
# and coturn's turnserver (test_webrtc_ice.py) the same way.
export RTX_REQUIRE_TURN=1
jobs=$(nproc)
# End-to-end tests mostly wait on their peers, so ctest runs several at once (RTX_TEST_JOBS,
# default 4); the ones that load the whole machine are RUN_SERIAL in tests/e2e/CMakeLists.txt.
test_jobs=${RTX_TEST_JOBS:-4}
# ccache (installed with the test packages; CMake uses it when present) keyed on paths relative
# to this checkout, so a later run or another clone recompiles only what changed.
export CCACHE_BASEDIR="$PWD"
# ... and without the working directory in the hash: by default ccache hashes it into every
# compile that writes debug info (-g, both builds here), so a fresh clone at another path (CI)
# missed every object and rebuilt from nothing. Debug info then names the first path that
# compiled an object, which no test reads.
export CCACHE_NOHASHDIR=1

build() {
  local dir=$1
  shift
  cmake -S . -B "$dir" "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
}

echo "== build (RelWithDebInfo) and test"
build build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRTX_BUILD_TESTS=ON
ctest --test-dir build --output-on-failure -j "$test_jobs"

if [[ "${RTX_SKIP_SANITIZERS:-0}" != 1 ]]; then
  echo "== build with ASan+UBSan and test"
  build build-asan -DCMAKE_BUILD_TYPE=Debug -DRTX_SANITIZE=ON -DRTX_BUILD_TESTS=ON
  # cmake/lsan.supp: a third-party leak report (which, and why it is not ours).
  ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 \
    LSAN_OPTIONS=suppressions="$PWD/cmake/lsan.supp" UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j "$test_jobs"
fi

if [[ "${RTX_FUZZ_SECONDS:-10}" != 0 ]]; then
  echo "== fuzz each parser for ${RTX_FUZZ_SECONDS:-10} s"
  JOBS="$jobs" bash scripts/fuzz.sh "${RTX_FUZZ_SECONDS:-10}"
fi
echo "== all tests passed"
