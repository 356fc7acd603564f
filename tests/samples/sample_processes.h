// Runs the sample programs as a user does, for the samples' integration
// tests: a server on a free port, clients dialling it.
//
//   absl::StatusOr<RunningServer> server = StartServer(CHAT_SERVER);
//   auto client = Subprocess::Start({CHAT_CLIENT, server->url, "alice"});
//
// Thread safety: as Subprocess.
#ifndef PARLEY_TESTS_SAMPLES_SAMPLE_PROCESSES_H_
#define PARLEY_TESTS_SAMPLES_SAMPLE_PROCESSES_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/util/subprocess.h"

namespace parley::testing {

// How long a test waits for any one thing a sample prints (generous: the
// tests run under sanitizers on shared machines).
inline constexpr absl::Duration kSampleTimeout = absl::Seconds(60);

struct RunningServer {
  std::unique_ptr<Subprocess> process;
  uint16_t port = 0;
  // "ws://127.0.0.1:<port>/"
  std::string url;
};

// Starts the server program at `path` with `args` (by default on port 0)
// and returns once it printed "listening on <port>".
absl::StatusOr<RunningServer> StartServer(
    const std::string& path, const std::vector<std::string>& args = {});

// Succeeds once `process` printed a line containing `text`.
::testing::AssertionResult Prints(Subprocess& process, const std::string& text);

// Stops a server with SIGTERM and returns its exit code.
absl::StatusOr<int> StopServer(RunningServer& server);

}  // namespace parley::testing

#endif  // PARLEY_TESTS_SAMPLES_SAMPLE_PROCESSES_H_
