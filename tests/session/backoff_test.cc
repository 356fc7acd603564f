#include "runtime/session/backoff.h"

#include "gtest/gtest.h"

namespace parley::session {
namespace {

ReconnectOptions Options(double jitter, int max_attempts = 0) {
  ReconnectOptions options;
  options.initial_delay = absl::Milliseconds(100);
  options.max_delay = absl::Seconds(2);
  options.multiplier = 2.0;
  options.jitter = jitter;
  options.max_attempts = max_attempts;
  return options;
}

TEST(Backoff, DelaysDoubleUpToTheMaximumWithoutJitter) {
  Backoff backoff(Options(0.0), 1);
  std::vector<absl::Duration> want = {
      absl::Milliseconds(100),  absl::Milliseconds(200),
      absl::Milliseconds(400),  absl::Milliseconds(800),
      absl::Milliseconds(1600), absl::Seconds(2),
      absl::Seconds(2)};
  for (absl::Duration d : want) EXPECT_EQ(backoff.Next(), d);
  EXPECT_EQ(backoff.attempts(), 7);
}

TEST(Backoff, JitterStaysInItsBandAndIsReplayableBySeed) {
  Backoff a(Options(0.2), 42), b(Options(0.2), 42), c(Options(0.2), 43);
  bool differs = false;
  for (int i = 0; i < 50; ++i) {
    absl::Duration base = std::min(
        absl::Milliseconds(100) * (1 << std::min(i, 10)), absl::Seconds(2));
    absl::Duration da = *a.Next();
    EXPECT_EQ(da, *b.Next()) << "same seed, same schedule";
    differs |= da != *c.Next();
    EXPECT_GE(da, base * 0.8) << i;
    EXPECT_LE(da, base * 1.2) << i;
  }
  EXPECT_TRUE(differs) << "another seed gives another schedule";
}

TEST(Backoff, MaxAttemptsEndsTheSchedule) {
  Backoff backoff(Options(0.0, 3), 1);
  EXPECT_TRUE(backoff.Next().has_value());
  EXPECT_TRUE(backoff.Next().has_value());
  EXPECT_TRUE(backoff.Next().has_value());
  EXPECT_FALSE(backoff.Next().has_value());
}

TEST(Backoff, ResetStartsOver) {
  Backoff backoff(Options(0.0, 2), 1);
  backoff.Next();
  backoff.Next();
  backoff.Reset();
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(100));
}

TEST(Backoff, HugeAttemptCountsDoNotOverflow) {
  ReconnectOptions options = Options(0.0);
  options.multiplier = 1000.0;
  Backoff backoff(options, 1);
  for (int i = 0; i < 500; ++i) EXPECT_LE(*backoff.Next(), absl::Seconds(2));
}

}  // namespace
}  // namespace parley::session
