#include "runtime/store/log_reader.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "runtime/store/crc32c.h"

namespace parley::store::log {
namespace {

struct Header {
  uint32_t masked_crc;
  size_t length;
  int type;
  bool all_zero;
};

Header ParseHeader(const char* p) {
  auto b = [p](size_t i) { return static_cast<uint32_t>(uint8_t(p[i])); };
  Header h;
  h.masked_crc = b(0) | (b(1) << 8) | (b(2) << 16) | (b(3) << 24);
  h.length = b(kLengthOffset) | (b(kLengthOffset + 1) << 8);
  h.type = static_cast<int>(b(kTypeOffset));
  h.all_zero = h.masked_crc == 0 && h.length == 0 && h.type == kZeroType;
  return h;
}

bool ChecksumOk(const Header& h, const char* header) {
  uint32_t actual = crc32c::Extend(0, header + kTypeOffset, 1 + h.length);
  return crc32c::Unmask(h.masked_crc) == actual;
}

bool AllZero(absl::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == 0; });
}

}  // namespace

Reader::Reader(SequentialFile* file)
    : file_(file), backing_(new char[kBlockSize]) {}

int Reader::Bad(uint64_t offset, std::string reason) {
  corruption_offset_ = offset;
  corruption_reason_ = std::move(reason);
  return kPhysBad;
}

int Reader::ReadPhysicalRecord(absl::string_view* fragment, uint64_t* offset) {
  while (buffer_.size() < kHeaderSize) {
    if (eof_) {
      // A few bytes at the very end: a zero trailer or a torn header.
      if (!AllZero(buffer_)) return Bad(buffer_offset_, "truncated header");
      *offset = buffer_offset_;
      return kPhysEof;
    }
    // The rest of the block is a trailer; move to the next block.
    buffer_offset_ += buffer_.size();
    absl::Status s = file_->Read(kBlockSize, &buffer_, backing_.get());
    if (!s.ok()) {
      io_status_ = s;
      return kPhysIo;
    }
    if (buffer_.size() < kBlockSize) eof_ = true;
  }
  *offset = buffer_offset_;
  Header h = ParseHeader(buffer_.data());
  if (h.all_zero) return kPhysEof;  // Preallocated space: end of the log.
  if (kHeaderSize + h.length > buffer_.size()) {
    return Bad(buffer_offset_,
               eof_ ? "truncated record" : "record length beyond block end");
  }
  if (h.type == kZeroType || h.type > kMaxRecordType) {
    return Bad(buffer_offset_, absl::StrCat("unknown record type ", h.type));
  }
  if (!ChecksumOk(h, buffer_.data())) {
    return Bad(buffer_offset_, "checksum mismatch");
  }
  *fragment = buffer_.substr(kHeaderSize, h.length);
  buffer_.remove_prefix(kHeaderSize + h.length);
  buffer_offset_ += kHeaderSize + h.length;
  return h.type;
}

Reader::Result Reader::ReadRecord(absl::string_view* record,
                                  std::string* scratch) {
  scratch->clear();
  bool in_fragmented = false;
  uint64_t first_offset = 0;
  for (;;) {
    absl::string_view fragment;
    uint64_t offset = 0;
    int type = ReadPhysicalRecord(&fragment, &offset);
    bool starts = type == kFullType || type == kFirstType;
    if (starts && in_fragmented) {
      Bad(offset, "fragmented record without its LAST fragment");
      return kCorruption;
    }
    if ((type == kMiddleType || type == kLastType) && !in_fragmented) {
      Bad(offset, "MIDDLE or LAST fragment without a FIRST");
      return kCorruption;
    }
    switch (type) {
      case kFullType:
        *record = fragment;
        last_record_offset_ = offset;
        end_of_last_record_ = buffer_offset_;
        return kRecord;
      case kFirstType:
        in_fragmented = true;
        first_offset = offset;
        scratch->assign(fragment.data(), fragment.size());
        break;
      case kMiddleType:
        scratch->append(fragment.data(), fragment.size());
        break;
      case kLastType:
        scratch->append(fragment.data(), fragment.size());
        *record = *scratch;
        last_record_offset_ = first_offset;
        end_of_last_record_ = buffer_offset_;
        return kRecord;
      case kPhysEof:
        if (!in_fragmented) return kEof;
        Bad(offset, "fragmented record cut short by the end of the log");
        return kCorruption;
      case kPhysIo:
        return kIoError;
      default:
        return kCorruption;
    }
  }
}

absl::StatusOr<bool> ValidRecordAfter(const RandomAccessFile& file,
                                      uint64_t file_size, uint64_t bad_offset) {
  std::unique_ptr<char[]> scratch(new char[kBlockSize]);
  uint64_t pos = bad_offset;
  uint64_t block_start = bad_offset - bad_offset % kBlockSize;
  // Follow the length fields through the rest of the bad record's block,
  // then try each later block's first header.
  for (bool first_block = true; block_start < file_size;
       block_start += kBlockSize, first_block = false) {
    if (!first_block) pos = block_start;
    absl::string_view block;
    absl::Status s = file.Read(block_start, kBlockSize, &block, scratch.get());
    if (!s.ok()) return s;
    while (pos - block_start + kHeaderSize <= block.size()) {
      const char* p = block.data() + (pos - block_start);
      Header h = ParseHeader(p);
      bool plausible =
          h.type != kZeroType && h.type <= kMaxRecordType &&
          pos - block_start + kHeaderSize + h.length <= block.size();
      if (!plausible) break;
      if (ChecksumOk(h, p)) return true;
      if (!first_block) break;
      pos += kHeaderSize + h.length;
    }
  }
  return false;
}

absl::Status DecodeRecord(absl::string_view bytes, uint64_t file_offset,
                          std::string* record) {
  record->clear();
  uint64_t pos = file_offset;
  bool first = true;
  while (!bytes.empty()) {
    size_t left_in_block = kBlockSize - pos % kBlockSize;
    if (left_in_block < kHeaderSize) {  // Trailer.
      size_t skip = std::min(left_in_block, bytes.size());
      bytes.remove_prefix(skip);
      pos += skip;
      continue;
    }
    if (bytes.size() < kHeaderSize) break;
    Header h = ParseHeader(bytes.data());
    bool type_ok = first ? (h.type == kFullType || h.type == kFirstType)
                         : (h.type == kMiddleType || h.type == kLastType);
    if (!type_ok || kHeaderSize + h.length > bytes.size() ||
        !ChecksumOk(h, bytes.data())) {
      return absl::DataLossError(
          absl::StrCat("bad record fragment at offset ", pos));
    }
    record->append(bytes.data() + kHeaderSize, h.length);
    bytes.remove_prefix(kHeaderSize + h.length);
    pos += kHeaderSize + h.length;
    first = false;
    if (h.type == kFullType || h.type == kLastType) return absl::OkStatus();
  }
  return absl::DataLossError(
      absl::StrCat("record at offset ", file_offset, " is incomplete"));
}

}  // namespace parley::store::log
