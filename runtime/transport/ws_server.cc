// WsServer over websocketpp's asio server (no TLS).
//
// Lifetime: websocketpp's endpoint hands raw `this` pointers to asio
// handlers and to every connection, so the ServerCore that owns it is
// retired to the loop (IoLoop::Impl::Retire) and destroyed only once no
// connection of it exists any more.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "asio/ip/tcp.hpp"
#include "runtime/transport/ws.h"
#include "runtime/transport/ws_config.h"
#include "runtime/transport/ws_link.h"
#include "runtime/transport/ws_loop_impl.h"
#include "websocketpp/server.hpp"

namespace parley::transport {
namespace {

using Server = websocketpp::server<ServerConfig>;
using ServerLink = WsLink<Server>;

// How long Stop waits for peers to answer the close handshake before it
// drops their sockets.
constexpr absl::Duration kStopGrace = absl::Seconds(2);

class ServerCore {
 public:
  ServerCore(IoLoop* loop, const WsServerOptions& options,
             WsServer::HandlerFactory factory)
      : loop_(loop), options_(options), factory_(std::move(factory)) {}

  // Loop thread. Returns the bound port.
  absl::StatusOr<uint16_t> Listen() {
    endpoint_.clear_access_channels(websocketpp::log::alevel::all);
    endpoint_.clear_error_channels(websocketpp::log::elevel::all);
    websocketpp::lib::error_code ec;
    endpoint_.init_asio(&loop_->impl()->context(), ec);
    if (ec)
      return absl::InternalError(absl::StrCat("init_asio: ", ec.message()));
    endpoint_.set_reuse_addr(true);
    endpoint_.set_max_message_size(options_.max_message_bytes);
    // websocketpp copies this handler into every connection it creates, so
    // the copies of `witness_` count the live connections (see Idle).
    endpoint_.set_tcp_pre_init_handler(
        [witness = witness_,
         no_delay = options_.tcp_no_delay](websocketpp::connection_hdl hdl) {
          if (no_delay) SetNoDelay<Server>(hdl);
        });
    endpoint_.set_open_handler(
        [this](websocketpp::connection_hdl hdl) { OnOpen(hdl); });

    // Resolved here: websocketpp's listen(host, service, ec) resolves with
    // asio's throwing overload.
    const std::string where = absl::StrCat(options_.host, ":", options_.port);
    asio::ip::tcp::resolver resolver(loop_->impl()->context());
    auto results =
        resolver.resolve(options_.host, std::to_string(options_.port), ec);
    if (ec || results.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot resolve ", where, ": ", ec ? ec.message() : "no address"));
    }
    endpoint_.listen(results.begin()->endpoint(), ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("listen on ", where, ": ", ec.message()));
    }
    const asio::ip::tcp::endpoint local = endpoint_.get_local_endpoint(ec);
    if (ec) {
      return absl::InternalError(
          absl::StrCat("local endpoint of ", where, ": ", ec.message()));
    }
    endpoint_.start_accept(ec);
    if (ec) {
      return absl::InternalError(
          absl::StrCat("accept on ", where, ": ", ec.message()));
    }
    return local.port();
  }

  // Any thread but the loop's: waits for every OnClose, at most kStopGrace
  // for the handshakes. On the loop thread it cannot wait: it sends the
  // close frames and ends every connection at once.
  void Stop() {
    links_.StopAll(
        *loop_, [this] { BeginStop(); }, "server stopped", kStopGrace);
  }

  // Loop thread. True once no websocketpp connection of ours exists: each
  // holds a copy of the pre-init handler, which holds `witness_`; the only
  // other holders are this object and the endpoint's own copy.
  bool Idle() const { return witness_.use_count() <= 2; }

 private:
  // Loop thread.
  void OnOpen(websocketpp::connection_hdl hdl) {
    Server::connection_ptr con = ConnectionOf<Server>(hdl);
    websocketpp::lib::error_code ignored;  // closing an open connection
    if (!links_.TryReserve()) {
      con->close(wire::kCloseGoingAway, "server stopping", ignored);
      return;
    }
    std::shared_ptr<WsHandler> handler = factory_();
    if (handler == nullptr) {
      links_.Release(nullptr);
      con->close(wire::kCloseInternalError, "no handler for this connection",
                 ignored);
      return;
    }
    auto link = std::make_shared<ServerLink>(
        loop_, con, std::move(handler),
        [this](ServerLink* done) { links_.Release(done); });
    link->Attach();
    links_.Add(link);
    link->HandleOpen(hdl);
  }

  // Loop thread.
  void BeginStop() {
    links_.BeginClosing();
    websocketpp::lib::error_code ignored;  // not listening any more: fine
    endpoint_.stop_listening(ignored);
    links_.CloseAll(wire::kCloseGoingAway, "server stopping");
  }

  IoLoop* const loop_;
  const WsServerOptions options_;
  const WsServer::HandlerFactory factory_;
  const std::shared_ptr<const char> witness_ = std::make_shared<const char>();
  Server endpoint_;
  LinkSet<ServerLink> links_;
};

void RetireCore(IoLoop* loop, std::shared_ptr<ServerCore> core) {
  ServerCore* raw = core.get();
  loop->impl()->Retire(std::move(core), [raw] { return raw->Idle(); });
}

class WsServerImpl final : public WsServer {
 public:
  WsServerImpl(IoLoop* loop, std::shared_ptr<ServerCore> core, uint16_t port)
      : loop_(loop), core_(std::move(core)), port_(port) {}
  ~WsServerImpl() override {
    Stop();
    RetireCore(loop_, std::move(core_));
  }

  uint16_t port() const override { return port_; }

  void Stop() override {
    absl::MutexLock lock(&stop_mu_);  // a second caller waits for the first
    if (stopped_) return;
    stopped_ = true;
    core_->Stop();
  }

 private:
  IoLoop* const loop_;
  std::shared_ptr<ServerCore> core_;
  const uint16_t port_;
  absl::Mutex stop_mu_;
  bool stopped_ ABSL_GUARDED_BY(stop_mu_) = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<WsServer>> WsServer::Start(
    IoLoop* loop, const WsServerOptions& options, HandlerFactory factory) {
  if (loop == nullptr) return absl::InvalidArgumentError("null loop");
  if (factory == nullptr) return absl::InvalidArgumentError("null factory");
  auto core = std::make_shared<ServerCore>(loop, options, std::move(factory));
  absl::StatusOr<uint16_t> port;
  loop->impl()->RunAndWait([&] { port = core->Listen(); });
  if (!port.ok()) {
    RetireCore(loop, std::move(core));
    return port.status();
  }
  return std::unique_ptr<WsServer>(
      std::make_unique<WsServerImpl>(loop, std::move(core), *port));
}

}  // namespace parley::transport
