#!/usr/bin/env bash
# Builds the durable buffer's tests with ThreadSanitizer and runs them
# (five repeats each), failing on the first report. Only the store: the
# transport still synchronizes through absl::Mutex and absl::Notification,
# which Debian's uninstrumented abseil hides from TSan (false reports).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${PARLEY_TSAN_BUILD_DIR:-$root/build-tsan}"
tests=(store_durable_store_test store_fault_test store_recovery_test
  store_log_test)

"$root/scripts/install_deps.sh"
# -Wno-tsan: GCC warns that TSan ignores asio's atomic fences.
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug \
  -DPARLEY_BUILD_BENCH=OFF -DPARLEY_BUILD_SAMPLES=OFF \
  -DCMAKE_CXX_FLAGS="-fsanitize=thread -O1 -g -Wno-tsan" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" >/dev/null
cmake --build "$build" -j"$(nproc)" --target "${tests[@]}"
for t in "${tests[@]}"; do
  TSAN_OPTIONS="halt_on_error=1" "$build/tests/store/$t" --gtest_repeat=5 \
    --gtest_brief=1
done
