// CallTable: values by call id, for ids added in increasing order (internal).
// A ring of slots, not a hash map: calls mostly complete in the order they
// were made, so a lookup mostly finds its slot at its offset from the front
// (else by binary search), and a new call's memory is next to the last
// one's. A hash map of a send buffer's worth of calls (64k by default)
// put every call on a cache line of its own, away from the last one's;
// a std::deque's 512-byte blocks held four or five calls each, a block
// allocated and freed every few calls and an index divided by 5.
//
//   CallTable<Pending> pending;
//   pending.Add(7, Pending{...});
//   if (Pending* p = pending.Find(7)) ...;
//   Pending taken;
//   if (pending.Take(7, &taken)) ...;
//
// A slot removed out of order stays, marked, until it reaches the front or
// marked slots outnumber the rest (then they go, in one pass: O(1)
// amortized per removal), so the table holds at most twice its size plus
// kSlack slots. The ring doubles when full and halves when under a
// quarter full, so it keeps at most max(kMinCapacity, 4 x slots held).
//
// Thread safety: none (a Session's state).
#ifndef PARLEY_RUNTIME_SESSION_CALL_TABLE_H_
#define PARLEY_RUNTIME_SESSION_CALL_TABLE_H_

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace parley::session {

template <typename T>
class CallTable {
 public:
  static constexpr size_t kSlack = 16;
  static constexpr size_t kMinCapacity = 16;

  // `call` must be above every call added before.
  void Add(uint64_t call, T value) {
    assert(count_ == 0 || call > At(count_ - 1).call);
    if (count_ == ring_.size()) Resize(std::max(kMinCapacity, 2 * count_));
    At(count_++) = {call, true, std::move(value)};
    ++size_;
  }

  // The value of `call`, or null if absent (never added, or erased).
  T* Find(uint64_t call) {
    Slot* slot = FindSlot(call);
    return slot != nullptr && slot->live ? &slot->value : nullptr;
  }

  // Removes `call`, its value moved to `*out`; false if absent.
  bool Take(uint64_t call, T* out) {
    Slot* slot = FindSlot(call);
    if (slot == nullptr || !slot->live) return false;
    *out = std::move(slot->value);
    slot->value = T();  // what it held goes now, not when the slot does
    slot->live = false;
    --size_;
    while (count_ != 0 && !At(0).live) {
      head_ = (head_ + 1) & (ring_.size() - 1);
      --count_;
    }
    if (count_ > 2 * size_ + kSlack) {
      Resize(ring_.size());  // drops the marked slots
    }
    if (ring_.size() > kMinCapacity && count_ < ring_.size() / 4) {
      Resize(ring_.size() / 2);
    }
    return true;
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Slots held, removed ones not yet dropped included (for tests).
  size_t stored() const { return count_; }
  // Slots allocated (for tests).
  size_t capacity() const { return ring_.size(); }

  // Calls in ascending order.
  template <typename F>
  void ForEachCall(F&& f) const {
    for (size_t i = 0; i < count_; ++i) {
      const Slot& slot = ring_[(head_ + i) & (ring_.size() - 1)];
      if (slot.live) f(slot.call);
    }
  }

 private:
  struct Slot {
    uint64_t call = 0;
    bool live = false;
    T value;
  };

  // The i-th slot from the front.
  Slot& At(size_t i) { return ring_[(head_ + i) & (ring_.size() - 1)]; }

  Slot* FindSlot(uint64_t call) {
    if (count_ == 0 || call < At(0).call) return nullptr;
    // Ids mostly come one apart, and leave from the front.
    const uint64_t offset = call - At(0).call;
    if (offset < count_ && At(offset).call == call) return &At(offset);
    size_t low = 0, high = count_;  // the first slot at or above `call`
    while (low < high) {
      const size_t mid = low + (high - low) / 2;
      if (At(mid).call < call) {
        low = mid + 1;
      } else {
        high = mid;
      }
    }
    return low < count_ && At(low).call == call ? &At(low) : nullptr;
  }

  // Moves the live slots, in order, to the front of a ring of `capacity`
  // (a power of two, at least their number).
  void Resize(size_t capacity) {
    std::vector<Slot> ring(capacity);
    size_t kept = 0;
    for (size_t i = 0; i < count_; ++i) {
      Slot& slot = At(i);
      if (slot.live) ring[kept++] = std::move(slot);
    }
    ring_ = std::move(ring);
    head_ = 0;
    count_ = kept;
  }

  std::vector<Slot> ring_;  // size: 0 or a power of two
  size_t head_ = 0;         // the front's index in ring_
  size_t count_ = 0;        // slots held from the front; the front is live
  size_t size_ = 0;         // live slots
};

}  // namespace parley::session

#endif  // PARLEY_RUNTIME_SESSION_CALL_TABLE_H_
