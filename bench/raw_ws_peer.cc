// The transport floor: a raw websocketpp client/server pair, one WebSocket
// binary frame per message, websocketpp's stock settings (Nagle on) and
// Parley's fast mask source on the client (runtime/transport/ws_config.h).
// The only bench file that includes websocketpp.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "asio/io_context.hpp"
#include "asio/ip/tcp.hpp"
#include "asio/post.hpp"
#include "bench/harness.h"
#include "bench/peers.h"
#include "runtime/transport/ws_config.h"
#include "sink.pb.h"
#include "websocketpp/client.hpp"
#include "websocketpp/server.hpp"

namespace parley::bench {
namespace {

using WsServer = websocketpp::server<transport::ServerConfig>;
using WsClient = websocketpp::client<transport::ClientConfig>;
using websocketpp::connection_hdl;

constexpr absl::Duration kTrialTimeout = absl::Seconds(120);
// Frames are queued only while websocketpp holds fewer bytes than this not
// yet taken by the socket (Parley's default max_buffered_bytes).
constexpr size_t kHighWater = 1 << 20;

template <typename Endpoint>
void Quiet(Endpoint& endpoint) {
  endpoint.clear_access_channels(websocketpp::log::alevel::all);
  endpoint.clear_error_channels(websocketpp::log::elevel::all);
}

// A websocketpp server on 127.0.0.1:0 running on its own thread.
class RawServer {
 public:
  explicit RawServer(WsServer::message_handler on_message) {
    Quiet(endpoint_);
    endpoint_.init_asio(&io_);
    endpoint_.set_reuse_addr(true);
    endpoint_.set_message_handler(std::move(on_message));
    websocketpp::lib::error_code ec;
    endpoint_.listen(
        asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0), ec);
    if (!ec) endpoint_.start_accept(ec);
    if (!ec) port_ = endpoint_.get_local_endpoint(ec).port();
    if (ec) Die(absl::StrCat("raw server: ", ec.message()));
  }
  ~RawServer() {
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }
  void RunInBackground() {
    thread_ = std::thread([this] { io_.run(); });
  }
  void Run() { io_.run(); }
  uint16_t port() const { return port_; }

 private:
  asio::io_context io_;
  WsServer endpoint_;
  uint16_t port_ = 0;
  std::thread thread_;
};

// A websocketpp client endpoint running on its own thread.
class RawClient {
 public:
  RawClient() {
    Quiet(endpoint_);
    endpoint_.init_asio(&io_);
    // As parley::ClientOptions::connect_timeout (websocketpp's is 5 s).
    endpoint_.set_open_handshake_timeout(10000);
  }
  ~RawClient() {
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }
  // Before Start, or on the client's thread. A failed dial is tried again
  // (as a parley::Client re-dials), `attempts` times in all.
  WsClient::connection_ptr Dial(uint16_t port,
                                websocketpp::open_handler on_open,
                                int attempts = 1) {
    websocketpp::lib::error_code ec;
    auto con = endpoint_.get_connection(
        absl::StrCat("ws://127.0.0.1:", port, "/"), ec);
    if (ec) Die(absl::StrCat("raw client: ", ec.message()));
    con->set_open_handler(on_open);
    con->set_fail_handler([this, port, on_open, attempts](connection_hdl) {
      if (attempts <= 1) Die("raw client: dial failed");
      Dial(port, on_open, attempts - 1);
    });
    endpoint_.connect(con);
    return con;
  }
  void Start() {
    thread_ = std::thread([this] { io_.run(); });
  }
  asio::io_context& io() { return io_; }

 private:
  asio::io_context io_;
  WsClient endpoint_;
  std::thread thread_;
};

}  // namespace

double RawWsOneWay(const OneWay& work) {
  std::atomic<int64_t> received{0};
  absl::Notification all_received;
  RawServer server([&](connection_hdl, WsServer::message_ptr) {
    if (++received == work.count) all_received.Notify();
  });
  server.RunInBackground();

  Blob blob;
  blob.set_data(std::string(work.payload, 'x'));
  const std::string frame = blob.SerializeAsString();
  RawClient client;
  WsClient::connection_ptr con;
  int64_t sent = 0;  // client thread only
  std::atomic<int64_t> start_nanos{0};
  // Client thread: queues frames up to the high-water mark, then comes back
  // once asio has run the pending writes.
  std::function<void()> pump = [&] {
    while (sent < work.count && con->get_buffered_amount() < kHighWater) {
      con->send(frame.data(), frame.size(), websocketpp::frame::opcode::binary);
      ++sent;
    }
    if (sent < work.count) asio::post(client.io(), pump);
  };
  con = client.Dial(server.port(), [&](connection_hdl) {
    start_nanos = absl::GetCurrentTimeNanos();
    pump();
  });
  client.Start();
  if (!all_received.WaitForNotificationWithTimeout(kTrialTimeout)) {
    Die("raw websocketpp trial did not finish");
  }
  double seconds = (absl::GetCurrentTimeNanos() - start_nanos) / 1e9;
  return work.count / seconds;
}

IdleFigures RawWsIdle(int sessions) {
  return MeasureIdle({"idle-server", "raw"}, sessions, [&](uint16_t port) {
    auto client = std::make_shared<RawClient>();
    std::atomic<int> open{0};
    absl::Notification all_open;
    for (int i = 0; i < sessions; ++i) {
      client->Dial(
          port,
          [&](connection_hdl) {
            if (++open == sessions) all_open.Notify();
          },
          /*attempts=*/10);
    }
    client->Start();
    if (!all_open.WaitForNotificationWithTimeout(kTrialTimeout)) {
      Die("raw websocketpp clients did not all connect");
    }
    return std::shared_ptr<void>(client);
  });
}

void ServeRawWsIdle() {
  RaiseFdLimit();
  RawServer server([](connection_hdl, WsServer::message_ptr) {});
  std::printf("%d\n", server.port());
  std::fflush(stdout);
  server.Run();
  std::exit(0);
}

}  // namespace parley::bench
