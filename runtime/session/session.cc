#include "runtime/session/session.h"

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/io/coded_stream.h"
#include "runtime/wire/close_codes.h"
#include "runtime/wire/codec.h"

namespace parley::session {
namespace {

// The stack block a received frame is decoded into; larger frames take
// further blocks from the heap.
constexpr size_t kDecodeBlockBytes = 8192;

// An ACK envelope's largest FramedSize: tag and length, the Envelope's
// field tag and length, the Ack's through (tag and 10-byte varint).
constexpr size_t kMaxAckFramedBytes = 2 + 2 + 11;

// This side's limits, as HELLO and WELCOME state them.
template <typename Handshake>
void SetLimits(const SessionOptions& options, Handshake* handshake) {
  handshake->set_window(options.flow.receive_window);
  handshake->set_window_bytes(options.flow.receive_window_bytes);
  handshake->set_max_frame_bytes(static_cast<uint32_t>(
      std::min<size_t>(options.max_frame_bytes, UINT32_MAX)));
}

}  // namespace

bool Watermark::Mark(uint64_t id) {
  if (id != through_ + 1) {
    if (id > through_) ahead_.insert(id);
    return false;
  }
  through_ = id;
  while (!ahead_.empty() && *ahead_.begin() == through_ + 1) {
    through_ = *ahead_.begin();
    ahead_.erase(ahead_.begin());
  }
  return true;
}

wire::MsgFields Session::Outgoing::msg_fields() const {
  return {
      seq, shape->method, payload, shape->reply_wanted, shape->ack_within_ms,
      call};
}

wire::ReplyFields Session::Outgoing::reply_fields() const {
  // An error REPLY carries its message where a REPLY's payload would be.
  absl::string_view text = code != 0 ? payload : absl::string_view();
  return {seq, in_reply_to, code, text,
          code != 0 ? absl::string_view() : payload};
}

size_t Session::Outgoing::FramedSize() const {
  return is_msg() ? wire::FramedSize(msg_fields())
                  : wire::FramedSize(reply_fields());
}

void Session::Outgoing::AppendTo(std::string* frame) const {
  if (is_msg()) {
    wire::AppendToFrame(msg_fields(), frame);
  } else {
    wire::AppendToFrame(reply_fields(), frame);
  }
}

void DeadlineQueue::Add(absl::Time when, uint64_t call) {
  if (fifo_.empty() ||
      std::make_pair(when, call) >
          std::make_pair(fifo_.back().when, fifo_.back().call)) {
    fifo_.push_back({when, call});
  } else {
    tree_.emplace(when, call);
  }
}

void DeadlineQueue::Remove(absl::Time when, uint64_t call) {
  // Calls mostly complete in the order they were made: the front, which is
  // never marked, goes at once.
  if (!fifo_.empty() && fifo_.front().call == call &&
      fifo_.front().when == when) {
    fifo_.pop_front();
    DropRemovedFront();
    return;
  }
  const std::pair<absl::Time, uint64_t> key(when, call);
  auto it = std::lower_bound(fifo_.begin(), fifo_.end(), key,
                             [](const Entry& e, const auto& k) {
                               return std::make_pair(e.when, e.call) < k;
                             });
  if (it == fifo_.end() || it->when != when || it->call != call) {
    tree_.erase(key);
    return;
  }
  if (it->removed) return;
  it->removed = true;  // not the front (see above): it stays there
  ++removed_;
  if (removed_ > fifo_.size() / 2) {  // compact: O(n) once per n/2 removals
    fifo_.erase(std::remove_if(fifo_.begin(), fifo_.end(),
                               [](const Entry& e) { return e.removed; }),
                fifo_.end());
    removed_ = 0;
  }
}

void DeadlineQueue::DropRemovedFront() {
  while (!fifo_.empty() && fifo_.front().removed) {
    fifo_.pop_front();
    --removed_;
  }
}

std::pair<absl::Time, uint64_t> DeadlineQueue::Earliest() const {
  if (tree_.empty()) return {fifo_.front().when, fifo_.front().call};
  if (fifo_.empty()) return *tree_.begin();
  return std::min(*tree_.begin(),
                  std::make_pair(fifo_.front().when, fifo_.front().call));
}

Session::Session(SessionOptions options)
    : options_(std::move(options)),
      session_id_(options_.session_id),
      admission_(options_.max_frame_bytes, options_.flow) {}

void Session::Restore(std::string session_id, uint64_t first_call_id) {
  restored_ = !session_id.empty();
  session_id_ = std::move(session_id);
  next_call_ = first_call_id;
  calls_done_ = Watermark(first_call_id - 1);
}

void Session::OnConnected(absl::Time now) {
  if (stopped_) return;
  control_.clear();
  closing_ = false;
  last_heard_ = now;
  ping_sent_ = absl::InfiniteFuture();
  if (options_.role == Role::kServer) {
    state_ = State::kAwaitingHello;
    return;
  }
  state_ = State::kAwaitingWelcome;
  wire::Envelope envelope;
  wire::Hello* hello = envelope.mutable_hello();
  hello->set_protocol_version(wire::kProtocolVersion);
  hello->set_session_id(session_id_);
  hello->set_received_through(received_through_);
  SetLimits(options_, hello);
  control_.push_back(std::move(envelope));
}

void Session::OnDisconnected(const absl::Status& reason) {
  if (state_ == State::kDisconnected && !closing_) return;
  state_ = State::kDisconnected;
  closing_ = false;
  control_.clear();
  Emit(EventType::kDisconnected, reason);
}

void Session::OnFrame(absl::string_view bytes, absl::Time now) {
  OnFrame(std::make_shared<const std::string>(bytes), now);
}

void Session::OnFrame(std::shared_ptr<const std::string> frame,
                      absl::Time now) {
  if (stopped_ || closing_ || state_ == State::kDisconnected) return;
  const absl::string_view bytes = *frame;
  last_heard_ = now;  // any frame proves the peer alive
  ping_sent_ = absl::InfiniteFuture();
  // MSGs are decoded in place (views into `bytes`); other envelopes live
  // on an arena for this call only, starting in a block on the stack.
  alignas(8) char first_block[kDecodeBlockBytes];
  google::protobuf::ArenaOptions arena_options;
  arena_options.initial_block = first_block;
  arena_options.initial_block_size = sizeof(first_block);
  google::protobuf::Arena arena(arena_options);
  // Local, not kept between frames: a frame of many tiny envelopes would
  // leave its capacity with the session for good.
  std::vector<wire::DecodedEnvelope> decoded;
  if (absl::Status status = wire::DecodeFrame(bytes, &arena, &decoded);
      !status.ok()) {
    ProtocolError(std::move(status), wire::kCloseInvalidPayload);
    return;
  }
  // Deliveries come from MSGs, at most a window of them.
  effects_.deliveries.reserve(
      effects_.deliveries.size() +
      std::min<size_t>(decoded.size(), options_.flow.receive_window));
  for (const wire::DecodedEnvelope& envelope : decoded) {
    if (closing_ || stopped_) break;
    if (envelope.envelope == nullptr) {
      HandleMsgEnvelope(envelope.msg, frame);
    } else {
      HandleEnvelope(*envelope.envelope);
    }
  }
}

void Session::HandleMsgEnvelope(
    const wire::MsgFields& msg,
    const std::shared_ptr<const std::string>& owner) {
  // (valid_method_ starts empty, and an empty name is no valid one.)
  const bool known_method =
      !valid_method_.empty() && msg.method == valid_method_;
  if (absl::Status valid = wire::ValidateMsg(msg, known_method); !valid.ok()) {
    ProtocolError(valid, wire::kCloseProtocolError);
    return;
  }
  if (!known_method) valid_method_ = std::string(msg.method);
  if (state_ != State::kOpen) {
    ProtocolError(absl::FailedPreconditionError("MSG before the handshake"),
                  wire::kCloseProtocolError);
    return;
  }
  HandleMsg(msg, owner);
}

void Session::HandleEnvelope(wire::Envelope& envelope) {
  if (envelope.has_msg()) {
    return HandleMsgEnvelope(wire::FieldsOf(envelope.msg()), nullptr);
  }
  if (absl::Status valid = wire::Validate(envelope); !valid.ok()) {
    if (absl::IsUnimplemented(valid)) {  // a newer peer's kind: skip it
      control_.push_back(wire::MakeError(valid, /*fatal=*/false));
      Emit(EventType::kError, valid);
    } else {
      ProtocolError(valid, wire::kCloseProtocolError);
    }
    return;
  }
  using E = wire::Envelope;
  switch (envelope.body_case()) {
    case E::kHello:
      return HandleHello(envelope.hello());
    case E::kWelcome:
      return HandleWelcome(envelope.welcome());
    case E::kError:
      Emit(EventType::kError,
           wire::StatusFromWire(
               envelope.error().code(),
               absl::StrCat("peer reported: ", envelope.error().message())));
      return;
    case E::kGoodbye:
      return HandleGoodbye(envelope.goodbye());
    case E::kPing: {
      wire::Envelope pong;
      pong.mutable_pong()->set_nonce(envelope.ping().nonce());
      control_.push_back(std::move(pong));
      return;
    }
    case E::kPong:  // OnFrame noted that the peer is alive
      return;
    default:
      break;
  }
  if (state_ != State::kOpen) {
    ProtocolError(absl::FailedPreconditionError(absl::StrCat(
                      wire::KindName(envelope), " before the handshake")),
                  wire::kCloseProtocolError);
    return;
  }
  switch (envelope.body_case()) {
    case E::kReply:
      return HandleReply(envelope.reply());
    case E::kAck:
      return HandleAck(envelope.ack());
    default:
      return;
  }
}

void Session::HandleHello(const wire::Hello& hello) {
  if (options_.role != Role::kServer || state_ != State::kAwaitingHello) {
    ProtocolError(absl::FailedPreconditionError("unexpected HELLO"),
                  wire::kCloseProtocolError);
    return;
  }
  if (hello.protocol_version() != wire::kProtocolVersion) {
    ProtocolError(
        absl::FailedPreconditionError(absl::StrCat(
            "protocol version ", hello.protocol_version(),
            " is not supported; this server speaks ", wire::kProtocolVersion)),
        wire::kCloseProtocolError);
    return;
  }
  bool resumed =
      !hello.session_id().empty() && hello.session_id() == session_id_;
  if (!resumed) StartNewSession();
  wire::Envelope envelope;
  wire::Welcome* welcome = envelope.mutable_welcome();
  welcome->set_protocol_version(wire::kProtocolVersion);
  welcome->set_session_id(session_id_);
  welcome->set_resumed(resumed);
  welcome->set_received_through(received_through_);
  welcome->set_peer_acked_through(peer_acked_through_);
  SetLimits(options_, welcome);
  control_.push_back(std::move(envelope));
  OpenWith(hello, resumed, resumed ? hello.received_through() : 0);
}

void Session::HandleWelcome(const wire::Welcome& welcome) {
  if (options_.role != Role::kClient || state_ != State::kAwaitingWelcome) {
    ProtocolError(absl::FailedPreconditionError("unexpected WELCOME"),
                  wire::kCloseProtocolError);
    return;
  }
  if (welcome.protocol_version() != wire::kProtocolVersion) {
    ProtocolError(
        absl::FailedPreconditionError(absl::StrCat(
            "server speaks protocol version ", welcome.protocol_version(),
            "; this client speaks ", wire::kProtocolVersion)),
        wire::kCloseProtocolError);
    return;
  }
  if (welcome.session_id().empty() ||
      (welcome.resumed() && welcome.session_id() != session_id_)) {
    ProtocolError(absl::InvalidArgumentError("WELCOME with a bad session id"),
                  wire::kCloseProtocolError);
    return;
  }
  if (!welcome.resumed()) {
    session_id_ = welcome.session_id();
    StartNewSession();
  } else if (restored_) {
    // Both streams continue where the server has them: the calls come
    // again under new seqs (the server drops those it has by MSG.id), and
    // the server's stream resumes after what this client had acked.
    next_seq_ = welcome.received_through() + 1;
    received_through_ = welcome.peer_acked_through();
    processed_ = Watermark(received_through_);
  }
  restored_ = false;
  OpenWith(welcome, welcome.resumed(),
           welcome.resumed() ? welcome.received_through() : 0);
}

template <typename Handshake>
void Session::OpenWith(const Handshake& handshake, bool resumed,
                       uint64_t peer_received_through) {
  peer_window_ = handshake.window();
  peer_window_bytes_ = handshake.window_bytes();
  peer_max_frame_bytes_ = handshake.max_frame_bytes();
  Open(resumed, peer_received_through);
}

void Session::Open(bool resumed, uint64_t peer_received_through) {
  if (peer_received_through >= next_seq_) {
    ProtocolError(absl::InvalidArgumentError(absl::StrCat(
                      "peer claims seq ", peer_received_through,
                      " received, but only ", next_seq_ - 1, " were sent")),
                  wire::kCloseProtocolError);
    return;
  }
  state_ = State::kOpen;
  // Retransmit everything the peer has not received; what it has received
  // but not processed stays kept until its ACK.
  next_to_send_ = std::max(peer_received_through, peer_acked_through_) + 1;
  ack_sent_through_ = 0;  // the peer gets our current ACK again
  ack_repeat_ = false;
  unsent_reply_targets_.clear();
  for (const Outgoing& out : unacked_) {
    if (out.seq >= next_to_send_ && !out.is_msg()) {
      unsent_reply_targets_.insert(out.in_reply_to);
    }
  }
  Emit(EventType::kConnected);
  Emit(resumed ? EventType::kResumed : EventType::kNewSession);
  AdmitQueued();
}

void Session::StartNewSession() {
  // Incoming: the old peer state is gone; handlers still running for it
  // finish into the void (their DeliveryId has the old epoch).
  ++epoch_;
  received_through_ = 0;
  processed_ = Watermark();
  ack_sent_through_ = 0;
  last_msg_id_ = 0;
  ack_repeat_ = false;
  running_.clear();
  handlers_running_ = 0;
  unprocessed_.clear();
  unprocessed_bytes_ = 0;
  // Outgoing: calls not yet acked go back to the front of the send queue,
  // in order, to take new seqs from 1 as the new peer's window allows,
  // unless the old session answered them already. REPLYs answer requests
  // of the old session: dropped.
  for (auto it = unacked_.rbegin(); it != unacked_.rend(); ++it) {
    if (!it->is_msg() || it->answered) continue;
    if (Pending* pending = pending_.Find(it->call)) pending->seq = 0;
    it->seq = 0;
    it->sent_before = true;
    queued_bytes_ += it->payload_bytes();
    queued_.push_front(std::move(*it));
  }
  unacked_.clear();
  unacked_bytes_ = window_messages_ = window_bytes_ = 0;
  next_seq_ = 1;
  peer_acked_through_ = 0;
}

bool Session::AcceptIncomingSeq(uint64_t seq) {
  if (seq <= received_through_) {  // a retransmitted duplicate
    if (seq <= processed_.through()) ack_repeat_ = true;
    return false;
  }
  if (seq != received_through_ + 1) {
    ProtocolError(absl::InvalidArgumentError(
                      absl::StrCat("sequence gap: expected seq ",
                                   received_through_ + 1, ", got ", seq)),
                  wire::kCloseProtocolError);
    return false;
  }
  received_through_ = seq;
  return true;
}

bool Session::IncomingWindowAllows(const wire::MsgFields& msg) const {
  const FlowOptions& flow = options_.flow;
  return unprocessed_.size() < flow.receive_window &&
         (unprocessed_.empty() ||
          unprocessed_bytes_ + msg.payload.size() <= flow.receive_window_bytes);
}

void Session::HandleMsg(const wire::MsgFields& msg,
                        const std::shared_ptr<const std::string>& owner) {
  // A call a restarted sender sends again under a new seq: processed
  // already (or in the window under its old seq).
  if (msg.id != 0 && msg.id <= last_msg_id_ &&
      msg.seq == received_through_ + 1) {
    AcceptIncomingSeq(msg.seq);
    MarkProcessed(msg.seq);
    return;
  }
  if (msg.seq > received_through_ && !IncomingWindowAllows(msg)) {
    ProtocolError(
        absl::ResourceExhaustedError(absl::StrCat(
            "peer overran the receive window: MSG ", msg.seq, " of ",
            msg.payload.size(), " bytes on top of ", unprocessed_.size(),
            " messages and ", unprocessed_bytes_,
            " bytes not yet processed (window ", options_.flow.receive_window,
            " messages, ", options_.flow.receive_window_bytes, " bytes)")),
        wire::kClosePolicyViolation);
    return;
  }
  if (!AcceptIncomingSeq(msg.seq)) return;
  last_msg_id_ = std::max(last_msg_id_, msg.id);
  unprocessed_.emplace_back(msg.seq, msg.payload.size());
  unprocessed_bytes_ += msg.payload.size();
  running_.push_back({msg.seq, msg.reply_wanted});
  ++handlers_running_;
  Delivery& delivery = effects_.deliveries.emplace_back();
  delivery.id = {epoch_, msg.seq};
  delivery.reply_wanted = msg.reply_wanted;
  if (owner != nullptr) {
    delivery.method = msg.method;
    delivery.payload = msg.payload;
    delivery.bytes = owner;
  } else {  // the views die with OnFrame: one copy of both
    auto copy = std::make_shared<std::string>();
    copy->reserve(msg.method.size() + msg.payload.size());
    copy->append(msg.method.data(), msg.method.size());
    copy->append(msg.payload.data(), msg.payload.size());
    delivery.method = absl::string_view(*copy).substr(0, msg.method.size());
    delivery.payload = absl::string_view(*copy).substr(msg.method.size());
    delivery.bytes = std::move(copy);
  }
}

void Session::HandleReply(const wire::Reply& reply) {
  if (!AcceptIncomingSeq(reply.seq())) return;
  // The MSG it answers is still unacked: the peer sends a REPLY before the
  // ACK that covers its call.
  uint64_t target = reply.in_reply_to();
  Outgoing* call = nullptr;
  if (!unacked_.empty() && target >= unacked_.front().seq &&
      target < next_seq_) {
    call = &unacked_[static_cast<size_t>(target - unacked_.front().seq)];
  }
  if (call == nullptr || !call->is_msg()) {
    absl::Status status = absl::InvalidArgumentError(
        absl::StrCat("REPLY to seq ", target, ", which is no unacked call"));
    control_.push_back(wire::MakeError(status, /*fatal=*/false));
    Emit(EventType::kError, status);
  } else {
    call->answered = true;  // a new session must not run it again
    if (reply.code() == 0) {
      Complete(call->call, reply.payload());
    } else {
      Complete(call->call, wire::StatusFromWire(reply.code(), reply.message()));
    }
  }
  MarkProcessed(reply.seq());
}

void Session::HandleAck(const wire::Ack& ack) {
  if (ack.through() >= next_seq_) {
    ProtocolError(absl::InvalidArgumentError(
                      absl::StrCat("ACK through seq ", ack.through(),
                                   ", but only ", next_seq_ - 1, " were sent")),
                  wire::kCloseProtocolError);
    return;
  }
  while (!unacked_.empty() && unacked_.front().seq <= ack.through()) {
    Outgoing& out = unacked_.front();
    if (out.is_msg()) {
      // At most this many completions follow from this ACK.
      const size_t covered = ack.through() - out.seq + 1;
      if (out.shape->reply_wanted) {
        Complete(
            out.call,
            absl::InternalError("peer acked a request without replying to it"),
            covered);
      } else {
        Complete(out.call, std::string(), covered);
      }
      --window_messages_;
      window_bytes_ -= out.payload_bytes();
      MarkCallDone(out.call);
    }
    unacked_bytes_ -= out.bytes;
    effects_.released.push_back(std::move(out.payload));
    unacked_.pop_front();
  }
  peer_acked_through_ = std::max(peer_acked_through_, ack.through());
  next_to_send_ = std::max(next_to_send_, peer_acked_through_ + 1);
  AdmitQueued();
}

void Session::HandleGoodbye(const wire::Goodbye& goodbye) {
  FailAllPending(absl::CancelledError(
      absl::StrCat("peer ended the session: ", goodbye.reason())));
  stopped_ = true;
  effects_.close = CloseRequest{wire::kCloseNormal, "goodbye"};
}

void Session::Tick(absl::Time now) {
  TickLiveness(now);
  while (!deadlines_.empty() && deadlines_.Earliest().first <= now) {
    uint64_t call = deadlines_.Earliest().second;
    const Pending& pending = *pending_.Find(call);
    Complete(call, absl::DeadlineExceededError(
                       pending.seq == 0
                           ? absl::StrCat("no ack for ", pending.shape->method,
                                          " within its deadline; it was "
                                          "never sent (queued for credit)")
                           : absl::StrCat("no ack for ", pending.shape->method,
                                          " (seq ", pending.seq,
                                          ") within its deadline")));
  }
}

void Session::TickLiveness(absl::Time now) {
  if (options_.ping_interval <= absl::ZeroDuration() || closing_ ||
      state_ == State::kDisconnected) {
    return;
  }
  if (now >= ping_sent_ + options_.ping_timeout) {
    std::string reason = absl::StrCat(
        "peer did not answer a ping within ",
        absl::FormatDuration(options_.ping_timeout), " (silent for ",
        absl::FormatDuration(now - last_heard_), ")");
    effects_.close =
        CloseRequest{wire::kClosePeerUnresponsive, reason, /*abort=*/true};
    closing_ = true;
    return;
  }
  if (ping_sent_ == absl::InfiniteFuture() &&
      now >= last_heard_ + options_.ping_interval) {
    wire::Envelope ping;
    ping.mutable_ping()->set_nonce(next_ping_nonce_++);
    control_.push_back(std::move(ping));
    ping_sent_ = now;
  }
}

absl::Time Session::NextDeadline() const {
  if (stopped_) return absl::InfiniteFuture();
  absl::Time next =
      deadlines_.empty() ? absl::InfiniteFuture() : deadlines_.Earliest().first;
  if (options_.ping_interval > absl::ZeroDuration() && !closing_ &&
      state_ != State::kDisconnected) {
    next = std::min(next, ping_sent_ == absl::InfiniteFuture()
                              ? last_heard_ + options_.ping_interval
                              : ping_sent_ + options_.ping_timeout);
  }
  return next;
}

absl::Status Session::Call(absl::string_view method, std::string payload,
                           bool reply_wanted, absl::Duration ack_within,
                           CallDone done, absl::Time now) {
  if (absl::Status checked =
          CheckCall(method, payload.size(), reply_wanted, ack_within);
      !checked.ok()) {
    return checked;
  }
  TakeChecked(std::move(payload), ack_within, std::move(done), now);
  return absl::OkStatus();
}

void Session::TakeChecked(std::string payload, absl::Duration ack_within,
                          CallDone done, absl::Time now) {
  Accept(next_call_, admission_.shape(), std::move(payload), ack_within,
         std::move(done), now);
}

absl::Status Session::CallStored(uint64_t id, absl::string_view method,
                                 std::string payload, bool reply_wanted,
                                 absl::Duration ack_within, CallDone done,
                                 absl::Time now) {
  if (stopped_) return absl::FailedPreconditionError("session stopped");
  if (id < next_call_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "stored call ", id, " is not above the last call ", next_call_ - 1));
  }
  admission_.Adopt(method, reply_wanted, ack_within);
  Accept(id, admission_.shape(), std::move(payload), ack_within,
         std::move(done), now);
  return absl::OkStatus();
}

