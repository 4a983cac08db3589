#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs Prosody and ejabberd as peers for `xsr-bench e2e`, configured like
# xsr-router: loopback only, plaintext c2s (no TLS), no rate limits or
# shapers, 256 KiB stanzas, no offline storage, the same domain and the same
# accounts (PREFIX1..PREFIXN, one password), SCRAM credentials stored.
#
#   scripts/e2e-peers.sh start|stop|status prosody|ejabberd
#       [--users PREFIX] [--password P] [--count N] [--domain D] [--port P]
#
# start   installs the server from Debian when missing (apt-get, as root or
#         through sudo), writes its config and data into a private directory
#         ($XSR_E2E_PEERS_DIR, default build/e2e-peers/NAME), starts it in
#         the background as the current user (ejabberd: as its system user,
#         which ejabberdctl insists on), registers the accounts, waits until
#         it answers, and prints the --peer argument for xsr-bench.
# stop    sends SIGTERM to the PID recorded at start (then SIGKILL after
#         20 s); never by name.  The directory is kept (logs) until the
#         next start.
# status  says whether the recorded PID is alive.
#
# Defaults: --users load --password secret --count 10000 --domain xsr.test
# (what xsr-bench e2e uses); Prosody on 127.0.0.1:5322, ejabberd on
# 127.0.0.1:5422.  System files are not edited; /etc/default and the
# packages' own services are left alone (Debian starts neither here when
# policy-rc.d forbids it; elsewhere stop them or pick other ports).
# Rosters are not written: the presence pattern is not supported yet.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
usage() {
  sed -n '3,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' >&2
  exit 2
}
starting=
die() {
  echo "e2e-peers: $*" >&2
  if [ -n "$starting" ]; then # do not leave a half-started server behind
    starting=
    do_stop >&2 || true
  fi
  exit 1
}

[ $# -ge 2 ] || usage
cmd=$1
name=$2
shift 2
case $cmd in start | stop | status) ;; *) usage ;; esac
case $name in prosody | ejabberd) ;; *) usage ;; esac

prefix=load
password=secret
count=10000
domain=xsr.test
port=
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || usage
  case $1 in
  --users) prefix=$2 ;;
  --password) password=$2 ;;
  --count) count=$2 ;;
  --domain) domain=$2 ;;
  --port) port=$2 ;;
  *) usage ;;
  esac
  shift 2
done
[[ $prefix =~ ^[a-z0-9._-]+$ ]] || die "--users: lower-case letters, digits, '.', '_', '-'"
[[ $domain =~ ^[a-z0-9.-]+$ ]] || die "--domain: lower-case letters, digits, '.', '-'"
[[ $count =~ ^[1-9][0-9]{0,6}$ ]] || die "--count: a number from 1 to 9999999"
[[ $password =~ ^[A-Za-z0-9._-]+$ ]] || die "--password: letters, digits, '.', '_', '-'"
if [ -z "$port" ]; then
  if [ "$name" = prosody ]; then port=5322; else port=5422; fi
fi
if ! [[ $port =~ ^[1-9][0-9]{0,4}$ ]] || [ "$port" -gt 65535 ]; then die "--port: 1..65535"; fi

dir=${XSR_E2E_PEERS_DIR:-"$root/build/e2e-peers"}/$name
stamp="$prefix $count $domain $password $port"
pidfile=$dir/pid
SUDO=
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi

