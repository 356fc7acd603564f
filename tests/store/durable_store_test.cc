// The MessageStore contract, run against MemoryStore and DurableStore, and
// DurableStore's own promises: reopen, segments, lock, file modes.
#include "runtime/store/durable_store.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <numeric>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/store/memory_store.h"
#include "runtime/util/mutex.h"
#include "runtime/util/notification.h"
#include "runtime/util/status_macros.h"
#include "tests/store/store_test_util.h"

namespace parley::store {
namespace {

using testing::Msg;
using testing::Pending;
using testing::ReadFileOrDie;
using testing::Seqs;
using testing::TestDir;
using testing::WriteFileOrDie;

DurableStoreOptions SmallOptions() {
  DurableStoreOptions o;
  o.sync = SyncPolicy::kNever;  // Durability is fault_test's subject.
  o.segment_bytes = 16 << 10;
  o.preallocation = Preallocation::kNone;
  return o;
}

std::unique_ptr<DurableStore> OpenOrDie(const std::string& dir,
                                        DurableStoreOptions o = SmallOptions(),
                                        Env* env = Env::Default()) {
  auto store = DurableStore::Open(env, dir, o);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}

// An Env whose files hold every Flush and Sync while its gate is shut: a
// write in progress, kept in progress for as long as a test needs.
class GatedEnv : public EnvWrapper {
 public:
  GatedEnv() : EnvWrapper(Env::Default()) {}

  void SetGateOpen(bool open) {
    util::MutexLock lock(&mu_);
    open_ = open;
    changed_.SignalAll();
  }
  // Waits (bounded) until a Flush or Sync is held at the shut gate.
  bool WaitForHeldFlush(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    util::MutexLock lock(&mu_);
    while (!held_) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      changed_.WaitFor(&mu_, left);
    }
    return true;
  }

  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) override {
    absl::StatusOr<std::unique_ptr<WritableFile>> file =
        target()->NewWritableFile(path);
    if (!file.ok()) return file;
    return std::unique_ptr<WritableFile>(
        std::make_unique<File>(this, std::move(*file)));
  }

 private:
  class File : public WritableFile {
   public:
    File(GatedEnv* env, std::unique_ptr<WritableFile> base)
        : env_(env), base_(std::move(base)) {}
    absl::Status Append(absl::string_view data) override {
      return base_->Append(data);
    }
    absl::Status Flush() override {
      Pass();
      return base_->Flush();
    }
    absl::Status Sync() override {
      Pass();
      return base_->Sync();
    }
    absl::Status Preallocate(uint64_t size, bool zero_fill) override {
      return base_->Preallocate(size, zero_fill);
    }
    absl::Status Close() override { return base_->Close(); }
    uint64_t MappedRoom() const override { return base_->MappedRoom(); }

   private:
    // Returns once the gate is open.
    void Pass() {
      util::MutexLock lock(&env_->mu_);
      env_->held_ = !env_->open_;
      env_->changed_.SignalAll();
      while (!env_->open_) env_->changed_.Wait(&env_->mu_);
      env_->held_ = false;
    }

    GatedEnv* const env_;
    const std::unique_ptr<WritableFile> base_;
  };

  util::Mutex mu_;  // ThreadSanitizer sees it, unlike Debian's util::Mutex
  util::CondVar changed_;  // open_ or held_
  bool open_ ABSL_GUARDED_BY(mu_) = true;
  bool held_ ABSL_GUARDED_BY(mu_) = false;
};

// An Env that shows its tests what the store's housekeeping thread did:
// each file created, preallocated, renamed or removed, as a line of log()
// ("new F", "preallocated F", "rename F G", "remove F"; F, G file names).
// A hook, if set, sees each call before it is made, as the line it logs
// on success ("preallocate F" for "preallocated F"), on the calling thread
// and outside the env's lock; it may hold the call there, and fails it by
// returning an error.
class WatchedEnv : public EnvWrapper {
 public:
  using Log = std::vector<std::string>;
  using Hook = std::function<absl::Status(const std::string& line)>;
  WatchedEnv() : EnvWrapper(Env::Default()) {}

  // Before the store is opened.
  void SetHook(Hook hook) { hook_ = std::move(hook); }

