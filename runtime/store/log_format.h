// The framing of the durable log, shared by log::Writer and log::Reader.
// docs/LOG_FORMAT.md specifies it in prose; this header holds the numbers.
//
// A log file is a sequence of 32 KiB blocks. Each block holds physical
// records and, when fewer than kHeaderSize bytes are left, a zero trailer:
//
//   physical record := crc: fixed32    masked CRC32C of type byte + data
//                      length: fixed16 little-endian, bytes of data
//                      type: uint8     one of RecordType
//                      data: uint8[length]
//
// A logical record too big for the rest of a block is split into FIRST,
// MIDDLE..., LAST fragments. A header of seven zero bytes marks the end of
// the written part of a preallocated (zero-filled) file.
//
// Thread safety: constants only.
#ifndef PARLEY_RUNTIME_STORE_LOG_FORMAT_H_
#define PARLEY_RUNTIME_STORE_LOG_FORMAT_H_

#include <cstddef>
#include <cstdint>

namespace parley::store::log {

enum RecordType : uint8_t {
  // Never written: the type byte of zero-filled space at the end of a file.
  kZeroType = 0,
  kFullType = 1,
  // Fragments of a record that spans blocks.
  kFirstType = 2,
  kMiddleType = 3,
  kLastType = 4,
};
inline constexpr int kMaxRecordType = kLastType;

inline constexpr size_t kBlockSize = 32768;

// crc (4 bytes) + length (2 bytes) + type (1 byte).
inline constexpr size_t kHeaderSize = 4 + 2 + 1;

// Byte offsets inside a header.
inline constexpr size_t kCrcOffset = 0;
inline constexpr size_t kLengthOffset = 4;
inline constexpr size_t kTypeOffset = 6;

}  // namespace parley::store::log

#endif  // PARLEY_RUNTIME_STORE_LOG_FORMAT_H_
