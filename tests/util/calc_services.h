// tests/util/calc_services.h — header-only helpers typed on the test Calc
// protos (tests/protos/calc.proto), shared by tests/transport/ and bench/.
//
// Header-only because each user generates calc.proto itself (calc_proto,
// bench_calc_proto): include it where "calc.parley.h" is on the include
// path; parley_test_util does not link either.
#ifndef PARLEY_TESTS_UTIL_CALC_SERVICES_H_
#define PARLEY_TESTS_UTIL_CALC_SERVICES_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "calc.parley.h"
#include "runtime/util/mutex.h"
#include "tests/util/exactly_once.h"

namespace parley::testutil {

inline test::Num MakeNum(int64_t value) {
  test::Num num;
  num.set_value(value);
  return num;
}

// Records the value of every Triple request (a negative value is a barrier
// and is not recorded) and replies with three times it.
class FeedService : public test::Feed::Service {
 public:
  void Triple(CallContext&, const test::Num& request,
              Responder<test::Num> responder) override {
    if (request.value() >= 0) triples.Add(request.value());  // < 0: barrier
    responder.Finish(MakeNum(request.value() * 3));
  }
  Recorder triples;
};

// Records the value of every Note, in the order they arrive, and finishes
// it at once.
class NoteRecorder : public test::Calc::Service {
 public:
  void Note(CallContext&, const test::Num& request,
            Responder<google::protobuf::Empty> responder) override {
    notes.Add(request.value());
    responder.Finish();
  }
  Recorder notes;
};

// Message responders a test keeps (e.g. from Calc.Hold) until it releases
// them. Thread-safe.
class HeldCalls {
 public:
  void Keep(Responder<google::protobuf::Empty> responder) {
    util::MutexLock lock(&mu_);
    held_.push_back(std::move(responder));
    kept_.SignalAll();
  }
  // Finishes every kept call, from the calling (non-I/O) thread.
  void ReleaseAll() {
    std::vector<Responder<google::protobuf::Empty>> held;
    {
      util::MutexLock lock(&mu_);
      held.swap(held_);
    }
    for (auto& responder : held) responder.Finish();
  }
  // Waits until at least `n` calls are kept.
  bool AwaitCount(size_t n, absl::Duration timeout) {
    util::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return held_.size() >= n;
    };
    return kept_.WaitFor(&mu_, timeout, enough);
  }

 private:
  util::Mutex mu_;
  util::CondVar kept_;  // held_ grew
  std::vector<Responder<google::protobuf::Empty>> held_ ABSL_GUARDED_BY(mu_);
};

}  // namespace parley::testutil

#endif  // PARLEY_TESTS_UTIL_CALC_SERVICES_H_
