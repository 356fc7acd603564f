// A Client with a durable buffer, sent to by several threads at once: each
// accepted message reaches the server exactly once and in its thread's
// order, and each callback runs once with OK, under every sync policy.
// The calls take both of the link's paths: appended under its lock when
// the store can write at once (AppendNow), or with the lock let go when
// they join a group commit or wait for a sync, and then handed to the
// session in record order, parked if another thread's record came first.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "calc.parley.h"
#include "gtest/gtest.h"
#include "parley/client.h"
#include "parley/server.h"
#include "tests/store/store_test_util.h"
#include "tests/util/calc_services.h"
#include "tests/util/exactly_once.h"

namespace parley {
namespace {

using testutil::CallTally;
using testutil::CheckOrder;
using testutil::MakeNum;
using testutil::OrderReport;
using testutil::Progress;

constexpr absl::Duration kWait = absl::Seconds(60);

class ConcurrentDurable : public ::testing::TestWithParam<SyncPolicy> {};

INSTANTIATE_TEST_SUITE_P(SyncPolicies, ConcurrentDurable,
                         ::testing::Values(SyncPolicy::kEveryWrite,
                                           SyncPolicy::kInterval,
                                           SyncPolicy::kNever),
                         [](const auto& info) {
                           switch (info.param) {
                             case SyncPolicy::kEveryWrite:
                               return "Every";
                             case SyncPolicy::kInterval:
                               return "Interval";
                             case SyncPolicy::kNever:
                               return "Never";
                           }
                           return "Unknown";
                         });

TEST_P(ConcurrentDurable, EveryThreadsMessagesArriveOnceInItsOrder) {
  constexpr int kThreads = 4;
  constexpr int64_t kPerThread = 1500;
  testutil::NoteRecorder service;
  Server server{ServerOptions()};
  ASSERT_TRUE(server.AddService(&service).ok());
  ASSERT_TRUE(server.Start().ok());
  store::testing::TestDir dir;  // a fresh directory for the buffer
  ClientOptions options;
  options.url = absl::StrCat("ws://127.0.0.1:", server.port(), "/");
  options.buffer.dir = dir.path();
  options.buffer.sync = GetParam();
  // Syncs often, so that appends also meet a sync in progress.
  options.buffer.sync_interval = absl::Milliseconds(1);
  options.flow.max_pending_messages = 512;
  Client client(options);
  ASSERT_TRUE(client.Start().ok());
  test::Calc::Stub stub(client.channel());

  Progress progress;
  CallTally tally(kThreads * kPerThread, &progress);
  std::vector<std::thread> senders;
  std::vector<absl::Status> refusals(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    senders.emplace_back([&, t] {
      for (int64_t i = 0; i < kPerThread; ++i) {
        const int64_t index = t * kPerThread + i;
        absl::Status sent = testutil::SendAccepted(
            [&] { return stub.Note(MakeNum(index), tally.Message(index)); },
            progress, kWait);
        if (!sent.ok()) {
          refusals[t] = sent;
          return;
        }
      }
    });
  }
  for (std::thread& sender : senders) sender.join();
  for (const absl::Status& refusal : refusals)
    ASSERT_TRUE(refusal.ok()) << refusal;
  ASSERT_TRUE(tally.AwaitAll(kWait)) << tally.Problems();
  EXPECT_EQ(tally.Problems(), "");

  std::vector<std::vector<int64_t>> by_thread(kThreads);
  for (int64_t value : service.notes.values()) {
    const int64_t t = value / kPerThread;
    ASSERT_TRUE(t >= 0 && t < kThreads) << "foreign value " << value;
    by_thread[t].push_back(value - t * kPerThread);
  }
  for (int t = 0; t < kThreads; ++t) {
    OrderReport report = CheckOrder(by_thread[t], kPerThread);
    EXPECT_TRUE(report.clean()) << "thread " << t << ": " << report.ToString();
  }
  client.Stop();
  server.Stop();
}

// The send buffer's bound is exact for durable calls from several threads:
// a call being appended with the link's intake let go, or appended and
// waiting for its turn in record order, counts like one in the intake or
// the session. The client never connects, so nothing is acked and no call
// past max_pending_messages may be accepted.
TEST_P(ConcurrentDurable, TheSendBufferBoundHoldsWhileCallsAreAppended) {
  constexpr int kThreads = 8;
  constexpr int kAttempts = 50;
  constexpr size_t kBound = 8;
  Server gone{ServerOptions()};
  ASSERT_TRUE(gone.Start().ok());
  store::testing::TestDir dir;
  ClientOptions options;
  options.url = absl::StrCat("ws://127.0.0.1:", gone.port(), "/");
  gone.Stop();  // nothing listens there now
  options.buffer.dir = dir.path();
  options.buffer.sync = GetParam();
  options.buffer.sync_interval = absl::Milliseconds(1);
  options.flow.max_pending_messages = kBound;
  Client client(options);
  ASSERT_TRUE(client.Start().ok());
  test::Calc::Stub stub(client.channel());
  std::atomic<size_t> accepted{0};
  std::vector<std::string> problems(kThreads);
  std::vector<std::thread> senders;
  for (int t = 0; t < kThreads; ++t) {
    senders.emplace_back([&, t] {
      for (int i = 0; i < kAttempts; ++i) {
        absl::Status sent = stub.Note(MakeNum(t * kAttempts + i));
        if (sent.ok()) {
          ++accepted;
        } else if (!absl::IsResourceExhausted(sent)) {
          problems[t] = sent.ToString();
        }
      }
    });
  }
  for (std::thread& sender : senders) sender.join();
  for (const std::string& problem : problems) EXPECT_EQ(problem, "");
  EXPECT_EQ(accepted.load(), kBound);
  EXPECT_EQ(client.stats().pending_calls, kBound);
  client.Stop();
}

}  // namespace
}  // namespace parley
