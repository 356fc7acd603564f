#include "runtime/session/session.h"

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "runtime/wire/close_codes.h"
#include "runtime/wire/codec.h"

namespace parley::session {
namespace {

// Per-envelope overhead of a Frame's repeated field (tag + length prefix).
constexpr size_t kEnvelopeOverhead = 6;

// The bytes a MSG or REPLY takes in a frame once it carries `seq`.
size_t FramedSize(wire::Envelope& envelope, uint64_t seq) {
  if (envelope.has_msg()) {
    envelope.mutable_msg()->set_seq(seq);
  } else {
    envelope.mutable_reply()->set_seq(seq);
  }
  return envelope.ByteSizeLong() + kEnvelopeOverhead;
}

}  // namespace

Session::Session(SessionOptions options)
    : options_(std::move(options)), session_id_(options_.session_id) {}

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
  if (stopped_ || closing_ || state_ == State::kDisconnected) return;
  last_heard_ = now;  // any frame proves the peer alive
  ping_sent_ = absl::InfiniteFuture();
  absl::StatusOr<wire::Frame> frame = wire::DecodeFrame(bytes);
  if (!frame.ok()) {
    ProtocolError(frame.status(), wire::kCloseInvalidPayload);
    return;
  }
  for (const wire::Envelope& envelope : frame->envelopes()) {
    if (closing_ || stopped_) return;
    HandleEnvelope(envelope);
  }
}

void Session::HandleEnvelope(const wire::Envelope& envelope) {
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
    case E::kMsg:
      return HandleMsg(envelope.msg());
    case E::kReply:
      return HandleReply(envelope.reply());
    case E::kAck:
      return HandleAck(envelope.ack());
    default:  // CREDIT: reserved for backpressure
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
  control_.push_back(std::move(envelope));
  Open(resumed, resumed ? hello.received_through() : 0);
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
  }
  Open(welcome.resumed(), welcome.resumed() ? welcome.received_through() : 0);
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
    if (out.seq >= next_to_send_ && out.envelope.has_reply()) {
      unsent_reply_targets_.insert(out.envelope.reply().in_reply_to());
    }
  }
  Emit(EventType::kConnected);
  Emit(resumed ? EventType::kResumed : EventType::kNewSession);
}

void Session::StartNewSession() {
  // Incoming: the old peer state is gone; handlers still running for it
  // finish into the void (their DeliveryId has the old epoch).
  ++epoch_;
  received_through_ = processed_through_ = 0;
  ack_sent_through_ = 0;
  ack_repeat_ = false;
  running_.clear();
  finished_ahead_.clear();
  // Outgoing: calls not yet acked are sent again, renumbered from 1 in the
  // same order, unless the old session answered them already. REPLYs
  // answer requests of the old session: dropped.
  std::deque<Outgoing> kept;
  absl::flat_hash_map<uint64_t, Pending> pending;
  deadlines_.clear();
  uint64_t seq = 1;
  for (Outgoing& out : unacked_) {
    if (!out.envelope.has_msg() || out.answered) {
      unacked_bytes_ -= out.bytes;
      continue;
    }
    out.envelope.mutable_msg()->set_seq(seq);
    if (auto it = pending_.find(out.seq); it != pending_.end()) {
      Pending call = std::move(it->second);
      pending_.erase(it);
      if (call.deadline != absl::InfiniteFuture()) {
        deadlines_.emplace(call.deadline, seq);
      }
      pending.emplace(seq, std::move(call));
    }
    out.seq = seq++;
    kept.push_back(std::move(out));
  }
  // Every pending call is a MSG still kept in unacked_ (an ACK completes
  // the rest), so nothing is left behind in pending_.
  unacked_ = std::move(kept);
  pending_ = std::move(pending);
  next_seq_ = seq;
  peer_acked_through_ = 0;
}

