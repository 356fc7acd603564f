// util::Mutex: the locks a session link takes on every call (its intake),
// frame and finished handler, and the durable buffer on every append. A
// glibc pthread mutex that spins briefly before it sleeps (below), under
// Abseil's thread-safety annotations, with the two absl::MutexLock shapes
// its users need.
//
//   util::Mutex mu;
//   int n ABSL_GUARDED_BY(mu);
//   { util::MutexLock lock(&mu); ++n; }
//
// Why not absl::Mutex: Debian's abseil is built in debug mode, in which
// every absl::Mutex::Lock runs the deadlock detector, and that takes one
// process-wide spinlock, whose cache line then moves between the caller's
// and the I/O threads' cores on every lock. Measured here: 22 ns per
// uncontended lock/unlock (std::mutex: 6 ns), about 300 instructions per
// durable append. The durable buffer does not wait on util::CondVar: its
// callers that wait for a group commit wait on a second, absl::Mutex that
// only waiting callers take, with a CondVar per call
// (absl's CondVar hands the lock to the woken waiters one by one, which
// keeps group commits large; std condition variables made 64 writers'
// group commit 15-30 % slower).
//
// A contended lock spins, for up to 2 us, before it sleeps (unless the
// process is bound to one CPU, where a spin cannot help), as long as the
// holds callers contend on: the intake's (a call queued, or appended in
// place to the durable buffer), the payload pool's, the store's. A sleep
// costs both threads a futex call and a context switch; a longer spin
// mostly waits for a holder that was preempted, and takes the CPU it
// needs. History (docs/PERFORMANCE.md, sessions 9 and 10): glibc's adaptive
// mutex spins about 1.5 us, and while callers took the link's own lock,
// held by the I/O thread for an ACK's bookkeeping (2-3 us on average,
// rarely over 25), the caller slept 5,118 times per 300k one-way messages;
// a 30 us spin took one-way from about 0.7 M to 1.1-1.4 M messages a
// second but halved store_bench's 8 writers. Since callers enter through
// the intake, 2 us keeps Parley's rates (one-way 1.89 -> 1.98 M, acked
// 1.57 -> 1.59 M, never 1.16 -> 1.14 M, scripts/bench_ab.sh, 7 rounds) and
// gives those writers back most of it (never, 8 x 64 B: 2.96-3.00 M ->
// 4.02-4.05 M appends/s; no spin at all: 5.40-5.66 M, but one-way 4 % and
// acked 9 % slower).
//
// Thread safety: as std::mutex (not recursive).
#ifndef PARLEY_RUNTIME_UTIL_MUTEX_H_
#define PARLEY_RUNTIME_UTIL_MUTEX_H_

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"

namespace parley::util {

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  ~Mutex() { pthread_mutex_destroy(&mu_); }
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    if (pthread_mutex_trylock(&mu_) == 0) return;
    // Contended: spin, watching the lock word (glibc's) and trying it when
    // it reads free, for up to kSpinNanos; then sleep in the kernel.
    if (MaySpin()) {
      const int64_t give_up = MonotonicNanos() + kSpinNanos;
      for (int i = 1;; ++i) {
        if (__atomic_load_n(&mu_.__data.__lock, __ATOMIC_RELAXED) == 0 &&
            pthread_mutex_trylock(&mu_) == 0) {
          return;
        }
        Pause();
        if (i % 32 == 0 && MonotonicNanos() > give_up) break;
      }
    }
    pthread_mutex_lock(&mu_);
  }
  void Unlock() ABSL_UNLOCK_FUNCTION() { pthread_mutex_unlock(&mu_); }

 private:
  friend class CondVar;
  static constexpr int64_t kSpinNanos = 2000;  // see above
  // Whether the process may run on more than one CPU (as its affinity was
  // when first asked): on one, a spin only delays the holder it waits for.
  static bool MaySpin() {
    static const bool may = [] {
      cpu_set_t cpus;
      return sched_getaffinity(0, sizeof(cpus), &cpus) == 0 &&
             CPU_COUNT(&cpus) > 1;
    }();
    return may;
  }
  static int64_t MonotonicNanos() {
    timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return int64_t{now.tv_sec} * 1000000000 + now.tv_nsec;
  }
  static void Pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  }
  pthread_mutex_t mu_ = PTHREAD_MUTEX_INITIALIZER;
};

// A condition variable for util::Mutex, for the rare waits that need one
// (connect, stop, the tests' waits; see above for why the durable buffer
// uses absl's). Unlike absl's, ThreadSanitizer sees it.
class CondVar {
 public:
  CondVar() {
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&cv_, &attr);
    pthread_condattr_destroy(&attr);
  }
  ~CondVar() { pthread_cond_destroy(&cv_); }
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  // `mu` is held; released while waiting. May wake spuriously.
  void Wait(Mutex* mu) { pthread_cond_wait(&cv_, &mu->mu_); }
  // The same, for `timeout` at most (clamped to [0, a year]).
  void WaitFor(Mutex* mu, absl::Duration timeout) {
    const timespec until = Deadline(timeout);
    pthread_cond_timedwait(&cv_, &mu->mu_, &until);
  }
  // absl::Mutex::Await's replacement: waits until `ready()` (called with
  // `mu` held) is true. Whoever makes it true signals this CondVar.
  // (Not analysed inside: clang cannot tell that `ready` needs this `mu`.)
  template <typename Predicate>
  void Wait(Mutex* mu, Predicate ready)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    while (!ready()) Wait(mu);
  }
  // The same, for `timeout` at most (clamped as above, measured from the
  // call: spurious wake-ups do not extend it); returns ready().
  template <typename Predicate>
  bool WaitFor(Mutex* mu, absl::Duration timeout, Predicate ready)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    const timespec until = Deadline(timeout);
    while (!ready()) {
      if (pthread_cond_timedwait(&cv_, &mu->mu_, &until) == ETIMEDOUT) {
        return ready();
      }
    }
    return true;
  }
  void Signal() { pthread_cond_signal(&cv_); }
  void SignalAll() { pthread_cond_broadcast(&cv_); }

 private:
  // CLOCK_MONOTONIC now + `timeout`, clamped to [0, a year].
  static timespec Deadline(absl::Duration timeout) {
    timeout = std::min(std::max(timeout, absl::ZeroDuration()),
                       absl::Hours(24 * 365));
    timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    const int64_t ns = now.tv_nsec + absl::ToInt64Nanoseconds(timeout);
    return timespec{now.tv_sec + static_cast<time_t>(ns / 1000000000),
                    static_cast<long>(ns % 1000000000)};
  }

  pthread_cond_t cv_;
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

}  // namespace parley::util

#endif  // PARLEY_RUNTIME_UTIL_MUTEX_H_
