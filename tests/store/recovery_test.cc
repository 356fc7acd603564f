// Recovery's rules, each proved by damaging a store's files by hand: a torn
// tail of the newest segment is the end of the log (and is cut on reopen);
// damage anywhere else is refused with DataLoss naming file and offset.
#include <filesystem>
#include <map>
#include <memory>
#include <utility>

#include "gtest/gtest.h"
#include "runtime/store/durable_store.h"
#include "runtime/store/log_format.h"
#include "runtime/store/log_reader.h"
#include "runtime/store/log_writer.h"
#include "runtime/store/record.h"
#include "tests/store/store_test_util.h"

namespace parley::store {
namespace {

using testing::Msg;
using testing::Pending;
using testing::ReadFileOrDie;
using testing::Seqs;
using testing::TestDir;
using testing::WriteFileOrDie;
using SeqList = std::vector<uint64_t>;

DurableStoreOptions Options() {
  DurableStoreOptions o;
  o.sync = SyncPolicy::kNever;
  o.segment_bytes = 8 << 10;
  o.preallocation = Preallocation::kNone;
  return o;
}

absl::StatusOr<std::unique_ptr<DurableStore>> Open(const TestDir& dir) {
  return DurableStore::Open(Env::Default(), dir.path(), Options());
}

// [start, end) of each logical record in a log file.
std::vector<std::pair<uint64_t, uint64_t>> RecordBounds(
    const std::string& path) {
  auto file = Env::Default()->NewSequentialFile(path);
  EXPECT_TRUE(file.ok());
  log::Reader reader(file->get());
  absl::string_view record;
  std::string scratch;
  std::vector<std::pair<uint64_t, uint64_t>> out;
  while (reader.ReadRecord(&record, &scratch) == log::Reader::kRecord) {
    out.emplace_back(reader.last_record_offset(), reader.end_of_last_record());
  }
  return out;
}

// Writes `records`, each framed as one log record, as the file `path`.
void WriteLog(const std::string& path,
              const std::vector<std::string>& records) {
  auto file = Env::Default()->NewWritableFile(path);
  ASSERT_TRUE(file.ok()) << file.status();
  log::Writer writer(file->get(), 0);
  for (const std::string& r : records) ASSERT_TRUE(writer.AddRecord(r).ok());
  ASSERT_TRUE((*file)->Close().ok());
}

class RecoveryTest : public ::testing::Test {
 protected:
  // Writes messages 1..n and closes the store.
  void Fill(uint64_t n, size_t payload = 40) {
    auto store = Open(dir_);
    ASSERT_TRUE(store.ok()) << store.status();
    for (uint64_t seq = 1; seq <= n; ++seq) {
      ASSERT_TRUE((*store)->Append(Msg(seq, payload)).ok());
    }
  }
  void Snapshot() {
    saved_.clear();
    for (const auto& e : std::filesystem::directory_iterator(dir_.path())) {
      saved_[e.path().string()] = ReadFileOrDie(e.path().string());
    }
  }
  void Restore() {
    std::filesystem::remove_all(dir_.path());
    std::filesystem::create_directory(dir_.path());
    for (const auto& [path, contents] : saved_) WriteFileOrDie(path, contents);
  }
  SeqList PendingAfterOpen() {
    auto store = Open(dir_);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? Seqs(Pending(**store)) : SeqList{};
  }
  void ExpectDataLossNaming(const std::string& file, uint64_t offset) {
    auto store = Open(dir_);
    ASSERT_FALSE(store.ok());
    EXPECT_TRUE(absl::IsDataLoss(store.status())) << store.status();
    std::string text(store.status().message());
    EXPECT_NE(text.find(file), std::string::npos) << text;
    EXPECT_NE(text.find("offset " + std::to_string(offset)), std::string::npos)
        << text;
  }

