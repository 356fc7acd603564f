#include "runtime/wire/codec.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/stubs/common.h"
#include "google/protobuf/unknown_field_set.h"
#include "runtime/util/status_macros.h"

namespace parley::wire {
namespace {

bool IsIdentifierPart(absl::string_view part) {
  if (part.empty()) return false;
  if (!absl::ascii_isalpha(part[0]) && part[0] != '_') return false;
  for (char c : part) {
    if (!absl::ascii_isalnum(c) && c != '_') return false;
  }
  return true;
}

bool IsValidCode(int32_t code) {
  return code >= 0 &&
         code <= static_cast<int32_t>(absl::StatusCode::kUnauthenticated);
}

absl::Status ValidateReply(const Reply& reply) {
  if (reply.seq() == 0) return absl::InvalidArgumentError("REPLY with seq 0");
  if (reply.in_reply_to() == 0) {
    return absl::InvalidArgumentError("REPLY with in_reply_to 0");
  }
  if (!IsValidCode(reply.code())) {
    return absl::InvalidArgumentError(
        absl::StrCat("REPLY ", reply.seq(), " has status code ", reply.code(),
                     ", outside 0..16"));
  }
  return absl::OkStatus();
}

// HELLO and WELCOME state the sender's limits; nonsense ones would wedge
// the session (a zero window never opens). Another protocol version's
// fields are not ours to judge: the session refuses the version itself.
template <typename Handshake>
absl::Status ValidateLimits(absl::string_view kind, const Handshake& h) {
  if (h.protocol_version() != kProtocolVersion) return absl::OkStatus();
  if (h.window() == 0 || h.window_bytes() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(kind, " with an empty receive window (", h.window(),
                     " messages, ", h.window_bytes(), " bytes)"));
  }
  if (h.max_frame_bytes() < kMinFrameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(kind, " with max_frame_bytes ", h.max_frame_bytes(),
                     ", below the minimum ", kMinFrameBytes));
  }
  return absl::OkStatus();
}

std::string UnknownFieldNumbers(const Envelope& envelope) {
  const google::protobuf::UnknownFieldSet& unknown =
      envelope.GetReflection()->GetUnknownFields(envelope);
  std::vector<int> numbers;
  for (int i = 0; i < unknown.field_count(); ++i) {
    numbers.push_back(unknown.field(i).number());
  }
  if (numbers.empty()) return "no body";
  return absl::StrCat("field ", absl::StrJoin(numbers, ", "));
}

using google::protobuf::io::CodedOutputStream;

// Hand encoding of MSG and REPLY (see MsgFields). Every field number used
// is below 16, so each tag is one byte.
constexpr uint8_t Tag(int field, int wire_type) {
  return static_cast<uint8_t>(field << 3 | wire_type);
}
constexpr int kVarint = 0;
constexpr int kLengthDelimited = 2;
constexpr int kFrameEnvelopesField = 1;
constexpr int kEnvelopeMsgField = 3;
constexpr int kEnvelopeReplyField = 4;

// A one-byte tag, a length and `n` bytes.
size_t LengthDelimitedSize(size_t n) {
  return 1 + CodedOutputStream::VarintSize64(n) + n;
}
size_t VarintFieldSize(uint64_t value) {
  return value == 0 ? 0 : 1 + CodedOutputStream::VarintSize64(value);
}
size_t BytesFieldSize(absl::string_view bytes) {
  return bytes.empty() ? 0 : LengthDelimitedSize(bytes.size());
}
// int32 fields carry negative values as ten-byte varints, as protobuf does.
uint64_t Int32AsVarint(int32_t value) {
  return static_cast<uint64_t>(static_cast<int64_t>(value));
}

size_t BodySize(const MsgFields& msg) {
  return VarintFieldSize(msg.seq) + BytesFieldSize(msg.method) +
         BytesFieldSize(msg.payload) + (msg.reply_wanted ? 2 : 0) +
         VarintFieldSize(msg.ack_within_ms) + VarintFieldSize(msg.id);
}
size_t BodySize(const ReplyFields& reply) {
  return VarintFieldSize(reply.seq) + VarintFieldSize(reply.in_reply_to) +
         VarintFieldSize(Int32AsVarint(reply.code)) +
         BytesFieldSize(reply.message) + BytesFieldSize(reply.payload);
}

// An envelope whose body (one field) is `body` bytes long, as a Frame's
// element: the element's tag and length, the body's tag and length.
size_t FramedEnvelopeSize(size_t body) {
  return LengthDelimitedSize(LengthDelimitedSize(body));
}

