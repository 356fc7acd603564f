#include "codegen/printing.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace parley::codegen {
namespace {

using ::testing::ElementsAre;

TEST(CodegenExpand, SubstitutesVariables) {
  EXPECT_EQ(Expand({{"method", "Shout"}}, "k$method$Method"), "kShoutMethod");
}

TEST(CodegenCommentLines, KeepsShortLinesAndWrapsLongOnes) {
  EXPECT_THAT(CommentLines(" One.\n\n Two three four five.\n", 50),
              ElementsAre("// One.", "//", "// Two three four five."));
  EXPECT_THAT(CommentLines(" alpha beta gamma", 66),
              ElementsAre("// alpha beta", "// gamma"));
  EXPECT_THAT(CommentLines("", 0), ElementsAre());
}

TEST(CodegenLayoutList, OneLineWhenItFits) {
  EXPECT_THAT(LayoutList(0, "f(", {"a", "b"}, ");", ListBreak::kAlignOrBreak),
              ElementsAre("f(a, b);"));
}

TEST(CodegenLayoutList, AlignsAfterTheBracketWhenThatIsNoLonger) {
  const std::string item(30, 'x');
  EXPECT_THAT(LayoutList(0, "absl::Status Function(", {item, item}, ");",
                         ListBreak::kAlignOrBreak),
              ElementsAre("absl::Status Function(" + item + ",",
                          "                      " + item + ");"));
}

TEST(CodegenLayoutList, BreaksAfterTheBracketWhenAligningDoesNotFit) {
  const std::string item(60, 'x');
  EXPECT_THAT(LayoutList(0, "absl::Status Function(", {item}, ");",
                         ListBreak::kAlignOrBreak),
              ElementsAre("absl::Status Function(", "    " + item + ");"));
}

TEST(CodegenLayoutList, PutsAnOverlongReturnTypeOnItsOwnLine) {
  const std::string name(60, 'n');
  EXPECT_THAT(LayoutList(0, "absl::StatusOr<Reply> " + name + "(", {"int a"},
                         ");", ListBreak::kAlignOrBreak),
              ElementsAre("absl::StatusOr<Reply>", name + "(int a);"));
}

TEST(CodegenFirstFitting, TakesTheFirstAlternativeThatFits) {
  const Vars vars = {{"name", std::string(70, 'x')}};
  EXPECT_THAT(
      FirstFitting({"int $name$ = 1;\n", "int $name$ =\n    1;\n"}, vars, 2),
      ElementsAre("int " + vars.at("name") + " =", "    1;"));
}

}  // namespace
}  // namespace parley::codegen
