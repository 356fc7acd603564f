// DurableStore's write path (group commit), ack bookkeeping and reads.
// Open and recovery live in durable_store_open.cc.
#include "runtime/store/durable_store.h"

#include <algorithm>
#include <atomic>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/types/optional.h"
#include "runtime/util/status_macros.h"

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

namespace parley::store {
namespace {

// A group commit writes at most this much before handing over.
constexpr size_t kMaxBatchBytes = 1 << 20;
// Largest message record; keeps index offsets within 32 bits.
constexpr size_t kMaxRecordBytes = 256 << 20;
// A thread keeps the buffer of its last append up to this size.
constexpr size_t kKeptRecordBytes = 64 << 10;

// This thread's buffer for the record of its Append (one at a time: an
// Append returns only once its record is written), kept between appends
// so that an append allocates nothing for it; let go of when it grew
// beyond kKeptRecordBytes.
class ThreadRecordBuffer {
 public:
  ThreadRecordBuffer() = default;
  ~ThreadRecordBuffer() {
    if (Kept().capacity() > kKeptRecordBytes) std::string().swap(Kept());
  }
  ThreadRecordBuffer(const ThreadRecordBuffer&) = delete;
  ThreadRecordBuffer& operator=(const ThreadRecordBuffer&) = delete;
  std::string* get() { return &Kept(); }

