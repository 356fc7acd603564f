#include "runtime/session/session.h"

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "runtime/session/call_table.h"
#include "runtime/wire/close_codes.h"
#include "runtime/wire/codec.h"

namespace parley::session {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1000000);

SessionOptions Options(Role role, std::string id = "") {
  SessionOptions options;
  options.role = role;
  options.session_id = std::move(id);
  return options;
}

// One session plus what came out of it.
struct Side {
  explicit Side(SessionOptions options)
      : s(std::make_unique<Session>(std::move(options))) {}
  std::unique_ptr<Session> s;
  std::vector<Delivery> held;  // deliveries not finished yet
  std::vector<Event> events;
  std::vector<CloseRequest> closes;
  std::vector<std::string> released;  // payloads of acked calls
  // Default handler: reply with the payload itself.
  std::function<void(Side&, Delivery&)> handler = [](Side& side, Delivery& d) {
    side.s->Finish(d.id, std::string(d.payload));
  };

  void Drain() {
    Effects effects = s->TakeEffects();
    for (Completion& c : effects.completions) c.done(std::move(c.result));
    for (Event& e : effects.events) events.push_back(std::move(e));
    if (effects.close) closes.push_back(*effects.close);
    for (std::string& p : effects.released) released.push_back(std::move(p));
    for (Delivery& d : effects.deliveries) handler(*this, d);
  }
  int Count(EventType type) const {
    int n = 0;
    for (const Event& e : events) n += e.type == type;
    return n;
  }
};

// Two session cores joined by a perfect in-memory link.
class SessionPair : public ::testing::Test {
 protected:
  SessionPair()
      : client_(Options(Role::kClient)),
        server_(Options(Role::kServer, "server-id-1")) {}

  void Connect() {
    client_.s->OnConnected(now_);
    server_.s->OnConnected(now_);
    Pump();
  }
  void Disconnect() {
    client_.s->OnDisconnected(absl::UnavailableError("cut"));
    server_.s->OnDisconnected(absl::UnavailableError("cut"));
  }
  // Moves frames both ways until both sides are quiet; counts frames.
  void Pump() {
    for (int rounds = 0; rounds < 10000; ++rounds) {
      client_.Drain();
      server_.Drain();
      bool moved = Move(client_, server_) | Move(server_, client_);
      if (!moved) return;
    }
    FAIL() << "link never went quiet";
  }
  bool Move(Side& from, Side& to) {
    bool moved = false;
    while (from.s->HasFrame()) {
      std::string frame = from.s->TakeFrame();
      if (frame.empty()) break;
      ++frames_;
      to.s->OnFrame(frame, now_);
      moved = true;
    }
    return moved;
  }
  absl::Status Send(Side& from, const std::string& payload,
                    CallDone done = nullptr, bool reply = false,
                    absl::Duration within = absl::ZeroDuration()) {
    return from.s->Call("t.S/M", payload, reply, within, std::move(done), now_);
  }

  Side client_;
  Side server_;
  absl::Time now_ = kStart;
  int frames_ = 0;
};

TEST_F(SessionPair, HandshakeOpensANewSessionOnBothSides) {
  Connect();
  EXPECT_TRUE(client_.s->open());
  EXPECT_TRUE(server_.s->open());
  EXPECT_EQ(client_.s->session_id(), "server-id-1");
  EXPECT_EQ(client_.Count(EventType::kConnected), 1);
  EXPECT_EQ(client_.Count(EventType::kNewSession), 1);
  EXPECT_EQ(server_.Count(EventType::kNewSession), 1);
}

TEST_F(SessionPair, MessageCompletesOkOnceTheHandlerFinished) {
  Connect();
  server_.handler = [](Side& side, Delivery& d) { side.held.push_back(d); };
  std::vector<absl::Status> done;
  ASSERT_TRUE(Send(client_, "hi", [&](absl::StatusOr<std::string> r) {
                done.push_back(r.status());
              }).ok());
  Pump();
  ASSERT_EQ(server_.held.size(), 1u);
  EXPECT_EQ(server_.held[0].payload, "hi");
  EXPECT_TRUE(done.empty()) << "acked before the handler finished";
  server_.s->Finish(server_.held[0].id, std::string());
  Pump();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_TRUE(done[0].ok());
  EXPECT_EQ(client_.s->stats().unacked_envelopes, 0u);
}

// An acked call's payload comes back in the effects, for the link to
// recycle as the buffer of a later call; an unacked one stays.
TEST_F(SessionPair, AckedPayloadsAreReleasedForReuse) {
  Connect();
  server_.handler = [](Side& side, Delivery& d) { side.held.push_back(d); };
  ASSERT_TRUE(Send(client_, "first").ok());
  ASSERT_TRUE(Send(client_, "second").ok());
  Pump();
  ASSERT_EQ(server_.held.size(), 2u);
  server_.s->Finish(server_.held[0].id, std::string());
  Pump();
  EXPECT_EQ(client_.released, std::vector<std::string>{"first"});
  server_.s->Finish(server_.held[1].id, std::string());
  Pump();
  EXPECT_EQ(client_.released, (std::vector<std::string>{"first", "second"}));
}

// CheckCall remembers the last call's name and size; every other name is
// still checked, and the size still grows with each payload.
TEST_F(SessionPair, EveryCallIsCheckedThoughTheLastShapeIsRemembered) {
  Connect();
  absl::Time now = now_;
  auto call = [&](absl::string_view method, size_t payload_bytes) {
    return client_.s->Call(method, std::string(payload_bytes, 'x'), false,
                           absl::ZeroDuration(), nullptr, now);
  };
  EXPECT_TRUE(call("t.S/M", 1).ok());
  for (absl::string_view bad : {"", "t.S", "t.S/M/x", "/M"}) {
    absl::Status refused = call(bad, 1);
    EXPECT_TRUE(absl::IsInvalidArgument(refused)) << bad << ": " << refused;
    EXPECT_NE(refused.message().find("malformed method name"),
              std::string::npos);
  }
  EXPECT_TRUE(call("t.S/M", 1).ok());
  const size_t limit = Options(Role::kClient).max_frame_bytes;
  absl::Status too_big = call("t.S/M", limit);
  EXPECT_TRUE(absl::IsInvalidArgument(too_big)) << too_big;
  EXPECT_TRUE(call("t.S/M", 2).ok());
  Pump();
  EXPECT_EQ(client_.s->stats().unacked_envelopes, 0u);
}

