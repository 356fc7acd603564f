// Counted backpressure over real loopback WebSockets: a slow consumer slows
// its producer, and no queue grows past its bound.
//
// The consumer is slow by construction, not by sleeping: its handlers keep
// their responders, and a consumer thread finishes the oldest one only
// while the server holds a full batch, so windows stay shut most of the
// time. Bounds are sampled from Client::stats() and Server::stats() while
// the traffic runs.
#include <algorithm>
#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "calc.parley.h"
#include "gtest/gtest.h"
#include "parley/client.h"
#include "parley/server.h"
#include "runtime/util/mutex.h"
#include "tests/util/calc_services.h"
#include "tests/util/exactly_once.h"

namespace parley {
namespace {

using test::Num;
using testutil::CallTally;
using testutil::MakeNum;
using testutil::Progress;
using testutil::SendAccepted;

constexpr absl::Duration kWait = absl::Seconds(60);

// Hold() keeps each responder; FinishOldest() runs on the consumer thread.
// Values are recorded per session in arrival order.
class SlowService : public test::Calc::Service {
 public:
  // `producers` clients each make `calls_each` Hold calls through a window
  // of `window`.
  SlowService(int producers, int calls_each, size_t window)
      : producers_(producers), calls_each_(calls_each), window_(window) {}

  void Hold(CallContext& context, const Num& request,
            Responder<google::protobuf::Empty> responder) override {
    util::MutexLock lock(&mu_);
    seen_[context.peer.get()].push_back(request.value());
    held_.emplace_back(context.peer.get(), std::move(responder));
    held_grew_.SignalAll();
  }

  // Waits until the server holds `batch` calls, or as many as the producers
  // can still have in their windows, then finishes the oldest one.
  bool FinishOldestWhenFull(size_t batch) {
    std::pair<const Channel*, Responder<google::protobuf::Empty>> oldest{
        nullptr, Responder<google::protobuf::Empty>(RawResponder{})};
    {
      util::MutexLock lock(&mu_);
      auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !held_.empty() && held_.size() >= std::min(batch, Capacity());
      };
      if (!held_grew_.WaitFor(&mu_, kWait, enough)) return false;
      oldest = std::move(held_.front());
      held_.pop_front();
      ++finished_[oldest.first];
    }
    oldest.second.Finish();
    return true;
  }

  std::vector<std::vector<int64_t>> seen() {
    util::MutexLock lock(&mu_);
    std::vector<std::vector<int64_t>> all;
    for (auto& [peer, values] : seen_) all.push_back(values);
    return all;
  }

  // Not implemented here: the tests use only Hold.
  void Double(CallContext&, const Num&, Responder<Num> r) override {
    r.Fail(absl::UnimplementedError("Double"));
  }
  void Note(CallContext&, const Num&,
            Responder<google::protobuf::Empty> r) override {
    r.Fail(absl::UnimplementedError("Note"));
  }
  void Fail(CallContext&, const Num&, Responder<Num> r) override {
    r.Fail(absl::UnimplementedError("Fail"));
  }

 private:
  // How many calls the producers' windows can hold at once now.
  size_t Capacity() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    size_t capacity = 0;
    int unseen = producers_;
    for (const auto& [peer, n] : finished_) {
      capacity += std::min<size_t>(window_, calls_each_ - n);
      --unseen;
    }
    // Producers none of whose calls finished yet.
    return capacity + unseen * std::min<size_t>(window_, calls_each_);
  }

  const int producers_;
  const int calls_each_;
  const size_t window_;
  util::Mutex mu_;
  // held_ grew (finished_, the other input of Capacity, changes only in
  // the waiting FinishOldestWhenFull).
  util::CondVar held_grew_;
  std::deque<std::pair<const Channel*, Responder<google::protobuf::Empty>>>
      held_ ABSL_GUARDED_BY(mu_);
  std::map<const Channel*, int> finished_ ABSL_GUARDED_BY(mu_);
  std::map<const Channel*, std::vector<int64_t>> seen_ ABSL_GUARDED_BY(mu_);
};

// kBackpressureWait/Resume as a client saw them.
class FlowEvents {
 public:
  void Record(const Event& event) {
    if (event.type != EventType::kBackpressureWait &&
        event.type != EventType::kBackpressureResume) {
      return;
    }
    util::MutexLock lock(&mu_);
    types_.push_back(event.type);
    added_.SignalAll();
  }
  // Waits until the last event is a Resume (or there is none).
  bool AwaitResumed() {
    util::MutexLock lock(&mu_);
    auto resumed = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return types_.empty() || types_.back() == EventType::kBackpressureResume;
    };
    return added_.WaitFor(&mu_, kWait, resumed);
  }
  // "" when the events alternate Wait, Resume, Wait, ... ending in Resume.
  std::string Problems() {
    util::MutexLock lock(&mu_);
    for (size_t i = 0; i < types_.size(); ++i) {
      EventType want = i % 2 == 0 ? EventType::kBackpressureWait
                                  : EventType::kBackpressureResume;
      if (types_[i] != want) {
        return absl::StrCat("event ", i, " is ", EventTypeName(types_[i]));
      }
    }
    if (types_.size() % 2 != 0) return "a Wait without its Resume";
    return "";
  }
  size_t waits() {
    util::MutexLock lock(&mu_);
    return (types_.size() + 1) / 2;
  }

 private:
  util::Mutex mu_;
  util::CondVar added_;  // types_ grew
  std::vector<EventType> types_ ABSL_GUARDED_BY(mu_);
};

