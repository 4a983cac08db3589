#!/bin/sh
# SPDX-License-Identifier: MIT
# Instructions per byte of xsr, expat and libxml2 under callgrind: stable on
# noisy machines where wall-clock figures are not.
#   scripts/bench-callgrind.sh [CORPUS]        (default: chat)
# For each parser, counts the instructions of one parse of the corpus (the
# --quick size, 256 KiB) at 64 KiB, 1460-byte and 1-byte chunks and in one
# read per stanza (as a server reads a client that sends each stanza when it
# has it), and prints instructions per byte and the 1-byte/64K ratio (1.0
# would mean chunking costs nothing; a parser that rescans grows with the
# token size).  Then
# checks xsr's cost per byte at 1-byte chunks for 1 KiB stanzas (a 1 MiB
# stream of them) and for one 1 MiB stanza: equal costs show that nothing
# is rescanned however long the stanza held across chunks grows.
# Only xsr_bench_parse_once() is counted (--toggle-collect), so corpus
# generation and setup are excluded.
# Environment: BUILD_DIR (default build), BENCH (the xsr-bench binary).
set -eu

case ${1:-} in
-h | --help)
  sed -n '2,/^set -eu/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
  exit 0
  ;;
esac
if [ $# -gt 1 ]; then
  echo "usage: scripts/bench-callgrind.sh [CORPUS]" >&2
  exit 2
fi
corpus=${1:-chat}
case $corpus in
chat | iq | large | adversarial) ;;
*)
  echo "bench-callgrind: unknown corpus '$corpus' (chat, iq, large, adversarial)" >&2
  echo "usage: scripts/bench-callgrind.sh [CORPUS]" >&2
  exit 2
  ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-"$root/build"}
bench=${BENCH:-"$build/bin/xsr-bench"}

command -v valgrind >/dev/null || { echo "bench-callgrind: valgrind is not installed" >&2; exit 1; }
if [ ! -x "$bench" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DXSR_BUILD_BENCH=ON >/dev/null
  cmake --build "$build" --target xsr-bench >/dev/null
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# count SUBJECT CORPUS CHUNK -> prints "INSTRUCTIONS BYTES"
count() {
  out=$(valgrind --tool=callgrind --collect-atstart=no --toggle-collect=xsr_bench_parse_once \
          --callgrind-out-file="$tmp/cg.out" \
          "$bench" --quick --once "$1" --corpus "$2" --chunk "$3" 2>"$tmp/vg.err") || {
    echo "bench-callgrind: $1 on $2 at $3-byte chunks failed:" >&2
    cat "$tmp/vg.err" >&2
    exit 1
  }
  bytes=$(printf '%s\n' "$out" | sed -n 's/.* bytes=\([0-9]*\).*/\1/p')
  ir=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$tmp/cg.out")
  [ -n "$ir" ] || ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$tmp/cg.out")
  echo "$ir $bytes"
}

per_byte() { echo "$1" | awk '{ printf "%.2f", $1 / $2 }'; }

echo "instructions per byte (callgrind), corpus $corpus, --quick size"
printf '%-10s %12s %12s %12s %12s %12s\n' parser "64K chunks" "1460 chunks" "per stanza" "1-byte" \
  "1B / 64K"
for subject in xsr expat libxml2; do
  big=$(count "$subject" "$corpus" 65536)
  seg=$(count "$subject" "$corpus" 1460)
  sta=$(count "$subject" "$corpus" stanza)
  one=$(count "$subject" "$corpus" 1)
  b=$(per_byte "$big"); s=$(per_byte "$seg"); t=$(per_byte "$sta"); o=$(per_byte "$one")
  r=$(echo "$o $b" | awk '{ printf "%.2f", $1 / $2 }')
  printf '%-10s %12s %12s %12s %12s %12s\n' "$subject" "$b" "$s" "$t" "$o" "$r"
done
echo "corpus bytes: $(echo "$big" | cut -d' ' -f2)"

echo
echo "xsr, 1-byte chunks: cost per byte of 1 KiB stanzas (1 MiB of them) and of one 1 MiB stanza"
k=$(per_byte "$(count xsr stanza1k 1)")
m=$(per_byte "$(count xsr stanza1m 1)")
echo "$k $m" | awk '{ printf "stanza1k %.2f  stanza1m %.2f  instructions/byte, 1M/1K %.3f\n", $1, $2, $2 / $1 }'