TEST_F(SessionPair, RequestGetsTheReplyPayload) {
  Connect();
  server_.handler = [](Side& side, Delivery& d) {
    EXPECT_TRUE(d.reply_wanted);
    side.s->Finish(d.id, absl::StrCat("re:", d.payload));
  };
  absl::StatusOr<std::string> reply;
  ASSERT_TRUE(Send(
                  client_, "q",
                  [&](absl::StatusOr<std::string> r) { reply = r; },
                  /*reply=*/true)
                  .ok());
  Pump();
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply, "re:q");
}

TEST_F(SessionPair, ServerCanCallTheClient) {
  Connect();
  absl::StatusOr<std::string> reply;
  ASSERT_TRUE(Send(
                  server_, "push",
                  [&](absl::StatusOr<std::string> r) { reply = r; },
                  /*reply=*/true)
                  .ok());
  Pump();
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply, "push");
}

TEST_F(SessionPair, HandlerErrorReachesTheCallerBeforeTheAck) {
  Connect();
  server_.handler = [](Side& side, Delivery& d) {
    side.s->Finish(d.id, absl::NotFoundError(absl::StrCat("no ", d.payload)));
  };
  std::vector<absl::Status> done;
  for (const char* p : {"a", "b"}) {
    ASSERT_TRUE(Send(client_, p, [&](absl::StatusOr<std::string> r) {
                  done.push_back(r.status());
                }).ok());
  }
  Pump();
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0], absl::NotFoundError("no a"));
  EXPECT_EQ(done[1], absl::NotFoundError("no b"));
}

TEST_F(SessionPair, FailedMessageWithoutCallbackRaisesAckFailed) {
  Connect();
  server_.handler = [](Side& side, Delivery& d) {
    side.s->Finish(d.id, absl::InternalError("boom"));
  };
  ASSERT_TRUE(Send(client_, "x").ok());
  Pump();
  ASSERT_EQ(client_.Count(EventType::kAckFailed), 1);
  EXPECT_EQ(client_.events.back().seq, 1u);
  EXPECT_EQ(client_.events.back().status, absl::InternalError("boom"));
}

TEST_F(SessionPair, AcksAreCumulativeAndBatched) {
  Connect();
  int ok = 0;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(Send(client_, "m", [&](absl::StatusOr<std::string> r) {
                  ok += r.ok();
                }).ok());
  }
  frames_ = 0;
  Pump();
  EXPECT_EQ(ok, 100);
  // One frame carries the 100 MSGs, one frame the single ACK for all.
  EXPECT_EQ(frames_, 2);
}

TEST_F(SessionPair, OutOfOrderFinishAcksOnlyTheContiguousPrefix) {
  Connect();
  server_.handler = [](Side& side, Delivery& d) { side.held.push_back(d); };
  std::vector<int> done;
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(Send(client_, "m", [&done, i](absl::StatusOr<std::string> r) {
                  if (r.ok()) done.push_back(i);
                }).ok());
  }
  Pump();
  ASSERT_EQ(server_.held.size(), 3u);
  server_.s->Finish(server_.held[2].id, std::string());
  server_.s->Finish(server_.held[1].id, std::string());
  Pump();
  EXPECT_TRUE(done.empty());
  server_.s->Finish(server_.held[0].id, std::string());
  Pump();
  EXPECT_EQ(done, (std::vector<int>{1, 2, 3}));
}

// A message's status-only callback (CallDone holding an AckCallback) gets
// the same outcomes a RawDoneCallback would: OK once processed, or the
// deadline's failure.
TEST_F(SessionPair, AckCallbackGetsTheOutcomeOfItsMessage) {
  Connect();
  server_.handler = [](Side& side, Delivery& d) { side.held.push_back(d); };
  std::vector<std::pair<int, absl::Status>> done;
  for (int i = 1; i <= 2; ++i) {
    AckCallback on_ack = [&done, i](absl::Status s) {
      done.emplace_back(i, s);
    };
    ASSERT_TRUE(
        Send(client_, "m", std::move(on_ack), false, absl::Seconds(i * 5))
            .ok());
  }
  Pump();
  ASSERT_EQ(server_.held.size(), 2u);
  server_.s->Finish(server_.held[1].id, std::string());
  Pump();
  client_.s->Tick(kStart + absl::Seconds(5));
  client_.Drain();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].first, 1);
  EXPECT_TRUE(absl::IsDeadlineExceeded(done[0].second)) << done[0].second;
  server_.s->Finish(server_.held[0].id, std::string());
  Pump();
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[1].first, 2);
  EXPECT_TRUE(done[1].second.ok()) << done[1].second;
}

TEST_F(SessionPair, DeadlinePassingFirstGivesDeadlineExceededOnce) {
  Connect();
  server_.handler = [](Side& side, Delivery& d) { side.held.push_back(d); };
  std::vector<absl::Status> done;
  ASSERT_TRUE(
      Send(
          client_, "slow",
          [&](absl::StatusOr<std::string> r) { done.push_back(r.status()); },
          false, absl::Seconds(5))
          .ok());
  Pump();
  EXPECT_EQ(client_.s->NextDeadline(), kStart + absl::Seconds(5));
  client_.s->Tick(kStart + absl::Seconds(4));
  client_.Drain();
  EXPECT_TRUE(done.empty());
  client_.s->Tick(kStart + absl::Seconds(5));
  client_.Drain();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_TRUE(absl::IsDeadlineExceeded(done[0])) << done[0];
  server_.s->Finish(server_.held[0].id, std::string());
  Pump();
  EXPECT_EQ(done.size(), 1u) << "a late ack completed the call again";
  EXPECT_EQ(client_.s->stats().unacked_envelopes, 0u);
}

