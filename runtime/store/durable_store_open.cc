// DurableStore::Open: lock the directory, scan the segments in order,
// rebuild the pending index, cut a torn tail, start a fresh segment.
#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "runtime/store/durable_store.h"
#include "runtime/store/log_reader.h"
#include "runtime/util/status_macros.h"

namespace parley::store {
namespace {

// "000012.log" -> 12.
bool ParseSegmentName(const std::string& name, uint64_t* number) {
  absl::string_view digits = name;
  if (!absl::ConsumeSuffix(&digits, ".log") || digits.empty()) return false;
  for (char c : digits) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return absl::SimpleAtoi(digits, number);
}

}  // namespace

// Scans segments into the store's state. Runs before the store is shared,
// holding its mutex only to satisfy the annotations.
class DurableStore::Recovery {
 public:
  explicit Recovery(DurableStore* store) : s_(store) {}

  // Scans one segment. `last`: the newest, whose bad tail is the log's end.
  absl::Status Scan(uint64_t number, bool last)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(s_->mu_) {
    const std::string path = s_->SegmentPath(number);
    PARLEY_ASSIGN_OR_RETURN(uint64_t size, s_->env_->GetFileSize(path));
    PARLEY_ASSIGN_OR_RETURN(std::unique_ptr<SequentialFile> file,
                            s_->env_->NewSequentialFile(path));
    s_->segments_.push_back({number, nullptr, 0});
    log::Reader reader(file.get());
    absl::string_view record;
    std::string scratch;
    sealed_ = false;
    for (;;) {
      log::Reader::Result r = reader.ReadRecord(&record, &scratch);
      if (r == log::Reader::kIoError) return reader.io_status();
      if (r == log::Reader::kEof) break;
      if (r == log::Reader::kCorruption) {
        std::string what = absl::StrCat(path, ": corrupt record at offset ",
                                        reader.corruption_offset(), " (",
                                        reader.corruption_reason(), ")");
        if (!last) return absl::DataLossError(what);
        PARLEY_ASSIGN_OR_RETURN(
            bool more, ValidAfter(path, size, reader.corruption_offset()));
        if (more) {
          return absl::DataLossError(
              absl::StrCat(what, ", followed by valid records"));
        }
        break;  // A torn tail: the end of the log.
      }
      PARLEY_RETURN_IF_ERROR(
          ApplyRecord(record, reader.last_record_offset(), path));
      if (sealed_) break;
    }
    end_ = reader.end_of_last_record();
    if (!last && !sealed_) {
      return absl::DataLossError(
          absl::StrCat(path, ": segment ends at offset ", end_,
                       " without its SEAL record (truncated or zeroed)"));
    }
    if (last && !sealed_ && end_ < size) {
      // Zero-filled space must be the end: nothing valid may follow it.
      PARLEY_ASSIGN_OR_RETURN(bool more, ValidAfter(path, size, end_));
      if (more) {
        return absl::DataLossError(
            absl::StrCat(path, ": corrupt record at offset ", end_,
                         " (zeroed), followed by valid records"));
      }
    }
    return absl::OkStatus();
  }

  bool sealed() const { return sealed_; }
  uint64_t end() const { return end_; }

 private:
  absl::StatusOr<bool> ValidAfter(const std::string& path, uint64_t size,
                                  uint64_t offset) {
    PARLEY_ASSIGN_OR_RETURN(std::unique_ptr<RandomAccessFile> file,
                            s_->env_->NewRandomAccessFile(path));
    return log::ValidRecordAfter(*file, size, offset);
  }

  absl::Status ApplyRecord(absl::string_view record, uint64_t offset,
                           const std::string& path)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(s_->mu_) {
    auto bad = [&](absl::string_view why) {
      return absl::DataLossError(
          absl::StrCat(path, ": record at offset ", offset, ": ", why));
    };
    Checkpoint& state = s_->state_;
    RecordKind kind;
    if (!PeekKind(record, &kind)) return bad("unknown record kind");
    switch (kind) {
      case RecordKind::kMessage: {
        uint64_t seq;
        if (!DecodeMessageSeq(record, &seq)) return bad("malformed MESSAGE");
        if (absl::Status s = CheckAppendSeq(seq, state.next_seq); !s.ok()) {
          return bad(s.message());
        }
        if (offset > UINT32_MAX || record.size() > UINT32_MAX) {
          return bad("offset or size beyond 4 GiB");
        }
        state.next_seq = seq + 1;
        if (seq > state.acked_through) {
          s_->index_.push_back({seq, static_cast<uint32_t>(offset),
                                static_cast<uint32_t>(record.size())});
          ++s_->segments_.back().entries;
          s_->pending_bytes_ += record.size();
        }
        break;
      }
      case RecordKind::kAcked: {
        uint64_t through;
        if (!DecodeAcked(record, &through)) return bad("malformed ACKED");
        if (through >= state.next_seq) return bad(AckedBeyond(through, state));
        s_->PopAcked(through);
        break;
      }
      case RecordKind::kMeta: {
        Checkpoint c;
        if (!DecodeMeta(record, &c) || c.next_seq == 0) {
          return bad("malformed META");
        }
        state.next_seq = std::max(state.next_seq, c.next_seq);
        if (c.acked_through >= state.next_seq) {
          return bad(AckedBeyond(c.acked_through, state));
        }
        state.meta = std::move(c.meta);
        s_->PopAcked(c.acked_through);
        break;
      }
      case RecordKind::kSeal:
        sealed_ = true;
        break;
    }
    return absl::OkStatus();
  }