alive() { # PID: running and not a zombie
  [ -n "$1" ] && [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat"
}
recorded_pid() { if [ -s "$pidfile" ]; then cat "$pidfile"; fi; }

# Waits at most $2 seconds for a TCP listener on 127.0.0.1:$1.
wait_port() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

install_pkg() { # PACKAGE BINARY
  command -v "$2" >/dev/null 2>&1 && return 0
  echo "e2e-peers: installing $1" >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" >&2 ||
    {
      $SUDO apt-get update -qq >&2
      $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" >&2
    }
}

do_stop() {
  local pid
  pid=$(recorded_pid)
  if ! alive "$pid"; then
    echo "e2e-peers: $name is not running"
    rm -f "$pidfile"
    return 0
  fi
  $SUDO kill -TERM "$pid"
  for ((i = 0; i < 200; i++)); do
    alive "$pid" || break
    sleep 0.1
  done
  if alive "$pid"; then
    echo "e2e-peers: $name (pid $pid) did not stop in 20 s: SIGKILL" >&2
    $SUDO kill -KILL "$pid" || true
  fi
  # A leader thread that has exited shows as a zombie while the others
  # finish (beam.smp): wait, bounded, for the process to be gone.
  for ((i = 0; i < 100; i++)); do
    [ -e "/proc/$pid" ] || break
    sleep 0.1
  done
  # ejabberd's Erlang runtime started epmd if none ran: stop that one too.
  if [ -s "$dir/epmd.pid" ]; then
    local e
    e=$(cat "$dir/epmd.pid")
    if alive "$e" && [ "$(cat "/proc/$e/comm")" = epmd ]; then $SUDO kill -TERM "$e" || true; fi
    rm -f "$dir/epmd.pid"
  fi
  rm -f "$pidfile"
  echo "e2e-peers: $name (pid $pid) stopped"
}

start_prosody() {
  install_pkg prosody prosody
  local me cfg data host_dir
  me=$(id -un)
  cfg=$dir/prosody.cfg.lua
  data=$dir/data
  mkdir -p "$data" "$dir/certs"
  cat >"$cfg" <<EOF
-- Written by scripts/e2e-peers.sh: Prosody like xsr-router for xsr-bench e2e.
prosody_user = "$me"
run_as_root = true
certificates = "$dir/certs"
pidfile = "$dir/prosody.pid"
data_path = "$data"
log = { { levels = { min = "warn" }, to = "file", filename = "$dir/prosody.log" } }
network_backend = "epoll"
network_settings = { tcp_backlog = 4096 } -- xsr-router's listen backlog
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { $port }
c2s_interfaces = { "127.0.0.1" }
s2s_ports = { }
http_ports = { }
https_ports = { }
c2s_require_encryption = false
s2s_require_encryption = false
allow_unencrypted_plain_auth = true
c2s_stanza_size_limit = 262144
authentication = "internal_hashed"
storage = "internal"
-- No mod_limits (rate limits), no TLS, no offline storage, no s2s.
modules_enabled = { "roster", "saslauth", "disco", "ping", "posix" }
modules_disabled = { "offline", "s2s", "s2s_auth_certs", "tls" }
VirtualHost "$domain"
EOF
  # One account through prosodyctl, then the same file for every other
  # account: they share the password, so they share the credentials.
  prosodyctl --config "$cfg" register "${prefix}1" "$domain" "$password" >&2 ||
    die "prosodyctl register failed"
  host_dir=$data/$(printf '%s' "$domain" | sed 's/\./%2e/g; s/-/%2d/g')/accounts
  [ -s "$host_dir/${prefix}1.dat" ] || die "no account file in $host_dir"
  local account
  account=$(<"$host_dir/${prefix}1.dat")
  for ((i = 2; i <= count; i++)); do # shell builtins only: 10,000 files in a second
    printf '%s\n' "$account" >"$host_dir/${prefix}$i.dat"
  done
  nohup prosody --config "$cfg" -F >"$dir/stdout.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
}

start_ejabberd() {
  install_pkg ejabberd ejabberdctl
  local runas ctl epmd_before reuse=
  runas=ejabberd # ejabberdctl runs as root (then su) or as its own user only
  # The accounts of an earlier start are kept when they are the same ones:
  # importing 10,000 SCRAM accounts takes minutes.
  if [ -d "$dir.db" ] && [ "$(cat "$dir.db/stamp" 2>/dev/null)" = "$stamp" ]; then
    mv "$dir.db" "$dir/db"
    reuse=1
  fi
  rm -rf "$dir.db"
  mkdir -p "$dir/db" "$dir/log"
  cat >"$dir/ejabberd.yml" <<EOF
# Written by scripts/e2e-peers.sh: ejabberd like xsr-router for xsr-bench e2e.
hosts: ["$domain"]
loglevel: warning
log_rotate_count: 0
listen:
  - port: $port
    ip: "127.0.0.1"
    module: ejabberd_c2s
    max_stanza_size: 262144
    backlog: 4096
    shaper: none
    access: c2s
    starttls: false
    starttls_required: false
auth_method: internal
auth_password_format: scram
auth_scram_hash: sha256
cache_size: 20000
shaper_rules:
  c2s_shaper: none
  max_user_sessions: 10
acl:
  local:
    user_regexp: ""
access_rules:
  local:
    allow: local
  c2s:
    allow: all
  register:
    allow: all
api_permissions:
  "console commands":
    from: [ejabberd_ctl]
    who: all
    what: "*"
modules:
  mod_disco: {}
  mod_ping: {}
  mod_roster: {}
EOF
  : >"$dir/ejabberdctl.cfg"
  printf '%s\n' '{lookup,["file","native"]}.' '{host,{127,0,0,1}, ["localhost"]}.' \
    '{file, resolv, "/etc/resolv.conf"}.' >"$dir/inetrc"
  $SUDO chown -R "$runas" "$dir"
  ctl=(ejabberdctl --config-dir "$dir" --config "$dir/ejabberd.yml" --ctl-config
    "$dir/ejabberdctl.cfg" --spool "$dir/db" --logs "$dir/log" --node "xsrbench-$port@localhost")
  epmd_before=$(pgrep -x epmd || true)
  rm -f "$dir/ejabberd.pid"
  # As root, ejabberdctl would su to its user, and su's PAM session resets the
  # open-files limit to 1024 (Erlang sizes its tables at boot): drop to the
  # user here instead, with the limit raised first.
  ejctl() {
    # shellcheck disable=SC2016 # expanded by the inner shell
    $SUDO sh -c 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"' sh \
      setpriv --reuid="$runas" --regid="$runas" --init-groups \
      env HOME="$(getent passwd "$runas" | cut -d: -f6)" EJABBERD_PID_PATH="$dir/ejabberd.pid" \
      "${ctl[@]}" "$@"
  }
  ejctl start >&2
  for ((i = 0; i < 600; i++)); do
    [ -s "$dir/ejabberd.pid" ] && break
    sleep 0.1
  done
  [ -s "$dir/ejabberd.pid" ] || die "ejabberd wrote no pid file in 60 s (see $dir/log)"
  cp "$dir/ejabberd.pid" "$pidfile"
  if [ -z "$epmd_before" ]; then pgrep -x epmd >"$dir/epmd.pid" || true; fi
  ejctl started >&2 || die "ejabberd did not start (see $dir/log)"
  if [ -n "$reuse" ]; then
    echo "e2e-peers: kept the accounts of the last start ($stamp)" >&2
    return 0
  fi
  # Every account in one import (XEP-0227): one ejabberdctl call per
  # account costs about a second each.
  local pie=$dir/accounts.xml
  {
    echo "<?xml version='1.0' encoding='UTF-8'?>"
    echo "<server-data xmlns='urn:xmpp:pie:0'><host jid='$domain'>"
    for ((i = 1; i <= count; i++)); do
      echo "<user name='$prefix$i' password='$password'/>"
    done
    echo "</host></server-data>"
  } >"$pie"
  $SUDO chown "$runas" "$pie"
  ejctl --no-timeout import_piefxis "$pie" >&2 || die "ejabberdctl import_piefxis failed"
  echo "$stamp" >"$dir/db/stamp"
}

case $cmd in
status)
  pid=$(recorded_pid)
  if alive "$pid"; then
    echo "$name: running, pid $pid, $(cat "$dir/addr" 2>/dev/null)"
  else
    echo "$name: not running"
    exit 1
  fi
  ;;
stop) do_stop ;;
start)
  if alive "$(recorded_pid)"; then die "$name already runs (pid $(recorded_pid)): stop it first"; fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "127.0.0.1:$port is taken: pick another --port"
  fi
  [ -d "$dir/db" ] && { rm -rf "$dir.db"; mv "$dir/db" "$dir.db"; }
  rm -rf "$dir"
  mkdir -p "$dir"
  starting=1
  "start_$name"
  pid=$(recorded_pid)
  if ! wait_port "$port" 60 || ! alive "$pid"; then
    tail -n 40 "$dir"/*.log "$dir"/log/*.log 2>/dev/null >&2 || true
    do_stop >&2 || true
    die "$name did not come up on 127.0.0.1:$port"
  fi
  echo "127.0.0.1:$port" >"$dir/addr"
  echo "e2e-peers: $name listening on 127.0.0.1:$port, pid $pid, $count accounts" \
    "${prefix}1..${prefix}$count@$domain" >&2
  echo "--peer $name=127.0.0.1:$port,pid=$pid,domain=$domain,users=$prefix,password=$password"
  ;;
esac
