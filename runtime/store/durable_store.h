// DurableStore: a MessageStore kept in a segmented append-only log in one
// directory, so that messages accepted for sending survive a crash of the
// process (and, with kEveryWrite, of the machine).
//
//   store::DurableStoreOptions options;
//   options.sync = store::SyncPolicy::kEveryWrite;
//   options.capacity_bytes = 256 << 20;
//   PARLEY_ASSIGN_OR_RETURN(
//       std::unique_ptr<store::DurableStore> store,
//       store::DurableStore::Open(store::Env::Default(), "/var/lib/app/q",
//                                 options));
//   // After a restart: resume as store->meta().session_id, resend what
//   // ForEachPending yields, continue numbering at store->next_seq().
//
// Layout (docs/LOG_FORMAT.md): LOCK (flock, holds the owner's pid) and
// NNNNNN.log segments of log-format records (record.h). Each segment
// starts with a META checkpoint of the whole state, so a segment is
// deleted as soon as every MESSAGE in it is acked. Open recovers: a torn
// tail of the newest segment is cut off; damage anywhere else is refused
// with DataLoss naming the file and offset. Only a 16-byte index entry per
// pending message is kept in memory; payloads are read back from disk.
//
// Sync policies (what OK from Append promises):
//  - kEveryWrite: the record is fdatasync'ed (MESSAGE records; an ACK rides
//    along with the next sync). Concurrent Appends share one
//    fdatasync (group commit: the first waiting caller writes and syncs the
//    records of all callers queued behind it).
//  - kInterval: the record is written to the OS (survives the process
//    dying); a background thread fdatasyncs every sync_interval, so a
//    machine crash loses at most the last interval's appends.
//  - kNever: written to the OS only; never synced except when a segment
//    is finished, SaveMeta, and at Close.
//
// Thread safety: thread-safe. Destroying the store while calls are in
// flight is not allowed.
#ifndef PARLEY_RUNTIME_STORE_DURABLE_STORE_H_
#define PARLEY_RUNTIME_STORE_DURABLE_STORE_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "parley/options.h"
#include "runtime/store/env.h"
#include "runtime/store/log_writer.h"
#include "runtime/store/message_store.h"
#include "runtime/store/record.h"
#include "runtime/util/mutex.h"

namespace parley::store {

// The public enum (parley/options.h), so a client's option passes through.
using SyncPolicy = ::parley::SyncPolicy;

// The next segment's file while the housekeeping thread prepares it, in
// the store's directory; renamed to the segment's name when it starts.
inline constexpr char kPreparedSegmentName[] = "next-segment.tmp";

// How new segments reserve their space (see WritableFile::Preallocate).
enum class Preallocation { kZeroFill, kFallocate, kNone };

struct DurableStoreOptions {
  SyncPolicy sync = SyncPolicy::kEveryWrite;
  absl::Duration sync_interval = absl::Milliseconds(100);  // kInterval only.
  uint64_t capacity_bytes = uint64_t{64} << 20;
  // A segment is finished once it holds this much; the next one starts.
  uint64_t segment_bytes = uint64_t{4} << 20;
  Preallocation preallocation = Preallocation::kZeroFill;
};

class DurableStore : public MessageStore {
 public:
  // Opens (creating if needed) the store in `dir`; `env` must outlive it.
  // FailedPrecondition (naming the pid) if another store holds the lock;
  // DataLoss (naming file and offset) if the log is damaged.
  static absl::StatusOr<std::unique_ptr<DurableStore>> Open(
      Env* env, const std::string& dir, const DurableStoreOptions& options);
  ~DurableStore() override;  // Close(), ignoring its status.

  absl::StatusOr<uint64_t> Append(const MessageRef& message) override;
  // Appends at once when the record fits the mapped segment, no group
  // commit is forming and no sync is owed (never under kEveryWrite).
  absl::optional<absl::StatusOr<uint64_t>> AppendNow(
      const MessageRef& message) override;
  // Returns at once, without waiting for the write, while another thread is
  // writing: that thread records the ack before its own call returns.
  absl::Status MarkAcked(uint64_t through) override;
  absl::Status SaveMeta(const StoreMeta& meta) override;
  // Makes everything accepted so far durable (fdatasync), whatever the
  // policy.
  absl::Status Sync();
  // Stops the sync thread, syncs (except under kNever) and closes the files.
  absl::Status Close();