TEST_F(SessionPair, StopCancelsPendingCallsAndSaysGoodbye) {
  Connect();
  server_.handler = [](Side& side, Delivery& d) { side.held.push_back(d); };
  std::vector<absl::Status> done;
  ASSERT_TRUE(Send(client_, "m", [&](absl::StatusOr<std::string> r) {
                done.push_back(r.status());
              }).ok());
  Pump();
  client_.s->Stop(absl::CancelledError("client stopped"));
  Pump();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_TRUE(absl::IsCancelled(done[0]));
  EXPECT_TRUE(server_.s->stopped());
  ASSERT_EQ(server_.closes.size(), 1u);
  EXPECT_EQ(server_.closes[0].code, wire::kCloseNormal);
  EXPECT_TRUE(absl::IsFailedPrecondition(Send(client_, "late")));
}

TEST_F(SessionPair, CallsAboveTheUnackedBoundAreRefusedAndKeptByTheCaller) {
  SessionOptions options = Options(Role::kClient);
  options.flow.max_pending_messages = 2;
  client_.s = std::make_unique<Session>(options);
  ASSERT_TRUE(Send(client_, "1").ok());
  ASSERT_TRUE(Send(client_, "2").ok());
  EXPECT_TRUE(absl::IsResourceExhausted(Send(client_, "3")));
  Connect();  // the two queued while disconnected go out now
  EXPECT_EQ(client_.s->stats().unacked_envelopes, 0u);
  EXPECT_TRUE(Send(client_, "3").ok());
}

// The steps SessionLink's intake takes: a call checked by a CallAdmission
// against a copy of the session's state (to which the intake adds its own
// calls), then checked again by the session and taken, or refused: its
// callback, or without one a kAckFailed event, gets the status.
TEST_F(SessionPair, AnIntakesCallIsCheckedOnACopyThenTakenOrRefused) {
  SessionOptions options = Options(Role::kClient);
  options.flow.max_pending_messages = 2;
  client_.s = std::make_unique<Session>(options);
  CallAdmission admission(options.max_frame_bytes, options.flow);
  AdmissionState state = client_.s->admission_state();
  const absl::Duration none = absl::ZeroDuration();
  bool shut = false;
  EXPECT_TRUE(admission.Check("t.S/M", 1, false, none, state, &shut).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(
      admission.Check("no-service", 1, false, none, state, &shut)));
  state.messages = 2;  // two calls in the intake fill the send buffer
  EXPECT_TRUE(absl::IsResourceExhausted(
      admission.Check("t.S/M", 1, false, none, state, &shut)));
  state.messages = 0;
  state.frame_limit = 64;  // a peer's, below this side's
  absl::Status big = admission.Check("t.S/M", 100, false, none, state, &shut);
  EXPECT_TRUE(absl::IsInvalidArgument(big)) << big;
  EXPECT_NE(big.message().find("peer's max_frame_bytes 64"), std::string::npos)
      << big;

  ASSERT_TRUE(client_.s->CheckCall("t.S/M", 1, false, none).ok());
  client_.s->TakeChecked("x", none, nullptr, now_);
  EXPECT_EQ(client_.s->admission_state().messages, 1u);
  EXPECT_EQ(client_.s->stats().pending_calls, 1u);

  client_.s->Stop(absl::CancelledError("stopped"));
  EXPECT_TRUE(client_.s->admission_state().stopped);
  absl::Status refused = client_.s->CheckCall("t.S/M", 1, false, none);
  EXPECT_TRUE(absl::IsFailedPrecondition(refused)) << refused;
  std::vector<absl::Status> done;
  client_.s->Refuse(
      [&](absl::StatusOr<std::string> r) { done.push_back(r.status()); },
      refused);
  client_.s->Refuse(nullptr, refused);
  client_.Drain();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0], refused);
  // The taken call, cancelled by Stop, and the refused one without a
  // callback.
  ASSERT_EQ(client_.Count(EventType::kAckFailed), 2);
  EXPECT_EQ(client_.events.back().status, refused);
}

// --- Credit windows (backpressure).

// A server whose handlers hold every delivery until the test finishes it.
class WindowTest : public SessionPair {
 protected:
  void Use(SessionOptions client, SessionOptions server) {
    client_.s = std::make_unique<Session>(std::move(client));
    server_.s = std::make_unique<Session>(std::move(server));
    server_.handler = [](Side& side, Delivery& d) { side.held.push_back(d); };
  }
  static SessionOptions Window(Role role, uint32_t messages,
                               uint64_t bytes = 1 << 20) {
    SessionOptions options =
        Options(role, role == Role::kServer ? "server-id-1" : "");
    options.flow.receive_window = messages;
    options.flow.receive_window_bytes = bytes;
    return options;
  }
  // A kReject client, connected to a server whose window is `messages`.
  void ConnectRejecting(uint32_t messages) {
    SessionOptions client = Options(Role::kClient);
    client.flow.policy = BackpressurePolicy::kReject;
    Use(client, Window(Role::kServer, messages));
    Connect();
  }
  // Finishes the oldest held delivery.
  void FinishOne() {
    ASSERT_FALSE(server_.held.empty());
    Delivery d = std::move(server_.held.front());
    server_.held.erase(server_.held.begin());
    server_.s->Finish(d.id, std::string());
    Pump();
  }
};

TEST_F(WindowTest, OutstandingCallsNeverExceedThePeersWindow) {
  Use(Options(Role::kClient), Window(Role::kServer, 3));
  Connect();
  std::vector<int> done;
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(Send(client_, absl::StrCat(i), [&done, i](auto r) {
                  ASSERT_TRUE(r.ok());
                  done.push_back(i);
                }).ok());
  }
  Pump();
  EXPECT_EQ(server_.held.size(), 3u);
  SessionStats stats = client_.s->stats();
  EXPECT_EQ(stats.outstanding_messages, 3u);
  EXPECT_EQ(stats.queued_messages, 7u);
  EXPECT_EQ(stats.peer_window, 3u);
  EXPECT_TRUE(stats.backpressured);
  EXPECT_EQ(client_.Count(EventType::kBackpressureWait), 1);
  std::vector<std::string> delivered;
  while (!server_.held.empty()) {
    delivered.emplace_back(server_.held.front().payload);
    FinishOne();
    EXPECT_LE(client_.s->stats().outstanding_messages, 3u);
    EXPECT_LE(server_.s->stats().unprocessed_messages, 3u);
  }
  EXPECT_EQ(delivered, (std::vector<std::string>{"0", "1", "2", "3", "4", "5",
                                                 "6", "7", "8", "9"}));
  EXPECT_EQ(done, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(client_.Count(EventType::kBackpressureResume), 1);
  EXPECT_FALSE(client_.s->stats().backpressured);
}

