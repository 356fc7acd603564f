// Bad input over real sockets: each case gets a clear error (an ERROR
// envelope, a REPLY with a status, and/or a close code), and the server and
// a bystander session go on working.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "calc.parley.h"
#include "gtest/gtest.h"
#include "parley/client.h"
#include "parley/server.h"
#include "runtime/wire/close_codes.h"
#include "runtime/wire/codec.h"
#include "tests/transport/raw_text_client.h"
#include "tests/transport/ws_test_util.h"

namespace parley {
namespace {

using test::Num;
using transport::testing::RecordingHandler;

constexpr absl::Duration kWait = absl::Seconds(30);
constexpr size_t kMaxMessage = 64 << 10;

class Doubler : public test::Calc::Service {
 public:
  void Double(CallContext&, const Num& request,
              Responder<Num> responder) override {
    Num reply;
    reply.set_value(request.value() * 2);
    responder.Finish(reply);
  }
};

wire::Envelope Hello(uint32_t window = 64) {
  wire::Envelope envelope;
  wire::Hello* hello = envelope.mutable_hello();
  hello->set_protocol_version(wire::kProtocolVersion);
  hello->set_window(window);
  hello->set_window_bytes(1 << 20);
  hello->set_max_frame_bytes(1 << 20);
  return envelope;
}

wire::Envelope Msg(uint64_t seq, const std::string& method,
                   const std::string& payload) {
  wire::Envelope envelope;
  wire::Msg* msg = envelope.mutable_msg();
  msg->set_seq(seq);
  msg->set_method(method);
  msg->set_payload(payload);
  msg->set_reply_wanted(true);
  return envelope;
}

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.max_message_bytes = kMaxMessage;
    server_ = std::make_unique<Server>(options);
    ASSERT_TRUE(server_->AddService(&doubler_).ok());
    ASSERT_TRUE(server_->Start().ok());
    ClientOptions client_options;
    client_options.url = Url();
    bystander_ = std::make_unique<Client>(client_options);
    ASSERT_TRUE(bystander_->Start().ok());
    ASSERT_TRUE(bystander_->WaitConnected(kWait).ok());
    ws_ = transport::WsClient::Create(&loop_, {});
  }
  void TearDown() override {
    ExpectBystanderWorks();
    ws_->Stop();
  }

  std::string Url() const {
    return absl::StrCat("ws://127.0.0.1:", server_->port(), "/");
  }
  // A raw connection that speaks bytes, not Parley.
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
  // Waits for an envelope matching `pred` and returns it.
  static wire::Envelope AwaitEnvelope(
      RecordingHandler& probe,
      const std::function<bool(const wire::Envelope&)>& pred) {
    for (size_t n = 1; probe.AwaitMessages(n, kWait); ++n) {
      for (const wire::Envelope& e : Received(probe)) {
        if (pred(e)) return e;
      }
    }
    ADD_FAILURE() << "no matching envelope arrived";
    return wire::Envelope();
  }
  static wire::Envelope AwaitReply(RecordingHandler& probe) {
    return AwaitEnvelope(probe,
                         [](const wire::Envelope& e) { return e.has_reply(); });
  }
  static void ExpectFatalErrorAndClose(RecordingHandler& probe, uint16_t code,
                                       absl::string_view text) {
    ASSERT_TRUE(probe.AwaitClose(kWait));
    EXPECT_EQ(probe.close_code(), code) << probe.close_reason();
    std::vector<wire::Envelope> received = Received(probe);
    ASSERT_FALSE(received.empty()) << "no ERROR before the close";
    ASSERT_TRUE(received.back().has_error());
    EXPECT_TRUE(received.back().error().fatal());
    EXPECT_NE(received.back().error().message().find(std::string(text)),
              std::string::npos)
        << received.back().error().message();
  }
  void ExpectBystanderWorks() {
    absl::StatusOr<Num> reply =
        test::Calc::Stub(bystander_->channel()).DoubleBlocking([] {
          Num n;
          n.set_value(21);
          return n;
        }());
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(reply->value(), 42);
  }

  Doubler doubler_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<Client> bystander_;
  transport::IoLoop loop_;
  std::unique_ptr<transport::WsClient> ws_;
};

TEST_F(BadInput, NonUtf8MethodIsAMalformedNameNotAParseFailure) {
  // Text fields are bytes on the wire (no UTF-8 check, no libprotobuf log
  // line per frame); the session validates the method name itself.
  auto probe = Probe();
  Send(*probe, wire::EncodeFrame({Hello(), Msg(1, "a.B/\xff\xfe", "")}));
  ExpectFatalErrorAndClose(*probe, wire::kCloseProtocolError,
                           "malformed method name");
}

