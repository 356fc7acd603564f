// events_client: sends numbered readings to an events_server, one every
// 100 ms, through a durable buffer, printing every event of its session;
// it keeps sending while the server is away.
//
//   events_client ws://127.0.0.1:<port>/ <buffer-dir>
//
// Stops sending at the end of its input (Ctrl-D), waits until the server
// has acked every reading, and exits 0 when it did.
#include <atomic>
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "events.parley.h"
#include "parley/client.h"
#include "sample.h"

namespace {

constexpr absl::Duration kInterval = absl::Milliseconds(100);
// How long, after its input ended, the client waits for the last acks.
constexpr absl::Duration kAckTimeout = absl::Seconds(60);

// Counts the readings whose Record call completed.
class Tally {
 public:
  void Done(uint64_t number, const absl::Status& status) {
    if (!status.ok()) {
      sample::PrintLine(
          absl::StrCat("#", number, " failed: ", status.ToString()));
    }
    absl::MutexLock lock(&mu_);
    ++(status.ok() ? acked_ : failed_);
  }

  // Waits until `sent` calls completed; returns how many were acked.
  uint64_t AwaitAll(uint64_t sent, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto all = [this, sent]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return acked_ + failed_ >= sent;
    };
    mu_.AwaitWithTimeout(absl::Condition(&all), timeout);
    return acked_;
  }

 private:
  absl::Mutex mu_;
  uint64_t acked_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t failed_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: events_client ws://host:port/ <buffer-dir>\n";
    return 2;
  }
  std::atomic<bool> connected{false};
  parley::ClientOptions options;
  options.url = argv[1];
  // Every accepted reading is on disk before the send returns OK.
  options.buffer.dir = argv[2];
  options.buffer.sync = parley::SyncPolicy::kEveryWrite;
  // Re-dial at least once a second while the server is away.
  options.reconnect.max_delay = absl::Seconds(1);
  options.on_event = [&connected](const parley::Event& event) {
    sample::PrintEvent(event);
    if (event.type == parley::EventType::kConnected) connected = true;
    if (event.type == parley::EventType::kDisconnected) connected = false;
  };
  std::unique_ptr<parley::Client> client =
      sample::Dial("events_client", std::move(options), {});
  if (client == nullptr) return 1;

  absl::Notification input_ended;
  std::thread reader([&input_ended] {
    for (std::string line; std::getline(std::cin, line);) {
    }
    input_ended.Notify();
  });
  events::Journal::Stub stub(client->channel());
  Tally tally;
  uint64_t sent = 0;
  while (!input_ended.WaitForNotificationWithTimeout(kInterval)) {
    events::Reading reading;
    reading.set_number(sent + 1);
    absl::Status accepted = stub.Record(
        reading,
        [&tally, number = sent + 1](absl::Status s) { tally.Done(number, s); });
    if (!accepted.ok()) {  // not accepted: the same number goes next time
      sample::PrintLine(
          absl::StrCat("#", sent + 1, " not accepted: ", accepted.ToString()));
      continue;
    }
    ++sent;
    sample::PrintLine(absl::StrCat(
        "sent #", sent,
        connected ? "" : " (server away: kept in the durable buffer)"));
  }
  reader.join();
  const uint64_t acked = tally.AwaitAll(sent, kAckTimeout);
  client->Stop();
  sample::PrintLine(absl::StrCat("events_client: ", sent, " sent, ", acked,
                                 " acked by the server"));
  return acked == sent ? 0 : 1;
}
