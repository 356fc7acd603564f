#include "codegen/printing.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace parley::codegen {
namespace {

// Packs items greedily: the first on `first`, later ones on lines starting
// with `continuation`. Each item but the last is followed by ",", the last
// by `tail`.
Lines Pack(const std::string& first, const std::string& continuation,
           const std::vector<std::string>& items, const std::string& tail,
           int width) {
  Lines lines{first};
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string piece = items[i] + (i + 1 < items.size() ? "," : tail);
    std::string& line = lines.back();
    const bool line_empty = line == first || line == continuation;
    if (line_empty) {
      line += piece;
    } else if (static_cast<int>(line.size() + 1 + piece.size()) <= width) {
      line += " " + piece;
    } else {
      lines.push_back(continuation + piece);
    }
  }
  return lines;
}

// Splits an over-long comment line at the last space that keeps it within
// `width`, continuing with the same leading whitespace.
void AppendWrapped(absl::string_view text, int width, Lines& lines) {
  const size_t body = text.find_first_not_of(' ');
  const std::string lead(text.substr(0, body));
  std::string rest(text.substr(body));
  while (static_cast<int>(2 + lead.size() + rest.size()) > width) {
    const size_t room = width - 2 - lead.size();
    const size_t cut = rest.rfind(' ', room);
    if (cut == std::string::npos || cut == 0) break;  // one long word
    lines.push_back("//" + lead + rest.substr(0, cut));
    rest = std::string(absl::StripLeadingAsciiWhitespace(rest.substr(cut)));
  }
  lines.push_back("//" + lead + rest);
}

// Where a declaration's return type ends: its first space outside template
// brackets (after a leading "virtual"); npos if there is none.
size_t ReturnTypeEnd(const std::string& head) {
  int depth = 0;
  const size_t start = absl::StartsWith(head, "virtual ") ? 8 : 0;
  for (size_t i = start; i < head.size(); ++i) {
    if (head[i] == '<') ++depth;
    if (head[i] == '>') --depth;
    if (head[i] == ' ' && depth == 0) return i;
  }
  return std::string::npos;
}

}  // namespace

bool Fits(const Lines& lines, int width) {
  for (const std::string& line : lines) {
    if (static_cast<int>(line.size()) > width) return false;
  }
  return true;
}

std::string Expand(const Vars& vars, const char* text) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::Printer printer(&stream, '$');
    printer.Print(vars, text);
  }
  return out;
}

Lines CommentLines(const std::string& comment, int indent) {
  std::vector<absl::string_view> raw = absl::StrSplit(comment, '\n');
  while (!raw.empty() && absl::StripAsciiWhitespace(raw.back()).empty()) {
    raw.pop_back();
  }
  Lines lines;
  for (absl::string_view line : raw) {
    line = absl::StripTrailingAsciiWhitespace(line);
    if (line.empty()) {
      lines.push_back("//");
    } else if (line.front() != ' ') {
      AppendWrapped(absl::StrCat(" ", line), kColumnLimit - indent, lines);
    } else {
      AppendWrapped(line, kColumnLimit - indent, lines);
    }
  }
  return lines;
}

Lines LayoutList(int indent, const std::string& head,
                 const std::vector<std::string>& items, const std::string& tail,
                 ListBreak style) {
  const int width = kColumnLimit - indent;
  const size_t split = ReturnTypeEnd(head);
  if (static_cast<int>(head.size()) > width && split != std::string::npos) {
    Lines lines{head.substr(0, split)};
    for (std::string& line :
         LayoutList(indent, head.substr(split + 1), items, tail, style)) {
      lines.push_back(std::move(line));
    }
    return lines;
  }
  const std::string one_line = head + absl::StrJoin(items, ", ") + tail;
  if (items.empty() || static_cast<int>(one_line.size()) <= width) {
    return {one_line};
  }
  Lines broken = Pack("    ", "    ", items, tail, width);
  broken.insert(broken.begin(), head);
  if (style == ListBreak::kAlignOrBreak) {
    Lines aligned =
        Pack(head, std::string(head.size(), ' '), items, tail, width);
    if (Fits(aligned, width) && aligned.size() <= broken.size()) {
      return aligned;
    }
  }
  return broken;
}

Lines Layout(const ListTemplate& list, const Vars& vars, int indent) {
  std::vector<std::string> items;
  for (const char* item : list.items) items.push_back(Expand(vars, item));
  return LayoutList(indent, Expand(vars, list.head), items,
                    Expand(vars, list.tail), list.style);
}

Lines FirstFitting(const std::vector<const char*>& alternatives,
                   const Vars& vars, int indent) {
  Lines lines;
  for (const char* alternative : alternatives) {
    lines = absl::StrSplit(Expand(vars, alternative), '\n');
    if (!lines.empty() && lines.back().empty()) lines.pop_back();
    if (Fits(lines, kColumnLimit - indent)) break;
  }
  return lines;
}

void PrintLines(google::protobuf::io::Printer* printer, const Lines& lines) {
  for (const std::string& line : lines) {
    printer->Print("$line$\n", "line", line);
  }
}

}  // namespace parley::codegen
