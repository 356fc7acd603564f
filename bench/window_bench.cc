// Throughput as a function of the receive window W (issue #4).
//
//   window_bench [--n=200000] [--runs=3] [--payload=64] [--window=W]
//
// One server and one client on loopback. The server's handler finishes
// each one-way message at once and its receive window is W; the client
// sends n messages of `payload` bytes as fast as the window and its send
// buffer allow (kQueue policy; a refused call waits for a completion).
// Each figure is the median of `runs` runs: messages/s from the first send
// to the last completion, and how often the producer saw
// kBackpressureWait. --window measures one window instead of the sweep.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "bench/flags.h"
#include "calc.parley.h"
#include "parley/client.h"
#include "parley/server.h"
#include "tests/util/exactly_once.h"

namespace parley {
namespace {

using test::Num;

struct Flags {
  int64_t n = 200000;
  int64_t runs = 3;
  int64_t payload = 64;
  int64_t window = 0;  // 0: the sweep
};

bool ParseFlags(int argc, char** argv, Flags* flags) {
  return bench::ParseIntFlags(argc, argv,
                              {{"n", &flags->n},
                               {"runs", &flags->runs},
                               {"payload", &flags->payload},
                               {"window", &flags->window}}) &&
         flags->n > 0 && flags->runs > 0 && flags->payload >= 0 &&
         flags->window >= 0 && flags->window <= UINT32_MAX;
}

class NoteService : public test::Calc::Service {
 public:
  void Note(CallContext&, const Num&,
            Responder<google::protobuf::Empty> responder) override {
    responder.Finish();
  }
};

struct RunResult {
  double msgs_per_s = 0;
  int waits = 0;
  bool ok = false;
};

RunResult RunOnce(uint32_t window, const Flags& flags) {
  RunResult result;
  NoteService service;
  ServerOptions server_options;
  server_options.flow.receive_window = window;
  server_options.liveness.ping_interval = absl::ZeroDuration();
  Server server(server_options);
  if (!server.AddService(&service).ok() || !server.Start().ok()) return result;
  std::atomic<int> waits{0};
  ClientOptions client_options;
  client_options.url = absl::StrCat("ws://127.0.0.1:", server.port(), "/");
  client_options.liveness.ping_interval = absl::ZeroDuration();
  client_options.on_event = [&](const Event& e) {
    waits += e.type == EventType::kBackpressureWait;
  };
  Client client(client_options);
  if (!client.Start().ok() || !client.WaitConnected(absl::Seconds(10)).ok()) {
    return result;
  }
  Num request;
  request.set_value(1);
  // Pads the request to the payload size with an unknown field.
  if (flags.payload > 8) {
    request.GetReflection()->MutableUnknownFields(&request)->AddLengthDelimited(
        99, std::string(flags.payload - 8, 'x'));
  }
  testutil::Progress progress;
  testutil::CallTally done(flags.n, &progress);
  test::Calc::Stub stub(client.channel());
  absl::Time start = absl::Now();
  for (int64_t i = 0; i < flags.n; ++i) {
    absl::Status sent = testutil::SendAccepted(
        [&] { return stub.Note(request, done.Message(i)); }, progress,
        absl::Seconds(30));
    if (!sent.ok()) {
      std::fprintf(stderr, "call %lld: %s\n", static_cast<long long>(i),
                   sent.ToString().c_str());
      return result;
    }
  }
  if (!done.AwaitAll(absl::Seconds(120))) {
    std::fprintf(stderr, "%s\n", done.Problems().c_str());
    return result;
  }
  double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  result.msgs_per_s = flags.n / seconds;
  result.waits = waits.load();
  result.ok = true;
  client.Stop();
  server.Stop();
  return result;
}

int Main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, &flags)) {
    std::fprintf(stderr,
                 "usage: window_bench [--n=200000] [--runs=3] "
                 "[--payload=64] [--window=W]\n");
    return 2;
  }
  std::printf(
      "window_bench: %lld one-way messages of %lld bytes per run, "
      "median of %lld runs\n",
      static_cast<long long>(flags.n), static_cast<long long>(flags.payload),
      static_cast<long long>(flags.runs));
  std::printf("%8s  %12s  %10s  %s\n", "window", "msgs/s", "MB/s",
              "backpressure waits (median run)");
  std::vector<uint32_t> windows = {1, 4, 16, 64, 256, 1024, 4096};
  if (flags.window > 0) windows = {static_cast<uint32_t>(flags.window)};
  for (uint32_t window : windows) {
    std::vector<RunResult> runs;
    for (int64_t r = 0; r < flags.runs; ++r) {
      RunResult run = RunOnce(window, flags);
      if (!run.ok) {
        std::fprintf(stderr, "window %u: run failed\n", window);
        return 1;
      }
      runs.push_back(run);
    }
    std::sort(runs.begin(), runs.end(), [](const auto& a, const auto& b) {
      return a.msgs_per_s < b.msgs_per_s;
    });
    const RunResult& median = runs[runs.size() / 2];
    std::printf("%8u  %12.0f  %10.2f  %d\n", window, median.msgs_per_s,
                median.msgs_per_s * flags.payload / 1e6, median.waits);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace
}  // namespace parley

int main(int argc, char** argv) { return parley::Main(argc, argv); }
