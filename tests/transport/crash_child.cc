// The process crash_test kills: a client with a durable buffer that sends
// numbered one-way messages until it is killed.
//
//   crash_child URL DIR INCARNATION SYNC(every|interval|never) [MAX]
//
// It sends Calc.Note(INCARNATION * 1000000 + i) for i = 0, 1, ... and
// prints "ok i" (flushed) each time a send returned OK, so the parent knows
// which sends were accepted when it killed the process. A refused send
// (full buffer or window) waits for some completion and goes again. With
// MAX, it stops after MAX messages and exits 0 once the server has acked
// everything in its buffer (the drain run).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "calc.parley.h"
#include "parley/client.h"
#include "tests/util/exactly_once.h"

namespace parley {
namespace {

int Main(int argc, char** argv) {
  int64_t incarnation = 0, max = -1;
  if (argc < 5 || !absl::SimpleAtoi(argv[3], &incarnation) ||
      (argc > 5 && !absl::SimpleAtoi(argv[5], &max))) {
    std::fprintf(stderr, "usage: crash_child URL DIR INCARNATION SYNC [MAX]\n");
    return 2;
  }
  const std::string sync = argv[4];
  ClientOptions options;
  options.url = argv[1];
  options.buffer.dir = argv[2];
  options.buffer.sync = sync == "never"      ? SyncPolicy::kNever
                        : sync == "interval" ? SyncPolicy::kInterval
                                             : SyncPolicy::kEveryWrite;
  options.reconnect.initial_delay = absl::Milliseconds(5);
  options.reconnect.max_delay = absl::Milliseconds(50);
  options.flow.max_pending_messages = 256;
  testutil::Progress progress;
  Client client(options);
  if (absl::Status started = client.Start(); !started.ok()) {
    std::fprintf(stderr, "crash_child: %s\n", started.ToString().c_str());
    return 3;
  }
  test::Calc::Stub stub(client.channel());
  for (int64_t i = 0; max < 0 || i < max; ++i) {
    test::Num num;
    num.set_value(incarnation * 1000000 + i);
    // Recovered calls complete without a callback, so a full buffer is
    // also looked at again every 10 ms.
    absl::Time give_up = absl::Now() + absl::Seconds(60);
    while (true) {
      int64_t before = progress.count();
      absl::Status sent =
          stub.Note(num, [&progress](absl::Status) { progress.Bump(); });
      if (sent.ok()) break;
      progress.AwaitAbove(before, absl::Milliseconds(10));
      if (!absl::IsResourceExhausted(sent) || absl::Now() > give_up) {
        std::fprintf(stderr, "crash_child: send %lld: %s\n",
                     static_cast<long long>(i), sent.ToString().c_str());
        return 4;
      }
    }
    std::printf("ok %lld\n", static_cast<long long>(i));
    std::fflush(stdout);
  }
  // Drain: wait until the server acked everything, recovered calls too.
  absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (true) {
    SessionStats stats = client.stats();
    if (stats.open && stats.outstanding_messages == 0 &&
        stats.queued_messages == 0) {
      break;
    }
    if (absl::Now() > deadline) {
      std::fprintf(stderr, "crash_child: not drained\n");
      return 5;
    }
    int64_t before = progress.count();
    progress.AwaitAbove(before, absl::Milliseconds(20));
  }
  client.Stop();
  std::printf("drained\n");
  return 0;
}

}  // namespace
}  // namespace parley

int main(int argc, char** argv) { return parley::Main(argc, argv); }
