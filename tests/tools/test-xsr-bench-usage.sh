#!/bin/sh
# SPDX-License-Identifier: MIT
# xsr-bench's usage contract beyond --help: options that the chosen mode
# would ignore exit 2 with a message, as do unknown corpora for --once; an
# output path that cannot be written fails (exit 1) before anything is run.
# Usage: test-xsr-bench-usage.sh XSR_BENCH
bin=$1
fails=0
expect() { # STATUS WHAT CMD...
  want=$1
  what=$2
  shift 2
  "$@" >/dev/null 2>"$tmp_err"
  got=$?
  if [ "$got" -ne "$want" ]; then
    echo "FAIL: $what: exit $got, want $want" >&2
    fails=$((fails + 1))
  elif [ "$want" -ne 0 ] && [ ! -s "$tmp_err" ]; then
    echo "FAIL: $what: no message on stderr" >&2
    fails=$((fails + 1))
  fi
}
tmp_err=$(mktemp) || exit 1
trap 'rm -f "$tmp_err"' EXIT
expect 2 "--json with --once" "$bin" --quick --json /dev/null --once xsr --corpus chat
expect 2 "--plot with --dump-corpus" "$bin" --quick --plot /dev/null --dump-corpus chat
expect 2 "a suite with --once" "$bin" --quick --once xsr --corpus chat parser
expect 2 "--chunk without --once" "$bin" --quick --chunk 7 parser
expect 2 "--once with an unknown corpus" "$bin" --quick --once xsr --corpus no-such-corpus
grep -q "no-such-corpus" "$tmp_err" || { echo "FAIL: the message does not name the corpus" >&2; fails=$((fails + 1)); }
expect 2 "--once with an unknown subject" "$bin" --quick --once no-such-parser --corpus chat
expect 1 "--json into a missing directory" "$bin" --quick --json /nonexistent-dir/x.json parser
expect 0 "--once" "$bin" --quick --once xsr --corpus chat --chunk stanza
if [ "$fails" -ne 0 ]; then
  echo "test-xsr-bench-usage: $fails failure(s)" >&2
  exit 1
fi
echo "test-xsr-bench-usage: ok"
