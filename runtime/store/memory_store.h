// MemoryStore: a MessageStore in memory, for sessions configured without a
// durable buffer. Same rules as DurableStore (seq order, cumulative acks,
// capacity_bytes charged by StoredSize) but nothing survives the process.
//
//   store::MemoryStore store(/*capacity_bytes=*/16 << 20);
//   auto seq = store.Append({0, "chat.Room/Say", payload, 0, false});
//   if (absl::IsResourceExhausted(seq.status())) { /* back off; keep the
//   message */ }
//
// Thread safety: thread-safe.
#ifndef PARLEY_RUNTIME_STORE_MEMORY_STORE_H_
#define PARLEY_RUNTIME_STORE_MEMORY_STORE_H_

#include <deque>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "runtime/store/message_store.h"

namespace parley::store {

class MemoryStore : public MessageStore {
 public:
  explicit MemoryStore(uint64_t capacity_bytes);

  absl::StatusOr<uint64_t> Append(const MessageRef& message) override;
  // Always appends: a MemoryStore never waits.
  absl::optional<absl::StatusOr<uint64_t>> AppendNow(
      const MessageRef& message) override {
    return Append(message);
  }
  absl::Status MarkAcked(uint64_t through) override;
  absl::Status SaveMeta(const StoreMeta& meta) override;

  StoreMeta meta() const override;
  uint64_t next_seq() const override;
  uint64_t acked_through() const override;
  absl::Status ForEachPending(
      uint64_t from_seq,
      absl::FunctionRef<bool(const StoredMessage&)> fn) override;
  size_t pending_count() const override;
  uint64_t pending_bytes() const override;
  uint64_t capacity_bytes() const override { return capacity_bytes_; }

 private:
  const uint64_t capacity_bytes_;
  mutable absl::Mutex mu_;
  std::deque<StoredMessage> pending_ ABSL_GUARDED_BY(mu_);
  uint64_t pending_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t acked_through_ ABSL_GUARDED_BY(mu_) = 0;
  StoreMeta meta_ ABSL_GUARDED_BY(mu_);
};

}  // namespace parley::store

#endif  // PARLEY_RUNTIME_STORE_MEMORY_STORE_H_
