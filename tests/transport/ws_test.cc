// Tests for the byte-level WebSocket transport (runtime/transport/ws.h):
// loopback only, port 0, no sleeps; every wait has a deadline.
#include "runtime/transport/ws.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "asio/connect.hpp"
#include "asio/io_context.hpp"
#include "asio/ip/tcp.hpp"
#include "asio/read_until.hpp"
#include "asio/streambuf.hpp"
#include "asio/write.hpp"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/transport/ws_config.h"
#include "runtime/util/notification.h"
#include "tests/transport/raw_socket.h"
#include "tests/transport/raw_text_client.h"
#include "tests/transport/ws_test_util.h"

namespace parley::transport {
namespace {

using ::parley::transport::testing::HandlerPool;
using ::parley::transport::testing::kWait;
using ::parley::transport::testing::RawSocket;
using ::parley::transport::testing::RawTextClient;
using ::parley::transport::testing::RecordingHandler;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string Uri(uint16_t port) {
  return absl::StrCat("ws://127.0.0.1:", port, "/");
}

// Echoes every binary message back.
void Echo(RecordingHandler& handler) {
  handler.on_binary = [](WsConnection& connection, absl::string_view bytes) {
    EXPECT_TRUE(connection.Send(std::string(bytes)).ok());
  };
}

class WsTest : public ::testing::Test {
 protected:
  std::unique_ptr<WsServer> StartServer(WsServerOptions options = {}) {
    auto server = WsServer::Start(&loop_, options, pool_.Factory());
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : nullptr;
  }

  // Dials the server; returns the client-side handler once open.
  std::shared_ptr<RecordingHandler> Dial(WsClient& client, uint16_t port) {
    auto handler = std::make_shared<RecordingHandler>();
    EXPECT_TRUE(client.Connect(Uri(port), handler).ok());
    EXPECT_TRUE(handler->AwaitOpen());
    return handler;
  }

