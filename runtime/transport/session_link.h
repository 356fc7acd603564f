// Binds one sans-I/O session core to the WebSocket connection it currently
// runs on: feeds it received bytes, writes its frames, dispatches its
// deliveries to the hosted services, runs completions and events, and arms
// its deadline timer. It is the parley::Channel that stubs call.
//
//   auto link = std::make_shared<SessionLink>(&loop, &registry, options, cb);
//   link->Attach(connection);     // from WsHandler::OnOpen
//   link->OnBinary(bytes);        // from WsHandler::OnBinary
//   link->Detach(code, reason);   // from WsHandler::OnClose
//
// Thread safety: Call and Finish (through responders) are thread-safe; the
// session core sits behind `mu_`, which a call does not take: it enters
// through the intake (intake_mu_; see there), which Pump hands to the
// session. Attach, OnBinary, Detach and all effects run on the loop thread,
// never under `mu_`.
#ifndef PARLEY_RUNTIME_TRANSPORT_SESSION_LINK_H_
#define PARLEY_RUNTIME_TRANSPORT_SESSION_LINK_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "parley/auth.h"
#include "parley/events.h"
#include "parley/options.h"
#include "parley/rpc.h"
#include "parley/stats.h"
#include "runtime/rpc/registry.h"
#include "runtime/session/session.h"
#include "runtime/store/message_store.h"
#include "runtime/transport/payload_pool.h"
#include "runtime/transport/ws.h"
#include "runtime/util/mutex.h"