absl::Status Session::CheckCall(absl::string_view method, size_t payload_bytes,
                                bool reply_wanted, absl::Duration ack_within) {
  bool window_shut = false;
  absl::Status checked =
      admission_.Check(method, payload_bytes, reply_wanted, ack_within,
                       admission_state(), &window_shut);
  if (window_shut) NoteShutWindow();
  return checked;
}

absl::Status Session::CheckAccepted(absl::string_view method,
                                    size_t payload_bytes, bool reply_wanted,
                                    absl::Duration ack_within) {
  AdmissionState state = admission_state();
  state.messages = state.bytes = 0;  // the intake counted it
  state.peer_window = 0;  // "not known yet": the call queues, as accepted
  bool window_shut = false;
  return admission_.Check(method, payload_bytes, reply_wanted, ack_within,
                          state, &window_shut);
}

void Session::NoteShutWindow() {
  if (!backpressured_) {
    backpressured_ = true;
    Emit(EventType::kBackpressureWait);
  }
  ResumeIfRoom();
}

AdmissionState Session::admission_state() const {
  AdmissionState state;
  state.stopped = stopped_;
  state.frame_limit = FrameLimit();
  state.messages = window_messages_ + queued_.size();
  state.bytes = window_bytes_ + queued_bytes_;
  state.peer_window = peer_window_;
  state.peer_window_bytes = peer_window_bytes_;
  state.window_messages = window_messages_;
  state.window_bytes = window_bytes_;
  state.queued = queued_.size();
  return state;
}

