// log::Reader reads back the logical records a log::Writer framed, and
// stops at the first thing that is not a well-formed record, saying where.
//
//   log::Reader reader(file.get());
//   absl::string_view record;
//   std::string scratch;
//   while (reader.ReadRecord(&record, &scratch) == log::Reader::kRecord) {
//     Apply(record);
//   }
//   // kEof: clean end. kCorruption: reader.corruption_offset() and
//   // corruption_reason(); the valid log is [0, end_of_last_record()).
//
// The reader itself never skips data (unlike LevelDB's, which resyncs at the
// next block): whether a bad record is a torn tail (the end of the log) or
// damage in the middle (to be refused) is the caller's decision, helped by
// ValidRecordAfter(). docs/LOG_FORMAT.md states the rules.
//
// Thread safety: thread-compatible.
#ifndef PARLEY_RUNTIME_STORE_LOG_READER_H_
#define PARLEY_RUNTIME_STORE_LOG_READER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "runtime/store/env.h"
#include "runtime/store/log_format.h"

namespace parley::store::log {

class Reader {
 public:
  enum Result {
    kRecord,      // *record holds the next logical record.
    kEof,         // End of file, or zero-filled (preallocated) space.
    kCorruption,  // A bad checksum, length, type or fragment sequence.
    kIoError,     // io_status() says why.
  };

  // Reads `file` (which must outlive the reader) from offset 0.
  explicit Reader(SequentialFile* file);
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // *record stays valid until the next call; it may point into *scratch.
  Result ReadRecord(absl::string_view* record, std::string* scratch);

  // Offset of the first fragment of the record last returned.
  uint64_t last_record_offset() const { return last_record_offset_; }
  // Offset just past the record last returned: the log is well formed up
  // to here.
  uint64_t end_of_last_record() const { return end_of_last_record_; }
  // After kCorruption: the offset of the bad physical record (or of the
  // end of file that cut a fragmented record short), and what was wrong.
  uint64_t corruption_offset() const { return corruption_offset_; }
  const std::string& corruption_reason() const { return corruption_reason_; }
  const absl::Status& io_status() const { return io_status_; }

 private:
  enum PhysicalResult { kPhysEof = kMaxRecordType + 1, kPhysBad, kPhysIo };
  // Returns a RecordType, or kPhysEof / kPhysBad / kPhysIo.
  int ReadPhysicalRecord(absl::string_view* fragment, uint64_t* offset);
  int Bad(uint64_t offset, std::string reason);

  SequentialFile* const file_;
  std::unique_ptr<char[]> backing_;
  absl::string_view buffer_;    // Unread rest of the current block.
  uint64_t buffer_offset_ = 0;  // File offset of buffer_[0].
  bool eof_ = false;
  uint64_t last_record_offset_ = 0;
  uint64_t end_of_last_record_ = 0;
  uint64_t corruption_offset_ = 0;
  std::string corruption_reason_;
  absl::Status io_status_;
};

// Whether a well-formed physical record (checksum valid) starts at or after
// `bad_offset` in `file` (`file_size` bytes): following the length fields
// from bad_offset to the end of its block, then at every later block
// start. A bad record followed by a valid one is damage in the middle of
// the log; one followed by nothing valid is a torn tail.
absl::StatusOr<bool> ValidRecordAfter(const RandomAccessFile& file,
                                      uint64_t file_size, uint64_t bad_offset);

// Reassembles the logical record whose fragments are `bytes`, which start at
// `file_offset` (a record start) and end at the record's end. Verifies each
// fragment's checksum; DataLoss (naming the offset) if one is wrong.
absl::Status DecodeRecord(absl::string_view bytes, uint64_t file_offset,
                          std::string* record);

}  // namespace parley::store::log

#endif  // PARLEY_RUNTIME_STORE_LOG_READER_H_
