// bench/flags.h — `--name=value` integer flags for the bench programs.
//
//   int64_t n = 1000, seed = 1;
//   if (!bench::ParseIntFlags(argc, argv, {{"n", &n}, {"seed", &seed}})) ...
#ifndef PARLEY_BENCH_FLAGS_H_
#define PARLEY_BENCH_FLAGS_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace parley::bench {

// Sets each named variable from its flag; false for an unknown name, a
// malformed argument or a value that is not an integer.
inline bool ParseIntFlags(int argc, char** argv,
                          const std::map<std::string, int64_t*>& flags) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    size_t eq = arg.find('=');
    if (!absl::ConsumePrefix(&arg, "--") || eq == absl::string_view::npos) {
      return false;
    }
    auto it = flags.find(std::string(arg.substr(0, eq - 2)));
    if (it == flags.end() ||
        !absl::SimpleAtoi(arg.substr(eq - 1), it->second)) {
      return false;
    }
  }
  return true;
}

}  // namespace parley::bench

#endif  // PARLEY_BENCH_FLAGS_H_
