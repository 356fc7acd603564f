#include "runtime/store/memory_store.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace parley::store {

MemoryStore::MemoryStore(uint64_t capacity_bytes)
    : capacity_bytes_(capacity_bytes) {}

absl::StatusOr<uint64_t> MemoryStore::Append(const MessageRef& message) {
  absl::MutexLock lock(&mu_);
  MessageRef numbered = message;
  if (numbered.seq == 0) numbered.seq = next_seq_;
  const uint64_t seq = numbered.seq;
  const size_t size = StoredSize(numbered);
  if (absl::Status bad = CheckAppendSeq(seq, next_seq_); !bad.ok()) return bad;
  if (pending_bytes_ + size > capacity_bytes_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("store full: ", pending_bytes_, " of ", capacity_bytes_,
                     " bytes pending; a message of ", size, " does not fit"));
  }
  pending_.push_back({seq, std::string(message.method),
                      std::string(message.payload), message.ack_within_ms,
                      message.reply_wanted});
  pending_bytes_ += size;
  next_seq_ = seq + 1;
  return seq;
}

absl::Status MemoryStore::MarkAcked(uint64_t through) {
  absl::MutexLock lock(&mu_);
  if (through >= next_seq_) {
    return absl::InvalidArgumentError(
        absl::StrCat("ack through ", through, " but the last appended seq is ",
                     next_seq_ - 1));
  }
  acked_through_ = std::max(acked_through_, through);
  while (!pending_.empty() && pending_.front().seq <= through) {
    pending_bytes_ -= StoredSize(pending_.front());
    pending_.pop_front();
  }
  return absl::OkStatus();
}

absl::Status MemoryStore::SaveMeta(const StoreMeta& meta) {
  absl::MutexLock lock(&mu_);
  meta_ = meta;
  return absl::OkStatus();
}

StoreMeta MemoryStore::meta() const {
  absl::MutexLock lock(&mu_);
  return meta_;
}

uint64_t MemoryStore::next_seq() const {
  absl::MutexLock lock(&mu_);
  return next_seq_;
}

uint64_t MemoryStore::acked_through() const {
  absl::MutexLock lock(&mu_);
  return acked_through_;
}

absl::Status MemoryStore::ForEachPending(
    uint64_t from_seq, absl::FunctionRef<bool(const StoredMessage&)> fn) {
  // Copy one message at a time so fn runs unlocked (it may be slow).
  for (uint64_t next = from_seq;;) {
    StoredMessage message;
    {
      absl::MutexLock lock(&mu_);
      auto it = std::lower_bound(
          pending_.begin(), pending_.end(), next,
          [](const StoredMessage& m, uint64_t seq) { return m.seq < seq; });
      if (it == pending_.end()) return absl::OkStatus();
      message = *it;
    }
    next = message.seq + 1;
    if (!fn(message)) return absl::OkStatus();
  }
}

size_t MemoryStore::pending_count() const {
  absl::MutexLock lock(&mu_);
  return pending_.size();
}

uint64_t MemoryStore::pending_bytes() const {
  absl::MutexLock lock(&mu_);
  return pending_bytes_;
}

}  // namespace parley::store
