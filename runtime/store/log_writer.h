// log::Writer frames logical records into the block format of
// log_format.h and appends them to a WritableFile.
//
//   log::Writer writer(file.get(), /*dest_length=*/0);
//   uint64_t offset;
//   PARLEY_RETURN_IF_ERROR(writer.AddRecord("payload", &offset));
//   PARLEY_RETURN_IF_ERROR(file->Sync());
//
// The writer neither flushes nor syncs: its owner decides when (the store
// batches a group of records per flush and sync).
//
// Thread safety: thread-compatible (one writer per file, externally locked).
#ifndef PARLEY_RUNTIME_STORE_LOG_WRITER_H_
#define PARLEY_RUNTIME_STORE_LOG_WRITER_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "runtime/store/env.h"
#include "runtime/store/log_format.h"

namespace parley::store::log {

class Writer {
 public:
  // Appends to `dest`, which already holds `dest_length` bytes of log and
  // must outlive the writer.
  Writer(WritableFile* dest, uint64_t dest_length);
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Appends one logical record. On success *offset (if not null) is where
  // its first fragment starts. After an error the file's tail is undefined
  // (a torn record, which readers treat as the end of the log).
  absl::Status AddRecord(absl::string_view record, uint64_t* offset = nullptr);

  // AddRecord for a record of `n` bytes built where it goes, saving a copy:
  // the place to build it, in the file's map (WritableFile::MappedTail),
  // if it fits there whole and in one fragment; else null (use AddRecord).
  char* ReserveInPlace(size_t n);
  // Then frames the n bytes built at ReserveInPlace(n) and appends them;
  // *offset as from AddRecord.
  absl::Status CommitInPlace(size_t n, uint64_t* offset);

  // Bytes of log written so far (including block trailers).
  uint64_t length() const { return length_; }

 private:
  absl::Status EmitPhysicalRecord(RecordType type, const char* data, size_t n);
  // The header of a fragment of `type` holding data[0, n).
  void FillHeader(char* header, RecordType type, const char* data,
                  size_t n) const;

  WritableFile* const dest_;
  uint64_t length_;
  size_t block_offset_;       // Position inside the current block.
  char* reserved_ = nullptr;  // Where ReserveInPlace's record is built.
  // CRC32C of each type byte, precomputed: the CRC covers type + data.
  uint32_t type_crc_[kMaxRecordType + 1];
};

// Bytes a logical record of `length` bytes occupies on disk when a Writer
// starts it at `offset` (as reported by AddRecord): headers, data and any
// block trailers it crosses.
uint64_t PhysicalSpan(uint64_t offset, uint64_t length);

}  // namespace parley::store::log

#endif  // PARLEY_RUNTIME_STORE_LOG_WRITER_H_
