// Every C++, proto and CMake code block in README.md and docs/*.md is an
// excerpt of a real file, named by a marker line right above its fence:
//
//   <!-- from: tests/package/consumer/greeter.proto -->
//   ```proto
//   ...
//   ```
//
// The block's lines must appear in that file in the same order; a line
// that is only "...", "// ..." or "# ..." stands for lines left out. The
// named files are built by a test or are files of a sample, so a snippet
// that no longer compiles, or that drifted from the code, fails here.
// docs/DESIGN.md is the design picture (sketches) and is not checked.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"

namespace parley {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> ReadLines(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

struct Snippet {
  std::string where;   // "README.md:40"
  std::string source;  // the marker's path, "" when there is none
  std::vector<std::string> lines;
};

bool IsChecked(absl::string_view language) {
  return language == "cpp" || language == "c++" || language == "proto" ||
         language == "cmake";
}

// The checked code blocks of one markdown file.
std::vector<Snippet> Snippets(const fs::path& markdown,
                              const std::string& name) {
  std::vector<std::string> lines = ReadLines(markdown);
  std::vector<Snippet> snippets;
  for (size_t i = 0; i < lines.size(); ++i) {
    absl::string_view fence = lines[i];
    if (!absl::ConsumePrefix(&fence, "```") || fence.empty()) continue;
    bool checked = IsChecked(fence);
    Snippet snippet;
    snippet.where = absl::StrCat(name, ":", i + 1);
    if (i > 0) {
      absl::string_view marker = lines[i - 1];
      if (absl::ConsumePrefix(&marker, "<!-- from: ") &&
          absl::ConsumeSuffix(&marker, " -->")) {
        snippet.source = std::string(marker);
      }
    }
    for (++i; i < lines.size() && lines[i] != "```"; ++i) {
      snippet.lines.push_back(lines[i]);
    }
    if (checked) snippets.push_back(std::move(snippet));
  }
  return snippets;
}

std::vector<Snippet> AllSnippets() {
  const fs::path root = PARLEY_SOURCE_DIR;
  std::vector<Snippet> all = Snippets(root / "README.md", "README.md");
  for (const fs::directory_entry& entry :
       fs::directory_iterator(root / "docs")) {
    std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".md" || name == "DESIGN.md") continue;
    for (Snippet& snippet : Snippets(entry.path(), "docs/" + name)) {
      all.push_back(std::move(snippet));
    }
  }
  return all;
}

bool IsElision(absl::string_view line) {
  line = absl::StripAsciiWhitespace(line);
  return line == "..." || line == "// ..." || line == "# ...";
}

// Empty when `snippet` is an excerpt of `source`, else what is missing.
std::string Mismatch(const std::vector<std::string>& snippet,
                     const std::vector<std::string>& source) {
  size_t at = 0;  // where in `source` the next piece may start
  for (size_t begin = 0; begin < snippet.size();) {
    if (IsElision(snippet[begin])) {
      ++begin;
      continue;
    }
    size_t end = begin;
    while (end < snippet.size() && !IsElision(snippet[end])) ++end;
    auto piece_begin = snippet.begin() + static_cast<long>(begin);
    auto piece_end = snippet.begin() + static_cast<long>(end);
    auto found = std::search(source.begin() + static_cast<long>(at),
                             source.end(), piece_begin, piece_end);
    if (found == source.end()) {
      return absl::StrCat("these lines are not in the file (after line ", at,
                          "):\n", absl::StrJoin(piece_begin, piece_end, "\n"));
    }
    at = static_cast<size_t>(found - source.begin()) + (end - begin);
    begin = end;
  }
  return "";
}

TEST(DocsSnippets, TheDocumentationHasCodeBlocks) {
  EXPECT_GE(AllSnippets().size(), 5u);
}

TEST(DocsSnippets, EveryCodeBlockNamesTheFileItComesFrom) {
  for (const Snippet& snippet : AllSnippets()) {
    EXPECT_NE(snippet.source, "")
        << snippet.where << ": no \"<!-- from: path -->\" line above it";
  }
}

TEST(DocsSnippets, EveryCodeBlockIsAnExcerptOfItsFile) {
  const fs::path root = PARLEY_SOURCE_DIR;
  for (const Snippet& snippet : AllSnippets()) {
    if (snippet.source.empty()) continue;
    fs::path source = root / snippet.source;
    if (!fs::is_regular_file(source)) {
      ADD_FAILURE() << snippet.where << ": " << snippet.source
                    << " does not exist";
      continue;
    }
    EXPECT_EQ(Mismatch(snippet.lines, ReadLines(source)), "")
        << snippet.where << " (from " << snippet.source << ")";
  }
}

TEST(DocsSnippets, AnExcerptMustKeepTheFilesOrder) {
  std::vector<std::string> source = {"a", "b", "c", "d"};
  EXPECT_EQ(Mismatch({"a", "b", "...", "d"}, source), "");
  EXPECT_EQ(Mismatch({"b", "c"}, source), "");
  EXPECT_NE(Mismatch({"c", "...", "a"}, source), "");
  EXPECT_NE(Mismatch({"a", "c"}, source), "");  // skips b unmarked
  EXPECT_NE(Mismatch({"a", "x"}, source), "");
}

}  // namespace
}  // namespace parley