  // Waits (bounded) until `done(log)` holds, checked after every call.
  bool WaitFor(const std::function<bool(const Log&)>& done,
               absl::Duration timeout) {
    util::MutexLock lock(&mu_);
    auto ready = [&]()
                     ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done(log_); };
    return changed_.WaitFor(&mu_, timeout, ready);
  }
  // Waits (bounded) until `line` was logged `times` times.
  bool WaitForLine(const std::string& line, int times, absl::Duration timeout) {
    return WaitFor(
        [&](const Log& log) {
          return std::count(log.begin(), log.end(), line) >= times;
        },
        timeout);
  }
  Log log() const {
    util::MutexLock lock(&mu_);
    return log_;
  }
  // While set, preallocating a file named `name` fails (a full disk).
  void FailPreallocate(std::string name) {
    util::MutexLock lock(&mu_);
    fail_preallocate_ = std::move(name);
  }

  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) override {
    PARLEY_RETURN_IF_ERROR(Before("new " + Name(path)));
    absl::StatusOr<std::unique_ptr<WritableFile>> file =
        target()->NewWritableFile(path);
    if (!file.ok()) return file;
    Add("new " + Name(path));
    return std::unique_ptr<WritableFile>(
        std::make_unique<File>(this, Name(path), std::move(*file)));
  }
  absl::Status RenameFile(const std::string& from,
                          const std::string& to) override {
    PARLEY_RETURN_IF_ERROR(Before("rename " + Name(from) + " " + Name(to)));
    absl::Status s = target()->RenameFile(from, to);
    if (s.ok()) Add("rename " + Name(from) + " " + Name(to));
    return s;
  }
  absl::Status RemoveFile(const std::string& path) override {
    PARLEY_RETURN_IF_ERROR(Before("remove " + Name(path)));
    absl::Status s = target()->RemoveFile(path);
    if (s.ok()) Add("remove " + Name(path));
    return s;
  }

 private:
  class File : public WritableFile {
   public:
    File(WatchedEnv* env, std::string name, std::unique_ptr<WritableFile> base)
        : env_(env), name_(std::move(name)), base_(std::move(base)) {}
    absl::Status Append(absl::string_view data) override {
      return base_->Append(data);
    }
    absl::Status Flush() override { return base_->Flush(); }
    absl::Status Sync() override { return base_->Sync(); }
    absl::Status Preallocate(uint64_t size, bool zero_fill) override {
      PARLEY_RETURN_IF_ERROR(env_->Before("preallocate " + name_));
      if (env_->Failing(name_)) {
        return absl::ResourceExhaustedError("no space left on device");
      }
      absl::Status s = base_->Preallocate(size, zero_fill);
      if (s.ok()) env_->Add("preallocated " + name_);
      return s;
    }
    absl::Status Close() override { return base_->Close(); }
    uint64_t MappedRoom() const override { return base_->MappedRoom(); }

   private:
    WatchedEnv* const env_;
    const std::string name_;
    const std::unique_ptr<WritableFile> base_;
  };

  static std::string Name(const std::string& path) {
    return std::filesystem::path(path).filename().string();
  }
  absl::Status Before(const std::string& line) {
    return hook_ != nullptr ? hook_(line) : absl::OkStatus();
  }
  void Add(std::string line) {
    util::MutexLock lock(&mu_);
    log_.push_back(std::move(line));
    changed_.SignalAll();
  }
  bool Failing(const std::string& name) {
    util::MutexLock lock(&mu_);
    return name == fail_preallocate_;
  }

  Hook hook_;  // set before use
  mutable util::Mutex mu_;
  util::CondVar changed_;  // log_ grew
  Log log_ ABSL_GUARDED_BY(mu_);
  std::string fail_preallocate_ ABSL_GUARDED_BY(mu_);
};

class ContractTest : public ::testing::TestWithParam<bool> {
 protected:
  std::unique_ptr<MessageStore> Make(uint64_t capacity) {
    if (!GetParam()) return std::make_unique<MemoryStore>(capacity);
    DurableStoreOptions o = SmallOptions();
    o.capacity_bytes = capacity;
    return OpenOrDie(dir_.path(), o);
  }
  TestDir dir_;
};

INSTANTIATE_TEST_SUITE_P(Stores, ContractTest, ::testing::Bool(),
                         [](const auto& info) {
                           return info.param ? "Durable" : "Memory";
                         });

TEST_P(ContractTest, NewStoreIsEmptyAndNumbersFromOne) {
  auto store = Make(1 << 20);
  EXPECT_EQ(store->next_seq(), 1u);
  EXPECT_EQ(store->acked_through(), 0u);
  EXPECT_EQ(store->pending_count(), 0u);
  EXPECT_TRUE(Pending(*store).empty());
}

