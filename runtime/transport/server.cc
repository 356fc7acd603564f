#include "parley/server.h"

#include <memory>
#include <random>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "runtime/rpc/registry.h"
#include "runtime/transport/session_link.h"
#include "runtime/transport/ws.h"

namespace parley {
namespace {

// 128 random bits from the OS; session ids must not be guessable.
std::string NewSessionId() {
  std::random_device device;
  std::string id(16, '\0');
  for (size_t i = 0; i < id.size(); i += 4) {
    uint32_t word = device();
    for (size_t j = 0; j < 4; ++j)
      id[i + j] = static_cast<char>(word >> (8 * j));
  }
  return id;
}

}  // namespace

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
    absl::MutexLock lock(&mu_);
    if (started_)
      return absl::FailedPreconditionError("AddService after Start");
    return registry_.Add(service);
  }

  absl::Status Start() {
    absl::MutexLock lock(&mu_);
    if (started_) return absl::FailedPreconditionError("Server started twice");
    transport::WsServerOptions ws_options;
    ws_options.host = options_.host;
    ws_options.port = options_.port;
    ws_options.max_message_bytes = options_.max_message_bytes;
    // Sessions coalesce envelopes into frames themselves; Nagle on top
    // would hold a request behind a delayed TCP ack (~40 ms).
    ws_options.tcp_no_delay = true;
    absl::StatusOr<std::unique_ptr<transport::WsServer>> ws =
        transport::WsServer::Start(loop_.get(), ws_options,
                                   [this] { return NewConnection(); });
    if (!ws.ok()) return ws.status();
    started_ = true;
    ws_ = std::move(*ws);
    return absl::OkStatus();
  }

  uint16_t port() const {
    absl::MutexLock lock(&mu_);
    return ws_ == nullptr ? 0 : ws_->port();
  }

  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      if (ws_ == nullptr || stopped_) return;
      stopped_ = true;
    }
    // Not under mu_: handlers on the loop thread may call port().
    loop_->RunAndWait([this] {
      for (const auto& link : links_) {
        link->Stop(absl::CancelledError("server stopped"));
      }
    });
    ws_->Stop();
    loop_->RunAndWait([this] {
      if (options_.on_event != nullptr) {
        options_.on_event(transport::MakeEvent(EventType::kStopped));
      }
    });
  }

 private:
  // Loop thread: one session per accepted connection.
  std::shared_ptr<transport::WsHandler> NewConnection() {
    session::SessionOptions session_options;
    session_options.role = session::Role::kServer;
    session_options.session_id = NewSessionId();
    session_options.max_unacked_messages = options_.max_unacked_messages;
    session_options.max_unacked_bytes = options_.max_unacked_bytes;
    session_options.max_frame_bytes = options_.max_message_bytes;
    session_options.ping_interval = options_.liveness.ping_interval;
    session_options.ping_timeout = options_.liveness.ping_timeout;
    auto link = std::make_shared<transport::SessionLink>(
        loop_.get(), &registry_, std::move(session_options), options_.on_event);
    links_.insert(link);
    return std::make_shared<transport::LinkHandler>(
        link, [this, link](bool, uint16_t, absl::string_view) {
          // No resume yet: a closed connection ends its session, and the
          // calls still pending on it fail rather than wait forever.
          link->Stop(absl::UnavailableError("connection lost; session ended"));
          links_.erase(link);
        });
  }

  const ServerOptions options_;
  mutable absl::Mutex mu_;
  rpc::ServiceRegistry registry_;
  std::unique_ptr<transport::IoLoop> loop_;
  std::unique_ptr<transport::WsServer> ws_ ABSL_GUARDED_BY(mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  // Loop thread only.
  absl::flat_hash_set<std::shared_ptr<transport::SessionLink>> links_;
};

Server::Server(ServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
Server::~Server() { Stop(); }
absl::Status Server::AddService(Service* service) {
  return impl_->AddService(service);
}
absl::Status Server::Start() { return impl_->Start(); }
uint16_t Server::port() const { return impl_->port(); }
void Server::Stop() { impl_->Stop(); }

}  // namespace parley
