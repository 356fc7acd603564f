// The log format's rules, one test each (LevelDB's db/log_test.cc is the
// model): what the writer lays out and how the reader reacts to damage.
#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/store/log_reader.h"
#include "runtime/store/log_writer.h"
#include "runtime/store/testing/string_files.h"

namespace parley::store::log {
namespace {

using ::parley::store::testing::StringDest;
using ::parley::store::testing::StringSource;

std::string Big(const std::string& partial, size_t n) {
  std::string s;
  while (s.size() < n) s += partial;
  s.resize(n);
  return s;
}

class LogTest : public ::testing::Test {
 protected:
  uint64_t Write(const std::string& record) {
    uint64_t offset = 0;
    EXPECT_TRUE(writer_.AddRecord(record, &offset).ok());
    EXPECT_EQ(dest_.contents.size(), writer_.length());
    return offset;
  }
  // Reads every record; the last entry is "EOF" or "CORRUPTION".
  std::vector<std::string> ReadAll() {
    source_ = std::make_unique<StringSource>(dest_.contents);
    reader_ = std::make_unique<Reader>(source_.get());
    std::vector<std::string> out;
    absl::string_view record;
    std::string scratch;
    for (;;) {
      Reader::Result r = reader_->ReadRecord(&record, &scratch);
      if (r == Reader::kRecord) {
        out.emplace_back(record.data(), record.size());
        continue;
      }
      out.push_back(r == Reader::kEof ? "EOF" : "CORRUPTION");
      return out;
    }
  }
  bool ValidAfter(uint64_t offset) {
    StringSource raf(dest_.contents);
    absl::StatusOr<bool> r =
        ValidRecordAfter(raf, dest_.contents.size(), offset);
    EXPECT_TRUE(r.ok());
    return *r;
  }
  void FlipByte(size_t offset) { dest_.contents[offset] ^= 0x5a; }

