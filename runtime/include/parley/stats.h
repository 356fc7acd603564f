// parley/stats.h — a cheap snapshot of one session's counters, so an
// application (or a test) can see its flow state without parsing logs.
//
//   parley::SessionStats s = client.stats();
//   if (s.backpressured) { ... the server is slow: s.queued_messages wait }
//
// Plain struct; a snapshot taken under the session's lock.
#ifndef PARLEY_STATS_H_
#define PARLEY_STATS_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace parley {

struct SessionStats {
  std::string session_id;  // hex; empty before the first handshake
  bool open = false;       // a connection is up and its handshake done

  // Outgoing: this side's calls and replies.
  uint64_t next_seq = 1;            // the seq the next MSG/REPLY takes
  uint64_t peer_acked_through = 0;  // the peer's ACK: processed, credited
  // Calls that hold a seq and wait for their ACK: inside the peer's window.
  size_t outstanding_messages = 0;
  size_t outstanding_bytes = 0;  // their payload bytes
  // Calls accepted beyond the window, waiting for credit (no seq yet).
  size_t queued_messages = 0;
  size_t queued_bytes = 0;
  // The window the peer advertised (0 before the first handshake).
  uint64_t peer_window = 0;
  uint64_t peer_window_bytes = 0;
  // kBackpressureWait was emitted and kBackpressureResume not yet.
  bool backpressured = false;
  // MSGs and REPLYs kept for retransmission until acked, encoded bytes.
  size_t unacked_envelopes = 0;
  size_t unacked_bytes = 0;
  size_t pending_calls = 0;  // calls whose callback has not run yet

  // Incoming: the peer's calls to this side.
  uint64_t received_through = 0;   // delivered in order
  uint64_t processed_through = 0;  // handlers finished
  size_t handlers_running = 0;
  // The peer's calls inside this side's receive window (received, not yet
  // processed in order), against the window this side advertised.
  size_t unprocessed_messages = 0;
  size_t unprocessed_bytes = 0;
  uint64_t receive_window = 0;
  uint64_t receive_window_bytes = 0;

  // Transport: bytes handed to the socket and not yet written by it.
  size_t buffered_bytes = 0;
};

}  // namespace parley

#endif  // PARLEY_STATS_H_
