#!/bin/sh
# SPDX-License-Identifier: MIT
# fuzz/build.sh: OSS-Fuzz style build of every harness, in one line:
#
#   CC=clang CFLAGS="-fsanitize=address,fuzzer-no-link" \
#     LIB_FUZZING_ENGINE=-fsanitize=fuzzer OUT=/tmp/out fuzz/build.sh
#
# Honours $CC, $CXX, $CFLAGS, $CXXFLAGS, $LIB_FUZZING_ENGINE (link flags or
# an engine archive), $OUT (where the harnesses go), and $WORK (scratch;
# default: a build-oss-fuzz folder beside the sources).  Writes to $OUT:
# <name>_fuzzer, <name>_fuzzer.dict and <name>_fuzzer_seed_corpus.zip.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
: "${OUT:?set OUT to the output directory}"
work=${WORK:-$root/build-oss-fuzz}/xsr
mkdir -p "$OUT" "$work"

# CMAKE_BUILD_TYPE=None: the flags are exactly $CFLAGS, as OSS-Fuzz expects.
cmake -S "$root" -B "$work" -DCMAKE_BUILD_TYPE=None \
  -DCMAKE_C_COMPILER="${CC:-clang}" -DCMAKE_CXX_COMPILER="${CXX:-clang++}" \
  -DCMAKE_C_FLAGS="${CFLAGS:-}" -DCMAKE_CXX_FLAGS="${CXXFLAGS:-}" \
  -DXSR_BUILD_FUZZ=ON -DXSR_FUZZ_ENGINE=external \
  -DXSR_FUZZ_LDFLAGS="${LIB_FUZZING_ENGINE:--fsanitize=fuzzer}" \
  -DXSR_BUILD_TESTS=OFF -DXSR_BUILD_TOOLS=OFF -DXSR_BUILD_BENCH=OFF
cmake --build "$work" --target xsr_fuzzers -j "$(nproc 2>/dev/null || echo 2)"

for b in "$work"/bin/*_fuzzer; do
  name=$(basename "$b")
  cp "$b" "$OUT/$name"
  cp "$root/fuzz/xsr.dict" "$OUT/$name.dict"
  seeds=$root/fuzz/corpus/${name%_fuzzer}
  if [ -d "$seeds" ] && command -v zip >/dev/null 2>&1; then
    rm -f "$OUT/${name}_seed_corpus.zip"
    (cd "$seeds" && zip -q -j "$OUT/${name}_seed_corpus.zip" ./*)
  fi
done
echo "fuzz/build.sh: harnesses in $OUT"
