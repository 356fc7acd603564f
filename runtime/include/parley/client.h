// parley/client.h — one session with a Parley server over a WebSocket.
//
//   parley::ClientOptions options;
//   options.url = "ws://127.0.0.1:7000/";
//   parley::Client client(options);
//   PARLEY_CHECK_OK(client.AddService(&my_listener));  // optional
//   PARLEY_CHECK_OK(client.Start());
//   echo::Echo::Stub stub(client.channel());
//   absl::StatusOr<echo::Shouted> r = stub.ShoutBlocking(words);
//   client.Stop();
//
// Calls made while not connected are queued (bounded) and sent once a
// handshake completes. An unexpected loss of the connection is followed by
// re-dials on the `reconnect` schedule; the session resumes and nothing
// accepted is lost or delivered twice (see docs/PROTOCOL.md). A refusal
// that re-dialling cannot cure ends the client instead: a server
// certificate that fails verification (Unauthenticated), or an upgrade the
// server refused with HTTP 400, 401, 403 or 404 (InvalidArgument,
// Unauthenticated, PermissionDenied, NotFound): WaitConnected returns it
// and kStopped carries it (docs/SECURITY.md).
//
// Thread safety: AddService before Start; everything else is thread-safe.
// Handlers, callbacks and events run on the client's single I/O thread.
#ifndef PARLEY_CLIENT_H_
#define PARLEY_CLIENT_H_

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "parley/auth.h"
#include "parley/events.h"
#include "parley/options.h"
#include "parley/rpc.h"
#include "parley/stats.h"

namespace parley {

struct ClientOptions {
  // "ws://host:port/path", or "wss://host:port/path" for TLS.
  std::string url;
  // Largest WebSocket message accepted from the server.
  size_t max_message_bytes = 16 << 20;
  // Time allowed for the TCP connect and WebSocket opening handshake.
  absl::Duration connect_timeout = absl::Seconds(10);
  // Re-dialling after an unexpected loss of the connection.
  ReconnectOptions reconnect;
  // Windows, send buffer bounds, backpressure policy, socket high-water
  // mark.
  FlowOptions flow;
  // A durable buffer (off unless buffer.dir is set). With one, calls are
  // accepted only after Start (which opens it).
  DurableBufferOptions buffer;
  LivenessOptions liveness;
  EventCallback on_event;

  // --- Identity (parley/auth.h, docs/SECURITY.md).
  // For wss:// urls: the server's certificate is verified against
  // tls.ca_file (default: the system's trust store) and the url's host
  // unless tls.verify_peer is false; optional client certificate.
  TlsOptions tls;
  // Sent with every upgrade request, e.g. {{"Authorization", "Bearer x"}}.
  // Start refuses with InvalidArgument a name that is not an HTTP token or
  // a value holding CR, LF or NUL.
  std::vector<std::pair<std::string, std::string>> headers;
  // Offered in Sec-WebSocket-Protocol, in this order.
  std::vector<std::string> subprotocols;
};

class Client {
 public:
  explicit Client(ClientOptions options);
  // Stops the client if it is running.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Hosts `service` for the server to call (it must outlive the Client).
  // Before Start only.
  absl::Status AddService(Service* service);

  // Opens the durable buffer, if any (FailedPrecondition naming the pid
  // when another process holds it, DataLoss naming file and offset for a
  // damaged log; its pending calls are queued to be sent again), then
  // starts dialling. InvalidArgument for a malformed url, a bad header or
  // an unreadable TLS file; the connection's outcome arrives as events (or
  // through WaitConnected).
  absl::Status Start();

  // Blocks until the session is open: OK; Unavailable once the client gave
  // up reconnecting (reconnect.max_attempts); the refusal that ended it
  // (see above); DeadlineExceeded after `timeout`, naming the last
  // connection error.
  absl::Status WaitConnected(absl::Duration timeout);

  // The calling end for generated stubs; valid for the Client's life.
  std::shared_ptr<Channel> channel() const;

  // A snapshot of the session's counters (window, queue, buffered bytes).
  SessionStats stats() const;

  // Says GOODBYE, fails pending calls with Cancelled, closes the
  // connection and joins the I/O thread. Idempotent; not from a handler.
  void Stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace parley

#endif  // PARLEY_CLIENT_H_
