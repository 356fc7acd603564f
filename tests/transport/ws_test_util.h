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
#include "absl/time/time.h"
#include "runtime/transport/ws.h"
#include "runtime/util/mutex.h"

namespace parley::transport::testing {

inline constexpr absl::Duration kWait = absl::Seconds(10);

// Records every callback. Thread-safe; callbacks must arrive on the loop.
class RecordingHandler : public WsHandler {
 public:
  // Runs on the loop thread for each message, after it is recorded.
  std::function<void(WsConnection&, absl::string_view)> on_binary;

  void OnOpen(std::shared_ptr<WsConnection> connection) override {
    util::MutexLock lock(&mu_);
    loop_thread_ok_ &= connection->loop().OnLoopThread();
    ++opens_;
    connection_ = std::move(connection);
    changed_.SignalAll();
  }
  void OnBinary(std::string bytes) override {
    std::shared_ptr<WsConnection> connection;
    {
      util::MutexLock lock(&mu_);
      loop_thread_ok_ &= connection_ && connection_->loop().OnLoopThread();
      messages_.emplace_back(bytes);
      connection = connection_;
      changed_.SignalAll();
    }
    if (on_binary) on_binary(*connection, bytes);
  }
  void OnClose(uint16_t code, absl::string_view reason) override {
    util::MutexLock lock(&mu_);
    ++closes_;
    close_code_ = code;
    close_reason_ = std::string(reason);
    connection_.reset();  // as a real handler would: no cycle
    changed_.SignalAll();
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
    util::MutexLock lock(&mu_);
    return connection_;
  }
  std::vector<std::string> messages() {
    util::MutexLock lock(&mu_);
    return messages_;
  }
  int opens() {
    util::MutexLock lock(&mu_);
    return opens_;
  }
  int closes() {
    util::MutexLock lock(&mu_);
    return closes_;
  }
  uint16_t close_code() {
    util::MutexLock lock(&mu_);
    return close_code_;
  }
  std::string close_reason() {
    util::MutexLock lock(&mu_);
    return close_reason_;
  }
  bool loop_thread_ok() {
    util::MutexLock lock(&mu_);
    return loop_thread_ok_;
  }

 private:
  bool Await(const std::function<bool()>& done, absl::Duration timeout) {
    util::MutexLock lock(&mu_);
    return changed_.WaitFor(&mu_, timeout, done);
  }

  util::Mutex mu_;
  util::CondVar changed_;  // any member below changed
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
      util::MutexLock lock(&mu_);
      handlers_.push_back(handler);
      added_.SignalAll();
      return handler;
    };
  }
  // Applied to each new handler (set before the server starts).
  void Configure(std::function<void(RecordingHandler&)> configure) {
    configure_ = std::move(configure);
  }
  bool AwaitCount(size_t n, absl::Duration timeout = kWait) {
    util::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return handlers_.size() >= n;
    };
    return added_.WaitFor(&mu_, timeout, enough);
  }
  std::shared_ptr<RecordingHandler> at(size_t i) {
    util::MutexLock lock(&mu_);
    return handlers_.at(i);
  }
  size_t size() {
    util::MutexLock lock(&mu_);
    return handlers_.size();
  }

 private:
  std::function<void(RecordingHandler&)> configure_;
  util::Mutex mu_;
  util::CondVar added_;  // handlers_ grew
  std::vector<std::shared_ptr<RecordingHandler>> handlers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace parley::transport::testing

#endif  // PARLEY_TESTS_TRANSPORT_WS_TEST_UTIL_H_
