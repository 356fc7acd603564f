#include "parley/server.h"

#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime/rpc/registry.h"
#include "runtime/transport/session_link.h"
#include "runtime/transport/ws.h"
#include "runtime/util/mutex.h"
#include "runtime/wire/close_codes.h"
#include "runtime/wire/codec.h"

namespace parley {
namespace {

// 128 random bits from the OS; session ids must not be guessable.
std::string NewSessionId() {
  std::random_device device;
  std::string id(16, '\0');
  for (size_t i = 0; i < id.size(); i += 4) {
    uint32_t word = device();
    for (size_t j = 0; j < 4; ++j) {
      id[i + j] = static_cast<char>(word >> (8 * j));
    }
  }
  return id;
}

// The session id a connection's first message asks to resume, if any.
std::string RequestedSessionId(absl::string_view first_message) {
  absl::StatusOr<wire::Frame> frame = wire::DecodeFrame(first_message);
  if (!frame.ok() || !frame->envelopes(0).has_hello()) return std::string();
  return frame->envelopes(0).hello().session_id();
}

}  // namespace

// Sessions outlive connections: a connection's first message (its HELLO)
// names the session it resumes; a session whose connection is lost is kept
// for `session_grace`, then ended. Everything below runs on the loop thread
// except the public methods, which hand work to it.
class Server::Impl {
 public:
  explicit Impl(ServerOptions options)
      : options_(std::move(options)),
        loop_(std::make_unique<transport::IoLoop>()) {}
  ~Impl() {
    Stop();
    ws_.reset();    // the endpoint's sockets belong to the loop's context
    loop_.reset();  // joins the I/O thread before the members it uses go
  }

  absl::Status AddService(Service* service) {
    util::MutexLock lock(&mu_);
    if (started_)
      return absl::FailedPreconditionError("AddService after Start");
    return registry_.Add(service);
  }

  absl::Status Start() {
    util::MutexLock lock(&mu_);
    if (started_) return absl::FailedPreconditionError("Server started twice");
    transport::WsServerOptions ws_options;
    ws_options.host = options_.host;
    ws_options.port = options_.port;
    ws_options.max_message_bytes = options_.max_message_bytes;
    // Sessions coalesce envelopes into frames themselves; Nagle on top
    // would hold a request behind a delayed TCP ack (~40 ms).
    ws_options.tcp_no_delay = true;
    ws_options.tls = options_.tls;
    ws_options.handshake_timeout = options_.handshake_timeout;
    ws_options.max_connections = options_.max_connections;
    ws_options.allowed_origins = options_.allowed_origins;
    ws_options.authenticate = options_.authenticate;
    absl::StatusOr<std::unique_ptr<transport::WsServer>> ws =
        transport::WsServer::Start(loop_.get(), ws_options, [this] {
          return std::make_shared<Connection>(this);
        });
    if (!ws.ok()) return ws.status();
    started_ = true;
    ws_ = std::move(*ws);
    return absl::OkStatus();
  }

  std::vector<SessionStats> stats() {
    std::vector<SessionStats> all;
    loop_->RunAndWait([&] {
      for (const auto& [id, entry] : sessions_) {
        all.push_back(entry.link->stats());
      }
    });
    return all;
  }

  uint16_t port() const {
    util::MutexLock lock(&mu_);
    return ws_ == nullptr ? 0 : ws_->port();
  }

  void Stop() {
    transport::WsServer* ws;
    {
      util::MutexLock lock(&mu_);
      if (ws_ == nullptr || stopped_) return;
      stopped_ = true;
      ws = ws_.get();  // set once by Start; kept until ~Impl
    }
    // Not under mu_: handlers on the loop thread may call port().
    loop_->RunAndWait([this] {
      for (auto& [id, entry] : sessions_) {
        entry.link->Stop(absl::CancelledError("server stopped"));
      }
      sessions_.clear();
    });
    ws->Stop();
    loop_->RunAndWait([this] {
      if (options_.on_event != nullptr) {
        options_.on_event(transport::MakeEvent(EventType::kStopped));
      }
    });
  }

 private:
  // One accepted connection: bound to a session by its first message,
  // which must arrive within hello_timeout.
  class Connection : public transport::WsHandler {
   public:
    explicit Connection(Impl* server) : server_(server) {}
    void OnOpen(std::shared_ptr<transport::WsConnection> connection) override {
      connection_ = std::move(connection);
      std::weak_ptr<transport::WsConnection> weak = connection_;
      const absl::Duration timeout = server_->options_.hello_timeout;
      hello_timer_ = server_->loop_->RunAfter(timeout, [weak, timeout] {
        if (auto connection = weak.lock()) {
          connection->Close(
              wire::kClosePolicyViolation,
              absl::StrCat("no HELLO within ", absl::FormatDuration(timeout)));
        }
      });
    }
    void OnBinary(std::string bytes) override {
      if (refused_) return;
      if (link_ == nullptr) {
        hello_timer_.reset();
        absl::StatusOr<std::shared_ptr<transport::SessionLink>> link =
            server_->Route(RequestedSessionId(bytes), connection_->identity());
        if (!link.ok()) return Refuse(link.status());
        link_ = *std::move(link);
        link_->Attach(connection_);
      }
      link_->OnBinary(std::move(bytes));
    }
    void OnClose(uint16_t code, absl::string_view reason) override {
      hello_timer_.reset();
      if (link_ != nullptr) {
        link_->Detach(connection_.get(), code, reason);
        server_->Released(link_);
      }
      connection_ = nullptr;
    }

