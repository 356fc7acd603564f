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
// Credit: each side advertises a receive window in HELLO/WELCOME (messages
// and payload bytes, and its largest frame). A sender keeps at most that many
// of its MSGs above the peer's ACK; the cumulative ACK, sent only once
// handlers finish, is the credit, so the counts derive from seqs and cannot
// drift across lost frames, reconnects or resumes. Calls beyond the window
// wait in a bounded queue without a seq (REPLYs are never held back, so a
// shut window cannot deadlock request chains), or are refused under
// BackpressurePolicy::kReject. A peer that overruns this side's window is
// cut off with close 1008.
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
#include <memory>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "parley/events.h"
#include "parley/options.h"
#include "parley/rpc.h"
#include "parley/stats.h"
#include "parley/wire.pb.h"
#include "runtime/session/call_table.h"
#include "runtime/wire/codec.h"

namespace parley::session {

enum class Role { kClient, kServer };

struct SessionOptions {
  Role role = Role::kClient;
  // The id this side starts with: the server's fresh random id, or the
  // client's remembered one (empty = ask for a new session).
  std::string session_id;
  // Receive window, send buffer bounds and policy (see parley/options.h;
  // max_buffered_bytes is the transport's).
  FlowOptions flow;
  // Largest frame this side accepts (advertised in the handshake) and
  // builds; TakeFrame also keeps to the peer's advertised maximum. A call
  // larger than either is refused (or failed, if queued before the peer's
  // maximum was known).
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
  // Views into `bytes`: mostly the frame the MSG came in, shared by every
  // delivery from it (a payload is not copied out of its frame).
  absl::string_view method;
  absl::string_view payload;
  bool reply_wanted = false;
  std::shared_ptr<const std::string> bytes;
};

// What a call runs when it completes: a request's callback, which takes
// the raw reply, or a message's, which takes only the ack outcome (kept as
// it is rather than wrapped in a RawDoneCallback). Either may be empty.
class CallDone {
 public:
  CallDone() = default;
  CallDone(std::nullptr_t) {}  // NOLINT: as std::function's
  CallDone(RawDoneCallback done) : done_(std::move(done)) {}  // NOLINT
  CallDone(AckCallback done) : done_(std::move(done)) {}      // NOLINT
  // Any other callable taking the raw reply.
  template <typename F,
            typename = std::enable_if_t<
                !std::is_same_v<std::decay_t<F>, CallDone> &&
                std::is_invocable_v<F&, absl::StatusOr<std::string>>>>
  CallDone(F done)  // NOLINT
      : done_(std::in_place_index<0>, std::move(done)) {}

  explicit operator bool() const {
    return done_.index() == 0 ? std::get<0>(done_) != nullptr
                              : std::get<1>(done_) != nullptr;
  }
  // Runs the callback (not empty) with a call's outcome: a message's is
  // an empty reply or the failure.
  void operator()(absl::StatusOr<std::string> result) {
    if (done_.index() == 0) return std::get<0>(done_)(std::move(result));
    std::get<1>(done_)(std::move(result).status());
  }

 private:
  std::variant<RawDoneCallback, AckCallback> done_;
};

// The outcome of a call this side made, for its callback.
struct Completion {
  CallDone done;
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
  // Every call with an id <= this is done for good (acked, or dropped
  // unsent after its deadline): a durable buffer may forget them. 0 = no
  // change.
  uint64_t calls_done_through = 0;
  // The payloads of calls the peer acked, for the taker to recycle or free
  // (outside the lock it drives the session under).
  std::vector<std::string> released;
};

// The highest n such that every id 1..n is marked, for marks that arrive
// out of order.
class Watermark {
 public:
  explicit Watermark(uint64_t through = 0) : through_(through) {}
  // Marks `id`; true when the watermark moved.
  bool Mark(uint64_t id);
  uint64_t through() const { return through_; }

 private:
  uint64_t through_;
  std::set<uint64_t> ahead_;  // marked above the watermark
};

// The ack deadlines of pending calls, by (when, call id). Calls made with
// one ack_within come in deadline order, so most go to a FIFO whose front
// is the earliest (in and out in O(1)); a deadline earlier than the FIFO's
// last goes to a B-tree. A removed FIFO entry is marked, and dropped once
// it reaches the front, or when marked entries outnumber the others.
class DeadlineQueue {
 public:
  void Add(absl::Time when, uint64_t call);
  // `call` completed: its deadline, added before, no longer counts.
  void Remove(absl::Time when, uint64_t call);
  bool empty() const { return fifo_.empty() && tree_.empty(); }
  // Entries held, removed ones not yet dropped included (for tests).
  size_t stored() const { return fifo_.size() + tree_.size(); }
  // The earliest deadline (not empty()), and its call.
  std::pair<absl::Time, uint64_t> Earliest() const;

