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

}  // namespace parley::transport

// websocketpp 0.8.2's body (processors/hybi13.hpp) for a client, which
// always masks: the payload is moved, not copied, and masked in place.
template <>
websocketpp::lib::error_code websocketpp::processor::hybi13<
    parley::transport::ClientConfig>::prepare_data_frame(message_ptr in,
                                                         message_ptr out) {
  if (!in || !out) return make_error_code(error::invalid_arguments);
  frame::opcode::value op = in->get_opcode();
  if (frame::opcode::is_control(op)) {
    return make_error_code(error::invalid_opcode);
  }
  std::string& i = in->get_raw_payload();
  std::string& o = out->get_raw_payload();
  if (op == frame::opcode::TEXT && !utf8_validator::validate(i)) {
    return make_error_code(error::invalid_payload);
  }
  frame::masking_key_type key;
  key.i = m_rng();
  bool compressed = m_permessage_deflate.is_enabled() && in->get_compressed();
  if (compressed) {
    m_permessage_deflate.compress(i, o);
    if (o.size() < 4) return make_error_code(error::general);
    // The trailing 00 00 ff ff is not sent.
    o.resize(o.size() - 4);
  } else {
    o.swap(i);
  }
  parley::transport::MaskCopy(o.data(), o.size(), o.data(), key.c);
  frame::basic_header h(op, o.size(), in->get_fin(), /*masked=*/true,
                        compressed);
  frame::extended_header e(o.size(), key.i);
  out->set_header(frame::prepare_header(h, e));
  out->set_prepared(true);
  out->set_opcode(op);
  return lib::error_code();
}

// websocketpp 0.8.2's body (processors/hybi13.hpp) with the unmasking loop
// (frame::byte_mask_circ) replaced. A frame's payload may arrive in several
// reads: `prepared_key` carries the key rotated to where the previous read
// stopped, and its low four bytes are the key for this read's first byte.
template <>
size_t websocketpp::processor::hybi13<parley::transport::ServerConfig>::
    process_payload_bytes(uint8_t* buf, size_t len, lib::error_code& ec) {
  if (frame::get_masked(m_basic_header)) {
    frame::uint32_converter key;
    key.i = static_cast<uint32_t>(m_current_msg->prepared_key);
    parley::transport::MaskCopy(reinterpret_cast<const char*>(buf), len,
                                reinterpret_cast<char*>(buf), key.c);
    m_current_msg->prepared_key =
        frame::circshift_prepared_key(m_current_msg->prepared_key, len % 4);
  }
  std::string& out = m_current_msg->msg_ptr->get_raw_payload();
  size_t offset = out.size();
  if (m_permessage_deflate.is_enabled() &&
      m_current_msg->msg_ptr->get_compressed()) {
    ec = m_permessage_deflate.decompress(buf, len, out);
    if (ec) return 0;
  } else {
    out.append(reinterpret_cast<char*>(buf), len);
  }
  if (m_current_msg->msg_ptr->get_opcode() == frame::opcode::TEXT &&
      !m_current_msg->validator.decode(out.begin() + offset, out.end())) {
    ec = make_error_code(error::invalid_utf8);
    return 0;
  }
  m_bytes_needed -= len;
  return len;
}
