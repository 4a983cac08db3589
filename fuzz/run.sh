#!/bin/sh
# SPDX-License-Identifier: MIT
# fuzz/run.sh [SECONDS]: runs every libFuzzer harness for SECONDS (default 60)
# one after another, growing a working corpus outside the repository, and
# stops with a non-zero status and the reproducer's path on the first crash,
# leak, timeout, out-of-memory or invariant failure.
#
# Environment:
#   XSR_FUZZ_BIN         the harnesses (default: build-fuzz/bin; scripts/fuzz-ci.sh builds them)
#   XSR_FUZZ_WORK        working corpora, logs, artifacts (default: ${TMPDIR:-/tmp}/xsr-fuzz)
#   XSR_FUZZERS          names to run, e.g. "parser_feed jid" (default: all found)
#   XSR_FUZZ_TIMEOUT     seconds one input may take (default 10)
#   XSR_FUZZ_MAX_LEN     longest input libFuzzer generates (default 8192)
#   XSR_FUZZ_KEEP_GOING  1: record crashes and go on (libFuzzer -fork=1 -ignore_crashes=1),
#                        then list them all and exit 1; for long evidence runs
#
# Each harness starts from its working corpus plus the committed seeds
# (fuzz/corpus/<name>); what it finds goes into the working corpus, which is
# then minimised with -merge=1.  The last line prints, per harness, the
# executions and the edge coverage ("cov:") libFuzzer reported; the same
# table is kept in $XSR_FUZZ_WORK/stats.tsv.
set -u

secs=${1:-60}
case $secs in '' | *[!0-9]*) echo "usage: fuzz/run.sh [SECONDS]" >&2; exit 2 ;; esac
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${XSR_FUZZ_BIN:-$root/build-fuzz/bin}
work=${XSR_FUZZ_WORK:-${TMPDIR:-/tmp}/xsr-fuzz}
stamp=$(date +%Y%m%d-%H%M%S)
arts=$work/artifacts/$stamp
logs=$work/logs/$stamp
mkdir -p "$work/corpus" "$arts" "$logs" || exit 1
stats=$work/stats.tsv

found=0
for b in "$bin"/*_fuzzer; do [ -x "$b" ] && found=1; done
if [ $found -eq 0 ]; then
  echo "fuzz/run.sh: no harnesses in $bin (build them with scripts/fuzz-ci.sh --build-only)" >&2
  exit 2
fi

printf 'fuzzer\tseconds\texecs\tcov\tft\tcorpus\tstatus\n' >"$stats"
failed=0
for b in "$bin"/*_fuzzer; do
  [ -x "$b" ] || continue
  name=$(basename "$b" _fuzzer)
  if [ -n "${XSR_FUZZERS:-}" ]; then
    case " $XSR_FUZZERS " in *" $name "*) ;; *) continue ;; esac
  fi
  corpus=$work/corpus/$name
  seeds=$root/fuzz/corpus/$name
  log=$logs/$name.log
  mkdir -p "$corpus"
  [ -d "$seeds" ] || seeds=
  set -- -max_total_time="$secs" -timeout="${XSR_FUZZ_TIMEOUT:-10}" -rss_limit_mb=2048 \
    -max_len="${XSR_FUZZ_MAX_LEN:-8192}" -dict="$root/fuzz/xsr.dict" -print_final_stats=1 \
    -artifact_prefix="$arts/$name-"
  if [ "${XSR_FUZZ_KEEP_GOING:-0}" = 1 ]; then
    set -- "$@" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1
  fi
  echo "== $name: ${secs}s, corpus $corpus, log $log"
  "$b" "$@" "$corpus" $seeds >"$log" 2>&1
  rc=$?

  # The last status line: "#EXECS ... cov: N ft: N corp: N/..." (both modes).
  last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1)
  execs=$(printf '%s' "$last" | sed -n 's/^#\([0-9]*\).*/\1/p')
  cov=$(printf '%s' "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
  ft=$(printf '%s' "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
  units=$(ls "$corpus" | wc -l | tr -d ' ')
  bad=$(ls "$arts" 2>/dev/null | grep "^$name-" || true)
  status=ok
  if [ $rc -ne 0 ] || [ -n "$bad" ]; then
    status=FAILED
    failed=1
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$secs" "${execs:-?}" "${cov:-?}" "${ft:-?}" \
    "$units" "$status" >>"$stats"
  if [ $status = FAILED ]; then
    grep -E 'invariant failed|ERROR: |SUMMARY: ' "$log" | head -n 5 >&2
    for a in $bad; do echo "reproducer: $arts/$a" >&2; done
    [ -n "$bad" ] || echo "$name exited with status $rc; see $log" >&2
    echo "replay: $b $arts/<reproducer>" >&2
    if [ "${XSR_FUZZ_KEEP_GOING:-0}" != 1 ]; then
      column -t -s "$(printf '\t')" "$stats" 2>/dev/null || cat "$stats"
      exit 1
    fi
  else
    # Keep the working corpus minimal: only inputs that add coverage.
    rm -rf "$corpus.merge"
    mkdir -p "$corpus.merge"
    if "$b" -merge=1 -timeout="${XSR_FUZZ_TIMEOUT:-10}" "$corpus.merge" "$corpus" \
      >"$logs/$name.merge.log" 2>&1; then
      rm -rf "$corpus"
      mv "$corpus.merge" "$corpus"
    else
      rm -rf "$corpus.merge"
    fi
  fi
done
column -t -s "$(printf '\t')" "$stats" 2>/dev/null || cat "$stats"
exit $failed
