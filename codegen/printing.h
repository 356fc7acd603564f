// Text helpers for the writers: `$var$` expansion, proto comments as C++
// comments, and the line layout clang-format (Google style) would choose for
// a declaration or call, so generated files need no reformatting.
//
//   Lines sig = LayoutList(4, "absl::Status Shout(", params, ");",
//                          ListBreak::kAlignOrBreak);
//   PrintLines(printer, sig);
//
// Thread safety: plain functions.
#ifndef PARLEY_CODEGEN_PRINTING_H_
#define PARLEY_CODEGEN_PRINTING_H_

#include <map>
#include <string>
#include <vector>

#include "google/protobuf/io/printer.h"

namespace parley::codegen {

using Vars = std::map<std::string, std::string>;
using Lines = std::vector<std::string>;

// clang-format's ColumnLimit for Google style.
inline constexpr int kColumnLimit = 80;

// `text` with every `$name$` replaced by vars.at(name).
std::string Expand(const Vars& vars, const char* text);

// True if every line is at most `width` long.
bool Fits(const Lines& lines, int width);

// A proto comment (SourceLocation::leading_comments) as "//" lines that fit
// in the column limit when printed at `indent`. Empty input gives no lines.
Lines CommentLines(const std::string& comment, int indent);

// How a list that does not fit on one line is broken.
enum class ListBreak {
  // Parameters and arguments: aligned after the open bracket when that takes
  // no more lines, else broken after it and indented by 4.
  kAlignOrBreak,
  // Braced initializers after `=`: broken after the brace, indented by 4.
  kBreak,
};

// Lays out `head` + items joined by ", " + `tail` at `indent`. A head too
// long for a line of its own puts its return type (up to the first space) on
// a line before it. The returned lines carry the continuation indentation but
// not `indent` itself.
Lines LayoutList(int indent, const std::string& head,
                 const std::vector<std::string>& items, const std::string& tail,
                 ListBreak style);

// A list-shaped piece of code as `$var$` templates: a declaration, a call or
// a braced initializer.
struct ListTemplate {
  const char* head;  // up to and including the open bracket
  std::vector<const char*> items;
  const char* tail;  // from the close bracket on
  ListBreak style;
};

// Expands `list` with `vars` and lays it out with LayoutList.
Lines Layout(const ListTemplate& list, const Vars& vars, int indent);

// Expands the first of `alternatives` (multi-line `$var$` templates, from
// most to least compact) whose lines all fit at `indent`; the last one if
// none does.
Lines FirstFitting(const std::vector<const char*>& alternatives,
                   const Vars& vars, int indent);

// Prints each line at the printer's current indentation.
void PrintLines(google::protobuf::io::Printer* printer, const Lines& lines);

}  // namespace parley::codegen

#endif  // PARLEY_CODEGEN_PRINTING_H_
