// The fixture of the hostile-input catalogue (hostile_test.cc,
// hostile_ws_test.cc): one server with small limits and an authenticator,
// a bystander session that keeps working through every case, and raw
// probes that send what real clients never do.
//
// Each case checks its expected error; TearDown then checks for every case
// that the server is alive (a new client gets a session and an answer), the
// bystander is unaffected, and nothing it sent was lost or doubled (every
// one of its messages, sent before and after the hostile input, acked and
// recorded exactly once).
#ifndef PARLEY_TESTS_TRANSPORT_HOSTILE_FIXTURE_H_
#define PARLEY_TESTS_TRANSPORT_HOSTILE_FIXTURE_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "calc.parley.h"
#include "gtest/gtest.h"
#include "parley/client.h"
#include "parley/server.h"
#include "runtime/util/mutex.h"
#include "runtime/wire/close_codes.h"
#include "runtime/wire/codec.h"
#include "tests/transport/ws_test_util.h"
#include "tests/util/calc_services.h"

namespace parley::hostile {

using test::Num;
using transport::testing::RecordingHandler;

inline constexpr absl::Duration kWait = absl::Seconds(30);
inline constexpr size_t kMaxMessage = 64 << 10;
inline constexpr size_t kMaxSessions = 4;
inline constexpr size_t kMaxConnections = 6;
inline constexpr size_t kMaxPendingRequests = 4;
inline constexpr uint32_t kReceiveWindow = 16;
inline constexpr absl::Duration kHandshakeTimeout = absl::Seconds(3);
inline constexpr absl::Duration kHelloTimeout = absl::Seconds(3);
inline constexpr char kAllowedOrigin[] = "https://app.example";
// Notes the bystander sends before the hostile input, and again after.
inline constexpr int kNotesEachSide = 5;

using testutil::MakeNum;

// "Authorization: Bearer <name>" is accepted as principal <name>.
inline absl::StatusOr<PeerIdentity> BearerAuth(
    const HandshakeRequest& request) {
  const std::string token = request.Header("authorization");
  if (!absl::StartsWith(token, "Bearer ") || token.size() == 7) {
    return absl::UnauthenticatedError("a bearer token is required");
  }
  PeerIdentity identity;
  identity.principal = token.substr(7);
  return identity;
}

inline std::vector<std::pair<std::string, std::string>> BearerHeader(
    const std::string& name) {
  return {{"Authorization", absl::StrCat("Bearer ", name)}};
}

class HostileService : public test::Calc::Service {
 public:
  void Double(CallContext&, const Num& request,
              Responder<Num> responder) override {
    responder.Finish(MakeNum(request.value() * 2));
  }
  // Records the value under the caller's principal.
  void Note(CallContext& context, const Num& request,
            Responder<google::protobuf::Empty> responder) override {
    util::MutexLock lock(&mu_);
    notes_[context.identity->principal].push_back(request.value());
    responder.Finish();
  }
  void Fail(CallContext&, const Num&, Responder<Num> responder) override {
    responder.Fail(absl::NotFoundError("nothing here"));
  }
  // Keeps the call until ReleaseHeld.
  void Hold(CallContext&, const Num&,
            Responder<google::protobuf::Empty> responder) override {
    held_.Keep(std::move(responder));
  }
  void ReleaseHeld() { held_.ReleaseAll(); }
  std::vector<int64_t> notes(const std::string& principal) {
    util::MutexLock lock(&mu_);
    return notes_[principal];
  }