namespace parley::transport {

class SessionLink : public Channel,
                    public std::enable_shared_from_this<SessionLink> {
 public:
  // `loop` and `services` must outlive every use of the link until Stop.
  // Frames are written only while the connection holds fewer than
  // `options.flow.max_buffered_bytes` not yet taken by the socket.
  SessionLink(IoLoop* loop, const rpc::ServiceRegistry* services,
              session::SessionOptions options, EventCallback on_event);
  ~SessionLink() override;

  // Before Start, for a client with a durable buffer: calls are refused
  // until UseStore.
  void RequireStore();
  // Before any connection: calls go through `store` (appended before they
  // are accepted; forgotten once acked), and the session continues from
  // it: its id, and its pending calls, queued to be sent again.
  absl::Status UseStore(std::shared_ptr<store::MessageStore> store);

  // Channel.
  absl::Status Call(const MethodInfo& method, std::string payload,
                    const CallOptions& options, RawDoneCallback done) override;
  absl::Status Send(const MethodInfo& method, std::string payload,
                    const CallOptions& options, AckCallback done) override;
  bool OnIoThread() const override;
  std::string PayloadBuffer() override { return payloads_.Take(); }

  // Loop thread, before the first Attach: the identity every handler's
  // CallContext carries (server), and how many delivered calls may be in
  // their handlers at once; above it a call is answered ResourceExhausted
  // without running (default: no limit).
  void set_identity(std::shared_ptr<const PeerIdentity> identity);
  void set_max_pending_requests(size_t max);

  // Loop thread: the session now runs on `connection` (a connection it
  // ran on before is dropped: its peer came back on a new one).
  void Attach(std::shared_ptr<WsConnection> connection);
  // Loop thread: a frame from the current connection.
  void OnBinary(std::string bytes);
  // Loop thread: `connection` ended; ignored unless it is the current one.
  void Detach(const WsConnection* connection, uint16_t code,
              absl::string_view reason);

  // Loop thread: ends the session. GOODBYE is written (if connected),
  // pending calls fail with `status`, later calls are refused, and the link
  // never touches the loop again (so it may outlive it).
  void Stop(const absl::Status& status);

  // True once the handshake completed on the current connection.
  bool open() const;
  // True while a connection is attached.
  bool connected() const;
  // The session's id (the server's, once the handshake told it).
  std::string session_id() const;
  // Loop thread: true once any handshake completed on this link.
  bool ever_opened() const { return ever_opened_; }
  // Loop thread: true after Stop, or once the peer said GOODBYE.
  bool stopped() const;
  // Any thread: the session's counters and the connection's buffered bytes
  // (accepted calls not yet handed to the session count as queued and
  // pending).
  SessionStats stats() const;

 private:
  // Call and Send.
  absl::Status Submit(const MethodInfo& method, std::string payload,
                      const CallOptions& options, session::CallDone done);
  // Queues a call that passed the intake's checks, its shape `shape`
  // (the method's name goes with the first call of a batch and wherever it
  // changes), and posts a Pump if none is posted.
  struct IntakeCall;
  void TakeInLocked(IntakeCall&& call,
                    const std::shared_ptr<const session::MsgShape>& shape)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(intake_mu_);
  void PostPumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(intake_mu_);
  // Hands the intake's calls to the session (one it refuses now fails
  // through its effects), and publishes the session's admission state.
  void DrainIntakeLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A call appended to the durable buffer, not yet handed to the session.
  struct StoredCall {
    std::string payload;
    bool reply_wanted;
    absl::Duration ack_within;
    session::CallDone done;
  };
  // Takes a call appended as record `id`: to the session if it is next in
  // record order (then the calls waiting after it), else to wait. (Both
  // take `call` by rvalue reference, so that it is not moved again at each
  // step.)
  void HandAppendedLocked(uint64_t id, absl::string_view method,
                          StoredCall&& call, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Hands the stored call that is next in record order to the session; a
  // stopped session refuses it (its callback hears CANCELLED).
  void HandStoredLocked(absl::string_view method, StoredCall&& call,
                        absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Tells `store` what is done and which session it belongs to.
  void UpdateStore(store::MessageStore* store, const session::Effects& effects,
                   const std::string& session_id);
  // Runs the session's outputs; posted after every input (coalescing).
  void Pump();
  void ScheduleFlushLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Dispatches `deliveries`; what their handlers finish before returning
  // reaches the session under one hold of mu_, after the last.
  void DispatchAll(std::vector<session::Delivery> deliveries);
  void Dispatch(session::Delivery delivery);
  void Finish(session::DeliveryId id, absl::StatusOr<std::string> result);
  void ArmDeadlineTimer(absl::Time deadline);

  // How often a link above its high-water mark looks whether the socket
  // took its bytes (websocketpp reports no write completions).
  static constexpr absl::Duration kDrainPoll = absl::Milliseconds(1);

  IoLoop* const loop_;
  const rpc::ServiceRegistry* const services_;
  const size_t max_buffered_bytes_;
  const EventCallback on_event_;

  mutable util::Mutex mu_;
  // Acked calls' payloads, for PayloadBuffer (its own lock: not mu_).
  PayloadPool payloads_;

  // The intake: calls are accepted without mu_. A caller checks its call
  // against the session's state as last published plus the intake's calls
  // (so OK and ResourceExhausted mean what Session::Call's do, the send
  // buffer's bounds included; under kReject a window that the copy shows
  // shut refuses, and the session then emits kBackpressureWait and, once
  // there is room, Resume), appends it to the durable buffer if there is
  // one, queues it under intake_mu_ alone, and posts a Pump if none is
  // posted; Pump hands the batch to the session under mu_. The session's
  // state then stays on the loop thread's cache, and a caller never waits
  // while that thread handles an ACK or encodes a frame.
  struct IntakeCall {
    uint64_t id;         // its durable record; 0 = none
    std::string method;  // empty: the previous call's (see TakeInLocked)
    bool reply_wanted;
    std::string payload;
    absl::Duration ack_within;
    session::CallDone done;
    absl::Time now;
  };
  mutable util::Mutex intake_mu_ ABSL_ACQUIRED_AFTER(mu_);
  // The last batch's vector, emptied, for the next swap (DrainIntakeLocked),
  // kept while its capacity is at most kKeptIntakeCalls: with intake_, at
  // most 2 x 1,024 x 152 bytes (about 300 KiB) kept by a link after a
  // burst. (4,096 and 512 measured the same: scripts/bench_ab.sh, 9
  // rounds.)
  static constexpr size_t kKeptIntakeCalls = 1024;
  std::vector<IntakeCall> drained_ ABSL_GUARDED_BY(mu_);
  session::CallAdmission intake_admission_ ABSL_GUARDED_BY(intake_mu_);
  session::AdmissionState published_ ABSL_GUARDED_BY(intake_mu_);
  std::vector<IntakeCall> intake_ ABSL_GUARDED_BY(intake_mu_);
  size_t intake_bytes_ ABSL_GUARDED_BY(intake_mu_) = 0;  // payload bytes
  // The shape of the intake's last call.
  std::shared_ptr<const session::MsgShape> intake_shape_
      ABSL_GUARDED_BY(intake_mu_);
  bool intake_posted_ ABSL_GUARDED_BY(intake_mu_) = false;  // a Pump
  // A call was refused for a window the copy showed shut (kReject).
  bool window_refused_ ABSL_GUARDED_BY(intake_mu_) = false;
  // RequireStore was called; the buffer calls are appended to (null until
  // UseStore, and after Stop).
  bool durable_ ABSL_GUARDED_BY(intake_mu_) = false;
  std::shared_ptr<store::MessageStore> intake_store_
      ABSL_GUARDED_BY(intake_mu_);
  // Durable calls accepted and being appended with intake_mu_ let go, and
  // their payload bytes: they count in the send buffer meanwhile, so that
  // concurrent callers cannot overshoot max_pending_* by one call each.
  size_t appending_calls_ ABSL_GUARDED_BY(intake_mu_) = 0;
  size_t appending_bytes_ ABSL_GUARDED_BY(intake_mu_) = 0;

  session::Session session_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<WsConnection> connection_ ABSL_GUARDED_BY(mu_);
  bool flush_scheduled_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::string peer_ ABSL_GUARDED_BY(mu_);

  // The durable buffer, if any, and the calls appended to it but not yet
  // handed to the session (a caller that appended later may reach the
  // intake first), by record number.
  std::shared_ptr<store::MessageStore> store_ ABSL_GUARDED_BY(mu_);
  // By record id: a call and its method's name.
  std::map<uint64_t, std::pair<std::string, StoredCall>> stored_
      ABSL_GUARDED_BY(mu_);
  size_t stored_bytes_ ABSL_GUARDED_BY(mu_) = 0;   // their payload bytes
  uint64_t next_stored_ ABSL_GUARDED_BY(mu_) = 0;  // next record to hand

  // Handlers running: incremented on the loop thread, decremented by their
  // responders (any thread).
  std::atomic<size_t> pending_requests_{0};

  // What the responders of one epoch's deliveries hold (their context):
  // the link, weakly, and the epoch. Counted: the link holds one
  // reference while it is responder_token_, and each responder one, which
  // it gives up when it completes (exactly once). No allocation per call.
  struct ResponderToken {
    std::atomic<uint64_t> refs{1};
    std::weak_ptr<SessionLink> link;
    uint64_t epoch;
  };
  static void Unref(ResponderToken* token);
  // A responder's RawResponder::CompleteFn.
  static void CompleteDelivery(void* token, uint64_t seq,
                               absl::StatusOr<std::string> result);

  // Loop thread only.
  bool ever_opened_ = false;
  std::shared_ptr<const PeerIdentity> identity_;
  size_t max_pending_requests_ = SIZE_MAX;
  // The method of the last call dispatched, and its entry (null: none).
  std::string dispatched_method_;
  const rpc::ServiceRegistry::Entry* dispatched_entry_ = nullptr;
  ResponderToken* responder_token_ = nullptr;  // the last epoch dispatched
  std::unique_ptr<Timer> deadline_timer_;
  std::unique_ptr<Timer> drain_timer_;  // armed while above the mark
  absl::Time armed_deadline_ = absl::InfiniteFuture();
};

// Forwards one connection's transport callbacks to a SessionLink.
class LinkHandler : public WsHandler {
 public:
  // `on_close(opened, code, reason)` runs after the link saw the close.
  using CloseCallback =
      std::function<void(bool opened, uint16_t code, absl::string_view reason)>;
  LinkHandler(std::shared_ptr<SessionLink> link, CloseCallback on_close)
      : link_(std::move(link)), on_close_(std::move(on_close)) {}

  void OnOpen(std::shared_ptr<WsConnection> connection) override;
  void OnBinary(std::string bytes) override;
  void OnClose(uint16_t code, absl::string_view reason) override;

 private:
  std::shared_ptr<SessionLink> link_;
  CloseCallback on_close_;
  std::shared_ptr<WsConnection> connection_;
  bool opened_ = false;
};

// An event with just a type and a status.
Event MakeEvent(EventType type, absl::Status status = absl::OkStatus());

// The session core's options from the Client's or Server's.
session::SessionOptions MakeSessionOptions(session::Role role,
                                           size_t max_message_bytes,
                                           const FlowOptions& flow,
                                           const LivenessOptions& liveness);

}  // namespace parley::transport

#endif  // PARLEY_RUNTIME_TRANSPORT_SESSION_LINK_H_
