#!/bin/sh
# Builds xsr in Release mode into build/ and runs the benchmark suite.
#   scripts/run-bench.sh                    full run (a few minutes), all suites
#   scripts/run-bench.sh --quick parser     arguments go to xsr-bench
# Environment: BUILD_DIR (default build), JOBS (default: all CPUs).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-"$root/build"}
jobs=${JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DXSR_BUILD_BENCH=ON >/dev/null
cmake --build "$build" -j "$jobs" --target xsr-bench >/dev/null
exec "$build/bin/xsr-bench" "$@"
