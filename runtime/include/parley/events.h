// parley/events.h — what the application sees of a session besides its
// typed messages.
//
//   parley::ClientOptions options;
//   options.on_event = [](const parley::Event& e) {
//     std::cout << parley::EventTypeName(e.type) << " " << e.status << "\n";
//   };
//
// Events are delivered on the I/O thread of the Client or Server, in the
// order they happen; handlers must not block. docs/EVENTS.md says when each
// fires.
#ifndef PARLEY_EVENTS_H_
#define PARLEY_EVENTS_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace parley {

enum class EventType {
  // A connection is open and its handshake done (fires before kResumed or
  // kNewSession).
  kConnected,
  // The connection ended; `status` says why.
  kDisconnected,
  // The client will re-dial attempt `attempt` after `delay`.
  kReconnecting,
  // The handshake resumed the previous session: nothing was lost.
  kResumed,
  // The handshake started a new session (`session_id`).
  kNewSession,
  // A message with no completion callback failed (`seq`, `status`): its
  // deadline passed or the peer's handler failed.
  kAckFailed,
  // Sends would exceed the peer's window (backpressure).
  kBackpressureWait,
  // The window opened again.
  kBackpressureResume,
  // The peer reported, or this side detected, a protocol error (`status`).
  kError,
  // The Client or Server stopped; no event follows.
  kStopped,
};

absl::string_view EventTypeName(EventType type);

struct Event {
  EventType type;
  absl::Status status;
  // kAckFailed: the failed call's seq.
  uint64_t seq = 0;
  // kReconnecting: attempt number (from 1) and the delay before it.
  int attempt = 0;
  absl::Duration delay;
  // Hex session id, where known.
  std::string session_id;
  // The peer's address ("127.0.0.1:54321"), where known.
  std::string peer;
};

using EventCallback = std::function<void(const Event&)>;

}  // namespace parley

#endif  // PARLEY_EVENTS_H_
