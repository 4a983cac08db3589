#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds xsr and runs every test:
#   0. clang-format check of every C/C++ source against .clang-format;
#   1. a normal build with warnings as errors, all Criterion suites via ctest
#      (conformance cases, differential test against expat, CLI contract,
#      fuzz corpus replay, xsr-bench --quick);
#   2. the same suites built with AddressSanitizer + UndefinedBehaviorSanitizer;
#   3. the threaded router tests built with ThreadSanitizer (ctest label tsan);
#   4. every libFuzzer harness for XSR_FUZZ_SECONDS seconds (default 60).
# Environment: JOBS (parallel build jobs), XSR_FUZZ_SECONDS (0 skips step 4),
# XSR_TEST_STAGES (default "format normal asan tsan fuzz").
set -euo pipefail
cd "$(dirname "$0")/.."

JOBS=${JOBS:-$(nproc)}
STAGES=${XSR_TEST_STAGES:-format normal asan tsan fuzz}
export CTEST_OUTPUT_ON_FAILURE=1

scripts/install-deps.sh

# Totals over every ctest run, for the closing summary line.
passed=0
summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
run_ctest() { # ctest args...
  ctest "$@" | tee "$summary"
  local n
  n=$(sed -n 's/.*tests passed, 0 tests failed out of \([0-9]*\).*/\1/p' "$summary" | tail -n 1)
  passed=$((passed + ${n:-0}))
}

configure_build() { # dir, cmake args...
  local dir=$1
  shift
  cmake -S . -B "$dir" -DXSR_WERROR=ON "$@" >"$dir.configure.log" 2>&1 || {
    cat "$dir.configure.log"
    return 1
  }
  cmake --build "$dir" -j "$JOBS"
}

for stage in $STAGES; do
  case $stage in
  format)
    echo "== clang-format check"
    git ls-files '*.c' '*.h' '*.cc' | xargs clang-format --dry-run --Werror
    ;;
  normal)
    echo "== normal build: all tests"
    configure_build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
    run_ctest --test-dir build -j "$JOBS"
    ;;
  asan)
    echo "== AddressSanitizer + UndefinedBehaviorSanitizer"
    configure_build build-asan -DCMAKE_BUILD_TYPE=Debug -DXSR_SANITIZE=address,undefined
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
      run_ctest --test-dir build-asan -j "$JOBS"
    ;;
  tsan)
    echo "== ThreadSanitizer (threaded tests)"
    configure_build build-tsan -DCMAKE_BUILD_TYPE=Debug -DXSR_SANITIZE=thread \
      -DXSR_BUILD_BENCH=OFF
    if ctest --test-dir build-tsan -N -L tsan | grep -q 'Total Tests: [1-9]'; then
      TSAN_OPTIONS=halt_on_error=1 run_ctest --test-dir build-tsan -j "$JOBS" -L tsan
    else
      echo "no threaded tests registered"
    fi
    ;;
  fuzz)
    if [ "${XSR_FUZZ_SECONDS:-60}" != 0 ] && [ -x scripts/fuzz-ci.sh ]; then
      echo "== libFuzzer harnesses, ${XSR_FUZZ_SECONDS:-60} s each"
      scripts/fuzz-ci.sh
    fi
    ;;
  *)
    echo "unknown stage $stage" >&2
    exit 2
    ;;
  esac
done
echo "== all test stages passed: $STAGES"
echo "tests: $passed passed, 0 failed"
