#!/bin/sh
# SPDX-License-Identifier: MIT
# tools/load/make-users.sh: writes an xsr-router users file with accounts
# PREFIX1@DOMAIN .. PREFIXK@DOMAIN, all with password PASSWORD, for xsr-load.
#
#   make-users.sh XSR_ROUTER FILE DOMAIN K [PREFIX [PASSWORD]]
#
# One account is made with `xsr-router --add-user` (two PBKDF2 runs); the
# others get a copy of its credentials (the same salt), so a file of 10,000
# accounts takes a moment, and xsr-load, which caches the SCRAM salted
# password per salt, logs them in with one PBKDF2 per thread.  Sharing a
# salt is fine for a benchmark and nowhere else.  Installed as
# xsr-load-users.
set -eu
if [ $# -lt 4 ]; then
  echo "usage: make-users.sh XSR_ROUTER FILE DOMAIN K [PREFIX [PASSWORD]]" >&2
  exit 2
fi
router=$1 file=$2 domain=$3 k=$4 prefix=${5:-load} password=${6:-secret}
case $k in '' | *[!0-9]*) echo "make-users.sh: K must be a positive integer" >&2; exit 2 ;; esac
[ "$k" -ge 1 ] || { echo "make-users.sh: K must be at least 1" >&2; exit 2; }
tmp=$file.one.$$
trap 'rm -f "$tmp" "$file.tmp.$$"' EXIT
rm -f "$tmp"
printf '%s\n' "$password" | "$router" --users "$tmp" --add-user "${prefix}1@$domain" 2>/dev/null
# The one account's credentials: the lines between its key and the closing
# brace at the same indentation (xsr-router writes the file pretty-printed).
awk -v k="$k" -v prefix="$prefix" -v domain="$domain" '
  /^    "[^"]*": \{$/ { grab = 1; next }
  grab && /^    \}/ { grab = 0; next }
  grab { body = body $0 "\n" }
  END {
    if (body == "") { print "make-users.sh: unexpected users file format" > "/dev/stderr"; exit 1 }
    printf "{\n  \"version\": 1,\n  \"domain\": \"%s\",\n  \"users\": {\n", domain
    for (i = 1; i <= k; i++) {
      printf "    \"%s%d\": {\n%s    }%s\n", prefix, i, body, i < k ? "," : ""
    }
    printf "  }\n}\n"
  }' "$tmp" >"$file.tmp.$$"
mv "$file.tmp.$$" "$file"
