// Parley Client and Server over real loopback WebSockets.
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "calc.parley.h"
#include "gtest/gtest.h"
#include "parley/client.h"
#include "parley/server.h"
#include "runtime/util/mutex.h"
#include "runtime/util/notification.h"
#include "tests/util/calc_services.h"

namespace parley {
namespace {

using test::Num;

constexpr absl::Duration kWait = absl::Seconds(30);

Num MakeNum(int64_t value) {
  Num num;
  num.set_value(value);
  return num;
}

class CalcService : public test::Calc::Service {
 public:
  void Double(CallContext& context, const Num& request,
              Responder<Num> responder) override {
    RememberPeer(context);
    responder.Finish(MakeNum(request.value() * 2));
  }
  void Note(CallContext& context, const Num& request,
            Responder<google::protobuf::Empty> responder) override {
    RememberPeer(context);
    util::MutexLock lock(&mu_);
    notes_.push_back(request.value());
    responder.Finish();
  }
  void Fail(CallContext&, const Num& request,
            Responder<Num> responder) override {
    responder.Fail(absl::NotFoundError(absl::StrCat("no ", request.value())));
  }

  void Hold(CallContext&, const Num&,
            Responder<google::protobuf::Empty> responder) override {
    held_.Keep(std::move(responder));
  }
  // Finishes every held call, from this (non-I/O) thread.
  void ReleaseHeld() { held_.ReleaseAll(); }
  bool AwaitHeld(size_t n) { return held_.AwaitCount(n, kWait); }

  // The channel back to the first client that called.
  std::shared_ptr<Channel> AwaitPeer() {
    util::MutexLock lock(&mu_);
    auto has_peer = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return peer_ != nullptr;
    };
    peer_known_.WaitFor(&mu_, kWait, has_peer);
    return peer_;
  }
  std::vector<int64_t> notes() {
    util::MutexLock lock(&mu_);
    return notes_;
  }

 private:
  void RememberPeer(CallContext& context) {
    util::MutexLock lock(&mu_);
    if (peer_ == nullptr) peer_ = context.peer;
    peer_known_.SignalAll();
  }
  util::Mutex mu_;
  util::CondVar peer_known_;  // peer_ was set
  std::shared_ptr<Channel> peer_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> notes_ ABSL_GUARDED_BY(mu_);
  testutil::HeldCalls held_;
};

class FeedService : public test::Feed::Service {
 public:
  void Triple(CallContext&, const Num& request,
              Responder<Num> responder) override {
    responder.Finish(MakeNum(request.value() * 3));
  }
};

// Counts matched replies; every callback must see its own request's answer.
class ReplyTally {
 public:
  std::function<void(absl::StatusOr<Num>)> Expect(int64_t want) {
    return [this, want](absl::StatusOr<Num> reply) {
      util::MutexLock lock(&mu_);
      ++done_;
      if (reply.ok() && reply->value() == want) ++matched_;
      done_grew_.SignalAll();
    };
  }
  bool AwaitDone(int n) {
    util::MutexLock lock(&mu_);
    auto all = [this, n]()
                   ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done_ >= n; };
    return done_grew_.WaitFor(&mu_, kWait, all);
  }
  int matched() {
    util::MutexLock lock(&mu_);
    return matched_;
  }

 private:
  util::Mutex mu_;
  util::CondVar done_grew_;
  int done_ ABSL_GUARDED_BY(mu_) = 0;
  int matched_ ABSL_GUARDED_BY(mu_) = 0;
};

class Loopback : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.AddService(&calc_).ok());
    ASSERT_TRUE(server_.Start().ok());
    client_ = NewClient();
    ASSERT_TRUE(client_->AddService(&feed_).ok());
    ASSERT_TRUE(client_->Start().ok());
    ASSERT_TRUE(client_->WaitConnected(kWait).ok());
  }
  std::unique_ptr<Client> NewClient() {
    ClientOptions options;
    options.url = absl::StrCat("ws://127.0.0.1:", server_.port(), "/");
    return std::make_unique<Client>(options);
  }

  CalcService calc_;
  FeedService feed_;
  Server server_{ServerOptions()};
  std::unique_ptr<Client> client_;
};

TEST_F(Loopback, RequestGetsTypedReply) {
  test::Calc::Stub stub(client_->channel());
  absl::StatusOr<Num> reply = stub.DoubleBlocking(MakeNum(21));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->value(), 42);
}

TEST_F(Loopback, MessagesArriveInSendOrder) {
  test::Calc::Stub stub(client_->channel());
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(stub.Note(MakeNum(i)).ok());
  ASSERT_TRUE(stub.NoteBlocking(MakeNum(100)).ok());
  std::vector<int64_t> want(101);
  for (int i = 0; i <= 100; ++i) want[i] = i;
  EXPECT_EQ(calc_.notes(), want);
}