TEST_F(WindowTest, ByteWindowHoldsBackCallsButLetsOneLargeCallGoAlone) {
  Use(Options(Role::kClient), Window(Role::kServer, 100, /*bytes=*/100));
  Connect();
  ASSERT_TRUE(Send(client_, std::string(60, 'a')).ok());
  ASSERT_TRUE(Send(client_, std::string(60, 'b')).ok());
  ASSERT_TRUE(Send(client_, std::string(500, 'c')).ok());
  Pump();
  ASSERT_EQ(server_.held.size(), 1u);  // 60 + 60 > 100
  FinishOne();
  ASSERT_EQ(server_.held.size(), 1u);
  EXPECT_EQ(server_.held[0].payload[0], 'b');
  FinishOne();
  ASSERT_EQ(server_.held.size(), 1u);  // 500 > 100, but the window is empty
  EXPECT_EQ(server_.held[0].payload.size(), 500u);
  FinishOne();
  EXPECT_EQ(client_.s->stats().pending_calls, 0u);
}

TEST_F(WindowTest, RejectPolicyRefusesWhileShutAndTheCallerKeepsTheCall) {
  ConnectRejecting(2);
  ASSERT_TRUE(Send(client_, "1").ok());
  ASSERT_TRUE(Send(client_, "2").ok());
  Pump();
  absl::Status refused = Send(client_, "3");
  EXPECT_TRUE(absl::IsResourceExhausted(refused)) << refused;
  EXPECT_NE(refused.message().find("window is shut"), std::string::npos);
  EXPECT_TRUE(absl::IsResourceExhausted(Send(client_, "3")));
  client_.Drain();
  EXPECT_EQ(client_.Count(EventType::kBackpressureWait), 1);
  EXPECT_EQ(client_.s->stats().queued_messages, 0u);
  FinishOne();
  EXPECT_EQ(client_.Count(EventType::kBackpressureResume), 1);
  ASSERT_TRUE(Send(client_, "3").ok());
  Pump();
  FinishOne();
  FinishOne();
  EXPECT_EQ(client_.s->stats().pending_calls, 0u);
}

// A call an intake accepted while the window had room is taken even if
// the window shut before the hand-over (a resume put the unacked calls
// back in the queue, say): under kReject too, it waits for credit rather
// than failing after its caller heard OK.
TEST_F(WindowTest, AnAcceptedCallQueuesEvenUnderRejectOnceTheWindowShut) {
  ConnectRejecting(1);
  ASSERT_TRUE(Send(client_, "1").ok());
  Pump();
  const absl::Duration none = absl::ZeroDuration();
  EXPECT_TRUE(
      absl::IsResourceExhausted(client_.s->CheckCall("t.S/M", 1, false, none)));
  ASSERT_TRUE(client_.s->CheckAccepted("t.S/M", 1, false, none).ok());
  std::vector<absl::Status> done;
  client_.s->TakeChecked(
      "2", none,
      [&](absl::StatusOr<std::string> r) { done.push_back(r.status()); }, now_);
  EXPECT_EQ(client_.s->stats().queued_messages, 1u);
  FinishOne();  // acks "1": "2" takes the window
  FinishOne();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_TRUE(done[0].ok()) << done[0];
  // Stopped, it is refused after all.
  client_.s->Stop(absl::CancelledError("stopped"));
  EXPECT_TRUE(absl::IsFailedPrecondition(
      client_.s->CheckAccepted("t.S/M", 1, false, none)));
}

TEST_F(WindowTest, RepliesPassAShutWindow) {
  // The client holds the server's call, so the server's window towards it
  // is shut; the server's REPLY to the client's request still goes out.
  Use(Window(Role::kClient, 1), Window(Role::kServer, 8));
  client_.handler = [](Side& side, Delivery& d) { side.held.push_back(d); };
  server_.handler = [](Side& side, Delivery& d) {
    side.s->Finish(d.id, absl::StrCat("re:", d.payload));
  };
  Connect();
  ASSERT_TRUE(Send(server_, "held").ok());
  ASSERT_TRUE(Send(server_, "queued").ok());
  Pump();
  EXPECT_EQ(server_.s->stats().queued_messages, 1u);
  std::string reply;
  ASSERT_TRUE(Send(
                  client_, "ask",
                  [&](absl::StatusOr<std::string> r) { reply = r.value(); },
                  /*reply=*/true)
                  .ok());
  Pump();
  EXPECT_EQ(reply, "re:ask");
  EXPECT_EQ(client_.held.size(), 1u);
  EXPECT_EQ(server_.s->stats().queued_messages, 1u);
}

TEST_F(WindowTest, CallsQueuedWhileDisconnectedWaitForTheWindow) {
  Use(Options(Role::kClient), Window(Role::kServer, 2));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Send(client_, "m").ok());
  EXPECT_EQ(client_.s->stats().queued_messages, 5u);
  client_.Drain();
  EXPECT_EQ(client_.Count(EventType::kBackpressureWait), 0);  // not known yet
  Connect();
  EXPECT_EQ(server_.held.size(), 2u);
  EXPECT_EQ(client_.s->stats().queued_messages, 3u);
  for (int i = 0; i < 5; ++i) FinishOne();
  EXPECT_EQ(client_.s->stats().pending_calls, 0u);
}