 private:
  static std::string& Kept() {
    thread_local std::string kept;
    return kept;
  }
};

// ThreadSanitizer does not see Debian's absl::Mutex (the library is not
// instrumented), so what handing an op over through wait_mu_ orders is
// told to it directly: everything before HandOver(op) happens before
// everything after TakeOver(op).
void HandOver(void* op) {
#if defined(__SANITIZE_THREAD__)
  __tsan_release(op);
#else
  (void)op;
#endif
}
void TakeOver(void* op) {
#if defined(__SANITIZE_THREAD__)
  __tsan_acquire(op);
#else
  (void)op;
#endif
}

}  // namespace

struct DurableStore::Op {
  enum Kind { kMessage, kAck, kMeta, kSync };
  explicit Op(Kind k) : kind(k) {}
  const Kind kind;
  // The encoded record: a MESSAGE's in its caller's ThreadRecordBuffer,
  // the others' in `owned` (a META's encoded by the leader).
  absl::string_view record;
  std::string owned;
  uint64_t seq = 0;     // kMessage: its seq. kAck: through.
  StoreMeta meta;       // kMeta.
  bool sync = false;    // Sync even if the policy would not.
  uint64_t offset = 0;  // Set by the leader: where the record went.
  absl::Status status;  // Set by the leader that wrote it.
  // What the caller waits for (on wait_mu_): a leader has written the op,
  // or hands it the lead.
  // Changed under wait_mu_; atomic only for ThreadSanitizer (see HandOver).
  enum Outcome { kNone, kDone, kLead };
  std::atomic<Outcome> outcome{kNone};
  absl::CondVar cv;
};

DurableStore::DurableStore(Env* env, std::string dir,
                           const DurableStoreOptions& options)
    : env_(env), dir_(std::move(dir)), options_(options) {}

DurableStore::~DurableStore() { (void)Close(); }

std::string DurableStore::SegmentPath(uint64_t number) const {
  return absl::StrFormat("%s/%06d.log", dir_, number);
}

std::string DurableStore::PreparedPath() const {
  return absl::StrCat(dir_, "/", kPreparedSegmentName);
}

absl::Status DurableStore::Run(Op* op, util::ReleasableMutexLock* lock) {
  if (closed_) {
    lock->Release();
    return absl::FailedPreconditionError("store is closed");
  }
  if (!error_.ok()) {
    absl::Status s(error_.code(),
                   absl::StrCat("store failed earlier: ", error_.message()));
    lock->Release();
    return s;
  }
  queue_.push_back(op);
  if (op == queue_.front()) return Lead(op, lock);
  lock->Release();
  Op::Outcome outcome;
  {
    absl::MutexLock wait(&wait_mu_);
    while (op->outcome.load(std::memory_order_relaxed) == Op::kNone) {
      op->cv.Wait(&wait_mu_);
    }
    outcome = op->outcome.load(std::memory_order_relaxed);
  }
  TakeOver(op);
  if (outcome == Op::kDone) return op->status;
  util::ReleasableMutexLock relock(&mu_);
  return Lead(op, &relock);
}

absl::Status DurableStore::Lead(Op* op, util::ReleasableMutexLock* lock) {
  AfterBatch after;
  WriteNextBatch(op, &after);  // `op` is at the front, so in this batch
  // An ack MarkAcked deferred while the batch was written goes now, unless
  // a next leader waits to take it along. The marker holds the queue (no
  // second leader starts meanwhile) and writes nothing itself.
  while (queue_.empty() && error_.ok() &&
         deferred_ack_through_ > state_.acked_through) {
    Op marker(Op::kSync);
    queue_.push_back(&marker);
    WriteNextBatch(&marker, &after);
  }
  Op* next = queue_.empty() ? nullptr : queue_.front();
  absl::Status s = op->status;
  lock->Release();
  if (!after.done.empty() || next != nullptr) {
    // Under one hold of wait_mu_, which hands itself to the woken callers
    // one by one, in this order: the next leader takes its batch only after
    // the callers just written had a chance to append again, into it.
    absl::MutexLock wake(&wait_mu_);
    for (Op* o : after.done) {
      o->outcome.store(Op::kDone, std::memory_order_relaxed);
      HandOver(o);
      o->cv.Signal();
    }
    if (next != nullptr) {
      next->outcome.store(Op::kLead, std::memory_order_relaxed);
      HandOver(next);
      next->cv.Signal();
    }
  }
  RemoveFiles(after.obsolete);
  return s;
}

void DurableStore::WriteNextBatch(const Op* self, AfterBatch* after) {
  // The batch from the queue's front, led by an ack MarkAcked deferred;
  // META records are built from the state as it will be at their place in
  // the log (`next_seq`, `acked_through`: that state's counters; the state
  // itself, with its meta, is copied only for a new segment).
  uint64_t next_seq = state_.next_seq;
  uint64_t acked_through = state_.acked_through;
  bool sync = false;
  size_t bytes = 0;
  absl::optional<Op> deferred;
  absl::InlinedVector<Op*, 8> batch;  // one op, mostly, with one writer
  if (deferred_ack_through_ > state_.acked_through) {
    deferred.emplace(Op::kAck);
    deferred->seq = deferred_ack_through_;
    deferred->owned = EncodeAcked(deferred->seq);
    deferred->record = deferred->owned;
    acked_through = deferred->seq;
    bytes += deferred->record.size();
    batch.push_back(&*deferred);
  }
  const size_t queued_from = batch.size();
  for (Op* o : queue_) {
    if (batch.size() > queued_from &&
        bytes + o->record.size() > kMaxBatchBytes) {
      break;
    }
    if (o->kind == Op::kMessage) next_seq = o->seq + 1;
    if (o->kind == Op::kAck) acked_through = std::max(acked_through, o->seq);
    if (o->kind == Op::kMeta) {
      o->owned = EncodeMeta({next_seq, acked_through, o->meta});
      o->record = o->owned;
    }
    // Under kEveryWrite a MESSAGE is synced before its Append returns; an
    // ACK need not be: losing one to a machine crash only makes the client
    // send calls again that the peer then drops by id (or, in a new
    // session, gets at least once).
    sync |= o->sync || (o->kind == Op::kMessage &&
                        options_.sync == SyncPolicy::kEveryWrite);
    bytes += o->record.size();
    batch.push_back(o);
  }
  absl::Status s = error_;
  if (s.ok()) {
    // Only the leader touches writer_, and state_ stays as it is until the
    // batch is applied below.
    absl::optional<Checkpoint> rotation;
    if (writer_->length() >= options_.segment_bytes) rotation = state_;
    // A batch that is only copied into the segment's mapped pages is
    // written under mu_: letting go of it and taking it back costs more
    // than the copy, and wakes whoever waited for it meanwhile.
    const bool in_place = !sync && !rotation && FitsMapped(batch);
    if (!in_place) mu_.Unlock();
    s = WriteBatch(batch, sync, rotation ? &*rotation : nullptr);
    if (!in_place) mu_.Lock();
  }
  Settle(batch, s, sync, bytes > 0, &after->obsolete);
  for (size_t i = queued_from; i < batch.size(); ++i) {
    Op* o = batch[i];
    queue_.pop_front();
    o->status = s;
    if (o != self) after->done.push_back(o);
  }
}

void DurableStore::Settle(absl::Span<Op* const> batch, const absl::Status& s,
                          bool synced, bool wrote,
                          std::vector<std::string>* obsolete) {
  if (s.ok()) {
    NoteActiveSegment();
    for (Op* o : batch) Apply(o);
    dirty_ = !synced && (dirty_ || wrote);
    if (obsolete != nullptr) CollectObsolete(obsolete);
  } else {
    if (error_.ok()) error_ = s;
    for (Op* o : batch) {
      if (o->kind == Op::kMessage) reserved_bytes_ -= o->record.size();
    }
  }
}

bool DurableStore::NothingOwed() const {
  return queue_.empty() && deferred_ack_through_ <= state_.acked_through &&
         options_.sync != SyncPolicy::kEveryWrite &&
         writer_->length() < options_.segment_bytes;
}

bool DurableStore::CanWriteAlone(Op* op) const {
  Op* const batch[] = {op};
  return NothingOwed() && FitsMapped(batch);
}

absl::optional<absl::StatusOr<uint64_t>> DurableStore::AppendInPlace(
    const MessageRef& message) {
  if (closed_ || !error_.ok() || !NothingOwed()) return absl::nullopt;
  MessageRef numbered = message;
  if (message.seq == 0) numbered.seq = queued_next_seq_;
  if (!CheckAppendSeq(numbered.seq, queued_next_seq_).ok()) {
    return absl::nullopt;
  }
  // A record in one fragment is far below kMaxRecordBytes.
  const size_t size = StoredSize(numbered);
  if (!HasRoomFor(size)) return absl::nullopt;
  char* at = writer_->ReserveInPlace(size);
  if (at == nullptr) return absl::nullopt;
  EncodeMessageAt(numbered, at);
  uint64_t offset;
  if (absl::Status s = writer_->CommitInPlace(size, &offset); !s.ok()) {
    error_ = s;
    return s;
  }
  queued_next_seq_ = numbered.seq + 1;
  NoteActiveSegment();
  IndexMessage(numbered.seq, offset, size);
  dirty_ = true;
  return numbered.seq;
}

absl::Status DurableStore::WriteAlone(Op* op) {
  Op* const batch[] = {op};
  absl::Status s = WriteBatch(batch, /*sync=*/false, /*rotation=*/nullptr);
  // A MESSAGE frees no segment: nothing can have become obsolete.
  Settle(batch, s, /*synced=*/false, /*wrote=*/true, /*obsolete=*/nullptr);
  return s;
}

bool DurableStore::FitsMapped(absl::Span<Op* const> batch) const {
  const uint64_t start = writer_->length();
  uint64_t end = start;
  for (const Op* o : batch) {
    if (o->kind != Op::kSync) end += log::PhysicalSpan(end, o->record.size());
  }
  return end - start <= file_->MappedRoom();
}

absl::Status DurableStore::WriteBatch(absl::Span<Op* const> batch, bool sync,
                                      const Checkpoint* rotation) {
  if (rotation != nullptr) {
    PARLEY_RETURN_IF_ERROR(FinishSegment());
    PARLEY_RETURN_IF_ERROR(StartSegment(active_number_ + 1, *rotation));
  }
  for (Op* o : batch) {
    if (o->kind == Op::kSync) continue;
    PARLEY_RETURN_IF_ERROR(writer_->AddRecord(o->record, &o->offset));
  }
  return sync ? file_->Sync() : file_->Flush();
}

absl::Status DurableStore::FinishSegment() {
  PARLEY_RETURN_IF_ERROR(writer_->AddRecord(EncodeSeal()));
  // Unmapped first, the sync writes the pages back without a TLB shootdown
  // each: with the map, the seals cost 11 % of a durable one-way trial's
  // samples, on the caller, in interrupts to the other CPU
  // (docs/PERFORMANCE.md, session 10).
  PARLEY_RETURN_IF_ERROR(file_->Unmap());
  PARLEY_RETURN_IF_ERROR(file_->Sync());
  absl::Status s = file_->Close();
  writer_.reset();
  file_.reset();
  return s;
}

absl::StatusOr<std::unique_ptr<WritableFile>> DurableStore::NewSegmentFile(
    const std::string& path) {
  PARLEY_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file,
                          env_->NewWritableFile(path));
  if (options_.preallocation != Preallocation::kNone) {
    // A segment outgrows this by at most one batch; that tail just grows.
    PARLEY_RETURN_IF_ERROR(
        file->Preallocate(options_.segment_bytes,
                          options_.preallocation == Preallocation::kZeroFill));
  }
  return file;
}

