// Test helpers for the WebSocket transport: a handler that records what
// happens and lets the test wait for it, with deadlines (no sleeps).
#ifndef PARLEY_TESTS_TRANSPORT_WS_TEST_UTIL_H_
#define PARLEY_TESTS_TRANSPORT_WS_TEST_UTIL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "runtime/transport/ws.h"

namespace parley::transport::testing {

inline constexpr absl::Duration kWait = absl::Seconds(10);

// Records every callback. Thread-safe; callbacks must arrive on the loop.
class RecordingHandler : public WsHandler {
 public:
  // Runs on the loop thread for each message, after it is recorded.
  std::function<void(WsConnection&, absl::string_view)> on_binary;

  void OnOpen(std::shared_ptr<WsConnection> connection) override {
    absl::MutexLock lock(&mu_);
    loop_thread_ok_ &= connection->loop().OnLoopThread();
    ++opens_;
    connection_ = std::move(connection);
  }
  void OnBinary(std::string bytes) override {
    std::shared_ptr<WsConnection> connection;
    {
      absl::MutexLock lock(&mu_);
      loop_thread_ok_ &= connection_ && connection_->loop().OnLoopThread();
      messages_.emplace_back(bytes);
      connection = connection_;
    }
    if (on_binary) on_binary(*connection, bytes);
  }
  void OnClose(uint16_t code, absl::string_view reason) override {
    absl::MutexLock lock(&mu_);
    ++closes_;
    close_code_ = code;
    close_reason_ = std::string(reason);
    connection_.reset();  // as a real handler would: no cycle
  }

  bool AwaitOpen(absl::Duration timeout = kWait) {
    return Await([this] { return opens_ > 0 || closes_ > 0; }, timeout) &&
           opens() == 1;
  }
  bool AwaitClose(absl::Duration timeout = kWait) {
    return Await([this] { return closes_ > 0; }, timeout);
  }
  bool AwaitMessages(size_t n, absl::Duration timeout = kWait) {
    return Await([this, n] { return messages_.size() >= n; }, timeout);
  }

  std::shared_ptr<WsConnection> connection() {
    absl::MutexLock lock(&mu_);
    return connection_;
  }
  std::vector<std::string> messages() {
    absl::MutexLock lock(&mu_);
    return messages_;
  }
  int opens() {
    absl::MutexLock lock(&mu_);
    return opens_;
  }
  int closes() {
    absl::MutexLock lock(&mu_);
    return closes_;
  }
  uint16_t close_code() {
    absl::MutexLock lock(&mu_);
    return close_code_;
  }
  std::string close_reason() {
    absl::MutexLock lock(&mu_);
    return close_reason_;
  }
  bool loop_thread_ok() {
    absl::MutexLock lock(&mu_);
    return loop_thread_ok_;
  }

 private:
  bool Await(std::function<bool()> done, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
  }

  absl::Mutex mu_;
  std::shared_ptr<WsConnection> connection_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> messages_ ABSL_GUARDED_BY(mu_);
  int opens_ ABSL_GUARDED_BY(mu_) = 0;
  int closes_ ABSL_GUARDED_BY(mu_) = 0;
  uint16_t close_code_ ABSL_GUARDED_BY(mu_) = 0;
  std::string close_reason_ ABSL_GUARDED_BY(mu_);
  bool loop_thread_ok_ ABSL_GUARDED_BY(mu_) = true;
};

// Hands out RecordingHandlers to a server and keeps them for inspection.
class HandlerPool {
 public:
  WsServer::HandlerFactory Factory() {
    return [this] {
      auto handler = std::make_shared<RecordingHandler>();
      if (configure_) configure_(*handler);
      absl::MutexLock lock(&mu_);
      handlers_.push_back(handler);
      return handler;
    };
  }
  // Applied to each new handler (set before the server starts).
  void Configure(std::function<void(RecordingHandler&)> configure) {
    configure_ = std::move(configure);
  }
  bool AwaitCount(size_t n, absl::Duration timeout = kWait) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return handlers_.size() >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }
  std::shared_ptr<RecordingHandler> at(size_t i) {
    absl::MutexLock lock(&mu_);
    return handlers_.at(i);
  }
  size_t size() {
    absl::MutexLock lock(&mu_);
    return handlers_.size();
  }

 private:
  std::function<void(RecordingHandler&)> configure_;
  absl::Mutex mu_;
  std::vector<std::shared_ptr<RecordingHandler>> handlers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace parley::transport::testing

#endif  // PARLEY_TESTS_TRANSPORT_WS_TEST_UTIL_H_
