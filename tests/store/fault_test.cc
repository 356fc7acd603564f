// The sync policies tell the truth, proved with FaultInjectionEnv: a crash
// drops every unsynced byte, and writes or syncs can be made to fail.
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/store/durable_store.h"
#include "runtime/store/testing/fault_injection_env.h"
#include "tests/store/store_test_util.h"

namespace parley::store {
namespace {

using testing::FaultInjectionEnv;
using testing::Msg;
using testing::Pending;
using testing::Seqs;
using testing::TestDir;
using SeqList = std::vector<uint64_t>;

SeqList Range(uint64_t from, uint64_t to) {
  SeqList out;
  for (uint64_t s = from; s <= to; ++s) out.push_back(s);
  return out;
}

class FaultTest : public ::testing::Test {
 protected:
  std::unique_ptr<DurableStore> Open(SyncPolicy sync,
                                     absl::Duration interval = absl::Hours(1)) {
    DurableStoreOptions o;
    o.sync = sync;
    o.sync_interval = interval;
    o.segment_bytes = 64 << 10;
    auto store = DurableStore::Open(&env_, dir_.path(), o);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }
  // The machine dies: the store never gets to write again, and the disk
  // keeps only what was synced. Then the store is reopened.
  std::unique_ptr<DurableStore> CrashAndReopen(
      std::unique_ptr<DurableStore> store) {
    env_.SetFilesystemActive(false);
    store.reset();
    EXPECT_TRUE(env_.DropUnsyncedData().ok());
    env_.SetFilesystemActive(true);
    env_.SetWriteError(absl::OkStatus());
    env_.SetSyncError(absl::OkStatus());
    return Open(SyncPolicy::kNever);
  }