bool Session::AcceptIncomingSeq(uint64_t seq) {
  if (seq <= received_through_) {  // a retransmitted duplicate
    if (seq <= processed_through_) ack_repeat_ = true;
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

void Session::HandleMsg(const wire::Msg& msg) {
  if (!AcceptIncomingSeq(msg.seq())) return;
  running_.emplace(msg.seq(), msg.reply_wanted());
  effects_.deliveries.push_back(
      {{epoch_, msg.seq()}, msg.method(), msg.payload(), msg.reply_wanted()});
}

void Session::HandleReply(const wire::Reply& reply) {
  if (!AcceptIncomingSeq(reply.seq())) return;
  uint64_t call = reply.in_reply_to();
  if (call >= next_seq_) {
    absl::Status status = absl::InvalidArgumentError(
        absl::StrCat("REPLY to seq ", call, " never sent"));
    control_.push_back(wire::MakeError(status, /*fatal=*/false));
    Emit(EventType::kError, status);
  } else {
    // Answered: a new session must not run this call again.
    if (!unacked_.empty() && call >= unacked_.front().seq) {
      unacked_[static_cast<size_t>(call - unacked_.front().seq)].answered =
          true;
    }
    if (reply.code() == 0) {
      Complete(call, reply.payload());
    } else {
      Complete(call, wire::StatusFromWire(reply.code(), reply.message()));
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
    if (out.envelope.has_msg()) {
      if (out.envelope.msg().reply_wanted()) {
        Complete(out.seq, absl::InternalError("peer acked a request without "
                                              "replying to it"));
      } else {
        Complete(out.seq, std::string());
      }
    }
    unacked_bytes_ -= out.bytes;
    unacked_.pop_front();
  }
  peer_acked_through_ = std::max(peer_acked_through_, ack.through());
  next_to_send_ = std::max(next_to_send_, peer_acked_through_ + 1);
}

void Session::HandleGoodbye(const wire::Goodbye& goodbye) {
  FailAllPending(absl::CancelledError(
      absl::StrCat("peer ended the session: ", goodbye.reason())));
  stopped_ = true;
  effects_.close = CloseRequest{wire::kCloseNormal, "goodbye"};
}

void Session::Tick(absl::Time now) {
  TickLiveness(now);
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    uint64_t seq = deadlines_.begin()->second;
    auto it = pending_.find(seq);
    Complete(seq, absl::DeadlineExceededError(
                      absl::StrCat("no ack for ", it->second.method, " (seq ",
                                   seq, ") within its deadline")));
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
      deadlines_.empty() ? absl::InfiniteFuture() : deadlines_.begin()->first;
  if (options_.ping_interval > absl::ZeroDuration() && !closing_ &&
      state_ != State::kDisconnected) {
    next = std::min(next, ping_sent_ == absl::InfiniteFuture()
                              ? last_heard_ + options_.ping_interval
                              : ping_sent_ + options_.ping_timeout);
  }
  return next;
}

absl::StatusOr<uint64_t> Session::Call(absl::string_view method,
                                       std::string payload, bool reply_wanted,
                                       absl::Duration ack_within,
                                       RawDoneCallback done, absl::Time now) {
  if (stopped_) return absl::FailedPreconditionError("session stopped");
  if (!wire::IsValidMethodName(method)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "malformed method name \"", method, "\"; expected pkg.Service/Method"));
  }
  wire::Envelope envelope;
  wire::Msg* msg = envelope.mutable_msg();
  msg->set_method(std::string(method));
  msg->set_payload(std::move(payload));
  msg->set_reply_wanted(reply_wanted);
  msg->set_ack_within_ms(static_cast<uint32_t>(
      std::min<int64_t>(absl::ToInt64Milliseconds(ack_within), UINT32_MAX)));
  size_t bytes = FramedSize(envelope, next_seq_);
  if (bytes > options_.max_frame_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("call of ", bytes, " bytes to ", method,
                     " exceeds max_frame_bytes ", options_.max_frame_bytes));
  }
  if (unacked_.size() >= options_.max_unacked_messages ||
      unacked_bytes_ + bytes > options_.max_unacked_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "send queue full: ", unacked_.size(), " calls and ", unacked_bytes_,
        " bytes not yet acked (limits ", options_.max_unacked_messages, " and ",
        options_.max_unacked_bytes, ")"));
  }
  uint64_t seq = Enqueue(std::move(envelope));
  absl::Time deadline = ack_within > absl::ZeroDuration()
                            ? now + ack_within
                            : absl::InfiniteFuture();
  if (deadline != absl::InfiniteFuture()) deadlines_.emplace(deadline, seq);
  pending_.emplace(seq, Pending{std::string(method), reply_wanted, deadline,
                                std::move(done)});
  return seq;
}

void Session::Finish(DeliveryId id, absl::StatusOr<std::string> result) {
  if (id.epoch != epoch_) return;
  auto it = running_.find(id.seq);
  if (it == running_.end()) return;
  bool reply_wanted = it->second;
  running_.erase(it);
  if (reply_wanted || !result.ok()) {
    wire::Envelope envelope;
    wire::Reply* reply = envelope.mutable_reply();
    reply->set_in_reply_to(id.seq);
    if (result.ok()) {
      reply->set_payload(std::move(*result));
    } else {
      reply->set_code(static_cast<int32_t>(result.status().code()));
      reply->set_message(std::string(result.status().message()));
    }
    // A REPLY that does not fit in a frame would be refused by the peer
    // (close 1009) and resent on every resume, wedging the session: the
    // caller gets ResourceExhausted instead of the oversize payload.
    if (size_t size = FramedSize(envelope, next_seq_);
        size > options_.max_frame_bytes) {
      reply->Clear();
      reply->set_in_reply_to(id.seq);
      reply->set_code(
          static_cast<int32_t>(absl::StatusCode::kResourceExhausted));
      reply->set_message(absl::StrCat("reply of ", size,
                                      " bytes exceeds max_frame_bytes ",
                                      options_.max_frame_bytes));
    }
    Enqueue(std::move(envelope));
  }
  MarkProcessed(id.seq);
}

