#include "runtime/store/crc32c.h"

#include <cstring>
#include <random>
#include <string>

#include "gtest/gtest.h"

namespace parley::store::crc32c {
namespace {

using ExtendFn = uint32_t (*)(uint32_t, const char*, size_t);

uint32_t Crc(ExtendFn fn, const std::string& s) {
  return fn(0, s.data(), s.size());
}

// RFC 3720, appendix B.4, for each implementation.
void ExpectRfc3720Vectors(ExtendFn fn) {
  EXPECT_EQ(Crc(fn, std::string(32, '\0')), 0x8a9136aau);
  EXPECT_EQ(Crc(fn, std::string(32, '\xff')), 0x62a8ab43u);
  std::string ascending(32, 0), descending(32, 0);
  for (int i = 0; i < 32; ++i) {
    ascending[i] = static_cast<char>(i);
    descending[i] = static_cast<char>(31 - i);
  }
  EXPECT_EQ(Crc(fn, ascending), 0x46dd794eu);
  EXPECT_EQ(Crc(fn, descending), 0x113fdb5cu);
  const unsigned char iscsi_read[48] = {
      0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
      0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  EXPECT_EQ(fn(0, reinterpret_cast<const char*>(iscsi_read), 48), 0xd9963a56u);
  EXPECT_EQ(Crc(fn, "123456789"), 0xe3069283u);
}

TEST(Crc32cTest, PortableMatchesRfc3720Vectors) {
  ExpectRfc3720Vectors(&ExtendPortable);
}

TEST(Crc32cTest, HardwareMatchesRfc3720Vectors) {
  if (!HardwareAvailable()) GTEST_SKIP() << "no SSE4.2 on this CPU";
  ExpectRfc3720Vectors(&ExtendHardware);
}

TEST(Crc32cTest, HardwareAndPortableAgreeAtEveryAlignmentAndLength) {
  std::mt19937 rng(42);
  std::string data(4096 + 16, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  for (size_t align = 0; align < 8; ++align) {
    for (size_t n : {0, 1, 7, 8, 9, 63, 64, 65, 1000, 4096}) {
      uint32_t portable = ExtendPortable(0, data.data() + align, n);
      EXPECT_EQ(Value(data.data() + align, n), portable);
      if (HardwareAvailable()) {
        EXPECT_EQ(ExtendHardware(0, data.data() + align, n), portable);
      }
    }
  }
}

TEST(Crc32cTest, ExtendEqualsValueOfConcatenation) {
  EXPECT_EQ(Value("hello world", 11), Extend(Value("hello ", 6), "world", 5));
}

TEST(Crc32cTest, MaskChangesTheValueAndUnmaskRestoresIt) {
  uint32_t crc = Value("foo", 3);
  EXPECT_NE(crc, Mask(crc));
  EXPECT_NE(crc, Mask(Mask(crc)));
  EXPECT_EQ(crc, Unmask(Mask(crc)));
  EXPECT_EQ(crc, Unmask(Unmask(Mask(Mask(crc)))));
}

}  // namespace
}  // namespace parley::store::crc32c