TEST_P(ContractTest, PendingYieldsUnackedMessagesInSeqOrderByteIdentical) {
  auto store = Make(1 << 20);
  for (uint64_t seq = 1; seq <= 10; ++seq)
    ASSERT_TRUE(store->Append(Msg(seq)).ok());
  ASSERT_TRUE(store->MarkAcked(4).ok());
  auto pending = Pending(*store);
  ASSERT_EQ(Seqs(pending), (std::vector<uint64_t>{5, 6, 7, 8, 9, 10}));
  for (const StoredMessage& m : pending) {
    StoredMessage want = Msg(m.seq);
    EXPECT_EQ(m.payload, want.payload);
    EXPECT_EQ(m.method, want.method);
    EXPECT_EQ(m.ack_within_ms, want.ack_within_ms);
    EXPECT_EQ(m.reply_wanted, want.reply_wanted);
  }
  EXPECT_EQ(Seqs(Pending(*store, 8)), (std::vector<uint64_t>{8, 9, 10}));
  EXPECT_EQ(store->pending_count(), 6u);
}

TEST_P(ContractTest, ForEachPendingStopsWhenFnReturnsFalse) {
  auto store = Make(1 << 20);
  for (uint64_t seq = 1; seq <= 5; ++seq)
    ASSERT_TRUE(store->Append(Msg(seq)).ok());
  int calls = 0;
  ASSERT_TRUE(
      store
          ->ForEachPending(1, [&](const StoredMessage&) { return ++calls < 2; })
          .ok());
  EXPECT_EQ(calls, 2);
}

TEST_P(ContractTest, SeqThatDoesNotIncreaseIsInvalidArgument) {
  auto store = Make(1 << 20);
  ASSERT_TRUE(store->Append(Msg(5)).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(store->Append(Msg(5)).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(store->Append(Msg(3)).status()));
  EXPECT_TRUE(store->Append(Msg(9)).ok());  // Gaps are allowed.
  EXPECT_EQ(store->next_seq(), 10u);
}

TEST_P(ContractTest, LastUint64SeqIsRefusedSoNextSeqNeverWraps) {
  auto store = Make(1 << 20);
  EXPECT_TRUE(absl::IsInvalidArgument(store->Append(Msg(UINT64_MAX)).status()));
  ASSERT_TRUE(store->Append(Msg(UINT64_MAX - 1)).ok());
  EXPECT_EQ(store->next_seq(), UINT64_MAX);
  EXPECT_TRUE(absl::IsInvalidArgument(store->Append(Msg(0)).status()));
}

TEST_P(ContractTest, SeqZeroIsNumberedByTheStore) {
  auto store = Make(1 << 20);
  ASSERT_TRUE(store->Append(Msg(3)).ok());
  StoredMessage m = Msg(0);
  absl::StatusOr<uint64_t> seq = store->Append(m);
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(*seq, 4u);
  EXPECT_EQ(Pending(*store, 4).at(0).payload, m.payload);
}

TEST_P(ContractTest, AckBeyondLastSeqIsInvalidAndRepeatedAckIsNoOp) {
  auto store = Make(1 << 20);
  ASSERT_TRUE(store->Append(Msg(1)).ok());
  ASSERT_TRUE(store->Append(Msg(2)).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(store->MarkAcked(3)));
  EXPECT_TRUE(store->MarkAcked(2).ok());
  EXPECT_TRUE(store->MarkAcked(1).ok());
  EXPECT_EQ(store->acked_through(), 2u);
  EXPECT_EQ(store->pending_count(), 0u);
}

TEST_P(ContractTest, CapacityReachedGivesResourceExhaustedAndLosesNothing) {
  const uint64_t capacity = 10 * StoredSize(Msg(1, 100));
  auto store = Make(capacity);
  uint64_t seq = 1;
  absl::Status s;
  while ((s = store->Append(Msg(seq, 100)).status()).ok()) ++seq;
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_EQ(seq, 11u);
  EXPECT_LE(store->pending_bytes(), capacity);
  EXPECT_EQ(store->pending_count(), 10u);
  ASSERT_TRUE(store->MarkAcked(1).ok());  // Frees exactly one slot.
  EXPECT_TRUE(store->Append(Msg(seq, 100)).ok());
  EXPECT_EQ(Seqs(Pending(*store)).size(), 10u);
}

TEST_P(ContractTest, MetaIsSavedAndReadBack) {
  auto store = Make(1 << 20);
  StoreMeta meta;
  meta.session_id = std::string("\x01\0\x02id", 5);
  meta.peer_received_through = 77;
  ASSERT_TRUE(store->SaveMeta(meta).ok());
  EXPECT_EQ(store->meta().session_id, meta.session_id);
  EXPECT_EQ(store->meta().peer_received_through, 77u);
}

TEST(DurableStoreTest, EmptyDirectoryOpensAsEmptyStore) {
  TestDir dir;
  auto store = OpenOrDie(dir.path());
  EXPECT_EQ(store->next_seq(), 1u);
  EXPECT_EQ(dir.Segments().size(), 1u);
}

TEST(DurableStoreTest, ReopenRecoversPendingMetaAndNextSeq) {
  TestDir dir;
  StoreMeta meta{"session-1", 12};
  {
    auto store = OpenOrDie(dir.path());
    for (uint64_t seq = 1; seq <= 300; ++seq) {
      ASSERT_TRUE(store->Append(Msg(seq, seq % 7 == 0 ? 40000 : 60)).ok());
    }
    ASSERT_TRUE(store->SaveMeta(meta).ok());
    ASSERT_TRUE(store->MarkAcked(120).ok());
  }
  auto store = OpenOrDie(dir.path());
  EXPECT_EQ(store->next_seq(), 301u);
  EXPECT_EQ(store->acked_through(), 120u);
  EXPECT_EQ(store->meta().session_id, "session-1");
  EXPECT_EQ(store->meta().peer_received_through, 12u);
  auto pending = Pending(*store);
  ASSERT_EQ(pending.size(), 180u);
  for (size_t i = 0; i < pending.size(); ++i) {
    uint64_t seq = 121 + i;
    ASSERT_EQ(pending[i].seq, seq);
    ASSERT_EQ(pending[i].payload, Msg(seq, seq % 7 == 0 ? 40000 : 60).payload);
  }
}

TEST(DurableStoreTest, FullyAckedSegmentsAreDeletedAndStateCarriedForward) {
  TestDir dir;
  {
    WatchedEnv env;
    std::unique_ptr<DurableStore> store =
        OpenOrDie(dir.path(), SmallOptions(), &env);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->SaveMeta({"sid", 3}).ok());
    for (uint64_t seq = 1; seq <= 2000; ++seq) {
      ASSERT_TRUE(store->Append(Msg(seq)).ok());
    }
    size_t before = dir.Segments().size();
    ASSERT_GT(before, 3u);
    ASSERT_TRUE(store->MarkAcked(1990).ok());
    ASSERT_TRUE(store->Append(Msg(2001)).ok());
    // Deleted by the housekeeping thread, while the store is open.
    EXPECT_TRUE(env.WaitFor(
        [&](const WatchedEnv::Log&) { return dir.Segments().size() <= 2; },
        absl::Seconds(10)))
        << dir.Segments().size() << " segments left";
  }
  auto store = OpenOrDie(dir.path());
  EXPECT_EQ(store->meta().session_id, "sid");
  EXPECT_EQ(store->acked_through(), 1990u);
  EXPECT_EQ(store->next_seq(), 2002u);
  EXPECT_EQ(Seqs(Pending(*store)).front(), 1991u);
  EXPECT_EQ(store->pending_count(), 11u);
}

