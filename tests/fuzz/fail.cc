#include <cstdio>
#include <cstdlib>

#include "tests/fuzz/targets.h"

namespace parley::fuzz {

void Fail(absl::string_view what) {
  std::fprintf(stderr, "fuzz invariant broken: %.*s\n",
               static_cast<int>(what.size()), what.data());
  std::abort();
}

}  // namespace parley::fuzz
