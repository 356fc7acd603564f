// parley/auth.h — who may open a session: TLS settings, the server's
// handshake check and the identity its handlers see.
//
//   parley::ServerOptions options;
//   options.tls.certificate_chain_file = "server.pem";   // serve wss://
//   options.tls.private_key_file = "server.key";
//   options.authenticate = [](const parley::HandshakeRequest& request)
//       -> absl::StatusOr<parley::PeerIdentity> {
//     std::string user = LookUpToken(request.Header("authorization"));
//     if (user.empty()) return absl::UnauthenticatedError("bad token");  // 401
//     parley::PeerIdentity identity;
//     identity.principal = user;
//     return identity;
//   };
//   // In a handler: context.identity->principal names the caller.
//
//   parley::ClientOptions client;
//   client.url = "wss://chat.example:7000/";
//   client.headers = {{"Authorization", "Bearer s3cret"}};
//
// A refusal's status code becomes the HTTP status of the refused opening
// handshake; the client turns it back into a Status (docs/SECURITY.md):
//   Unauthenticated 401, PermissionDenied 403, InvalidArgument 400,
//   NotFound 404, ResourceExhausted 429, Unavailable 503, anything else 403.
// The client gives up at once on 400, 401, 403 and 404 (retrying cannot
// help) and keeps re-dialling on 429 and 503.
//
// Thread safety: plain structs. The Authenticator runs on the server's I/O
// thread, once per opening handshake; it must not block.
#ifndef PARLEY_AUTH_H_
#define PARLEY_AUTH_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace parley {

// TLS (wss://) settings. TLS 1.2 is the lowest version either side
// accepts.
struct TlsOptions {
  // This side's certificate chain and private key, PEM files. A server
  // serves wss:// when certificate_chain_file is set (the key is then
  // required); a client presents them when set (mutual TLS).
  std::string certificate_chain_file;
  std::string private_key_file;
  // CA certificates (PEM file) to verify the peer with. Client: empty = the
  // system's default trust store. Server: set = every client must present
  // a certificate signed by one of them; empty = clients are not asked.
  std::string ca_file;
  // Client: verify the server's certificate chain and that it names the
  // url's host (DNS name or IP address). On by default; off, wss:// is as
  // open to a man in the middle as ws://. Servers ignore it.
  bool verify_peer = true;
};

// A client's opening handshake (its HTTP upgrade request), as the
// server's Authenticator sees it.
struct HandshakeRequest {
  // "/chat" (without the query) and "token=x&y=1" (after '?', as sent:
  // not percent-decoded; empty if none).
  std::string path;
  std::string query;
  // Every request header, names lower-cased.
  std::map<std::string, std::string> headers;
  // "127.0.0.1:54321".
  std::string remote_address;
  // Sec-WebSocket-Protocol values, in the client's order.
  std::vector<std::string> subprotocols;
  // True over TLS.
  bool secure = false;

  // The value of header `name` (any case), or "" when absent.
  std::string Header(absl::string_view name) const;
};

// Who a session was opened by. The server fills remote_address; the
// Authenticator chooses the rest.
struct PeerIdentity {
  // The authenticator's name for the client ("alice"); empty without an
  // authenticator. A session may only be resumed by a connection accepted
  // with the same principal.
  std::string principal;
  // The subprotocol to select; empty = none. It must be one the client
  // offered, or the handshake is refused (500).
  std::string subprotocol;
  // The address of the connection that opened the session.
  std::string remote_address;
};

// Accepts a handshake with an identity, or refuses it (code -> HTTP status
// as above; the message is the response body).
using Authenticator =
    std::function<absl::StatusOr<PeerIdentity>(const HandshakeRequest&)>;

}  // namespace parley

#endif  // PARLEY_AUTH_H_
