// FuzzCodec: the envelope decoder on arbitrary bytes.
//
// Invariants: the session's decoder (DecodeFrame onto an arena, MSGs by
// hand) and protobuf's agree on every input; a decoded frame re-encodes
// (EncodeFrame) to bytes that decode again to the same envelopes; Validate and
// KindName agree on which kinds are known; an ERROR made from any status code
// reads back as a status.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "google/protobuf/arena.h"
#include "runtime/wire/codec.h"
#include "tests/fuzz/targets.h"

namespace parley::fuzz {

int FuzzCodec(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  wire::IsValidMethodName(bytes);
  absl::StatusOr<wire::Frame> frame = wire::DecodeFrame(bytes);
  // The session's decoder (MSGs by hand) agrees with protobuf's on every
  // input: the same verdict, the same envelopes.
  google::protobuf::Arena arena;
  std::vector<wire::DecodedEnvelope> decoded;
  const absl::Status by_hand = wire::DecodeFrame(bytes, &arena, &decoded);
  PARLEY_FUZZ_CHECK(by_hand == frame.status(),
                    "decoders disagree: ", by_hand.ToString(), " vs ",
                    frame.status().ToString());
  if (frame.ok()) {
    std::vector<wire::Envelope> parsed(frame->envelopes().begin(),
                                       frame->envelopes().end());
    PARLEY_FUZZ_CHECK(wire::EncodeFrame(decoded) == wire::EncodeFrame(parsed),
                      "the hand decoder read other envelopes than protobuf");
  }
  if (!frame.ok()) {
    PARLEY_FUZZ_CHECK(absl::IsInvalidArgument(frame.status()),
                      frame.status().ToString());
    return 0;
  }
  std::vector<wire::Envelope> envelopes;
  for (const wire::Envelope& e : frame->envelopes()) {
    const absl::Status valid = wire::Validate(e);
    const bool known = wire::KindName(e) != "UNKNOWN";
    PARLEY_FUZZ_CHECK(known != absl::IsUnimplemented(valid), wire::KindName(e),
                      " validated as ", valid.ToString());
    PARLEY_FUZZ_CHECK(valid.ok() || absl::IsInvalidArgument(valid) ||
                          absl::IsUnimplemented(valid),
                      valid.ToString());
    if (e.has_error()) {
      absl::Status s =
          wire::StatusFromWire(e.error().code(), e.error().message());
      const wire::Envelope back = wire::MakeError(s, e.error().fatal());
      PARLEY_FUZZ_CHECK(back.error().code() == static_cast<int>(s.code()),
                        "MakeError changed the code of ", s.ToString());
    }
    envelopes.push_back(e);
  }
  const std::string again = wire::EncodeFrame(envelopes);
  absl::StatusOr<wire::Frame> reparsed = wire::DecodeFrame(again);
  PARLEY_FUZZ_CHECK(reparsed.ok(), "re-encoded frame does not decode: ",
                    reparsed.status().ToString());
  PARLEY_FUZZ_CHECK(reparsed->SerializeAsString() == again,
                    "re-encoding is not stable");
  PARLEY_FUZZ_CHECK(reparsed->envelopes_size() == frame->envelopes_size(),
                    "envelope count changed");
  return 0;
}

}  // namespace parley::fuzz