  // An ack of a seq never appended would swallow the next Append on the
  // following reopen: the log is corrupt.
  static std::string AckedBeyond(uint64_t through, const Checkpoint& state) {
    return absl::StrCat("acked through seq ", through, " but the last seq is ",
                        state.next_seq - 1);
  }

  DurableStore* const s_;
  bool sealed_ = false;
  uint64_t end_ = 0;
};

absl::StatusOr<std::unique_ptr<DurableStore>> DurableStore::Open(
    Env* env, const std::string& dir, const DurableStoreOptions& options) {
  if (options.segment_bytes < 1024 || options.segment_bytes > (1u << 30)) {
    return absl::InvalidArgumentError(
        "segment_bytes must be in [1 KiB, 1 GiB]");
  }
  if (options.sync == SyncPolicy::kInterval &&
      options.sync_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("sync_interval must be positive");
  }
  PARLEY_RETURN_IF_ERROR(env->CreateDir(dir));
  std::unique_ptr<DurableStore> store(new DurableStore(env, dir, options));
  PARLEY_ASSIGN_OR_RETURN(store->lock_, env->LockFile(dir + "/LOCK"));
  PARLEY_ASSIGN_OR_RETURN(std::vector<std::string> names,
                          env->GetChildren(dir));
  std::vector<uint64_t> numbers;
  for (const std::string& name : names) {
    uint64_t number;
    if (ParseSegmentName(name, &number)) numbers.push_back(number);
  }
  std::sort(numbers.begin(), numbers.end());

  std::vector<std::string> obsolete;
  // Prepared for a segment that did not start before the last Close (or
  // crash): never part of the log.
  if (std::find(names.begin(), names.end(), kPreparedSegmentName) !=
      names.end()) {
    obsolete.push_back(store->PreparedPath());
  }
  {
    util::MutexLock lock(&store->mu_);
    Recovery recovery(store.get());
    for (size_t i = 0; i < numbers.size(); ++i) {
      PARLEY_RETURN_IF_ERROR(
          recovery.Scan(numbers[i], i + 1 == numbers.size()));
    }
    if (!numbers.empty() && !recovery.sealed()) {
      // Cut the torn tail (or the preallocated zeros) and seal the newest
      // segment, so that from now on it reads as a finished one.
      const std::string path = store->SegmentPath(numbers.back());
      PARLEY_RETURN_IF_ERROR(env->TruncateFile(path, recovery.end()));
      PARLEY_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file,
                              env->NewAppendableFile(path));
      log::Writer writer(file.get(), recovery.end());
      PARLEY_RETURN_IF_ERROR(writer.AddRecord(EncodeSeal()));
      PARLEY_RETURN_IF_ERROR(file->Sync());
      PARLEY_RETURN_IF_ERROR(file->Close());
    }
    for (Segment& segment : store->segments_) {
      if (segment.entries == 0) continue;
      PARLEY_ASSIGN_OR_RETURN(
          segment.file,
          env->NewRandomAccessFile(store->SegmentPath(segment.number)));
    }
    const uint64_t number = numbers.empty() ? 1 : numbers.back() + 1;
    PARLEY_RETURN_IF_ERROR(store->StartSegment(number, store->state_));
    store->segments_.push_back({number, store->new_segment_reader_, 0});
    store->queued_next_seq_ = store->state_.next_seq;
    store->CollectObsolete(&obsolete);
  }
  store->RemoveFiles(std::move(obsolete));
  store->house_thread_ =
      std::thread([s = store.get()] { s->HousekeepingLoop(); });
  if (options.sync == SyncPolicy::kInterval) {
    store->sync_thread_ = std::thread([s = store.get()] { s->SyncLoop(); });
  }
  return store;
}

}  // namespace parley::store