void AdmissionState::Add(size_t calls, size_t payload_bytes) {
  messages += calls;
  bytes += payload_bytes;
  if (queued == 0) {
    window_messages += calls;
    window_bytes += payload_bytes;
  }
}

CallAdmission::CallAdmission(size_t max_frame_bytes, const FlowOptions& flow)
    : max_frame_bytes_(max_frame_bytes), flow_(flow) {}

absl::Status CallAdmission::Check(absl::string_view method,
                                  size_t payload_bytes, bool reply_wanted,
                                  absl::Duration ack_within,
                                  const AdmissionState& state,
                                  bool* window_shut) {
  *window_shut = false;
  if (state.stopped) return absl::FailedPreconditionError("session stopped");
  if (!Same(method, reply_wanted, ack_within)) {
    if (!wire::IsValidMethodName(method)) {
      return absl::InvalidArgumentError(
          absl::StrCat("malformed method name \"", method,
                       "\"; expected pkg.Service/Method"));
    }
    Adopt(method, reply_wanted, ack_within);
  }
  size_t bytes =
      framed_bytes_ + payload_bytes +
      google::protobuf::io::CodedOutputStream::VarintSize64(payload_bytes) + 1 +
      4;  // its tag; the Msg's and the envelope's length
          // prefixes grow with it
  if (bytes > state.frame_limit) {
    return absl::InvalidArgumentError(
        absl::StrCat("call of ", bytes, " bytes to ", method, " exceeds the ",
                     state.frame_limit < max_frame_bytes_ ? "peer's " : "",
                     "max_frame_bytes ", state.frame_limit));
  }
  if (state.messages >= flow_.max_pending_messages ||
      state.bytes + payload_bytes > flow_.max_pending_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "send buffer full: ", state.messages, " calls and ", state.bytes,
        " payload bytes accepted and not yet acked (limits ",
        flow_.max_pending_messages, " and ", flow_.max_pending_bytes, ")"));
  }
  // Before the first handshake the window is unknown: calls queue.
  if (flow_.policy == BackpressurePolicy::kReject && state.peer_window != 0 &&
      (state.queued != 0 ||
       !WindowFits(state.peer_window, state.peer_window_bytes,
                   state.window_messages, state.window_bytes, payload_bytes))) {
    *window_shut = true;
    return absl::ResourceExhaustedError(absl::StrCat(
        "the peer's window is shut: ", state.window_messages, " calls and ",
        state.window_bytes, " payload bytes not yet acked (window ",
        state.peer_window, " messages, ", state.peer_window_bytes, " bytes)"));
  }
  return absl::OkStatus();
}