  // Members are destroyed in reverse: the pool's handlers, then the loop.
  IoLoop loop_;
  HandlerPool pool_;
};

// --- Client frame masking ------------------------------------------------

TEST(MaskCopyTest, MatchesTheBytewiseMaskAtEveryLengthAndAlignment) {
  const uint8_t key[4] = {0x12, 0x9a, 0xff, 0x01};
  std::string source(80, '\0');
  for (size_t i = 0; i < source.size(); ++i) {
    source[i] = static_cast<char>(i * 37 + 5);
  }
  for (size_t offset = 0; offset < 8; ++offset) {
    for (size_t n = 0; offset + n <= source.size(); ++n) {
      const char* in = source.data() + offset;
      std::string expected(n, '\0');
      for (size_t i = 0; i < n; ++i) {
        expected[i] = static_cast<char>(in[i] ^ key[i % 4]);
      }
      std::string out(n + 3, '-');  // unaligned output, bytes past n untouched
      MaskCopy(in, n, out.data() + 3, key);
      EXPECT_EQ(out.substr(3), expected) << "offset " << offset << " n " << n;
      EXPECT_EQ(out.substr(0, 3), "---");
      std::string in_place(in, n);
      MaskCopy(in_place.data(), n, in_place.data(), key);
      EXPECT_EQ(in_place, expected) << "in place, n " << n;
    }
  }
}

// The server unmasks with MaskCopy too; a frame's payload spread over
// several reads continues the key where the previous read stopped. Three
// frames in one write: the server reads 16 KiB at a time, so the middle
// one is cut after 16384 - 6 - 1001 - 8 = 15369 payload bytes (1 mod 4).
TEST_F(WsTest, WsServerUnmasksFramesSplitAcrossReadsAtAnyOffset) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  RawSocket socket(server->port());
  ASSERT_EQ(socket.Upgrade(), 101);
  std::vector<std::string> payloads;
  std::string bytes;
  for (size_t size : {1001, 50003, 7}) {
    std::string payload(size, '\0');
    for (size_t i = 0; i < size; ++i) {
      payload[i] = static_cast<char>(i * 31 + size);
    }
    bytes += RawSocket::Frame(0x82, payload);
    payloads.push_back(std::move(payload));
  }
  ASSERT_TRUE(socket.Write(bytes));
  ASSERT_TRUE(pool_.AwaitCount(1));
  ASSERT_TRUE(pool_.at(0)->AwaitMessages(3));
  EXPECT_EQ(pool_.at(0)->messages(), payloads);
}

// --- IoLoop timers -------------------------------------------------------

TEST_F(WsTest, TimerRunAfterFiresOnLoopThread) {
  util::Notification fired;
  bool on_loop = false;
  std::unique_ptr<Timer> timer = loop_.RunAfter(absl::Milliseconds(5), [&] {
    on_loop = loop_.OnLoopThread();
    fired.Notify();
  });
  ASSERT_TRUE(fired.WaitForNotificationWithTimeout(kWait));
  EXPECT_TRUE(on_loop);
  EXPECT_FALSE(loop_.OnLoopThread());
}

TEST_F(WsTest, TimerCancelPreventsCallback) {
  std::atomic<int> cancelled_fired{0};
  util::Notification later;
  std::unique_ptr<Timer> off_loop = loop_.RunAfter(
      absl::Milliseconds(10), [&] { cancelled_fired.fetch_add(1); });
  off_loop->Cancel();
  std::unique_ptr<Timer> destroyed = loop_.RunAfter(
      absl::Milliseconds(10), [&] { cancelled_fired.fetch_add(1); });
  destroyed.reset();
  // Cancelled on the loop thread after it expired, its callback already
  // queued: `first` and `second` expire in the same poll (the loop is kept
  // busy past both deadlines) and run in deadline order.
  std::unique_ptr<Timer> first;
  std::unique_ptr<Timer> second;
  loop_.Post([&] {
    first = loop_.RunAfter(absl::ZeroDuration(), [&] { second->Cancel(); });
    second = loop_.RunAfter(absl::Microseconds(1),
                            [&] { cancelled_fired.fetch_add(1); });
    const absl::Time busy_until = absl::Now() + absl::Milliseconds(1);
    while (absl::Now() < busy_until) {
    }
  });
  std::unique_ptr<Timer> marker =
      loop_.RunAfter(absl::Milliseconds(50), [&] { later.Notify(); });
  ASSERT_TRUE(later.WaitForNotificationWithTimeout(kWait));
  EXPECT_EQ(cancelled_fired.load(), 0);
}

TEST_F(WsTest, TimerCallbackMayDestroyItsTimer) {
  util::Notification fired;
  std::unique_ptr<Timer> timer;
  loop_.Post([&] {
    timer = loop_.RunAfter(absl::Milliseconds(1), [&] {
      timer.reset();
      fired.Notify();
    });
  });
  ASSERT_TRUE(fired.WaitForNotificationWithTimeout(kWait));
}

// --- Messages ------------------------------------------------------------

TEST_F(WsTest, WsBinaryEchoRoundTrip) {
  for (bool no_delay : {false, true}) {
    SCOPED_TRACE(absl::StrCat("tcp_no_delay=", no_delay));
    pool_.Configure(Echo);
    WsServerOptions server_options;
    server_options.tcp_no_delay = no_delay;
    auto server = StartServer(server_options);
    ASSERT_NE(server, nullptr);
    EXPECT_NE(server->port(), 0);
    WsClientOptions client_options;
    client_options.tcp_no_delay = no_delay;
    auto client = WsClient::Create(&loop_, client_options);
    auto handler = Dial(*client, server->port());
    std::shared_ptr<WsConnection> connection = handler->connection();
    ASSERT_NE(connection, nullptr);
    EXPECT_THAT(connection->RemoteEndpoint(),
                StartsWith(absl::StrCat("127.0.0.1:", server->port())));

    const std::string payload("binary\0\xff\x80 payload", 18);
    ASSERT_TRUE(connection->Send(payload).ok());
    ASSERT_TRUE(handler->AwaitMessages(1));
    EXPECT_EQ(handler->messages()[0], payload);
    EXPECT_TRUE(handler->loop_thread_ok());

    // Everything was written: nothing is buffered, on or off the loop.
    util::Notification checked;
    size_t on_loop_amount = 1;
    loop_.Post([&] {
      on_loop_amount = connection->BufferedAmount();
      checked.Notify();
    });
    ASSERT_TRUE(checked.WaitForNotificationWithTimeout(kWait));
    EXPECT_EQ(on_loop_amount, 0u);
    EXPECT_EQ(connection->BufferedAmount(), 0u);
    client->Stop();
    EXPECT_EQ(handler->closes(), 1);
  }
}

TEST_F(WsTest, WsMessagesFromFourThreadsArriveCompleteInPerThreadOrder) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 1000;
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto client = WsClient::Create(&loop_, {});
  auto handler = Dial(*client, server->port());
  std::shared_ptr<WsConnection> connection = handler->connection();
  ASSERT_TRUE(pool_.AwaitCount(1));

