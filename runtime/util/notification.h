// util::Notification: a one-shot event one thread signals and others wait
// for, with absl::Notification's shape (Notify, HasBeenNotified,
// WaitForNotification, WaitForNotificationWithTimeout), built on
// util::Mutex and util::CondVar so that ThreadSanitizer sees the hand-off:
// Debian's abseil is not instrumented, so TSan sees neither
// absl::Notification nor absl::Mutex, and reports what they order as races.
//
//   util::Notification done;
//   loop.Post([&] { result = Compute(); done.Notify(); });
//   done.WaitForNotification();  // `result` is visible here
//
// Everything before Notify happens before every wait that returns true.
// Notify is called once at most. Thread safety: thread-safe.
#ifndef PARLEY_RUNTIME_UTIL_NOTIFICATION_H_
#define PARLEY_RUNTIME_UTIL_NOTIFICATION_H_

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "runtime/util/mutex.h"

namespace parley::util {

class Notification {
 public:
  Notification() = default;
  Notification(const Notification&) = delete;
  Notification& operator=(const Notification&) = delete;

  // Signals under the lock: a waiter may destroy the Notification as soon
  // as it sees `notified_`, and it cannot before Notify lets go.
  void Notify() {
    MutexLock lock(&mu_);
    notified_ = true;
    cv_.SignalAll();
  }
  bool HasBeenNotified() const {
    MutexLock lock(&mu_);
    return notified_;
  }
  void WaitForNotification() const {
    MutexLock lock(&mu_);
    cv_.Wait(&mu_,
             [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return notified_; });
  }
  // True if notified within `timeout` (clamped as util::CondVar::WaitFor).
  bool WaitForNotificationWithTimeout(absl::Duration timeout) const {
    MutexLock lock(&mu_);
    return cv_.WaitFor(
        &mu_, timeout,
        [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return notified_; });
  }

 private:
  mutable Mutex mu_;
  mutable CondVar cv_;
  bool notified_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace parley::util

#endif  // PARLEY_RUNTIME_UTIL_NOTIFICATION_H_
