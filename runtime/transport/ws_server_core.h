// WsServer over websocketpp's asio server, for the plain and the TLS
// config (internal: included by ws_server.cc and ws_server_tls.cc, one
// instantiation each, so each websocketpp endpoint compiles once).
//
// Every upgrade passes Admit (Origin allow-list, max_connections, the
// Authenticator) before websocketpp answers 101; a refusal is answered
// with its HTTP status and the connection never reaches a handler.
//
// Lifetime: websocketpp's endpoint hands raw `this` pointers to asio
// handlers and to every connection, so the ServerCore that owns it is
// retired to the loop (IoLoop::Impl::Retire) and destroyed only once no
// connection of it exists any more.
#ifndef PARLEY_RUNTIME_TRANSPORT_WS_SERVER_CORE_H_
#define PARLEY_RUNTIME_TRANSPORT_WS_SERVER_CORE_H_

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "asio/ip/tcp.hpp"
#include "runtime/transport/handshake.h"
#include "runtime/transport/ws.h"
#include "runtime/transport/ws_config.h"
#include "runtime/transport/ws_link.h"
#include "runtime/transport/ws_loop_impl.h"
#include "runtime/transport/ws_tls.h"
#include "runtime/util/mutex.h"
#include "websocketpp/server.hpp"

namespace parley::transport::internal {

// How long Stop waits for peers to answer the close handshake before it
// drops their sockets.
inline constexpr absl::Duration kServerStopGrace = absl::Seconds(2);

template <typename Config>
class ServerCore {
 public:
  using Server = websocketpp::server<Config>;
  using ServerLink = WsLink<Server>;

  ServerCore(IoLoop* loop, const WsServerOptions& options,
             WsServer::HandlerFactory factory)
      : loop_(loop), options_(options), factory_(std::move(factory)) {}

