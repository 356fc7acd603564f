// FuzzInput reads a fuzzer's bytes front to back as a little script of
// operations and their arguments; FuzzScript writes such scripts, for the
// seed corpus (seeds.cc). Reading past the end yields zeros and empty
// strings, so every byte string is a valid script.
//
//   FuzzInput in(data, size);
//   while (!in.empty()) {
//     switch (in.Byte() % kOps) { case 0: Call(in.Bytes(in.U16())); ... }
//   }
//
//   FuzzScript seed;
//   seed.Byte(0).U16(2).Bytes("hi");  // the script above, calling "hi"
//
// Thread safety: thread-compatible.
#ifndef PARLEY_TESTS_FUZZ_FUZZ_INPUT_H_
#define PARLEY_TESTS_FUZZ_FUZZ_INPUT_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace parley::fuzz {

class FuzzInput {
 public:
  // `data` must outlive the FuzzInput.
  FuzzInput(const uint8_t* data, size_t size)
      : data_(reinterpret_cast<const char*>(data), size) {}

  bool empty() const { return data_.empty(); }
  uint8_t Byte() {
    if (data_.empty()) return 0;
    uint8_t b = static_cast<uint8_t>(data_.front());
    data_.remove_prefix(1);
    return b;
  }
  // Little-endian.
  uint16_t U16() { return static_cast<uint16_t>(Unsigned(2)); }
  uint64_t U64() { return Unsigned(8); }
  // Up to n bytes (fewer at the end of the input).
  std::string Bytes(size_t n) {
    absl::string_view taken = data_.substr(0, n);
    data_.remove_prefix(taken.size());
    return std::string(taken);
  }

 private:
  uint64_t Unsigned(int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= uint64_t{Byte()} << (8 * i);
    return v;
  }

  absl::string_view data_;
};

class FuzzScript {
 public:
  FuzzScript& Byte(uint8_t b) {
    out_.push_back(static_cast<char>(b));
    return *this;
  }
  FuzzScript& U16(uint16_t v) { return Unsigned(v, 2); }
  FuzzScript& U64(uint64_t v) { return Unsigned(v, 8); }
  FuzzScript& Bytes(absl::string_view bytes) {
    out_.append(bytes.data(), bytes.size());
    return *this;
  }
  // A U16 length, then the bytes.
  FuzzScript& Sized(absl::string_view bytes) {
    return U16(static_cast<uint16_t>(bytes.size())).Bytes(bytes);
  }
  const std::string& str() const { return out_; }

 private:
  FuzzScript& Unsigned(uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) Byte(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }

  std::string out_;
};

}  // namespace parley::fuzz

#endif  // PARLEY_TESTS_FUZZ_FUZZ_INPUT_H_
