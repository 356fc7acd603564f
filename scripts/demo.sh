#!/usr/bin/env bash
# Installs what is missing, builds Parley and runs the echo demo:
# echo_server on a free loopback port, echo_client against it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${PARLEY_BUILD_DIR:-$root/build}"

"$root/scripts/install_deps.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DPARLEY_BUILD_TESTS=OFF -DPARLEY_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target echo_server echo_client

log="$(mktemp)"
"$build/samples/echo/echo_server" >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$log"' EXIT
port=""
for _ in $(seq 100); do  # the server prints its port once it listens
  port="$(sed -n 's/^listening on \([0-9]*\)$/\1/p' "$log")"
  [[ -n "$port" ]] && break
  kill -0 $server 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.1
done
[[ -n "$port" ]] || { echo "echo_server did not start"; cat "$log"; exit 1; }

echo "== echo_client -> ws://127.0.0.1:$port/"
status=0
"$build/samples/echo/echo_client" "ws://127.0.0.1:$port/" || status=$?
kill -TERM $server
wait $server || status=$?
echo "== echo_server's output"
cat "$log"
exit $status