// The largest value a sampled counter reached.
struct Peak {
  void Note(size_t value) {
    util::MutexLock lock(&mu);
    max = std::max(max, value);
  }
  size_t Get() {
    util::MutexLock lock(&mu);
    return max;
  }
  util::Mutex mu;
  size_t max = 0;
};

class SlowConsumer : public ::testing::TestWithParam<BackpressurePolicy> {};

TEST_P(SlowConsumer, ProducerStaysInsideTheWindowAndEverythingArrivesOnce) {
  constexpr uint32_t kWindow = 8;
  constexpr size_t kMaxPending = 24;
  constexpr int kCalls = 400;
  SlowService service(1, kCalls, kWindow);
  ServerOptions server_options;
  server_options.flow.receive_window = kWindow;
  Server server(server_options);
  ASSERT_TRUE(server.AddService(&service).ok());
  ASSERT_TRUE(server.Start().ok());

  // Declared before the client, which holds their callbacks.
  Progress progress;
  CallTally done(kCalls, &progress);
  FlowEvents events;
  ClientOptions client_options;
  client_options.url = absl::StrCat("ws://127.0.0.1:", server.port(), "/");
  client_options.flow.policy = GetParam();
  client_options.flow.max_pending_messages = kMaxPending;
  client_options.on_event = [&](const Event& e) { events.Record(e); };
  Client client(client_options);
  ASSERT_TRUE(client.Start().ok());
  ASSERT_TRUE(client.WaitConnected(kWait).ok());

  Peak outstanding, pending;
  std::atomic<int> refused{0};
  auto sample = [&] {
    SessionStats stats = client.stats();
    outstanding.Note(stats.outstanding_messages);
    pending.Note(stats.outstanding_messages + stats.queued_messages);
  };
  test::Calc::Stub stub(client.channel());
  std::thread producer([&] {
    for (int i = 0; i < kCalls; ++i) {
      absl::Status sent = SendAccepted(
          [&] {
            absl::Status s = stub.Hold(MakeNum(i), done.Message(i));
            refused += absl::IsResourceExhausted(s);
            return s;
          },
          progress, kWait);
      ASSERT_TRUE(sent.ok()) << "call " << i << ": " << sent;
      sample();
    }
  });
  // Finish one call whenever a full window is held (fewer at the end).
  for (int finished = 0; finished < kCalls; ++finished) {
    sample();
    ASSERT_TRUE(service.FinishOldestWhenFull(kWindow))
        << "consumer starved after " << finished << " calls";
  }
  producer.join();
  ASSERT_TRUE(done.AwaitAll(kWait)) << done.Problems();
  ASSERT_TRUE(events.AwaitResumed());

  EXPECT_EQ(outstanding.Get(), kWindow);  // the window filled, never more
  EXPECT_LE(pending.Get(), kMaxPending);
  EXPECT_EQ(events.Problems(), "");
  EXPECT_GE(events.waits(), 1u);
  if (GetParam() == BackpressurePolicy::kReject) {
    EXPECT_GT(refused.load(), 0);
    EXPECT_LE(pending.Get(), kWindow);  // nothing queues beyond the window
  }
  std::vector<std::vector<int64_t>> seen = service.seen();
  ASSERT_EQ(seen.size(), 1u);
  std::vector<int64_t> want(kCalls);
  for (int i = 0; i < kCalls; ++i) want[i] = i;
  EXPECT_EQ(seen[0], want);  // exactly once, in order
  SessionStats final_stats = client.stats();
  EXPECT_EQ(final_stats.outstanding_messages, 0u);
  EXPECT_EQ(final_stats.queued_messages, 0u);
  EXPECT_FALSE(final_stats.backpressured);
  client.Stop();
  server.Stop();
}

INSTANTIATE_TEST_SUITE_P(Policies, SlowConsumer,
                         ::testing::Values(BackpressurePolicy::kQueue,
                                           BackpressurePolicy::kReject),
                         [](const auto& info) {
                           return info.param == BackpressurePolicy::kQueue
                                      ? "Queue"
                                      : "Reject";
                         });