  // Loop thread. Returns the bound port.
  absl::StatusOr<uint16_t> Listen() {
    endpoint_.clear_access_channels(websocketpp::log::alevel::all);
    endpoint_.clear_error_channels(websocketpp::log::elevel::all);
    if constexpr (kIsTls<Config>) {
      absl::StatusOr<TlsContextPtr> context =
          MakeServerTlsContext(options_.tls);
      if (!context.ok()) return context.status();
      endpoint_.set_tls_init_handler(
          [context = *context](websocketpp::connection_hdl) {
            return context;
          });
    }
    websocketpp::lib::error_code ec;
    endpoint_.init_asio(&loop_->impl()->context(), ec);
    if (ec)
      return absl::InternalError(absl::StrCat("init_asio: ", ec.message()));
    endpoint_.set_reuse_addr(true);
    endpoint_.set_max_message_size(options_.max_message_bytes);
    endpoint_.set_open_handshake_timeout(std::max<int64_t>(
        1, absl::ToInt64Milliseconds(options_.handshake_timeout)));
    // websocketpp copies this handler into every connection it creates, so
    // the copies of `witness_` count the live connections (see Idle).
    endpoint_.set_tcp_pre_init_handler(
        [witness = witness_,
         no_delay = options_.tcp_no_delay](websocketpp::connection_hdl hdl) {
          if (no_delay) SetNoDelay<Server>(hdl);
        });
    endpoint_.set_validate_handler(
        [this](websocketpp::connection_hdl hdl) { return Admit(hdl); });
    // An admitted upgrade that fails before it opens.
    endpoint_.set_fail_handler([this](websocketpp::connection_hdl hdl) {
      admitted_.erase(hdl.lock().get());
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

  // Any thread but the loop's: waits for every OnClose, at most
  // kServerStopGrace for the handshakes. On the loop thread it cannot
  // wait: it sends the close frames and ends every connection at once.
  void Stop() {
    links_.StopAll(
        *loop_, [this] { BeginStop(); }, "server stopped", kServerStopGrace);
  }

  // Loop thread. True once no websocketpp connection of ours exists: each
  // holds a copy of the pre-init handler, which holds `witness_`; the only
  // other holders are this object and the endpoint's own copy.
  bool Idle() const { return witness_.use_count() <= 2; }

 private:
  using ConnectionPtr = typename Server::connection_ptr;

  // Loop thread: websocketpp's validate handler. False refuses the upgrade
  // with the status set here.
  bool Admit(websocketpp::connection_hdl hdl) {
    ConnectionPtr con = ConnectionOf<Server>(hdl);
    HandshakeRequest request = RequestOf(*con);
    if (!OriginAllowed(request.Header("origin"), options_.allowed_origins)) {
      return Refuse(*con, 403, "Origin not allowed");
    }
    if (links_.size() + admitted_.size() >= options_.max_connections) {
      return Refuse(*con, 503, "server is at max_connections");
    }
    PeerIdentity identity;
    if (options_.authenticate != nullptr) {
      absl::StatusOr<PeerIdentity> accepted = options_.authenticate(request);
      if (!accepted.ok()) {
        return Refuse(*con, HttpStatusForRefusal(accepted.status().code()),
                      std::string(accepted.status().message()));
      }
      identity = *std::move(accepted);
    }
    if (!identity.subprotocol.empty()) {
      websocketpp::lib::error_code ec;
      con->select_subprotocol(identity.subprotocol, ec);
      if (ec)
        return Refuse(*con, 500,
                      "authenticator chose a subprotocol "
                      "the client did not offer");
    }
    identity.remote_address = std::move(request.remote_address);
    admitted_[con.get()] =
        std::make_shared<const PeerIdentity>(std::move(identity));
    return true;
  }

  static HandshakeRequest RequestOf(typename Server::connection_type& con) {
    HandshakeRequest request;
    const std::string& resource = con.get_resource();
    const size_t question = resource.find('?');
    request.path = resource.substr(0, question);
    if (question != std::string::npos) {
      request.query = resource.substr(question + 1);
    }
    for (const auto& [name, value] : con.get_request().get_headers()) {
      request.headers[absl::AsciiStrToLower(name)] = value;
    }
    request.remote_address = con.get_remote_endpoint();
    request.subprotocols = con.get_requested_subprotocols();
    request.secure = kIsTls<Config>;
    return request;
  }

  static bool Refuse(typename Server::connection_type& con, int status,
                     const std::string& body) {
    con.set_status(static_cast<websocketpp::http::status_code::value>(status));
    con.set_body(body);
    return false;
  }

  // Loop thread.
  void OnOpen(websocketpp::connection_hdl hdl) {
    ConnectionPtr con = ConnectionOf<Server>(hdl);
    std::shared_ptr<const PeerIdentity> identity;
    if (auto it = admitted_.find(con.get()); it != admitted_.end()) {
      identity = std::move(it->second);
      admitted_.erase(it);
    }
    websocketpp::lib::error_code ignored;  // closing an open connection
    if (!links_.TryReserve()) {
      con->close(wire::kCloseGoingAway, "server stopping", ignored);
      return;
    }
    std::shared_ptr<WsHandler> handler = factory_();
    if (handler == nullptr || identity == nullptr) {
      links_.Release(nullptr);
      con->close(wire::kCloseInternalError, "no handler for this connection",
                 ignored);
      return;
    }
    auto link = std::make_shared<ServerLink>(
        loop_, con, std::move(handler),
        [this](ServerLink* done) { links_.Release(done); });
    link->set_identity(std::move(identity));
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
  // Loop thread: upgrades admitted and not yet open, by connection.
  absl::flat_hash_map<const void*, std::shared_ptr<const PeerIdentity>>
      admitted_;
};

template <typename Config>
class WsServerImpl final : public WsServer {
 public:
  WsServerImpl(IoLoop* loop, std::shared_ptr<ServerCore<Config>> core,
               uint16_t port)
      : loop_(loop), core_(std::move(core)), port_(port) {}
  ~WsServerImpl() override {
    Stop();
    Retire(loop_, std::move(core_));
  }

  uint16_t port() const override { return port_; }

  void Stop() override {
    util::MutexLock lock(&stop_mu_);  // a second caller waits for the first
    if (stopped_) return;
    stopped_ = true;
    core_->Stop();
  }

  static void Retire(IoLoop* loop, std::shared_ptr<ServerCore<Config>> core) {
    ServerCore<Config>* raw = core.get();
    loop->impl()->Retire(std::move(core), [raw] { return raw->Idle(); });
  }

 private:
  IoLoop* const loop_;
  std::shared_ptr<ServerCore<Config>> core_;
  const uint16_t port_;
  util::Mutex stop_mu_;
  bool stopped_ ABSL_GUARDED_BY(stop_mu_) = false;
};

// WsServer::Start for one config.
template <typename Config>
absl::StatusOr<std::unique_ptr<WsServer>> StartServer(
    IoLoop* loop, const WsServerOptions& options,
    WsServer::HandlerFactory factory) {
  auto core =
      std::make_shared<ServerCore<Config>>(loop, options, std::move(factory));
  absl::StatusOr<uint16_t> port;
  loop->impl()->RunAndWait([&] { port = core->Listen(); });
  if (!port.ok()) {
    WsServerImpl<Config>::Retire(loop, std::move(core));
    return port.status();
  }
  return std::unique_ptr<WsServer>(
      std::make_unique<WsServerImpl<Config>>(loop, std::move(core), *port));
}

// Instantiated in ws_server_tls.cc only.
extern template absl::StatusOr<std::unique_ptr<WsServer>>
StartServer<TlsServerConfig>(IoLoop*, const WsServerOptions&,
                             WsServer::HandlerFactory);

}  // namespace parley::transport::internal

#endif  // PARLEY_RUNTIME_TRANSPORT_WS_SERVER_CORE_H_