 private:
  util::Mutex mu_;
  std::map<std::string, std::vector<int64_t>> notes_ ABSL_GUARDED_BY(mu_);
  testutil::HeldCalls held_;
};

inline wire::Envelope Hello(const std::string& session_id = "",
                            uint32_t window = 64) {
  wire::Envelope envelope;
  wire::Hello* hello = envelope.mutable_hello();
  hello->set_protocol_version(wire::kProtocolVersion);
  hello->set_session_id(session_id);
  hello->set_window(window);
  hello->set_window_bytes(1 << 20);
  hello->set_max_frame_bytes(1 << 20);
  return envelope;
}

inline wire::Envelope Msg(uint64_t seq, const std::string& method,
                          const std::string& payload,
                          bool reply_wanted = true) {
  wire::Envelope envelope;
  wire::Msg* msg = envelope.mutable_msg();
  msg->set_seq(seq);
  msg->set_method(method);
  msg->set_payload(payload);
  msg->set_reply_wanted(reply_wanted);
  return envelope;
}

inline constexpr char kDouble[] = "parley.test.Calc/Double";
inline constexpr char kHold[] = "parley.test.Calc/Hold";

class Hostile : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.max_message_bytes = kMaxMessage;
    options.max_sessions = kMaxSessions;
    options.max_connections = kMaxConnections;
    options.max_pending_requests = kMaxPendingRequests;
    options.flow.receive_window = kReceiveWindow;
    options.handshake_timeout = kHandshakeTimeout;
    options.hello_timeout = kHelloTimeout;
    options.allowed_origins = {kAllowedOrigin};
    options.authenticate = BearerAuth;
    server_ = std::make_unique<Server>(options);
    ASSERT_TRUE(server_->AddService(&service_).ok());
    ASSERT_TRUE(server_->Start().ok());
    bystander_ = StartClient("alice", [this](const Event& event) {
      if (event.type != EventType::kNewSession) return;
      util::MutexLock lock(&mu_);
      bystander_session_ = event.session_id;
      changed_.SignalAll();
    });
    ASSERT_TRUE(bystander_->WaitConnected(kWait).ok());
    SendBystanderNotes(1);
    transport::WsClientOptions probe_options;
    probe_options.headers = BearerHeader("mallory");
    ws_ = transport::WsClient::Create(&loop_, probe_options);
  }
  void TearDown() override {
    ExpectBystanderUnharmed();
    ExpectServerAlive();
    service_.ReleaseHeld();
    ws_->Stop();
  }

  std::unique_ptr<Client> StartClient(const std::string& principal,
                                      EventCallback on_event = nullptr) {
    ClientOptions options;
    options.url = Url();
    options.headers = BearerHeader(principal);
    options.on_event = std::move(on_event);
    auto client = std::make_unique<Client>(options);
    EXPECT_TRUE(client->Start().ok());
    return client;
  }
  std::string Url() const {
    return absl::StrCat("ws://127.0.0.1:", server_->port(), "/");
  }
  // A raw connection (principal "mallory") that speaks bytes, not Parley.
  std::shared_ptr<RecordingHandler> Probe() {
    auto probe = std::make_shared<RecordingHandler>();
    EXPECT_TRUE(ws_->Connect(Url(), probe).ok());
    EXPECT_TRUE(probe->AwaitOpen(kWait));
    return probe;
  }
  static void Send(RecordingHandler& probe, std::string bytes) {
    ASSERT_TRUE(probe.connection()->Send(std::move(bytes)).ok());
  }
  // The envelopes received so far, in order.
  static std::vector<wire::Envelope> Received(RecordingHandler& probe) {
    std::vector<wire::Envelope> out;
    for (const std::string& bytes : probe.messages()) {
      absl::StatusOr<wire::Frame> frame = wire::DecodeFrame(bytes);
      EXPECT_TRUE(frame.ok()) << frame.status();
      if (frame.ok()) {
        for (const auto& e : frame->envelopes()) out.push_back(e);
      }
    }
    return out;
  }
  // Waits for the `nth` (from 1) envelope matching `pred` and returns it.
  static wire::Envelope AwaitEnvelope(
      RecordingHandler& probe,
      const std::function<bool(const wire::Envelope&)>& pred, int nth = 1) {
    int seen = 0;
    for (size_t decoded = 0; probe.AwaitMessages(decoded + 1, kWait);) {
      std::vector<std::string> messages = probe.messages();
      for (; decoded < messages.size(); ++decoded) {
        absl::StatusOr<wire::Frame> frame =
            wire::DecodeFrame(messages[decoded]);
        if (!frame.ok()) continue;
        for (const wire::Envelope& e : frame->envelopes()) {
          if (pred(e) && ++seen == nth) return e;
        }
      }
    }
    ADD_FAILURE() << "no matching envelope arrived (" << seen << " of " << nth
                  << ")";
    return wire::Envelope();
  }
  static wire::Envelope AwaitReply(RecordingHandler& probe, int nth = 1) {
    return AwaitEnvelope(
        probe, [](const wire::Envelope& e) { return e.has_reply(); }, nth);
  }
  // A fresh probe sends HELLO and `msgs`, and is refused: a fatal ERROR
  // naming a malformed method name, then close 1002.
  void ExpectMalformedNameRefused(std::vector<wire::Envelope> msgs) {
    auto probe = Probe();
    msgs.insert(msgs.begin(), Hello());
    Send(*probe, wire::EncodeFrame(msgs));
    ExpectFatalErrorAndClose(*probe, wire::kCloseProtocolError,
                             absl::StatusCode::kInvalidArgument,
                             "malformed method name");
  }
  // The probe got a fatal ERROR naming `text` and then close `code`.
  static void ExpectFatalErrorAndClose(RecordingHandler& probe, uint16_t code,
                                       absl::StatusCode status,
                                       absl::string_view text) {
    ASSERT_TRUE(probe.AwaitClose(kWait));
    EXPECT_EQ(probe.close_code(), code) << probe.close_reason();
    std::vector<wire::Envelope> received = Received(probe);
    ASSERT_FALSE(received.empty()) << "no ERROR before the close";
    ASSERT_TRUE(received.back().has_error());
    EXPECT_TRUE(received.back().error().fatal());
    EXPECT_EQ(received.back().error().code(), static_cast<int>(status));
    EXPECT_NE(received.back().error().message().find(std::string(text)),
              std::string::npos)
        << received.back().error().message();
  }
  // The bystander's session id (hex), once its kNewSession has arrived
  // (it follows kConnected, which ends WaitConnected).
  std::string bystander_session() {
    util::MutexLock lock(&mu_);
    auto known = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !bystander_session_.empty();
    };
    changed_.WaitFor(&mu_, kWait, known);
    return bystander_session_;
  }

  HostileService service_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<Client> bystander_;
  transport::IoLoop loop_;
  std::unique_ptr<transport::WsClient> ws_;

 private:
  void SendBystanderNotes(int first) {
    test::Calc::Stub stub(bystander_->channel());
    for (int i = first; i < first + kNotesEachSide; ++i) {
      ASSERT_TRUE(stub.Note(MakeNum(i),
                            [this](absl::Status status) {
                              util::MutexLock lock(&mu_);
                              if (status.ok()) ++notes_acked_;
                              changed_.SignalAll();
                            })
                      .ok());
    }
  }
  void ExpectBystanderUnharmed() {
    absl::StatusOr<Num> reply =
        test::Calc::Stub(bystander_->channel()).DoubleBlocking(MakeNum(21));
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(reply->value(), 42);
    SendBystanderNotes(kNotesEachSide + 1);
    {
      util::MutexLock lock(&mu_);
      auto all_acked = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return notes_acked_ == 2 * kNotesEachSide;
      };
      ASSERT_TRUE(changed_.WaitFor(&mu_, kWait, all_acked))
          << notes_acked_ << " of the bystander's notes acked";
    }
    std::vector<int64_t> expected;
    for (int i = 1; i <= 2 * kNotesEachSide; ++i) expected.push_back(i);
    EXPECT_EQ(service_.notes("alice"), expected);
  }
  void ExpectServerAlive() {
    std::unique_ptr<Client> fresh = StartClient("carol");
    ASSERT_TRUE(fresh->WaitConnected(kWait).ok());
    absl::StatusOr<Num> reply =
        test::Calc::Stub(fresh->channel()).DoubleBlocking(MakeNum(5));
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(reply->value(), 10);
  }

  util::Mutex mu_;
  util::CondVar changed_;  // either member below changed
  int notes_acked_ ABSL_GUARDED_BY(mu_) = 0;
  std::string bystander_session_ ABSL_GUARDED_BY(mu_);
};

}  // namespace parley::hostile

#endif  // PARLEY_TESTS_TRANSPORT_HOSTILE_FIXTURE_H_