TEST(ManyProducers, ServerBuffersStayBoundedAndNoProducerStarves) {
  constexpr int kProducers = 100;
  constexpr int kCallsEach = 20;
  constexpr uint32_t kWindow = 4;
  constexpr size_t kBuffered = 64 << 10;
  SlowService service(kProducers, kCallsEach, kWindow);
  ServerOptions server_options;
  server_options.flow.receive_window = kWindow;
  server_options.flow.receive_window_bytes = 4096;
  server_options.flow.max_buffered_bytes = kBuffered;
  Server server(server_options);
  ASSERT_TRUE(server.AddService(&service).ok());
  ASSERT_TRUE(server.Start().ok());

  Progress progress;
  std::vector<std::unique_ptr<CallTally>> tallies;  // outlive the clients
  std::vector<std::unique_ptr<Client>> clients;
  for (int p = 0; p < kProducers; ++p) {
    ClientOptions options;
    options.url = absl::StrCat("ws://127.0.0.1:", server.port(), "/");
    options.flow.max_pending_messages = 8;
    clients.push_back(std::make_unique<Client>(options));
    ASSERT_TRUE(clients.back()->Start().ok());
    tallies.push_back(std::make_unique<CallTally>(kCallsEach, &progress));
  }
  // Each producer thread sends its calls as fast as its window allows.
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      test::Calc::Stub stub(clients[p]->channel());
      for (int i = 0; i < kCallsEach; ++i) {
        absl::Status sent = SendAccepted(
            [&] { return stub.Hold(MakeNum(i), tallies[p]->Message(i)); },
            progress, kWait);
        ASSERT_TRUE(sent.ok())
            << "producer " << p << " call " << i << ": " << sent;
      }
    });
  }
  // Finishes the oldest held call (FIFO across sessions) only while 100
  // are held (or all the producers' windows can still hold): the server is
  // the bottleneck for most of the run.
  constexpr int kTotal = kProducers * kCallsEach;
  Peak unprocessed, buffered, sessions;
  std::string violation;
  for (int finished = 0; finished < kTotal; ++finished) {
    if (finished % 50 == 0) {
      std::vector<SessionStats> all = server.stats();
      sessions.Note(all.size());
      for (const SessionStats& s : all) {
        unprocessed.Note(s.unprocessed_messages);
        buffered.Note(s.buffered_bytes);
        if (s.unprocessed_bytes > 4096 && s.unprocessed_messages > 1) {
          violation = absl::StrCat(s.unprocessed_bytes, " bytes unprocessed");
        }
      }
    }
    ASSERT_TRUE(service.FinishOldestWhenFull(100))
        << "server starved after " << finished << " calls";
  }
  for (std::thread& t : producers) t.join();
  for (int p = 0; p < kProducers; ++p) {
    EXPECT_TRUE(tallies[p]->AwaitAll(kWait))
        << "producer " << p << ": " << tallies[p]->Problems();
  }
  EXPECT_EQ(sessions.Get(), size_t{kProducers});
  EXPECT_LE(unprocessed.Get(), kWindow);
  // A frame is written only while fewer than kBuffered bytes wait, so one
  // frame (at most coalesce_bytes, 64 KiB) may go above the mark.
  EXPECT_LE(buffered.Get(), kBuffered + (64 << 10));
  EXPECT_EQ(violation, "");
  for (const std::vector<int64_t>& values : service.seen()) {
    std::vector<int64_t> want(kCallsEach);
    for (int i = 0; i < kCallsEach; ++i) want[i] = i;
    EXPECT_EQ(values, want);
  }
  for (auto& client : clients) client->Stop();
  server.Stop();
}

TEST(MessageLimits, CallAboveThePeersLimitFailsWithAStatusNamingIt) {
  SlowService service(1, 1, 1);
  ServerOptions server_options;
  server_options.max_message_bytes = 64 << 10;
  Server server(server_options);
  ASSERT_TRUE(server.AddService(&service).ok());
  ASSERT_TRUE(server.Start().ok());
  ClientOptions client_options;
  client_options.url = absl::StrCat("ws://127.0.0.1:", server.port(), "/");
  CallTally queued(1), fits(1);  // outlive the client
  Client client(client_options);
  test::Calc::Stub stub(client.channel());
  test::Num big;
  big.set_value(1);
  // An unknown field pads the request to 100 KiB.
  big.GetReflection()->MutableUnknownFields(&big)->AddLengthDelimited(
      99, std::string(100 << 10, 'x'));
  // Accepted before the handshake told the server's limit, then failed
  // instead of sent (the server would close the connection with 1009).
  ASSERT_TRUE(stub.Hold(big, queued.Message(0)).ok());
  ASSERT_TRUE(client.Start().ok());
  ASSERT_TRUE(client.WaitConnected(kWait).ok());
  ASSERT_TRUE(queued.AwaitDone(1, kWait));
  EXPECT_NE(queued.Problems().find("exceeds the peer's max_frame_bytes 65536"),
            std::string::npos)
      << queued.Problems();
  // Once the limit is known, the call is refused at once.
  absl::Status refused = stub.Hold(big, nullptr);
  EXPECT_TRUE(absl::IsInvalidArgument(refused)) << refused;
  EXPECT_NE(refused.message().find("peer's max_frame_bytes 65536"),
            std::string::npos);
  // The session is fine: a call that fits goes through.
  ASSERT_TRUE(stub.Hold(MakeNum(2), fits.Message(0)).ok());
  ASSERT_TRUE(service.FinishOldestWhenFull(1));
  EXPECT_TRUE(fits.AwaitAll(kWait)) << fits.Problems();
  client.Stop();
  server.Stop();
}

}  // namespace
}  // namespace parley
