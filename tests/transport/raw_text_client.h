// A stock websocketpp client on its own thread that sends what Parley's
// WsClient never sends: one text frame as soon as it is open. Test-only.
#ifndef PARLEY_TESTS_TRANSPORT_RAW_TEXT_CLIENT_H_
#define PARLEY_TESTS_TRANSPORT_RAW_TEXT_CLIENT_H_

#include <cstdint>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "runtime/util/notification.h"
#include "tests/transport/ws_test_util.h"
#include "websocketpp/client.hpp"
#include "websocketpp/config/asio_no_tls_client.hpp"

namespace parley::transport::testing {

class RawTextClient {
 public:
  explicit RawTextClient(uint16_t port) {
    client_.clear_access_channels(websocketpp::log::alevel::all);
    client_.clear_error_channels(websocketpp::log::elevel::all);
    websocketpp::lib::error_code ec;
    client_.init_asio(&context_, ec);
    EXPECT_FALSE(ec) << ec.message();
    client_.set_open_handler([this](websocketpp::connection_hdl hdl) {
      websocketpp::lib::error_code send_ec;
      client_.send(hdl, "hello", websocketpp::frame::opcode::text, send_ec);
      EXPECT_FALSE(send_ec) << send_ec.message();
    });
    client_.set_close_handler([this](websocketpp::connection_hdl hdl) {
      websocketpp::lib::error_code get_ec;
      auto con = client_.get_con_from_hdl(hdl, get_ec);
      code_ = con->get_remote_close_code();
      reason_ = con->get_remote_close_reason();
      closed_.Notify();
    });
    client_.set_fail_handler(
        [this](websocketpp::connection_hdl) { closed_.Notify(); });
    auto con =
        client_.get_connection(absl::StrCat("ws://127.0.0.1:", port, "/"), ec);
    EXPECT_FALSE(ec) << ec.message();
    client_.connect(con);
    thread_ = std::thread([this] { context_.run(); });
  }
  ~RawTextClient() {
    context_.stop();
    thread_.join();
  }

  bool AwaitClose() { return closed_.WaitForNotificationWithTimeout(kWait); }
  // Valid after AwaitClose.
  uint16_t code() const { return code_; }
  const std::string& reason() const { return reason_; }

 private:
  asio::io_context context_;
  websocketpp::client<websocketpp::config::asio_client> client_;
  util::Notification closed_;
  uint16_t code_ = 0;
  std::string reason_;
  std::thread thread_;
};

}  // namespace parley::transport::testing

#endif  // PARLEY_TESTS_TRANSPORT_RAW_TEXT_CLIENT_H_
