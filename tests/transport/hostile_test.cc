// The hostile-input catalogue, part 1: Parley-level abuse over real
// sockets (bad frames and envelopes, sequence abuse, stolen session ids,
// floods) and the server's admission limits. hostile_ws_test.cc has the
// HTTP- and WebSocket-level part. Every case also passes the fixture's
// TearDown: server alive, bystander unaffected, nothing lost.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "runtime/transport/handshake.h"
#include "runtime/util/mutex.h"
#include "runtime/util/notification.h"
#include "tests/transport/hostile_fixture.h"

namespace parley::hostile {
namespace {

using absl::StatusCode;

bool IsAck(const wire::Envelope& e) { return e.has_ack(); }

// --- Bytes that are not a valid frame.

TEST_F(Hostile, GarbageBytesGetAnErrorAndClose1007) {
  auto probe = Probe();
  Send(*probe, "\xff\xfe\xfd not a frame");
  ExpectFatalErrorAndClose(*probe, wire::kCloseInvalidPayload,
                           StatusCode::kInvalidArgument,
                           "does not parse as parley.wire.Frame");
}

TEST_F(Hostile, TruncatedProtobufGetsAnErrorAndClose1007) {
  auto probe = Probe();
  std::string frame = wire::EncodeFrame({Hello()});
  Send(*probe, frame.substr(0, frame.size() - 1));
  ExpectFatalErrorAndClose(*probe, wire::kCloseInvalidPayload,
                           StatusCode::kInvalidArgument, "does not parse");
}

TEST_F(Hostile, FrameWithoutEnvelopesGetsAnErrorAndClose1007) {
  auto probe = Probe();
  Send(*probe, std::string());
  ExpectFatalErrorAndClose(*probe, wire::kCloseInvalidPayload,
                           StatusCode::kInvalidArgument, "holds no envelope");
}

TEST_F(Hostile, FrameOverTheMaximumSizeGetsClose1009) {
  auto probe = Probe();
  Send(*probe, std::string(kMaxMessage + 1, 'x'));
  ASSERT_TRUE(probe->AwaitClose(kWait));
  EXPECT_EQ(probe->close_code(), wire::kCloseMessageTooBig);
}

// --- Envelopes out of place.

TEST_F(Hostile, MsgBeforeHelloGetsAnErrorAndClose1002) {
  auto probe = Probe();
  Send(*probe, wire::EncodeFrame({Msg(1, kDouble, "")}));
  ExpectFatalErrorAndClose(*probe, wire::kCloseProtocolError,
                           StatusCode::kFailedPrecondition,
                           "MSG before the handshake");
}

TEST_F(Hostile, HelloTwiceGetsAnErrorAndClose1002) {
  auto probe = Probe();
  Send(*probe, wire::EncodeFrame({Hello(), Hello()}));
  ExpectFatalErrorAndClose(*probe, wire::kCloseProtocolError,
                           StatusCode::kFailedPrecondition, "unexpected HELLO");
}

TEST_F(Hostile, WelcomeSentToTheServerGetsAnErrorAndClose1002) {
  auto probe = Probe();
  wire::Envelope welcome;
  welcome.mutable_welcome()->set_protocol_version(wire::kProtocolVersion);
  welcome.mutable_welcome()->set_session_id(std::string(16, 'x'));
  welcome.mutable_welcome()->set_window(64);
  welcome.mutable_welcome()->set_window_bytes(1 << 20);
  welcome.mutable_welcome()->set_max_frame_bytes(1 << 20);
  Send(*probe, wire::EncodeFrame({Hello(), welcome}));
  ExpectFatalErrorAndClose(*probe, wire::kCloseProtocolError,
                           StatusCode::kFailedPrecondition,
                           "unexpected WELCOME");
}

TEST_F(Hostile, UnsupportedProtocolVersionGetsAnErrorAndClose1002) {
  auto probe = Probe();
  wire::Envelope hello = Hello();
  hello.mutable_hello()->set_protocol_version(wire::kProtocolVersion + 41);
  Send(*probe, wire::EncodeFrame({hello}));
  ExpectFatalErrorAndClose(*probe, wire::kCloseProtocolError,
                           StatusCode::kFailedPrecondition, "not supported");
}

TEST_F(Hostile, HelloWithAnEmptyWindowGetsAnErrorAndClose1002) {
  auto probe = Probe();
  Send(*probe, wire::EncodeFrame({Hello("", /*window=*/0)}));
  ExpectFatalErrorAndClose(*probe, wire::kCloseProtocolError,
                           StatusCode::kInvalidArgument,
                           "empty receive window");
}

TEST_F(Hostile, UnknownEnvelopeKindGetsAnErrorAndTheSessionGoesOn) {
  auto probe = Probe();
  wire::Frame frame;
  *frame.add_envelopes() = Hello();
  wire::Envelope* unknown = frame.add_envelopes();
  unknown->GetReflection()->MutableUnknownFields(unknown)->AddVarint(77, 1);
  Send(*probe, frame.SerializeAsString());
  wire::Envelope error = AwaitEnvelope(
      *probe, [](const wire::Envelope& e) { return e.has_error(); });
  EXPECT_FALSE(error.error().fatal());
  EXPECT_EQ(error.error().code(), static_cast<int>(StatusCode::kUnimplemented));
  EXPECT_NE(error.error().message().find("field 77"), std::string::npos);
  Send(*probe,
       wire::EncodeFrame({Msg(1, kDouble, MakeNum(4).SerializeAsString())}));
  wire::Envelope reply = AwaitReply(*probe);
  EXPECT_EQ(reply.reply().code(), 0);
  Num num;
  ASSERT_TRUE(num.ParseFromString(reply.reply().payload()));
  EXPECT_EQ(num.value(), 8);
}

// --- Bad fields and sequence abuse.

TEST_F(Hostile, SeqZeroGetsAnErrorAndClose1002) {
  auto probe = Probe();
  Send(*probe, wire::EncodeFrame({Hello(), Msg(0, kDouble, "")}));
  ExpectFatalErrorAndClose(*probe, wire::kCloseProtocolError,
                           StatusCode::kInvalidArgument, "MSG with seq 0");
}

TEST_F(Hostile, SeqGapGetsAnErrorAndClose1002) {
  auto probe = Probe();
  Send(*probe, wire::EncodeFrame({Hello(), Msg(5, kDouble, "")}));
  ExpectFatalErrorAndClose(*probe, wire::kCloseProtocolError,
                           StatusCode::kInvalidArgument,
                           "sequence gap: expected seq 1, got 5");
}

TEST_F(Hostile, SeqRegressionIsDroppedAndAckedAgainNotRunTwice) {
  auto probe = Probe();
  const std::string note = MakeNum(7).SerializeAsString();
  Send(*probe, wire::EncodeFrame(
                   {Hello(), Msg(1, "parley.test.Calc/Note", note, false)}));
  EXPECT_EQ(AwaitEnvelope(*probe, IsAck).ack().through(), 1u);
  Send(*probe,
       wire::EncodeFrame({Msg(1, "parley.test.Calc/Note", note, false)}));
  EXPECT_EQ(AwaitEnvelope(*probe, IsAck, 2).ack().through(), 1u);
  EXPECT_EQ(service_.notes("mallory"), std::vector<int64_t>{7});
  EXPECT_EQ(probe->closes(), 0);
}

TEST_F(Hostile, AckBeyondWhatWasSentGetsAnErrorAndClose1002) {
  auto probe = Probe();
  wire::Envelope ack;
  ack.mutable_ack()->set_through(1000);
  Send(*probe, wire::EncodeFrame({Hello(), ack}));
  ExpectFatalErrorAndClose(*probe, wire::kCloseProtocolError,
                           StatusCode::kInvalidArgument,
                           "ACK through seq 1000, but only 0 were sent");
}

TEST_F(Hostile, MalformedMethodNameGetsAnErrorAndClose1002) {
  ExpectMalformedNameRefused({Msg(1, "no slash; DROP", "")});
}

// The receiver checks a method name once while it repeats: neither an
// empty first name nor a bad name after a good one slips through that.
TEST_F(Hostile, EmptyMethodNameGetsAnErrorAndClose1002) {
  ExpectMalformedNameRefused({Msg(1, "", "")});
}

TEST_F(Hostile, MalformedNameAfterAValidOneGetsAnErrorAndClose1002) {
  ExpectMalformedNameRefused(
      {Msg(1, "parley.test.Calc/Note", ""), Msg(2, "parley.test.Calc/", "")});
}

TEST_F(Hostile, NonUtf8MethodIsAMalformedNameNotAParseFailure) {
  // Text fields are bytes on the wire (no UTF-8 check, no libprotobuf log
  // line per frame); the session validates the method name itself.
  auto probe = Probe();
  Send(*probe, wire::EncodeFrame({Hello(), Msg(1, "a.B/\xff\xfe", "")}));
  ExpectFatalErrorAndClose(*probe, wire::kCloseProtocolError,
                           StatusCode::kInvalidArgument,
                           "malformed method name");
}

TEST_F(Hostile, ReplyStatusCodeOutOfRangeGetsAnErrorAndClose1002) {
  auto probe = Probe();
  wire::Envelope reply;
  reply.mutable_reply()->set_seq(1);
  reply.mutable_reply()->set_in_reply_to(1);
  reply.mutable_reply()->set_code(999);
  Send(*probe, wire::EncodeFrame({Hello(), reply}));
  ExpectFatalErrorAndClose(*probe, wire::kCloseProtocolError,
                           StatusCode::kInvalidArgument, "status code 999");
}

TEST_F(Hostile, ReplyToACallNeverMadeGetsANonFatalError) {
  auto probe = Probe();
  wire::Envelope reply;
  reply.mutable_reply()->set_seq(1);
  reply.mutable_reply()->set_in_reply_to(42);
  Send(*probe, wire::EncodeFrame({Hello(), reply}));
  wire::Envelope error = AwaitEnvelope(
      *probe, [](const wire::Envelope& e) { return e.has_error(); });
  EXPECT_FALSE(error.error().fatal());
  EXPECT_EQ(error.error().message(),
            "REPLY to seq 42, which is no unacked call");
  EXPECT_EQ(probe->closes(), 0);
}

// --- Calls the server cannot serve.

TEST_F(Hostile, UnknownMethodGetsAnUnimplementedReply) {
  auto probe = Probe();
  Send(*probe, wire::EncodeFrame({Hello(), Msg(1, "demo.Echo/Nope", "")}));
  wire::Envelope reply = AwaitReply(*probe);
  EXPECT_EQ(reply.reply().in_reply_to(), 1u);
  EXPECT_EQ(reply.reply().code(), static_cast<int>(StatusCode::kUnimplemented));
  EXPECT_EQ(reply.reply().message(), "no method demo.Echo/Nope");
}

TEST_F(Hostile, PayloadOfTheWrongTypeGetsAnInvalidArgumentReply) {
  auto probe = Probe();
  Send(*probe, wire::EncodeFrame({Hello(), Msg(1, kDouble, "\xff\xff\xff")}));
  wire::Envelope reply = AwaitReply(*probe);
  EXPECT_EQ(reply.reply().code(),
            static_cast<int>(StatusCode::kInvalidArgument));
  EXPECT_NE(reply.reply().message().find("does not parse as parley.test.Num"),
            std::string::npos)
      << reply.reply().message();
}

TEST_F(Hostile, RequestsAboveMaxPendingAreRefusedWithResourceExhausted) {
  auto probe = Probe();
  std::vector<wire::Envelope> frame = {Hello()};
  for (uint64_t seq = 1; seq <= kMaxPendingRequests + 1; ++seq) {
    frame.push_back(Msg(seq, kHold, "", false));
  }
  Send(*probe, wire::EncodeFrame(frame));
  wire::Envelope reply = AwaitReply(*probe);
  EXPECT_EQ(reply.reply().in_reply_to(), kMaxPendingRequests + 1);
  EXPECT_EQ(reply.reply().code(),
            static_cast<int>(StatusCode::kResourceExhausted));
  EXPECT_NE(reply.reply().message().find("max_pending_requests"),
            std::string::npos);
  // The held calls finish normally once their handlers do.
  service_.ReleaseHeld();
  EXPECT_EQ(AwaitEnvelope(*probe,
                          [](const wire::Envelope& e) {
                            return e.has_ack() &&
                                   e.ack().through() == kMaxPendingRequests + 1;
                          })
                .ack()
                .through(),
            kMaxPendingRequests + 1);
}

TEST_F(Hostile, HelloWithATinyMaxFrameGetsAnErrorAndClose1002) {
  auto probe = Probe();
  wire::Envelope hello = Hello();
  hello.mutable_hello()->set_max_frame_bytes(8);
  Send(*probe, wire::EncodeFrame({hello}));
  ExpectFatalErrorAndClose(*probe, wire::kCloseProtocolError,
                           StatusCode::kInvalidArgument, "max_frame_bytes 8");
}

TEST_F(Hostile, CallsOverrunningTheCreditWindowGetAnErrorAndClose1008) {
  auto probe = Probe();
  std::vector<wire::Envelope> frame = {Hello()};
  for (uint64_t seq = 1; seq <= kReceiveWindow + 1; ++seq) {
    frame.push_back(Msg(seq, kHold, "", false));
  }
  Send(*probe, wire::EncodeFrame(frame));
  ExpectFatalErrorAndClose(*probe, wire::kClosePolicyViolation,
                           StatusCode::kResourceExhausted,
                           "overran the receive window");
}

TEST_F(Hostile, PingFloodIsAnsweredPongForPing) {
  auto probe = Probe();
  Send(*probe, wire::EncodeFrame({Hello()}));
  constexpr int kPings = 1000;
  for (int i = 1; i <= kPings; ++i) {
    wire::Envelope ping;
    ping.mutable_ping()->set_nonce(i);
    Send(*probe, wire::EncodeFrame({ping}));
  }
  wire::Envelope last = AwaitEnvelope(
      *probe, [](const wire::Envelope& e) { return e.has_pong(); }, kPings);
  EXPECT_EQ(last.pong().nonce(), static_cast<uint64_t>(kPings));
  EXPECT_EQ(probe->closes(), 0);
}

// --- Sessions that are not the caller's, and admission limits.

TEST_F(Hostile, ReplayedHelloForAnothersSessionIsRefusedAndTheOwnerKeepsIt) {
  const std::string id = absl::HexStringToBytes(bystander_session());
  ASSERT_EQ(id.size(), 16u);
  auto probe = Probe();  // authenticated, but as "mallory", not "alice"
  Send(*probe, wire::EncodeFrame({Hello(id)}));
  ExpectFatalErrorAndClose(*probe, wire::kClosePolicyViolation,
                           StatusCode::kPermissionDenied,
                           "belongs to another principal");
}

TEST_F(Hostile, HelloBeyondMaxSessionsGetsResourceExhaustedAndClose1013) {
  std::vector<std::shared_ptr<RecordingHandler>> probes;
  for (size_t i = 1; i < kMaxSessions; ++i) {  // the bystander holds one
    probes.push_back(Probe());
    Send(*probes.back(), wire::EncodeFrame({Hello()}));
    AwaitEnvelope(*probes.back(),
                  [](const wire::Envelope& e) { return e.has_welcome(); });
  }
  auto extra = Probe();
  Send(*extra, wire::EncodeFrame({Hello()}));
  ExpectFatalErrorAndClose(*extra, wire::kCloseTryAgainLater,
                           StatusCode::kResourceExhausted, "max_sessions");
  // A session that ends frees its slot (TearDown's new client needs one).
  wire::Envelope goodbye;
  goodbye.mutable_goodbye();
  Send(*probes.front(), wire::EncodeFrame({goodbye}));
  ASSERT_TRUE(probes.front()->AwaitClose(kWait));
}

TEST_F(Hostile, UpgradeBeyondMaxConnectionsGets503AndTheClientRetries) {
  std::vector<std::shared_ptr<RecordingHandler>> probes;
  for (size_t i = 1; i < kMaxConnections; ++i) probes.push_back(Probe());
  auto refused = std::make_shared<RecordingHandler>();
  ASSERT_TRUE(ws_->Connect(Url(), refused).ok());
  ASSERT_TRUE(refused->AwaitClose(kWait));
  EXPECT_EQ(refused->opens(), 0);
  EXPECT_EQ(refused->close_code(), transport::RefusedCloseCode(503))
      << refused->close_reason();
  // 503 is worth retrying: a client keeps re-dialling and gets in once a
  // connection goes away.
  util::Notification reconnecting;
  std::unique_ptr<Client> client =
      StartClient("dave", [&reconnecting](const Event& event) {
        if (event.type == EventType::kReconnecting &&
            !reconnecting.HasBeenNotified()) {
          reconnecting.Notify();
        }
      });
  ASSERT_TRUE(reconnecting.WaitForNotificationWithTimeout(kWait));
  for (auto& probe : probes) probe->connection()->Close(1000, "done");
  EXPECT_TRUE(client->WaitConnected(kWait).ok());
}

// Admission refusals that retrying cannot cure stop the client at once.
struct Refusal {
  const char* name;
  std::vector<std::pair<std::string, std::string>> headers;
  StatusCode code;
  const char* text;
};

class HostileRefusal : public Hostile,
                       public ::testing::WithParamInterface<Refusal> {};

TEST_P(HostileRefusal, ClientStopsWithAClearStatusAndNeverRedials) {
  ClientOptions options;
  options.url = Url();
  options.headers = GetParam().headers;
  util::Mutex mu;
  int reconnects = 0;
  options.on_event = [&](const Event& event) {
    util::MutexLock lock(&mu);
    reconnects += event.type == EventType::kReconnecting;
  };
  Client client(options);
  ASSERT_TRUE(client.Start().ok());
  absl::Status status = client.WaitConnected(kWait);
  EXPECT_EQ(status.code(), GetParam().code) << status;
  EXPECT_NE(status.message().find(GetParam().text), std::string::npos)
      << status;
  client.Stop();
  util::MutexLock lock(&mu);
  EXPECT_EQ(reconnects, 0);
}

INSTANTIATE_TEST_SUITE_P(
    Admission, HostileRefusal,
    ::testing::Values(
        Refusal{"NoCredentials", {}, StatusCode::kUnauthenticated, "HTTP 401"},
        Refusal{"EmptyBearerToken",
                {{"Authorization", "Bearer "}},
                StatusCode::kUnauthenticated,
                "HTTP 401"},
        Refusal{"ForeignOrigin",
                {{"Authorization", "Bearer eve"},
                 {"Origin", "https://evil.example"}},
                StatusCode::kPermissionDenied,
                "HTTP 403"}),
    [](const ::testing::TestParamInfo<Refusal>& info) {
      return std::string(info.param.name);
    });

TEST_F(Hostile, AllowedOriginIsAccepted) {
  ClientOptions options;
  options.url = Url();
  options.headers = {{"Authorization", "Bearer erin"},
                     {"Origin", kAllowedOrigin}};
  Client client(options);
  ASSERT_TRUE(client.Start().ok());
  EXPECT_TRUE(client.WaitConnected(kWait).ok());
}

TEST_F(Hostile, HeaderInjectionIsRefusedBeforeDialling) {
  ClientOptions options;
  options.url = Url();
  options.headers = {{"Authorization", "Bearer x\r\nX-Evil: 1"}};
  Client client(options);
  absl::Status status = client.Start();
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status;
  options.headers = {{"Bad Name", "v"}};
  Client bad_name(options);
  EXPECT_EQ(bad_name.Start().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace parley::hostile