bool CallAdmission::Same(absl::string_view method, bool reply_wanted,
                         absl::Duration ack_within) const {
  return shape_ != nullptr && method == shape_->method &&
         reply_wanted == shape_->reply_wanted && ack_within == ack_within_;
}

void CallAdmission::Adopt(absl::string_view method, bool reply_wanted,
                          absl::Duration ack_within) {
  if (Same(method, reply_wanted, ack_within)) return;
  shape_ = std::make_shared<const MsgShape>(MsgShape{
      std::string(method), reply_wanted, wire::AckWithinMs(ack_within)});
  ack_within_ = ack_within;
  // Sized with the largest seq and id it could take, so it fits whatever
  // it gets; the payload is added arithmetically, not copied.
  framed_bytes_ = wire::FramedSize(wire::MsgFields{UINT64_MAX,
                                                   shape_->method,
                                                   {},
                                                   reply_wanted,
                                                   shape_->ack_within_ms,
                                                   UINT64_MAX});
}

void Session::Accept(uint64_t id, std::shared_ptr<const MsgShape> shape,
                     std::string&& payload, absl::Duration ack_within,
                     CallDone&& done, absl::Time now) {
  next_call_ = id + 1;
  size_t payload_bytes = payload.size();
  if (peer_window_ != 0 && !backpressured_ &&
      (!queued_.empty() || !WindowHasRoom(payload_bytes))) {
    backpressured_ = true;
    Emit(EventType::kBackpressureWait);
  }
  absl::Time deadline = ack_within > absl::ZeroDuration()
                            ? now + ack_within
                            : absl::InfiniteFuture();
  if (deadline != absl::InfiniteFuture()) deadlines_.Add(deadline, id);
  pending_.Add(id, Pending{shape, deadline, std::move(done)});
  queued_bytes_ += payload_bytes;
  queued_.push_back({0, id, std::move(shape), std::move(payload)});
  AdmitQueued();
}

