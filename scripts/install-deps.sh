#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs every Debian package xsr's build, tests, benchmarks and fuzzers need.
# Idempotent: packages already present are left alone. Run as root (or via sudo).
set -euo pipefail

packages=(
  build-essential cmake pkg-config git ca-certificates
  clang llvm libclang-rt-dev lld clang-format
  libcriterion-dev libyajl-dev liburcu-dev libuv1-dev
  libexpat1-dev libxml2-dev libpugixml-dev libbenchmark-dev
  libidn2-dev libutf8proc-dev libgsasl-dev libstrophe-dev
  afl++ valgrind python3 python3-slixmpp
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
