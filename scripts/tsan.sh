#!/usr/bin/env bash
# Builds the threaded tests with ThreadSanitizer and runs each binary five
# times, failing on the first report: the durable buffer's, the transport's
# (loopback, raw WebSocket, hostile peers, backpressure, TLS, cut and
# blackholed connections, SIGKILLed children, concurrent durable senders),
# the fault proxy's, the session core's and the generated stubs'. All of
# them synchronize through util::Mutex, util::CondVar and
# util::Notification (runtime/util/), std:: primitives or asio's own
# mutexes, which TSan sees; never through absl's, which Debian ships
# uninstrumented (TSan would see neither their locks nor their waits, and
# report false races).
#
# Every process writes its reports under $build/tsan-reports (log_path), so
# that a report from crash_test's children, whose output the test reads,
# fails the run too. scripts/tsan_suppressions.txt holds the false reports
# that uninstrumented libraries cause, each with why it is false.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${PARLEY_TSAN_BUILD_DIR:-$root/build-tsan}"
tests=(store/store_durable_store_test store/store_fault_test
  store/store_recovery_test store/store_log_test
  transport/loopback_test transport/ws_test transport/hostile_test
  transport/hostile_ws_test transport/backpressure_test transport/tls_test
  transport/fault_test transport/crash_test transport/durable_test
  util/fault_proxy_test
  session/session_test session/session_text_test session/simulation_test
  session/backoff_test codegen/codegen_generated_code_test)
repeats=5

"$root/scripts/install_deps.sh"
# -Wno-tsan: GCC warns that TSan ignores asio's atomic fences.
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug \
  -DPARLEY_BUILD_BENCH=OFF -DPARLEY_BUILD_SAMPLES=OFF \
  -DCMAKE_CXX_FLAGS="-fsanitize=thread -O1 -g -Wno-tsan" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" >/dev/null
cmake --build "$build" -j"$(nproc)" --target "${tests[@]##*/}"
reports="$build/tsan-reports"
rm -rf "$reports"
mkdir -p "$reports"
options="halt_on_error=1 log_path=$reports/report"
options+=" suppressions=$root/scripts/tsan_suppressions.txt"
for t in "${tests[@]}"; do
  echo "== $t x$repeats"
  status=0
  TSAN_OPTIONS="$options" "$build/tests/$t" --gtest_repeat="$repeats" \
    --gtest_brief=1 || status=$?
  if compgen -G "$reports/report.*" >/dev/null; then
    cat "$reports"/report.*
    echo "ThreadSanitizer reported on $t" >&2
    exit 1
  fi
  if [[ $status -ne 0 ]]; then
    echo "$t failed ($status)" >&2
    exit "$status"
  fi
done
echo "no ThreadSanitizer reports (${#tests[@]} binaries x$repeats)"
