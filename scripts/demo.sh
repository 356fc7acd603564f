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
  events_server events_client >/dev/null

server_pid=""
client_pid=""
server_log="$(mktemp)"
work="$(mktemp -d)" # the events step's journal, buffer and client log
cleanup() {
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null
  [[ -n "$client_pid" ]] && kill "$client_pid" 2>/dev/null
  rm -rf "$server_log" "$work"
}
trap cleanup EXIT

# Narration.
say() { printf '\n== %s\n' "$*"; }

# Prefixes each line of stdin with "  <who> | ".
label() { sed -u "s/^/  $1 | /"; }

# await <file> <text>: waits (up to 60 s) until a line of <file> contains
# <text>.
await() {
  for _ in $(seq 600); do
    grep -qF -- "$2" "$1" && return 0
    sleep 0.1
  done
  echo "gave up waiting for \"$2\" in:"
  cat "$1"
  exit 1
}

# start_server <sample> [args...]: runs samples/<sample>/<sample>_server
# with args (default: none, a free port) in the background; sets $port
# once it listens.
start_server() {
  local sample="$1"
  shift
  : >"$server_log"
  "$build/samples/$sample/${sample}_server" "$@" >"$server_log" 2>&1 3>&- &
  server_pid=$!
  port=""
  for _ in $(seq 100); do # it prints its port once it listens
    port="$(sed -n 's/^listening on \([0-9]*\)$/\1/p' "$server_log")"
    [[ -n "$port" ]] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "${sample}_server did not start:"
  cat "$server_log"
  exit 1
}

# stop_server <sample> [signal]: sends the signal (default TERM), then
# shows what the server printed. Returns its exit status, but for a KILL.
stop_server() {
  local signal="${2:-TERM}" status=0
  kill "-$signal" "$server_pid"
  { wait "$server_pid"; } 2>/dev/null || status=$? # no "Killed" notice
  server_pid=""
  label "$1_server" <"$server_log"
  [[ "$signal" == KILL ]] || return $status
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

say "2. events: a durable buffer through a server restart"
cat <<'EOF'
events_client sends numbered readings (events.Journal.Record), one every
100 ms, through a durable buffer, and prints every event of its session;
events_server appends each number to a journal file before it acks it and
prints its own events. We kill the server (kill -9, a crash) while the
client keeps sending, then start a new server on the same port and
journal.
EOF
start_server events "$work/journal"
echo "events_server listening on $port; starting events_client"
client_log="$work/client.log"
mkfifo "$work/client_input"
"$build/samples/events/events_client" "ws://127.0.0.1:$port/" \
  "$work/buffer" <"$work/client_input" >"$client_log" 2>&1 &
client_pid=$!
exec 3>"$work/client_input" # the client sends until this closes
await "$server_log" "recorded #5"
stop_server events KILL
say "events_server killed; the client keeps sending (its output follows when it ends)"
await "$client_log" "event: Disconnected"
await "$client_log" "(server away: kept in the durable buffer)"
sleep 1 # a second without a server: readings pile up in the buffer
say "a new events_server on port $port, same journal"
cat <<'EOF'
It has no session for the client: the client gets a new session and sends
every reading not yet acked again (at least once). Readings the dead
server had recorded but not acked come again: the journal says so, and
the server acks them without recording them twice.
EOF
start_server events "$work/journal" "$port"
await "$client_log" "event: NewSession"
sent="$(grep -c '^sent #' "$client_log")"
await "$server_log" "recorded #$((sent + 3))"
exec 3>&- # end of the client's input: it waits for its last acks
client_status=0
wait "$client_pid" || client_status=$?
client_pid=""
label events_client <"$client_log"
stop_server events
[[ $client_status -eq 0 ]]

say "the journal: every reading once"
total="$(wc -l <"$work/journal")"
if [[ "$(seq "$total")" == "$(cat "$work/journal")" ]] &&
  grep -qx "events_client: $total sent, $total acked by the server" \
    "$client_log"; then
  echo "the client sent $total readings; the journal holds #1..#$total, each once"
else
  echo "the journal does not hold each of the client's readings once:"
  cat "$work/journal"
  exit 1
fi

say "tour complete: every step exited 0"
