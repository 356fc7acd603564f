// The hostile-input catalogue, part 2: HTTP- and WebSocket-level abuse
// over raw TCP sockets (broken upgrades, slow and silent clients,
// malformed frames, bad close frames, floods). Every case also passes the
// fixture's TearDown: server alive, bystander unaffected, nothing lost.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/transport/hostile_fixture.h"
#include "tests/transport/raw_socket.h"

namespace parley::hostile {
namespace {

using transport::testing::RawSocket;

constexpr char kAuth[] = "Authorization: Bearer mallory\r\n";
// First bytes of client frames: FIN + opcode.
constexpr uint8_t kText = 0x81;
constexpr uint8_t kBinary = 0x82;
constexpr uint8_t kClose = 0x88;
constexpr uint8_t kPing = 0x89;
constexpr uint8_t kPong = 0x8A;
constexpr uint8_t kNotFinal = 0x00;  // | opcode: a fragment, more follow

class HostileWs : public Hostile {
 protected:
  std::unique_ptr<RawSocket> Socket() {
    return std::make_unique<RawSocket>(server_->port());
  }
  // A raw socket past the upgrade (authenticated as "mallory").
  std::unique_ptr<RawSocket> Upgraded() {
    auto socket = Socket();
    EXPECT_EQ(socket->Upgrade(kAuth), 101) << socket->head();
    return socket;
  }
  // Sends `bytes` on an upgraded socket; the server must close with `code`.
  void ExpectClose(const std::string& bytes, uint16_t code) {
    auto socket = Upgraded();
    socket->Write(bytes);
    EXPECT_EQ(socket->AwaitCloseCode(), code);
  }
};

// --- The HTTP upgrade.

TEST_F(HostileWs, PlainHttpRequestGets426UpgradeRequired) {
  auto socket = Socket();
  EXPECT_EQ(socket->Request("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 426);
}

TEST_F(HostileWs, GarbageRequestLineGets400) {
  auto socket = Socket();
  EXPECT_EQ(socket->Request("\x16\x03\x01 not http at all\r\n\r\n"), 400);
}

TEST_F(HostileWs, OversizeRequestHeadersGet431) {
  auto socket = Socket();
  EXPECT_EQ(socket->Request(socket->UpgradeRequest(
                absl::StrCat("X-Padding: ", std::string(20000, 'p'), "\r\n"))),
            431);
}

TEST_F(HostileWs, UnsupportedWebSocketVersionGets400) {
  auto socket = Socket();
  std::string request = socket->UpgradeRequest(kAuth);
  request.replace(request.find("Version: 13"), 11, "Version: 99");
  EXPECT_EQ(socket->Request(request), 400);
  EXPECT_NE(socket->head().find("Sec-WebSocket-Version: 0,7,8,13"),
            std::string::npos)
      << socket->head();
}

TEST_F(HostileWs, UpgradeWithoutKeyGets400) {
  auto socket = Socket();
  std::string request = socket->UpgradeRequest(kAuth);
  request.erase(request.find("Sec-WebSocket-Key"),
                request.find("Sec-WebSocket-Version") -
                    request.find("Sec-WebSocket-Key"));
  EXPECT_EQ(socket->Request(request), 400);
}

TEST_F(HostileWs, UpgradeWithoutTokenGets401) {
  auto socket = Socket();
  EXPECT_EQ(socket->Upgrade(), 401);
}

TEST_F(HostileWs, SlowlorisHalfRequestIsClosedAfterTheHandshakeTimeout) {
  auto socket = Socket();
  ASSERT_TRUE(socket->Write("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "));
  const absl::Time start = absl::Now();
  EXPECT_TRUE(socket->AwaitEof());
  EXPECT_GE(absl::Now() - start, kHandshakeTimeout - absl::Milliseconds(500));
}

TEST_F(HostileWs, SilentTcpConnectionIsClosedAfterTheHandshakeTimeout) {
  auto socket = Socket();
  EXPECT_TRUE(socket->AwaitEof());
}

TEST_F(HostileWs, UpgradedConnectionWithoutHelloIsClosed1008) {
  auto socket = Upgraded();
  EXPECT_EQ(socket->AwaitCloseCode(), wire::kClosePolicyViolation);
}

// --- Malformed WebSocket frames (RFC 6455 section 5).

TEST_F(HostileWs, UnmaskedClientFrameGets1002) {
  ExpectClose(RawSocket::Frame(kBinary, "x", /*masked=*/false),
              wire::kCloseProtocolError);
}

TEST_F(HostileWs, ReservedOpcodeGets1002) {
  ExpectClose(RawSocket::Frame(0x83, "x"), wire::kCloseProtocolError);
}

TEST_F(HostileWs, RsvBitWithoutAnExtensionGets1002) {
  ExpectClose(RawSocket::Frame(kBinary | 0x40, "x"), wire::kCloseProtocolError);
}

TEST_F(HostileWs, ControlFrameOver125BytesGets1002) {
  ExpectClose(RawSocket::Frame(kPing, std::string(126, 'p')),
              wire::kCloseProtocolError);
}

TEST_F(HostileWs, FragmentedControlFrameGets1002) {
  ExpectClose(RawSocket::Frame(kNotFinal | 0x9, "p"),
              wire::kCloseProtocolError);
}

TEST_F(HostileWs, ContinuationWithoutAStartGets1002) {
  ExpectClose(RawSocket::Frame(0x80, "x"), wire::kCloseProtocolError);
}

TEST_F(HostileWs, NewMessageInsideAFragmentedOneGets1002) {
  ExpectClose(
      RawSocket::Frame(kNotFinal | 0x2, "ab") + RawSocket::Frame(kBinary, "cd"),
      wire::kCloseProtocolError);
}

// websocketpp maps this one error to 1011, not 1002; the connection is
// failed either way.
TEST_F(HostileWs, NonMinimalLengthEncodingGets1011) {
  std::string frame = RawSocket::Frame(kBinary, std::string(300, 'x'));
  // Rewrite the 16-bit length 300 as a 64-bit one.
  std::string header = "\x82\xff";
  header += std::string(6, '\0') + frame.substr(2, 2);
  ExpectClose(header + frame.substr(4), wire::kCloseInternalError);
}

TEST_F(HostileWs, DeclaredLengthOverTheMaximumGets1009BeforeThePayload) {
  // Only the header: the server refuses without waiting for (or
  // allocating) a gigabyte.
  ExpectClose(RawSocket::Frame(kBinary, "", true, uint64_t{1} << 30),
              wire::kCloseMessageTooBig);
}

TEST_F(HostileWs, DeclaredLengthWithTheHighBitSetGets1009) {
  ExpectClose(RawSocket::Frame(kBinary, "", true, uint64_t{1} << 63),
              wire::kCloseMessageTooBig);
}

TEST_F(HostileWs, FragmentsSummingOverTheMaximumGet1009) {
  const std::string half(kMaxMessage / 2 + 1, 'x');
  ExpectClose(
      RawSocket::Frame(kNotFinal | 0x2, half) + RawSocket::Frame(0x80, half),
      wire::kCloseMessageTooBig);
}

TEST_F(HostileWs, TextFrameGets1003) {
  ExpectClose(RawSocket::Frame(kText, "hello"), wire::kCloseUnsupportedData);
}

TEST_F(HostileWs, TextFrameWithInvalidUtf8Gets1007) {
  ExpectClose(RawSocket::Frame(kText, "\xc3\x28 bad"),
              wire::kCloseInvalidPayload);
}

// --- Close frames.

TEST_F(HostileWs, CloseReasonWithInvalidUtf8Gets1002) {
  ExpectClose(RawSocket::Frame(kClose, RawSocket::ClosePayload(1000, "\xff")),
              wire::kCloseProtocolError);
}

TEST_F(HostileWs, CloseWithAReservedCodeGets1002) {
  ExpectClose(RawSocket::Frame(kClose, RawSocket::ClosePayload(1005, "")),
              wire::kCloseProtocolError);
}

TEST_F(HostileWs, CloseWithAnOutOfRangeCodeGets1002) {
  ExpectClose(RawSocket::Frame(kClose, RawSocket::ClosePayload(999, "")),
              wire::kCloseProtocolError);
}

TEST_F(HostileWs, CloseWithAOneBytePayloadGets1002) {
  ExpectClose(RawSocket::Frame(kClose, "\x03"), wire::kCloseProtocolError);
}

// --- Floods.

TEST_F(HostileWs, WebSocketPingFloodIsAnsweredPongForPing) {
  auto socket = Upgraded();
  constexpr size_t kPings = 1000;
  std::string flood;
  for (size_t i = 0; i < kPings; ++i) {
    flood += RawSocket::Frame(kPing, std::string(125, 'p'));
  }
  ASSERT_TRUE(socket->Write(flood));
  EXPECT_TRUE(socket->AwaitFrames(kPong & 0x0F, kPings));
  EXPECT_EQ(socket->frames_seen(kClose & 0x0F), 0u);
}

}  // namespace
}  // namespace parley::hostile
