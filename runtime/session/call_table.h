// CallTable: values by call id, for ids added in increasing order (internal).
// A deque, not a hash map: calls mostly complete in the order they were
// made, so a lookup mostly finds its slot at its offset from the front
// (else by binary search), and a new call's memory is next to the last
// one's. A hash map of a send buffer's worth of calls (64k by default)
// put every call on a cache line of its own, away from the last one's.
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
// kSlack slots.
//
// Thread safety: none (a Session's state).
#ifndef PARLEY_RUNTIME_SESSION_CALL_TABLE_H_
#define PARLEY_RUNTIME_SESSION_CALL_TABLE_H_

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <utility>

namespace parley::session {

template <typename T>
class CallTable {
 public:
  static constexpr size_t kSlack = 16;

  // `call` must be above every call added before.
  void Add(uint64_t call, T value) {
    assert(call < (uint64_t{1} << 63));
    assert(slots_.empty() || call > slots_.back().call());
    slots_.push_back({call << 1 | 1, std::move(value)});
    ++size_;
  }

  // The value of `call`, or null if absent (never added, or erased).
  T* Find(uint64_t call) {
    Slot* slot = FindSlot(call);
    return slot != nullptr && slot->live() ? &slot->value : nullptr;
  }

  // Removes `call`, its value moved to `*out`; false if absent.
  bool Take(uint64_t call, T* out) {
    Slot* slot = FindSlot(call);
    if (slot == nullptr || !slot->live()) return false;
    *out = std::move(slot->value);
    slot->value = T();  // what it held goes now, not when the slot does
    slot->key &= ~uint64_t{1};
    --size_;
    while (!slots_.empty() && !slots_.front().live()) slots_.pop_front();
    if (slots_.size() > 2 * size_ + kSlack) {
      slots_.erase(std::remove_if(slots_.begin(), slots_.end(),
                                  [](const Slot& s) { return !s.live(); }),
                   slots_.end());
    }
    return true;
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Slots held, removed ones not yet dropped included (for tests).
  size_t stored() const { return slots_.size(); }

  // Calls in ascending order.
  template <typename F>
  void ForEachCall(F&& f) const {
    for (const Slot& slot : slots_) {
      if (slot.live()) f(slot.call());
    }
  }

 private:
  // The call and whether it is live share a word: a bool beside the id
  // would make a slot 8 bytes larger, and a deque's 512-byte blocks hold
  // fewer of them (four instead of five for a Session's Pending).
  struct Slot {
    uint64_t key;  // call << 1 | live
    T value;
    uint64_t call() const { return key >> 1; }
    bool live() const { return (key & 1) != 0; }
  };

  Slot* FindSlot(uint64_t call) {
    if (slots_.empty() || call < slots_.front().call()) return nullptr;
    // Ids mostly come one apart, and leave from the front.
    const uint64_t offset = call - slots_.front().call();
    if (offset < slots_.size() && slots_[offset].call() == call) {
      return &slots_[offset];
    }
    auto it = std::lower_bound(
        slots_.begin(), slots_.end(), call,
        [](const Slot& s, uint64_t c) { return s.call() < c; });
    return it != slots_.end() && it->call() == call ? &*it : nullptr;
  }

  std::deque<Slot> slots_;  // ascending call; the front is live
  size_t size_ = 0;         // live slots
};

}  // namespace parley::session

#endif  // PARLEY_RUNTIME_SESSION_CALL_TABLE_H_
