#include "runtime/transport/session_link.h"

#include <algorithm>
#include <cassert>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/wire/close_codes.h"
#include "runtime/wire/codec.h"

namespace parley::transport {
namespace {

// The calls a DispatchAll on this thread has seen finished by their
// handlers, not yet handed to its link's session.
struct FinishedCalls {
  const SessionLink* link;
  std::vector<std::pair<session::DeliveryId, absl::StatusOr<std::string>>>
      results;
};
thread_local FinishedCalls* dispatching = nullptr;

// The outcome of a durable call that a stopped session did not take.
absl::Status StoredForNextStart() {
  return absl::CancelledError(
      "session stopped; the call stays in the durable buffer for the next "
      "Start");
}

}  // namespace

SessionLink::SessionLink(IoLoop* loop, const rpc::ServiceRegistry* services,
                         session::SessionOptions options,
                         EventCallback on_event)
    : loop_(loop),
      services_(services),
      max_buffered_bytes_(options.flow.max_buffered_bytes),
      on_event_(std::move(on_event)),
      intake_admission_(options.max_frame_bytes, options.flow),
      session_(std::move(options)) {
  util::MutexLock lock(&intake_mu_);
  published_ = session_.admission_state();
}

SessionLink::~SessionLink() {
  if (responder_token_ != nullptr) Unref(responder_token_);
}

void SessionLink::RequireStore() {
  util::MutexLock lock(&intake_mu_);
  durable_ = true;
}

absl::Status SessionLink::UseStore(std::shared_ptr<store::MessageStore> store) {
  util::MutexLock lock(&mu_);
  store::StoreMeta meta = store->meta();
  const uint64_t first = store->acked_through() + 1;
  session_.Restore(meta.session_id, first);
  absl::Time now = absl::Now();
  absl::Status handed;
  absl::Status read =
      store->ForEachPending(first, [&](const store::StoredMessage& m) {
        handed = session_.CallStored(m.seq, m.method, m.payload, m.reply_wanted,
                                     absl::Milliseconds(m.ack_within_ms),
                                     nullptr, now);
        return handed.ok();
      });
  if (!read.ok()) return read;
  if (!handed.ok()) return handed;
  next_stored_ = store->next_seq();
  store_ = store;
  {
    util::MutexLock intake_lock(&intake_mu_);
    durable_ = true;
    intake_store_ = std::move(store);
    published_ = session_.admission_state();  // the restored calls count
  }
  ScheduleFlushLocked();
  return absl::OkStatus();
}

absl::Status SessionLink::Call(const MethodInfo& method, std::string payload,
                               const CallOptions& options,
                               RawDoneCallback done) {
  return Submit(method, std::move(payload), options, std::move(done));
}

absl::Status SessionLink::Send(const MethodInfo& method, std::string payload,
                               const CallOptions& options, AckCallback done) {
  return Submit(method, std::move(payload), options, std::move(done));
}

absl::Status SessionLink::Submit(const MethodInfo& method, std::string payload,
                                 const CallOptions& options,
                                 session::CallDone done) {
  const absl::Duration ack_within =
      options.ack_within.value_or(method.default_ack_within);
  const bool reply_wanted = method.kind == MethodKind::kRequest;
  util::ReleasableMutexLock lock(&intake_mu_);
  if (durable_ && intake_store_ == nullptr) {
    return absl::FailedPreconditionError(
        published_.stopped
            ? "session stopped"
            : "the durable buffer opens in Start(); no calls before it");
  }
  session::AdmissionState state = published_;
  state.Add(intake_.size() + appending_calls_,
            intake_bytes_ + appending_bytes_);
  bool window_shut = false;
  if (absl::Status checked = intake_admission_.Check(
          method.full_name, payload.size(), reply_wanted, ack_within, state,
          &window_shut);
      !checked.ok()) {
    if (window_shut && !window_refused_) {
      window_refused_ = true;  // the session emits kBackpressureWait
      PostPumpLocked();
    }
    return checked;
  }
  IntakeCall call{0,
                  {},
                  reply_wanted,
                  std::move(payload),
                  ack_within,
                  std::move(done),
                  absl::Now()};
  if (!durable_) {
    TakeInLocked(std::move(call), intake_admission_.shape());
    return absl::OkStatus();
  }
  // Durable: OK means stored. An append that waits for nothing is made
  // under intake_mu_ (so records and the intake keep one order);
  // otherwise intake_mu_ is let go for it (so concurrent calls share a
  // write and a sync), and the drain hands calls over in record order.
  const store::MessageRef message{0, method.full_name, call.payload,
                                  wire::AckWithinMs(ack_within), reply_wanted};
  if (absl::optional<absl::StatusOr<uint64_t>> id =
          intake_store_->AppendNow(message);
      id.has_value()) {
    if (!id->ok()) return id->status();
    call.id = **id;
    TakeInLocked(std::move(call), intake_admission_.shape());
    return absl::OkStatus();
  }
  std::shared_ptr<store::MessageStore> store = intake_store_;
  std::shared_ptr<const session::MsgShape> shape = intake_admission_.shape();
  const size_t bytes = call.payload.size();
  ++appending_calls_;  // still counted in the send buffer while appended
  appending_bytes_ += bytes;
  lock.Release();
  absl::StatusOr<uint64_t> appended = store->Append(message);
  util::ReleasableMutexLock relock(&intake_mu_);
  --appending_calls_;
  appending_bytes_ -= bytes;
  if (!appended.ok()) return appended.status();
  call.id = *appended;
  if (published_.stopped) {  // stopped while appending: nothing drains now
    relock.Release();
    if (call.done) call.done(StoredForNextStart());
    return absl::OkStatus();
  }
  TakeInLocked(std::move(call), shape);
  return absl::OkStatus();
}

void SessionLink::TakeInLocked(
    IntakeCall&& call, const std::shared_ptr<const session::MsgShape>& shape) {
  // The method's name goes with the first call of a batch and wherever it
  // changes.
  if (intake_.empty() || shape.get() != intake_shape_.get()) {
    call.method = shape->method;
    intake_shape_ = shape;
  }
  intake_bytes_ += call.payload.size();
  intake_.push_back(std::move(call));
  PostPumpLocked();
}

void SessionLink::PostPumpLocked() {
  // Called only for a call that passed the stopped check, under
  // intake_mu_: once Stop has published the stopped session nothing posts
  // to a loop that may be gone.
  if (intake_posted_) return;
  intake_posted_ = true;
  loop_->Post([self = shared_from_this()] { self->Pump(); });
}

void SessionLink::DrainIntakeLocked() {
  // The batch is taken by a swap with the last one's emptied vector, so
  // the intake keeps its capacity from one batch to the next.
  std::vector<IntakeCall>& calls = drained_;
  bool window_refused;
  {
    util::MutexLock lock(&intake_mu_);
    // The session's state once it has the calls taken here (stopped for
    // good once Stop said so).
    const bool stopped = published_.stopped;
    published_ = session_.admission_state();
    published_.stopped |= stopped;
    // Appended calls waiting for their turn are in neither.
    published_.Add(intake_.size() + stored_.size(),
                   intake_bytes_ + stored_bytes_);
    intake_.swap(calls);
    intake_bytes_ = 0;
    intake_posted_ = false;
    window_refused = std::exchange(window_refused_, false);
  }
  if (window_refused) session_.NoteShutWindow();
  if (calls.empty()) return;
  const absl::Time now = absl::Now();
  absl::string_view method;
  for (IntakeCall& call : calls) {
    if (!call.method.empty()) method = call.method;
    if (call.id != 0) {  // stored: the session takes it, in record order
      HandAppendedLocked(call.id, method,
                         StoredCall{std::move(call.payload), call.reply_wanted,
                                    call.ack_within, std::move(call.done)},
                         now);
      continue;
    }
    // Refused only if the session stopped since the state the call was
    // checked against, or a handshake lowered the frame limit.
    absl::Status checked = session_.CheckAccepted(
        method, call.payload.size(), call.reply_wanted, call.ack_within);
    if (checked.ok()) {
      session_.TakeChecked(std::move(call.payload), call.ack_within,
                           std::move(call.done), call.now);
    } else {
      session_.Refuse(std::move(call.done), std::move(checked));
    }
  }
  calls.clear();
  // A burst's capacity is not kept.
  if (calls.capacity() > kKeptIntakeCalls) calls = std::vector<IntakeCall>();
}

void SessionLink::HandAppendedLocked(uint64_t id, absl::string_view method,
                                     StoredCall&& call, absl::Time now) {
  if (id == next_stored_) {  // next in record order (one caller: always)
    HandStoredLocked(method, std::move(call), now);
  } else {
    stored_bytes_ += call.payload.size();
    stored_.emplace(id, std::make_pair(std::string(method), std::move(call)));
  }
  while (!stored_.empty() && stored_.begin()->first == next_stored_) {
    auto& [waiting_method, waiting] = stored_.begin()->second;
    stored_bytes_ -= waiting.payload.size();
    HandStoredLocked(waiting_method, std::move(waiting), now);
    stored_.erase(stored_.begin());
  }
}

void SessionLink::HandStoredLocked(absl::string_view method, StoredCall&& call,
                                   absl::Time now) {
  // Only a stopped session refuses; the call stays in the buffer for the
  // next Start, and its caller hears CANCELLED like the rest.
  if (session_.stopped()) {
    ++next_stored_;
    if (call.done) session_.Refuse(std::move(call.done), StoredForNextStart());
    return;
  }
  absl::Status taken = session_.CallStored(
      next_stored_++, method, std::move(call.payload), call.reply_wanted,
      call.ack_within, std::move(call.done), now);
  assert(taken.ok());  // calls are handed in record order
  (void)taken;
}

bool SessionLink::OnIoThread() const {
  util::MutexLock lock(&mu_);
  return !stopped_ && loop_->OnLoopThread();
}

void SessionLink::set_identity(std::shared_ptr<const PeerIdentity> identity) {
  identity_ = std::move(identity);
}

void SessionLink::set_max_pending_requests(size_t max) {
  max_pending_requests_ = max;
}

void SessionLink::Attach(std::shared_ptr<WsConnection> connection) {
  std::shared_ptr<WsConnection> replaced;
  {
    util::MutexLock lock(&mu_);
    replaced = std::move(connection_);
    if (replaced != nullptr) {
      session_.OnDisconnected(
          absl::UnavailableError("session resumed on another connection"));
    }
    peer_ = connection->RemoteEndpoint();
    connection_ = std::move(connection);
    session_.OnConnected(absl::Now());
    ScheduleFlushLocked();
  }
  // Outside mu_: its OnClose may run right here (and is then ignored by
  // Detach, as it is no longer the current connection).
  if (replaced != nullptr) {
    replaced->Drop(wire::kCloseGoingAway,
                   "session resumed on another connection");
  }
}

void SessionLink::OnBinary(std::string bytes) {
  // Shared with the deliveries that view into it (no copy of a payload).
  auto frame = std::make_shared<const std::string>(std::move(bytes));
  util::MutexLock lock(&mu_);
  session_.OnFrame(std::move(frame), absl::Now());
  ScheduleFlushLocked();
}

void SessionLink::Detach(const WsConnection* connection, uint16_t code,
                         absl::string_view reason) {
  {
    util::MutexLock lock(&mu_);
    if (connection != connection_.get()) return;  // replaced already
    connection_ = nullptr;
    session_.OnDisconnected(absl::UnavailableError(
        absl::StrCat("connection closed (", code, " ", reason, ")")));
  }
  Pump();
}

void SessionLink::Stop(const absl::Status& status) {
  {
    util::MutexLock lock(&mu_);
    {
      util::MutexLock intake_lock(&intake_mu_);
      published_.stopped = true;  // later calls are refused
    }
    DrainIntakeLocked();  // the calls accepted so far fail with `status`
    session_.Stop(status);
  }
  // Pump's UpdateStore still records the last acks; then the buffer is
  // released (closed once an Append in flight returns).
  Pump();  // writes GOODBYE and runs the cancelled calls' callbacks
  util::MutexLock lock(&mu_);
  store_ = nullptr;
  {
    util::MutexLock intake_lock(&intake_mu_);
    intake_store_ = nullptr;
  }
  stopped_ = true;
  deadline_timer_.reset();
  drain_timer_.reset();
  armed_deadline_ = absl::InfiniteFuture();
}

bool SessionLink::open() const {
  util::MutexLock lock(&mu_);
  return session_.open();
}

bool SessionLink::connected() const {
  util::MutexLock lock(&mu_);
  return connection_ != nullptr;
}

std::string SessionLink::session_id() const {
  util::MutexLock lock(&mu_);
  return session_.session_id();
}

bool SessionLink::stopped() const {
  util::MutexLock lock(&mu_);
  return session_.stopped();
}

SessionStats SessionLink::stats() const {
  util::MutexLock lock(&mu_);
  SessionStats stats = session_.stats();
  // Accepted and not in the session yet: in the intake, being appended, or
  // appended and waiting for their turn in record order.
  size_t calls = stored_.size();
  size_t bytes = stored_bytes_;
  {
    util::MutexLock intake_lock(&intake_mu_);
    calls += intake_.size() + appending_calls_;
    bytes += intake_bytes_ + appending_bytes_;
  }
  stats.queued_messages += calls;
  stats.queued_bytes += bytes;
  stats.pending_calls += calls;
  if (connection_ != nullptr)
    stats.buffered_bytes = connection_->BufferedAmount();
  return stats;
}

void SessionLink::ScheduleFlushLocked() {
  if (flush_scheduled_ || stopped_) return;
  flush_scheduled_ = true;
  loop_->Post([self = shared_from_this()] { self->Pump(); });
}

void SessionLink::Pump() {
  session::Effects effects;
  std::shared_ptr<WsConnection> connection;
  std::string peer;
  std::string session_id;
  std::shared_ptr<store::MessageStore> store;
  {
    util::MutexLock lock(&mu_);
    DrainIntakeLocked();
    flush_scheduled_ = false;
    effects = session_.TakeEffects();
    connection = connection_;
    peer = peer_;
    session_id = session_.session_id();
    store = store_;
  }
  if (store != nullptr) UpdateStore(store.get(), effects, session_id);
  // Write frames only up to the high-water mark of bytes the socket has not
  // taken yet: websocketpp's own queue is unbounded, and a resume that
  // queued a whole backlog at once would hold the I/O thread and memory
  // while the link may be cut again. The rest waits for the socket.
  size_t buffered = connection != nullptr ? connection->BufferedAmount() : 0;
  size_t room =
      buffered < max_buffered_bytes_ ? max_buffered_bytes_ - buffered : 0;
  std::vector<std::string> frames;
  bool more = false;
  absl::Time next_deadline;
  {
    util::MutexLock lock(&mu_);
    while (room > 0 && session_.HasFrame()) {
      std::string frame = session_.TakeFrame();
      if (frame.empty()) break;
      room -= std::min(room, frame.size());
      frames.push_back(std::move(frame));
    }
    // After Stop the link arms no timer: it may outlive the loop.
    more = !stopped_ && connection != nullptr && session_.HasFrame();
    next_deadline = stopped_ ? absl::InfiniteFuture() : session_.NextDeadline();
  }
  if (more && drain_timer_ == nullptr) {
    std::weak_ptr<SessionLink> weak = weak_from_this();
    drain_timer_ = loop_->RunAfter(kDrainPoll, [weak] {
      if (auto self = weak.lock()) {
        self->drain_timer_ = nullptr;
        self->Pump();
      }
    });
  }
  if (connection != nullptr) {
    for (std::string& frame : frames) {
      // A failed send means the connection is closing; Detach follows and
      // the session keeps everything unacked for the next one.
      connection->Send(std::move(frame)).IgnoreError();
    }
    if (effects.close && effects.close->abort) {
      connection->Drop(effects.close->code, effects.close->reason);
    } else if (effects.close) {
      connection->Close(effects.close->code, effects.close->reason);
    }
  }
  for (session::Completion& completion : effects.completions) {
    completion.done(std::move(completion.result));
  }
  for (Event& event : effects.events) {
    ever_opened_ |= event.type == EventType::kConnected;
    event.peer = peer;
    if (on_event_ != nullptr) on_event_(event);
  }
  DispatchAll(std::move(effects.deliveries));
  ArmDeadlineTimer(next_deadline);
  payloads_.Give(&effects.released);
}

void SessionLink::DispatchAll(std::vector<session::Delivery> deliveries) {
  if (deliveries.empty()) return;
  FinishedCalls finished{this, {}};
  finished.results.reserve(deliveries.size());
  // A handler may Stop a link, whose Pump then dispatches here too.
  FinishedCalls* outer = std::exchange(dispatching, &finished);
  for (session::Delivery& delivery : deliveries) Dispatch(std::move(delivery));
  dispatching = outer;
  if (finished.results.empty()) return;
  util::MutexLock lock(&mu_);
  for (auto& [id, result] : finished.results) {
    session_.Finish(id, std::move(result));
  }
  ScheduleFlushLocked();
}

void SessionLink::UpdateStore(store::MessageStore* store,
                              const session::Effects& effects,
                              const std::string& session_id) {
  absl::Status status;
  for (const Event& event : effects.events) {
    if (event.type == EventType::kNewSession) {
      status.Update(store->SaveMeta({session_id, 0}));
    }
  }
  if (effects.calls_done_through != 0) {
    status.Update(store->MarkAcked(effects.calls_done_through));
  }
  // The buffer failed (a full disk, an I/O error): later sends fail with
  // the same status; nothing accepted before is lost.
  if (!status.ok() && on_event_ != nullptr) {
    on_event_(MakeEvent(EventType::kError, status));
  }
}

void SessionLink::Dispatch(session::Delivery delivery) {
  // Calls mostly repeat the last one's method: its entry is looked up once.
  if (delivery.method != dispatched_method_) {
    dispatched_entry_ = services_->Find(delivery.method);
    dispatched_method_ = std::string(delivery.method);
  }
  const rpc::ServiceRegistry::Entry* entry = dispatched_entry_;
  if (entry == nullptr) {
    Finish(delivery.id, absl::UnimplementedError(
                            absl::StrCat("no method ", delivery.method)));
    return;
  }
  if (pending_requests_.load(std::memory_order_relaxed) >=
      max_pending_requests_) {
    Finish(delivery.id,
           absl::ResourceExhaustedError(absl::StrCat(
               "max_pending_requests (", max_pending_requests_,
               ") calls of this session are in their handlers; retry later")));
    return;
  }
  pending_requests_.fetch_add(1, std::memory_order_relaxed);
  const session::DeliveryId id = delivery.id;
  if (responder_token_ == nullptr || responder_token_->epoch != id.epoch) {
    if (responder_token_ != nullptr) Unref(responder_token_);
    responder_token_ = new ResponderToken;
    responder_token_->link = weak_from_this();
    responder_token_->epoch = id.epoch;
  }
  responder_token_->refs.fetch_add(1, std::memory_order_relaxed);
  RawResponder responder(&CompleteDelivery, responder_token_, id.seq);
  CallContext context{entry->handler->info, id.seq, shared_from_this(),
                      identity_};
  entry->handler->invoke(entry->service, context, delivery.payload,
                         std::move(responder));
}

void SessionLink::Unref(ResponderToken* token) {
  if (token->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete token;
}

void SessionLink::CompleteDelivery(void* context, uint64_t seq,
                                   absl::StatusOr<std::string> result) {
  auto* token = static_cast<ResponderToken*>(context);
  if (std::shared_ptr<SessionLink> self = token->link.lock()) {
    self->pending_requests_.fetch_sub(1, std::memory_order_relaxed);
    self->Finish({token->epoch, seq}, std::move(result));
  }
  Unref(token);
}

void SessionLink::Finish(session::DeliveryId id,
                         absl::StatusOr<std::string> result) {
  if (dispatching != nullptr && dispatching->link == this) {
    dispatching->results.emplace_back(id, std::move(result));
    return;
  }
  util::MutexLock lock(&mu_);
  session_.Finish(id, std::move(result));
  ScheduleFlushLocked();
}

void SessionLink::ArmDeadlineTimer(absl::Time deadline) {
  if (deadline >= armed_deadline_) return;
  armed_deadline_ = deadline;
  std::weak_ptr<SessionLink> weak = weak_from_this();
  deadline_timer_ = loop_->RunAfter(
      std::max(deadline - absl::Now(), absl::ZeroDuration()), [weak] {
        auto self = weak.lock();
        if (self == nullptr) return;
        self->armed_deadline_ = absl::InfiniteFuture();
        util::MutexLock lock(&self->mu_);
        self->session_.Tick(absl::Now());
        self->ScheduleFlushLocked();
      });
}

void LinkHandler::OnOpen(std::shared_ptr<WsConnection> connection) {
  opened_ = true;
  connection_ = connection;
  link_->Attach(std::move(connection));
}

void LinkHandler::OnBinary(std::string bytes) {
  link_->OnBinary(std::move(bytes));
}

void LinkHandler::OnClose(uint16_t code, absl::string_view reason) {
  if (opened_) link_->Detach(connection_.get(), code, reason);
  connection_ = nullptr;
  if (on_close_ != nullptr) on_close_(opened_, code, reason);
}

Event MakeEvent(EventType type, absl::Status status) {
  Event event;
  event.type = type;
  event.status = std::move(status);
  return event;
}

session::SessionOptions MakeSessionOptions(session::Role role,
                                           size_t max_message_bytes,
                                           const FlowOptions& flow,
                                           const LivenessOptions& liveness) {
  session::SessionOptions options;
  options.role = role;
  options.flow = flow;
  options.max_frame_bytes = max_message_bytes;
  options.ping_interval = liveness.ping_interval;
  options.ping_timeout = liveness.ping_timeout;
  return options;
}

}  // namespace parley::transport
