// CRC32C (Castagnoli), the checksum of the durable log's record headers.
//
//   uint32_t crc = crc32c::Value(data, n);
//   crc = crc32c::Extend(crc, more, m);      // == Value(data ++ more)
//   uint32_t stored = crc32c::Mask(crc);     // what goes on disk
//
// Debian 12 ships no crc32c library and abseil 20220623 has no absl/crc, so
// this is the one implementation in the tree. On x86-64 CPUs with SSE4.2 it
// uses the crc32 instruction (checked once at run time); elsewhere a
// slicing-by-8 table. Both are tested against the RFC 3720 vectors.
//
// Thread safety: all functions are pure and thread-safe.
#ifndef PARLEY_RUNTIME_STORE_CRC32C_H_
#define PARLEY_RUNTIME_STORE_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace parley::store::crc32c {

// The CRC of data[0, n) appended to data whose CRC is `init_crc`.
uint32_t Extend(uint32_t init_crc, const char* data, size_t n);

// The CRC of data[0, n).
inline uint32_t Value(const char* data, size_t n) { return Extend(0, data, n); }

// The two implementations behind Extend, exposed for tests and the bench.
uint32_t ExtendPortable(uint32_t init_crc, const char* data, size_t n);
// Requires HardwareAvailable().
uint32_t ExtendHardware(uint32_t init_crc, const char* data, size_t n);
bool HardwareAvailable();

// A CRC stored next to data that may itself contain CRCs is masked, as in
// LevelDB: computing the CRC of a string that contains embedded CRCs is
// otherwise prone to trivial collisions.
inline constexpr uint32_t kMaskDelta = 0xa282ead8u;

inline uint32_t Mask(uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + kMaskDelta;
}

inline uint32_t Unmask(uint32_t masked) {
  uint32_t rot = masked - kMaskDelta;
  return (rot >> 17) | (rot << 15);
}

}  // namespace parley::store::crc32c

#endif  // PARLEY_RUNTIME_STORE_CRC32C_H_
