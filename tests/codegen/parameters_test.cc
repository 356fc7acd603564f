#include "codegen/parameters.h"

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace parley::codegen {
namespace {

using ::testing::HasSubstr;

TEST(CodegenParseParameters, EmptyMeansDefaults) {
  absl::StatusOr<Parameters> parameters = ParseParameters("");
  ASSERT_TRUE(parameters.ok()) << parameters.status();
  EXPECT_EQ(parameters->include_prefix, "");
}

TEST(CodegenParseParameters, IncludePrefixDropsTrailingSlashes) {
  absl::StatusOr<Parameters> parameters =
      ParseParameters("include_prefix=gen/chat//");
  ASSERT_TRUE(parameters.ok()) << parameters.status();
  EXPECT_EQ(parameters->include_prefix, "gen/chat");
}

TEST(CodegenParseParameters, UnknownParameterIsRefusedByName) {
  absl::StatusOr<Parameters> parameters =
      ParseParameters("include_prefix=a,lite");
  EXPECT_EQ(parameters.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(parameters.status().message(),
              HasSubstr("unknown parameter \"lite\""));
}

TEST(CodegenParseParameters, IncludePrefixMustStayRelative) {
  for (const char* bad : {"include_prefix=/abs", "include_prefix=a/../b"}) {
    EXPECT_EQ(ParseParameters(bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

}  // namespace
}  // namespace parley::codegen
