// libFuzzer's entry point for one target of targets.h, chosen when the
// binary is built (PARLEY_FUZZ_TARGET, see CMakeLists.txt).
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return parley::fuzz::PARLEY_FUZZ_TARGET(data, size);
}