absl::Status DurableStore::StartSegment(uint64_t number,
                                        const Checkpoint& state) {
  const std::string path = SegmentPath(number);
  if (std::unique_ptr<WritableFile> prepared = TakePrepared();
      prepared != nullptr) {
    // Until the SyncDir below, a crash leaves the prepared name or none
    // (recovery deletes the first; the second is a segment never begun).
    PARLEY_RETURN_IF_ERROR(env_->RenameFile(PreparedPath(), path));
    file_ = std::move(prepared);
  } else {
    PARLEY_ASSIGN_OR_RETURN(file_, NewSegmentFile(path));
  }
  active_number_ = number;
  writer_ = std::make_unique<log::Writer>(file_.get(), 0);
  PARLEY_RETURN_IF_ERROR(writer_->AddRecord(EncodeMeta(state)));
  PARLEY_RETURN_IF_ERROR(file_->Sync());
  PARLEY_RETURN_IF_ERROR(env_->SyncDir(dir_));
  PARLEY_ASSIGN_OR_RETURN(std::unique_ptr<RandomAccessFile> reader,
                          env_->NewRandomAccessFile(path));
  new_segment_reader_ = std::move(reader);
  PrepareNext();
  return absl::OkStatus();
}

void DurableStore::Apply(Op* o) {
  switch (o->kind) {
    case Op::kMessage:
      reserved_bytes_ -= o->record.size();
      IndexMessage(o->seq, o->offset, o->record.size());
      break;
    case Op::kAck:
      PopAcked(o->seq);
      break;
    case Op::kMeta:
      state_.meta = o->meta;
      break;
    case Op::kSync:
      break;
  }
}

