// Text the application hands the session (a handler's error message, a stop
// reason) reaches the peer even when it is not UTF-8. Found by fuzzing
// (tests/fuzz, session; docs/FUZZING.md): such a message went into a REPLY
// or GOODBYE string field as it was, the peer could not parse the frame and
// closed the connection, and on every resume the same REPLY was sent again:
// the session was wedged.
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/session/session.h"

namespace parley::session {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1000000);

class SessionTextTest : public ::testing::Test {
 protected:
  SessionTextTest() {
    SessionOptions server;
    server.role = Role::kServer;
    server.session_id = "server-id";
    server_ = std::make_unique<Session>(server);
    client_->OnConnected(kNow);
    server_->OnConnected(kNow);
    Pump();
  }

  // Moves frames both ways until both sides are quiet, collecting effects.
  void Pump() {
    for (bool moved = true; moved;) {
      moved = false;
      for (auto [from, to] : {std::pair{client_.get(), server_.get()},
                              std::pair{server_.get(), client_.get()}}) {
        for (std::string f = from->TakeFrame(); !f.empty();
             f = from->TakeFrame()) {
          to->OnFrame(f, kNow);
          moved = true;
        }
      }
      Collect(*client_);
      Collect(*server_);
    }
  }
  void Collect(Session& s) {
    Effects e = s.TakeEffects();
    for (Completion& c : e.completions) c.done(std::move(c.result));
    for (Delivery& d : e.deliveries) deliveries_.push_back(d);
    for (Event& ev : e.events) {
      if (ev.type == EventType::kError) errors_.push_back(ev.status);
    }
    if (e.close) closes_.push_back(*e.close);
  }

  std::unique_ptr<Session> client_ =
      std::make_unique<Session>(SessionOptions{});
  std::unique_ptr<Session> server_;
  std::vector<Delivery> deliveries_;
  std::vector<absl::Status> errors_;
  std::vector<CloseRequest> closes_;
};

TEST_F(SessionTextTest, HandlerErrorThatIsNotUtf8ReachesTheCallerEscaped) {
  absl::StatusOr<std::string> outcome = std::string("not yet");
  ASSERT_TRUE(client_
                  ->Call(
                      "t.S/M", "q", /*reply_wanted=*/true, absl::ZeroDuration(),
                      [&](absl::StatusOr<std::string> r) { outcome = r; }, kNow)
                  .ok());
  Pump();
  ASSERT_EQ(deliveries_.size(), 1u);
  server_->Finish(deliveries_[0].id, absl::InternalError("bad \xff byte"));
  Pump();
  EXPECT_EQ(outcome.status(), absl::InternalError("bad \\xff byte"));
  EXPECT_TRUE(errors_.empty()) << errors_[0];
  EXPECT_TRUE(closes_.empty());
  EXPECT_TRUE(client_->open());
  EXPECT_EQ(client_->stats().unacked_envelopes, 0u);
  EXPECT_EQ(server_->stats().unacked_envelopes, 0u);
}

TEST_F(SessionTextTest, StopReasonThatIsNotUtf8EndsThePeerSessionToo) {
  client_->Stop(absl::CancelledError("bye \xc3("));
  Pump();
  EXPECT_TRUE(errors_.empty()) << errors_[0];
  EXPECT_TRUE(server_->stopped());
  ASSERT_EQ(closes_.size(), 1u);
  EXPECT_EQ(closes_[0].reason, "goodbye");
}

}  // namespace
}  // namespace parley::session
