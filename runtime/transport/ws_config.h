// websocketpp configurations for Parley's transport (internal: only the
// transport's .cc files include this, it pulls in websocketpp and asio).
//
// Every websocketpp call Parley makes runs on the IoLoop thread, so the
// stock concurrency policy's mutexes are uncontended.
#ifndef PARLEY_RUNTIME_TRANSPORT_WS_CONFIG_H_
#define PARLEY_RUNTIME_TRANSPORT_WS_CONFIG_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "websocketpp/config/asio.hpp"
#include "websocketpp/config/asio_client.hpp"
#include "websocketpp/config/asio_no_tls.hpp"
#include "websocketpp/config/asio_no_tls_client.hpp"
#include "websocketpp/frame.hpp"
#include "websocketpp/processors/hybi13.hpp"

namespace parley::transport {

// Masking-key source for client frames (RFC 6455 §5.3: keys must be
// unpredictable to whoever chooses the payload, so an intermediary cannot
// be fed bytes of the attacker's choosing).
//
// The stock client config draws every key from std::random_device (RDSEED,
// ~24 µs a call here), which caps a client near 41k messages/s. This one
// reads OpenSSL's DRBG (a CSPRNG, unlike mt19937, whose whole state can be
// recovered from 624 outputs, i.e. from the masks visible on the wire) a
// kilobyte at a time into a thread-local buffer: a few ns a word.
//
// websocketpp keeps ONE rng_type object per endpoint and hands every
// connection a reference to it, and connections call it from whichever
// thread sends; so the buffer is thread-local: no lock, no sharing.
struct MaskRng {
  uint32_t operator()() const;
};

// Server: the stock no-TLS asio config (its server never masks; rng
// unused), a type of its own so that unmasking can be specialised below.
struct ServerConfig : public websocketpp::config::asio {};

// Client: the stock no-TLS asio client config with the fast mask source.
struct ClientConfig : public websocketpp::config::asio_client {
  using rng_type = MaskRng;
};

// out[i] = in[i] ^ key[i % 4] for i < n, eight bytes at a time; `out` may
// equal `in`. websocketpp 0.8.2 masks every client frame a byte at a time
// (hybi13::masked_copy, "TODO: SIMD masking"), which cost a client about
// as much CPU per payload byte as everything else together, and a server
// unmasks every received frame the same way (process_payload_bytes;
// callgrind: docs/PERFORMANCE.md). Both use this instead (ws_mask.cc),
// with and without TLS.
void MaskCopy(const char* in, size_t n, char* out, const uint8_t key[4]);

// How long a TLS connection whose WebSocket close handshake is over waits
// for the peer's close_notify (websocketpp's default: 5 s). Nothing is
// left to read by then, and a peer that just drops the socket would hold
// the connection (and a server's Stop) that long.
inline constexpr long kTlsShutdownTimeoutMs = 200;

// The same over TLS (OpenSSL through asio::ssl; contexts in ws_tls.h).
template <typename Base>
struct WithTlsShutdownTimeout : public Base {
  struct transport_config : public Base::transport_config {
    static const long timeout_socket_shutdown = kTlsShutdownTimeoutMs;
  };
  using transport_type =
      websocketpp::transport::asio::endpoint<transport_config>;
};
struct TlsServerConfig
    : public WithTlsShutdownTimeout<websocketpp::config::asio_tls> {};
struct TlsClientConfig
    : public WithTlsShutdownTimeout<websocketpp::config::asio_tls_client> {
  using rng_type = MaskRng;
};

// True for the TLS configs.
template <typename Config>
inline constexpr bool kIsTls = false;
template <>
inline constexpr bool kIsTls<TlsServerConfig> = true;
template <>
inline constexpr bool kIsTls<TlsClientConfig> = true;

}  // namespace parley::transport

// The client configs mask a data frame's payload in place with MaskCopy
// and move it into the outgoing message, instead of masking it byte by
// byte into a zero-filled copy. The payload of the message handed to send()
// is taken: send each message object once (WsLink::SendNow makes one per
// frame, as websocketpp's send(ptr, len) does).
template <>
websocketpp::lib::error_code websocketpp::processor::hybi13<
    parley::transport::ClientConfig>::prepare_data_frame(message_ptr in,
                                                         message_ptr out);
template <>
websocketpp::lib::error_code websocketpp::processor::hybi13<
    parley::transport::TlsClientConfig>::prepare_data_frame(message_ptr in,
                                                            message_ptr out);

// The server configs unmask received payload with MaskCopy instead.
template <>
size_t websocketpp::processor::hybi13<parley::transport::ServerConfig>::
    process_payload_bytes(uint8_t* buf, size_t len, lib::error_code& ec);
template <>
size_t websocketpp::processor::hybi13<parley::transport::TlsServerConfig>::
    process_payload_bytes(uint8_t* buf, size_t len, lib::error_code& ec);

#endif  // PARLEY_RUNTIME_TRANSPORT_WS_CONFIG_H_
