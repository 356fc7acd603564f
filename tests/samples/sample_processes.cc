#include "tests/samples/sample_processes.h"

#include <signal.h>

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace parley::testing {

absl::StatusOr<RunningServer> StartServer(
    const std::string& path, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {path};
  argv.insert(argv.end(), args.begin(), args.end());
  absl::StatusOr<std::unique_ptr<Subprocess>> process =
      Subprocess::Start(std::move(argv));
  if (!process.ok()) return process.status();
  absl::StatusOr<std::string> line =
      (*process)->WaitForLine("listening on ", kSampleTimeout);
  if (!line.ok()) return line.status();
  absl::string_view port_text = *line;
  uint32_t port = 0;
  if (!absl::ConsumePrefix(&port_text, "listening on ") ||
      !absl::SimpleAtoi(port_text, &port) || port == 0 || port > 65535) {
    return absl::InternalError(absl::StrCat("cannot read the port: ", *line));
  }
  return RunningServer{std::move(*process), static_cast<uint16_t>(port),
                       absl::StrCat("ws://127.0.0.1:", port, "/")};
}

::testing::AssertionResult Prints(Subprocess& process,
                                  const std::string& text) {
  absl::StatusOr<std::string> line = process.WaitForLine(text, kSampleTimeout);
  if (line.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << line.status();
}

absl::StatusOr<int> StopServer(RunningServer& server) {
  if (absl::Status signalled = server.process->Signal(SIGTERM);
      !signalled.ok()) {
    return signalled;
  }
  return server.process->Wait(kSampleTimeout);
}

}  // namespace parley::testing
