// libFuzzer's entry points for one target of targets.h, chosen when the
// binary is built (PARLEY_FUZZ_TARGET, see CMakeLists.txt).
#include <cstddef>
#include <cstdint>

#include "google/protobuf/stubs/logging.h"
#include "tests/fuzz/targets.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // libprotobuf logs an ERROR line for every string field that is not
  // UTF-8 (docs/FUZZING.md, findings): millions of them here.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return parley::fuzz::PARLEY_FUZZ_TARGET(data, size);
}
