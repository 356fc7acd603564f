// WsServer::Start, and the plain (ws://) server instantiation.
#include <memory>
#include <utility>

#include "runtime/transport/ws.h"
#include "runtime/transport/ws_server_core.h"

namespace parley::transport {

absl::StatusOr<std::unique_ptr<WsServer>> WsServer::Start(
    IoLoop* loop, const WsServerOptions& options, HandlerFactory factory) {
  if (loop == nullptr) return absl::InvalidArgumentError("null loop");
  if (factory == nullptr) return absl::InvalidArgumentError("null factory");
  if (options.tls.certificate_chain_file.empty()) {
    return internal::StartServer<ServerConfig>(loop, options,
                                               std::move(factory));
  }
  return internal::StartServer<TlsServerConfig>(loop, options,
                                                std::move(factory));
}

}  // namespace parley::transport
