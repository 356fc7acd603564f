// A TCP socket that speaks raw bytes to a WebSocket server, for hostile
// input the real clients never send: broken HTTP upgrades, malformed
// frames, half-finished requests. Every read has a deadline. Test-only.
//
//   RawSocket socket(port);
//   ASSERT_EQ(socket.Upgrade(), 101);
//   socket.Write(RawSocket::Frame(0x82, "bytes"));  // FIN + binary, masked
//   EXPECT_EQ(socket.AwaitCloseCode(), 1002);
#ifndef PARLEY_TESTS_TRANSPORT_RAW_SOCKET_H_
#define PARLEY_TESTS_TRANSPORT_RAW_SOCKET_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "gtest/gtest.h"

namespace parley::transport::testing {

class RawSocket {
 public:
  static constexpr absl::Duration kDeadline = absl::Seconds(10);

  // Connects to 127.0.0.1:port.
  explicit RawSocket(uint16_t port) : port_(port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(
        ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)),
        0);
  }
  ~RawSocket() { ::close(fd_); }
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  // False once the peer is gone.
  bool Write(absl::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // A well-formed upgrade request with `extra` header lines ("Name: v\r\n").
  std::string UpgradeRequest(absl::string_view extra = "") const {
    return absl::StrCat("GET / HTTP/1.1\r\nHost: 127.0.0.1:", port_,
                        "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                        "Sec-WebSocket-Version: 13\r\n",
                        extra, "\r\n");
  }

  // Writes `request` and returns the response's HTTP status (0 if none
  // arrived); the response head is consumed, any bytes after it kept.
  int Request(absl::string_view request) {
    if (!Write(request)) return 0;
    if (!ReadUntil([](const std::string& in) {
          return in.find("\r\n\r\n") != std::string::npos;
        })) {
      return 0;
    }
    const size_t end = in_.find("\r\n\r\n") + 4;
    head_ = in_.substr(0, end);
    in_.erase(0, end);
    int status = 0;
    const size_t space = head_.find(' ');
    if (space == std::string::npos ||
        !absl::SimpleAtoi(absl::string_view(head_).substr(space + 1, 3),
                          &status)) {
      return 0;
    }
    return status;
  }
  int Upgrade(absl::string_view extra = "") {
    return Request(UpgradeRequest(extra));
  }
  // The last response head read by Request.
  const std::string& head() const { return head_; }

  // One client frame: `first` is the FIN/RSV/opcode byte. Masked unless
  // `masked` is false; `declared` overrides the payload length written in
  // the header (the payload itself is always `payload`).
  static std::string Frame(uint8_t first, absl::string_view payload,
                           bool masked = true,
                           absl::optional<uint64_t> declared = absl::nullopt) {
    const uint64_t length = declared.value_or(payload.size());
    std::string out(1, static_cast<char>(first));
    const char mask_bit = masked ? static_cast<char>(0x80) : 0;
    if (length < 126) {
      out += static_cast<char>(mask_bit | static_cast<char>(length));
    } else if (length <= 0xFFFF) {
      out += static_cast<char>(mask_bit | 126);
      for (int shift = 8; shift >= 0; shift -= 8) {
        out += static_cast<char>(length >> shift);
      }
    } else {
      out += static_cast<char>(mask_bit | 127);
      for (int shift = 56; shift >= 0; shift -= 8) {
        out += static_cast<char>(length >> shift);
      }
    }
    const char key[4] = {0x12, 0x34, 0x56, 0x78};
    if (masked) out.append(key, 4);
    for (size_t i = 0; i < payload.size(); ++i) {
      out += masked ? static_cast<char>(payload[i] ^ key[i % 4]) : payload[i];
    }
    return out;
  }
  // A close frame's payload: the code, then `reason` as given.
  static std::string ClosePayload(uint16_t code, absl::string_view reason) {
    std::string out;
    out += static_cast<char>(code >> 8);
    out += static_cast<char>(code & 0xFF);
    out.append(reason.data(), reason.size());
    return out;
  }

  // Reads server frames until a close frame and returns its code (0 for a
  // close without one); nullopt if the socket ended or the deadline passed
  // first. Frames before it are counted by opcode in frames_seen().
  absl::optional<uint16_t> AwaitCloseCode() {
    absl::optional<uint16_t> code;
    ReadUntil([&](const std::string&) {
      code = TakeFramesUntilClose();
      return code.has_value();
    });
    return code;
  }
  // Reads until the server ends the connection; false at the deadline.
  bool AwaitEof() {
    ReadUntil([](const std::string&) { return false; });
    return eof_;
  }
  // Reads server frames until `n` of opcode `opcode` have arrived.
  bool AwaitFrames(uint8_t opcode, size_t n) {
    return ReadUntil([&](const std::string&) {
      TakeFramesUntilClose();
      return frames_seen(opcode) >= n;
    });
  }
  size_t frames_seen(uint8_t opcode) const { return seen_[opcode & 0x0F]; }

 private:
  // Reads until `done(received)` holds, the peer ends the stream, or the
  // deadline passes; true if `done` held.
  bool ReadUntil(const std::function<bool(const std::string&)>& done) {
    const absl::Time deadline = absl::Now() + kDeadline;
    while (!done(in_)) {
      if (eof_) return false;
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1,
                 static_cast<int>(absl::ToInt64Milliseconds(left)) + 1) <= 0) {
        continue;
      }
      char buffer[16384];
      ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
      if (n <= 0) {
        eof_ = true;
      } else {
        in_.append(buffer, static_cast<size_t>(n));
      }
    }
    return true;
  }

  // Parses whole unmasked server frames off the input; returns the close
  // code once a close frame is parsed.
  absl::optional<uint16_t> TakeFramesUntilClose() {
    while (in_.size() >= 2) {
      const uint8_t opcode = static_cast<uint8_t>(in_[0]) & 0x0F;
      uint64_t length = static_cast<uint8_t>(in_[1]) & 0x7F;
      size_t header = 2;
      if (length >= 126) {
        const size_t bytes = length == 126 ? 2 : 8;
        if (in_.size() < 2 + bytes) return absl::nullopt;
        length = 0;
        for (size_t i = 0; i < bytes; ++i) {
          length = (length << 8) | static_cast<uint8_t>(in_[2 + i]);
        }
        header += bytes;
      }
      if (in_.size() < header + length) return absl::nullopt;
      const std::string payload = in_.substr(header, length);
      in_.erase(0, header + length);
      ++seen_[opcode];
      if (opcode == 0x8) {
        if (payload.size() < 2) return 0;
        return static_cast<uint16_t>((static_cast<uint8_t>(payload[0]) << 8) |
                                     static_cast<uint8_t>(payload[1]));
      }
    }
    return absl::nullopt;
  }

  const uint16_t port_;
  int fd_ = -1;
  std::string in_;
  std::string head_;
  bool eof_ = false;
  size_t seen_[16] = {};
};

}  // namespace parley::transport::testing

#endif  // PARLEY_TESTS_TRANSPORT_RAW_SOCKET_H_
