#include "runtime/store/log_writer.h"

#include <algorithm>
#include <cassert>

#include "runtime/store/crc32c.h"

namespace parley::store::log {

Writer::Writer(WritableFile* dest, uint64_t dest_length)
    : dest_(dest),
      length_(dest_length),
      block_offset_(static_cast<size_t>(dest_length % kBlockSize)) {
  for (int i = 0; i <= kMaxRecordType; ++i) {
    char t = static_cast<char>(i);
    type_crc_[i] = crc32c::Value(&t, 1);
  }
}

absl::Status Writer::AddRecord(absl::string_view record, uint64_t* offset) {
  const char* ptr = record.data();
  size_t left = record.size();
  bool begin = true;
  // An empty record still emits one (FULL, zero-length) fragment.
  do {
    const size_t leftover = kBlockSize - block_offset_;
    if (leftover < kHeaderSize) {
      // Too small for a header: zero trailer, then a fresh block.
      if (leftover > 0) {
        static constexpr char kZeros[kHeaderSize] = {};
        absl::Status s = dest_->Append(absl::string_view(kZeros, leftover));
        if (!s.ok()) return s;
        length_ += leftover;
      }
      block_offset_ = 0;
    }
    if (begin && offset != nullptr) *offset = length_;

    const size_t avail = kBlockSize - block_offset_ - kHeaderSize;
    const size_t fragment = std::min(left, avail);
    const bool end = (fragment == left);
    RecordType type = begin && end ? kFullType
                      : begin      ? kFirstType
                      : end        ? kLastType
                                   : kMiddleType;
    absl::Status s = EmitPhysicalRecord(type, ptr, fragment);
    if (!s.ok()) return s;
    ptr += fragment;
    left -= fragment;
    begin = false;
  } while (left > 0);
  return absl::OkStatus();
}

char* Writer::ReserveInPlace(size_t n) {
  if (kBlockSize - block_offset_ < kHeaderSize + n) return nullptr;
  reserved_ = dest_->MappedTail(kHeaderSize + n);
  return reserved_ == nullptr ? nullptr : reserved_ + kHeaderSize;
}

absl::Status Writer::CommitInPlace(size_t n, uint64_t* offset) {
  assert(reserved_ != nullptr);
  FillHeader(reserved_, kFullType, reserved_ + kHeaderSize, n);
  reserved_ = nullptr;
  absl::Status s = dest_->AppendInPlace(kHeaderSize + n);
  if (!s.ok()) return s;
  *offset = length_;
  block_offset_ += kHeaderSize + n;
  length_ += kHeaderSize + n;
  return absl::OkStatus();
}

void Writer::FillHeader(char* header, RecordType type, const char* data,
                        size_t n) const {
  assert(n <= 0xffff);
  assert(block_offset_ + kHeaderSize + n <= kBlockSize);
  uint32_t crc = crc32c::Mask(crc32c::Extend(type_crc_[type], data, n));
  for (int i = 0; i < 4; ++i) header[kCrcOffset + i] = char(crc >> (8 * i));
  header[kLengthOffset] = static_cast<char>(n & 0xff);
  header[kLengthOffset + 1] = static_cast<char>(n >> 8);
  header[kTypeOffset] = static_cast<char>(type);
}

absl::Status Writer::EmitPhysicalRecord(RecordType type, const char* data,
                                        size_t n) {
  char header[kHeaderSize];
  FillHeader(header, type, data, n);
  absl::Status s = dest_->Append(absl::string_view(header, kHeaderSize));
  if (s.ok() && n > 0) s = dest_->Append(absl::string_view(data, n));
  if (!s.ok()) return s;
  block_offset_ += kHeaderSize + n;
  length_ += kHeaderSize + n;
  return absl::OkStatus();
}

uint64_t PhysicalSpan(uint64_t offset, uint64_t length) {
  uint64_t pos = offset;
  do {
    uint64_t leftover = kBlockSize - pos % kBlockSize;
    if (leftover < kHeaderSize) pos += leftover;
    uint64_t avail = kBlockSize - pos % kBlockSize - kHeaderSize;
    uint64_t fragment = std::min(length, avail);
    pos += kHeaderSize + fragment;
    length -= fragment;
  } while (length > 0);
  return pos - offset;
}

}  // namespace parley::store::log
