#!/bin/sh
# SPDX-License-Identifier: MIT
# The main job: installs what is needed, builds xsr in Release mode into
# build/ and runs the benchmark suite on its built-in corpora.
#   scripts/run-bench.sh                    full run (a few minutes), all suites
#   scripts/run-bench.sh --quick parser     arguments go to xsr-bench
# Environment: BUILD_DIR (default build), JOBS (default: all CPUs),
# XSR_SKIP_DEPS=1 skips the package check.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-"$root/build"}
jobs=${JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}

if [ "${XSR_SKIP_DEPS:-0}" != 1 ]; then
  "$root/scripts/install-deps.sh" >&2
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DXSR_BUILD_BENCH=ON >"$log" 2>&1 ||
  ! cmake --build "$build" -j "$jobs" --target xsr-bench >>"$log" 2>&1; then
  cat "$log" >&2
  echo "run-bench: build failed" >&2
  exit 1
fi
"$build/bin/xsr-bench" "$@"