  StoreMeta meta() const override;
  uint64_t next_seq() const override;
  uint64_t acked_through() const override;
  absl::Status ForEachPending(
      uint64_t from_seq,
      absl::FunctionRef<bool(const StoredMessage&)> fn) override;
  size_t pending_count() const override;
  uint64_t pending_bytes() const override;
  uint64_t capacity_bytes() const override { return options_.capacity_bytes; }
  // Numbers of the segment files now on disk, oldest first.
  std::vector<uint64_t> segment_numbers() const;

 private:
  struct Op;
  // What a leader does once it has let go of mu_.
  struct AfterBatch {
    std::vector<std::string> obsolete;  // segment files to delete
    absl::InlinedVector<Op*, 8> done;   // written ops whose callers wait
  };
  // A pending message: where its record lies in its segment (the on-disk
  // span follows from offset and size: log::PhysicalSpan).
  struct IndexEntry {
    uint64_t seq;
    uint32_t offset;
    uint32_t size;  // Logical record bytes; also its capacity charge.
  };
  struct Segment {
    uint64_t number;
    std::shared_ptr<RandomAccessFile> file;
    uint64_t entries;  // Pending index entries in this segment.
  };
  class Recovery;

  DurableStore(Env* env, std::string dir, const DurableStoreOptions& options);

  // Queues `op` and waits until a leader (perhaps this caller) has written
  // it; releases `lock` (on mu_) before it returns. A caller waits for its
  // op without mu_, so the callers one group commit completes return
  // without taking mu_ again.
  absl::Status Run(Op* op, util::ReleasableMutexLock* lock)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The leader, `op` at the queue's front: writes the batches that `op`'s
  // needs, hands the lead to the next op queued, releases `lock`, then
  // wakes the callers of the ops written and deletes obsolete segments.
  absl::Status Lead(Op* op, util::ReleasableMutexLock* lock)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Leader only, queue_ not empty: writes (and syncs) one batch, the ack
  // MarkAcked deferred and ops from the queue's front, and takes those ops
  // off the queue with their status (a failure is theirs, and sticky in
  // error_); all but `self` join after->done. Unlocks mu_ while writing,
  // unless the batch only needs copying into mapped pages.
  void WriteNextBatch(const Op* self, AfterBatch* after)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Leader only: whether `batch` fits in the active segment's MappedRoom.
  bool FitsMapped(absl::Span<Op* const> batch) const;
  // Leader only, after writing `batch` with status `s`: applies it to the
  // state (or makes a failure sticky in error_); `synced`: it was synced,
  // `wrote`: it wrote records. Obsolete segments join `obsolete` (null:
  // the batch holds no ACK, so none can be).
  void Settle(absl::Span<Op* const> batch, const absl::Status& s, bool synced,
              bool wrote, std::vector<std::string>* obsolete)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Append and AppendNow: the latter (!may_wait) returns nullopt where
  // the message cannot be written alone.
  absl::optional<absl::StatusOr<uint64_t>> AppendMessage(
      const MessageRef& message, bool may_wait);
  // The common case under kNever and kInterval, tried first: a MESSAGE
  // that fits whole in one fragment of the mapped segment, while nothing
  // else is owed (NothingOwed), is encoded straight into the map: no op,
  // no thread buffer, one copy of the payload. Returns its seq, or the
  // write's error; nullopt where AppendMessage's general path must take it
  // (and report what is wrong with it, if anything), which then takes mu_
  // again: a second lock only for what is not the common case.
  absl::optional<absl::StatusOr<uint64_t>> AppendInPlace(
      const MessageRef& message) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Nothing queued, no sync or deferred ack owed, and room left in the
  // active segment: a MESSAGE may be written without a queue or leader.
  bool NothingOwed() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether one writer's MESSAGE `op` can be written alone: NothingOwed
  // and room in the mapped segment.
  bool CanWriteAlone(Op* op) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Then copies it into the mapped segment at once, with no queue, leader
  // or waiter, and returns the write's status.
  absl::Status WriteAlone(Op* op) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Leader only, mu_ not held: writes (and syncs) a batch, first starting
  // a new segment from `rotation` (the state before the batch) if given.
  absl::Status WriteBatch(absl::Span<Op* const> batch, bool sync,
                          const Checkpoint* rotation);
  absl::Status StartSegment(uint64_t number, const Checkpoint& state);
  absl::Status FinishSegment();
  void Apply(Op* op) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After a successful write: the active segment joins segments_ with its
  // first write.
  void NoteActiveSegment() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A MESSAGE written: its index entry and the counters.
  void IndexMessage(uint64_t seq, uint64_t offset, size_t size)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether a record of `size` more bytes fits within capacity_bytes.
  bool HasRoomFor(size_t size) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PopAcked(uint64_t through) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CollectObsolete(std::vector<std::string>* obsolete)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Hands `paths` to the housekeeping thread to delete.
  void RemoveFiles(std::vector<std::string> paths);
  // A new segment file at `path`, preallocated as the options say.
  absl::StatusOr<std::unique_ptr<WritableFile>> NewSegmentFile(
      const std::string& path);
  // The file the housekeeping thread prepared for the next segment, at
  // PreparedPath(); null if none is ready.
  std::unique_ptr<WritableFile> TakePrepared();
  // Asks the housekeeping thread to prepare the next segment's file (once
  // the last one prepared was taken and renamed).
  void PrepareNext();
  // The housekeeping thread: deletes obsolete segments and prepares the
  // next segment's file while the active one fills, so that neither a
  // writer that starts a segment nor the thread that marks acks (the
  // transport's I/O thread) waits for that disk work.
  void HousekeepingLoop();
  void SyncLoop();
  std::string SegmentPath(uint64_t number) const;
  std::string PreparedPath() const;

