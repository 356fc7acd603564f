#!/usr/bin/env bash
# A short scripted tour of Parley: installs what is missing, builds the
# samples it runs (Release, in $PARLEY_BUILD_DIR, default build/), then
# runs each step with a word on what it shows. Every program's output is
# shown, prefixed by who printed it. Exits 0 when every step did.
#
#   scripts/demo.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${PARLEY_BUILD_DIR:-$root/build}"

"$root/scripts/install_deps.sh"
echo "== building the samples in $build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DPARLEY_BUILD_SAMPLES=ON -DPARLEY_BUILD_TESTS=OFF \
  -DPARLEY_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target echo_server echo_client \
  >/dev/null

server_pid=""
server_log="$(mktemp)"
trap '[[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null; rm -f "$server_log"' EXIT

# Narration.
say() { printf '\n== %s\n' "$*"; }

# Prefixes each line of stdin with "  <who> | ".
label() { sed -u "s/^/  $1 | /"; }

# start_server <sample>: runs samples/<sample>/<sample>_server on a free
# port in the background; sets $port once it listens.
start_server() {
  : >"$server_log"
  "$build/samples/$1/$1_server" >"$server_log" 2>&1 &
  server_pid=$!
  port=""
  for _ in $(seq 100); do # it prints its port once it listens
    port="$(sed -n 's/^listening on \([0-9]*\)$/\1/p' "$server_log")"
    [[ -n "$port" ]] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "$1_server did not start:"
  cat "$server_log"
  exit 1
}

# stop_server <sample>: SIGTERM, then shows what the server printed.
stop_server() {
  local status=0
  kill -TERM "$server_pid"
  wait "$server_pid" || status=$?
  server_pid=""
  label "$1_server" <"$server_log"
  return $status
}

say "1. echo: typed calls both ways over one WebSocket"
cat <<'EOF'
echo_server hosts echo.Echo; echo_client hosts echo.Listener. The client
sends three lines twice each: Say (a message: it completes once the
server's handler has run, within its 5 s ack deadline) and Shout (a
request: the typed reply comes back). On every Shout the server calls the
client's own Listener.Notice before it answers.
EOF
start_server echo
echo "echo_server listening on $port; running echo_client ws://127.0.0.1:$port/"
"$build/samples/echo/echo_client" "ws://127.0.0.1:$port/" 2>&1 | label echo_client
stop_server echo

say "tour complete: every step exited 0"