// Appends varints and length-delimited fields through a small buffer, so
// payloads are copied once, straight into the frame.
class FieldWriter {
 public:
  explicit FieldWriter(std::string* out) : out_(out) {}
  ~FieldWriter() { Flush(); }

  // A Frame element's tag and length (`envelope` bytes follow).
  void Element(size_t envelope) {
    Byte(Tag(kFrameEnvelopesField, kLengthDelimited));
    Varint(envelope);
  }
  // The element of an envelope whose body is field `field`, `body` long.
  void Header(int field, size_t body) {
    Element(LengthDelimitedSize(body));
    Byte(Tag(field, kLengthDelimited));
    Varint(body);
  }
  void VarintField(int field, uint64_t value) {
    if (value == 0) return;
    Byte(Tag(field, kVarint));
    Varint(value);
  }
  void BytesField(int field, absl::string_view bytes) {
    if (bytes.empty()) return;
    Byte(Tag(field, kLengthDelimited));
    Varint(bytes.size());
    // Short fields (a method name, a small payload) join the buffer: fewer
    // appends to the frame.
    if (bytes.size() <= static_cast<size_t>(buffer_ + sizeof(buffer_) - at_)) {
      std::memcpy(at_, bytes.data(), bytes.size());
      at_ += bytes.size();
      return;
    }
    Flush();
    out_->append(bytes.data(), bytes.size());
  }

 private:
  // Each write first makes room for a tag and the longest varint.
  void Byte(uint8_t byte) {
    Reserve();
    *at_++ = byte;
  }
  void Varint(uint64_t value) {
    Reserve();
    at_ = CodedOutputStream::WriteVarint64ToArray(value, at_);
  }
  void Reserve() {
    if (at_ + kMaxVarintBytes > buffer_ + sizeof(buffer_)) Flush();
  }
  void Flush() {
    out_->append(reinterpret_cast<const char*>(buffer_), at_ - buffer_);
    at_ = buffer_;
  }

  static constexpr size_t kMaxVarintBytes = 10;
  std::string* out_;
  uint8_t buffer_[256];
  uint8_t* at_ = buffer_;
};

absl::Status NotAFrame(absl::string_view bytes) {
  return absl::InvalidArgumentError(absl::StrCat(
      "frame of ", bytes.size(), " bytes does not parse as parley.wire.Frame"));
}

absl::Status NoEnvelope(absl::string_view bytes) {
  return absl::InvalidArgumentError(
      absl::StrCat("frame of ", bytes.size(), " bytes holds no envelope"));
}

// Reads the hand decoder's input: only what it can take for sure; anything
// else makes it give the bytes to protobuf.
class FieldReader {
 public:
  explicit FieldReader(absl::string_view bytes)
      : at_(reinterpret_cast<const uint8_t*>(bytes.data())),
        end_(at_ + bytes.size()) {}

  bool done() const { return at_ == end_; }
  // A one-byte tag (every field here is below 16).
  bool Tag(uint8_t* tag) {
    if (at_ == end_ || (*at_ & 0x80) != 0) return false;
    *tag = *at_++;
    return true;
  }
  // A varint of at most ten bytes, the tenth at most 1 (no bits beyond 64).
  bool Varint(uint64_t* value) {
    uint64_t result = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (at_ == end_) return false;
      uint8_t byte = *at_++;
      if (shift == 63 && byte > 1) return false;
      result |= static_cast<uint64_t>(byte & 0x7F) << shift;
      if ((byte & 0x80) == 0) {
        *value = result;
        return true;
      }
    }
    return false;
  }
  bool Bytes(absl::string_view* bytes) {
    uint64_t size;
    if (!Varint(&size) || size > static_cast<uint64_t>(end_ - at_)) {
      return false;
    }
    *bytes = absl::string_view(reinterpret_cast<const char*>(at_), size);
    at_ += size;
    return true;
  }

 private:
  const uint8_t* at_;
  const uint8_t* end_;
};

