#include "runtime/transport/session_link.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/wire/close_codes.h"

namespace parley::transport {

SessionLink::SessionLink(IoLoop* loop, const rpc::ServiceRegistry* services,
                         session::SessionOptions options,
                         EventCallback on_event)
    : loop_(loop),
      services_(services),
      max_buffered_bytes_(options.flow.max_buffered_bytes),
      on_event_(std::move(on_event)),
      session_(std::move(options)) {}

absl::Status SessionLink::Call(const MethodInfo& method, std::string payload,
                               const CallOptions& options,
                               RawDoneCallback done) {
  absl::Duration ack_within =
      options.ack_within.value_or(method.default_ack_within);
  absl::MutexLock lock(&mu_);
  absl::Status accepted = session_.Call(
      method.full_name, std::move(payload), method.kind == MethodKind::kRequest,
      ack_within, std::move(done), absl::Now());
  // Also when refused: a kReject refusal may have emitted kBackpressureWait.
  ScheduleFlushLocked();
  return accepted;
}

bool SessionLink::OnIoThread() const {
  absl::MutexLock lock(&mu_);
  return !stopped_ && loop_->OnLoopThread();
}

void SessionLink::Attach(std::shared_ptr<WsConnection> connection) {
  std::shared_ptr<WsConnection> replaced;
  {
    absl::MutexLock lock(&mu_);
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

void SessionLink::OnBinary(absl::string_view bytes) {
  absl::MutexLock lock(&mu_);
  session_.OnFrame(bytes, absl::Now());
  ScheduleFlushLocked();
}

void SessionLink::Detach(const WsConnection* connection, uint16_t code,
                         absl::string_view reason) {
  {
    absl::MutexLock lock(&mu_);
    if (connection != connection_.get()) return;  // replaced already
    connection_ = nullptr;
    session_.OnDisconnected(absl::UnavailableError(
        absl::StrCat("connection closed (", code, " ", reason, ")")));
  }
  Pump();
}

void SessionLink::Stop(const absl::Status& status) {
  {
    absl::MutexLock lock(&mu_);
    session_.Stop(status);
  }
  Pump();  // writes GOODBYE and runs the cancelled calls' callbacks
  absl::MutexLock lock(&mu_);
  stopped_ = true;
  deadline_timer_.reset();
  drain_timer_.reset();
  armed_deadline_ = absl::InfiniteFuture();
}

bool SessionLink::open() const {
  absl::MutexLock lock(&mu_);
  return session_.open();
}

bool SessionLink::connected() const {
  absl::MutexLock lock(&mu_);
  return connection_ != nullptr;
}

std::string SessionLink::session_id() const {
  absl::MutexLock lock(&mu_);
  return session_.session_id();
}

bool SessionLink::stopped() const {
  absl::MutexLock lock(&mu_);
  return session_.stopped();
}

SessionStats SessionLink::stats() const {
  absl::MutexLock lock(&mu_);
  SessionStats stats = session_.stats();
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
  {
    absl::MutexLock lock(&mu_);
    flush_scheduled_ = false;
    effects = session_.TakeEffects();
    connection = connection_;
    peer = peer_;
  }
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
    absl::MutexLock lock(&mu_);
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
  for (session::Delivery& delivery : effects.deliveries) {
    Dispatch(std::move(delivery));
  }
  ArmDeadlineTimer(next_deadline);
}

void SessionLink::Dispatch(session::Delivery delivery) {
  const rpc::ServiceRegistry::Entry* entry = services_->Find(delivery.method);
  if (entry == nullptr) {
    Finish(delivery.id, absl::UnimplementedError(
                            absl::StrCat("no method ", delivery.method)));
    return;
  }
  std::weak_ptr<SessionLink> weak = weak_from_this();
  session::DeliveryId id = delivery.id;
  RawResponder responder([weak, id](absl::StatusOr<std::string> result) {
    if (auto self = weak.lock()) self->Finish(id, std::move(result));
  });
  CallContext context{entry->handler->info, id.seq, shared_from_this()};
  entry->handler->invoke(entry->service, context, delivery.payload,
                         std::move(responder));
}

void SessionLink::Finish(session::DeliveryId id,
                         absl::StatusOr<std::string> result) {
  absl::MutexLock lock(&mu_);
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
        absl::MutexLock lock(&self->mu_);
        self->session_.Tick(absl::Now());
        self->ScheduleFlushLocked();
      });
}

void LinkHandler::OnOpen(std::shared_ptr<WsConnection> connection) {
  opened_ = true;
  connection_ = connection;
  link_->Attach(std::move(connection));
}

void LinkHandler::OnBinary(absl::string_view bytes) { link_->OnBinary(bytes); }

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