TEST_F(WindowTest, DeadlineOfAQueuedCallFailsItWithoutSendingIt) {
  Use(Options(Role::kClient), Window(Role::kServer, 1));
  Connect();
  ASSERT_TRUE(Send(client_, "first").ok());
  Pump();
  absl::Status outcome;
  ASSERT_TRUE(Send(
                  client_, "late",
                  [&](absl::StatusOr<std::string> r) { outcome = r.status(); },
                  false, absl::Milliseconds(10))
                  .ok());
  now_ += absl::Milliseconds(10);
  client_.s->Tick(now_);
  client_.Drain();
  EXPECT_TRUE(absl::IsDeadlineExceeded(outcome)) << outcome;
  EXPECT_NE(outcome.message().find("never sent"), std::string::npos);
  FinishOne();
  EXPECT_TRUE(server_.held.empty());  // "late" never went out
  EXPECT_EQ(client_.s->stats().queued_messages, 0u);
}

TEST_F(WindowTest, PeerOverrunningTheWindowIsCutOffWithPolicyViolation) {
  Use(Options(Role::kClient), Window(Role::kServer, 2));
  Connect();
  std::vector<wire::Envelope> msgs(3);
  for (int i = 0; i < 3; ++i) {
    msgs[i].mutable_msg()->set_seq(i + 1);
    msgs[i].mutable_msg()->set_method("t.S/M");
  }
  server_.s->OnFrame(wire::EncodeFrame(msgs), now_);
  server_.Drain();
  EXPECT_EQ(server_.held.size(), 2u);
  ASSERT_EQ(server_.closes.size(), 1u);
  EXPECT_EQ(server_.closes[0].code, wire::kClosePolicyViolation);
  EXPECT_NE(server_.closes[0].reason.find("overran the receive window"),
            std::string::npos);
}

TEST_F(WindowTest, CallAboveThePeersMaxFrameFailsWithTheReason) {
  SessionOptions server = Window(Role::kServer, 8);
  server.max_frame_bytes = 2048;
  Use(Options(Role::kClient), server);
  absl::Status queued_outcome;
  // Accepted before the handshake told the peer's limit...
  ASSERT_TRUE(
      Send(client_, std::string(4000, 'x'), [&](absl::StatusOr<std::string> r) {
        queued_outcome = r.status();
      }).ok());
  Connect();
  // ...then failed instead of sent (the peer would close with 1009).
  EXPECT_TRUE(absl::IsInvalidArgument(queued_outcome)) << queued_outcome;
  EXPECT_NE(queued_outcome.message().find("peer's max_frame_bytes 2048"),
            std::string::npos);
  absl::Status refused = Send(client_, std::string(4000, 'x'));
  EXPECT_TRUE(absl::IsInvalidArgument(refused)) << refused;
  EXPECT_TRUE(server_.held.empty());
  EXPECT_TRUE(server_.closes.empty());
}

// --- Restart from a durable buffer.

TEST_F(SessionPair, RestoredClientSendsAgainAndTheServerDropsWhatItHasById) {
  server_.handler = [](Side& side, Delivery& d) { side.held.push_back(d); };
  Connect();
  for (const char* p : {"a", "b", "c"}) ASSERT_TRUE(Send(client_, p).ok());
  ASSERT_TRUE(Send(server_, "to-client").ok());
  Pump();
  ASSERT_EQ(server_.held.size(), 3u);
  // The server finishes "a"; "b" and "c" are still running when the
  // client process dies.
  server_.s->Finish(server_.held[0].id, std::string());
  Pump();
  Disconnect();
  // The restarted client has only its durable buffer: session id and the
  // calls not yet acked (ids 2 and 3), no seqs.
  client_.s = std::make_unique<Session>(Options(Role::kClient));
  client_.s->Restore("server-id-1", 2);
  ASSERT_TRUE(client_.s
                  ->CallStored(2, "t.S/M", "b", false, absl::ZeroDuration(),
                               nullptr, now_)
                  .ok());
  ASSERT_TRUE(client_.s
                  ->CallStored(3, "t.S/M", "c", false, absl::ZeroDuration(),
                               nullptr, now_)
                  .ok());
  ASSERT_TRUE(Send(client_, "d").ok());
  Connect();
  EXPECT_EQ(client_.Count(EventType::kResumed), 1);
  // "b" and "c" came again under new seqs and were dropped by id; "d" is
  // new. Nothing was delivered twice.
  ASSERT_EQ(server_.held.size(), 4u);
  EXPECT_EQ(server_.held[3].payload, "d");
  for (size_t i = 1; i < server_.held.size(); ++i) {
    server_.s->Finish(server_.held[i].id, std::string());
  }
  Pump();
  EXPECT_TRUE(client_.closes.empty());
  EXPECT_TRUE(server_.closes.empty());
  SessionStats stats = client_.s->stats();
  EXPECT_EQ(stats.outstanding_messages, 0u);
  EXPECT_EQ(stats.pending_calls, 0u);
  // The server's stream went on where the old client had acked it.
  EXPECT_EQ(stats.received_through, server_.s->stats().next_seq - 1);
}

TEST_F(SessionPair, DoneCallsAreReportedForTheDurableBuffer) {
  SessionOptions options = Options(Role::kServer, "server-id-1");
  options.flow.receive_window = 1;
  server_.s = std::make_unique<Session>(options);
  Connect();
  uint64_t done_through = 0;
  auto drain = [&] {
    Effects effects = client_.s->TakeEffects();
    if (effects.calls_done_through != 0) {
      done_through = effects.calls_done_through;
    }
    for (Completion& c : effects.completions) c.done(std::move(c.result));
  };
  ASSERT_TRUE(Send(client_, "1").ok());
  ASSERT_TRUE(Send(client_, "2", nullptr, false, absl::Milliseconds(5)).ok());
  now_ += absl::Milliseconds(5);
  client_.s->Tick(now_);  // "2" expires while queued: done, never sent
  drain();
  EXPECT_EQ(done_through, 0u);  // "1" is not acked yet
  while (client_.s->HasFrame())
    server_.s->OnFrame(client_.s->TakeFrame(), now_);
  server_.Drain();
  while (server_.s->HasFrame())
    client_.s->OnFrame(server_.s->TakeFrame(), now_);
  drain();
  EXPECT_EQ(done_through, 2u);
}