DurableStoreOptions PreparedOptions() {
  DurableStoreOptions o = SmallOptions();
  o.preallocation = Preallocation::kZeroFill;
  return o;
}

TEST(DurableStoreTest, NextSegmentIsPreparedAheadAndRenamedWhenItStarts) {
  TestDir dir;
  WatchedEnv env;
  std::unique_ptr<DurableStore> store =
      OpenOrDie(dir.path(), PreparedOptions(), &env);
  ASSERT_NE(store, nullptr);
  const absl::Duration kWait = absl::Seconds(10);
  ASSERT_TRUE(env.WaitForLine("preallocated next-segment.tmp", 1, kWait));
  uint64_t seq = 1;
  while (store->segment_numbers().back() < 2) {
    ASSERT_TRUE(store->Append(Msg(seq++)).ok());
    ASSERT_LT(seq, 10000u) << "no second segment";
  }
  WatchedEnv::Log log = env.log();
  EXPECT_NE(
      std::find(log.begin(), log.end(), "rename next-segment.tmp 000002.log"),
      log.end());
  EXPECT_EQ(std::find(log.begin(), log.end(), "new 000002.log"), log.end());
  // The one after is prepared at once; Close deletes it.
  ASSERT_TRUE(env.WaitForLine("preallocated next-segment.tmp", 2, kWait));
  ASSERT_TRUE(store->Close().ok());
  EXPECT_TRUE(env.WaitForLine("remove next-segment.tmp", 1, kWait));
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/next-segment.tmp"));
  // What was appended is all there.
  store = OpenOrDie(dir.path(), PreparedOptions());
  EXPECT_EQ(store->pending_count(), seq - 1);
}

