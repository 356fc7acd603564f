// parley/options.h — settings shared by Client and Server.
//
//   parley::ClientOptions options;
//   options.liveness.ping_interval = absl::Seconds(5);
//   options.reconnect.max_delay = absl::Seconds(30);
//
// Plain structs; copy them freely.
#ifndef PARLEY_OPTIONS_H_
#define PARLEY_OPTIONS_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace parley {

// Ping-checked liveness. Each side sends a PING when it has heard nothing
// from its peer for `ping_interval`; any frame from the peer counts as
// hearing from it. A peer that stays silent for `ping_timeout` after a PING
// is declared dead and its connection dropped: a dead peer is noticed within
// ping_interval + ping_timeout. Defaults sit between Socket.IO's (25 s +
// 20 s) and SignalR's (15 s keep-alive, 30 s timeout); gRPC's keepalive is
// off by default on clients.
struct LivenessOptions {
  absl::Duration ping_interval = absl::Seconds(15);  // zero = no pings
  absl::Duration ping_timeout = absl::Seconds(10);
};

// How the client re-dials after losing its connection: attempt n (from 1)
// waits min(max_delay, initial_delay * multiplier^(n-1)), scaled by a
// random factor in [1 - jitter, 1 + jitter]. The schedule starts over
// after a successful handshake.
struct ReconnectOptions {
  absl::Duration initial_delay = absl::Milliseconds(100);
  absl::Duration max_delay = absl::Seconds(10);
  double multiplier = 2.0;
  double jitter = 0.2;   // in [0, 1]
  int max_attempts = 0;  // 0 = forever; after the last, the client stops
};

// What a call does while the peer's window is shut.
enum class BackpressurePolicy {
  // Accept it into the bounded send queue, in order; it takes its place in
  // the window when credit arrives. ResourceExhausted only when the send
  // buffer (max_pending_*) is full.
  kQueue,
  // Refuse it with ResourceExhausted; the caller keeps the message and
  // retries after kBackpressureResume. Calls made before the first
  // handshake (window not yet known) still queue.
  kReject,
};

// Counted backpressure (docs/PROTOCOL.md "Credit"). Each side advertises a
// receive window; the peer keeps at most that many of its calls (and
// payload bytes) unacked, and the ACK, sent only once handlers finished, is
// the credit. A slow handler therefore slows its caller instead of growing
// a queue, and every queue below has a bound.
struct FlowOptions {
  // This side's receive window: the peer's calls delivered to handlers, or
  // in flight, and not yet acked. A single call larger than
  // receive_window_bytes still goes, alone. A peer that overruns the window
  // is cut off with close 1008.
  uint32_t receive_window = 1024;
  uint64_t receive_window_bytes = 16 << 20;
  BackpressurePolicy policy = BackpressurePolicy::kQueue;
  // The send buffer: this side's calls accepted and not yet acked, in the
  // peer's window or queued for it (also while disconnected). Above either
  // bound a call returns ResourceExhausted and is not accepted.
  size_t max_pending_messages = 1 << 16;
  size_t max_pending_bytes = 64 << 20;
  // Per connection: frames are written to the socket only while fewer than
  // this many bytes wait in it (websocketpp's own queue is unbounded); the
  // rest stays in the session, re-encoded when the socket drains.
  size_t max_buffered_bytes = 1 << 20;
};

// When an accepted call is on disk (what OK from a send promises).
enum class SyncPolicy {
  // fdatasync before the send returns; concurrent sends share one sync
  // (group commit). Survives a crash of the machine.
  kEveryWrite,
  // Written to the OS before the send returns, synced every
  // sync_interval: survives a crash of the process; a machine crash loses
  // at most the last interval.
  kInterval,
  // Written to the OS only: survives a crash of the process.
  kNever,
};

// The client's durable buffer (docs/LOG_FORMAT.md): every call is written
// to a log in `dir` before the send returns OK, and forgotten once the
// server has processed it. A client restarted on the same directory resumes
// its session and sends again exactly what the server has not received;
// the server drops what it has (by MSG.id), so each call is processed once.
// Calls still pending at Stop stay in the buffer for the next Start (their
// callbacks get CANCELLED). One process at a time may open a directory.
struct DurableBufferOptions {
  std::string dir;  // empty = no durable buffer (calls kept in memory)
  SyncPolicy sync = SyncPolicy::kEveryWrite;
  absl::Duration sync_interval = absl::Milliseconds(100);  // kInterval
  // Bytes of calls kept (method + payload + ~12); a send above it returns
  // RESOURCE_EXHAUSTED until acks free space.
  uint64_t capacity_bytes = uint64_t{64} << 20;
};

}  // namespace parley

#endif  // PARLEY_OPTIONS_H_
