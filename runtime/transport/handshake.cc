#include "runtime/transport/handshake.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "parley/auth.h"

namespace parley {

std::string HandshakeRequest::Header(absl::string_view name) const {
  auto it = headers.find(absl::AsciiStrToLower(name));
  return it == headers.end() ? std::string() : it->second;
}

namespace transport {

uint16_t RefusedCloseCode(int http_status) {
  return static_cast<uint16_t>(kCloseRefusedBase + http_status);
}

absl::optional<int> RefusedHttpStatus(uint16_t close_code) {
  if (close_code < kCloseRefusedBase + 100 ||
      close_code >= kCloseRefusedBase + 600) {
    return absl::nullopt;
  }
  return close_code - kCloseRefusedBase;
}

int HttpStatusForRefusal(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 403;
  }
}

absl::Status RefusalStatus(int http_status, absl::string_view what) {
  switch (http_status) {
    case 400:
      return absl::InvalidArgumentError(what);
    case 401:
      return absl::UnauthenticatedError(what);
    case 403:
      return absl::PermissionDeniedError(what);
    case 404:
      return absl::NotFoundError(what);
    case 429:
      return absl::ResourceExhaustedError(what);
    default:
      return RefusalIsRetryable(http_status)
                 ? absl::UnavailableError(what)
                 : absl::FailedPreconditionError(what);
  }
}

bool RefusalIsRetryable(int http_status) {
  return http_status == 429 || http_status >= 500;
}

bool OriginAllowed(absl::string_view origin,
                   const std::vector<std::string>& allowed) {
  if (allowed.empty() || origin.empty()) return true;
  for (const std::string& entry : allowed) {
    if (absl::EqualsIgnoreCase(origin, entry)) return true;
  }
  return false;
}

absl::Status ValidateHeaders(
    const std::vector<std::pair<std::string, std::string>>& headers) {
  constexpr absl::string_view kTokenPunctuation = "!#$%&'*+-.^_`|~";
  for (const auto& [name, value] : headers) {
    bool token = !name.empty();
    for (char c : name) {
      token &= absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
               absl::StrContains(kTokenPunctuation, c);
    }
    if (!token) {
      return absl::InvalidArgumentError(absl::StrCat(
          "header name \"", absl::CEscape(name), "\" is not an HTTP token"));
    }
    if (value.find_first_of(std::string("\r\n\0", 3)) != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("value of header ", name, " holds CR, LF or NUL"));
    }
  }
  return absl::OkStatus();
}

}  // namespace transport
}  // namespace parley
