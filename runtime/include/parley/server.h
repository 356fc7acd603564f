// parley/server.h — hosts services for WebSocket clients and calls theirs.
//
//   EchoImpl echo;                          // a generated X::Service subclass
//   parley::ServerOptions options;          // 127.0.0.1, any free port
//   parley::Server server(options);
//   PARLEY_CHECK_OK(server.AddService(&echo));
//   PARLEY_CHECK_OK(server.Start());
//   std::cout << "listening on " << server.port() << "\n";
//   ...
//   server.Stop();
//
// A handler reaches the calling client's own services through
// `context.peer` (see parley/rpc.h), e.g. to push a notice back, and learns
// who the client is from `context.identity` (see parley/auth.h).
//
// Exposed to the open internet, set `tls`, `authenticate` and (for
// browser clients) `allowed_origins`; every limit below has a default
// sized for one process serving thousands of clients (docs/SECURITY.md).
//
// Thread safety: AddService before Start; Start, Stop and port are
// thread-safe. Handlers, callbacks and events run on the server's single
// I/O thread.
#ifndef PARLEY_SERVER_H_
#define PARLEY_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "parley/auth.h"
#include "parley/events.h"
#include "parley/options.h"
#include "parley/rpc.h"
#include "parley/stats.h"

namespace parley {

struct ServerOptions {
  // Address to listen on; port 0 picks a free port (see Server::port()).
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  // Largest WebSocket message accepted; larger ones close the connection
  // with 1009 before they are buffered whole.
  size_t max_message_bytes = 16 << 20;
  // Windows, send buffer bounds, backpressure policy, socket high-water
  // mark.
  FlowOptions flow;
  LivenessOptions liveness;
  // How long a session whose connection was lost is kept for the client to
  // resume it; after that its pending calls fail with UNAVAILABLE and a
  // returning client gets a new session.
  absl::Duration session_grace = absl::Seconds(60);
  // Every event of every session; `Event::peer` names the client.
  EventCallback on_event;

  // --- Who may connect (parley/auth.h, docs/SECURITY.md).
  // Serves wss:// when tls.certificate_chain_file is set; Start then fails
  // with InvalidArgument if a TLS file cannot be loaded.
  TlsOptions tls;
  // Accepts or refuses each opening handshake (refusal = its HTTP status);
  // null = accept everyone with an empty principal.
  Authenticator authenticate;
  // Browsers' Origin header must equal one of these (else 403); empty =
  // any origin. Requests without an Origin header pass.
  std::vector<std::string> allowed_origins;

  // --- Limits.
  // The HTTP upgrade (and the TLS handshake) must finish within this, or
  // the socket is closed (slow or idle clients cannot hold sockets).
  absl::Duration handshake_timeout = absl::Seconds(5);
  // A connection must send its HELLO within this after the upgrade, or it
  // is closed with 1008.
  absl::Duration hello_timeout = absl::Seconds(10);
  // Upgraded connections held at once; the next upgrade gets HTTP 503
  // (clients retry with backoff).
  size_t max_connections = 10000;
  // Sessions held at once, including those waiting out session_grace; a
  // HELLO that would start one more gets a fatal RESOURCE_EXHAUSTED ERROR
  // and close 1013 (try again later). Resuming is always allowed.
  size_t max_sessions = 10000;
  // Per session: calls delivered to handlers and not yet finished. A call
  // above it is answered at once with RESOURCE_EXHAUSTED (not run).
  size_t max_pending_requests = 1024;
};

class Server {
 public:
  explicit Server(ServerOptions options);
  // Stops the server if it is running.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Hosts `service` (it must outlive the Server). Before Start only.
  // AlreadyExists for a second service of the same name.
  absl::Status AddService(Service* service);

  // Listens and serves. Unavailable when the address cannot be bound;
  // FailedPrecondition when started twice.
  absl::Status Start();

  // The bound port, once started.
  uint16_t port() const;

  // A snapshot of every session the server holds (connected, or within
  // its grace period); callable from any thread, handlers included.
  std::vector<SessionStats> stats() const;

  // Ends every session (GOODBYE, pending calls fail with Cancelled),
  // closes the connections and joins the I/O thread. Idempotent; must not
  // be called from a handler.
  void Stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace parley

#endif  // PARLEY_SERVER_H_