  TestDir dir_;
  std::map<std::string, std::string> saved_;
};

TEST_F(RecoveryTest, TruncatedTailAtEveryOffsetOfLastRecordIsCutOnReopen) {
  Fill(3);
  const std::string newest = dir_.Segments().back();
  auto [start, end] = RecordBounds(newest).back();
  Snapshot();
  for (uint64_t cut = start; cut < end; ++cut) {
    Restore();
    std::filesystem::resize_file(newest, cut);
    ASSERT_EQ(PendingAfterOpen(), (SeqList{1, 2})) << "cut at " << cut;
    // Cut back to record 2's end, then sealed (a 1-byte SEAL record).
    ASSERT_EQ(std::filesystem::file_size(newest), start + log::kHeaderSize + 1);
    ASSERT_EQ(PendingAfterOpen(), (SeqList{1, 2})) << "second reopen " << cut;
  }
}

TEST_F(RecoveryTest, ZeroFilledTailAtEveryOffsetOfLastRecordIsTheEnd) {
  Fill(3);
  const std::string newest = dir_.Segments().back();
  auto [start, end] = RecordBounds(newest).back();
  Snapshot();
  for (uint64_t cut = start; cut < end; ++cut) {
    Restore();
    std::string bytes = saved_[newest];
    bytes.replace(cut, end - cut, end - cut, '\0');
    bytes.append(3 * log::kBlockSize, '\0');  // Preallocated space.
    WriteFileOrDie(newest, bytes);
    ASSERT_EQ(PendingAfterOpen(), (SeqList{1, 2})) << "zeros from " << cut;
    ASSERT_EQ(PendingAfterOpen(), (SeqList{1, 2})) << "second reopen " << cut;
  }
}

TEST_F(RecoveryTest, CorruptLastRecordWithNothingValidAfterIsATornTail) {
  Fill(3);
  const std::string newest = dir_.Segments().back();
  std::string bytes = ReadFileOrDie(newest);
  bytes[RecordBounds(newest).back().first + log::kHeaderSize + 2] ^= 1;
  WriteFileOrDie(newest, bytes);
  EXPECT_EQ(PendingAfterOpen(), (SeqList{1, 2}));
}

TEST_F(RecoveryTest, FlippedByteInMiddleRecordIsRefusedNamingFileAndOffset) {
  Fill(3);
  const std::string newest = dir_.Segments().back();
  auto bounds = RecordBounds(newest);  // META, 1, 2, 3.
  uint64_t second = bounds[2].first;
  std::string bytes = ReadFileOrDie(newest);
  bytes[second + log::kHeaderSize + 5] ^= 0x20;
  WriteFileOrDie(newest, bytes);
  ExpectDataLossNaming(std::filesystem::path(newest).filename(), second);
}

TEST_F(RecoveryTest, CorruptRecordInNonLastSegmentIsRefused) {
  Fill(400);
  std::vector<std::string> segments = dir_.Segments();
  ASSERT_GE(segments.size(), 3u);
  auto bounds = RecordBounds(segments[1]);
  std::string bytes = ReadFileOrDie(segments[1]);
  bytes[bounds.back().first + 3] ^= 0x01;  // The SEAL's checksum.
  WriteFileOrDie(segments[1], bytes);
  ExpectDataLossNaming(std::filesystem::path(segments[1]).filename(),
                       bounds.back().first);
}

TEST_F(RecoveryTest, NonLastSegmentCutShortIsRefusedForItsMissingSeal) {
  Fill(400);
  std::vector<std::string> segments = dir_.Segments();
  auto bounds = RecordBounds(segments[0]);
  std::filesystem::resize_file(segments[0], bounds[bounds.size() / 2].second);
  ExpectDataLossNaming(std::filesystem::path(segments[0]).filename(),
                       bounds[bounds.size() / 2].second);
}

TEST_F(RecoveryTest, ZeroedBlockFollowedByValidRecordsIsRefused) {
  DurableStoreOptions big = Options();
  big.segment_bytes = 1 << 20;
  {
    auto store = DurableStore::Open(Env::Default(), dir_.path(), big);
    ASSERT_TRUE(store.ok());
    for (uint64_t seq = 1; seq <= 100; ++seq) {
      ASSERT_TRUE((*store)->Append(Msg(seq, 2000)).ok());
    }
  }
  const std::string newest = dir_.Segments().back();
  std::string bytes = ReadFileOrDie(newest);
  ASSERT_GT(bytes.size(), 3 * log::kBlockSize);
  bytes.replace(log::kBlockSize, log::kBlockSize, log::kBlockSize, '\0');
  WriteFileOrDie(newest, bytes);
  ExpectDataLossNaming(std::filesystem::path(newest).filename(),
                       log::kBlockSize);
}

TEST_F(RecoveryTest, EmptyNewestSegmentFileIsAnEmptyTail) {
  // A crash right after a reopen created its segment, before the segment's
  // META checkpoint reached the disk: the sealed older segment has it all.
  Fill(5);
  ASSERT_EQ(PendingAfterOpen(), (SeqList{1, 2, 3, 4, 5}));
  WriteFileOrDie(dir_.Segments().back(), "");
  EXPECT_EQ(PendingAfterOpen(), (SeqList{1, 2, 3, 4, 5}));
}

TEST_F(RecoveryTest, ZeroFilledNewestSegmentIsAnEmptyTail) {
  // A crash after the prepared next segment (zeros) was renamed into
  // place, before its META reached the disk: the sealed older segment has
  // it all, and the store goes on from there.
  Fill(5);
  ASSERT_EQ(PendingAfterOpen(), (SeqList{1, 2, 3, 4, 5}));
  WriteFileOrDie(dir_.Segments().back(), std::string(64 << 10, '\0'));
  {
    auto store = Open(dir_);
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_EQ(Seqs(Pending(**store)), (SeqList{1, 2, 3, 4, 5}));
    ASSERT_TRUE((*store)->Append(Msg(6)).ok());
  }
  EXPECT_EQ(PendingAfterOpen(), (SeqList{1, 2, 3, 4, 5, 6}));
}

TEST_F(RecoveryTest, EmptyDirectoryAndForeignFilesOpenCleanly) {
  std::filesystem::create_directory(dir_.path());
  WriteFileOrDie(dir_.path() + "/README", "not a segment");
  EXPECT_EQ(PendingAfterOpen(), SeqList{});
}

// Found by fuzzing (tests/fuzz, store): a MESSAGE whose checksum is valid
// but whose fields end after the seq was indexed, and Open succeeded; the
// store then failed every ForEachPending. Recovery now checks the whole
// record and refuses the directory.
TEST_F(RecoveryTest, MessageWithValidChecksumButMalformedFieldsIsRefused) {
  std::filesystem::create_directory(dir_.path());
  const std::string segment = dir_.path() + "/000001.log";
  const std::string cut_after_seq("\x01\x02", 2);
  WriteLog(segment, {EncodeMeta(Checkpoint{}), EncodeMessage(Msg(1)),
                     cut_after_seq, EncodeMessage(Msg(3))});
  ExpectDataLossNaming("000001.log", RecordBounds(segment)[2].first);
}

// Found by fuzzing (tests/fuzz, store): an ACKED or META record acking a
// seq never appended was taken as it was; the next Append then got a seq
// at or below acked_through and was gone after the following reopen.
TEST_F(RecoveryTest, AckBeyondTheLastAppendedSeqIsRefused) {
  std::filesystem::create_directory(dir_.path());
  const std::string segment = dir_.path() + "/000001.log";
  Checkpoint meta_acking_ahead;
  meta_acking_ahead.acked_through = 50;
  const std::vector<std::vector<std::string>> logs = {
      {EncodeMeta(Checkpoint{}), EncodeMessage(Msg(1)), EncodeAcked(2)},
      {EncodeMeta(meta_acking_ahead)}};
  for (const std::vector<std::string>& records : logs) {
    WriteLog(segment, records);
    ExpectDataLossNaming("000001.log", RecordBounds(segment).back().first);
  }
}

// Found by fuzzing (tests/fuzz, store): a MESSAGE of seq 2^64-1 made
// next_seq wrap to 0, after which Append reused seqs.
TEST_F(RecoveryTest, SeqThatWouldWrapNextSeqIsRefused) {
  std::filesystem::create_directory(dir_.path());
  const std::string segment = dir_.path() + "/000001.log";
  WriteLog(segment, {EncodeMeta(Checkpoint{}), EncodeMessage(Msg(UINT64_MAX))});
  ExpectDataLossNaming("000001.log", RecordBounds(segment).back().first);
}

TEST_F(RecoveryTest, MillionPendingIndexIsCompactAndReopenIsFast) {
  // A smaller count keeps the sanitizer build quick; the bench runs 1M.
  Fill(20000, 64);
  auto start = absl::Now();
  auto store = Open(dir_);
  ASSERT_TRUE(store.ok());
  EXPECT_EQ((*store)->pending_count(), 20000u);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

}  // namespace
}  // namespace parley::store