// An envelope holding a MSG and nothing else, whose fields are all known
// (protobuf's rules: a repeated field's last value wins).
bool DecodeMsg(absl::string_view envelope, MsgFields* msg) {
  FieldReader outer(envelope);
  uint8_t tag;
  absl::string_view body;
  if (!outer.Tag(&tag) || tag != Tag(kEnvelopeMsgField, kLengthDelimited) ||
      !outer.Bytes(&body) || !outer.done()) {
    return false;
  }
  *msg = MsgFields();
  FieldReader in(body);
  while (!in.done()) {
    uint64_t value;
    if (!in.Tag(&tag)) return false;
    switch (tag) {
      case Tag(1, kVarint):
        if (!in.Varint(&msg->seq)) return false;
        break;
      case Tag(2, kLengthDelimited):
        if (!in.Bytes(&msg->method)) return false;
        break;
      case Tag(3, kLengthDelimited):
        if (!in.Bytes(&msg->payload)) return false;
        break;
      case Tag(4, kVarint):
        if (!in.Varint(&value)) return false;
        msg->reply_wanted = value != 0;
        break;
      case Tag(5, kVarint):
        if (!in.Varint(&value)) return false;
        msg->ack_within_ms = static_cast<uint32_t>(value);
        break;
      case Tag(6, kVarint):
        if (!in.Varint(&msg->id)) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

}  // namespace

size_t FramedSize(const MsgFields& msg) {
  return FramedEnvelopeSize(BodySize(msg));
}

size_t FramedSize(const ReplyFields& reply) {
  return FramedEnvelopeSize(BodySize(reply));
}

void AppendToFrame(const MsgFields& msg, std::string* frame) {
  FieldWriter out(frame);
  out.Header(kEnvelopeMsgField, BodySize(msg));
  out.VarintField(1, msg.seq);
  out.BytesField(2, msg.method);
  out.BytesField(3, msg.payload);
  out.VarintField(4, msg.reply_wanted ? 1 : 0);
  out.VarintField(5, msg.ack_within_ms);
  out.VarintField(6, msg.id);
}

void AppendToFrame(const ReplyFields& reply, std::string* frame) {
  FieldWriter out(frame);
  out.Header(kEnvelopeReplyField, BodySize(reply));
  out.VarintField(1, reply.seq);
  out.VarintField(2, reply.in_reply_to);
  out.VarintField(3, Int32AsVarint(reply.code));
  out.BytesField(4, reply.message);
  out.BytesField(5, reply.payload);
}

size_t FramedSize(const Envelope& envelope) {
  return LengthDelimitedSize(envelope.ByteSizeLong());
}

void AppendToFrame(const Envelope& envelope, std::string* frame) {
  const size_t size = envelope.ByteSizeLong();
  FieldWriter(frame).Element(size);  // flushed here
  const size_t at = frame->size();
  frame->resize(at + size);
  envelope.SerializeWithCachedSizesToArray(
      reinterpret_cast<uint8_t*>(&(*frame)[at]));
}

std::string EncodeFrame(absl::Span<const Envelope> envelopes) {
  std::string frame;
  for (const Envelope& envelope : envelopes) AppendToFrame(envelope, &frame);
  return frame;
}

std::string EncodeFrame(absl::Span<const DecodedEnvelope> envelopes) {
  std::string frame;
  for (const DecodedEnvelope& decoded : envelopes) {
    if (decoded.envelope != nullptr) {
      AppendToFrame(*decoded.envelope, &frame);
    } else {
      AppendToFrame(decoded.msg, &frame);
    }
  }
  return frame;
}

absl::StatusOr<Frame> DecodeFrame(absl::string_view bytes) {
  Frame frame;
  if (absl::Status decoded = DecodeFrame(bytes, &frame); !decoded.ok()) {
    return decoded;
  }
  return frame;
}

absl::Status DecodeFrame(absl::string_view bytes,
                         google::protobuf::Arena* arena,
                         std::vector<DecodedEnvelope>* out) {
  out->clear();
  FieldReader in(bytes);
  while (!in.done()) {
    uint8_t tag;
    absl::string_view bytes_of_one;
    if (!in.Tag(&tag) || tag != Tag(kFrameEnvelopesField, kLengthDelimited) ||
        !in.Bytes(&bytes_of_one)) {
      // Not a plain run of envelopes (say, unknown Frame fields): protobuf
      // decides, for the whole frame.
      out->clear();
      auto* frame = google::protobuf::Arena::CreateMessage<Frame>(arena);
      PARLEY_RETURN_IF_ERROR(DecodeFrame(bytes, frame));
      for (Envelope& envelope : *frame->mutable_envelopes()) {
        out->push_back({{}, &envelope});
      }
      return absl::OkStatus();
    }
    DecodedEnvelope& decoded = out->emplace_back();
    if (DecodeMsg(bytes_of_one, &decoded.msg)) continue;
    decoded.envelope = google::protobuf::Arena::CreateMessage<Envelope>(arena);
    if (!decoded.envelope->ParseFromArray(
            bytes_of_one.data(), static_cast<int>(bytes_of_one.size()))) {
      out->clear();
      return NotAFrame(bytes);
    }
  }
  if (out->empty()) return NoEnvelope(bytes);
  return absl::OkStatus();
}

absl::Status DecodeFrame(absl::string_view bytes, Frame* frame) {
  if (!frame->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return NotAFrame(bytes);
  }
  if (frame->envelopes_size() == 0) return NoEnvelope(bytes);
  return absl::OkStatus();
}

absl::Status Validate(const Envelope& envelope) {
  switch (envelope.body_case()) {
    case Envelope::kMsg:
      return ValidateMsg(FieldsOf(envelope.msg()));
    case Envelope::kReply:
      return ValidateReply(envelope.reply());
    case Envelope::kError:
      if (!IsValidCode(envelope.error().code())) {
        return absl::InvalidArgumentError(absl::StrCat("ERROR has status code ",
                                                       envelope.error().code(),
                                                       ", outside 0..16"));
      }
      return absl::OkStatus();
    case Envelope::kHello:
      return ValidateLimits("HELLO", envelope.hello());
    case Envelope::kWelcome:
      return ValidateLimits("WELCOME", envelope.welcome());
    case Envelope::kAck:
    case Envelope::kGoodbye:
    case Envelope::kPing:
    case Envelope::kPong:
      return absl::OkStatus();
    case Envelope::BODY_NOT_SET:
      break;
  }
  return absl::UnimplementedError(absl::StrCat(
      "unknown envelope kind (", UnknownFieldNumbers(envelope), ")"));
}

absl::Status ValidateMsg(const MsgFields& msg, bool method_checked) {
  if (msg.seq == 0) return absl::InvalidArgumentError("MSG with seq 0");
  if (!method_checked && !IsValidMethodName(msg.method)) {
    return absl::InvalidArgumentError(
        absl::StrCat("MSG ", msg.seq, " has a malformed method name \"",
                     absl::CEscape(msg.method.substr(0, 200)),
                     "\"; expected \"package.Service/Method\""));
  }
  return absl::OkStatus();
}

MsgFields FieldsOf(const Msg& msg) {
  return {msg.seq(),          msg.method(),        msg.payload(),
          msg.reply_wanted(), msg.ack_within_ms(), msg.id()};
}

bool IsValidMethodName(absl::string_view name) {
  size_t slash = name.find('/');
  if (slash == absl::string_view::npos) return false;
  absl::string_view service = name.substr(0, slash);
  absl::string_view method = name.substr(slash + 1);
  if (!IsIdentifierPart(method)) return false;
  size_t start = 0;
  while (true) {
    size_t dot = service.find('.', start);
    if (!IsIdentifierPart(service.substr(start, dot - start))) return false;
    if (dot == absl::string_view::npos) return true;
    start = dot + 1;
  }
}

absl::string_view KindName(const Envelope& envelope) {
  switch (envelope.body_case()) {
    case Envelope::kHello:
      return "HELLO";
    case Envelope::kWelcome:
      return "WELCOME";
    case Envelope::kMsg:
      return "MSG";
    case Envelope::kReply:
      return "REPLY";
    case Envelope::kAck:
      return "ACK";
    case Envelope::kError:
      return "ERROR";
    case Envelope::kGoodbye:
      return "GOODBYE";
    case Envelope::kPing:
      return "PING";
    case Envelope::kPong:
      return "PONG";
    case Envelope::BODY_NOT_SET:
      break;
  }
  return "UNKNOWN";
}

uint32_t AckWithinMs(absl::Duration ack_within) {
  return static_cast<uint32_t>(
      std::min<int64_t>(absl::ToInt64Milliseconds(ack_within), UINT32_MAX));
}

Envelope MakeError(const absl::Status& status, bool fatal) {
  Envelope envelope;
  Error* error = envelope.mutable_error();
  error->set_code(static_cast<int32_t>(status.code()));
  error->set_message(WireText(status.message()));
  error->set_fatal(fatal);
  return envelope;
}

std::string WireText(absl::string_view text) {
  if (google::protobuf::internal::IsStructurallyValidUTF8(
          text.data(), static_cast<int>(text.size()))) {
    return std::string(text);
  }
  return absl::CHexEscape(text);
}

absl::Status StatusFromWire(int32_t code, const std::string& message) {
  if (!IsValidCode(code)) {
    return absl::UnknownError(
        absl::StrCat("status code ", code, " from peer: ", message));
  }
  return absl::Status(static_cast<absl::StatusCode>(code), message);
}

}  // namespace parley::wire
