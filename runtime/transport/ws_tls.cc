#include "runtime/transport/ws_tls.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "asio/ip/address.hpp"
#include "openssl/ssl.h"
#include "openssl/x509v3.h"

namespace parley::transport {
namespace {

// A context that speaks TLS 1.2 or later only.
absl::StatusOr<TlsContextPtr> NewBareContext(
    asio::ssl::context::method method) {
  auto context = std::make_shared<asio::ssl::context>(method);
  asio::error_code ec;
  context->set_options(
      asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
          asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
          asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use,
      ec);
  if (ec || SSL_CTX_set_min_proto_version(context->native_handle(),
                                          TLS1_2_VERSION) != 1) {
    return absl::InternalError(
        absl::StrCat("cannot restrict TLS to 1.2+: ", ec.message()));
  }
  return context;
}

absl::Status FileError(absl::string_view what, const std::string& file,
                       const asio::error_code& ec) {
  return absl::InvalidArgumentError(
      absl::StrCat("TLS ", what, " \"", file, "\": ", ec.message()));
}

// Our own certificate chain and key, when configured.
absl::Status LoadIdentity(asio::ssl::context& context, const TlsOptions& tls) {
  asio::error_code ec;
  if (tls.certificate_chain_file.empty()) return absl::OkStatus();
  if (context.use_certificate_chain_file(tls.certificate_chain_file, ec); ec) {
    return FileError("certificate chain", tls.certificate_chain_file, ec);
  }
  if (tls.private_key_file.empty()) {
    return absl::InvalidArgumentError(
        "TLS certificate_chain_file is set but private_key_file is not");
  }
  if (context.use_private_key_file(tls.private_key_file,
                                   asio::ssl::context::pem, ec);
      ec) {
    return FileError("private key", tls.private_key_file, ec);
  }
  return absl::OkStatus();
}

// A TLS 1.2+ context holding our own certificate, when configured.
absl::StatusOr<TlsContextPtr> NewContext(asio::ssl::context::method method,
                                         const TlsOptions& tls) {
  absl::StatusOr<TlsContextPtr> context = NewBareContext(method);
  if (!context.ok()) return context.status();
  if (absl::Status loaded = LoadIdentity(**context, tls); !loaded.ok()) {
    return loaded;
  }
  return context;
}

}  // namespace

absl::StatusOr<TlsContextPtr> MakeServerTlsContext(const TlsOptions& tls) {
  absl::StatusOr<TlsContextPtr> context =
      NewContext(asio::ssl::context::tls_server, tls);
  if (!context.ok()) return context.status();
  if (!tls.ca_file.empty()) {
    asio::error_code ec;
    if ((*context)->load_verify_file(tls.ca_file, ec); ec) {
      return FileError("CA file", tls.ca_file, ec);
    }
    (*context)->set_verify_mode(
        asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert, ec);
  }
  return context;
}

absl::StatusOr<TlsContextPtr> MakeClientTlsContext(const TlsOptions& tls) {
  absl::StatusOr<TlsContextPtr> context =
      NewContext(asio::ssl::context::tls_client, tls);
  if (!context.ok()) return context.status();
  asio::error_code ec;
  if (tls.ca_file.empty()) {
    if ((*context)->set_default_verify_paths(ec); ec) {
      return absl::InternalError(
          absl::StrCat("TLS system trust store: ", ec.message()));
    }
  } else if ((*context)->load_verify_file(tls.ca_file, ec); ec) {
    return FileError("CA file", tls.ca_file, ec);
  }
  return context;
}

void VerifyServerAs(TlsStream& stream, const std::string& host, bool verify,
                    std::shared_ptr<std::string> refusal) {
  asio::error_code ec;  // these setters fail only on a null SSL
  if (!verify) {
    stream.set_verify_mode(asio::ssl::verify_none, ec);
    return;
  }
  X509_VERIFY_PARAM* param = SSL_get0_param(stream.native_handle());
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  asio::error_code not_ip;
  asio::ip::make_address(host, not_ip);
  if (not_ip) {
    X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
  } else {
    X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
  }
  stream.set_verify_mode(asio::ssl::verify_peer, ec);
  stream.set_verify_callback(
      [refusal = std::move(refusal)](bool preverified,
                                     asio::ssl::verify_context& context) {
        if (!preverified && refusal->empty()) {
          X509_STORE_CTX* store = context.native_handle();
          *refusal =
              X509_verify_cert_error_string(X509_STORE_CTX_get_error(store));
        }
        return preverified;
      },
      ec);
}

}  // namespace parley::transport