TEST_F(SessionPair, OversizeCallIsRefused) {
  EXPECT_TRUE(
      absl::IsInvalidArgument(Send(client_, std::string(2 << 20, 'x'))));
}

TEST_F(SessionPair, FramesStayUnderMaxFrameBytes) {
  Connect();
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(Send(client_, std::string(100 << 10, 'x')).ok());
  }
  int big = 0;
  while (client_.s->HasFrame()) {
    std::string frame = client_.s->TakeFrame();
    EXPECT_LE(frame.size(), size_t{1} << 20);
    server_.s->OnFrame(frame, now_);
    ++big;
  }
  EXPECT_GE(big, 4);
  Pump();
  EXPECT_EQ(server_.s->stats().processed_through, 40u);
}

TEST_F(SessionPair, ResumeRetransmitsEverythingAboveReceivedThrough) {
  Connect();
  std::vector<std::string> got;
  server_.handler = [&](Side& side, Delivery& d) {
    got.emplace_back(d.payload);
    side.s->Finish(d.id, std::string());
  };
  ASSERT_TRUE(Send(client_, "1").ok());
  Pump();
  ASSERT_TRUE(Send(client_, "2").ok());
  // "2" reaches the server and is processed, but its ACK and "3" are lost.
  server_.s->OnFrame(client_.s->TakeFrame(), now_);
  server_.Drain();
  ASSERT_TRUE(Send(client_, "3").ok());
  ASSERT_FALSE(client_.s->TakeFrame().empty());
  Disconnect();
  ASSERT_TRUE(Send(client_, "4").ok());  // queued while disconnected
  server_.s->OnConnected(now_);
  client_.s->OnConnected(now_);
  Pump();
  EXPECT_EQ(client_.Count(EventType::kResumed), 1);
  EXPECT_EQ(got, (std::vector<std::string>{"1", "2", "3", "4"}));
  EXPECT_EQ(client_.s->stats().unacked_envelopes, 0u);
}

TEST_F(SessionPair, DuplicatesAreDroppedAndAckedAgain) {
  Connect();
  int delivered = 0;
  server_.handler = [&](Side& side, Delivery& d) {
    ++delivered;
    side.s->Finish(d.id, std::string());
  };
  ASSERT_TRUE(Send(client_, "1").ok());
  std::string frame = client_.s->TakeFrame();
  server_.s->OnFrame(frame, now_);
  server_.Drain();
  server_.s->OnFrame(frame, now_);  // the same MSG again
  server_.Drain();
  EXPECT_EQ(delivered, 1);
  EXPECT_TRUE(server_.s->HasFrame());
  Pump();
  EXPECT_EQ(client_.s->stats().unacked_envelopes, 0u);
}

// A MSG the hand decoder leaves to protobuf (it carries a field this build
// does not know) is delivered all the same, and its Delivery outlives the
// frame it came in, as the hand-decoded ones do.
TEST_F(SessionPair, MsgWithAnUnknownFieldIsDeliveredAndOutlivesItsFrame) {
  Connect();
  server_.handler = [](Side& side, Delivery& d) { side.held.push_back(d); };
  std::vector<wire::Envelope> msgs(2);
  for (int i = 0; i < 2; ++i) {
    wire::Msg* msg = msgs[i].mutable_msg();
    msg->set_seq(i + 1);
    msg->set_method("t.S/M");
    msg->set_payload(std::string(100, static_cast<char>('a' + i)));
  }
  msgs[1]
      .mutable_msg()
      ->GetReflection()
      ->MutableUnknownFields(msgs[1].mutable_msg())
      ->AddVarint(15, 7);
  server_.s->OnFrame(wire::EncodeFrame(msgs), now_);
  // Read after OnFrame returned: had the second delivery kept views into
  // the arena protobuf decoded it on, they would point into freed memory
  // (the 100-byte payload is a heap block there: ASan reports it).
  server_.Drain();
  ASSERT_EQ(server_.held.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(server_.held[i].method, "t.S/M") << i;
    EXPECT_EQ(server_.held[i].payload,
              std::string(100, static_cast<char>('a' + i)))
        << i;
  }
  EXPECT_TRUE(server_.closes.empty());
}

TEST_F(SessionPair, NewSessionResendsUnackedCallsRenumbered) {
  Connect();
  server_.handler = [](Side& side, Delivery& d) { side.held.push_back(d); };
  std::vector<absl::Status> done;
  for (const char* p : {"a", "b"}) {
    ASSERT_TRUE(Send(client_, p, [&](absl::StatusOr<std::string> r) {
                  done.push_back(r.status());
                }).ok());
  }
  Pump();
  Disconnect();
  // The server forgot the session (restart): a fresh core with a new id.
  server_.s = std::make_unique<Session>(Options(Role::kServer, "server-id-2"));
  server_.held.clear();
  server_.handler = [](Side& side, Delivery& d) {
    side.s->Finish(d.id, std::string());
  };
  Connect();
  EXPECT_EQ(client_.Count(EventType::kNewSession), 2);
  EXPECT_EQ(client_.s->session_id(), "server-id-2");
  ASSERT_EQ(done.size(), 2u);
  EXPECT_TRUE(done[0].ok() && done[1].ok());
  EXPECT_EQ(server_.s->stats().processed_through, 2u);
}

// --- Bad input: each refused with a clear error, never fatal to the process.

TEST_F(SessionPair, GarbageClosesWithInvalidPayload) {
  Connect();
  server_.s->OnFrame("\xff\xfe garbage", now_);
  server_.Drain();
  ASSERT_EQ(server_.closes.size(), 1u);
  EXPECT_EQ(server_.closes[0].code, wire::kCloseInvalidPayload);
  absl::StatusOr<wire::Frame> error = wire::DecodeFrame(server_.s->TakeFrame());
  ASSERT_TRUE(error.ok());
  ASSERT_TRUE(error->envelopes(0).has_error());
  EXPECT_TRUE(error->envelopes(0).error().fatal());
}