 private:
  struct Entry {
    absl::Time when;
    uint64_t call;
    bool removed = false;
  };
  void DropRemovedFront();

  std::deque<Entry> fifo_;  // ascending (when, call); front not removed
  size_t removed_ = 0;      // marked entries in fifo_
  absl::btree_set<std::pair<absl::Time, uint64_t>> tree_;
};

// What a MSG shares with the calls like it: its method, and its options
// as the wire states them.
struct MsgShape {
  std::string method;
  bool reply_wanted;
  uint32_t ack_within_ms;
};

// The session's state that a call's admission depends on
// (Session::admission_state()).
struct AdmissionState {
  bool stopped = false;
  size_t frame_limit = 0;  // the largest frame both sides accept
  // The send buffer: calls accepted and not yet acked, and their payload
  // bytes.
  size_t messages = 0;
  size_t bytes = 0;
  // For kReject: the peer's window (0 before the first handshake, when
  // calls queue), the calls in it and their payload bytes, and the calls
  // queued for it.
  uint64_t peer_window = 0;
  uint64_t peer_window_bytes = 0;
  size_t window_messages = 0;
  size_t window_bytes = 0;
  size_t queued = 0;

  // Counts `calls` more, of `payload_bytes`, not yet in the session (an
  // intake's): in the window if none are queued (else they queue too).
  void Add(size_t calls, size_t payload_bytes);
};

// Whether one more call of `payload_bytes` fits a window of `window` calls
// (0: none known) and `window_bytes`, holding `messages` calls of `bytes`.
// A call larger than the byte window still goes, alone.
inline bool WindowFits(uint64_t window, uint64_t window_bytes, size_t messages,
                       size_t bytes, size_t payload_bytes) {
  return window != 0 && messages < window &&
         (messages == 0 || bytes + payload_bytes <= window_bytes);
}

// Session::CheckCall's checks, against an AdmissionState: usable away from
// the session, on a copy of its state (SessionLink's intake), where a
// refusal for a shut window goes to Session::NoteShutWindow. Calls mostly
// repeat a few shapes: the last one's checked name and size are reused
// rather than validated and sized again.
class CallAdmission {
 public:
  CallAdmission(size_t max_frame_bytes, const FlowOptions& flow);

  // FailedPrecondition once stopped; InvalidArgument for a malformed method
  // name or a call above the frame limit; ResourceExhausted when the send
  // buffer is full, or (kReject) the peer's window is shut, which sets
  // `*window_shut`. On OK, shape() is the call's.
  absl::Status Check(absl::string_view method, size_t payload_bytes,
                     bool reply_wanted, absl::Duration ack_within,
                     const AdmissionState& state, bool* window_shut);
  // Makes a call's shape current unchecked (a stored call, checked when it
  // was made).
  void Adopt(absl::string_view method, bool reply_wanted,
             absl::Duration ack_within);
  // The last call's shape (null before the first).
  const std::shared_ptr<const MsgShape>& shape() const { return shape_; }

 private:
  bool Same(absl::string_view method, bool reply_wanted,
            absl::Duration ack_within) const;

  size_t max_frame_bytes_;
  FlowOptions flow_;
  std::shared_ptr<const MsgShape> shape_;
  absl::Duration ack_within_;  // shape_'s, as given
  // An empty-payload MSG of shape_ frames to at most this many bytes.
  size_t framed_bytes_ = 0;
};

class Session {
 public:
  explicit Session(SessionOptions options);
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Before any connection or call: continue from a durable buffer. The
  // client knows the session id and its stored calls (ids from
  // first_call_id, handed to CallStored next), but not the seqs of either
  // stream, which it takes from the resuming WELCOME.
  void Restore(std::string session_id, uint64_t first_call_id);