TEST(DurableStoreTest,
     AFailedPreparationLeavesNoFileAndTheSegmentIsMadeInPlace) {
  TestDir dir;
  WatchedEnv env;
  env.FailPreallocate("next-segment.tmp");
  std::unique_ptr<DurableStore> store =
      OpenOrDie(dir.path(), PreparedOptions(), &env);
  ASSERT_NE(store, nullptr);
  const absl::Duration kWait = absl::Seconds(10);
  // Tried, failed, and what it had created is gone.
  ASSERT_TRUE(env.WaitForLine("remove next-segment.tmp", 1, kWait));
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/next-segment.tmp"));
  uint64_t seq = 1;
  while (store->segment_numbers().back() < 2) {
    ASSERT_TRUE(store->Append(Msg(seq++)).ok());
    ASSERT_LT(seq, 10000u) << "no second segment";
  }
  WatchedEnv::Log log = env.log();
  EXPECT_NE(std::find(log.begin(), log.end(), "new 000002.log"), log.end());
  EXPECT_NE(std::find(log.begin(), log.end(), "preallocated 000002.log"),
            log.end());
}

// A prepared file that a rotation has taken is not prepared again (opened
// with O_TRUNC) before the rotation renames it into place. The rotation
// here takes it while the housekeeping thread is deleting an obsolete
// segment, and a request to prepare is still set from a rotation that came
// while the file was being prepared. Before the fix the thread, done
// deleting, took that stale request and truncated the file just taken:
// the next append through its map died of SIGBUS (store_bench, 8 writers).
TEST(DurableStoreTest, ATakenPreparedFileIsNotPreparedAgainBeforeItsRename) {
  TestDir dir;
  WatchedEnv env;
  const std::string prepared = dir.path() + "/" + kPreparedSegmentName;
  const absl::Duration kWait = absl::Seconds(10);
  util::Mutex mu;
  util::CondVar changed;
  bool hold_preparation = true;  // the first preparation waits for the test
  bool preparation_held = false;
  bool hold_removal = false;  // then the first deletion waits for the rename
  bool removal_held = false;
  bool taken = false;       // a rotation is renaming the prepared file
  bool truncating = false;  // the bug: preparing over the file taken
  env.SetHook([&](const std::string& line) -> absl::Status {
    util::MutexLock lock(&mu);
    if (line == "preallocate next-segment.tmp" && hold_preparation) {
      preparation_held = true;
      changed.SignalAll();
      changed.WaitFor(&mu, kWait, [&] { return !hold_preparation; });
    } else if (line == "remove 000001.log" && hold_removal) {
      removal_held = true;
      changed.SignalAll();
      changed.WaitFor(&mu, kWait, [&] { return taken; });
    } else if (line == "new next-segment.tmp" &&
               std::filesystem::exists(prepared)) {
      truncating = true;
      changed.SignalAll();
      return absl::InternalError("would truncate the prepared file");
    } else if (line == "rename next-segment.tmp 000003.log") {
      taken = true;
      changed.SignalAll();
      // The housekeeping thread, let go, prepares now if it ever will.
      changed.WaitFor(&mu, absl::Milliseconds(200), [&] { return truncating; });
    }
    return absl::OkStatus();
  });
  auto wait_for = [&](const bool& flag) {
    util::MutexLock lock(&mu);
    return changed.WaitFor(&mu, kWait, [&] { return flag; });
  };
  std::unique_ptr<DurableStore> store =
      OpenOrDie(dir.path(), PreparedOptions(), &env);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(wait_for(preparation_held));
  // Segment 2 starts while the file is being prepared: made in place, and
  // the next one asked for.
  uint64_t seq = 1;
  while (store->segment_numbers().back() < 2) {
    ASSERT_TRUE(store->Append(Msg(seq++)).ok());
    ASSERT_LT(seq, 10000u) << "no second segment";
  }
  {
    util::MutexLock lock(&mu);
    hold_preparation = false;
    hold_removal = true;
    changed.SignalAll();
  }
  ASSERT_TRUE(env.WaitForLine("preallocated next-segment.tmp", 1, kWait));
  // Segment 1 acked whole: its deletion starts, and is held.
  ASSERT_TRUE(store->MarkAcked(seq - 2).ok());
  ASSERT_TRUE(wait_for(removal_held));
  auto truncated = [&] {
    util::MutexLock lock(&mu);
    return truncating;
  };
  while (store->segment_numbers().back() < 3) {
    absl::StatusOr<uint64_t> appended = store->Append(Msg(seq++));
    ASSERT_TRUE(appended.ok()) << appended.status();
    ASSERT_LT(seq, 20000u) << "no third segment";
  }
  EXPECT_FALSE(truncated()) << "the taken file was prepared again";
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(store->Append(Msg(seq++)).ok());
  ASSERT_TRUE(store->Close().ok());
  store = OpenOrDie(dir.path(), PreparedOptions());
  EXPECT_EQ(Seqs(Pending(*store)).back(), seq - 1);
}

