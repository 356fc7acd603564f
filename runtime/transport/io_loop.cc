// IoLoop: one thread running an asio::io_context, plus one-shot timers.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <utility>

#include "absl/time/time.h"
#include "asio/post.hpp"
#include "asio/steady_timer.hpp"
#include "runtime/transport/ws.h"
#include "runtime/transport/ws_loop_impl.h"
#include "runtime/util/notification.h"
#include "websocketpp/common/network.hpp"

namespace parley::transport {
namespace {

constexpr absl::Duration kRetirePollInterval = absl::Milliseconds(50);

// websocketpp's _htonll (64-bit frame lengths, both directions) learns the
// byte order on its first call and keeps it in a plain static int, so two
// loop threads that handle their first long frame at once race on it
// (ThreadSanitizer saw it in backpressure_test). Learnt here, once, before
// any loop thread starts: the static's guard orders it before every loop.
void LearnByteOrderBeforeAnyLoop() {
  static const uint64_t learnt = websocketpp::lib::net::_htonll(1);
  (void)learnt;
}

// The handler owns the shared State, never the AsioTimer, so destroying the
// AsioTimer (which cancels) can never leave the handler with a dangling
// pointer. `fn` and `timer` are only touched on the loop thread, except in
// the constructor (before anything else can see them).
class AsioTimer final : public Timer {
 public:
  AsioTimer(IoLoop::Impl* loop, absl::Duration delay, std::function<void()> fn)
      : loop_(loop),
        state_(std::make_shared<State>(loop->context(), std::move(fn))) {
    state_->timer.expires_after(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            absl::ToChronoNanoseconds(std::max(delay, absl::ZeroDuration()))));
    state_->timer.async_wait([state = state_](const asio::error_code& ec) {
      if (ec || state->cancelled.load(std::memory_order_acquire)) return;
      // Moved out first: `fn` may destroy the AsioTimer, whose Cancel then
      // clears state->fn.
      std::function<void()> fn = std::move(state->fn);
      fn();
    });
  }
  ~AsioTimer() override { Cancel(); }

  void Cancel() override {
    if (state_->cancelled.exchange(true, std::memory_order_acq_rel)) return;
    auto stop = [state = state_] {
      state->timer.cancel();
      state->fn = nullptr;  // releases what the callback captured
    };
    if (loop_->OnLoopThread()) {
      stop();
    } else {
      loop_->Post(std::move(stop));
    }
  }

 private:
  struct State {
    State(asio::io_context& context, std::function<void()> f)
        : fn(std::move(f)), timer(context) {}
    std::atomic<bool> cancelled{false};
    std::function<void()> fn;
    asio::steady_timer timer;
  };

  IoLoop::Impl* const loop_;
  const std::shared_ptr<State> state_;
};

}  // namespace

IoLoop::Impl::Impl() : work_(asio::make_work_guard(context_)) {
  LearnByteOrderBeforeAnyLoop();
  thread_ = std::thread([this] { context_.run(); });
  thread_id_ = thread_.get_id();
}

IoLoop::Impl::~Impl() {
  work_.reset();
  context_.stop();
  thread_.join();
  retire_poll_.reset();
  retired_.clear();
}

void IoLoop::Impl::Post(std::function<void()> fn) {
  asio::post(context_, std::move(fn));
}

void IoLoop::Impl::RunAndWait(const std::function<void()>& fn) {
  if (OnLoopThread()) {
    fn();
    return;
  }
  util::Notification done;
  Post([&] {
    fn();
    done.Notify();
  });
  done.WaitForNotification();
}

std::unique_ptr<Timer> IoLoop::Impl::RunAfter(absl::Duration delay,
                                              std::function<void()> fn) {
  return std::make_unique<AsioTimer>(this, delay, std::move(fn));
}

void IoLoop::Impl::Retire(std::shared_ptr<void> owner,
                          std::function<bool()> idle) {
  Post([this, retiree = Retiree{std::move(owner), std::move(idle)}]() mutable {
    retired_.push_back(std::move(retiree));
    if (retire_poll_ == nullptr) PollRetired();
  });
}

void IoLoop::Impl::PollRetired() {
  std::vector<Retiree> keep;
  for (Retiree& retiree : retired_) {
    if (!retiree.idle()) keep.push_back(std::move(retiree));
  }
  // Destroys the idle ones here, on the loop thread.
  retired_ = std::move(keep);
  if (retired_.empty()) {
    retire_poll_.reset();
  } else {
    retire_poll_ = RunAfter(kRetirePollInterval, [this] { PollRetired(); });
  }
}

IoLoop::IoLoop() : impl_(std::make_unique<Impl>()) {}

IoLoop::~IoLoop() = default;

void IoLoop::Post(std::function<void()> fn) { impl_->Post(std::move(fn)); }

void IoLoop::RunAndWait(const std::function<void()>& fn) {
  impl_->RunAndWait(fn);
}

std::unique_ptr<Timer> IoLoop::RunAfter(absl::Duration delay,
                                        std::function<void()> fn) {
  return impl_->RunAfter(delay, std::move(fn));
}

bool IoLoop::OnLoopThread() const { return impl_->OnLoopThread(); }

}  // namespace parley::transport
