// The payloads of the durable log's logical records (docs/LOG_FORMAT.md,
// "Records"): a kind byte followed by varint fields. Hand-rolled rather
// than protobuf so that recovery can read a MESSAGE's seq without copying
// its payload into a std::string: a million pending messages must reopen
// without a million allocations.
//
//   std::string r = EncodeMessage(m);
//   RecordKind kind;  uint64_t seq;
//   if (PeekKind(r, &kind) && kind == RecordKind::kMessage &&
//       DecodeMessageSeq(r, &seq)) { ... }
//
// Thread safety: pure functions.
#ifndef PARLEY_RUNTIME_STORE_RECORD_H_
#define PARLEY_RUNTIME_STORE_RECORD_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "runtime/store/message_store.h"

namespace parley::store {

enum class RecordKind : uint8_t {
  kMessage = 1,  // seq, ack_within_ms, flags, method, payload
  kAcked = 2,    // through
  kMeta = 3,     // next_seq, acked_through, peer mark, session id
  kSeal = 4,     // nothing: the last record of a finished segment
};

// The full state a segment starts with, and what SaveMeta records.
struct Checkpoint {
  uint64_t next_seq = 1;
  uint64_t acked_through = 0;
  StoreMeta meta;
};

std::string EncodeMessage(const MessageRef& message);
// The same record under `seq` (the store numbers a message given seq 0),
// into *out (replacing what it held; its capacity is reused).
void EncodeMessageTo(const MessageRef& message, uint64_t seq, std::string* out);
// The same record (under message.seq) built at `out`, which has room for
// StoredSize(message) bytes: where the store builds it in place.
void EncodeMessageAt(const MessageRef& message, char* out);
std::string EncodeAcked(uint64_t through);
std::string EncodeMeta(const Checkpoint& checkpoint);
std::string EncodeSeal();

// Each returns false for a malformed record.
bool PeekKind(absl::string_view record, RecordKind* kind);
bool DecodeMessage(absl::string_view record, StoredMessage* message);
// Checks the whole MESSAGE as DecodeMessage does, but copies nothing: a
// record recovery indexes is one that ForEachPending can read back.
bool DecodeMessageSeq(absl::string_view record, uint64_t* seq);
bool DecodeAcked(absl::string_view record, uint64_t* through);
bool DecodeMeta(absl::string_view record, Checkpoint* checkpoint);

}  // namespace parley::store

#endif  // PARLEY_RUNTIME_STORE_RECORD_H_