TEST(DurableStoreTest, APreparedFileLeftByACrashIsNotPartOfTheLog) {
  TestDir dir;
  {
    auto store = OpenOrDie(dir.path(), PreparedOptions());
    ASSERT_TRUE(store->Append(Msg(1)).ok());
  }
  // As if the process died while preparing: a file of anything.
  WriteFileOrDie(dir.path() + "/next-segment.tmp", std::string(5000, 'x'));
  WatchedEnv env;
  std::unique_ptr<DurableStore> store =
      OpenOrDie(dir.path(), PreparedOptions(), &env);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(Seqs(Pending(*store)), (std::vector<uint64_t>{1}));
  // Deleted, then prepared afresh.
  ASSERT_TRUE(env.WaitFor(
      [](const WatchedEnv::Log& log) {
        auto removed =
            std::find(log.begin(), log.end(), "remove next-segment.tmp");
        return std::find(removed, log.end(), "preallocated next-segment.tmp") !=
               log.end();
      },
      absl::Seconds(10)));
  EXPECT_EQ(ReadFileOrDie(dir.path() + "/next-segment.tmp"),
            std::string(PreparedOptions().segment_bytes, '\0'));
}

TEST(DurableStoreTest, AckDuringAnotherCallersWriteReturnsAtOnceAndIsWritten) {
  TestDir dir;
  GatedEnv env;
  {
    std::unique_ptr<DurableStore> opened =
        OpenOrDie(dir.path(), SmallOptions(), &env);
    ASSERT_NE(opened, nullptr);
    DurableStore& store = *opened;
    ASSERT_TRUE(store.Append(Msg(1)).ok());
    env.SetGateOpen(false);
    std::thread writer([&] { EXPECT_TRUE(store.Append(Msg(2)).ok()); });
    if (!env.WaitForHeldFlush(absl::Seconds(10))) {
      env.SetGateOpen(true);
      writer.join();
      FAIL() << "the Append never reached its Flush";
    }
    // The write of 2 is in progress: the ack does not wait behind it.
    util::Notification acked;
    std::thread acker([&] {
      EXPECT_TRUE(store.MarkAcked(1).ok());
      acked.Notify();
    });
    EXPECT_TRUE(acked.WaitForNotificationWithTimeout(absl::Seconds(10)));
    env.SetGateOpen(true);
    acker.join();
    writer.join();
    // The writer wrote the ack before its Append returned.
    EXPECT_EQ(store.acked_through(), 1u);
    EXPECT_EQ(Seqs(Pending(store)), std::vector<uint64_t>{2});
  }
  auto store = OpenOrDie(dir.path());
  EXPECT_EQ(store->acked_through(), 1u);
  EXPECT_EQ(Seqs(Pending(*store)), std::vector<uint64_t>{2});
}

