// WsLink: the WsConnection over one websocketpp connection, shared by the
// server and the client (internal; includes websocketpp through its users).
// LinkSet: the live links of one endpoint, for Stop.
//
// Threading: everything websocketpp is touched on the loop thread only.
// Send/Close/BufferedAmount may be called from any thread; off the loop they
// post to it, so messages sent from one thread keep their order. Handler
// callbacks run on the loop thread.
#ifndef PARLEY_RUNTIME_TRANSPORT_WS_LINK_H_
#define PARLEY_RUNTIME_TRANSPORT_WS_LINK_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "asio/ip/tcp.hpp"
#include "runtime/transport/handshake.h"
#include "runtime/transport/ws.h"
#include "runtime/util/mutex.h"
#include "websocketpp/close.hpp"
#include "websocketpp/common/connection_hdl.hpp"
#include "websocketpp/error.hpp"
#include "websocketpp/frame.hpp"

namespace parley::transport {

// Cuts a close reason to the 123 bytes a close frame can carry, without
// splitting a UTF-8 sequence (the peer would fail the close with 1007).
inline std::string TruncateCloseReason(std::string reason) {
  size_t n = websocketpp::frame::limits::close_reason_size;
  if (reason.size() <= n) return reason;
  while (n > 0 && (static_cast<unsigned char>(reason[n]) & 0xC0) == 0x80) --n;
  reason.resize(n);
  return reason;
}

// The websocketpp connection behind a handle, or null once it is gone.
template <typename Endpoint>
typename Endpoint::connection_ptr ConnectionOf(
    const websocketpp::connection_hdl& hdl) {
  return std::static_pointer_cast<typename Endpoint::connection_type>(
      hdl.lock());
}

// For the endpoints' tcp_pre_init handler: runs once the socket is
// connected (client) or accepted (server).
template <typename Endpoint>
void SetNoDelay(const websocketpp::connection_hdl& hdl) {
  if (auto con = ConnectionOf<Endpoint>(hdl)) {
    asio::error_code ignored;  // best effort: the socket works either way
    con->get_raw_socket().set_option(asio::ip::tcp::no_delay(true), ignored);
  }
}

template <typename Endpoint>
class WsLink final : public WsConnection,
                     public std::enable_shared_from_this<WsLink<Endpoint>> {
 public:
  using ConnectionPtr = typename Endpoint::connection_ptr;
  using MessagePtr = typename Endpoint::message_ptr;

  // `loop` must outlive the link. `on_finished` runs on the loop thread
  // right after the handler's OnClose.
  WsLink(IoLoop* loop, ConnectionPtr con, std::shared_ptr<WsHandler> handler,
         std::function<void(WsLink*)> on_finished)
      : loop_(loop),
        con_(std::move(con)),
        handler_(std::move(handler)),
        on_finished_(std::move(on_finished)) {}

  // Routes the connection's message/close/fail events here. The handlers
  // hold the link; the link drops the connection when it finishes, so
  // there is no cycle. Loop thread (or before the connection starts).
  void Attach() {
    auto self = this->shared_from_this();
    con_->set_message_handler(
        [self](websocketpp::connection_hdl, MessagePtr msg) {
          self->HandleMessage(msg);
        });
    con_->set_close_handler(
        [self](websocketpp::connection_hdl) { self->HandleClose(); });
    con_->set_fail_handler(
        [self](websocketpp::connection_hdl) { self->HandleFail(); });
  }

  // WsConnection.
  absl::Status Send(std::string bytes) override {
    if (!sendable_.load(std::memory_order_acquire)) return NotOpen();
    if (loop_->OnLoopThread()) return SendNow(std::move(bytes));
    const size_t size = bytes.size();
    posted_bytes_.fetch_add(size, std::memory_order_relaxed);
    loop_->Post([self = this->shared_from_this(),
                 bytes = std::move(bytes)]() mutable {
      self->posted_bytes_.fetch_sub(bytes.size(), std::memory_order_relaxed);
      // Dropped if the connection closed meanwhile, as any socket would.
      self->SendNow(std::move(bytes)).IgnoreError();
    });
    return absl::OkStatus();
  }

  void Close(uint16_t code, std::string reason) override {
    sendable_.store(false, std::memory_order_release);
    RunOnLoop([self = this->shared_from_this(), code,
               reason = TruncateCloseReason(std::move(reason))] {
      self->CloseNow(code, reason);
    });
  }

  void Drop(uint16_t code, std::string reason) override {
    sendable_.store(false, std::memory_order_release);
    RunOnLoop([self = this->shared_from_this(), code,
               reason = std::move(reason)] { self->Abort(code, reason); });
  }

  // Bytes posted to the loop but not yet handed to websocketpp, plus
  // websocketpp's send queue (get_buffered_amount(): queued frames not yet
  // given to the socket; the batch being written is not counted). That
  // queue may only be read on the loop thread, so other threads see the
  // copy taken after the last send or read there, and ask for a refresh.
  size_t BufferedAmount() const override {
    if (loop_->OnLoopThread()) {
      RefreshBuffered();
    } else if (!refresh_posted_.exchange(true, std::memory_order_acq_rel)) {
      loop_->Post([self = this->shared_from_this()] {
        self->refresh_posted_.store(false, std::memory_order_release);
        self->RefreshBuffered();
      });
    }
    return posted_bytes_.load(std::memory_order_relaxed) +
           buffered_.load(std::memory_order_relaxed);
  }

  // Set on the loop thread before OnOpen hands the connection out.
  std::string RemoteEndpoint() const override { return remote_endpoint_; }
  std::shared_ptr<const PeerIdentity> identity() const override {
    return identity_;
  }
  IoLoop& loop() const override { return *loop_; }

  // Loop thread from here on.
  bool is_open() const { return phase_ == Phase::kOpen; }

  // Before HandleOpen: what identity() returns.
  void set_identity(std::shared_ptr<const PeerIdentity> identity) {
    identity_ = std::move(identity);
  }
  // Before the attempt starts (TLS clients): where VerifyServerAs stores
  // why it refused the server's certificate.
  void set_tls_refusal(std::shared_ptr<const std::string> refusal) {
    tls_refusal_ = std::move(refusal);
  }

  // The handshake succeeded: the handler gets OnOpen.
  void HandleOpen(const websocketpp::connection_hdl& hdl) {
    if (phase_ != Phase::kConnecting) {
      // The attempt was abandoned (Stop) while websocketpp kept dialling.
      if (auto con = ConnectionOf<Endpoint>(hdl)) {
        con->terminate(websocketpp::lib::error_code());
      }
      return;
    }
    phase_ = Phase::kOpen;
    remote_endpoint_ = con_->get_remote_endpoint();
    sendable_.store(true, std::memory_order_release);
    std::shared_ptr<WsHandler> handler = handler_;  // OnOpen may Abort us
    handler->OnOpen(this->shared_from_this());
  }

  // Starts the close handshake (an open link only; repeats are no-ops).
  void CloseNow(uint16_t code, const std::string& reason) {
    sendable_.store(false, std::memory_order_release);
    if (phase_ != Phase::kOpen) return;
    websocketpp::lib::error_code ec;
    con_->close(code, reason, ec);
    if (ec && ec != websocketpp::error::invalid_state) {
      // E.g. a reserved code such as 1006: no frame can carry it.
      Abort(wire::kCloseAbnormal,
            absl::StrCat("close(", code, ") failed: ", ec.message()));
    }
  }

  // Ends the link now: OnClose(code, reason), then the socket is dropped
  // without a handshake.
  void Abort(uint16_t code, absl::string_view reason) {
    ConnectionPtr con = con_;
    Finish(code, reason);
    // May call our close or fail handler right here; Finish ignores it.
    if (con) con->terminate(websocketpp::lib::error_code());
  }

 private:
  enum class Phase { kConnecting, kOpen, kDone };

  static absl::Status NotOpen() {
    return absl::FailedPreconditionError("connection is closing or closed");
  }

  template <typename Fn>
  void RunOnLoop(Fn fn) {
    if (loop_->OnLoopThread()) {
      fn();
    } else {
      loop_->Post(std::move(fn));
    }
  }

  absl::Status SendNow(std::string bytes) {
    if (phase_ != Phase::kOpen) return NotOpen();
    // The bytes move into websocketpp's message (send(ptr, len) copies).
    auto message = con_->get_message(websocketpp::frame::opcode::binary, 0);
    message->get_raw_payload().swap(bytes);
    websocketpp::lib::error_code ec = con_->send(message);
    if (ec) return absl::FailedPreconditionError(ec.message());
    RefreshBuffered();
    return absl::OkStatus();
  }

  void RefreshBuffered() const {
    buffered_.store(con_ ? con_->get_buffered_amount() : 0,
                    std::memory_order_relaxed);
  }

  void HandleMessage(const MessagePtr& msg) {
    if (phase_ != Phase::kOpen || refused_) return;
    if (msg->get_opcode() != websocketpp::frame::opcode::binary) {
      // Nothing more from this peer is passed up.
      refused_ = true;
      CloseNow(wire::kCloseUnsupportedData, "text frames are not supported");
      return;
    }
    std::shared_ptr<WsHandler> handler = handler_;  // OnBinary may Abort us
    // The payload moves out: websocketpp drops the message after this.
    handler->OnBinary(std::move(msg->get_raw_payload()));
  }

  // An open connection ended. Reports the close frame we received (for a
  // close we started, the peer's echo of it); else the one we sent, when
  // websocketpp did not wait for an echo (it drops the socket right after
  // sending 1002, 1007, 1008, 1009 or 1011); else 1006.
  void HandleClose() {
    if (phase_ == Phase::kDone) return;
    constexpr uint16_t kNone = websocketpp::close::status::abnormal_close;
    if (con_->get_remote_close_code() != kNone) {
      Finish(con_->get_remote_close_code(), con_->get_remote_close_reason());
    } else if (con_->get_local_close_code() != kNone) {
      Finish(con_->get_local_close_code(), con_->get_local_close_reason());
    } else {
      const websocketpp::lib::error_code ec = con_->get_ec();
      Finish(wire::kCloseAbnormal, ec ? ec.message() : "connection lost");
    }
  }

  // The attempt failed before it opened (client: dial or handshake). A
  // refused certificate and an HTTP refusal get codes of their own (see
  // WsHandler::OnClose).
  void HandleFail() {
    if (phase_ == Phase::kDone) return;
    const int http = con_->get_response_code();
    if (tls_refusal_ != nullptr && !tls_refusal_->empty()) {
      Finish(kCloseTlsFailed,
             absl::StrCat("TLS: server certificate refused: ", *tls_refusal_));
    } else if (http != 0 && http != 101) {
      Finish(RefusedCloseCode(http),
             absl::StrCat("server refused the handshake: HTTP ", http, " ",
                          con_->get_response_msg()));
    } else {
      Finish(wire::kCloseAbnormal,
             absl::StrCat("connect failed: ", con_->get_ec().message()));
    }
  }

  void Finish(uint16_t code, absl::string_view reason) {
    if (phase_ == Phase::kDone) return;
    phase_ = Phase::kDone;
    sendable_.store(false, std::memory_order_release);
    con_.reset();  // breaks connection -> handlers -> link
    RefreshBuffered();
    std::shared_ptr<WsHandler> handler = std::move(handler_);  // and this one
    handler->OnClose(code, reason);
    on_finished_(this);
  }

  IoLoop* const loop_;
  // Loop thread only.
  ConnectionPtr con_;
  std::shared_ptr<WsHandler> handler_;
  const std::function<void(WsLink*)> on_finished_;
  Phase phase_ = Phase::kConnecting;
  bool refused_ = false;
  std::string remote_endpoint_;
  std::shared_ptr<const PeerIdentity> identity_;
  std::shared_ptr<const std::string> tls_refusal_;
  // Any thread.
  std::atomic<bool> sendable_{false};
  std::atomic<size_t> posted_bytes_{0};
  mutable std::atomic<size_t> buffered_{0};
  mutable std::atomic<bool> refresh_posted_{false};
};

// The links of one endpoint that have not finished yet, and the count Stop
// waits on. A slot is reserved (any thread) before a link exists, so a Stop
// that begins in between still waits for it.
template <typename Link>
class LinkSet {
 public:
  // Any thread. False once closing has begun.
  bool TryReserve() {
    util::MutexLock lock(&mu_);
    if (closing_) return false;
    ++live_;
    return true;
  }
  // Any thread. From now on TryReserve fails.
  void BeginClosing() {
    util::MutexLock lock(&mu_);
    closing_ = true;
  }
  bool closing() const {
    util::MutexLock lock(&mu_);
    return closing_;
  }
  // Any thread. Waits until every reserved slot is released, at most
  // `timeout`; true if it was.
  bool AwaitEmpty(absl::Duration timeout) {
    util::MutexLock lock(&mu_);
    return emptied_.WaitFor(
        &mu_, timeout,
        [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return live_ == 0; });
  }