void DurableStore::NoteActiveSegment() {
  if (segments_.empty() || segments_.back().number != active_number_) {
    segments_.push_back({active_number_, new_segment_reader_, 0});
  }
}

void DurableStore::IndexMessage(uint64_t seq, uint64_t offset, size_t size) {
  index_.push_back(
      {seq, static_cast<uint32_t>(offset), static_cast<uint32_t>(size)});
  ++segments_.back().entries;
  pending_bytes_ += size;
  state_.next_seq = seq + 1;
}

bool DurableStore::HasRoomFor(size_t size) const {
  return pending_bytes_ + reserved_bytes_ + size <= options_.capacity_bytes;
}

void DurableStore::PopAcked(uint64_t through) {
  state_.acked_through = std::max(state_.acked_through, through);
  size_t seg = 0;
  while (!index_.empty() && index_.front().seq <= through) {
    while (segments_[seg].entries == 0) ++seg;
    --segments_[seg].entries;
    pending_bytes_ -= index_.front().size;
    index_.pop_front();
  }
}

void DurableStore::CollectObsolete(std::vector<std::string>* obsolete) {
  while (segments_.size() > 1 && segments_.front().entries == 0 &&
         segments_.front().number != active_number_) {
    obsolete->push_back(SegmentPath(segments_.front().number));
    segments_.pop_front();
  }
}

