// WsClient's dialling over websocketpp's asio client, for the plain and
// the TLS config (internal: included by ws_client.cc and
// ws_client_tls.cc, one instantiation each).
//
// Lifetime: as for the server (ws_server_core.h), a ClientCore owning the
// websocketpp endpoint is retired to the loop and destroyed only once none
// of its connections exists.
#ifndef PARLEY_RUNTIME_TRANSPORT_WS_CLIENT_CORE_H_
#define PARLEY_RUNTIME_TRANSPORT_WS_CLIENT_CORE_H_

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "runtime/transport/ws.h"
#include "runtime/transport/ws_config.h"
#include "runtime/transport/ws_link.h"
#include "runtime/transport/ws_loop_impl.h"
#include "runtime/transport/ws_tls.h"
#include "websocketpp/client.hpp"
#include "websocketpp/uri.hpp"

namespace parley::transport::internal {

// How long Stop waits for servers to answer the close handshake before it
// drops the sockets.
inline constexpr absl::Duration kClientStopGrace = absl::Seconds(2);

// One endpoint's worth of dialling; WsClient holds one per scheme.
class ClientCoreBase {
 public:
  virtual ~ClientCoreBase() = default;
  // As WsClient::Connect, for a uri already parsed and of this scheme.
  virtual absl::Status Connect(const std::string& uri,
                               std::shared_ptr<WsHandler> handler) = 0;
  virtual void Stop() = 0;
  // Loop thread: no websocketpp connection of ours exists.
  virtual bool Idle() const = 0;
};

template <typename Config>
class ClientCore final : public ClientCoreBase {
 public:
  using Client = websocketpp::client<Config>;
  using ClientLink = WsLink<Client>;

  ClientCore(IoLoop* loop, const WsClientOptions& options)
      : loop_(loop),
        options_(options),
        tls_context_(kIsTls<Config> ? MakeClientTlsContext(options.tls)
                                    : TlsContextPtr()) {
    // Nothing runs on the endpoint yet, so setting it up here is safe.
    endpoint_.clear_access_channels(websocketpp::log::alevel::all);
    endpoint_.clear_error_channels(websocketpp::log::elevel::all);
    websocketpp::lib::error_code ec;
    endpoint_.init_asio(&loop->impl()->context(), ec);  // fails only twice
    endpoint_.set_max_message_size(options.max_message_bytes);
    // Covers the HTTP upgrade; DNS and TCP connect have websocketpp's fixed
    // 5 s limits (config timeout_dns_resolve / timeout_connect).
    endpoint_.set_open_handshake_timeout(
        absl::ToInt64Milliseconds(options.open_timeout));
    if constexpr (kIsTls<Config>) {
      // Runs as get_connection creates the socket; an unusable context
      // never gets that far (Connect refuses first).
      endpoint_.set_tls_init_handler(
          [context = tls_context_.value_or(nullptr)](
              websocketpp::connection_hdl) { return context; });
    }
    // Copied into every connection: the copies count them (see Idle).
    endpoint_.set_tcp_pre_init_handler(
        [witness = witness_,
         no_delay = options.tcp_no_delay](websocketpp::connection_hdl hdl) {
          if (no_delay) SetNoDelay<Client>(hdl);
        });
  }

  absl::Status Connect(const std::string& uri,
                       std::shared_ptr<WsHandler> handler) override {
    if (!tls_context_.ok()) return tls_context_.status();
    if (!links_.TryReserve()) {
      return absl::FailedPreconditionError("WsClient is stopped");
    }
    // Always posted, so the handler never runs inside Connect.
    loop_->Post([this, uri, handler = std::move(handler)]() mutable {
      Dial(uri, std::move(handler));
    });
    return absl::OkStatus();
  }

  // As ServerCore::Stop.
  void Stop() override {
    links_.BeginClosing();
    links_.StopAll(
        *loop_,
        [this] { links_.CloseAll(wire::kCloseGoingAway, "client stopping"); },
        "client stopped", kClientStopGrace);
  }

  // Loop thread; as ServerCore::Idle.
  bool Idle() const override { return witness_.use_count() <= 2; }

 private:
  // Loop thread. Owns one reserved slot of links_.
  void Dial(const std::string& uri, std::shared_ptr<WsHandler> handler) {
    if (links_.closing()) {
      links_.Release(nullptr);
      handler->OnClose(wire::kCloseGoingAway, "client stopped before dialling");
      return;
    }
    websocketpp::lib::error_code ec;
    typename Client::connection_ptr con = endpoint_.get_connection(uri, ec);
    if (ec) {
      links_.Release(nullptr);
      handler->OnClose(wire::kCloseAbnormal,
                       absl::StrCat("connect failed: ", ec.message()));
      return;
    }
    // Names and values were checked by the caller (ValidateHeaders).
    for (const auto& [name, value] : options_.headers) {
      con->append_header(name, value);
    }
    for (const std::string& subprotocol : options_.subprotocols) {
      con->add_subprotocol(subprotocol, ec);
    }
    auto link = std::make_shared<ClientLink>(
        loop_, con, std::move(handler),
        [this](ClientLink* done) { links_.Release(done); });
    if constexpr (kIsTls<Config>) {
      auto refusal = std::make_shared<std::string>();
      link->set_tls_refusal(refusal);
      VerifyServerAs(con->get_socket(), con->get_host(),
                     options_.tls.verify_peer, std::move(refusal));
    }
    link->Attach();
    con->set_open_handler(
        [link](websocketpp::connection_hdl hdl) { link->HandleOpen(hdl); });
    links_.Add(link);
    endpoint_.connect(con);
  }

  IoLoop* const loop_;
  const WsClientOptions options_;
  const std::shared_ptr<const char> witness_ = std::make_shared<const char>();
  // TLS only (null otherwise); an error fails every Connect.
  const absl::StatusOr<TlsContextPtr> tls_context_;
  Client endpoint_;
  LinkSet<ClientLink> links_;
};

// The TLS core; defined in ws_client_tls.cc.
std::shared_ptr<ClientCoreBase> MakeTlsClientCore(
    IoLoop* loop, const WsClientOptions& options);

}  // namespace parley::transport::internal

#endif  // PARLEY_RUNTIME_TRANSPORT_WS_CLIENT_CORE_H_