  // --- The connection.
  // A connection is open: the client queues HELLO, the server awaits it.
  void OnConnected(absl::Time now);
  // One binary message from the peer. Bad input never aborts: it yields
  // ERROR envelopes, kError events and, if fatal, a CloseRequest.
  // Deliveries keep `frame` alive and view into it.
  void OnFrame(std::shared_ptr<const std::string> frame, absl::Time now);
  // The same with a copy of `bytes`.
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
  // Accepts one call: it takes the next seq if the peer's window has room
  // (and is sent now if open, else when the next connection opens), or
  // waits in the send queue for credit. `ack_within` of zero means no
  // deadline; it runs from now, queued or not. `done` (may be empty) later
  // gets exactly one Completion. Refuses with FailedPrecondition once
  // stopped; ResourceExhausted when the send buffer is full, or the window
  // is shut under BackpressurePolicy::kReject (the caller keeps the call);
  // InvalidArgument for a malformed method or an oversize payload.
  absl::Status Call(absl::string_view method, std::string payload,
                    bool reply_wanted, absl::Duration ack_within, CallDone done,
                    absl::Time now);
  // A durable sender's two steps: CheckCall refuses what Call would
  // (without taking the call); then, once the call is stored as record
  // `id`, CallStored takes it unconditionally (short of a stopped session),
  // as the store already accepted it. Ids must be handed in increasing
  // order (from Restore's first_call_id).
  absl::Status CheckCall(absl::string_view method, size_t payload_bytes,
                         bool reply_wanted, absl::Duration ack_within);
  // CheckCall for a call that an intake already accepted, against an
  // earlier copy of this state (and counted in the send buffer there): it
  // is refused only once stopped, or above a frame limit learned since
  // (as a queued call above it is), never for the window, which it waits
  // for even under kReject.
  absl::Status CheckAccepted(absl::string_view method, size_t payload_bytes,
                             bool reply_wanted, absl::Duration ack_within);
  // Call's second step: takes the call that CheckCall (or CheckAccepted)
  // passed last, with nothing else in between.
  void TakeChecked(std::string payload, absl::Duration ack_within,
                   CallDone done, absl::Time now);
  // A call that was never taken fails: `done` (may be empty: then a
  // kAckFailed event) gets `status` like a taken call's outcome.
  void Refuse(CallDone done, absl::Status status);
  // A call was refused for the shut window (kReject), here or on a copy of
  // the state: kBackpressureWait unless emitted already, then
  // kBackpressureResume once the window has room (at once if it has now:
  // the copy may have been older).
  void NoteShutWindow();
  absl::Status CallStored(uint64_t id, absl::string_view method,
                          std::string payload, bool reply_wanted,
                          absl::Duration ack_within, CallDone done,
                          absl::Time now);
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
  // buffered_bytes is the transport's to fill in.
  SessionStats stats() const;
  // What CheckCall checks a call against (but for kReject's shut window).
  AdmissionState admission_state() const;

 private:
  enum class State { kDisconnected, kAwaitingHello, kAwaitingWelcome, kOpen };

  // An outgoing MSG or REPLY, kept until the peer acks it; or a MSG
  // waiting for credit (seq 0). Its fields, not an Envelope: frames are
  // encoded from them (wire::MsgFields, wire::ReplyFields).
  struct Outgoing {
    uint64_t seq = 0;
    uint64_t call = 0;  // a MSG's call id (key of pending_); 0 for a REPLY
    std::shared_ptr<const MsgShape> shape;  // a MSG's; null for a REPLY
    // MSG: the request. REPLY: the response, or (code != 0) the error
    // message.
    std::string payload;
    uint64_t in_reply_to = 0;  // a REPLY's
    int32_t code = 0;          // a REPLY's
    size_t bytes = 0;          // the encoded size, once it has a seq
    bool answered = false;     // a MSG whose REPLY arrived
    // Sent in an earlier session: it goes again even if its deadline passed
    // (the peer may have run it; the caller got DeadlineExceeded).
    bool sent_before = false;

    bool is_msg() const { return shape != nullptr; }
    size_t payload_bytes() const { return is_msg() ? payload.size() : 0; }
    wire::MsgFields msg_fields() const;      // a MSG
    wire::ReplyFields reply_fields() const;  // a REPLY
    // Its size in a frame, and its bytes appended to one.
    size_t FramedSize() const;
    void AppendTo(std::string* frame) const;
  };
  // A call awaiting its outcome, by call id.
  struct Pending {
    std::shared_ptr<const MsgShape> shape;
    absl::Time deadline;  // InfiniteFuture = none
    CallDone done;
    uint64_t seq = 0;  // 0 while it waits for credit
  };

  void HandleEnvelope(wire::Envelope& envelope);
  // Validates a MSG, then HandleMsg. `owner` holds the bytes `msg` views
  // (null: they die with OnFrame, and the Delivery takes a copy).
  void HandleMsgEnvelope(const wire::MsgFields& msg,
                         const std::shared_ptr<const std::string>& owner);
  void HandleHello(const wire::Hello& hello);
  void HandleWelcome(const wire::Welcome& welcome);
  // Sequencing shared by MSG and REPLY; false = drop the envelope.
  bool AcceptIncomingSeq(uint64_t seq);
  void HandleMsg(const wire::MsgFields& msg,
                 const std::shared_ptr<const std::string>& owner);
  void HandleReply(const wire::Reply& reply);
  void HandleAck(const wire::Ack& ack);
  void HandleGoodbye(const wire::Goodbye& goodbye);
  // Takes a call that passed CheckCall: queues it and admits what fits.
  // (payload and done by rvalue reference: Call and CallStored move them
  // on, saving a move of each per call.)
  void Accept(uint64_t id, std::shared_ptr<const MsgShape> shape,
              std::string&& payload, absl::Duration ack_within, CallDone&& done,
              absl::Time now);
  // Call `id` is done for good (see Effects::calls_done_through).
  void MarkCallDone(uint64_t id);

