#!/usr/bin/env bash
# Installs what is missing (incl. gRPC), builds the benchmarks in Release and
# runs every scenario of docs/PERFORMANCE.md: parley_bench (scenarios 1-4,
# Parley side by side with raw websocketpp and gRPC, medians of --runs
# interleaved runs), its latency scenario again with both ends pinned to
# one core, then store_bench (scenario 5).
#
#   scripts/bench.sh [--runs=5] [--only=oneway,acked,durable,latency,idle]
#
# PARLEY_BENCH_BUILD_DIR picks the build directory (default build-bench).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${PARLEY_BENCH_BUILD_DIR:-$root/build-bench}"

"$root/scripts/install_deps.sh" libgrpc++-dev protobuf-compiler-grpc
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DPARLEY_BUILD_TESTS=OFF -DPARLEY_BUILD_SAMPLES=OFF \
  -DPARLEY_BUILD_BENCH=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target parley_bench store_bench

echo "== machine"
lscpu | grep -E '^(Model name|CPU\(s\)|Thread|Core)' || true
uptime
echo "== parley_bench $*"
"$build/bench/parley_bench" "$@"
if [[ " $* " != *"--only="* || " $* " == *latency* ]]; then
  echo "== parley_bench latency, pinned to one core (taskset -c 0)"
  taskset -c 0 "$build/bench/parley_bench" --only=latency \
    $(printf '%s\n' "$@" | grep -- '^--runs=' || true)
fi
echo "== store_bench (scenario 5)"
"$build/bench/store_bench" "$build/store_bench_data"  # removed afterwards