TEST_F(SessionPair, MsgBeforeHelloIsAProtocolError) {
  server_.s->OnConnected(now_);
  wire::Envelope envelope;
  envelope.mutable_msg()->set_seq(1);
  envelope.mutable_msg()->set_method("t.S/M");
  server_.s->OnFrame(wire::EncodeFrame({envelope}), now_);
  server_.Drain();
  ASSERT_EQ(server_.closes.size(), 1u);
  EXPECT_EQ(server_.closes[0].code, wire::kCloseProtocolError);
  EXPECT_NE(server_.closes[0].reason.find("MSG before the handshake"),
            std::string::npos);
}

TEST_F(SessionPair, UnknownKindGetsANonFatalError) {
  Connect();
  wire::Frame frame;
  wire::Envelope* unknown = frame.add_envelopes();
  unknown->GetReflection()->MutableUnknownFields(unknown)->AddVarint(99, 1);
  server_.s->OnFrame(frame.SerializeAsString(), now_);
  server_.Drain();
  EXPECT_TRUE(server_.closes.empty());
  EXPECT_EQ(server_.Count(EventType::kError), 1);
  Pump();
  EXPECT_EQ(client_.Count(EventType::kError), 1);
  EXPECT_TRUE(absl::IsUnimplemented(client_.events.back().status));
  ASSERT_TRUE(Send(client_, "still fine").ok());
  Pump();
  EXPECT_EQ(server_.s->stats().processed_through, 1u);
}

TEST_F(SessionPair, SequenceGapIsAProtocolError) {
  Connect();
  wire::Envelope envelope;
  envelope.mutable_msg()->set_seq(5);
  envelope.mutable_msg()->set_method("t.S/M");
  server_.s->OnFrame(wire::EncodeFrame({envelope}), now_);
  server_.Drain();
  ASSERT_EQ(server_.closes.size(), 1u);
  EXPECT_NE(server_.closes[0].reason.find("expected seq 1, got 5"),
            std::string::npos);
}

TEST_F(SessionPair, AckBeyondWhatWasSentIsAProtocolError) {
  Connect();
  wire::Envelope envelope;
  envelope.mutable_ack()->set_through(3);
  client_.s->OnFrame(wire::EncodeFrame({envelope}), now_);
  client_.Drain();
  ASSERT_EQ(client_.closes.size(), 1u);
  EXPECT_EQ(client_.closes[0].code, wire::kCloseProtocolError);
}

TEST_F(SessionPair, WrongProtocolVersionIsRefused) {
  server_.s->OnConnected(now_);
  wire::Envelope envelope;
  envelope.mutable_hello()->set_protocol_version(99);
  server_.s->OnFrame(wire::EncodeFrame({envelope}), now_);
  server_.Drain();
  ASSERT_EQ(server_.closes.size(), 1u);
  EXPECT_NE(server_.closes[0].reason.find("protocol version 99"),
            std::string::npos);
}

TEST_F(SessionPair, NewSessionDoesNotRunAnsweredRequestsAgain) {
  Connect();
  int runs = 0;
  server_.handler = [&](Side& side, Delivery& d) {
    ++runs;
    side.s->Finish(d.id, "answer");
  };
  absl::StatusOr<std::string> reply;
  ASSERT_TRUE(Send(
                  client_, "q",
                  [&](absl::StatusOr<std::string> r) { reply = r; },
                  /*reply=*/true)
                  .ok());
  server_.s->OnFrame(client_.s->TakeFrame(), now_);
  server_.Drain();
  // The REPLY arrives; the ACK behind it is lost with the server.
  absl::StatusOr<wire::Frame> frame = wire::DecodeFrame(server_.s->TakeFrame());
  ASSERT_TRUE(frame.ok());
  wire::Frame reply_only;
  for (const wire::Envelope& e : frame->envelopes()) {
    if (e.has_reply()) *reply_only.add_envelopes() = e;
  }
  client_.s->OnFrame(reply_only.SerializeAsString(), now_);
  client_.Drain();
  ASSERT_TRUE(reply.ok()) << reply.status();
  Disconnect();
  server_.s = std::make_unique<Session>(Options(Role::kServer, "server-id-2"));
  Connect();
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(client_.s->stats().unacked_envelopes, 0u);
}

// --- Liveness: a dead peer is noticed within ping_interval + ping_timeout.

class Liveness : public SessionPair {
 protected:
  Liveness() {
    SessionOptions options = Options(Role::kClient);
    options.ping_interval = absl::Seconds(15);
    options.ping_timeout = absl::Seconds(10);
    client_.s = std::make_unique<Session>(options);
    Connect();
  }
  // Advances the fake clock to `t` and runs the client's timers.
  void TickClientAt(absl::Time t) {
    now_ = t;
    client_.s->Tick(now_);
    client_.Drain();
  }
};

TEST_F(Liveness, SilentPeerGetsAPingAfterTheInterval) {
  EXPECT_EQ(client_.s->NextDeadline(), kStart + absl::Seconds(15));
  TickClientAt(kStart + absl::Seconds(14));
  EXPECT_FALSE(client_.s->HasFrame());
  TickClientAt(kStart + absl::Seconds(15));
  absl::StatusOr<wire::Frame> frame = wire::DecodeFrame(client_.s->TakeFrame());
  ASSERT_TRUE(frame.ok());
  EXPECT_TRUE(frame->envelopes(0).has_ping());
}

TEST_F(Liveness, UnansweredPingDropsTheConnectionWithinIntervalPlusTimeout) {
  TickClientAt(kStart + absl::Seconds(15));
  client_.s->TakeFrame();  // the PING is swallowed by a dead link
  EXPECT_EQ(client_.s->NextDeadline(), kStart + absl::Seconds(25));
  TickClientAt(kStart + absl::Seconds(25) - absl::Milliseconds(1));
  EXPECT_TRUE(client_.closes.empty());
  TickClientAt(kStart + absl::Seconds(25));
  ASSERT_EQ(client_.closes.size(), 1u);
  EXPECT_EQ(client_.closes[0].code, wire::kClosePeerUnresponsive);
  EXPECT_TRUE(client_.closes[0].abort);
}