TEST_F(Loopback, HandlerErrorReachesTheCaller) {
  test::Calc::Stub stub(client_->channel());
  absl::StatusOr<Num> reply = stub.FailBlocking(MakeNum(7));
  EXPECT_EQ(reply.status(), absl::NotFoundError("no 7"));
}

TEST_F(Loopback, ThousandConcurrentRequestsEachWayAreMatched) {
  constexpr int kCalls = 1000;
  test::Calc::Stub to_server(client_->channel());
  ASSERT_TRUE(to_server.NoteBlocking(MakeNum(0)).ok());  // server learns peer
  test::Feed::Stub to_client(calc_.AwaitPeer());

  ReplyTally from_server, from_client;
  std::thread server_side([&] {
    for (int i = 0; i < kCalls; ++i) {
      ASSERT_TRUE(to_client.Triple(MakeNum(i), from_client.Expect(3 * i)).ok());
    }
  });
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_TRUE(to_server.Double(MakeNum(i), from_server.Expect(2 * i)).ok());
  }
  server_side.join();
  ASSERT_TRUE(from_server.AwaitDone(kCalls));
  ASSERT_TRUE(from_client.AwaitDone(kCalls));
  EXPECT_EQ(from_server.matched(), kCalls);
  EXPECT_EQ(from_client.matched(), kCalls);
}

TEST_F(Loopback, SlowHandlerGivesDeadlineExceededOnceAndLateAckIsIgnored) {
  test::Calc::Stub stub(client_->channel());
  util::Mutex mu;
  util::CondVar outcome_added;
  std::vector<absl::Status> outcomes;
  CallOptions options;
  options.ack_within = absl::Milliseconds(50);
  ASSERT_TRUE(stub.Hold(
                      MakeNum(1),
                      [&](absl::Status s) {
                        util::MutexLock lock(&mu);
                        outcomes.push_back(s);
                        outcome_added.SignalAll();
                      },
                      options)
                  .ok());
  {
    util::MutexLock lock(&mu);
    auto one = [&]() { return outcomes.size() == 1; };
    ASSERT_TRUE(outcome_added.WaitFor(&mu, kWait, one));
    EXPECT_TRUE(absl::IsDeadlineExceeded(outcomes[0])) << outcomes[0];
  }
  ASSERT_TRUE(calc_.AwaitHeld(1));
  calc_.ReleaseHeld();  // the late ack must not complete the call again
  ASSERT_TRUE(stub.NoteBlocking(MakeNum(2)).ok());  // ordered after the ack
  util::MutexLock lock(&mu);
  EXPECT_EQ(outcomes.size(), 1u);
}

TEST_F(Loopback, HandlerFinishingLaterFromAnotherThreadCompletesTheCall) {
  test::Calc::Stub stub(client_->channel());
  util::Notification done;
  absl::Status outcome;
  ASSERT_TRUE(stub.Hold(MakeNum(1),
                        [&](absl::Status s) {
                          outcome = s;
                          done.Notify();
                        })
                  .ok());
  ASSERT_TRUE(calc_.AwaitHeld(1));
  EXPECT_FALSE(done.HasBeenNotified());
  std::thread([&] { calc_.ReleaseHeld(); }).join();
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kWait));
  EXPECT_TRUE(outcome.ok()) << outcome;
}

// A responder outlives its session: finished after the server stopped, it
// completes into nothing (its link is gone), and frees what it held.
TEST_F(Loopback, HandlerFinishingAfterTheServerStoppedDoesNothing) {
  test::Calc::Stub stub(client_->channel());
  ASSERT_TRUE(stub.Hold(MakeNum(1), nullptr).ok());
  ASSERT_TRUE(stub.Hold(MakeNum(2), nullptr).ok());
  ASSERT_TRUE(calc_.AwaitHeld(2));
  client_->Stop();
  server_.Stop();
  calc_.ReleaseHeld();
}

TEST_F(Loopback, BlockingCallOnTheIoThreadIsRefused) {
  test::Calc::Stub stub(client_->channel());
  util::Notification done;
  absl::Status inner;
  ASSERT_TRUE(stub.Double(MakeNum(1),
                          [&](absl::StatusOr<Num>) {
                            inner = stub.DoubleBlocking(MakeNum(2)).status();
                            done.Notify();
                          })
                  .ok());
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kWait));
  EXPECT_TRUE(absl::IsFailedPrecondition(inner)) << inner;
}

