// IoLoop's internals, shared by the transport's .cc files (never include it
// outside runtime/transport/: it pulls in asio).
//
// Thread safety: every member is thread-safe unless it says "loop thread".
#ifndef PARLEY_RUNTIME_TRANSPORT_WS_LOOP_IMPL_H_
#define PARLEY_RUNTIME_TRANSPORT_WS_LOOP_IMPL_H_

#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "asio/executor_work_guard.hpp"
#include "asio/io_context.hpp"
#include "runtime/transport/ws.h"

namespace parley::transport {

class IoLoop::Impl {
 public:
  Impl();
  // Stops the context, joins the thread, then destroys retired objects while
  // the context still exists (their sockets need its services).
  ~Impl();
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  asio::io_context& context() { return context_; }
  bool OnLoopThread() const { return std::this_thread::get_id() == thread_id_; }
  void Post(std::function<void()> fn);
  // Runs `fn` on the loop thread and returns after it has run: directly when
  // called on the loop thread, else posted and waited for.
  void RunAndWait(const std::function<void()>& fn);
  std::unique_ptr<Timer> RunAfter(absl::Duration delay,
                                  std::function<void()> fn);

  // Keeps `owner` alive until `idle()` is true, then destroys it on the loop
  // thread. `idle` is polled on the loop thread. For websocketpp endpoints:
  // their internal handlers hold raw `this` pointers, so an endpoint may only
  // go once none of its connections (which those handlers also hold) exists.
  // Whatever is still retired when the loop is destroyed goes with it.
  void Retire(std::shared_ptr<void> owner, std::function<bool()> idle);

 private:
  struct Retiree {
    std::shared_ptr<void> owner;
    std::function<bool()> idle;
  };
  void PollRetired();  // loop thread

  asio::io_context context_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
  std::thread::id thread_id_;  // written once, before anyone can post
  // Loop thread only.
  std::vector<Retiree> retired_;
  std::unique_ptr<Timer> retire_poll_;
};

}  // namespace parley::transport

#endif  // PARLEY_RUNTIME_TRANSPORT_WS_LOOP_IMPL_H_