TEST_F(Liveness, AnsweredPingKeepsTheConnection) {
  TickClientAt(kStart + absl::Seconds(15));
  Pump();  // the server answers PONG
  TickClientAt(kStart + absl::Seconds(29));
  EXPECT_TRUE(client_.closes.empty());
  EXPECT_EQ(client_.s->NextDeadline(), kStart + absl::Seconds(30));
}

TEST_F(Liveness, TrafficCountsAsAnswer) {
  TickClientAt(kStart + absl::Seconds(10));
  ASSERT_TRUE(Send(server_, "hello").ok());
  Pump();
  EXPECT_EQ(client_.s->NextDeadline(), kStart + absl::Seconds(25));
}

// --- Found by the simulation (simulation_test.cc).

// Seed 11: a reply larger than max_frame_bytes went out as one oversize
// frame, which the peer refuses (close 1009) and every resume sends again.
TEST_F(SessionPair, OversizeReplyFailsTheCallInsteadOfWedgingTheSession) {
  SessionOptions options = Options(Role::kServer, "server-id-1");
  options.max_frame_bytes = 1100;
  server_.s = std::make_unique<Session>(options);
  Connect();
  server_.handler = [](Side& side, Delivery& d) {
    side.s->Finish(d.id, std::string(d.payload == "big" ? 1090 : 1000, 'y'));
  };
  std::vector<absl::StatusOr<std::string>> replies;
  for (const char* p : {"big", "fits"}) {
    ASSERT_TRUE(
        Send(
            client_, p,
            [&](absl::StatusOr<std::string> r) { replies.push_back(r); },
            /*reply=*/true)
            .ok());
  }
  server_.s->OnFrame(client_.s->TakeFrame(), now_);
  server_.Drain();
  while (server_.s->HasFrame()) {
    std::string frame = server_.s->TakeFrame();
    EXPECT_LE(frame.size(), 1100u);
    client_.s->OnFrame(frame, now_);
  }
  client_.Drain();
  Pump();
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_TRUE(absl::IsResourceExhausted(replies[0].status()))
      << replies[0].status();
  ASSERT_TRUE(replies[1].ok()) << replies[1].status();
  EXPECT_EQ(replies[1]->size(), 1000u);
  EXPECT_EQ(server_.s->stats().unacked_envelopes, 0u);
  EXPECT_TRUE(client_.closes.empty());
}

}  // namespace
// DeadlineQueue against a std::set of the same keys: calls added in
// deadline order and out of it, removed in order and out of it; the
// earliest always agrees, and marked entries never outnumber live ones.
TEST(DeadlineQueueTest, AgreesWithASortedSetAndStaysBounded) {
  DeadlineQueue queue;
  std::set<std::pair<absl::Time, uint64_t>> expected;
  const absl::Time start = absl::UnixEpoch();
  uint32_t state = 7;  // a fixed LCG: the same steps every run
  auto next = [&] { return state = state * 1103515245u + 12345u; };
  uint64_t call = 0;
  for (int step = 0; step < 50000; ++step) {
    if (next() % 3 != 0 || expected.empty()) {
      // Mostly in deadline order (one ack_within), sometimes earlier.
      absl::Time when = start + absl::Milliseconds(step) +
                        (next() % 8 == 0 ? -absl::Seconds(next() % 50)
                                         : absl::ZeroDuration());
      queue.Add(when, ++call);
      expected.emplace(when, call);
    } else {
      // Mostly the earliest (acks in order), sometimes any.
      auto it = expected.begin();
      if (next() % 4 == 0) {
        std::advance(it, next() % expected.size());
      }
      queue.Remove(it->first, it->second);
      expected.erase(it);
    }
    ASSERT_EQ(queue.empty(), expected.empty()) << step;
    if (!expected.empty()) {
      ASSERT_EQ(queue.Earliest(), *expected.begin()) << step;
    }
    ASSERT_LE(queue.stored(), 2 * expected.size() + 1) << step;
  }
}

// CallTable against a std::map: calls added with gaps in their ids, taken
// mostly from the front and sometimes from anywhere (a deadline, a REPLY
// out of order); lookups of present, taken and never-added ids agree, and
// removed slots never outnumber live ones by more than the slack.
TEST(CallTableTest, AgreesWithAMapAndStaysBounded) {
  CallTable<std::string> table;
  std::map<uint64_t, std::string> expected;
  uint32_t state = 11;  // a fixed LCG: the same steps every run
  auto next = [&] { return state = state * 1103515245u + 12345u; };
  uint64_t call = 0;
  for (int step = 0; step < 50000; ++step) {
    if (next() % 2 == 0 || expected.empty()) {
      call += next() % 5 == 0 ? 1 + next() % 3 : 1;  // sometimes a gap
      std::string value = std::to_string(call);
      table.Add(call, value);
      expected.emplace(call, std::move(value));
    } else {
      auto it = expected.begin();
      if (next() % 4 == 0) std::advance(it, next() % expected.size());
      std::string taken;
      ASSERT_TRUE(table.Take(it->first, &taken)) << step;
      ASSERT_EQ(taken, it->second) << step;
      ASSERT_FALSE(table.Take(it->first, &taken)) << step;  // gone
      expected.erase(it);
    }
    const uint64_t probe = 1 + next() % (call + 1);
    const std::string* found = table.Find(probe);
    auto want = expected.find(probe);
    ASSERT_EQ(found != nullptr, want != expected.end()) << step;
    if (found != nullptr) {
      ASSERT_EQ(*found, want->second) << step;
    }
    ASSERT_EQ(table.size(), expected.size()) << step;
    ASSERT_LE(table.stored(),
              2 * expected.size() + CallTable<std::string>::kSlack)
        << step;
  }
  std::vector<uint64_t> calls;
  table.ForEachCall([&](uint64_t c) { calls.push_back(c); });
  std::vector<uint64_t> want;
  for (const auto& entry : expected) want.push_back(entry.first);
  EXPECT_EQ(calls, want);
}

}  // namespace parley::session