  std::vector<std::thread> senders;
  for (int t = 0; t < kThreads; ++t) {
    senders.emplace_back([&connection, t] {
      for (int i = 0; i < kPerThread; ++i) {
        ASSERT_TRUE(connection->Send(absl::StrCat(t, ":", i)).ok());
      }
    });
  }
  for (std::thread& sender : senders) sender.join();

  std::shared_ptr<RecordingHandler> received = pool_.at(0);
  ASSERT_TRUE(received->AwaitMessages(kThreads * kPerThread));
  std::vector<int> next(kThreads, 0);
  for (const std::string& message : received->messages()) {
    std::vector<std::string> parts = absl::StrSplit(message, ':');
    ASSERT_EQ(parts.size(), 2u) << message;
    int t = 0;
    int i = 0;
    ASSERT_TRUE(absl::SimpleAtoi(parts[0], &t) &&
                absl::SimpleAtoi(parts[1], &i));
    ASSERT_EQ(i, next[t]) << "thread " << t << " out of order";
    ++next[t];
  }
  EXPECT_EQ(next, std::vector<int>(kThreads, kPerThread));
  EXPECT_EQ(received->messages().size(), size_t{kThreads * kPerThread});
}

TEST_F(WsTest, WsTextFrameGetsClose1003AndServerKeepsServing) {
  pool_.Configure(Echo);
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  {
    RawTextClient raw(server->port());
    ASSERT_TRUE(raw.AwaitClose());
    EXPECT_EQ(raw.code(), wire::kCloseUnsupportedData);
    EXPECT_EQ(raw.reason(), "text frames are not supported");
  }
  ASSERT_TRUE(pool_.AwaitCount(1));
  std::shared_ptr<RecordingHandler> refused = pool_.at(0);
  ASSERT_TRUE(refused->AwaitClose());
  EXPECT_TRUE(refused->messages().empty());
  EXPECT_EQ(refused->close_code(), wire::kCloseUnsupportedData);

  auto client = WsClient::Create(&loop_, {});
  auto handler = Dial(*client, server->port());
  ASSERT_TRUE(handler->connection()->Send("still here").ok());
  ASSERT_TRUE(handler->AwaitMessages(1));
  EXPECT_EQ(handler->messages()[0], "still here");
}

TEST_F(WsTest, WsOversizeMessageToServerClosesBothSidesWith1009) {
  WsServerOptions options;
  options.max_message_bytes = 1024;
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  auto client = WsClient::Create(&loop_, {});
  auto handler = Dial(*client, server->port());
  ASSERT_TRUE(handler->connection()->Send(std::string(1024, 'a')).ok());
  ASSERT_TRUE(handler->connection()->Send(std::string(1025, 'b')).ok());
  ASSERT_TRUE(handler->AwaitClose());
  EXPECT_EQ(handler->close_code(), wire::kCloseMessageTooBig);
  ASSERT_TRUE(pool_.AwaitCount(1));
  std::shared_ptr<RecordingHandler> server_side = pool_.at(0);
  ASSERT_TRUE(server_side->AwaitClose());
  EXPECT_EQ(server_side->close_code(), wire::kCloseMessageTooBig);
  EXPECT_EQ(server_side->messages(),
            std::vector<std::string>{std::string(1024, 'a')});
}