void Session::Stop(const absl::Status& status) {
  if (stopped_) return;
  FailAllPending(status);
  stopped_ = true;
  if (state_ != State::kDisconnected) {
    wire::Envelope envelope;
    envelope.mutable_goodbye()->set_reason(std::string(status.message()));
    control_.push_back(std::move(envelope));
  }
}

void Session::MarkProcessed(uint64_t seq) {
  if (seq != processed_through_ + 1) {
    finished_ahead_.insert(seq);
    return;
  }
  processed_through_ = seq;
  while (!finished_ahead_.empty() &&
         *finished_ahead_.begin() == processed_through_ + 1) {
    processed_through_ = *finished_ahead_.begin();
    finished_ahead_.erase(finished_ahead_.begin());
  }
}

uint64_t Session::Enqueue(wire::Envelope envelope) {
  uint64_t seq = next_seq_++;
  if (envelope.has_msg()) {
    envelope.mutable_msg()->set_seq(seq);
  } else {
    envelope.mutable_reply()->set_seq(seq);
  }
  if (envelope.has_reply()) {
    unsent_reply_targets_.insert(envelope.reply().in_reply_to());
  }
  size_t bytes = envelope.ByteSizeLong();
  unacked_bytes_ += bytes;
  unacked_.push_back({seq, std::move(envelope), bytes});
  return seq;
}

void Session::Complete(uint64_t seq, absl::StatusOr<std::string> result) {
  auto it = pending_.find(seq);
  if (it == pending_.end()) return;  // completed already (deadline)
  Pending call = std::move(it->second);
  pending_.erase(it);
  if (call.deadline != absl::InfiniteFuture()) {
    deadlines_.erase({call.deadline, seq});
  }
  if (call.done != nullptr) {
    effects_.completions.push_back({std::move(call.done), std::move(result)});
  } else if (!result.ok()) {
    Emit(EventType::kAckFailed, result.status(), seq);
  }
}

void Session::FailAllPending(const absl::Status& status) {
  std::vector<uint64_t> seqs;
  seqs.reserve(pending_.size());
  for (const auto& [seq, call] : pending_) seqs.push_back(seq);
  std::sort(seqs.begin(), seqs.end());
  for (uint64_t seq : seqs) Complete(seq, status);
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
  if (unsent_reply_targets_.empty()) return processed_through_;
  return std::min(processed_through_, *unsent_reply_targets_.begin() - 1);
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
  const size_t limit =
      std::min(options_.coalesce_bytes, options_.max_frame_bytes);
  wire::Frame frame;
  size_t size = 0;
  auto fits = [&](const wire::Envelope& envelope) {
    size_t n = envelope.ByteSizeLong() + kEnvelopeOverhead;
    if (frame.envelopes_size() > 0 && size + n > limit) return false;
    size += n;
    return true;
  };
  // Control envelopes (handshake, PING/PONG, ERROR, GOODBYE) travel in
  // frames of their own, so they never wait behind a backlog.
  size_t used = 0;
  for (; used < control_.size() && fits(control_[used]); ++used) {
    *frame.add_envelopes() = std::move(control_[used]);
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
      if (!fits(envelope)) return;
      ack_sent_through_ = envelope.ack().through();
      ack_repeat_ = false;
      *frame.add_envelopes() = std::move(envelope);
    };
    add_ack_if_due();
    while (next_to_send_ < next_seq_) {
      const Outgoing& out =
          unacked_[static_cast<size_t>(next_to_send_ - unacked_.front().seq)];
      if (!fits(out.envelope)) break;
      *frame.add_envelopes() = out.envelope;
      if (out.envelope.has_reply()) {
        unsent_reply_targets_.erase(
            unsent_reply_targets_.find(out.envelope.reply().in_reply_to()));
      }
      ++next_to_send_;
    }
    add_ack_if_due();
  }
  if (frame.envelopes_size() == 0) return std::string();
  return frame.SerializeAsString();
}

SessionStats Session::stats() const {
  SessionStats stats;
  stats.next_seq = next_seq_;
  stats.peer_acked_through = peer_acked_through_;
  stats.received_through = received_through_;
  stats.processed_through = processed_through_;
  stats.unacked_messages = unacked_.size();
  stats.unacked_bytes = unacked_bytes_;
  stats.pending_calls = pending_.size();
  stats.handlers_running = running_.size();
  return stats;
}

}  // namespace parley::session
