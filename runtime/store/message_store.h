// MessageStore: where a session keeps the messages it has accepted for
// sending until the peer acks them, plus the little state a resumed session
// needs (its id, the next seq, what it has received from the peer).
//
//   std::unique_ptr<store::MessageStore> store = ...;  // Durable or Memory
//   store::MessageRef m(/*seq=*/0, "chat.Room/Say", payload,
//                       /*ack_within_ms=*/5000, /*reply_wanted=*/false);
//   absl::StatusOr<uint64_t> seq = store->Append(m);  // 0: store numbers it
//   // OK: accepted (and durable as the store's sync policy says).
//   ...
//   store->MarkAcked(/*through=*/*seq);  // the peer has processed it
//   store->ForEachPending(/*from_seq=*/1, [&](const StoredMessage& p) {
//     Resend(p);
//     return true;  // false stops early
//   });
//
// Status codes: InvalidArgument for a seq that does not increase or an ack
// beyond what was appended; ResourceExhausted when capacity_bytes would be
// exceeded (back off until acks free space; nothing is dropped); for the
// durable store, any I/O error (including ENOSPC) from a write or sync,
// after which every later write fails with the same error until reopened
// (what was accepted before stays intact on disk).
//
// Thread safety: implementations are thread-safe.
#ifndef PARLEY_RUNTIME_STORE_MESSAGE_STORE_H_
#define PARLEY_RUNTIME_STORE_MESSAGE_STORE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"

namespace parley::store {

// One outgoing MSG as the session will (re)send it.
struct StoredMessage {
  // From 1, strictly increasing, never reused; 0 in Append: assign next.
  uint64_t seq = 0;
  std::string method;
  std::string payload;  // Binary; may contain NULs.
  uint32_t ack_within_ms = 0;
  bool reply_wanted = false;
};

// A StoredMessage's fields, viewing bytes that someone else owns: what
// Append takes (the store copies what it keeps) and what a decoded record
// is. Converts implicitly from a StoredMessage, as string_view does from
// string.
struct MessageRef {
  MessageRef(uint64_t seq, absl::string_view method, absl::string_view payload,
             uint32_t ack_within_ms, bool reply_wanted)
      : seq(seq),
        method(method),
        payload(payload),
        ack_within_ms(ack_within_ms),
        reply_wanted(reply_wanted) {}
  MessageRef(const StoredMessage& m)  // NOLINT(google-explicit-constructor)
      : MessageRef(m.seq, m.method, m.payload, m.ack_within_ms,
                   m.reply_wanted) {}
  MessageRef() = default;

  uint64_t seq = 0;
  absl::string_view method;
  absl::string_view payload;
  uint32_t ack_within_ms = 0;
  bool reply_wanted = false;
};

// Session state saved with SaveMeta and recovered by Open.
struct StoreMeta {
  // The session id (binary) to present on resume; empty before the first
  // WELCOME.
  std::string session_id;
  // Highest peer seq received in order and processed (reported in HELLO).
  uint64_t peer_received_through = 0;
};

// What a message costs against capacity_bytes: its size as stored
// (method + payload + a dozen bytes of framing), the same for every store.
size_t StoredSize(const MessageRef& message);

// What every store's Append checks of the seq it is about to use, given
// next_seq(): InvalidArgument unless it is at least next_seq and below
// UINT64_MAX (so next_seq never wraps to 0).
absl::Status CheckAppendSeq(uint64_t seq, uint64_t next_seq);

class MessageStore {
 public:
  virtual ~MessageStore() = default;

  // Accepts `message` and returns its seq. With message.seq == 0 the store
  // assigns next_seq() itself, atomically, so concurrent senders get
  // increasing seqs in storage order without a lock of their own (which
  // would defeat group commit); otherwise message.seq must be >=
  // next_seq(). OK means stored: a DurableStore returns only once the
  // record is as durable as its sync policy says.
  virtual absl::StatusOr<uint64_t> Append(const MessageRef& message) = 0;
  // As Append, but only if that needs no waiting on I/O or on other
  // appends (only on the store's lock, held for short copies): else
  // absl::nullopt, and nothing was appended. A caller can then append
  // under a lock of its own without holding it across a write or a sync.
  virtual absl::optional<absl::StatusOr<uint64_t>> AppendNow(
      const MessageRef& message) = 0;
  // The peer has processed every seq <= through (cumulative; a repeated or
  // lower ack is a no-op). through must be < next_seq().
  virtual absl::Status MarkAcked(uint64_t through) = 0;
  // Replaces the saved StoreMeta (durably: always synced).
  virtual absl::Status SaveMeta(const StoreMeta& meta) = 0;

  virtual StoreMeta meta() const = 0;
  // One past the highest seq ever appended (1 for a new store).
  virtual uint64_t next_seq() const = 0;
  // Highest seq acked with MarkAcked (0 if none).
  virtual uint64_t acked_through() const = 0;

  // Calls fn for each pending (appended, unacked) message with
  // seq >= from_seq, in seq order, until fn returns false. Payloads are
  // read one batch at a time (a DurableStore reads them from disk). May
  // run concurrently with Append/MarkAcked; messages acked meanwhile may
  // or may not be visited. fn must not call back into the store.
  virtual absl::Status ForEachPending(
      uint64_t from_seq, absl::FunctionRef<bool(const StoredMessage&)> fn) = 0;

  virtual size_t pending_count() const = 0;
  // Sum of StoredSize over the pending messages; at most capacity_bytes().
  virtual uint64_t pending_bytes() const = 0;
  virtual uint64_t capacity_bytes() const = 0;
};

}  // namespace parley::store

#endif  // PARLEY_RUNTIME_STORE_MESSAGE_STORE_H_