// AppendNow appends only what needs no waiting: a record that fits the
// mapped segment, with no sync owed and nothing queued; otherwise it
// returns nullopt at once, having appended nothing.
TEST(DurableStoreTest, AppendNowAppendsAloneOrNotAtAll) {
  DurableStoreOptions mapped = SmallOptions();
  mapped.preallocation = Preallocation::kZeroFill;
  {
    TestDir dir;
    auto store = OpenOrDie(dir.path(), mapped);
    absl::optional<absl::StatusOr<uint64_t>> now = store->AppendNow(Msg(0));
    ASSERT_TRUE(now.has_value());
    ASSERT_TRUE(now->ok()) << now->status();
    EXPECT_EQ(**now, 1u);
  }
  DurableStoreOptions every = mapped;
  every.sync = SyncPolicy::kEveryWrite;
  for (const DurableStoreOptions& o : {SmallOptions(), every}) {
    TestDir dir;  // no map (kNone), or a sync owed on every write
    auto store = OpenOrDie(dir.path(), o);
    EXPECT_FALSE(store->AppendNow(Msg(0)).has_value());
    EXPECT_EQ(store->next_seq(), 1u);
    ASSERT_TRUE(store->Append(Msg(0)).ok());
    EXPECT_EQ(Seqs(Pending(*store)), std::vector<uint64_t>{1});
  }
  TestDir dir;
  GatedEnv env;
  std::unique_ptr<DurableStore> opened = OpenOrDie(dir.path(), mapped, &env);
  ASSERT_NE(opened, nullptr);
  DurableStore& store = *opened;
  env.SetGateOpen(false);
  std::thread syncer([&] { EXPECT_TRUE(store.Sync().ok()); });
  if (!env.WaitForHeldFlush(absl::Seconds(10))) {
    env.SetGateOpen(true);
    syncer.join();
    FAIL() << "the Sync never reached the gate";
  }
  // A sync is in progress: AppendNow does not wait behind it.
  util::Notification returned;
  bool appended = true;
  std::thread caller([&] {
    appended = store.AppendNow(Msg(0)).has_value();
    returned.Notify();
  });
  EXPECT_TRUE(returned.WaitForNotificationWithTimeout(absl::Seconds(10)))
      << "AppendNow waited for the sync";
  env.SetGateOpen(true);
  caller.join();
  syncer.join();
  EXPECT_FALSE(appended);
  EXPECT_EQ(store.next_seq(), 1u);
}

TEST(MemoryStoreTest, AppendNowAlwaysAppends) {
  MemoryStore store(1 << 20);
  absl::optional<absl::StatusOr<uint64_t>> now = store.AppendNow(Msg(0));
  ASSERT_TRUE(now.has_value());
  ASSERT_TRUE(now->ok()) << now->status();
  EXPECT_EQ(**now, 1u);
}

// Both write paths: through pwrite (kNone), and copied into the mapped
// segment under the store's lock (kZeroFill), where a batch that does not
// fit the map's rest goes through pwrite again.
class ConcurrencyTest : public ::testing::TestWithParam<Preallocation> {};

INSTANTIATE_TEST_SUITE_P(Preallocations, ConcurrencyTest,
                         ::testing::Values(Preallocation::kNone,
                                           Preallocation::kZeroFill),
                         [](const auto& info) {
                           return info.param == Preallocation::kNone ? "Written"
                                                                     : "Mapped";
                         });

TEST_P(ConcurrencyTest, ConcurrentAppendsAndAcksLoseNoUnackedMessage) {
  DurableStoreOptions o = SmallOptions();
  o.preallocation = GetParam();
  TestDir dir;
  constexpr int kThreads = 4, kPerThread = 2000;
  uint64_t acked = 0;
  {
    auto store = OpenOrDie(dir.path(), o);  // 16 KiB segments: many rotate
    std::atomic<int> appenders{kThreads};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < kPerThread; ++i) {
          EXPECT_TRUE(store->Append(Msg(0)).ok());
        }
        --appenders;
      });
    }
    // Acks race the appends (some are left to the appending writer).
    threads.emplace_back([&] {
      while (appenders.load() > 0) {
        uint64_t last = store->next_seq() - 1;
        if (last > acked + 50) {
          EXPECT_TRUE(store->MarkAcked(last - 50).ok());
          acked = last - 50;
        }
      }
    });
    for (std::thread& t : threads) t.join();
    ASSERT_GT(acked, 0u);
    EXPECT_EQ(store->acked_through(), acked);
    std::vector<uint64_t> unacked(kThreads * kPerThread - acked);
    std::iota(unacked.begin(), unacked.end(), acked + 1);
    EXPECT_EQ(Seqs(Pending(*store)), unacked);
  }
  auto store = OpenOrDie(dir.path(), o);
  EXPECT_EQ(store->acked_through(), acked);
  EXPECT_EQ(store->pending_count(), kThreads * kPerThread - acked);
  EXPECT_EQ(Seqs(Pending(*store)).front(), acked + 1);
}

TEST(DurableStoreTest, LockHeldByAnotherOpenIsRefusedNamingThePid) {
  TestDir dir;
  auto first = OpenOrDie(dir.path());
  auto second = DurableStore::Open(Env::Default(), dir.path(), SmallOptions());
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(second.status()));
  EXPECT_NE(second.status().message().find("pid " + std::to_string(getpid())),
            absl::string_view::npos)
      << second.status();
  first.reset();
  EXPECT_TRUE(
      DurableStore::Open(Env::Default(), dir.path(), SmallOptions()).ok());
}