TEST_F(Loopback, StopCancelsPendingCallsAndRefusesNewOnes) {
  // The server holds no call open, so cancel a call the client queues on a
  // second client that never connects.
  Server gone{ServerOptions()};
  ASSERT_TRUE(gone.Start().ok());
  ClientOptions options;
  options.url = absl::StrCat("ws://127.0.0.1:", gone.port(), "/");
  gone.Stop();  // nothing listens there now
  Client lonely(options);
  ASSERT_TRUE(lonely.Start().ok());
  EXPECT_TRUE(
      absl::IsDeadlineExceeded(lonely.WaitConnected(absl::Milliseconds(100))));
  test::Calc::Stub stub(lonely.channel());
  util::Notification done;
  absl::Status outcome;
  ASSERT_TRUE(stub.Note(MakeNum(1),
                        [&](absl::Status s) {
                          outcome = s;
                          done.Notify();
                        })
                  .ok());
  lonely.Stop();
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kWait));
  EXPECT_TRUE(absl::IsCancelled(outcome)) << outcome;
  EXPECT_TRUE(absl::IsFailedPrecondition(stub.Note(MakeNum(2))));
}

// Callers race Stop from several threads, their calls going through the
// intake (accepted without the link's lock): every call that returned OK
// gets exactly one outcome, OK or CANCELLED, none is lost between the
// intake and the session, and every refusal is FAILED_PRECONDITION.
TEST_F(Loopback, CallsRacingStopEachGetOneOutcome) {
  test::Calc::Stub stub(client_->channel());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5000;
  util::Mutex mu;
  util::CondVar changed;
  int accepted = 0;
  int outcomes = 0;
  std::vector<std::string> problems;
  auto note = [&](std::string problem) {
    util::MutexLock lock(&mu);
    if (!problem.empty()) problems.push_back(std::move(problem));
  };
  std::vector<std::thread> callers;
  for (int t = 0; t < kThreads; ++t) {
    callers.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        absl::Status status = stub.Note(MakeNum(i), [&](absl::Status s) {
          util::MutexLock lock(&mu);
          ++outcomes;
          if (!s.ok() && !absl::IsCancelled(s)) {
            problems.push_back(s.ToString());
          }
          changed.SignalAll();
        });
        if (status.ok()) {
          util::MutexLock lock(&mu);
          ++accepted;
          changed.SignalAll();
        } else if (!absl::IsFailedPrecondition(status)) {
          note(status.ToString());
        }
      }
    });
  }
  {  // Stop once some calls are in, while the callers go on. (EXPECT, not
     // ASSERT: the callers must be joined whatever happens.)
    util::MutexLock lock(&mu);
    EXPECT_TRUE(changed.WaitFor(
        &mu, kWait,
        [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return accepted >= 500; }));
  }
  client_->Stop();
  for (std::thread& caller : callers) caller.join();
  util::MutexLock lock(&mu);
  EXPECT_TRUE(
      changed.WaitFor(&mu, kWait, [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
        return outcomes >= accepted;
      }));
  EXPECT_EQ(outcomes, accepted);
  EXPECT_TRUE(problems.empty()) << problems.front();
}

// The send buffer's bound holds for calls accepted off the link's lock:
// whether a call still waits in the intake or was handed to the session,
// it counts, so the fourth of max_pending_messages = 3 is refused at once,
// and stays refused (nothing is acked: the client never connects).
TEST_F(Loopback, TheSendBufferBoundCountsCallsNotYetHandedToTheSession) {
  Server gone{ServerOptions()};
  ASSERT_TRUE(gone.Start().ok());
  ClientOptions options;
  options.url = absl::StrCat("ws://127.0.0.1:", gone.port(), "/");
  options.flow.max_pending_messages = 3;
  gone.Stop();  // nothing listens there now
  Client lonely(options);
  ASSERT_TRUE(lonely.Start().ok());
  test::Calc::Stub stub(lonely.channel());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(stub.Note(MakeNum(i)).ok()) << i;
  for (int i = 0; i < 100; ++i) {
    absl::Status refused = stub.Note(MakeNum(3));
    ASSERT_TRUE(absl::IsResourceExhausted(refused)) << i << ": " << refused;
  }
  EXPECT_EQ(lonely.stats().pending_calls, 3u);
  lonely.Stop();
}

TEST_F(Loopback, EventsReportConnectAndStop) {
  util::Mutex mu;
  std::vector<EventType> seen;
  ClientOptions options;
  options.url = absl::StrCat("ws://127.0.0.1:", server_.port(), "/");
  options.on_event = [&](const Event& event) {
    util::MutexLock lock(&mu);
    seen.push_back(event.type);
  };
  Client client(options);
  ASSERT_TRUE(client.Start().ok());
  ASSERT_TRUE(client.WaitConnected(kWait).ok());
  client.Stop();
  util::MutexLock lock(&mu);
  ASSERT_GE(seen.size(), 3u);
  EXPECT_EQ(seen[0], EventType::kConnected);
  EXPECT_EQ(seen[1], EventType::kNewSession);
  EXPECT_EQ(seen.back(), EventType::kStopped);
}

}  // namespace
}  // namespace parley
