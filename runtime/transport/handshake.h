// The opening handshake's policy, shared by the server (which refuses) and
// the client (which learns why): Status <-> HTTP status, which refusals a
// client may retry, the Origin allow-list, and the local close codes that
// report a refused attempt. No websocketpp here.
//
//   int http = HttpStatusForRefusal(status.code());      // server
//   absl::Status why = RefusalStatus(401, "wss://...");  // client
//
// Thread safety: pure functions.
#ifndef PARLEY_RUNTIME_TRANSPORT_HANDSHAKE_H_
#define PARLEY_RUNTIME_TRANSPORT_HANDSHAKE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"

namespace parley::transport {

// Local-only close codes (never sent in a close frame) with which an
// attempt that never opened ends, for OnClose:
// TLS failed: RFC 6455 reserves 1015 for exactly this.
inline constexpr uint16_t kCloseTlsFailed = 1015;
// The server answered the upgrade with HTTP status S: 4000 + S (4401,
// 4403, 4503, ...), the convention other WebSocket protocols use.
inline constexpr uint16_t kCloseRefusedBase = 4000;
uint16_t RefusedCloseCode(int http_status);
// The HTTP status inside a refused code, or nullopt for any other code.
absl::optional<int> RefusedHttpStatus(uint16_t close_code);

// Server: the HTTP status that refuses a handshake with `code`
// (parley/auth.h has the table).
int HttpStatusForRefusal(absl::StatusCode code);

// Client: the Status for an attempt the server refused with `http_status`
// (`what` names the url and reason), and whether re-dialling can help:
// 429 and 5xx may pass, the rest will not.
absl::Status RefusalStatus(int http_status, absl::string_view what);
bool RefusalIsRetryable(int http_status);

// True when a handshake with this Origin header may proceed: always when
// `allowed` is empty or `origin` is (non-browser clients send none, and a
// browser always does); else when it equals an entry, ignoring ASCII case.
bool OriginAllowed(absl::string_view origin,
                   const std::vector<std::string>& allowed);

// InvalidArgument for a header a client must not send: a name that is not
// an HTTP token, or a value holding CR, LF or NUL (header injection).
absl::Status ValidateHeaders(
    const std::vector<std::pair<std::string, std::string>>& headers);

}  // namespace parley::transport

#endif  // PARLEY_RUNTIME_TRANSPORT_HANDSHAKE_H_