TEST(DurableStoreTest, FilesAreCreatedOwnerOnly) {
  TestDir dir;
  auto store = OpenOrDie(dir.path());
  ASSERT_TRUE(store->Append(Msg(1)).ok());
  EXPECT_EQ(testing::FileMode(dir.path()), 0700);
  EXPECT_EQ(testing::FileMode(dir.path() + "/LOCK"), 0600);
  for (const std::string& segment : dir.Segments()) {
    EXPECT_EQ(testing::FileMode(segment), 0600) << segment;
  }
}

TEST(DurableStoreTest, PreallocatedSegmentsRecoverLikeGrownOnes) {
  for (Preallocation p :
       {Preallocation::kZeroFill, Preallocation::kFallocate}) {
    TestDir dir;
    DurableStoreOptions o = SmallOptions();
    o.preallocation = p;
    {
      auto store = OpenOrDie(dir.path(), o);
      for (uint64_t seq = 1; seq <= 500; ++seq) {
        ASSERT_TRUE(store->Append(Msg(seq)).ok());
      }
    }
    auto store = OpenOrDie(dir.path(), o);
    EXPECT_EQ(store->pending_count(), 500u);
    EXPECT_EQ(Seqs(Pending(*store, 500)), std::vector<uint64_t>{500});
  }
}

// A new POSIX file in `dir` (created).
std::unique_ptr<WritableFile> NewFileOrDie(const TestDir& dir,
                                           const std::string& path) {
  EXPECT_TRUE(Env::Default()->CreateDir(dir.path()).ok());
  auto file = Env::Default()->NewWritableFile(path);
  EXPECT_TRUE(file.ok()) << file.status();
  return file.ok() ? std::move(*file) : nullptr;
}

TEST(PosixWritableFileTest, ZeroFilledFileTakesAppendsIntoItsMapUntilFull) {
  TestDir dir;
  const std::string path = dir.path() + "/mapped";
  std::unique_ptr<WritableFile> file = NewFileOrDie(dir, path);
  ASSERT_NE(file, nullptr);
  WritableFile& f = *file;
  EXPECT_EQ(f.MappedRoom(), 0u);  // no map before a zero fill
  ASSERT_TRUE(f.Preallocate(4096, /*zero_fill=*/true).ok());
  EXPECT_EQ(f.MappedRoom(), 4096u);
  ASSERT_TRUE(f.Append(std::string(1000, 'a')).ok());
  EXPECT_EQ(f.MappedRoom(), 3096u);
  // Past the map: buffered for a write(2), so no room in memory any more.
  ASSERT_TRUE(f.Append(std::string(3100, 'b')).ok());
  EXPECT_EQ(f.MappedRoom(), 0u);
  ASSERT_TRUE(f.Flush().ok());
  EXPECT_EQ(f.MappedRoom(), 0u);
  ASSERT_TRUE(f.Close().ok());
  EXPECT_EQ(testing::ReadFileOrDie(path),
            std::string(1000, 'a') + std::string(3100, 'b'));
}

TEST(PosixWritableFileTest, AfterUnmapAppendsGoThroughWrites) {
  TestDir dir;
  const std::string path = dir.path() + "/unmapped";
  std::unique_ptr<WritableFile> file = NewFileOrDie(dir, path);
  ASSERT_NE(file, nullptr);
  ASSERT_TRUE(file->Preallocate(4096, /*zero_fill=*/true).ok());
  ASSERT_TRUE(file->Append("mapped ").ok());
  ASSERT_TRUE(file->Unmap().ok());
  EXPECT_EQ(file->MappedRoom(), 0u);
  EXPECT_EQ(file->MappedTail(1), nullptr);
  ASSERT_TRUE(file->Append("written").ok());
  ASSERT_TRUE(file->Unmap().ok());  // again: nothing to do
  ASSERT_TRUE(file->Sync().ok());
  ASSERT_TRUE(file->Close().ok());
  // What the zero fill reserved beyond the appends stays zeros.
  std::string expected = "mapped written";
  expected.resize(4096, '\0');
  EXPECT_EQ(testing::ReadFileOrDie(path), expected);
}

TEST(PosixWritableFileTest, FallocatedFileHasNoMap) {
  TestDir dir;
  std::unique_ptr<WritableFile> file =
      NewFileOrDie(dir, dir.path() + "/allocated");
  ASSERT_NE(file, nullptr);
  ASSERT_TRUE(file->Preallocate(4096, /*zero_fill=*/false).ok());
  EXPECT_EQ(file->MappedRoom(), 0u);
}

}  // namespace
}  // namespace parley::store
