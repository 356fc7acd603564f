// Byte-level WebSocket transport: the only interface to websocketpp/asio.
//
// It moves whole binary messages and fires timers; it knows nothing of
// Parley envelopes or sessions. Text frames are refused here (close 1003,
// never passed up); messages over the configured size are refused by
// websocketpp before they are buffered whole (close 1009).
//
//   transport::IoLoop loop;                      // starts one I/O thread
//   auto server = transport::WsServer::Start(&loop, {}, factory);
//   uint16_t port = (*server)->port();           // bound on 127.0.0.1:0
//   auto client = transport::WsClient::Create(&loop, {});
//   client->Connect(absl::StrCat("ws://127.0.0.1:", port, "/"), handler);
//
// Thread safety: IoLoop, WsConnection, WsServer and WsClient are thread-safe.
// Every WsHandler callback and every timer runs on the loop's thread.
#ifndef PARLEY_RUNTIME_TRANSPORT_WS_H_
#define PARLEY_RUNTIME_TRANSPORT_WS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "parley/auth.h"
#include "runtime/wire/close_codes.h"

namespace parley::transport {

// A cancellable one-shot timer. Destroying it cancels it.
class Timer {
 public:
  virtual ~Timer() = default;
  // After Cancel returns on the loop thread, the callback will not run.
  virtual void Cancel() = 0;
};

// One I/O thread running an asio io_context. The destructor stops the loop
// and joins the thread; everything using the loop must be gone or stopped
// first.
class IoLoop {
 public:
  IoLoop();
  ~IoLoop();
  IoLoop(const IoLoop&) = delete;
  IoLoop& operator=(const IoLoop&) = delete;

  // Runs `fn` on the loop thread, soon.
  void Post(std::function<void()> fn);
  // Runs `fn` on the loop thread and returns after it has run: directly
  // when called on the loop thread, else posted and waited for.
  void RunAndWait(const std::function<void()>& fn);
  // Runs `fn` on the loop thread after `delay`, unless cancelled first.
  std::unique_ptr<Timer> RunAfter(absl::Duration delay,
                                  std::function<void()> fn);
  bool OnLoopThread() const;

  class Impl;
  Impl* impl() const { return impl_.get(); }

 private:
  std::unique_ptr<Impl> impl_;
};

// One open WebSocket connection.
class WsConnection {
 public:
  virtual ~WsConnection() = default;
  // Queues one binary message. FailedPrecondition once the connection is
  // closing or closed. OK means queued, not delivered: a message queued as
  // the connection dies is lost, as on any socket. Off the loop thread the
  // message is posted to it, so one thread's messages keep their order.
  virtual absl::Status Send(std::string bytes) = 0;
  // Starts the close handshake (idempotent). `reason` is cut to 123 bytes.
  virtual void Close(uint16_t code, std::string reason) = 0;
  // Ends the connection now, without a close handshake (for a peer that
  // stopped answering); OnClose(code, reason) follows on the loop thread.
  virtual void Drop(uint16_t code, std::string reason) = 0;
  // Bytes accepted by Send and not yet handed to the socket (websocketpp's
  // send queue; the batch being written is not counted). Exact on the loop
  // thread; elsewhere the value from the loop's last send or read, and the
  // call asks the loop for a fresh one.
  virtual size_t BufferedAmount() const = 0;
  // "127.0.0.1:54321".
  virtual std::string RemoteEndpoint() const = 0;
  // Server: who the handshake check accepted (remote_address filled in);
  // never null there. Client: null.
  virtual std::shared_ptr<const PeerIdentity> identity() const = 0;
  virtual IoLoop& loop() const = 0;
};

// What happens on one connection; every call on the loop thread.
class WsHandler {
 public:
  virtual ~WsHandler() = default;
  // The connection is open; keep `connection` to send.
  virtual void OnOpen(std::shared_ptr<WsConnection> connection) = 0;
  // One whole binary message, handed over (no copy of it is kept).
  virtual void OnBinary(std::string bytes) = 0;
  // Called exactly once per connection attempt: after OnOpen when an open
  // connection ends (either side closed it, or the socket failed: code
  // wire::kCloseAbnormal), or without OnOpen when the attempt failed:
  // kCloseTlsFailed when the server's certificate failed verification,
  // RefusedCloseCode(status) when the server answered with an HTTP error,
  // else wire::kCloseAbnormal (see runtime/transport/handshake.h).
  virtual void OnClose(uint16_t code, absl::string_view reason) = 0;
};

struct WsServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0 = any free port
  size_t max_message_bytes = 16 << 20;
  // Sets TCP_NODELAY on accepted sockets. Off by default: Nagle batches
  // small frames (measurably more throughput, same request/reply p50).
  bool tcp_no_delay = false;
  // wss:// when tls.certificate_chain_file is set (parley/auth.h).
  TlsOptions tls;
  // The HTTP upgrade (and TLS handshake) must complete within this.
  absl::Duration handshake_timeout = absl::Seconds(5);
  // Upgraded connections held at once (open, or accepted and not yet
  // open); the next upgrade is refused with 503.
  size_t max_connections = 10000;
  // Browsers' Origin header must be one of these (403 otherwise); empty =
  // any. Requests without Origin pass (see OriginAllowed).
  std::vector<std::string> allowed_origins;
  // Accepts or refuses each upgrade; null = accept all (empty principal).
  Authenticator authenticate;
};

