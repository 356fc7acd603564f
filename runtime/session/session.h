// The Parley protocol state machine for one session, sans I/O.
//
// Bytes, transport events, timer ticks and calls go in; frames to write,
// deliveries for handlers, completions for callers, events and close
// requests come out. No sockets, no threads, no clock of its own: every
// input that depends on time carries `now`. Every reliability rule lives
// here once (DESIGN.md "Layers"), so tests can drive it with a fake clock
// and a fake link.
//
//   session::Session s({.role = Role::kClient});
//   s.OnConnected(now);                       // queues HELLO
//   write(s.TakeFrame());
//   s.OnFrame(bytes_from_peer, now);          // WELCOME, MSG, ...
//   session::Effects e = s.TakeEffects();     // deliveries, completions, ...
//   for (auto& d : e.deliveries) s.Finish(d.id, handler(d));
//
// Seqs: MSG and REPLY share one seq space per direction, from 1, never
// reused. A receiver delivers seq N only after N-1 (duplicates are dropped
// and acked again; a gap is a protocol error), and acks cumulatively once
// handlers finish: ACK(through) follows every REPLY it covers on the wire,
// so a message's error REPLY always reaches its sender before the ACK.
//
// Thread safety: thread-compatible. The owner serializes all calls (the
// transport holds a mutex around it) and runs the outputs outside its lock.
#ifndef PARLEY_RUNTIME_SESSION_SESSION_H_
#define PARLEY_RUNTIME_SESSION_SESSION_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "parley/events.h"
#include "parley/rpc.h"
#include "parley/wire.pb.h"

namespace parley::session {

enum class Role { kClient, kServer };

struct SessionOptions {
  Role role = Role::kClient;
  // The id this side starts with: the server's fresh random id, or the
  // client's remembered one (empty = ask for a new session).
  std::string session_id;
  // Bounds on calls accepted and not yet acked by the peer (including
  // those queued while disconnected). Call() refuses above them.
  size_t max_unacked_messages = 1 << 16;
  size_t max_unacked_bytes = 64 << 20;
  // Largest frame TakeFrame() builds; must not exceed the peer's maximum
  // message size. A single call larger than this is refused.
  size_t max_frame_bytes = 1 << 20;
  // TakeFrame stops adding envelopes past this size (a single larger one
  // still goes alone): small frames let a receiver act on the first calls
  // of a backlog, and let a handshake through a link that is cut often.
  size_t coalesce_bytes = 64 << 10;
  // Liveness (see parley/options.h): zero interval = no pings.
  absl::Duration ping_interval = absl::ZeroDuration();
  absl::Duration ping_timeout = absl::Seconds(10);
};

// Names one delivered call, for Finish().
struct DeliveryId {
  uint64_t epoch = 0;
  uint64_t seq = 0;
};

// An incoming MSG that the owner must dispatch, then Finish().
struct Delivery {
  DeliveryId id;
  std::string method;
  std::string payload;
  bool reply_wanted = false;
};

// The outcome of a call this side made, for its callback.
struct Completion {
  RawDoneCallback done;
  absl::StatusOr<std::string> result;
};

// The session wants the connection closed with this RFC 6455 code.
struct CloseRequest {
  uint16_t code;
  std::string reason;
  // Drop the socket without a close handshake (the peer is unresponsive).
  bool abort = false;
};

struct Effects {
  std::vector<Delivery> deliveries;
  std::vector<Completion> completions;
  std::vector<Event> events;
  absl::optional<CloseRequest> close;
};

struct SessionStats {
  uint64_t next_seq = 1;            // the next outgoing seq
  uint64_t peer_acked_through = 0;  // outgoing, processed by the peer
  uint64_t received_through = 0;    // incoming, delivered in order
  uint64_t processed_through = 0;   // incoming, handlers finished
  size_t unacked_messages = 0;      // outgoing MSG/REPLY kept to resend
  size_t unacked_bytes = 0;
  size_t pending_calls = 0;     // calls awaiting their outcome
  size_t handlers_running = 0;  // deliveries not yet finished
};

class Session {
 public:
  explicit Session(SessionOptions options);
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // --- The connection.
  // A connection is open: the client queues HELLO, the server awaits it.
  void OnConnected(absl::Time now);
  // One binary message from the peer. Bad input never aborts: it yields
  // ERROR envelopes, kError events and, if fatal, a CloseRequest.
  void OnFrame(absl::string_view bytes, absl::Time now);
  // The connection is gone. Nothing is dropped: unacked calls stay queued
  // and pending callbacks stay pending.
  void OnDisconnected(const absl::Status& reason);

  // --- Time.
  // Fails calls whose ack deadline is <= now with DeadlineExceeded; sends a
  // PING when the peer has been silent for ping_interval; asks for the
  // connection to be dropped (CloseRequest.abort, kClosePeerUnresponsive)
  // when a PING went unanswered for ping_timeout.
  void Tick(absl::Time now);
  // When Tick next has something to do, or absl::InfiniteFuture().
  absl::Time NextDeadline() const;