TEST_F(BadInput, GarbageBytesGetAnErrorAndClose1007) {
  auto probe = Probe();
  Send(*probe, "\xff\xfe\xfd not a frame");
  ExpectFatalErrorAndClose(*probe, wire::kCloseInvalidPayload,
                           "does not parse as parley.wire.Frame");
}

TEST_F(BadInput, TruncatedProtobufGetsAnErrorAndClose1007) {
  auto probe = Probe();
  std::string frame = wire::EncodeFrame({Hello()});
  Send(*probe, frame.substr(0, frame.size() - 1));
  ExpectFatalErrorAndClose(*probe, wire::kCloseInvalidPayload,
                           "does not parse");
}

TEST_F(BadInput, MsgBeforeHelloGetsAnErrorAndClose1002) {
  auto probe = Probe();
  Send(*probe, wire::EncodeFrame({Msg(1, "parley.test.Calc/Double", "")}));
  ExpectFatalErrorAndClose(*probe, wire::kCloseProtocolError,
                           "MSG before the handshake");
}

TEST_F(BadInput, HelloWithAnEmptyWindowGetsAnErrorAndClose1002) {
  auto probe = Probe();
  Send(*probe, wire::EncodeFrame({Hello(/*window=*/0)}));
  ExpectFatalErrorAndClose(*probe, wire::kCloseProtocolError,
                           "empty receive window");
}

TEST_F(BadInput, UnknownEnvelopeKindGetsAnErrorAndTheSessionGoesOn) {
  auto probe = Probe();
  wire::Frame frame;
  *frame.add_envelopes() = Hello();
  wire::Envelope* unknown = frame.add_envelopes();
  unknown->GetReflection()->MutableUnknownFields(unknown)->AddVarint(77, 1);
  Send(*probe, frame.SerializeAsString());
  wire::Envelope error = AwaitEnvelope(
      *probe, [](const wire::Envelope& e) { return e.has_error(); });
  EXPECT_FALSE(error.error().fatal());
  EXPECT_EQ(error.error().code(),
            static_cast<int>(absl::StatusCode::kUnimplemented));
  EXPECT_NE(error.error().message().find("field 77"), std::string::npos);
  Num num;
  num.set_value(4);
  Send(*probe, wire::EncodeFrame({Msg(1, "parley.test.Calc/Double",
                                      num.SerializeAsString())}));
  wire::Envelope reply = AwaitReply(*probe);
  EXPECT_EQ(reply.reply().code(), 0);
  ASSERT_TRUE(num.ParseFromString(reply.reply().payload()));
  EXPECT_EQ(num.value(), 8);
}

TEST_F(BadInput, UnknownMethodGetsAnUnimplementedReply) {
  auto probe = Probe();
  Send(*probe, wire::EncodeFrame({Hello(), Msg(1, "demo.Echo/Nope", "")}));
  wire::Envelope reply = AwaitReply(*probe);
  EXPECT_EQ(reply.reply().in_reply_to(), 1u);
  EXPECT_EQ(reply.reply().code(),
            static_cast<int>(absl::StatusCode::kUnimplemented));
  EXPECT_EQ(reply.reply().message(), "no method demo.Echo/Nope");
}

TEST_F(BadInput, PayloadOfTheWrongTypeGetsAnInvalidArgumentReply) {
  auto probe = Probe();
  Send(*probe, wire::EncodeFrame({Hello(), Msg(1, "parley.test.Calc/Double",
                                               "\xff\xff\xff")}));
  wire::Envelope reply = AwaitReply(*probe);
  EXPECT_EQ(reply.reply().code(),
            static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_NE(reply.reply().message().find("does not parse as parley.test.Num"),
            std::string::npos)
      << reply.reply().message();
}

TEST_F(BadInput, FrameOverTheMaximumSizeGetsClose1009) {
  auto probe = Probe();
  Send(*probe, std::string(kMaxMessage + 1, 'x'));
  ASSERT_TRUE(probe->AwaitClose(kWait));
  EXPECT_EQ(probe->close_code(), wire::kCloseMessageTooBig);
}

TEST_F(BadInput, TextFrameGetsClose1003) {
  transport::testing::RawTextClient raw(server_->port());
  ASSERT_TRUE(raw.AwaitClose());
  EXPECT_EQ(raw.code(), wire::kCloseUnsupportedData);
}

}  // namespace
}  // namespace parley