void Session::MarkCallDone(uint64_t id) {
  if (calls_done_.Mark(id)) effects_.calls_done_through = calls_done_.through();
}

size_t Session::FrameLimit() const {
  return peer_max_frame_bytes_ == 0
             ? options_.max_frame_bytes
             : std::min(options_.max_frame_bytes, peer_max_frame_bytes_);
}

bool Session::WindowHasRoom(size_t payload_bytes) const {
  return WindowFits(peer_window_, peer_window_bytes_, window_messages_,
                    window_bytes_, payload_bytes);
}

void Session::AdmitQueued() {
  while (!queued_.empty()) {
    Outgoing& front = queued_.front();
    Pending* pending = pending_.Find(front.call);
    bool live = pending != nullptr || front.sent_before;
    if (live && !WindowHasRoom(front.payload_bytes())) break;
    Outgoing out = std::move(front);
    queued_.pop_front();
    queued_bytes_ -= out.payload_bytes();
    if (!live) {  // its deadline passed before it was ever sent
      MarkCallDone(out.call);
      continue;
    }
    // Queued before the peer's maximum frame was known, and above it.
    if (size_t bytes = Number(out); bytes > FrameLimit()) {
      Complete(out.call,
               absl::InvalidArgumentError(absl::StrCat(
                   "call of ", bytes, " bytes to ", out.shape->method,
                   " exceeds the peer's max_frame_bytes ", FrameLimit())));
      continue;
    }
    if (pending != nullptr) pending->seq = next_seq_;
    Enqueue(std::move(out));
  }
  ResumeIfRoom();
}

