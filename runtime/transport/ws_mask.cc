// Word-wise masking (ws_config.h): MaskCopy, and the websocketpp
// processor members that use it in place of byte-wise loops.
#include <cstdint>
#include <cstring>
#include <string>

#include "runtime/transport/ws_config.h"

namespace parley::transport {

void MaskCopy(const char* in, size_t n, char* out, const uint8_t key[4]) {
  uint64_t key8;
  std::memcpy(&key8, key, 4);
  std::memcpy(reinterpret_cast<char*>(&key8) + 4, key, 4);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {  // memcpy: no alignment assumed
    uint64_t word;
    std::memcpy(&word, in + i, 8);
    word ^= key8;
    std::memcpy(out + i, &word, 8);
  }
  for (; i < n; ++i) out[i] = static_cast<char>(in[i] ^ key[i % 4]);
}

namespace {

// websocketpp 0.8.2's hybi13::prepare_data_frame (processors/hybi13.hpp)
// for a client, which always masks: the payload is moved, not copied into
// a zero-filled buffer, and masked in place.
template <typename MessagePtr, typename Deflate>
websocketpp::lib::error_code PrepareClientDataFrame(MessagePtr in,
                                                    MessagePtr out,
                                                    uint32_t key_bits,
                                                    Deflate& deflate) {
  namespace error = websocketpp::processor::error;
  namespace frame = websocketpp::frame;
  if (!in || !out) return error::make_error_code(error::invalid_arguments);
  frame::opcode::value op = in->get_opcode();
  if (frame::opcode::is_control(op)) {
    return error::make_error_code(error::invalid_opcode);
  }
  std::string& i = in->get_raw_payload();
  std::string& o = out->get_raw_payload();
  if (op == frame::opcode::TEXT && !websocketpp::utf8_validator::validate(i)) {
    return error::make_error_code(error::invalid_payload);
  }
  frame::masking_key_type key;
  key.i = key_bits;
  bool compressed = deflate.is_enabled() && in->get_compressed();
  if (compressed) {
    deflate.compress(i, o);
    if (o.size() < 4) return error::make_error_code(error::general);
    // The trailing 00 00 ff ff is not sent.
    o.resize(o.size() - 4);
  } else {
    o.swap(i);
  }
  MaskCopy(o.data(), o.size(), o.data(), key.c);
  frame::basic_header h(op, o.size(), in->get_fin(), /*masked=*/true,
                        compressed);
  frame::extended_header e(o.size(), key.i);
  out->set_header(frame::prepare_header(h, e));
  out->set_prepared(true);
  out->set_opcode(op);
  return websocketpp::lib::error_code();
}

// websocketpp 0.8.2's hybi13::process_payload_bytes for a server, with the
// unmasking loop (frame::byte_mask_circ) replaced. A frame's payload may
// arrive in several reads: `current.prepared_key` carries the key rotated
// to where the previous read stopped, and its low four bytes are the key
// for this read's first byte.
template <typename Metadata, typename Deflate>
size_t ProcessServerPayload(bool masked, Metadata& current, Deflate& deflate,
                            size_t& bytes_needed, uint8_t* buf, size_t len,
                            websocketpp::lib::error_code& ec) {
  namespace error = websocketpp::processor::error;
  namespace frame = websocketpp::frame;
  if (masked) {
    frame::uint32_converter key;
    key.i = static_cast<uint32_t>(current.prepared_key);
    MaskCopy(reinterpret_cast<const char*>(buf), len,
             reinterpret_cast<char*>(buf), key.c);
    current.prepared_key =
        frame::circshift_prepared_key(current.prepared_key, len % 4);
  }
  std::string& out = current.msg_ptr->get_raw_payload();
  size_t offset = out.size();
  if (deflate.is_enabled() && current.msg_ptr->get_compressed()) {
    ec = deflate.decompress(buf, len, out);
    if (ec) return 0;
  } else {
    out.append(reinterpret_cast<char*>(buf), len);
  }
  if (current.msg_ptr->get_opcode() == frame::opcode::TEXT &&
      !current.validator.decode(out.begin() + offset, out.end())) {
    ec = error::make_error_code(error::invalid_utf8);
    return 0;
  }
  bytes_needed -= len;
  return len;
}

}  // namespace
}  // namespace parley::transport

// The configs' processors use them (ws_config.h), with and without TLS.
template <>
websocketpp::lib::error_code websocketpp::processor::hybi13<
    parley::transport::ClientConfig>::prepare_data_frame(message_ptr in,
                                                         message_ptr out) {
  return parley::transport::PrepareClientDataFrame(in, out, m_rng(),
                                                   m_permessage_deflate);
}

template <>
websocketpp::lib::error_code websocketpp::processor::hybi13<
    parley::transport::TlsClientConfig>::prepare_data_frame(message_ptr in,
                                                            message_ptr out) {
  return parley::transport::PrepareClientDataFrame(in, out, m_rng(),
                                                   m_permessage_deflate);
}

template <>
size_t websocketpp::processor::hybi13<parley::transport::ServerConfig>::
    process_payload_bytes(uint8_t* buf, size_t len, lib::error_code& ec) {
  return parley::transport::ProcessServerPayload(
      frame::get_masked(m_basic_header), *m_current_msg, m_permessage_deflate,
      m_bytes_needed, buf, len, ec);
}

template <>
size_t websocketpp::processor::hybi13<parley::transport::TlsServerConfig>::
    process_payload_bytes(uint8_t* buf, size_t len, lib::error_code& ec) {
  return parley::transport::ProcessServerPayload(
      frame::get_masked(m_basic_header), *m_current_msg, m_permessage_deflate,
      m_bytes_needed, buf, len, ec);
}
