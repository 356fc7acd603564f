// Envelope <-> bytes, and the validation every received envelope passes
// before the session core looks at it. Pure functions, no state: fuzzable.
//
//   std::string bytes = wire::EncodeFrame(envelopes);
//   absl::StatusOr<wire::Frame> frame = wire::DecodeFrame(bytes);
//   for (const wire::Envelope& e : frame->envelopes()) {
//     if (absl::Status s = wire::Validate(e); !s.ok()) { ... }
//   }
//
// Thread safety: all functions are thread-compatible (no shared state).
#ifndef PARLEY_RUNTIME_WIRE_CODEC_H_
#define PARLEY_RUNTIME_WIRE_CODEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "google/protobuf/arena.h"
#include "parley/wire.pb.h"

namespace parley::wire {

// Bumped on incompatible changes; HELLO and WELCOME carry it.
inline constexpr uint32_t kProtocolVersion = 1;

// The smallest max_frame_bytes a HELLO or WELCOME may state.
inline constexpr uint32_t kMinFrameBytes = 256;

// Serializes `envelopes` as one Frame.
std::string EncodeFrame(absl::Span<const Envelope> envelopes);

// The bytes `envelope` adds to a Frame (tag, length, body).
size_t FramedSize(const Envelope& envelope);
// Appends `envelope` to the serialized Frame `frame` (which may be empty),
// without copying it into a Frame message first.
void AppendToFrame(const Envelope& envelope, std::string* frame);

// A MSG's or a REPLY's fields, for the sender's hot path: sized and
// appended to a frame straight from the session's own storage, without
// building a Msg or Reply message. The bytes are exactly those protobuf
// writes for the same Envelope (fields in number order, zero values
// omitted), so a peer parses them as it parses any other envelope.
struct MsgFields {
  uint64_t seq = 0;
  absl::string_view method;
  absl::string_view payload;
  bool reply_wanted = false;
  uint32_t ack_within_ms = 0;
  uint64_t id = 0;
};
struct ReplyFields {
  uint64_t seq = 0;
  uint64_t in_reply_to = 0;
  int32_t code = 0;
  absl::string_view message;
  absl::string_view payload;
};
size_t FramedSize(const MsgFields& msg);
size_t FramedSize(const ReplyFields& reply);
void AppendToFrame(const MsgFields& msg, std::string* frame);
void AppendToFrame(const ReplyFields& reply, std::string* frame);

// One envelope of a received frame, as DecodeFrame(bytes, arena, out)
// yields it: a MSG decoded in place (views into the frame's bytes, when
// `envelope` is null), or any envelope, parsed by protobuf.
struct DecodedEnvelope {
  MsgFields msg;
  Envelope* envelope = nullptr;
};
// Parses one Frame into `out` (cleared first), as DecodeFrame(bytes) does
// and with its errors, but MSGs in the form AppendToFrame(MsgFields)
// writes are decoded by hand, without protobuf: every other envelope (and
// any frame not a plain run of envelopes) goes through protobuf, onto
// `arena`. `out` is valid while `bytes` and `arena` are.
absl::Status DecodeFrame(absl::string_view bytes,
                         google::protobuf::Arena* arena,
                         std::vector<DecodedEnvelope>* out);

// Serializes decoded envelopes as one Frame again (what protobuf writes
// for the same envelopes).
std::string EncodeFrame(absl::Span<const DecodedEnvelope> envelopes);

// Parses one Frame. InvalidArgument when `bytes` is not a Frame (garbage,
// truncated) or holds no envelope.
absl::StatusOr<Frame> DecodeFrame(absl::string_view bytes);
// The same into `*frame` (cleared first), which may live on an arena.
absl::Status DecodeFrame(absl::string_view bytes, Frame* frame);

// Checks one envelope's fields. Unimplemented for a kind this build does not
// know (no body set; the message names the unknown field numbers);
// InvalidArgument for a known kind with bad fields (seq 0, a method not of
// the form "pkg.Service/Method", an out-of-range status code, ...).
absl::Status Validate(const Envelope& envelope);
// The same for a MSG's fields; `method_checked`: its method name was found
// valid before (it repeats the last MSG's), so it is not checked again.
absl::Status ValidateMsg(const MsgFields& msg, bool method_checked = false);
// A Msg's fields, viewing its strings.
MsgFields FieldsOf(const Msg& msg);

// "pkg.Service/Method" with non-empty, identifier-like parts.
bool IsValidMethodName(absl::string_view name);

// A short name for logs and errors: "HELLO", "MSG", ... or "UNKNOWN".
absl::string_view KindName(const Envelope& envelope);

// A call's ack deadline as a MSG (and a durable record) states it:
// milliseconds, at most UINT32_MAX.
uint32_t AckWithinMs(absl::Duration ack_within);

// Helpers that build the envelopes the session core sends.
Envelope MakeError(const absl::Status& status, bool fatal);

// `text` made fit for a string field (REPLY and ERROR messages, GOODBYE
// reasons): kept when it is valid UTF-8, else C-escaped ("\xff"). A frame
// with invalid UTF-8 in a string field does not parse at the peer.
std::string WireText(absl::string_view text);

// Status <-> (code, message) as carried by REPLY and ERROR.
absl::Status StatusFromWire(int32_t code, const std::string& message);

}  // namespace parley::wire

#endif  // PARLEY_RUNTIME_WIRE_CODEC_H_