  // --- The application.
  // Accepts one call (sent now if open, else when the next connection
  // opens) and returns its seq. `ack_within` of zero means no deadline.
  // `done` (may be empty) later gets exactly one Completion. Refuses with
  // FailedPrecondition once stopped, ResourceExhausted above the unacked
  // bounds, InvalidArgument for a malformed method or an oversize payload.
  absl::StatusOr<uint64_t> Call(absl::string_view method, std::string payload,
                                bool reply_wanted, absl::Duration ack_within,
                                RawDoneCallback done, absl::Time now);
  // A delivered call's handler finished. Ignored for a delivery of an
  // earlier session (after a NewSession) or one already finished.
  void Finish(DeliveryId id, absl::StatusOr<std::string> result);
  // Ends the session for good: queues GOODBYE, fails every pending call
  // with `status` (Cancelled for a local stop), refuses further calls.
  void Stop(const absl::Status& status);

  // --- Outputs.
  Effects TakeEffects();
  // True when TakeFrame() would return bytes.
  bool HasFrame() const;
  // The next frame to write (at most max_frame_bytes unless one envelope
  // alone is larger); empty when there is nothing to send.
  std::string TakeFrame();

  // --- State.
  bool open() const { return state_ == State::kOpen; }
  bool stopped() const { return stopped_; }
  const std::string& session_id() const { return session_id_; }
  SessionStats stats() const;

 private:
  enum class State { kDisconnected, kAwaitingHello, kAwaitingWelcome, kOpen };

  // An outgoing MSG or REPLY, kept until the peer acks it.
  struct Outgoing {
    uint64_t seq;
    wire::Envelope envelope;
    size_t bytes;
    bool answered = false;  // a MSG whose REPLY arrived
  };
  // A call awaiting its outcome.
  struct Pending {
    std::string method;
    bool reply_wanted;
    absl::Time deadline;  // InfiniteFuture = none
    RawDoneCallback done;
  };

  void HandleEnvelope(const wire::Envelope& envelope);
  void HandleHello(const wire::Hello& hello);
  void HandleWelcome(const wire::Welcome& welcome);
  // Sequencing shared by MSG and REPLY; false = drop the envelope.
  bool AcceptIncomingSeq(uint64_t seq);
  void HandleMsg(const wire::Msg& msg);
  void HandleReply(const wire::Reply& reply);
  void HandleAck(const wire::Ack& ack);
  void HandleGoodbye(const wire::Goodbye& goodbye);

  void TickLiveness(absl::Time now);
  // The highest incoming seq an ACK may cover now, and whether one is due.
  uint64_t SafeAckThrough() const;
  bool AckDue() const;
  void Open(bool resumed, uint64_t peer_received_through);
  void StartNewSession();
  void MarkProcessed(uint64_t seq);
  uint64_t Enqueue(wire::Envelope envelope);
  void Complete(uint64_t seq, absl::StatusOr<std::string> result);
  void FailAllPending(const absl::Status& status);
  void ProtocolError(absl::Status status, uint16_t close_code);
  void Emit(EventType type, absl::Status status = absl::OkStatus(),
            uint64_t seq = 0);

  SessionOptions options_;
  State state_ = State::kDisconnected;
  bool stopped_ = false;
  // A fatal protocol error was found; input is ignored until disconnect.
  bool closing_ = false;
  std::string session_id_;

  // Outgoing direction.
  uint64_t next_seq_ = 1;
  uint64_t peer_acked_through_ = 0;
  std::deque<Outgoing> unacked_;  // ascending seq
  size_t unacked_bytes_ = 0;
  uint64_t next_to_send_ = 1;  // first unacked_ seq not yet written
  absl::flat_hash_map<uint64_t, Pending> pending_;
  std::set<std::pair<absl::Time, uint64_t>> deadlines_;

  // Incoming direction.
  uint64_t epoch_ = 1;  // bumped when a new session replaces the old one
  uint64_t received_through_ = 0;
  uint64_t processed_through_ = 0;
  uint64_t ack_sent_through_ = 0;  // last ACK on the current connection
  bool ack_repeat_ = false;        // a duplicate arrived: ack it again
  // in_reply_to of every REPLY not yet written on the current connection:
  // an ACK must not cover a call whose REPLY has not gone out before it.
  std::multiset<uint64_t> unsent_reply_targets_;
  absl::flat_hash_map<uint64_t, bool> running_;  // seq -> reply_wanted
  std::set<uint64_t> finished_ahead_;            // finished above the mark

  // Liveness, while connected.
  absl::Time last_heard_ = absl::InfinitePast();
  absl::Time ping_sent_ = absl::InfiniteFuture();  // the unanswered PING
  uint64_t next_ping_nonce_ = 1;

  // HELLO, WELCOME, ERROR, GOODBYE, PING, PONG: not sequenced.
  std::vector<wire::Envelope> control_;
  Effects effects_;
};

}  // namespace parley::session

#endif  // PARLEY_RUNTIME_SESSION_SESSION_H_