TEST_F(WsTest, WsOversizeMessageToClientClosesBothSidesWith1009) {
  pool_.Configure([](RecordingHandler& handler) {
    handler.on_binary = [](WsConnection& connection, absl::string_view) {
      EXPECT_TRUE(connection.Send(std::string(4096, 'x')).ok());
    };
  });
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  WsClientOptions options;
  options.max_message_bytes = 4095;
  auto client = WsClient::Create(&loop_, options);
  auto handler = Dial(*client, server->port());
  ASSERT_TRUE(handler->connection()->Send("send me something big").ok());
  ASSERT_TRUE(handler->AwaitClose());
  EXPECT_EQ(handler->close_code(), wire::kCloseMessageTooBig);
  EXPECT_TRUE(handler->messages().empty());
  ASSERT_TRUE(pool_.AwaitCount(1));
  ASSERT_TRUE(pool_.at(0)->AwaitClose());
  EXPECT_EQ(pool_.at(0)->close_code(), wire::kCloseMessageTooBig);
}

TEST_F(WsTest, WsSendAfterCloseIsFailedPrecondition) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto client = WsClient::Create(&loop_, {});
  auto handler = Dial(*client, server->port());
  std::shared_ptr<WsConnection> connection = handler->connection();
  connection->Close(wire::kCloseNormal, "bye");
  EXPECT_EQ(connection->Send("late").code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(handler->AwaitClose());
  EXPECT_EQ(handler->close_code(), wire::kCloseNormal);
  EXPECT_EQ(connection->Send("later").code(),
            absl::StatusCode::kFailedPrecondition);
  connection->Close(wire::kCloseNormal, "again");  // idempotent
  ASSERT_TRUE(pool_.AwaitCount(1));
  ASSERT_TRUE(pool_.at(0)->AwaitClose());
  EXPECT_EQ(pool_.at(0)->close_code(), wire::kCloseNormal);
  EXPECT_EQ(pool_.at(0)->close_reason(), "bye");
  EXPECT_TRUE(pool_.at(0)->messages().empty());
  EXPECT_EQ(handler->closes(), 1);
}

TEST_F(WsTest, WsCloseReasonIsCutAtA123ByteUtf8Boundary) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto client = WsClient::Create(&loop_, {});
  auto handler = Dial(*client, server->port());
  std::string reason(122, 'r');
  reason += "\xc3\xa9 and more";  // é straddles byte 123
  handler->connection()->Close(wire::kCloseNormal, reason);
  ASSERT_TRUE(pool_.AwaitCount(1));
  ASSERT_TRUE(pool_.at(0)->AwaitClose());
  EXPECT_EQ(pool_.at(0)->close_code(), wire::kCloseNormal);
  EXPECT_EQ(pool_.at(0)->close_reason(), std::string(122, 'r'));
}

// --- Dialling ------------------------------------------------------------

TEST_F(WsTest, WsConnectToClosedPortClosesWithoutOpen) {
  uint16_t port = 0;
  {
    auto server = StartServer();
    ASSERT_NE(server, nullptr);
    port = server->port();
  }  // nothing listens there any more
  auto client = WsClient::Create(&loop_, {});
  auto handler = std::make_shared<RecordingHandler>();
  ASSERT_TRUE(client->Connect(Uri(port), handler).ok());
  ASSERT_TRUE(handler->AwaitClose());
  EXPECT_EQ(handler->opens(), 0);
  EXPECT_EQ(handler->closes(), 1);
  EXPECT_EQ(handler->close_code(), wire::kCloseAbnormal);
  EXPECT_THAT(handler->close_reason(), HasSubstr("refused"));
}

TEST_F(WsTest, WsMalformedUriIsInvalidArgument) {
  auto client = WsClient::Create(&loop_, {});
  auto handler = std::make_shared<RecordingHandler>();
  for (const char* uri : {"", "not a uri", "ws://", "http://127.0.0.1:1/"}) {
    EXPECT_EQ(client->Connect(uri, handler).code(),
              absl::StatusCode::kInvalidArgument)
        << uri;
  }
  client->Stop();
  EXPECT_EQ(handler->opens() + handler->closes(), 0);
}

// --- Stop ----------------------------------------------------------------