   private:
    // No session for this connection: a fatal ERROR saying why, then the
    // close (1013 when the server is full, else 1008).
    void Refuse(const absl::Status& status) {
      refused_ = true;
      connection_->Send(wire::EncodeFrame({wire::MakeError(status, true)}))
          .IgnoreError();
      connection_->Close(status.code() == absl::StatusCode::kResourceExhausted
                             ? wire::kCloseTryAgainLater
                             : wire::kClosePolicyViolation,
                         std::string(status.message()));
      if (server_->options_.on_event != nullptr) {
        Event event = transport::MakeEvent(EventType::kError, status);
        event.peer = connection_->RemoteEndpoint();
        server_->options_.on_event(event);
      }
    }

    Impl* const server_;
    std::shared_ptr<transport::WsConnection> connection_;
    std::shared_ptr<transport::SessionLink> link_;
    std::unique_ptr<transport::Timer> hello_timer_;
    bool refused_ = false;
  };

  struct Entry {
    std::shared_ptr<transport::SessionLink> link;
    std::unique_ptr<transport::Timer> expiry;  // armed while detached
    // Who opened the session; only the same principal may resume it.
    std::shared_ptr<const PeerIdentity> identity;
  };

  // The session `id` names if the server still has it, else a new one.
  // PermissionDenied when `identity` is not the session's principal;
  // ResourceExhausted when a new session would exceed max_sessions.
  absl::StatusOr<std::shared_ptr<transport::SessionLink>> Route(
      const std::string& id, std::shared_ptr<const PeerIdentity> identity) {
    if (auto it = sessions_.find(id);
        it != sessions_.end() && !it->second.link->stopped()) {
      if (it->second.identity->principal != identity->principal) {
        return absl::PermissionDeniedError(
            "this session belongs to another principal");
      }
      it->second.expiry.reset();
      return it->second.link;
    }
    if (sessions_.size() >= options_.max_sessions) {
      return absl::ResourceExhaustedError(
          absl::StrCat("server holds max_sessions (", options_.max_sessions,
                       "); try again later"));
    }
    session::SessionOptions session_options = transport::MakeSessionOptions(
        session::Role::kServer, options_.max_message_bytes, options_.flow,
        options_.liveness);
    session_options.session_id = NewSessionId();
    std::string new_id = session_options.session_id;
    auto link = std::make_shared<transport::SessionLink>(
        loop_.get(), &registry_, std::move(session_options), options_.on_event);
    link->set_identity(identity);
    link->set_max_pending_requests(options_.max_pending_requests);
    Entry& entry = sessions_[new_id];
    entry.link = link;
    entry.identity = std::move(identity);
    return link;
  }

  // `link`'s connection ended. Keep the session for the client to resume
  // unless it never opened or is over; end it once the grace period passes
  // without a new connection.
  void Released(const std::shared_ptr<transport::SessionLink>& link) {
    auto it = sessions_.find(link->session_id());
    if (it == sessions_.end() || it->second.link != link) return;
    if (link->connected()) return;  // the client is back already
    if (!link->ever_opened() || link->stopped()) {
      link->Stop(absl::UnavailableError("connection lost; session ended"));
      sessions_.erase(it);
      return;
    }
    it->second.expiry = loop_->RunAfter(options_.session_grace, [this, link] {
      auto it = sessions_.find(link->session_id());
      if (it == sessions_.end() || link->connected()) return;
      link->Stop(absl::UnavailableError(absl::StrCat(
          "client did not come back within the session grace period (",
          absl::FormatDuration(options_.session_grace), ")")));
      sessions_.erase(it);
    });
  }

  const ServerOptions options_;
  mutable util::Mutex mu_;
  rpc::ServiceRegistry registry_;
  std::unique_ptr<transport::IoLoop> loop_;
  std::unique_ptr<transport::WsServer> ws_ ABSL_GUARDED_BY(mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  // Loop thread only: every session, by id.
  absl::flat_hash_map<std::string, Entry> sessions_;
};

Server::Server(ServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
Server::~Server() { Stop(); }
absl::Status Server::AddService(Service* service) {
  return impl_->AddService(service);
}
absl::Status Server::Start() { return impl_->Start(); }
uint16_t Server::port() const { return impl_->port(); }
std::vector<SessionStats> Server::stats() const { return impl_->stats(); }
void Server::Stop() { impl_->Stop(); }

}  // namespace parley