void Session::ResumeIfRoom() {
  if (backpressured_ && queued_.empty() && peer_window_ != 0 &&
      window_messages_ < peer_window_ && window_bytes_ < peer_window_bytes_) {
    backpressured_ = false;
    Emit(EventType::kBackpressureResume);
  }
}

void Session::Finish(DeliveryId id, absl::StatusOr<std::string> result) {
  if (id.epoch != epoch_) return;
  auto it = !running_.empty() && running_.front().seq == id.seq
                ? running_.begin()
                : std::lower_bound(running_.begin(), running_.end(), id.seq,
                                   [](const Running& r, uint64_t seq) {
                                     return r.seq < seq;
                                   });
  if (it == running_.end() || it->seq != id.seq || it->finished) return;
  const bool reply_wanted = it->reply_wanted;
  it->finished = true;
  --handlers_running_;
  while (!running_.empty() && running_.front().finished) running_.pop_front();
  if (reply_wanted || !result.ok()) {
    Outgoing reply;
    reply.in_reply_to = id.seq;
    if (result.ok()) {
      reply.payload = std::move(*result);
    } else {
      reply.code = static_cast<int32_t>(result.status().code());
      reply.payload = wire::WireText(result.status().message());
    }
    // A REPLY that does not fit in a frame would be refused by the peer
    // (close 1009) and resent on every resume, wedging the session: the
    // caller gets ResourceExhausted instead of the oversize payload.
    if (size_t size = Number(reply); size > FrameLimit()) {
      reply.code = static_cast<int32_t>(absl::StatusCode::kResourceExhausted);
      reply.payload = absl::StrCat(
          "reply of ", size, " bytes exceeds max_frame_bytes ", FrameLimit());
      Number(reply);
    }
    Enqueue(std::move(reply));
  }
  MarkProcessed(id.seq);
}