TEST_F(WsTest, WsServerStopClosesEveryConnectionWith1001) {
  constexpr int kClients = 3;
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto client = WsClient::Create(&loop_, {});
  std::vector<std::shared_ptr<RecordingHandler>> handlers;
  for (int i = 0; i < kClients; ++i) {
    handlers.push_back(Dial(*client, server->port()));
  }
  ASSERT_TRUE(pool_.AwaitCount(kClients));
  server->Stop();
  // Returned only after every server-side handler had its OnClose.
  for (int i = 0; i < kClients; ++i) {
    EXPECT_EQ(pool_.at(i)->closes(), 1);
    EXPECT_EQ(pool_.at(i)->close_code(), wire::kCloseGoingAway);
  }
  for (const auto& handler : handlers) {
    ASSERT_TRUE(handler->AwaitClose());
    EXPECT_EQ(handler->close_code(), wire::kCloseGoingAway);
    EXPECT_EQ(handler->connection(), nullptr);
  }
  server->Stop();  // idempotent
  server.reset();
  client.reset();
  for (int i = 0; i < kClients; ++i) {
    EXPECT_EQ(pool_.at(i)->closes(), 1);
    EXPECT_EQ(handlers[i]->closes(), 1);
  }
  auto late = std::make_shared<RecordingHandler>();
  auto other = WsClient::Create(&loop_, {});
  other->Stop();
  EXPECT_EQ(other->Connect(Uri(1), late).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(WsTest, WsClientStopClosesItsConnectionsWith1001) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto client = WsClient::Create(&loop_, {});
  auto handler = Dial(*client, server->port());
  ASSERT_TRUE(pool_.AwaitCount(1));
  client->Stop();
  EXPECT_EQ(handler->closes(), 1);
  EXPECT_EQ(handler->close_code(), wire::kCloseGoingAway);
  ASSERT_TRUE(pool_.at(0)->AwaitClose());
  EXPECT_EQ(pool_.at(0)->close_code(), wire::kCloseGoingAway);
}

// Completes the WebSocket upgrade by hand, then never reads or answers.
class SilentPeer {
 public:
  explicit SilentPeer(uint16_t port) : socket_(context_) {
    asio::ip::tcp::endpoint server(asio::ip::make_address("127.0.0.1"), port);
    socket_.connect(server);
    asio::write(socket_, asio::buffer(std::string(
                             "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                             "Sec-WebSocket-Version: 13\r\n\r\n")));
    asio::streambuf response;
    asio::read_until(socket_, response, "\r\n\r\n");
  }

 private:
  asio::io_context context_;
  asio::ip::tcp::socket socket_;
};

TEST_F(WsTest, WsServerStopDropsAPeerThatIgnoresTheCloseHandshake) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  SilentPeer peer(server->port());
  ASSERT_TRUE(pool_.AwaitCount(1));
  ASSERT_TRUE(pool_.at(0)->AwaitOpen());
  const absl::Time start = absl::Now();
  server->Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(pool_.at(0)->closes(), 1);
  EXPECT_EQ(pool_.at(0)->close_code(), wire::kCloseAbnormal);
}

TEST_F(WsTest, WsDestroyingServerOnLoopThreadEndsConnectionsAtOnce) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto client = WsClient::Create(&loop_, {});
  auto handler = Dial(*client, server->port());
  ASSERT_TRUE(pool_.AwaitCount(1));
  util::Notification destroyed;
  loop_.Post([&] {
    server.reset();
    destroyed.Notify();
  });
  ASSERT_TRUE(destroyed.WaitForNotificationWithTimeout(kWait));
  EXPECT_EQ(pool_.at(0)->closes(), 1);
  EXPECT_EQ(pool_.at(0)->close_code(), wire::kCloseGoingAway);
  ASSERT_TRUE(handler->AwaitClose());
}

TEST_F(WsTest, WsStartFailsWhenThePortIsTaken) {
  auto first = StartServer();
  ASSERT_NE(first, nullptr);
  WsServerOptions options;
  options.port = first->port();
  // SO_REUSEADDR does not let two sockets listen on one port on Linux.
  auto second = WsServer::Start(&loop_, options, pool_.Factory());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace parley::transport
