// The client's re-dial schedule: exponential backoff with jitter, sans I/O.
//
//   session::Backoff backoff(options.reconnect, seed);
//   absl::optional<absl::Duration> delay = backoff.Next();  // attempt 1
//   if (!delay) { /* max_attempts used up: give up */ }
//   ...
//   backoff.Reset();  // after a successful handshake
//
// Attempt n (from 1) waits min(max_delay, initial_delay * multiplier^(n-1))
// scaled by a factor drawn uniformly from [1 - jitter, 1 + jitter] (and
// never more than max_delay * (1 + jitter)). Jitter spreads the clients of a
// restarted server so they do not all return at once. The generator is
// seeded by the caller, so a schedule can be replayed.
//
// Thread safety: thread-compatible.
#ifndef PARLEY_RUNTIME_SESSION_BACKOFF_H_
#define PARLEY_RUNTIME_SESSION_BACKOFF_H_

#include <cstdint>
#include <random>

#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "parley/options.h"

namespace parley::session {

class Backoff {
 public:
  Backoff(const ReconnectOptions& options, uint64_t seed);

  // The delay before the next attempt, or nullopt once max_attempts
  // attempts have been handed out.
  absl::optional<absl::Duration> Next();
  // Attempts handed out since the last Reset.
  int attempts() const { return attempts_; }
  void Reset() { attempts_ = 0; }

 private:
  ReconnectOptions options_;
  std::mt19937_64 random_;
  int attempts_ = 0;
};

}  // namespace parley::session

#endif  // PARLEY_RUNTIME_SESSION_BACKOFF_H_
