// tests/util/exactly_once.h — bookkeeping for exactly-once, in-order
// delivery checks (tests/transport/fault_test.cc, bench/stress_fault.cc).
//
//   Progress progress;                      // any call completed
//   CallTally notes(n, &progress);          // completion callbacks by index
//   stub.Note(MakeNum(i), notes.Message(i));
//   stub.Triple(MakeNum(i), triples.Request<Num>(i, 3 * i));
//   ASSERT_TRUE(notes.AwaitAll(timeout)) << notes.Problems();
//   Recorder seen;                          // a handler calls seen.Add(v)
//   OrderReport report = CheckOrder(seen.values(), n);
//   EXPECT_TRUE(report.clean()) << report.ToString();
//
// Type-independent: the proto-typed helpers (MakeNum, the services) stay
// with their users. Thread safety: every method of Progress, CallTally and
// Recorder is thread-safe.
#ifndef PARLEY_TESTS_UTIL_EXACTLY_ONCE_H_
#define PARLEY_TESTS_UTIL_EXACTLY_ONCE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "runtime/util/mutex.h"

namespace parley::testutil {

// Counts completions of every call in a test, so a sender whose window is
// full can wait for one. A side's window holds its own calls and its
// REPLYs to the peer's requests (acked once the peer's callback ran), so
// the sender waits for progress in either direction.
class Progress {
 public:
  void Bump();
  int64_t count();
  // Waits until count() > `before`; false on timeout.
  bool AwaitAbove(int64_t before, absl::Duration timeout);

 private:
  util::Mutex mu_;
  util::CondVar bumped_;  // count_ grew
  int64_t count_ ABSL_GUARDED_BY(mu_) = 0;
};

// Calls `send` until it is accepted. While it is refused with
// ResourceExhausted (a full send buffer, or a shut window under kReject) it
// waits for progress; after `patience` without any it returns the refusal.
absl::Status SendAccepted(const std::function<absl::Status()>& send,
                          Progress& progress, absl::Duration patience);

// Completion callbacks by call index: each must run exactly once, OK.
class CallTally {
 public:
  // `progress`, if not null, is bumped after every callback.
  explicit CallTally(int64_t n, Progress* progress = nullptr);

  // Records one run of the callback of call `index`.
  void Record(int64_t index, const absl::Status& status);
  // A one-way message's completion callback.
  std::function<void(absl::Status)> Message(int64_t index);
  // A request whose reply (a message with value()) must be `want`.
  template <typename Reply>
  std::function<void(absl::StatusOr<Reply>)> Request(int64_t index,
                                                     int64_t want) {
    return [this, index, want](absl::StatusOr<Reply> reply) {
      absl::Status status = reply.status();
      if (reply.ok() && reply->value() != want) {
        status = absl::DataLossError(
            absl::StrCat("reply ", reply->value(), ", want ", want));
      }
      Record(index, status);
    };
  }

  // Callbacks run so far, repeats included.
  int64_t done();
  // Waits until done() >= n.
  bool AwaitDone(int64_t n, absl::Duration timeout);
  // Waits until callbacks for indexes [0, n) have all run at least once.
  bool AwaitFirst(int64_t n, absl::Duration timeout);
  bool AwaitAll(absl::Duration timeout);
  int runs(int64_t index);
  // The first non-OK status of call `index`, else its first status.
  absl::Status status(int64_t index);
  // "" when every callback ran exactly once with OK.
  std::string Problems();

  struct Report {
    int64_t missing = 0;        // indexes whose callback never ran
    int64_t repeated = 0;       // runs beyond the first of an index
    int64_t failed = 0;         // runs with a non-OK status
    std::string first_failure;  // "#index status" of the first such run
  };
  Report report();

 private:
  Progress* const progress_;
  util::Mutex mu_;
  util::CondVar recorded_;  // done_ and first_missing_ may have grown
  int64_t done_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t first_missing_ ABSL_GUARDED_BY(mu_) = 0;  // lowest index not run
  int64_t failed_runs_ ABSL_GUARDED_BY(mu_) = 0;
  std::string first_failure_ ABSL_GUARDED_BY(mu_);
  std::vector<int> runs_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Status> failures_ ABSL_GUARDED_BY(mu_);
};

// Values in the order a handler saw them.
class Recorder {
 public:
  void Add(int64_t value);
  std::vector<int64_t> values();
  bool AwaitSize(size_t n, absl::Duration timeout);

 private:
  util::Mutex mu_;
  util::CondVar added_;  // values_ grew
  std::vector<int64_t> values_ ABSL_GUARDED_BY(mu_);
};

// How a delivery log differs from 0..n-1 in order.
struct OrderReport {
  int64_t deliveries = 0;  // values in the log
  int64_t lost = 0;        // values of 0..n-1 never delivered
  int64_t duplicated = 0;  // deliveries beyond the first of a value
  int64_t reordered = 0;   // deliveries smaller than the one before
  int64_t foreign = 0;     // values outside 0..n-1
  bool clean() const {
    return lost == 0 && duplicated == 0 && reordered == 0 && foreign == 0;
  }
  std::string ToString() const;
};

OrderReport CheckOrder(const std::vector<int64_t>& values, int64_t n);

}  // namespace parley::testutil

#endif  // PARLEY_TESTS_UTIL_EXACTLY_ONCE_H_
