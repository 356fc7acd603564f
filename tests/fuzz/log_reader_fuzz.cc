// FuzzLogReader: log::Reader, ValidRecordAfter, DecodeRecord and the
// record decoders over an arbitrary file.
//
// Invariants: records come out in file order within the file; the span the
// reader reports for a record decodes (DecodeRecord, as ForEachPending
// reads it back) to the same bytes; a corruption offset lies inside the
// file; a decoded record re-encodes to one that decodes to the same fields.
#include <cstdint>
#include <string>

#include "runtime/store/log_reader.h"
#include "runtime/store/record.h"
#include "runtime/store/testing/string_files.h"
#include "tests/fuzz/targets.h"

namespace parley::fuzz {
namespace {

using store::Checkpoint;
using store::RecordKind;
using store::StoredMessage;

void CheckRecordDecoders(absl::string_view record) {
  RecordKind kind;
  if (!store::PeekKind(record, &kind)) return;
  switch (kind) {
    case RecordKind::kMessage: {
      StoredMessage m;
      uint64_t seq;
      const bool has_seq = store::DecodeMessageSeq(record, &seq);
      if (!store::DecodeMessage(record, &m)) return;
      PARLEY_FUZZ_CHECK(has_seq && seq == m.seq, "DecodeMessageSeq disagrees");
      StoredMessage back;
      const std::string again = store::EncodeMessage(m);
      PARLEY_FUZZ_CHECK(store::DecodeMessage(again, &back) &&
                            back.seq == m.seq && back.method == m.method &&
                            back.payload == m.payload &&
                            back.ack_within_ms == m.ack_within_ms &&
                            back.reply_wanted == m.reply_wanted,
                        "MESSAGE does not round-trip");
      PARLEY_FUZZ_CHECK(store::StoredSize(m) == again.size(),
                        "StoredSize is not the record size");
      return;
    }
    case RecordKind::kAcked: {
      uint64_t through, back;
      if (!store::DecodeAcked(record, &through)) return;
      PARLEY_FUZZ_CHECK(
          store::DecodeAcked(store::EncodeAcked(through), &back) &&
              back == through,
          "ACKED does not round-trip");
      return;
    }
    case RecordKind::kMeta: {
      Checkpoint c, back;
      if (!store::DecodeMeta(record, &c)) return;
      PARLEY_FUZZ_CHECK(
          store::DecodeMeta(store::EncodeMeta(c), &back) &&
              back.next_seq == c.next_seq &&
              back.acked_through == c.acked_through &&
              back.meta.session_id == c.meta.session_id &&
              back.meta.peer_received_through == c.meta.peer_received_through,
          "META does not round-trip");
      return;
    }
    case RecordKind::kSeal:
      return;
  }
}

}  // namespace

int FuzzLogReader(const uint8_t* data, size_t size) {
  const std::string contents(reinterpret_cast<const char*>(data), size);
  store::testing::StringSource source(contents);
  store::log::Reader reader(&source);
  absl::string_view record;
  std::string scratch;
  uint64_t previous_end = 0;
  for (;;) {
    const store::log::Reader::Result r = reader.ReadRecord(&record, &scratch);
    if (r == store::log::Reader::kCorruption) {
      PARLEY_FUZZ_CHECK(reader.corruption_offset() <= size, "corruption at ",
                        reader.corruption_offset(), " of ", size);
      absl::StatusOr<bool> more = store::log::ValidRecordAfter(
          source, size, reader.corruption_offset());
      PARLEY_FUZZ_CHECK(more.ok(), more.status().ToString());
    }
    if (r != store::log::Reader::kRecord) break;
    const uint64_t begin = reader.last_record_offset();
    const uint64_t end = reader.end_of_last_record();
    PARLEY_FUZZ_CHECK(previous_end <= begin && begin < end && end <= size,
                      "record [", begin, ", ", end, ") after ", previous_end);
    std::string again;
    const absl::Status s = store::log::DecodeRecord(
        absl::string_view(contents).substr(begin, end - begin), begin, &again);
    PARLEY_FUZZ_CHECK(s.ok() && again == record, "DecodeRecord at ", begin,
                      ": ", s.ToString());
    CheckRecordDecoders(record);
    previous_end = end;
  }
  return 0;
}

}  // namespace parley::fuzz
