#include "runtime/session/backoff.h"

#include <algorithm>
#include <cmath>

namespace parley::session {

Backoff::Backoff(const ReconnectOptions& options, uint64_t seed)
    : options_(options), random_(seed) {
  options_.jitter = std::clamp(options_.jitter, 0.0, 1.0);
  options_.multiplier = std::max(options_.multiplier, 1.0);
}

absl::optional<absl::Duration> Backoff::Next() {
  if (options_.max_attempts > 0 && attempts_ >= options_.max_attempts) {
    return absl::nullopt;
  }
  double factor = std::pow(options_.multiplier, attempts_);
  ++attempts_;
  absl::Duration base = options_.max_delay;
  // Compare in doubles: initial * multiplier^n overflows a Duration fast.
  if (absl::ToDoubleSeconds(options_.initial_delay) * factor <
      absl::ToDoubleSeconds(options_.max_delay)) {
    base = options_.initial_delay * factor;
  }
  std::uniform_real_distribution<double> spread(1.0 - options_.jitter,
                                                1.0 + options_.jitter);
  return base * spread(random_);
}

}  // namespace parley::session