  StringDest dest_;
  Writer writer_{&dest_, 0};
  std::unique_ptr<StringSource> source_;
  std::unique_ptr<Reader> reader_;
};

using Records = std::vector<std::string>;

TEST_F(LogTest, EmptyLogReadsAsEof) { EXPECT_EQ(ReadAll(), Records{"EOF"}); }

TEST_F(LogTest, RecordsReadBackInOrderIncludingEmptyAndBinary) {
  std::string binary("a\0b\0\xff", 5);
  Write("foo");
  Write("");
  Write(binary);
  EXPECT_EQ(ReadAll(), (Records{"foo", "", binary, "EOF"}));
}

TEST_F(LogTest, RecordSpanningBlocksIsFragmentedAndReassembled) {
  std::string big = Big("0123456789", 3 * kBlockSize + 100);
  Write("small");
  uint64_t at = Write(big);
  Write("after");
  EXPECT_EQ(dest_.contents[at + kTypeOffset], char(kFirstType));
  EXPECT_EQ(dest_.contents[kBlockSize + kTypeOffset], char(kMiddleType));
  EXPECT_EQ(ReadAll(), (Records{"small", big, "after", "EOF"}));
}

TEST_F(LogTest, RecordExactlyFillingABlockLeavesNoTrailer) {
  Write(Big("x", kBlockSize - kHeaderSize));
  EXPECT_EQ(dest_.contents.size(), kBlockSize);
  uint64_t at = Write("next");
  EXPECT_EQ(at, kBlockSize);
  EXPECT_EQ(ReadAll().size(), 3u);
}

TEST_F(LogTest, FewerThanHeaderBytesLeftBecomeAZeroTrailer) {
  const size_t n = kBlockSize - 2 * kHeaderSize + 4;  // Leaves 3 bytes.
  Write(Big("foo", n));
  uint64_t at = Write("bar");
  EXPECT_EQ(at, kBlockSize);
  EXPECT_EQ(dest_.contents.substr(kBlockSize - 3, 3), std::string(3, '\0'));
  EXPECT_EQ(ReadAll(), (Records{Big("foo", n), "bar", "EOF"}));
}

TEST_F(LogTest, ExactlyHeaderBytesLeftHoldAnEmptyFirstFragment) {
  const size_t n = kBlockSize - 2 * kHeaderSize;  // Leaves 7 bytes.
  Write(Big("foo", n));
  uint64_t at = Write("bar");
  EXPECT_EQ(at, kBlockSize - kHeaderSize);
  EXPECT_EQ(dest_.contents[at + kTypeOffset], char(kFirstType));
  EXPECT_EQ(ReadAll(), (Records{Big("foo", n), "bar", "EOF"}));
}

TEST_F(LogTest, PhysicalSpanMatchesWhatTheWriterWrote) {
  for (size_t n : {0, 1, 100, 32000, 32761, 32762, 32768, 70000, 100}) {
    uint64_t at = Write(Big("s", n));
    EXPECT_EQ(at + PhysicalSpan(at, n), dest_.contents.size()) << n;
  }
}

// A record built in place is laid out as AddRecord lays it out; the
// writer offers it only where it fits, mapped, in one FULL fragment.
TEST_F(LogTest, RecordBuiltInPlaceIsWhatAddRecordWrites) {
  StringDest copied;
  Writer by_copy(&copied, 0);
  ASSERT_TRUE(dest_.Preallocate(2 * kBlockSize, /*zero_fill=*/true).ok());
  uint64_t offsets[2];
  for (uint64_t& offset : offsets) {
    char* at = writer_.ReserveInPlace(5);
    ASSERT_NE(at, nullptr);
    std::memcpy(at, "hello", 5);
    ASSERT_TRUE(writer_.CommitInPlace(5, &offset).ok());
    uint64_t copied_at;
    ASSERT_TRUE(by_copy.AddRecord("hello", &copied_at).ok());
    EXPECT_EQ(offset, copied_at);
  }
  EXPECT_EQ(offsets[1], kHeaderSize + 5);
  EXPECT_EQ(writer_.length(), 2 * (kHeaderSize + 5));
  EXPECT_EQ(dest_.contents, copied.contents);
  EXPECT_EQ(ReadAll(), (Records{"hello", "hello", "EOF"}));
}

TEST_F(LogTest, InPlaceOnlyWhereTheRecordFitsTheBlockAndTheMap) {
  EXPECT_EQ(writer_.ReserveInPlace(5), nullptr);  // nothing mapped
  ASSERT_TRUE(dest_.Preallocate(kBlockSize + 100, /*zero_fill=*/true).ok());
  EXPECT_EQ(writer_.ReserveInPlace(kBlockSize - kHeaderSize + 1), nullptr);
  const size_t n = kBlockSize - 2 * kHeaderSize;  // Leaves 7 bytes.
  Write(Big("foo", n));
  EXPECT_EQ(writer_.ReserveInPlace(1), nullptr);  // would be fragmented
  EXPECT_NE(writer_.ReserveInPlace(0), nullptr);  // exactly the 7 left
  Write("next");  // an empty FIRST fragment, then the next block
  const size_t room = dest_.MappedRoom();  // less than the block has left
  ASSERT_EQ(room, kBlockSize + 100 - dest_.contents.size());
  EXPECT_EQ(writer_.ReserveInPlace(room - kHeaderSize + 1), nullptr);
  EXPECT_NE(writer_.ReserveInPlace(room - kHeaderSize), nullptr);
}

TEST_F(LogTest, ZeroFilledTailReadsAsEof) {
  Write("foo");
  dest_.contents.append(5000, '\0');
  EXPECT_EQ(ReadAll(), (Records{"foo", "EOF"}));
  EXPECT_EQ(reader_->end_of_last_record(), kHeaderSize + 3);
}

TEST_F(LogTest, ChecksumMismatchIsReportedAtItsOffsetAndFollowedByValid) {
  Write("foo");
  uint64_t at = Write("bar");
  Write("baz");
  FlipByte(at + kHeaderSize + 1);
  EXPECT_EQ(ReadAll(), (Records{"foo", "CORRUPTION"}));
  EXPECT_EQ(reader_->corruption_offset(), at);
  EXPECT_EQ(reader_->corruption_reason(), "checksum mismatch");
  EXPECT_TRUE(ValidAfter(at));
}

TEST_F(LogTest, TruncatedTailAtEveryOffsetOfLastRecordEndsTheLog) {
  Write("foo");
  uint64_t at = Write(Big("bar", 200));
  const std::string full = dest_.contents;
  for (size_t cut = at; cut < full.size(); ++cut) {
    dest_.contents = full.substr(0, cut);
    Records got = ReadAll();
    ASSERT_EQ(got[0], "foo") << cut;
    ASSERT_EQ(got.size(), 2u) << cut;
    EXPECT_EQ(reader_->end_of_last_record(), at) << cut;
    EXPECT_FALSE(ValidAfter(cut == at ? at : reader_->corruption_offset()));
  }
}

TEST_F(LogTest, TornFragmentedRecordEndsTheLogAtItsFirstFragment) {
  Write("foo");
  uint64_t at = Write(Big("x", 2 * kBlockSize));
  dest_.contents.resize(kBlockSize + 100);  // Cut inside the MIDDLE.
  EXPECT_EQ(ReadAll(), (Records{"foo", "CORRUPTION"}));
  EXPECT_EQ(reader_->end_of_last_record(), at);
  dest_.contents.resize(kBlockSize);  // Cut after FIRST: no LAST.
  EXPECT_EQ(ReadAll(), (Records{"foo", "CORRUPTION"}));
  EXPECT_EQ(reader_->end_of_last_record(), at);
}

TEST_F(LogTest, LengthBeyondBlockIsCorruption) {
  uint64_t at = Write("foo");
  Write("bar");
  dest_.contents[at + kLengthOffset + 1] = '\x7f';
  EXPECT_EQ(ReadAll(), (Records{"CORRUPTION"}));
  EXPECT_EQ(reader_->corruption_offset(), at);
}

TEST_F(LogTest, UnknownTypeIsCorruption) {
  Write("foo");
  dest_.contents[kTypeOffset] = 9;
  EXPECT_EQ(ReadAll(), (Records{"CORRUPTION"}));
  EXPECT_EQ(reader_->corruption_reason(), "unknown record type 9");
}

TEST_F(LogTest, ZeroedBlockFollowedByAValidBlockIsFoundByValidRecordAfter) {
  Write(Big("a", kBlockSize - kHeaderSize));  // Block 0.
  Write(Big("b", kBlockSize - kHeaderSize));  // Block 1.
  Write("c");                                 // Block 2.
  std::memset(&dest_.contents[kBlockSize], 0, kBlockSize);
  EXPECT_EQ(ReadAll().back(), "EOF");
  EXPECT_EQ(reader_->end_of_last_record(), kBlockSize);
  EXPECT_TRUE(ValidAfter(kBlockSize));
}

TEST_F(LogTest, DecodeRecordReassemblesFragmentsAndChecksEachChecksum) {
  Write("foo");
  std::string big = Big("xyz", 2 * kBlockSize);
  uint64_t at = Write(big);
  absl::string_view all(dest_.contents);
  std::string out;
  ASSERT_TRUE(
      DecodeRecord(all.substr(at, PhysicalSpan(at, big.size())), at, &out)
          .ok());
  EXPECT_EQ(out, big);
  FlipByte(kBlockSize + 100);
  all = dest_.contents;
  absl::Status s =
      DecodeRecord(all.substr(at, PhysicalSpan(at, big.size())), at, &out);
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
}

}  // namespace
}  // namespace parley::store::log