class WsServer {
 public:
  using HandlerFactory = std::function<std::shared_ptr<WsHandler>()>;
  // Listens on options.host:options.port. `loop` must outlive the server.
  // InvalidArgument when the TLS files cannot be loaded.
  // `factory` runs on the loop thread, once per connection whose WebSocket
  // handshake succeeded (just before that handler's OnOpen).
  static absl::StatusOr<std::unique_ptr<WsServer>> Start(
      IoLoop* loop, const WsServerOptions& options, HandlerFactory factory);
  virtual ~WsServer() = default;
  // The bound port.
  virtual uint16_t port() const = 0;
  // Stops listening and closes every connection with wire::kCloseGoingAway;
  // returns once every handler has had its OnClose (a peer that does not
  // answer the close handshake within 2 s is dropped: OnClose 1006).
  // Idempotent; the destructor calls it. On the loop thread it cannot wait:
  // it ends every connection at once (OnClose(wire::kCloseGoingAway) each).
  virtual void Stop() = 0;
};

struct WsClientOptions {
  size_t max_message_bytes = 16 << 20;
  absl::Duration open_timeout = absl::Seconds(10);
  // Sets TCP_NODELAY on the dialled socket (see WsServerOptions).
  bool tcp_no_delay = false;
  // For wss:// uris (parley/auth.h).
  TlsOptions tls;
  // Sent with every upgrade request (e.g. {"Authorization", "Bearer x"}).
  std::vector<std::pair<std::string, std::string>> headers;
  // Offered in Sec-WebSocket-Protocol, in this order.
  std::vector<std::string> subprotocols;
};

class WsClient {
 public:
  // `loop` must outlive the client.
  static std::unique_ptr<WsClient> Create(IoLoop* loop,
                                          const WsClientOptions& options);
  virtual ~WsClient() = default;
  // Dials `uri` ("ws://127.0.0.1:port/path" or "wss://..."). A malformed
  // uri returns InvalidArgument; otherwise the outcome reaches `handler`.
  virtual absl::Status Connect(const std::string& uri,
                               std::shared_ptr<WsHandler> handler) = 0;
  // Closes every connection with wire::kCloseGoingAway (attempts still dialling
  // end with OnClose(wire::kCloseGoingAway)) and returns once every handler has
  // had its OnClose; later Connects fail with FailedPrecondition. As
  // WsServer::Stop otherwise, including on the loop thread.
  virtual void Stop() = 0;
};

}  // namespace parley::transport

#endif  // PARLEY_RUNTIME_TRANSPORT_WS_H_
