// The TLS (wss://) client instantiation (its own translation unit: a
// websocketpp endpoint costs 10-20 s to compile).
#include <memory>

#include "runtime/transport/ws_client_core.h"

namespace parley::transport::internal {

std::shared_ptr<ClientCoreBase> MakeTlsClientCore(
    IoLoop* loop, const WsClientOptions& options) {
  return std::make_shared<ClientCore<TlsClientConfig>>(loop, options);
}

}  // namespace parley::transport::internal