void Session::Stop(const absl::Status& status) {
  if (stopped_) return;
  FailAllPending(status);
  queued_.clear();
  queued_bytes_ = 0;
  stopped_ = true;
  if (state_ != State::kDisconnected) {
    wire::Envelope envelope;
    envelope.mutable_goodbye()->set_reason(wire::WireText(status.message()));
    control_.push_back(std::move(envelope));
  }
}

void Session::MarkProcessed(uint64_t seq) {
  if (!processed_.Mark(seq)) return;
  while (!unprocessed_.empty() &&
         unprocessed_.front().first <= processed_.through()) {
    unprocessed_bytes_ -= unprocessed_.front().second;
    unprocessed_.pop_front();
  }
}

size_t Session::Number(Outgoing& out) const {
  out.seq = next_seq_;
  out.bytes = out.FramedSize();
  return out.bytes;
}

void Session::Enqueue(Outgoing out) {
  ++next_seq_;
  if (out.is_msg()) {
    ++window_messages_;
    window_bytes_ += out.payload_bytes();
  } else {
    unsent_reply_targets_.insert(out.in_reply_to);
  }
  unacked_bytes_ += out.bytes;
  unacked_.push_back(std::move(out));
}

void Session::Complete(uint64_t call, absl::StatusOr<std::string> result,
                       size_t expected) {
  Pending pending;
  if (!pending_.Take(call, &pending)) return;  // completed already (deadline)
  if (pending.deadline != absl::InfiniteFuture()) {
    deadlines_.Remove(pending.deadline, call);
  }
  Conclude(std::move(pending.done), std::move(result), pending.seq, expected);
}

void Session::Refuse(CallDone done, absl::Status status) {
  Conclude(std::move(done), std::move(status), 0, 1);
}

void Session::Conclude(CallDone done, absl::StatusOr<std::string> result,
                       uint64_t seq, size_t expected) {
  if (done) {
    std::vector<Completion>& completions = effects_.completions;
    if (completions.size() == completions.capacity()) {
      completions.reserve(
          std::max(completions.size() + expected, 2 * completions.size()));
    }
    completions.push_back({std::move(done), std::move(result)});
  } else if (!result.ok()) {
    Emit(EventType::kAckFailed, result.status(), seq);
  }
}

