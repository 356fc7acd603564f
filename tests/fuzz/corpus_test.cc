// Replays the seed corpus (tests/fuzz/corpus/<target>/, crash reproducers
// included) through every fuzz target, in the g++ ASan+UBSan build, so the
// corpus guards against regressions even where clang is absent.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/fuzz/targets.h"

namespace parley::fuzz {
namespace {

struct Target {
  const char* name;
  int (*run)(const uint8_t*, size_t);
};

void PrintTo(const Target& target, std::ostream* os) { *os << target.name; }

class CorpusTest : public ::testing::TestWithParam<Target> {};

TEST_P(CorpusTest, EveryInputRunsClean) {
  const std::filesystem::path dir =
      std::filesystem::path(PARLEY_FUZZ_CORPUS) / GetParam().name;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 3u) << "too few seeds in " << dir;
  for (const std::filesystem::path& file : files) {
    SCOPED_TRACE(file.string());
    std::ifstream in(file, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    const std::string input = bytes.str();
    EXPECT_EQ(GetParam().run(reinterpret_cast<const uint8_t*>(input.data()),
                             input.size()),
              0);
  }
}

INSTANTIATE_TEST_SUITE_P(Fuzz, CorpusTest,
                         ::testing::Values(Target{"codec", FuzzCodec},
                                           Target{"session", FuzzSession},
                                           Target{"log_reader", FuzzLogReader},
                                           Target{"store", FuzzStore}),
                         [](const ::testing::TestParamInfo<Target>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace parley::fuzz