  // Loop thread from here on.
  size_t size() const { return links_.size(); }
  void Add(std::shared_ptr<Link> link) {
    Link* key = link.get();
    links_.emplace(key, std::move(link));
  }
  // Ends a reservation: its link finished, or it never became one.
  void Release(Link* link) {
    links_.erase(link);
    util::MutexLock lock(&mu_);
    if (--live_ == 0) emptied_.SignalAll();
  }
  // Open links start the close handshake; attempts still dialling end now.
  void CloseAll(uint16_t code, const std::string& reason) {
    for (const std::shared_ptr<Link>& link : Snapshot()) {
      if (link->is_open()) {
        link->CloseNow(code, reason);
      } else {
        link->Abort(code, reason);
      }
    }
  }
  void AbortAll(uint16_t code, absl::string_view reason) {
    for (const std::shared_ptr<Link>& link : Snapshot()) {
      link->Abort(code, reason);
    }
  }
  // Any thread: `begin` (run on the loop) starts the close handshakes; off
  // the loop this waits for every OnClose, at most `grace`, then drops the
  // links left. On the loop thread it cannot wait: it drops them at once
  // with `stopped`.
  void StopAll(IoLoop& loop, const std::function<void()>& begin,
               absl::string_view stopped, absl::Duration grace) {
    if (loop.OnLoopThread()) {
      begin();
      AbortAll(wire::kCloseGoingAway, stopped);
      return;
    }
    loop.RunAndWait(begin);
    if (AwaitEmpty(grace)) return;
    loop.RunAndWait([this] {
      AbortAll(wire::kCloseAbnormal, "peer did not answer the close handshake");
    });
  }

 private:
  // A copy: Release edits links_ while we iterate.
  std::vector<std::shared_ptr<Link>> Snapshot() const {
    std::vector<std::shared_ptr<Link>> out;
    out.reserve(links_.size());
    for (const auto& [key, link] : links_) out.push_back(link);
    return out;
  }

  absl::flat_hash_map<Link*, std::shared_ptr<Link>> links_;  // loop thread
  mutable util::Mutex mu_;
  util::CondVar emptied_;  // live_ reached 0
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  size_t live_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace parley::transport

#endif  // PARLEY_RUNTIME_TRANSPORT_WS_LINK_H_
