// OpenSSL contexts for wss:// (internal to the transport: pulls in
// asio::ssl). TLS 1.2 is the lowest version offered or accepted.
//
//   auto context = MakeServerTlsContext(options.tls);   // once per server
//   auto context = MakeClientTlsContext(options.tls);   // once per client
//   VerifyServerAs(stream, "example.org", error_slot);  // per connection
//
// Thread safety: the functions are thread-safe; a context is shared by
// the connections of one endpoint, all on its loop thread.
#ifndef PARLEY_RUNTIME_TRANSPORT_WS_TLS_H_
#define PARLEY_RUNTIME_TRANSPORT_WS_TLS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "asio/ip/tcp.hpp"
#include "asio/ssl/context.hpp"
#include "asio/ssl/stream.hpp"
#include "parley/auth.h"

namespace parley::transport {

using TlsContextPtr = std::shared_ptr<asio::ssl::context>;
using TlsStream = asio::ssl::stream<asio::ip::tcp::socket>;

// Loads the certificate chain and key (both required) and, when
// tls.ca_file is set, demands client certificates signed by it.
// InvalidArgument naming the file that cannot be used.
absl::StatusOr<TlsContextPtr> MakeServerTlsContext(const TlsOptions& tls);

// Trusts tls.ca_file (or the system store when empty) and presents the
// client certificate when one is set. InvalidArgument naming a bad file.
absl::StatusOr<TlsContextPtr> MakeClientTlsContext(const TlsOptions& tls);

// Per client connection, before its handshake: unless verification is
// off, the server's certificate must chain to a trusted CA and name
// `host` (a DNS name or an IP address). The first reason a certificate was
// refused ("hostname mismatch", "self-signed certificate", ...) is stored
// in `*refusal`, which must stay alive as long as the stream.
void VerifyServerAs(TlsStream& stream, const std::string& host, bool verify,
                    std::shared_ptr<std::string> refusal);

}  // namespace parley::transport

#endif  // PARLEY_RUNTIME_TRANSPORT_WS_TLS_H_
