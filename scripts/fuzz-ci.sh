#!/bin/sh
# SPDX-License-Identifier: MIT
# scripts/fuzz-ci.sh [--build-only]: the CI fuzzing step.
#
# Builds the libFuzzer harnesses with clang (ASan + UBSan) in build-fuzz/,
# replays the committed corpora and regression inputs, then runs every
# harness for ${XSR_FUZZ_SECONDS:-60} seconds through fuzz/run.sh.  Any
# crash, leak, timeout or invariant failure fails the step and prints the
# reproducer's path.  Only the harnesses and the library objects are built.
#
# Environment: XSR_FUZZ_SECONDS (per harness, default 60), XSR_FUZZ_BUILD_DIR
# (default build-fuzz), XSR_FUZZ_CC / XSR_FUZZ_CXX (default clang, clang++),
# XSR_JOBS (build parallelism, default 2), and fuzz/run.sh's variables.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${XSR_FUZZ_BUILD_DIR:-$root/build-fuzz}
cc=${XSR_FUZZ_CC:-clang}
cxx=${XSR_FUZZ_CXX:-clang++}

command -v "$cc" >/dev/null 2>&1 || { echo "fuzz-ci: $cc not found (libFuzzer needs clang)" >&2; exit 1; }

cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DXSR_BUILD_FUZZ=ON -DXSR_FUZZ_ENGINE=libfuzzer \
  -DXSR_BUILD_TESTS=OFF -DXSR_BUILD_TOOLS=OFF -DXSR_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" --target xsr_fuzzers -j "${XSR_JOBS:-2}"
[ "${1:-}" = "--build-only" ] && exit 0

# The committed inputs first: fast, and a failure here names a known case.
for b in "$build"/bin/*_fuzzer; do
  name=$(basename "$b" _fuzzer)
  set --
  for d in "$root/fuzz/corpus/$name" "$root/fuzz/regressions/$name"; do
    [ -d "$d" ] && set -- "$@" "$d"
  done
  [ $# -gt 0 ] || continue
  if ! "$b" -runs=0 "$@" >"$build/replay-$name.log" 2>&1; then
    grep -E 'invariant failed|ERROR: |SUMMARY: |Running: ' "$build/replay-$name.log" | tail -n 6 >&2
    echo "fuzz-ci: $name fails on a committed input; log: $build/replay-$name.log" >&2
    exit 1
  fi
done

XSR_FUZZ_BIN=$build/bin exec "$root/fuzz/run.sh" "${XSR_FUZZ_SECONDS:-60}"
