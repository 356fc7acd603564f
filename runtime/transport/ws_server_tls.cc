// The TLS (wss://) server instantiation (its own translation unit: a
// websocketpp endpoint costs 10-20 s to compile).
#include "runtime/transport/ws_server_core.h"

namespace parley::transport::internal {

template absl::StatusOr<std::unique_ptr<WsServer>> StartServer<TlsServerConfig>(
    IoLoop*, const WsServerOptions&, WsServer::HandlerFactory);

}  // namespace parley::transport::internal
