#!/usr/bin/env bash
# Installs what is missing, builds Parley with AddressSanitizer and
# UndefinedBehaviorSanitizer, and runs every test.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${PARLEY_TEST_BUILD_DIR:-$root/build-test}"

"$root/scripts/install_deps.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DPARLEY_SANITIZE=ON \
  -DPARLEY_BUILD_BENCH=OFF \
  >/dev/null
cmake --build "$build" -j"$(nproc)"
ctest --test-dir "$build" --output-on-failure -j"$(nproc)"