  void TickLiveness(absl::Time now);
  // The highest incoming seq an ACK may cover now, and whether one is due.
  uint64_t SafeAckThrough() const;
  bool AckDue() const;
  // Takes the peer's handshake limits, then opens the connection.
  template <typename Handshake>
  void OpenWith(const Handshake& handshake, bool resumed,
                uint64_t peer_received_through);
  void Open(bool resumed, uint64_t peer_received_through);
  // The largest frame both sides accept.
  size_t FrameLimit() const;
  // Whether one more MSG of `payload_bytes` fits in the peer's window.
  bool WindowHasRoom(size_t payload_bytes) const;
  // Gives queued calls seqs while the window has room; then ResumeIfRoom.
  void AdmitQueued();
  // Emits kBackpressureResume if backpressured and the queue is empty and
  // the window has room.
  void ResumeIfRoom();
  bool IncomingWindowAllows(const wire::MsgFields& msg) const;
  void StartNewSession();
  void MarkProcessed(uint64_t seq);
  // Gives `out` the next seq (not taken yet) and sets its size, returned.
  size_t Number(Outgoing& out) const;
  // Takes the seq Number() gave `out` and keeps `out` until acked.
  void Enqueue(Outgoing out);
  // `expected`: how many completions at most come in this batch, this one
  // included (an ACK's range), so that their vector grows once.
  void Complete(uint64_t call, absl::StatusOr<std::string> result,
                size_t expected = 1);
  // A call's outcome to its callback, or (none) a failure to a kAckFailed
  // event.
  void Conclude(CallDone done, absl::StatusOr<std::string> result, uint64_t seq,
                size_t expected);
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
  uint64_t next_call_ = 1;
  // The last call's shape, shared by the calls like it.
  CallAdmission admission_;
  uint64_t peer_acked_through_ = 0;
  std::deque<Outgoing> unacked_;  // ascending seq
  size_t unacked_bytes_ = 0;
  uint64_t next_to_send_ = 1;  // first unacked_ seq not yet written
  // The MSGs of unacked_ (the peer's window holds them) and their payloads.
  size_t window_messages_ = 0;
  size_t window_bytes_ = 0;
  // Calls waiting for credit, in call order, and their payload bytes. One
  // whose deadline passed stays until it reaches the front (its Pending is
  // gone).
  std::deque<Outgoing> queued_;
  size_t queued_bytes_ = 0;
  // The peer's handshake limits; a zero window = no handshake yet.
  uint64_t peer_window_ = 0;
  uint64_t peer_window_bytes_ = 0;
  size_t peer_max_frame_bytes_ = 0;
  bool backpressured_ = false;  // kBackpressureWait sent, Resume not yet
  bool restored_ = false;       // see Restore()
  Watermark calls_done_;        // calls done for good, by id
  CallTable<Pending> pending_;
  DeadlineQueue deadlines_;

  // Incoming direction.
  // The last method name a received MSG had that passed validation.
  std::string valid_method_;
  uint64_t epoch_ = 1;  // bumped when a new session replaces the old one
  uint64_t received_through_ = 0;
  Watermark processed_;            // incoming seqs whose handlers finished
  uint64_t ack_sent_through_ = 0;  // last ACK on the current connection
  uint64_t last_msg_id_ = 0;       // highest MSG.id received in order
  bool ack_repeat_ = false;        // a duplicate arrived: ack it again
  // in_reply_to of every REPLY not yet written on the current connection:
  // an ACK must not cover a call whose REPLY has not gone out before it.
  absl::btree_multiset<uint64_t> unsent_reply_targets_;
  // Delivered MSGs, ascending seq, from the oldest still in its handler:
  // handlers mostly finish in order, so a finished call mostly leaves from
  // the front. At most the receive window's worth (those are unprocessed).
  struct Running {
    uint64_t seq;
    bool reply_wanted;
    bool finished = false;
  };
  std::deque<Running> running_;
  size_t handlers_running_ = 0;  // running_ entries not finished
  // Incoming MSGs above processed_through_: (seq, payload bytes). They fill
  // this side's receive window until processed.
  std::deque<std::pair<uint64_t, size_t>> unprocessed_;
  size_t unprocessed_bytes_ = 0;

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