void DurableStore::RemoveFiles(std::vector<std::string> paths) {
  if (paths.empty()) return;
  util::MutexLock lock(&house_mu_);
  to_remove_.insert(to_remove_.end(), std::make_move_iterator(paths.begin()),
                    std::make_move_iterator(paths.end()));
  house_cv_.Signal();
}

std::unique_ptr<WritableFile> DurableStore::TakePrepared() {
  util::MutexLock lock(&house_mu_);
  // A request to prepare that came while this file was being prepared is
  // answered by it: left set, it would have the housekeeping thread open
  // (and truncate) the file under its name again, before the caller has
  // renamed it into place. PrepareNext asks anew once it has been.
  if (prepared_ != nullptr) prepare_ = false;
  return std::move(prepared_);
}

void DurableStore::PrepareNext() {
  util::MutexLock lock(&house_mu_);
  prepare_ = true;
  house_cv_.Signal();
}

void DurableStore::HousekeepingLoop() {
  house_mu_.Lock();
  for (;;) {
    auto work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(house_mu_) {
      return house_stopping_ || !to_remove_.empty() ||
             (prepare_ && prepared_ == nullptr);
    };
    house_cv_.Wait(&house_mu_, work);
    if (!to_remove_.empty()) {
      std::vector<std::string> paths = std::move(to_remove_);
      to_remove_.clear();
      house_mu_.Unlock();
      // A failed delete only leaves acked messages behind: on the next Open
      // they are below acked_through or are resent and deduplicated by the
      // peer.
      for (const std::string& path : paths) (void)env_->RemoveFile(path);
      house_mu_.Lock();
    } else if (house_stopping_) {
      break;
    } else {
      prepare_ = false;
      house_mu_.Unlock();
      absl::StatusOr<std::unique_ptr<WritableFile>> file =
          NewSegmentFile(PreparedPath());
      // A failure (a full disk, say) leaves the next segment to be made
      // where it starts, which then reports the error; what was made of
      // this file goes, so as not to hold space the disk lacks.
      if (!file.ok()) (void)env_->RemoveFile(PreparedPath());
      house_mu_.Lock();
      if (file.ok()) prepared_ = *std::move(file);
    }
  }
  std::unique_ptr<WritableFile> unused = std::move(prepared_);
  house_mu_.Unlock();
  if (unused != nullptr) {
    (void)unused->Close();
    (void)env_->RemoveFile(PreparedPath());
  }
}

absl::StatusOr<uint64_t> DurableStore::Append(const MessageRef& message) {
  return *AppendMessage(message, /*may_wait=*/true);
}

absl::optional<absl::StatusOr<uint64_t>> DurableStore::AppendNow(
    const MessageRef& message) {
  return AppendMessage(message, /*may_wait=*/false);
}

