#include "runtime/wire/codec.h"

#include <vector>

#include "absl/strings/escaping.h"
#include "google/protobuf/arena.h"
#include "gtest/gtest.h"

namespace parley::wire {
namespace {

Envelope MsgEnvelope(uint64_t seq, const std::string& method) {
  Envelope envelope;
  envelope.mutable_msg()->set_seq(seq);
  envelope.mutable_msg()->set_method(method);
  envelope.mutable_msg()->set_payload(std::string("\0\1\2", 3));
  return envelope;
}

TEST(Codec, FrameRoundTripKeepsEnvelopesInOrder) {
  std::vector<Envelope> envelopes = {MsgEnvelope(1, "a.B/C"),
                                     MsgEnvelope(2, "a.B/D")};
  envelopes.emplace_back().mutable_ack()->set_through(7);
  absl::StatusOr<Frame> frame = DecodeFrame(EncodeFrame(envelopes));
  ASSERT_TRUE(frame.ok()) << frame.status();
  ASSERT_EQ(frame->envelopes_size(), 3);
  EXPECT_EQ(frame->envelopes(0).msg().method(), "a.B/C");
  EXPECT_EQ(frame->envelopes(1).msg().payload(), std::string("\0\1\2", 3));
  EXPECT_EQ(frame->envelopes(2).ack().through(), 7u);
}

TEST(Codec, AppendedEnvelopesEncodeExactlyAsAFrameMessage) {
  Frame frame;
  *frame.add_envelopes() = MsgEnvelope(1, "a.B/C");
  // A payload long enough for a multi-byte length prefix.
  frame.add_envelopes()->mutable_msg()->set_payload(std::string(70000, 'x'));
  std::string appended;
  for (const Envelope& envelope : frame.envelopes()) {
    size_t before = appended.size();
    AppendToFrame(envelope, &appended);
    EXPECT_EQ(appended.size() - before, FramedSize(envelope));
  }
  EXPECT_EQ(appended, frame.SerializeAsString());
}

// Values at each varint length boundary, zero (omitted) among them.
const uint64_t kVarints[] = {0,     1,     127,        128,
                             16383, 16384, UINT32_MAX, UINT64_MAX};

// The hand encoding of MSG and REPLY writes protobuf's bytes exactly.
TEST(Codec, MsgFieldsEncodeExactlyAsProtobuf) {
  const std::string payloads[] = {"", std::string("\0\1", 2),
                                  std::string(200, 'p'),
                                  std::string(70000, 'q')};
  for (uint64_t number : kVarints) {
    for (const std::string& payload : payloads) {
      for (bool reply_wanted : {false, true}) {
        MsgFields fields{number,
                         "a.B/C",
                         payload,
                         reply_wanted,
                         static_cast<uint32_t>(number),
                         ~number};
        Envelope envelope;
        Msg* msg = envelope.mutable_msg();
        msg->set_seq(fields.seq);
        msg->set_method(std::string(fields.method));
        msg->set_payload(payload);
        msg->set_reply_wanted(reply_wanted);
        msg->set_ack_within_ms(fields.ack_within_ms);
        msg->set_id(fields.id);
        std::string expected = "prefix", actual = "prefix";
        AppendToFrame(envelope, &expected);
        AppendToFrame(fields, &actual);
        ASSERT_EQ(actual, expected) << number << " " << payload.size();
        EXPECT_EQ(FramedSize(fields), FramedSize(envelope));
      }
    }
  }
}

TEST(Codec, ReplyFieldsEncodeExactlyAsProtobuf) {
  const int32_t codes[] = {0, 5, 16, -1, INT32_MIN};
  for (uint64_t number : kVarints) {
    for (int32_t code : codes) {
      for (const std::string& text : {std::string(), std::string(300, 't')}) {
        ReplyFields fields{number, ~number, code, text, "payload"};
        Envelope envelope;
        Reply* reply = envelope.mutable_reply();
        reply->set_seq(fields.seq);
        reply->set_in_reply_to(fields.in_reply_to);
        reply->set_code(code);
        reply->set_message(text);
        reply->set_payload("payload");
        std::string expected, actual;
        AppendToFrame(envelope, &expected);
        AppendToFrame(fields, &actual);
        ASSERT_EQ(actual, expected) << number << " " << code;
        EXPECT_EQ(FramedSize(fields), FramedSize(envelope));
      }
    }
  }
  // An empty REPLY body is still an envelope with a REPLY in it.
  std::string empty;
  AppendToFrame(ReplyFields{}, &empty);
  absl::StatusOr<Frame> frame = DecodeFrame(empty);
  ASSERT_TRUE(frame.ok()) << frame.status();
  EXPECT_TRUE(frame->envelopes(0).has_reply());
}

// The session's decoder agrees with protobuf's: on a frame of every kind
// of envelope, and on thousands of corruptions of it (flipped bytes, cut
// ends), the same verdict and the same envelopes.
TEST(Codec, HandDecoderAgreesWithProtobufOnCorruptedFrames) {
  std::vector<Envelope> envelopes = {MsgEnvelope(1, "a.B/C"),
                                     MsgEnvelope(300, "pkg.Svc/Method")};
  Msg* full = envelopes.emplace_back().mutable_msg();
  full->set_seq(3);
  full->set_method("a.B/C");
  full->set_payload(std::string(200, 'z'));
  full->set_reply_wanted(true);
  full->set_ack_within_ms(1500);
  full->set_id(UINT64_MAX);
  envelopes.emplace_back().mutable_ack()->set_through(7);
  Reply* reply = envelopes.emplace_back().mutable_reply();
  reply->set_seq(4);
  reply->set_in_reply_to(2);
  reply->set_payload("r");
  const std::string frame = EncodeFrame(envelopes);
  auto check = [](const std::string& bytes) {
    absl::StatusOr<Frame> expected = DecodeFrame(bytes);
    google::protobuf::Arena arena;
    std::vector<DecodedEnvelope> decoded;
    absl::Status status = DecodeFrame(bytes, &arena, &decoded);
    ASSERT_EQ(status, expected.status()) << absl::CEscape(bytes);
    if (!status.ok()) return;
    // (Unknown Frame fields aside: protobuf keeps them, they are no
    // envelope.)
    std::vector<Envelope> parsed(expected->envelopes().begin(),
                                 expected->envelopes().end());
    ASSERT_EQ(EncodeFrame(decoded), EncodeFrame(parsed))
        << absl::CEscape(bytes);
  };
  check(frame);
  {
    google::protobuf::Arena arena;
    std::vector<DecodedEnvelope> decoded;
    ASSERT_TRUE(DecodeFrame(frame, &arena, &decoded).ok());
    ASSERT_EQ(decoded.size(), envelopes.size());
    for (int i = 0; i < 3; ++i) EXPECT_EQ(decoded[i].envelope, nullptr) << i;
    EXPECT_EQ(decoded[2].msg.id, UINT64_MAX);
    EXPECT_EQ(decoded[2].msg.payload, std::string(200, 'z'));
    EXPECT_NE(decoded[3].envelope, nullptr);  // ACK and REPLY: protobuf
  }
  uint32_t state = 12345;  // a fixed LCG: the same inputs every run
  auto next = [&] { return state = state * 1103515245u + 12345u; };
  for (int i = 0; i < 20000; ++i) {
    std::string bytes = frame;
    for (int flips = 1 + next() % 3; flips > 0; --flips) {
      bytes[next() % bytes.size()] = static_cast<char>(next() >> 8);
    }
    if (next() % 4 == 0) bytes.resize(next() % bytes.size());
    check(bytes);
    if (HasFatalFailure()) return;
  }
}

TEST(Codec, HandshakeMustStateAWindowAndAFrameLimit) {
  Envelope envelope;
  Hello* hello = envelope.mutable_hello();
  hello->set_protocol_version(kProtocolVersion);
  hello->set_window(8);
  hello->set_window_bytes(1024);
  hello->set_max_frame_bytes(kMinFrameBytes);
  EXPECT_TRUE(Validate(envelope).ok());
  hello->set_window(0);
  EXPECT_TRUE(absl::IsInvalidArgument(Validate(envelope)));
  hello->set_window(8);
  hello->set_window_bytes(0);
  EXPECT_TRUE(absl::IsInvalidArgument(Validate(envelope)));
  hello->set_window_bytes(1024);
  hello->set_max_frame_bytes(kMinFrameBytes - 1);
  EXPECT_TRUE(absl::IsInvalidArgument(Validate(envelope)));
  // Another version's fields are the session's to refuse, by version.
  hello->set_protocol_version(kProtocolVersion + 1);
  EXPECT_TRUE(Validate(envelope).ok());
}

TEST(Codec, GarbageBytesAreRefused) {
  absl::StatusOr<Frame> frame = DecodeFrame("\xff\xff\xff\xff garbage");
  EXPECT_TRUE(absl::IsInvalidArgument(frame.status())) << frame.status();
}

TEST(Codec, TruncatedFrameIsRefused) {
  std::string bytes = EncodeFrame({MsgEnvelope(1, "a.B/C")});
  absl::StatusOr<Frame> frame = DecodeFrame(bytes.substr(0, bytes.size() - 2));
  EXPECT_TRUE(absl::IsInvalidArgument(frame.status())) << frame.status();
}

TEST(Codec, EmptyFrameIsRefused) {
  EXPECT_TRUE(absl::IsInvalidArgument(DecodeFrame("").status()));
}

TEST(Codec, UnknownKindIsUnimplementedAndNamesTheField) {
  // Envelope field 42, varint 1: a kind from some future protocol.
  Frame frame;
  Envelope* envelope = frame.add_envelopes();
  envelope->GetReflection()->MutableUnknownFields(envelope)->AddVarint(42, 1);
  absl::StatusOr<Frame> decoded = DecodeFrame(frame.SerializeAsString());
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  absl::Status status = Validate(decoded->envelopes(0));
  EXPECT_TRUE(absl::IsUnimplemented(status)) << status;
  EXPECT_NE(status.message().find("field 42"), absl::string_view::npos);
}

TEST(Codec, MsgWithSeqZeroIsInvalid) {
  EXPECT_TRUE(absl::IsInvalidArgument(Validate(MsgEnvelope(0, "a.B/C"))));
}

TEST(Codec, MalformedMethodNamesAreInvalid) {
  for (const char* name : {"", "a.B", "/C", "a.B/", "a..B/C", "a.B/C/D",
                           "1a.B/C", "a.B/C-D", ".a.B/C"}) {
    EXPECT_FALSE(IsValidMethodName(name)) << name;
    EXPECT_TRUE(absl::IsInvalidArgument(Validate(MsgEnvelope(1, name))))
        << name;
  }
  for (const char* name : {"a.B/C", "B/C", "pkg.sub.Svc_2/Do_it"}) {
    EXPECT_TRUE(IsValidMethodName(name)) << name;
  }
}

TEST(Codec, ReplyNeedsSeqTargetAndKnownCode) {
  Envelope envelope;
  Reply* reply = envelope.mutable_reply();
  reply->set_seq(1);
  reply->set_in_reply_to(3);
  EXPECT_TRUE(Validate(envelope).ok());
  reply->set_code(17);
  EXPECT_TRUE(absl::IsInvalidArgument(Validate(envelope)));
  reply->set_code(5);
  reply->set_in_reply_to(0);
  EXPECT_TRUE(absl::IsInvalidArgument(Validate(envelope)));
}

TEST(Codec, StatusSurvivesTheWire) {
  Envelope envelope = MakeError(absl::NotFoundError("no such thing"), true);
  absl::Status status =
      StatusFromWire(envelope.error().code(), envelope.error().message());
  EXPECT_EQ(status, absl::NotFoundError("no such thing"));
  EXPECT_TRUE(envelope.error().fatal());
  EXPECT_TRUE(absl::IsUnknown(StatusFromWire(99, "odd")));
}

// Found by fuzzing (tests/fuzz, session): a status message that is not
// UTF-8 made a frame its peer could not parse.
TEST(Codec, WireTextKeepsUtf8AndEscapesAnythingElse) {
  EXPECT_EQ(WireText("plain, and \xc3\xa9 too"), "plain, and \xc3\xa9 too");
  EXPECT_EQ(WireText("bad \xff byte"), "bad \\xff byte");
  Envelope envelope = MakeError(absl::InternalError("\xc3("), false);
  EXPECT_EQ(envelope.error().message(), "\\xc3(");
  EXPECT_TRUE(DecodeFrame(EncodeFrame({envelope})).ok());
}

}  // namespace
}  // namespace parley::wire
