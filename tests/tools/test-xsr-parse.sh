#!/bin/sh
# SPDX-License-Identifier: MIT
# Tests the xsr-parse command-line contract (DESIGN.md, "Command-line contracts").
#
#   test-xsr-parse.sh XSR_PARSE TOOLS_DIR [CASES_DIR]
#
# TOOLS_DIR holds golden cases: NAME.xml is the input, NAME.json the expected
# summary, NAME.events the expected --events output, NAME.args (optional) extra
# flags.  Each golden case runs at every chunk size below, through a file and
# through standard input, and must match byte for byte, with exit status 1 when
# the golden summary says "ok":false and 0 otherwise.  CASES_DIR (the parser's
# conformance inputs, *.xml) is checked for chunk invariance only: every chunk
# size must give the output and the status of the 65536-byte run.
# XSR_CLI_CASE_CHUNKS overrides the chunk sizes of that last part (sanitizer
# builds use fewer: each run is a process, and the parser's own chunk
# invariance on those inputs is tested in-process by test_parser).
set -u

bin=$1
tools=$2
cases=${3:-}
chunks="1 2 3 7 64 1460 65536"
case_chunks=${XSR_CLI_CASE_CHUNKS:-$chunks}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/xsr-parse-test.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
fails=0
checks=0

fail() {
  echo "FAIL: $*" >&2
  fails=$((fails + 1))
}

# expect_status WANT DESCRIPTION CMD... : runs CMD with stdout/stderr captured.
expect_status() {
  want=$1
  what=$2
  shift 2
  checks=$((checks + 1))
  "$@" >"$tmp/out" 2>"$tmp/err"
  got=$?
  [ "$got" -eq "$want" ] || fail "$what: exit $got, want $want (stderr: $(head -c 300 "$tmp/err"))"
  return 0
}

# Every line of $tmp/out is a JSON object (when jq is available).
check_json() {
  command -v jq >/dev/null 2>&1 || return 0
  jq -e 'type == "object"' <"$tmp/out" >/dev/null 2>&1 || fail "$1: output is not JSON objects"
}

# --- usage and I/O errors ---------------------------------------------------

expect_status 0 "--help" "$bin" --help
grep -q '^usage: xsr-parse' "$tmp/out" || fail "--help does not print usage on stdout"
expect_status 0 "-h" "$bin" -h
expect_status 2 "no arguments" "$bin"
[ -s "$tmp/err" ] || fail "no arguments: no message on stderr"
[ -s "$tmp/out" ] && fail "no arguments: wrote to stdout"
expect_status 2 "unknown flag" "$bin" --bogus "$tools/basic.xml"
expect_status 2 "two files" "$bin" "$tools/basic.xml" "$tools/basic.xml"
expect_status 2 "--chunk without value" "$bin" "$tools/basic.xml" --chunk
for bad in 0 -1 abc 12x "" 1073741825 99999999999999999999999; do
  expect_status 2 "--chunk '$bad'" "$bin" --chunk "$bad" "$tools/basic.xml"
done
expect_status 2 "--max-stanza 0" "$bin" --max-stanza 0 "$tools/basic.xml"
expect_status 2 "--max-stanza above the limit" "$bin" --max-stanza 1073741825 "$tools/basic.xml"
expect_status 2 "--max-depth 0" "$bin" --max-depth 0 "$tools/basic.xml"
expect_status 2 "--max-depth x" "$bin" --max-depth x "$tools/basic.xml"
expect_status 0 "--max-depth 65534" "$bin" --max-depth 65534 "$tools/basic.xml"
expect_status 2 "--max-depth 65535 (the parser's limit is 65534)" "$bin" --max-depth 65535 "$tools/basic.xml"
if [ -w /dev/full ]; then
  expect_status 1 "output to /dev/full" sh -c '"$0" "$1" >/dev/full' "$bin" "$tools/basic.xml"
fi
# --events stops at the first error: an endless input still gets its error.
if command -v timeout >/dev/null 2>&1; then
  expect_status 1 "--events on endless junk" timeout 20 "$bin" --events /dev/zero
  grep -q '"event":"error"' "$tmp/out" || fail "--events on endless junk: no error event"
fi
expect_status 0 "--chunk=N form" "$bin" --chunk=5 "$tools/basic.xml"
expect_status 0 "-- ends options" "$bin" -- "$tools/basic.xml"
expect_status 1 "missing file" "$bin" "$tmp/does-not-exist.xml"
grep -q 'does-not-exist.xml' "$tmp/err" || fail "missing file: stderr does not name the file"
[ -s "$tmp/out" ] && fail "missing file: wrote to stdout"
expect_status 1 "directory as input" "$bin" "$tmp"
grep -q 'xsr-parse:' "$tmp/err" || fail "directory as input: no message on stderr"

# --- golden cases at every chunk size ----------------------------------------

for xml in "$tools"/*.xml; do
  name=${xml%.xml}
  base=$(basename "$name")
  args=""
  [ -f "$name.args" ] && args=$(cat "$name.args")
  want=0
  grep -q '"ok":false' "$name.json" && want=1
  for c in $chunks; do
    # shellcheck disable=SC2086 # $args holds several words on purpose
    expect_status $want "$base --chunk $c" "$bin" --chunk "$c" $args "$xml"
    cmp -s "$tmp/out" "$name.json" || fail "$base --chunk $c: summary differs: $(cat "$tmp/out")"
    check_json "$base --chunk $c"
    # shellcheck disable=SC2086
    expect_status $want "$base --events --chunk $c" "$bin" --events --chunk "$c" $args "$xml"
    cmp -s "$tmp/out" "$name.events" || {
      fail "$base --events --chunk $c: events differ:"
      diff "$name.events" "$tmp/out" >&2
    }
    [ -s "$tmp/out" ] && check_json "$base --events --chunk $c"
  done
  # Standard input gives the same result as the file.
  # shellcheck disable=SC2086
  expect_status $want "$base from stdin" sh -c 'exec "$0" --chunk 3 $1 - <"$2"' "$bin" "$args" "$xml"
  cmp -s "$tmp/out" "$name.json" || fail "$base from stdin: summary differs: $(cat "$tmp/out")"
done

# --- conformance inputs: chunk invariance only ---------------------------------

if [ -n "$cases" ] && [ -d "$cases" ]; then
  for xml in "$cases"/*.xml; do
    [ -f "$xml" ] || continue
    base=$(basename "$xml")
    for mode in "" --events; do
      "$bin" $mode --chunk 65536 "$xml" >"$tmp/ref" 2>/dev/null
      ref=$?
      checks=$((checks + 1))
      [ "$ref" -le 1 ] || fail "$base $mode: exit $ref"
      for c in $case_chunks; do
        checks=$((checks + 1))
        "$bin" $mode --chunk "$c" "$xml" >"$tmp/out" 2>/dev/null
        got=$?
        [ "$got" -eq "$ref" ] || fail "$base $mode --chunk $c: exit $got, at 65536: $ref"
        cmp -s "$tmp/out" "$tmp/ref" || fail "$base $mode --chunk $c: output differs from --chunk 65536"
      done
    done
  done
fi

echo "xsr-parse: $checks checks, $fails failures"
[ "$fails" -eq 0 ]