absl::optional<absl::StatusOr<uint64_t>> DurableStore::AppendMessage(
    const MessageRef& message, bool may_wait) {
  if (options_.sync != SyncPolicy::kEveryWrite) {
    util::MutexLock lock(&mu_);
    if (absl::optional<absl::StatusOr<uint64_t>> appended =
            AppendInPlace(message);
        appended.has_value()) {
      return appended;
    }
  }
  Op op(Op::kMessage);
  ThreadRecordBuffer buffer;
  // Encode outside the lock unless the seq is assigned under it.
  if (message.seq != 0) {
    EncodeMessageTo(message, message.seq, buffer.get());
    op.record = *buffer.get();
  }
  util::ReleasableMutexLock lock(&mu_);
  if (closed_ || !error_.ok()) return Run(&op, &lock);  // The error.
  op.seq = message.seq == 0 ? queued_next_seq_ : message.seq;
  if (absl::Status bad = CheckAppendSeq(op.seq, queued_next_seq_); !bad.ok()) {
    return bad;
  }
  if (message.seq == 0) {
    EncodeMessageTo(message, op.seq, buffer.get());
    op.record = *buffer.get();
  }
  if (op.record.size() > kMaxRecordBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "message of ", op.record.size(), " bytes exceeds ", kMaxRecordBytes));
  }
  if (!HasRoomFor(op.record.size())) {
    const uint64_t used = pending_bytes_ + reserved_bytes_;
    return absl::ResourceExhaustedError(absl::StrCat(
        "store full: ", used, " of ", options_.capacity_bytes,
        " bytes pending; a message of ", op.record.size(), " does not fit"));
  }
  const bool alone = CanWriteAlone(&op);
  if (!alone && !may_wait) return absl::nullopt;
  queued_next_seq_ = op.seq + 1;
  reserved_bytes_ += op.record.size();
  absl::Status s = alone ? WriteAlone(&op) : Run(&op, &lock);
  if (!s.ok()) return s;
  return op.seq;
}

absl::Status DurableStore::MarkAcked(uint64_t through) {
  Op op(Op::kAck);
  op.owned = EncodeAcked(through);
  op.record = op.owned;
  op.seq = through;
  util::ReleasableMutexLock lock(&mu_);
  if (through >= queued_next_seq_) {
    return absl::InvalidArgumentError(
        absl::StrCat("ack through ", through, " but the last appended seq is ",
                     queued_next_seq_ - 1));
  }
  if (through <= std::max(state_.acked_through, deferred_ack_through_) &&
      error_.ok() && !closed_) {
    return absl::OkStatus();
  }
  // Another caller is writing: rather than wait behind its write (an ack
  // is not urgent, see WriteNextBatch), leave the ack to it.
  if (!queue_.empty() && error_.ok() && !closed_) {
    deferred_ack_through_ = through;
    return absl::OkStatus();
  }
  return Run(&op, &lock);
}

absl::Status DurableStore::SaveMeta(const StoreMeta& meta) {
  Op op(Op::kMeta);
  op.meta = meta;
  op.sync = true;
  util::ReleasableMutexLock lock(&mu_);
  return Run(&op, &lock);
}

absl::Status DurableStore::Sync() {
  Op op(Op::kSync);
  op.sync = true;
  util::ReleasableMutexLock lock(&mu_);
  return Run(&op, &lock);
}

absl::Status DurableStore::Close() {
  {
    util::MutexLock lock(&mu_);
    if (closed_ || stopping_) return absl::OkStatus();
    stopping_ = true;
  }
  stop_.Notify();
  if (sync_thread_.joinable()) sync_thread_.join();
  absl::Status s;
  {
    util::ReleasableMutexLock lock(&mu_);
    if (options_.sync != SyncPolicy::kNever && dirty_ && error_.ok()) {
      Op op(Op::kSync);
      op.sync = true;
      s = Run(&op, &lock);
    }
  }
  {
    util::MutexLock lock(&mu_);
    closed_ = true;
  }
  if (file_ != nullptr) {
    absl::Status c = file_->Close();
    if (s.ok()) s = c;
  }
  {
    util::MutexLock lock(&house_mu_);
    house_stopping_ = true;
    house_cv_.Signal();
  }
  // Deletes what is obsolete, and the prepared file, first.
  if (house_thread_.joinable()) house_thread_.join();
  lock_.reset();
  return s;
}

void DurableStore::SyncLoop() {
  while (!stop_.WaitForNotificationWithTimeout(options_.sync_interval)) {
    util::ReleasableMutexLock lock(&mu_);
    if (dirty_ && error_.ok()) {
      Op op(Op::kSync);
      op.sync = true;
      (void)Run(&op, &lock);  // A failure is sticky: Appends report it.
    }
  }
}

}  // namespace parley::store