  TestDir dir_;
  FaultInjectionEnv env_;
};

TEST_F(FaultTest, EveryWriteAppendsThatReturnedOkSurviveACrash) {
  auto store = Open(SyncPolicy::kEveryWrite);
  for (uint64_t seq = 1; seq <= 300; ++seq) {
    ASSERT_TRUE(store->Append(Msg(seq, 500)).ok());  // Several segments.
    if (seq == 100) {
      ASSERT_TRUE(store->MarkAcked(40).ok());
    }
  }
  store = CrashAndReopen(std::move(store));
  auto pending = Pending(*store);
  EXPECT_EQ(Seqs(pending), Range(41, 300));
  EXPECT_EQ(pending.back().payload, Msg(300, 500).payload);
}

TEST_F(FaultTest, NeverPolicyCanLoseAcknowledgedAppendsInACrash) {
  auto store = Open(SyncPolicy::kNever);
  for (uint64_t seq = 1; seq <= 100; ++seq) {
    ASSERT_TRUE(store->Append(Msg(seq)).ok());
  }
  store = CrashAndReopen(std::move(store));
  SeqList survived = Seqs(Pending(*store));
  EXPECT_LT(survived.size(), 100u) << "the fault layer lost nothing";
  EXPECT_EQ(survived, Range(1, survived.size()));  // A prefix, if anything.
}

TEST_F(FaultTest, IntervalPolicyLosesOnlyAppendsSinceTheLastSync) {
  auto store = Open(SyncPolicy::kInterval, absl::Hours(1));
  for (uint64_t seq = 1; seq <= 10; ++seq)
    ASSERT_TRUE(store->Append(Msg(seq)).ok());
  ASSERT_TRUE(store->Sync().ok());  // What the interval's tick does.
  for (uint64_t seq = 11; seq <= 20; ++seq)
    ASSERT_TRUE(store->Append(Msg(seq)).ok());
  store = CrashAndReopen(std::move(store));
  EXPECT_EQ(Seqs(Pending(*store)), Range(1, 10));
}

TEST_F(FaultTest, IntervalPolicySyncsWithinTheIntervalWithoutFurtherAppends) {
  auto store = Open(SyncPolicy::kInterval, absl::Milliseconds(5));
  for (uint64_t seq = 1; seq <= 20; ++seq)
    ASSERT_TRUE(store->Append(Msg(seq)).ok());
  const int64_t synced_before = env_.sync_count();
  // The background thread's next tick syncs what was appended.
  ASSERT_TRUE(env_.WaitForSyncCount(synced_before + 1, absl::Seconds(30)));
  store = CrashAndReopen(std::move(store));
  EXPECT_EQ(Seqs(Pending(*store)), Range(1, 20));
}

TEST_F(FaultTest, GroupCommitSharesOneSyncAmongConcurrentAppends) {
  auto store = Open(SyncPolicy::kEveryWrite);
  constexpr int kThreads = 8, kPerThread = 100;
  const int64_t syncs_before = env_.sync_count();
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        // seq 0: the store numbers messages in the order it stores them.
        if (!store->Append(Msg(0, 64 + t)).ok()) ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const int64_t syncs = env_.sync_count() - syncs_before;
  EXPECT_EQ(failures.load(), 0);
  EXPECT_LT(syncs, kThreads * kPerThread / 2) << syncs << " syncs";
  store = CrashAndReopen(std::move(store));
  EXPECT_EQ(Seqs(Pending(*store)), Range(1, kThreads * kPerThread));
}

TEST_F(FaultTest, EnospcOnAppendSurfacesAsStatusAndKeepsAcceptedMessages) {
  auto store = Open(SyncPolicy::kEveryWrite);
  for (uint64_t seq = 1; seq <= 10; ++seq)
    ASSERT_TRUE(store->Append(Msg(seq)).ok());
  env_.SetWriteError(absl::ResourceExhaustedError("No space left on device"));
  absl::Status s = store->Append(Msg(11)).status();
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  env_.SetWriteError(absl::OkStatus());
  // Sticky until reopened: the file's tail is unknown after a failed write.
  s = store->Append(Msg(12)).status();
  EXPECT_NE(s.message().find("failed earlier"), absl::string_view::npos) << s;
  store = CrashAndReopen(std::move(store));
  EXPECT_EQ(Seqs(Pending(*store)), Range(1, 10));
}

TEST_F(FaultTest, SyncErrorSurfacesAsStatusAndLaterWritesFail) {
  auto store = Open(SyncPolicy::kEveryWrite);
  for (uint64_t seq = 1; seq <= 10; ++seq)
    ASSERT_TRUE(store->Append(Msg(seq)).ok());
  env_.SetSyncError(absl::InternalError("fdatasync: Input/output error"));
  EXPECT_FALSE(store->Append(Msg(11)).ok());
  env_.SetSyncError(absl::OkStatus());
  EXPECT_FALSE(store->Append(Msg(12)).ok());
  EXPECT_FALSE(store->MarkAcked(5).ok());
  store = CrashAndReopen(std::move(store));
  EXPECT_EQ(Seqs(Pending(*store)), Range(1, 10));
}

TEST_F(FaultTest, AnAckIsNotSyncedOnItsOwnButWithTheNextMessage) {
  auto store = Open(SyncPolicy::kEveryWrite);
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    ASSERT_TRUE(store->Append(Msg(seq, 10)).ok());
  }
  ASSERT_TRUE(store->MarkAcked(2).ok());
  store = CrashAndReopen(std::move(store));
  EXPECT_EQ(Seqs(Pending(*store)), Range(1, 3));  // the ACK was lost
  store.reset();
  store = Open(SyncPolicy::kEveryWrite);
  ASSERT_TRUE(store->MarkAcked(2).ok());
  ASSERT_TRUE(store->Append(Msg(4, 10)).ok());  // syncs the ACK with it
  store = CrashAndReopen(std::move(store));
  EXPECT_EQ(Seqs(Pending(*store)), Range(3, 4));
}

TEST_F(FaultTest, CrashWhileSegmentsRotateKeepsEverySyncedMessage) {
  auto store = Open(SyncPolicy::kEveryWrite);
  for (uint64_t seq = 1; seq <= 400; ++seq) {
    ASSERT_TRUE(store->Append(Msg(seq, 900)).ok());
    if (seq % 50 == 0) {
      ASSERT_TRUE(store->MarkAcked(seq - 25).ok());
    }
  }
  // An ACK is not synced on its own under kEveryWrite (a lost one only
  // means a resend); it is durable with the next sync.
  ASSERT_TRUE(store->Sync().ok());
  ASSERT_GE(store->segment_numbers().back(), 4u);  // Rotated (and deleted).
  EXPECT_LE(store->segment_numbers().size(), 2u);
  store = CrashAndReopen(std::move(store));
  EXPECT_EQ(Seqs(Pending(*store)), Range(376, 400));
  store = CrashAndReopen(std::move(store));  // And once more.
  EXPECT_EQ(Seqs(Pending(*store)), Range(376, 400));
}

}  // namespace
}  // namespace parley::store
