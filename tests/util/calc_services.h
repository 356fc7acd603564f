// tests/util/calc_services.h — header-only helpers typed on the test Calc
// protos (tests/protos/calc.proto), shared by tests/transport/fault_test.cc
// and bench/stress_fault.cc.
//
// Header-only because each user generates calc.proto itself (calc_proto,
// bench_calc_proto): include it where "calc.parley.h" is on the include
// path; parley_test_util does not link either.
#ifndef PARLEY_TESTS_UTIL_CALC_SERVICES_H_
#define PARLEY_TESTS_UTIL_CALC_SERVICES_H_

#include <cstdint>

#include "calc.parley.h"
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

}  // namespace parley::testutil

#endif  // PARLEY_TESTS_UTIL_CALC_SERVICES_H_
