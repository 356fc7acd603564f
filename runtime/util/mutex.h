// util::Mutex: the lock Parley takes on every message (a session's, the
// durable buffer's). A std::mutex under Abseil's thread-safety annotations,
// with the few absl::Mutex shapes the runtime uses around it.
//
//   util::Mutex mu;
//   int n ABSL_GUARDED_BY(mu);
//   { util::MutexLock lock(&mu); ++n; }
//
// Why not absl::Mutex there: Debian's abseil is built in debug mode, in
// which every absl::Mutex::Lock runs the deadlock detector, and that takes
// one process-wide spinlock, whose cache line then moves between the
// caller's and the I/O threads' cores on every lock. Measured here: 22 ns
// per uncontended lock/unlock (std::mutex: 6 ns); on the durable path,
// about 350 instructions per lock (callgrind). Locks taken rarely stay
// absl::Mutex.
//
// Thread safety: as std::mutex and std::condition_variable.
#ifndef PARLEY_RUNTIME_UTIL_MUTEX_H_
#define PARLEY_RUNTIME_UTIL_MUTEX_H_

#include <algorithm>
#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace parley::util {

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }

 private:
  friend class CondVar;
  std::mutex mu_;
};

class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_->Lock();
  }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// A MutexLock that may let go early.
class ABSL_SCOPED_LOCKABLE ReleasableMutexLock {
 public:
  explicit ReleasableMutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu)
      : mu_(mu) {
    mu_->Lock();
  }
  ~ReleasableMutexLock() ABSL_UNLOCK_FUNCTION() {
    if (mu_ != nullptr) mu_->Unlock();
  }
  void Release() ABSL_UNLOCK_FUNCTION() {
    mu_->Unlock();
    mu_ = nullptr;
  }
  ReleasableMutexLock(const ReleasableMutexLock&) = delete;
  ReleasableMutexLock& operator=(const ReleasableMutexLock&) = delete;

 private:
  Mutex* mu_;
};

// A std::condition_variable on a Mutex (no allocation, unlike
// std::condition_variable_any).
class CondVar {
 public:
  // `mu` is held; released while waiting. May wake spuriously.
  void Wait(Mutex* mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();  // still held, by the caller's scope
  }
  // The same, waking by `deadline` at the latest.
  void WaitUntil(Mutex* mu, absl::Time deadline) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait_for(lock, absl::ToChronoNanoseconds(std::max(
                           deadline - absl::Now(), absl::ZeroDuration())));
    lock.release();
  }
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace parley::util

#endif  // PARLEY_RUNTIME_UTIL_MUTEX_H_