  Env* const env_;
  const std::string dir_;
  const DurableStoreOptions options_;
  std::unique_ptr<FileLock> lock_;

  // Owned by the current leader (the one Op at the queue's front that is
  // writing), never touched by anyone else.
  std::unique_ptr<WritableFile> file_;
  std::unique_ptr<log::Writer> writer_;
  uint64_t active_number_ = 0;
  std::shared_ptr<RandomAccessFile> new_segment_reader_;

  // Not absl::Mutex: Debian's abseil runs its deadlock detector on every
  // lock of one (util/mutex.h), about 300 instructions per Append. Nothing
  // waits on mu_ for a condition: a caller whose op is queued waits on
  // wait_mu_, an absl::Mutex only callers that wait take: its CondVar
  // hands it to the woken callers one by one, which keeps group commits
  // large (a std::condition_variable per op made 64 writers' group commit
  // 15-30 % slower).
  mutable util::Mutex mu_;
  absl::Mutex wait_mu_;  // never held with mu_
  std::deque<Op*> queue_ ABSL_GUARDED_BY(mu_);
  absl::Status error_ ABSL_GUARDED_BY(mu_);  // Sticky write/sync failure.
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;  // Close has begun.
  absl::Notification stop_;                     // Ends SyncLoop.
  bool dirty_ ABSL_GUARDED_BY(mu_) = false;     // Written but not synced.
  Checkpoint state_ ABSL_GUARDED_BY(mu_);
  uint64_t queued_next_seq_ ABSL_GUARDED_BY(mu_) = 1;  // Incl. queued ops.
  // The highest ack MarkAcked left to the leader writing at the time; the
  // leader writes it before it returns.
  uint64_t deferred_ack_through_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t reserved_bytes_ ABSL_GUARDED_BY(mu_) = 0;  // Queued messages.
  uint64_t pending_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<IndexEntry> index_ ABSL_GUARDED_BY(mu_);
  std::deque<Segment> segments_ ABSL_GUARDED_BY(mu_);
  std::thread sync_thread_;

  // The housekeeping thread's work. house_mu_ may be taken under mu_,
  // never the other way round.
  util::Mutex house_mu_;
  util::CondVar house_cv_;
  std::vector<std::string> to_remove_ ABSL_GUARDED_BY(house_mu_);
  bool prepare_ ABSL_GUARDED_BY(house_mu_) = false;  // asked, not yet begun
  // Created, preallocated and synced at PreparedPath(), not yet a segment.
  std::unique_ptr<WritableFile> prepared_ ABSL_GUARDED_BY(house_mu_);
  bool house_stopping_ ABSL_GUARDED_BY(house_mu_) = false;
  std::thread house_thread_;
};

}  // namespace parley::store

#endif  // PARLEY_RUNTIME_STORE_DURABLE_STORE_H_