void Session::FailAllPending(const absl::Status& status) {
  // In call order: call ids ascend with the order calls were made.
  std::vector<uint64_t> calls;
  calls.reserve(pending_.size());
  pending_.ForEachCall([&](uint64_t call) { calls.push_back(call); });
  for (uint64_t call : calls) Complete(call, status);
}

void Session::ProtocolError(absl::Status status, uint16_t close_code) {
  control_.push_back(wire::MakeError(status, /*fatal=*/true));
  Emit(EventType::kError, status);
  effects_.close = CloseRequest{close_code, std::string(status.message())};
  closing_ = true;
}

void Session::Emit(EventType type, absl::Status status, uint64_t seq) {
  Event event;
  event.type = type;
  event.status = std::move(status);
  event.seq = seq;
  event.session_id = absl::BytesToHexString(session_id_);
  effects_.events.push_back(std::move(event));
}

Effects Session::TakeEffects() { return std::exchange(effects_, Effects()); }

uint64_t Session::SafeAckThrough() const {
  if (unsent_reply_targets_.empty()) return processed_.through();
  return std::min(processed_.through(), *unsent_reply_targets_.begin() - 1);
}

bool Session::AckDue() const {
  uint64_t through = SafeAckThrough();
  return through > ack_sent_through_ || (ack_repeat_ && through > 0);
}

bool Session::HasFrame() const {
  return !control_.empty() || (state_ == State::kOpen && !closing_ &&
                               (next_to_send_ < next_seq_ || AckDue()));
}

std::string Session::TakeFrame() {
  if (state_ == State::kDisconnected && !closing_) return std::string();
  const size_t limit = std::min(options_.coalesce_bytes, FrameLimit());
  // Envelopes are appended to the encoded frame as they are chosen: no
  // copy of a payload into an intermediate Frame message.
  std::string frame;
  // Whether an envelope of `framed_bytes` may join the frame.
  auto fits = [&](size_t framed_bytes) {
    return frame.empty() || frame.size() + framed_bytes <= limit;
  };
  // Control envelopes (handshake, PING/PONG, ERROR, GOODBYE) travel in
  // frames of their own, so they never wait behind a backlog.
  size_t used = 0;
  while (used < control_.size() && fits(wire::FramedSize(control_[used]))) {
    wire::AppendToFrame(control_[used++], &frame);
  }
  control_.erase(control_.begin(), control_.begin() + used);
  if (used == 0 && state_ == State::kOpen && !closing_) {
    // An ACK leads the frame, so a backlog filling every frame never starves
    // it; it covers only calls whose REPLYs went out in earlier frames. A
    // second one may follow the data, covering the REPLYs just added.
    auto add_ack_if_due = [&] {
      if (!AckDue()) return;
      wire::Envelope envelope;
      envelope.mutable_ack()->set_through(SafeAckThrough());
      if (!fits(wire::FramedSize(envelope))) return;
      wire::AppendToFrame(envelope, &frame);
      ack_sent_through_ = envelope.ack().through();
      ack_repeat_ = false;
    };
    // The frame's size is known from the envelopes' cached sizes: one
    // allocation rather than a string grown (and copied) as it fills.
    size_t data_bytes = 0;
    for (uint64_t seq = next_to_send_; seq < next_seq_; ++seq) {
      size_t bytes =
          unacked_[static_cast<size_t>(seq - unacked_.front().seq)].bytes;
      if (data_bytes != 0 && data_bytes + bytes > limit) break;
      data_bytes += bytes;
    }
    frame.reserve(data_bytes + 2 * kMaxAckFramedBytes);
    add_ack_if_due();
    while (next_to_send_ < next_seq_) {
      const Outgoing& out =
          unacked_[static_cast<size_t>(next_to_send_ - unacked_.front().seq)];
      if (!fits(out.bytes)) break;
      out.AppendTo(&frame);
      if (!out.is_msg()) {
        unsent_reply_targets_.erase(
            unsent_reply_targets_.find(out.in_reply_to));
      }
      ++next_to_send_;
    }
    add_ack_if_due();
  }
  return frame;
}

SessionStats Session::stats() const {
  SessionStats stats;
  stats.session_id = absl::BytesToHexString(session_id_);
  stats.open = open();
  stats.next_seq = next_seq_;
  stats.peer_acked_through = peer_acked_through_;
  stats.outstanding_messages = window_messages_;
  stats.outstanding_bytes = window_bytes_;
  stats.queued_messages = queued_.size();
  stats.queued_bytes = queued_bytes_;
  stats.peer_window = peer_window_;
  stats.peer_window_bytes = peer_window_bytes_;
  stats.backpressured = backpressured_;
  stats.unacked_envelopes = unacked_.size();
  stats.unacked_bytes = unacked_bytes_;
  stats.pending_calls = pending_.size();
  stats.received_through = received_through_;
  stats.processed_through = processed_.through();
  stats.handlers_running = handlers_running_;
  stats.unprocessed_messages = unprocessed_.size();
  stats.unprocessed_bytes = unprocessed_bytes_;
  stats.receive_window = options_.flow.receive_window;
  stats.receive_window_bytes = options_.flow.receive_window_bytes;
  return stats;
}

}  // namespace parley::session
